"""Hostile uploads: a generated corpus of malformed files for every upload point.

Upload points and the library function behind each:

- **Batch**: :func:`model.serving.batch.predict_csv` (which reads with
  :func:`model.io.read_recipes_for_prediction`);
- **Retrain**: :func:`model.io.read_upload` (one tidy CSV, or an instrument export
  plus a recipe table, optionally plus a fluorescence table), and the four readers it uses;
- **Formulate**: a pasted spectrum, :meth:`model.formulation.Target.from_pasted`.

Every malformed file must be refused (or, in a batch, its bad rows left out) with a
message that says what is wrong and where: the file, and the row and column where one
is at fault. No other exception type may escape. The corpus is generated here, so it
can grow without binary fixtures in the repository.
"""

from __future__ import annotations

import codecs
import csv
import io
import random
import re
import time
import tomllib
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from model.auth.access import LOCAL_ADMIN
from model.core.schema import BAND_COLUMNS, WAVELENGTHS_NM
from model.formulation import SpectrumParseError, Target
from model.io import (
    IngestError,
    read_fluorescence_table,
    read_instrument_export,
    read_recipe_table,
    read_recipes_for_prediction,
    read_tidy_csv,
    read_upload,
)
from model.io.safe_csv import to_csv_bytes
from model.registry import registry
from model.registry.registry import ModelRegistry
from model.serving.batch import MAX_BATCH_ROWS, predict_csv, problems_frame
from model.store.measurements import MeasurementStore

REPO_ROOT = Path(__file__).resolve().parents[1]
ANY = object()  # an expectation that does not constrain the row or column


@dataclass(frozen=True)
class Case:
    """One hostile file: its name, its bytes and the message it must get."""

    name: str
    content: bytes
    phrase: str  # a regular expression the message must contain (case-insensitive)
    row: object = ANY
    column: object = ANY


def _matches(problem, case: Case) -> bool:
    return (
        re.search(case.phrase, problem.message, re.IGNORECASE | re.DOTALL) is not None
        and (case.row is ANY or problem.row == case.row)
        and (case.column is ANY or problem.column == case.column)
    )


def _describe(problems) -> str:
    return "\n".join(str(p) for p in problems) or "(no problems reported)"


# --------------------------------------------------------------------------------------
# Building blocks of valid files, which the generators then break
# --------------------------------------------------------------------------------------

RNG = random.Random(2026)
FLAT = [0.1 + 0.02 * i for i in range(31)]
EXPORT_BANDS = [f"R{int(w)} nm" for w in WAVELENGTHS_NM]


def _number(value) -> str:
    return value if isinstance(value, str) else f"{value:g}"


def export_bytes(rows, *, bands=EXPORT_BANDS, delimiter=";", preamble=True) -> bytes:
    """An instrument export shaped like pp-inks/Spectra.csv: sep line, metadata, table."""
    lines = ["sep=;", "Library;Huecast fuzz", "Exported;2026-11-27"] if preamble else []
    lines.append(delimiter.join(["Index", "User Color Name", "L", "a", "b", *bands]))
    for index, (name, spectrum) in enumerate(rows, start=1):
        lines.append(delimiter.join([str(index), name, "50", "1", "2", *(_number(v) for v in spectrum)]))
    return ("\n".join(lines) + "\n").encode("utf-8")


EXPORT_HEADER_ROW = 4  # after the sep line and two metadata lines
GOOD_EXPORT = export_bytes([("A1", FLAT), ("A1H", FLAT), ("B2", FLAT)])
GOOD_RECIPES = b"Sample ID,GXT-10 (%),PG (%)\nA1,5%,0%\nB2,1%,2%\n"
GOOD_FLUORESCENCE = b"Sample ID,Fluorescence [ct/s]\nA1,3440\nA1H,3940\nB2,0\n"


def _with(values, index, value):
    values = list(values)
    values[index] = value
    return values


def tidy_bytes(rows=None, *, header=None, delimiter=",") -> bytes:
    header = header or ["sample_id", "recipe_id", "GXT-10", "PG", "thickness_um", *BAND_COLUMNS]
    rows = rows if rows is not None else [["A1-8", "A1", 5, 0, 8, *FLAT], ["A1-12", "A1", 5, 0, 12, *FLAT]]
    lines = [delimiter.join(header), *(delimiter.join(_number(v) for v in row) for row in rows)]
    return ("\n".join(lines) + "\n").encode("utf-8")


def tidy_row(**changes):
    row = {"sample_id": "A1-8", "recipe_id": "A1", "GXT-10": 5, "PG": 0, "thickness_um": 8, **dict(zip(BAND_COLUMNS, FLAT))}
    row.update(changes)
    return list(row.values())


# --------------------------------------------------------------------------------------
# Malformations that any CSV upload can suffer
# --------------------------------------------------------------------------------------


def generic_cases(prefix: str, valid: bytes):
    """Encoding, binary, empty and delimiter accidents applied to a valid file ``valid``."""
    text = valid.decode("utf-8")
    first_line_break = text.index("\n")
    yield Case(f"{prefix}-empty.csv", b"", r"the file is empty; expected")
    yield Case(f"{prefix}-blank.csv", b"  \n\r\n\t\n", r"the file is empty; expected")
    yield Case(f"{prefix}-random.bin", RNG.randbytes(4000), r"binary data|not UTF-8")
    yield Case(f"{prefix}-zeros.bin", bytes(1000), r"binary data")
    yield Case(f"{prefix}.png", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + RNG.randbytes(300), r"binary data")
    yield Case(f"{prefix}.xlsx", b"PK\x03\x04" + RNG.randbytes(300), r"Excel workbook")
    yield Case(f"{prefix}.pdf", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n" + bytes(50), r"binary data")
    yield Case(f"{prefix}-utf16le.csv", codecs.BOM_UTF16_LE + text.encode("utf-16-le"), r"UTF-16")
    yield Case(f"{prefix}-utf16be.csv", codecs.BOM_UTF16_BE + text.encode("utf-16-be"), r"UTF-16")
    yield Case(f"{prefix}-utf16-nobom.csv", text.encode("utf-16-le"), r"binary data")
    yield Case(f"{prefix}-utf32.csv", text.encode("utf-32"), r"UTF-16|binary data")
    latin1 = (text + "Bé;é,é\n").encode("latin-1")
    yield Case(f"{prefix}-latin1.csv", latin1, r"0xE9 is not UTF-8", row=text.count("\n") + 1)
    cp1252 = (text[:first_line_break] + "“µ”" + text[first_line_break:]).encode("cp1252")
    yield Case(f"{prefix}-cp1252.csv", cp1252, r"not UTF-8 .*Windows-1252", row=1)
    yield Case(f"{prefix}-json.csv", b'{"recipes": [{"PG": 1}]}', r"single column|no header row|expected")
    yield Case(f"{prefix}-html.csv", b"<html><body><table><tr><td>1</td></tr></table></body></html>", r"single column|no header row")
    yield Case(f"{prefix}-separators.csv", b",,,,\n;;;\n,;,\n", r"holds no values|no header row")
    yield Case(f"{prefix}-pipes.csv", text.replace(",", "|").replace(";", "|").encode(), r"single column|no header row|split into columns")
    huge_field = b'"' + b"A" * 200_000 + b'"'
    yield Case(f"{prefix}-huge-field.csv", valid + huge_field + b"\n", r"cannot be read as CSV \(field larger", row=text.count("\n") + 1)


# --------------------------------------------------------------------------------------
# Batch: a CSV of recipes to predict
# --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def champion():
    """The shipped demo champion (read only)."""
    model, _ = ModelRegistry(REPO_ROOT / "trained_models").load_champion()
    return model


def batch_cases(colorants):
    header = ["name", *colorants, "thickness_um"]
    good_row = ["r1", *["1"] * len(colorants), "10"]

    def table(rows, head=header, delimiter=",") -> bytes:
        return ("\n".join(delimiter.join(r) for r in [head, *rows]) + "\n").encode("utf-8")

    valid = table([good_row, ["r2", *["0.5"] * len(colorants), "8"]])
    yield from generic_cases("batch", valid)
    first, third = colorants[0], colorants[2]
    yield Case("batch-tabs.csv", table([good_row], delimiter="\t"), r"tab-separated", row=1)
    yield Case("batch-spaces.csv", table([good_row], delimiter=" "), r"single column", row=1)
    yield Case("batch-bom-no-thickness.csv", codecs.BOM_UTF8 + table([good_row[:-1]], head=header[:-1]), r"missing column", row=1, column="thickness_um")
    yield Case("batch-header-only.csv", table([]), r"no recipes below it")
    yield Case("batch-no-thickness.csv", table([good_row[:-1]], head=header[:-1]), r"missing column; expected a column 'thickness_um'", row=1, column="thickness_um")
    yield Case("batch-no-colorant.csv", table([good_row[:3] + good_row[4:]], head=header[:3] + header[4:]), rf"missing column; expected a column '{third}'", row=1, column=third)
    typo = first[:-1] + "x" + first[-1]
    yield Case("batch-renamed-colorant.csv", table([good_row], head=[header[0], typo, *header[2:]]), rf"'{typo}' may be it: rename it to '{first}'", column=first)
    yield Case("batch-renamed-thickness.csv", table([good_row], head=[*header[:-1], "thicknes"]), r"rename it to 'thickness_um'", column="thickness_um")
    yield Case("batch-thickness-mm.csv", table([good_row], head=[*header[:-1], "thickness (mm)"]), r"missing column.*thickness_um", column="thickness_um")
    yield Case("batch-dup-colorant.csv", table([[*good_row, "1"]], head=[*header, f"{first} (%)"]), r"duplicated column", row=1, column=f"{first} (%)")
    yield Case("batch-dup-thickness.csv", table([[*good_row, "9"]], head=[*header, "thickness (µm)"]), r"duplicated column", row=1, column="thickness (µm)")
    yield Case("batch-unknown-pigment.csv", table([[*good_row, "3"]], head=[*header, "TiO2 (%)"]), r"looks like a colorant", column="TiO2 (%)")
    yield Case("batch-unnamed-column.csv", table([good_row], head=["", *header[1:]]), r"column 1 has no name", row=1)
    yield Case("batch-empty-quotes-header.csv", b'"",""\n1,2\n', r"has no name|no column names", row=1)
    yield Case("batch-sep-line-only.csv", b"sep=,\n", r"no header row")
    for label, cell, phrase in [
        ("text", "abc", r"expected a number \(weight percent.*got 'abc'"),
        ("nan", "NaN", r"\(not a number\)"),
        ("inf", "inf", r"expected a finite number"),
        ("minus-inf", "-inf", r"expected a finite number"),
        ("overflow", "1e400", r"expected a finite number"),
        ("negative", "-0.5", r"from 0 to 100, got -0.5"),
        ("huge", "1e308", r"from 0 to 100, got 1e308"),
        ("empty", "", r"write 0 for a colorant"),
        ("percent-percent", "5%%", r"got '5%%'"),
        ("hex", "0x10", r"got '0x10'"),
        ("thousands", "1 000", r"got '1 000'"),
        ("bool", "TRUE", r"got 'TRUE'"),
        ("formula", "=1+1", r"got '=1\+1'"),
        ("units", "5 wt", r"got '5 wt'"),
    ]:
        rows = [good_row, ["r2", cell, *good_row[2:]]]
        yield Case(f"batch-cell-{label}.csv", table(rows), phrase, row=3, column=first)
    for label, cell, phrase in [
        ("zero", "0", r"above 0 and below 1000, got 0"),
        ("negative", "-8", r"above 0 and below 1000, got -8"),
        ("huge", "1e9", r"above 0 and below 1000, got 1e9"),
        ("text", "8um", r"got '8um'"),
        ("empty", "", r"the cell is empty"),
        ("nan", "nan", r"not a number"),
    ]:
        yield Case(f"batch-thickness-{label}.csv", table([[*good_row[:-1], cell]]), phrase, row=2, column="thickness_um")
    yield Case("batch-over-100.csv", table([["r1", *["40"] * len(colorants), "10"]]), r"add up to 200 %; expected at most 100 %", row=2)
    yield Case("batch-long-row.csv", table([[*good_row, "7"]]), r"has 8 values but the header has 7", row=2)
    yield Case("batch-short-row.csv", table([good_row[:-2]]), r"has 5 values but the header has 7", row=2)
    yield Case("batch-decimal-comma.csv", table([["r1", "1,5", *good_row[2:]]]), r"a decimal comma\?", row=2)
    yield Case("batch-mixed-delimiters.csv", table([good_row]).replace(b"r1,", b"r1;").replace(b",1,", b";1;"), r"values but the header has", row=2)
    yield Case("batch-unclosed-quote.csv", table([['"r1', *good_row[1:]]]), r"values but the header has", row=2)
    yield Case("batch-cr-only.csv", table([good_row, ["r2", "x", *good_row[2:]]]).replace(b"\n", b"\r"), r"got 'x'", row=3, column=first)
    yield Case("batch-semicolon-bad.csv", table([["r1", "1,5", *good_row[2:-1], "abc"]], delimiter=";"), r"got 'abc'", row=2, column="thickness_um")
    yield Case("batch-nul-in-cell.csv", table([["r1", "1\x002", *good_row[2:]]]), r"binary data")
    yield Case("batch-bidi-header.csv", table([good_row], head=["name", "\u202e" + first, *header[2:]]), rf"missing column; expected a column '{first}'", column=first)
    cap = table([good_row] * 3).replace(b"r1", b"x")  # three rows against a cap of two
    yield Case("batch-over-row-cap.csv", cap, r"has 3 recipes; expected at most 2 in one file")


BATCH_TEST_CAP = 2  # rows; the real cap (MAX_BATCH_ROWS) is tested below on its own


def _champion_colorants() -> list[str]:
    # Read from the card at collection time (cheap: no unpickling) so the corpus follows the model.
    models_dir = REPO_ROOT / "trained_models"
    return list(ModelRegistry(models_dir).read_card(ModelRegistry(models_dir).champion_version()).dataset["colorants"])


def _batch_corpus():
    return list(batch_cases(_champion_colorants()))


def test_batch_corpus_has_at_least_50_distinct_malformed_files(champion):
    corpus = _batch_corpus()
    assert list(champion.colorants_) == _champion_colorants()
    assert len(corpus) >= 50
    assert len({case.content for case in corpus}) == len(corpus), "two generated cases are the same file"


@pytest.mark.parametrize("case", _batch_corpus(), ids=lambda case: case.name)
def test_batch_upload_gets_a_specific_message(champion, case):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a warning escaping predict_csv would be a second channel
        try:
            result = predict_csv(case.content, champion, name=case.name, max_rows=BATCH_TEST_CAP)
        except IngestError as error:
            problems = error.problems
            assert all(p.file == case.name for p in problems), _describe(problems)
        else:
            problems = result.problems
            # Only the rows reported are left out; nothing is dropped silently.
            n_data_rows = max(0, len([line for line in io.StringIO(case.content.decode("utf-8", "replace")).read().splitlines() if line.strip()]) - 1)
            assert result.n_predicted + result.n_rows_left_out <= n_data_rows
            assert problems, f"{case.name}: accepted without a word:\n{result.table.head()}"
    assert any(_matches(p, case) for p in problems), f"{case.name}: expected {case.phrase!r} (row {case.row}, column {case.column}) in:\n{_describe(problems)}"


def test_batch_bad_rows_are_left_out_and_good_rows_still_predicted(champion):
    colorants = list(champion.colorants_)
    content = ("name," + ",".join(colorants) + ",thickness_um\nok,1,1,1,1,1,10\nbad,x,1,1,1,1,10\nok2,0,0,0,0,0,8\n").encode()
    result = predict_csv(content, champion, name="mixed.csv")
    assert result.table["name"].tolist() == ["ok", "ok2"]
    assert [(p.row, p.column) for p in result.problems] == [(3, colorants[0])]
    assert np.isfinite(result.table[["L", "a", "b"]].to_numpy()).all()


@pytest.mark.parametrize(
    "extra_header, extra_cells, refused_column, why",
    [
        # Two columns with one name would be doubled in the download.
        ("name,name", "a,b", "name", "duplicated column"),
        # An input column L or R400 would collide with the prediction's own.
        ("L,R400", "3,0.5", "L", "name of a predicted column"),
    ],
)
def test_batch_passthrough_columns_that_would_collide_are_refused_and_named(champion, extra_header, extra_cells, refused_column, why):
    colorants = list(champion.colorants_)
    ones = ",".join("1" for _ in colorants)
    content = f"{extra_header},{','.join(colorants)},thickness_um\n{extra_cells},{ones},10\n".encode()
    with pytest.raises(IngestError) as refusal:
        predict_csv(content, champion, name="collide.csv")
    assert any(p.column == refused_column and why in p.message for p in refusal.value.problems), str(refusal.value)


# --------------------------------------------------------------------------------------
# Batch: the row cap, and the byte cap configured for uploads
# --------------------------------------------------------------------------------------


def _recipes_csv(colorants, n_rows: int) -> bytes:
    return (",".join([*colorants, "thickness_um"]) + "\n" + ",".join(["1"] * len(colorants) + ["10"]) + "\n") .encode() + (
        (",".join(["1"] * len(colorants) + ["10"]) + "\n").encode() * (n_rows - 1)
    )


def test_upload_size_cap_is_configured_and_the_row_cap_fits_inside_it():
    config = tomllib.loads((REPO_ROOT / ".streamlit" / "config.toml").read_text(encoding="utf-8"))
    max_upload_mb = config["server"]["maxUploadSize"]
    assert 1 <= max_upload_mb <= 200
    # A file of MAX_BATCH_ROWS plain recipes must fit under the byte cap, or the row cap is unreachable.
    assert len(_recipes_csv(["A", "B", "C", "D", "E"], MAX_BATCH_ROWS)) < max_upload_mb * 2**20


def test_row_cap_admits_the_cap_refuses_one_more_and_refuses_a_million_rows_quickly(champion):
    colorants = list(champion.colorants_)
    started = time.perf_counter()
    recipes, problems = read_recipes_for_prediction(_recipes_csv(colorants, MAX_BATCH_ROWS), colorants, name="at-cap.csv", max_rows=MAX_BATCH_ROWS)
    seconds_at_cap = time.perf_counter() - started
    assert len(recipes) == MAX_BATCH_ROWS and problems == []

    with pytest.raises(IngestError, match=rf"has {MAX_BATCH_ROWS + 1} recipes; expected at most {MAX_BATCH_ROWS} in one file"):
        predict_csv(_recipes_csv(colorants, MAX_BATCH_ROWS + 1), champion, name="over-cap.csv")

    million = _recipes_csv(colorants, 1_000_000)
    started = time.perf_counter()
    with pytest.raises(IngestError, match=r"expected at most 100000 in one file") as caught:
        predict_csv(million, champion, name="million.csv")
    seconds_million = time.perf_counter() - started
    assert caught.value.problems[0].file == "million.csv"
    # Refusing needs no more work than reading the cap (stop after MAX_BATCH_ROWS + 1 records),
    # not splitting all 10^6 rows into memory first (about 4x the cap's time, and ~1 GB).
    assert seconds_million < 2 * seconds_at_cap + 0.5, (
        f"refusing 10^6 rows took {seconds_million:.1f} s; reading {MAX_BATCH_ROWS} rows took {seconds_at_cap:.1f} s"
    )


# --------------------------------------------------------------------------------------
# Retrain: tidy CSV, instrument export, recipe table, and the upload as a whole
# --------------------------------------------------------------------------------------


def tidy_cases():
    yield from generic_cases("tidy", tidy_bytes())
    header = ["sample_id", "recipe_id", "GXT-10", "PG", "thickness_um", *BAND_COLUMNS]
    without = lambda name: [h for h in header if h != name]  # noqa: E731
    row = tidy_row()
    drop = lambda name: [v for h, v in zip(header, row) if h != name]  # noqa: E731
    yield Case("tidy-no-sample-id.csv", tidy_bytes([drop("sample_id")], header=without("sample_id")), r"missing column", row=1, column="sample_id")
    yield Case("tidy-no-recipe-id.csv", tidy_bytes([drop("recipe_id")], header=without("recipe_id")), r"missing column", row=1, column="recipe_id")
    yield Case("tidy-no-thickness.csv", tidy_bytes([drop("thickness_um")], header=without("thickness_um")), r"missing column", row=1, column="thickness_um")
    yield Case("tidy-renamed-thickness.csv", tidy_bytes([row], header=[*header[:4], "Thickness", *BAND_COLUMNS]), r"missing column", row=1, column="thickness_um")
    yield Case("tidy-no-colorant.csv", tidy_bytes([[*row[:2], *row[4:]]], header=[*header[:2], *header[4:]]), r"no colorant column", row=1)
    yield Case("tidy-30-bands.csv", tidy_bytes([row[:-1]], header=header[:-1]), r"missing 1 of the 31 band columns \(R700\)", row=1)
    yield Case("tidy-no-bands.csv", tidy_bytes([row[:5]], header=header[:5]), r"missing 31 of the 31 band columns", row=1)
    yield Case("tidy-5nm-bands.csv", tidy_bytes([row[:5] + FLAT], header=header[:5] + [f"R{405 + 10 * i}" for i in range(31)]), r"missing 31 of the 31", row=1)
    yield Case("tidy-renamed-bands.csv", tidy_bytes([row], header=header[:5] + [f"Refl{int(w)}" for w in WAVELENGTHS_NM]), r"missing 31 of the 31", row=1)
    yield Case("tidy-dup-band.csv", tidy_bytes([[*row, 0.3]], header=[*header, "R700 nm"]), r"duplicated column", row=1, column="R700 nm")
    yield Case("tidy-dup-colorant.csv", tidy_bytes([[*row, 5]], header=[*header, "GXT-10 (%)"]), r"duplicated column", row=1, column="GXT-10 (%)")
    yield Case("tidy-dup-sample-id-column.csv", tidy_bytes([[*row, "x"]], header=[*header, "Sample_ID"]), r"duplicated column", row=1, column="Sample_ID")
    for label, column, cell, phrase in [
        ("band-text", "R550", "abc", r"got 'abc'"),
        ("band-nan", "R550", "nan", r"not a number"),
        ("band-inf", "R400", "inf", r"finite number"),
        ("band-negative", "R700", "-0.01", r"from 0 to 5"),
        ("band-percent", "R500", "45", r"divide the spectrum by 100"),
        ("band-huge", "R500", "1e300", r"from 0 to 5"),
        ("band-empty", "R600", "", r"the cell is empty"),
        ("conc-text", "GXT-10", "five", r"got 'five'"),
        ("conc-negative", "PG", "-1", r"from 0 to 100"),
        ("conc-huge", "PG", "1e12", r"from 0 to 100"),
        ("thickness-zero", "thickness_um", "0", r"above 0 and below 1000"),
        ("thickness-text", "thickness_um", "thin", r"got 'thin'"),
        ("sample-empty", "sample_id", "", r"expected a sample id"),
        ("recipe-empty", "recipe_id", "", r"expected a recipe id"),
    ]:
        yield Case(f"tidy-{label}.csv", tidy_bytes([tidy_row(**{column: cell})]), phrase, row=2, column=column)
    for label, cell, phrase in [
        ("text", "bright", r"fluorescence intensity in ct/s.*got 'bright'"),
        ("negative", "-40", r"fluorescence intensity in ct/s of 0 or more, got -40"),
        ("inf", "inf", r"finite number \(fluorescence intensity in ct/s"),
        ("nan", "nan", r"not a number"),
        ("percent", "5%", r"got '5%'"),
    ]:
        column = "fluorescence_cts"
        header = ["sample_id", "recipe_id", "GXT-10", "PG", "thickness_um", *BAND_COLUMNS, column]
        yield Case(f"tidy-fluorescence-{label}.csv", tidy_bytes([[*tidy_row(), cell]], header=header), phrase, row=2, column=column)
    yield Case("tidy-over-100.csv", tidy_bytes([tidy_row(**{"GXT-10": 70, "PG": 40})]), r"add up to 110 %", row=2)
    yield Case("tidy-dup-sample.csv", tidy_bytes([tidy_row(), tidy_row()]), r"already used on row 2", row=3, column="sample_id")
    yield Case("tidy-recipe-conflict.csv", tidy_bytes([tidy_row(), tidy_row(sample_id="A1-12", PG=1)]), r"different concentrations here than on row 2", row=3)
    yield Case("tidy-header-only.csv", tidy_bytes([]), r"no measurements below it")
    yield Case("tidy-short-row.csv", tidy_bytes([row[:-3]]), r"has 33 values but the header has 36", row=2)
    yield Case("tidy-tabs.csv", tidy_bytes(delimiter="\t"), r"tab-separated", row=1)


def export_cases():
    yield from generic_cases("export", GOOD_EXPORT)
    row = EXPORT_HEADER_ROW + 1
    yield Case("export-no-header.csv", b"sep=;\nName;R1;R2\nA1;0.1;0.2\n", r"no header row found; expected a spectrophotometer")
    yield Case("export-recipe-table-instead.csv", GOOD_RECIPES, r"no header row found")
    yield Case("export-30-bands.csv", export_bytes([("A1", FLAT[:30])], bands=EXPORT_BANDS[:30]), r"missing 1 of the 31 band columns \(R700 nm\)", row=EXPORT_HEADER_ROW)
    yield Case("export-5nm-bands.csv", export_bytes([("A1", FLAT)], bands=["R400 nm"] + [f"R{405 + 10 * i} nm" for i in range(30)]), r"missing 30 of the 31", row=EXPORT_HEADER_ROW)
    yield Case("export-dup-band.csv", export_bytes([("A1", [*FLAT, 0.2])], bands=[*EXPORT_BANDS, "R700 nm"]), r"duplicated band column", row=EXPORT_HEADER_ROW, column="R700 nm")
    yield Case("export-header-only.csv", export_bytes([]), r"no measurements below it")
    yield Case("export-comma-rows.csv", GOOD_EXPORT.replace(b"A1;", b"A1,"), r"values but the header has", row=row)
    yield Case("export-empty-name.csv", export_bytes([("", FLAT)]), r"expected a sample name", row=row, column="User Color Name")
    yield Case("export-short-row.csv", export_bytes([("A1", FLAT[:20])]), r"has 25 values but the header has 36", row=row)
    for label, cell, phrase in [
        ("text", "abc", r"got 'abc'"),
        ("nan", "NaN", r"not a number"),
        ("inf", "inf", r"finite number"),
        ("overflow", "1e999", r"finite number"),
        ("negative", "-0.2", r"from 0 to 5"),
        ("huge", "1e300", r"from 0 to 5"),
        ("empty", "", r"the cell is empty"),
        ("formula", "=0.5", r"got '=0.5'"),
        ("percent-sign", "45%", r"got '45%'"),
        ("bool", "TRUE", r"got 'TRUE'"),
        ("hex", "0x1", r"got '0x1'"),
        ("spaced", "0. 5", r"got '0. 5'"),
        ("units", "0.5nm", r"got '0.5nm'"),
    ]:
        yield Case(f"export-band-{label}.csv", export_bytes([("A1", _with(FLAT, 5, cell))]), phrase, row=row, column="R450 nm")
    yield Case("export-percent.csv", export_bytes([("A1", [45.0] * 31)]), r"divide the spectrum by 100", row=row, column="R400 nm")
    yield Case("export-tabs-bad.csv", export_bytes([("A1", _with(FLAT, 0, "x"))], delimiter="\t"), r"got 'x'", row=row, column="R400 nm")
    yield Case("export-name-not-a-column.csv", b"sep=;\nUser Color Name R400 nm;x\nA1;1\n", r"does not split into columns", row=2)
    yield Case("export-only-R400.csv", export_bytes([("A1", FLAT[:1])], bands=EXPORT_BANDS[:1]), r"missing 30 of the 31", row=EXPORT_HEADER_ROW)
    many = export_bytes([(f"S{i}", ["x"] * 31) for i in range(3)])
    yield Case("export-many-problems.csv", many, r"got 'x'", row=row, column="R400 nm")
    yield Case("export-sep-line-only.csv", b"sep=;\n", r"no header row found")
    yield Case("export-bom-utf16-body.csv", codecs.BOM_UTF8 + GOOD_EXPORT.decode().encode("utf-16-le"), r"binary data")
    yield Case("export-two-errors-one-row.csv", export_bytes([("", _with(FLAT, 30, "-1"))]), r"from 0 to 5", row=row, column="R700 nm")
    yield Case("export-cr-only.csv", export_bytes([("A1", FLAT), ("B2", _with(FLAT, 1, "?"))]).replace(b"\n", b"\r"), r"got '\?'", row=row + 1, column="R410 nm")
    yield Case("export-long-row.csv", export_bytes([("A1", [*FLAT, 0.1, 0.2])]), r"has 38 values but the header has 36", row=row)


def recipe_cases():
    yield from generic_cases("recipes", GOOD_RECIPES)
    head = "Sample ID,GXT-10 (%),PG (%)\n"
    yield Case("recipes-one-column.csv", b"Sample ID\nA1\n", r"single column")
    yield Case("recipes-header-only.csv", head.encode(), r"no recipes below it")
    yield Case("recipes-unit-only.csv", b"Sample ID,(%)\nA1,5%\n", r"expected a colorant name before the unit", row=1, column="(%)")
    yield Case("recipes-dup-column.csv", b"Sample ID,GXT-10 (%),GXT-10\nA1,5%,5%\n", r"duplicated column", row=1, column="GXT-10")
    yield Case("recipes-dup-id.csv", (head + "A1,5%,0%\nA1,6%,0%\n").encode(), r"same id as row 2", row=3, column="Sample ID")
    yield Case("recipes-dup-id-spelling.csv", (head + "OPTI 6,5%,0%\nopti_6,6%,0%\n").encode(), r"ignoring case", row=3, column="Sample ID")
    yield Case("recipes-empty-id.csv", (head + ",5%,0%\n").encode(), r"expected a recipe id", row=2, column="Sample ID")
    yield Case("recipes-over-100.csv", (head + "A1,60%,50%\n").encode(), r"add up to 110 %", row=2)
    yield Case("recipes-short-row.csv", (head + "A1,5%\n").encode(), r"has 2 values but the header has 3", row=2)
    yield Case("recipes-decimal-comma.csv", (head + "A1,1,5%,0%\n").encode(), r"decimal comma", row=2)
    yield Case("recipes-tabs.csv", head.replace(",", "\t").encode() + b"A1\t5%\t0%\n", r"tab-separated", row=1)
    yield Case("recipes-long-row.csv", (head + "A1,5%,0%,7%,8%\n").encode(), r"has 5 values but the header has 3", row=2)
    yield Case("recipes-semicolon-bad.csv", head.replace(",", ";").encode() + b"A1;5,5%;x\n", r"got 'x'", row=2, column="PG (%)")
    yield Case("recipes-bom-dup-id.csv", codecs.BOM_UTF8 + (head + "A1,5%,0%\nA1,5%,0%\n").encode(), r"same id as row 2", row=3)
    yield Case("recipes-sep-line-only.csv", b"sep=,\n", r"no header row")
    yield Case("recipes-cr-only.csv", (head + "A1,5%,0%\nB2,x,0%\n").replace("\n", "\r").encode(), r"got 'x'", row=3, column="GXT-10 (%)")
    yield Case("recipes-id-only-rows.csv", (head + "A1\nB2\n").encode(), r"has 1 values but the header has 3", row=2)
    yield Case("recipes-empty-quotes-header.csv", b'"","",""\nA1,5%,0%\n', r"has no name|no column names", row=1)
    yield Case("recipes-unnamed-column.csv", b"Sample ID,,PG (%)\nA1,5%,0%\n", r"column 2 has no name", row=1)
    for label, cell, phrase in [
        ("text", "five", r"got 'five'"),
        ("nan", "nan", r"not a number"),
        ("inf", "inf", r"finite number"),
        ("negative", "-2%", r"from 0 to 100, got -2%"),
        ("huge", "1e300", r"from 0 to 100"),
        ("empty", "", r"write 0 for a colorant"),
        ("formula", "=A1*2", r"got '=A1\*2'"),
        ("overflow", "1e999", r"finite number"),
        ("bool", "TRUE", r"got 'TRUE'"),
        ("hex", "0x5", r"got '0x5'"),
        ("spaced", "1 5", r"got '1 5'"),
        ("percent-percent", "5%%", r"got '5%%'"),
        ("units", "5 g", r"got '5 g'"),
    ]:
        yield Case(f"recipes-cell-{label}.csv", (head + f"A1,{cell},0%\n").encode(), phrase, row=2, column="GXT-10 (%)")


def fluorescence_cases():
    """A fluorescence table (``Sample ID,Fluorescence [ct/s]``), broken."""
    yield from generic_cases("fluorescence", GOOD_FLUORESCENCE)
    head = "Sample ID,Fluorescence [ct/s]\n"
    yield Case("fluorescence-header-only.csv", head.encode(), r"no readings below it")
    yield Case("fluorescence-no-reading-column.csv", b"Sample ID,Intensity\nA1,3440\n", r"no fluorescence column", row=1)
    yield Case("fluorescence-two-reading-columns.csv", b"Sample ID,Fluorescence [ct/s],cps\nA1,3440,3440\n", r"several columns name fluorescence", row=1)
    yield Case("fluorescence-dup-name.csv", (head + "A1,3440\na_1,3500\n").encode(), r"already has a reading on row 2", row=3, column="Sample ID")
    yield Case("fluorescence-empty-name.csv", (head + ",3440\n").encode(), r"expected the film's sample name", row=2, column="Sample ID")
    yield Case("fluorescence-short-row.csv", (head + "A1\n").encode(), r"has 1 values but the header has 2", row=2)
    yield Case("fluorescence-thousands-comma.csv", (head + "A1,3,440\n").encode(), r"has 3 values but the header has 2", row=2)
    for label, cell, phrase in [
        ("text", "bright", r"got 'bright'"),
        ("negative", "-40", r"of 0 or more, got -40"),
        ("nan", "nan", r"not a number"),
        ("inf", "inf", r"finite number"),
        ("empty", "", r"the cell is empty; delete the row if the film has no reading"),
        ("units", "3440 cps", r"got '3440 cps'"),
        ("percent", "50%", r"got '50%'"),
    ]:
        yield Case(f"fluorescence-cell-{label}.csv", (head + f"A1,{cell}\n").encode(), phrase, row=2, column="Fluorescence [ct/s]")


RETRAIN_READERS = {
    "tidy": (read_tidy_csv, tidy_cases),
    "export": (read_instrument_export, export_cases),
    "recipes": (read_recipe_table, recipe_cases),
}


@pytest.mark.parametrize("case", [pytest.param(case, id=case.name) for case in fluorescence_cases()])
def test_fluorescence_table_is_refused_with_a_specific_message(case):
    with pytest.raises(IngestError) as caught:
        read_fluorescence_table(case.content, name=case.name)
    problems = caught.value.problems
    assert all(p.file == case.name for p in problems), _describe(problems)
    assert any(_matches(p, case) for p in problems), f"{case.name}: expected {case.phrase!r} (row {case.row}, column {case.column}) in:\n{_describe(problems)}"


@pytest.mark.parametrize("kind", RETRAIN_READERS)
def test_retrain_reader_corpus_has_at_least_50_files(kind):
    corpus = list(RETRAIN_READERS[kind][1]())
    assert len(corpus) >= 50
    assert len({case.content for case in corpus}) == len(corpus)


def _retrain_reader_params():
    return [pytest.param(kind, case, id=case.name) for kind, (_, cases) in RETRAIN_READERS.items() for case in cases()]


@pytest.mark.parametrize("kind, case", _retrain_reader_params())
def test_retrain_file_is_refused_with_a_specific_message(kind, case):
    reader = RETRAIN_READERS[kind][0]
    with pytest.raises(IngestError) as caught:
        reader(case.content, name=case.name)
    problems = caught.value.problems
    assert all(p.file == case.name for p in problems), _describe(problems)
    assert any(_matches(p, case) for p in problems), f"{case.name}: expected {case.phrase!r} (row {case.row}, column {case.column}) in:\n{_describe(problems)}"


def upload_cases():
    """Whole uploads for the Retrain page: lists of (file name, bytes), and the message expected."""
    for case in tidy_cases():
        yield [(case.name, case.content)], case
    for case in export_cases():
        if b"User Color Name" not in case.content or b"R400 nm" not in case.content:
            # Not recognisable as an export: saying that neither file is one is a fair answer.
            case = Case(case.name, case.content, rf"{case.phrase}|expected exactly one spectrophotometer export .*neither file is one")
        yield [(case.name, case.content), ("Concentrations.csv", GOOD_RECIPES)], case
    for case in recipe_cases():
        yield [("Spectra.csv", GOOD_EXPORT), (case.name, case.content)], case
    yield [], Case("nothing", b"", r"got 0 files")
    yield [("a.csv", tidy_bytes()), ("b.csv", tidy_bytes()), ("c.csv", tidy_bytes())], Case("three", b"", r"expected exactly one spectrophotometer export")
    four = [("Spectra.csv", GOOD_EXPORT), ("Concentrations.csv", GOOD_RECIPES), ("Fluorescence.csv", GOOD_FLUORESCENCE), ("d.csv", tidy_bytes())]
    yield four, Case("four", b"", r"got 4 files")
    for case in fluorescence_cases():
        if b"luoresc" not in case.content and b"cps" not in case.content:
            # Not recognisable as a fluorescence table: it competes with the recipe table.
            case = Case(case.name, case.content, rf"{case.phrase}|could both be the recipe table")
        yield [("Spectra.csv", GOOD_EXPORT), ("Concentrations.csv", GOOD_RECIPES), (case.name, case.content)], case
    yield [("Spectra.csv", GOOD_EXPORT), ("Fluorescence.csv", GOOD_FLUORESCENCE)], Case("no recipe table", b"", r"a fluorescence table, not a recipe table")
    yield [("Spectra.csv", GOOD_EXPORT)], Case("Spectra.csv", b"", r"upload the recipe table with it")
    yield [("one.csv", GOOD_EXPORT), ("two.csv", GOOD_EXPORT)], Case("two exports", b"", r"expected exactly one spectrophotometer export")
    yield [("one.csv", GOOD_RECIPES), ("two.csv", GOOD_RECIPES)], Case("two tables", b"", r"expected exactly one spectrophotometer export")
    yield [("Spectra.csv", export_bytes([("ZZ9", FLAT)])), ("Concentrations.csv", GOOD_RECIPES)], Case("unmatched", b"", r"no measured name matches a recipe")


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return MeasurementStore(tmp_path_factory.mktemp("store") / "measurements.sqlite3", seed=False)


def test_retrain_upload_corpus_has_at_least_50_distinct_uploads_of_every_shape():
    uploads = list(upload_cases())
    assert len(uploads) >= 50
    # Distinct uploads, not one file counted many times: each (names, bytes) set occurs once.
    assert len({tuple(sorted(files)) for files, _ in uploads}) == len(uploads)
    # Every shape the Retrain page accepts is attacked: one tidy file, an export with a
    # recipe table, and the wrong number of files.
    sizes = {len(files) for files, _ in uploads}
    assert {0, 1, 2, 3} <= sizes
    # Each case expects a specific message, never "any error will do".
    assert all(case.phrase and case.phrase not in (".*", ".") for _, case in uploads)


@pytest.mark.parametrize("files, case", [pytest.param(f, c, id=f"{len(f)} files: {c.name}") for f, c in upload_cases()])
def test_retrain_upload_is_refused_and_the_store_is_unchanged(store, files, case):
    version_before = store.version()
    bytes_before = store.path.read_bytes()
    try:
        prepared = read_upload(files)
    except IngestError as error:
        problems = error.problems
    else:  # the page would now commit it; a malformed upload must never get this far
        store.add(prepared, user=LOCAL_ADMIN)
        problems = []
    assert any(_matches(p, case) for p in problems), f"{case.name}: expected {case.phrase!r} in:\n{_describe(problems)}"
    assert store.version() == version_before and store.path.read_bytes() == bytes_before


# --------------------------------------------------------------------------------------
# Formulate: a spectrum pasted as text
# --------------------------------------------------------------------------------------


def paste_cases():
    values = [f"{v:.3f}" for v in FLAT]
    nonfinite_or_negative = r"must be finite and not negative"
    found = r"Found \d+ numbers? in the pasted text; expected 31"
    yield Case("paste-empty", b"", r"Nothing was pasted")
    yield Case("paste-blank", b" \n\t \n", r"Nothing was pasted")
    for n in (1, 2, 16, 30, 32, 33, 61, 63):
        yield Case(f"paste-{n}-numbers", " ".join(values[:1] * n).encode(), rf"Found {n} numbers?\b")
    yield Case("paste-words", b"the quick brown fox", r"Found 0 numbers")
    yield Case("paste-text-in-list", (" ".join(values[:30]) + " abc").encode(), r"Found 30 numbers")
    yield Case("paste-nan", " ".join(["nan"] * 31).encode(), r"Found 0 numbers")
    yield Case("paste-inf-among", " ".join(values[:30] + ["inf"]).encode(), r"Found 30 numbers")
    yield Case("paste-overflow", " ".join(values[:30] + ["1e999"]).encode(), nonfinite_or_negative)
    yield Case("paste-negative", " ".join(values[:30] + ["-0.2"]).encode(), nonfinite_or_negative)
    yield Case("paste-all-negative", " ".join(["-0.5"] * 31).encode(), nonfinite_or_negative)
    yield Case("paste-huge", " ".join(["1e300"] * 31).encode(), r"expected|too large|percent")
    yield Case("paste-one-huge", " ".join(values[:30] + ["1e300"]).encode(), r"expected|too large|outlier")
    yield Case("paste-hex", " ".join(["0x1"] * 31).encode(), r"Found 0 numbers")
    yield Case("paste-formula", " ".join(["=0.5"] * 31).encode(), r"Found 0 numbers")
    yield Case("paste-header-30", ("\t".join(BAND_COLUMNS[:30]) + "\n" + "\t".join(values[:30])).encode(), r"lacks R700")
    yield Case("paste-header-renamed", (",".join(["R400", *[f"W{w}" for w in WAVELENGTHS_NM[1:]]]) + "\n" + ",".join(values)).encode(), r"lacks R410")
    yield Case("paste-header-text", (";".join(BAND_COLUMNS) + "\n" + ";".join(values[:30] + ["abc"])).encode(), r"under R700 is 'abc'")
    yield Case("paste-header-short-row", (",".join(BAND_COLUMNS) + "\n" + ",".join(values[:20])).encode(), r"under R600 is '\(missing\)'")
    yield Case("paste-header-nan", (",".join(BAND_COLUMNS) + "\n" + ",".join(["nan"] * 31)).encode(), r"under R400 is 'nan'")
    yield Case("paste-header-only", (",".join(BAND_COLUMNS) + "\n").encode(), r"Found \d+ numbers|expected")
    pairs = [f"{int(w)} {v}" for w, v in zip(WAVELENGTHS_NM, values)]
    yield Case("paste-pairs-30", "\n".join(pairs[:30]).encode(), r"Found 60 numbers")
    # BUG: with one bad value the last-31-numbers rule takes wavelengths and values, interleaved.
    yield Case("paste-pairs-bad-value", "\n".join(pairs[:30] + ["700 x"]).encode(), r"Found 61 numbers|expected")
    yield Case("paste-semicolons-short", ";".join(values[:25]).encode(), r"Found 25 numbers")
    yield Case("paste-tabs-short", "\t".join(values[:29]).encode(), r"Found 29 numbers")
    yield Case("paste-decimal-comma-in-commas", ",".join(v.replace(".", ",") for v in values[:10]).encode(), found)
    yield Case("paste-binary", RNG.randbytes(500).decode("latin-1").encode("utf-8"), r"Found \d+ numbers|finite|expected")
    yield Case("paste-nul", ("\x00".join(values[:20])).encode(), r"Found \d+ numbers|expected")
    yield Case("paste-json", json_spectrum(values[:30]).encode(), r"Found \d+ numbers|expected")
    yield Case("paste-html", b"<table><tr><td>0.1</td></tr></table>", r"Found 0 numbers|expected")
    yield Case("paste-lab-only", b"L 50 a 10 b 20", r"Found 3 numbers")
    yield Case("paste-export-header-row", GOOD_EXPORT.split(b"\n")[3], r"Found \d+ numbers|expected|lacks")
    yield Case("paste-units", " ".join(f"{v}nm" for v in values).encode(), r"Found 0 numbers")
    yield Case("paste-percent-percent", " ".join(f"{v}%%" for v in values).encode(), r"Found 0 numbers")
    yield Case("paste-bidi", ("\u202e" + " ".join(values[:30])).encode(), r"Found 29 numbers")
    yield Case("paste-semicolon-nan", ";".join(values[:30] + ["NaN"]).encode(), r"Found 30 numbers")
    yield Case("paste-export-row-nan", ("A1;50;1;2;" + ";".join(values[:30] + ["nan"])).encode(), r"Found 33 numbers|expected")
    yield Case("paste-long", " ".join(values * 1000).encode(), r"Found 31000 numbers")
    yield Case("paste-utf16-decoded-wrong", " ".join(values).encode("utf-16-le"), r"Found \d+ numbers|expected")
    yield Case("paste-spaces-in-numbers", " ".join(["0. 5"] * 31).encode(), r"Found \d+ numbers|finite")
    yield Case("paste-only-separators", b";;;;;\t\t\t,,,", r"Found 0 numbers")
    yield Case("paste-mixed-pairs", "\n".join(f"{int(w) + 5} {v}" for w, v in zip(WAVELENGTHS_NM, values)).encode(), r"Found 62 numbers")
    yield Case("paste-export-row-short", ("A1;50;1;2;" + ";".join(values[:20])).encode(), r"Found 23 numbers")
    yield Case("paste-minus-inf-header", (",".join(BAND_COLUMNS) + "\n" + ",".join(["-inf"] * 31)).encode(), r"under R400 is '-inf'")
    yield Case("paste-plus-signs", " ".join(["+"] * 31).encode(), r"Found 0 numbers")


def json_spectrum(values) -> str:
    return '{"reflectance": [' + ", ".join(values) + "]}"


def test_paste_corpus_has_at_least_50_texts():
    corpus = list(paste_cases())
    assert len(corpus) >= 50
    assert len({case.content for case in corpus}) == len(corpus)


@pytest.mark.parametrize("case", list(paste_cases()), ids=lambda case: case.name)
def test_pasted_spectrum_is_refused_with_a_specific_message(case):
    text = case.content.decode("utf-8", errors="replace")  # a text area always gives str
    with pytest.raises(SpectrumParseError) as caught:
        target = Target.from_pasted(text)
        pytest.fail(f"{case.name}: accepted as reflectance {np.round(target.reflectance[:4], 4)}…")
    assert re.search(case.phrase, str(caught.value), re.IGNORECASE), f"{case.name}: got {caught.value}"


# --------------------------------------------------------------------------------------
# Formula injection: names that come back in downloads
# --------------------------------------------------------------------------------------

INJECTIONS = ["=cmd|' /C calc'!A0", "+SUM(1+1)*cmd|' /C calc'!A0", "-2+3+cmd|' /C calc'!A0", "@SUM(1+1)", "\t=1+1", "\r=1+1", '=HYPERLINK("http://evil.example","x")']
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _assert_no_live_formula(csv_bytes: bytes) -> list[list[str]]:
    rows = list(csv.reader(io.StringIO(csv_bytes.decode("utf-8"), newline="")))
    for row_number, row in enumerate(rows, start=1):
        for cell in row:
            if cell.startswith(_FORMULA_START):
                try:
                    float(cell)  # a negative number is not a formula
                except ValueError:
                    pytest.fail(f"row {row_number}: cell {cell!r} would run as a spreadsheet formula")
    return rows


def test_batch_download_neutralises_formulas_in_names_and_headers(champion):
    colorants = list(champion.colorants_)
    header = ['"=HYPERLINK(""http://x"")"', *colorants, "thickness_um"]
    lines = [",".join(header)]
    for name in INJECTIONS:
        quoted = '"' + name.replace('"', '""') + '"'
        lines.append(",".join([quoted, "1", "1", "1", "1", "1", "10"]))
    result = predict_csv(("\n".join(lines) + "\n").encode(), champion, name="inject.csv")
    assert result.n_predicted == len(INJECTIONS)
    rows = _assert_no_live_formula(to_csv_bytes(result.table))
    assert rows[0][0] == "'=HYPERLINK(\"http://x\")"
    assert [row[0] for row in rows[1:]] == ["'" + name.strip() for name in INJECTIONS]  # cells are stripped on reading
    assert any(float(cell) < 0 for row in rows[1:] for cell in row[6:9]), "a*/b* negative numbers should stay numbers"


def test_cli_predict_output_neutralises_formulas(tmp_path, champion):
    from model.__main__ import main

    colorants = list(champion.colorants_)
    source = tmp_path / "inject.csv"
    with open(source, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["sample", *colorants, "thickness_um"])
        for name in INJECTIONS:
            writer.writerow([name, 1, 1, 1, 1, 1, 10])
    output = tmp_path / "out.csv"
    assert main(["predict", "--model", str(REPO_ROOT / "trained_models"), "--input", str(source), "--output", str(output)]) == 0
    rows = _assert_no_live_formula(output.read_bytes())
    assert [row[0] for row in rows[1:]] == ["'" + name.strip() for name in INJECTIONS]  # cells are stripped on reading


def test_match_report_and_problem_downloads_neutralise_formulas(champion):
    names = ["=cmd|' /C calc'!A0", "@SUM(1)", "+A1", "-A2"]
    export = export_bytes([(name, FLAT) for name in names] + [("A1", FLAT)])
    prepared = read_upload([("Spectra.csv", export), ("Concentrations.csv", GOOD_RECIPES)])
    report_rows = _assert_no_live_formula(to_csv_bytes(prepared.report.to_frame()))
    measured = [row[1] for row in report_rows[1:]]
    assert all("'" + name in measured for name in names), measured
    colorants = list(champion.colorants_)
    bad = ("=1+1," + ",".join(colorants[1:]) + ",thickness_um\n" + "x,1,1,1,1,10\n").encode()
    with pytest.raises(IngestError) as caught:
        predict_csv(bad, champion, name="=evil.csv")
    _assert_no_live_formula(to_csv_bytes(problems_frame(caught.value.problems)))


# --------------------------------------------------------------------------------------
# Through the pages: no traceback, a specific error, the store and the champion unchanged
# --------------------------------------------------------------------------------------

PAGE_SAMPLE = ["batch-empty.csv", "batch-utf16le.csv", "batch.xlsx", "batch-no-thickness.csv", "batch-cell-inf.csv", "batch-huge-field.csv"]


def test_hostile_uploads_through_the_batch_and_retrain_pages(isolated_install):
    from streamlit.testing.v1 import AppTest

    models_dir, data_dir = isolated_install.copy_shipped_models(), isolated_install.data_dir
    pages = REPO_ROOT / "dashboard" / "app_pages"
    at = AppTest.from_file(str(REPO_ROOT / "dashboard" / "app.py"), default_timeout=90).run()
    at.switch_page(str(pages / "batch.py")).run()
    by_name = {case.name: case for case in _batch_corpus()}
    for case_name in PAGE_SAMPLE:
        case = by_name[case_name]
        # The uploader accepts .csv and .txt only; the hostility is in the content.
        name = case_name if case_name.endswith(".csv") else case_name + ".csv"
        at.file_uploader(key="batch_upload").set_value((name, case.content, "text/csv")).run()
        assert not at.exception, f"{name}: {at.exception}"
        assert any(name in error.value for error in at.error), f"{name}: no error naming the file"
        shown = at.dataframe[0].value["problem"].tolist() if at.dataframe else []
        assert any(re.search(case.phrase, message, re.IGNORECASE) for message in shown), f"{name}: {shown}"

    # A client that bypasses the browser's file-type filter gets Streamlit's own refusal,
    # redacted by client.showErrorDetails = "none": no traceback, no internals.
    at.file_uploader(key="batch_upload").set_value(("book.xlsx", b"PK\x03\x04" + bytes(100), "application/vnd.ms-excel")).run()
    assert at.exception and all(not element.stack_trace and "redacted" in element.message for element in at.exception)

    at = AppTest.from_file(str(REPO_ROOT / "dashboard" / "app.py"), default_timeout=90).run()
    at.switch_page(str(pages / "retrain.py")).run()
    store = MeasurementStore(data_dir / "measurements.sqlite3")
    store_version = store.version()
    pointer = (models_dir / registry.POINTER_FILE).read_bytes()
    uploads = [
        [("tidy-band-inf.csv", next(c for c in tidy_cases() if c.name == "tidy-band-inf.csv").content)],
        [("tidy-xlsx.csv", next(c for c in tidy_cases() if c.name == "tidy.xlsx").content)],
        [("Spectra.csv", export_bytes([("A1", _with(FLAT, 5, "nan"))])), ("Concentrations.csv", GOOD_RECIPES)],
        [("Spectra.csv", GOOD_EXPORT), ("recipes-over-100.csv", next(c for c in recipe_cases() if c.name == "recipes-over-100.csv").content)],
    ]
    for files in uploads:
        at.file_uploader(key="retrain_files").set_value([(name, content, "text/csv") for name, content in files]).run()
        assert not at.exception, f"{files[0][0]}: {at.exception}"
        assert any("cannot be used" in error.value for error in at.error), f"{files[0][0]}: no error shown"
        assert not [b for b in at.button if b.label == "Store these measurements"], "a malformed upload can be stored"
    assert store.version() == store_version
    assert (models_dir / registry.POINTER_FILE).read_bytes() == pointer
