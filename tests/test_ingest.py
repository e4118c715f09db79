"""Tests for model.io: the real export, matching rules, round trips and malformed files."""

from __future__ import annotations

import io
import pickle
import random
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from model.core import colorimetry
from model.core.schema import BAND_COLUMNS, THICKNESS_COLUMN
from model.io import (
    IngestError,
    Problem,
    ThicknessRule,
    load_dataset,
    match_measurements,
    read_instrument_export,
    read_recipe_table,
    read_recipes_for_prediction,
    read_tidy_csv,
)

BAND_HEADERS = [f"R{w} nm" for w in range(400, 701, 10)]
FLAT = [0.5] * 31
# In export_text's files the header is row 4 and the first measurement row 5.
EXPORT_HEADER_ROW = 4


def export_text(rows, *, band_headers=BAND_HEADERS, row_delimiter=";") -> str:
    """A small instrument export in the shape of pp-inks/Spectra.csv.

    ``rows`` are ``(name, cells)`` with one cell per band header.
    """
    header = ["Index", "Original Color Name", "User Color Name", "L", "a", "b", "L", "c", "h", *band_headers]
    lines = ["sep=;", "Export Date/Time;Mon Jan 01 2024,User Email;redacted", "Exported From; Saved Library", ";".join(header)]
    for index, (name, cells) in enumerate(rows, start=1):
        lines.append(row_delimiter.join([str(index), '"-"', f'"{name}"', "50", "1", "2", "50", "2.2", "63", *map(str, cells)]))
    return "\n".join(lines) + "\n"


def with_cell(cells, band_header, value):
    changed = list(cells)
    changed[BAND_HEADERS.index(band_header)] = value
    return changed


def tidy_text(rows, *, header=None) -> str:
    header = header or ["sample_id", "recipe_id", "GXT-10", "PG", "thickness_um", *[f"R{w}" for w in range(400, 701, 10)]]
    return "\n".join([",".join(header), *(",".join(map(str, row)) for row in rows)]) + "\n"


TIDY_A1 = ["A1-8", "A1", 5, 0, 8, *FLAT]
TIDY_B2 = ["B2-8", "B2", 0, 1.5, 8, *FLAT]
RECIPES = "Sample ID,GXT-10 (%),PG (%)\nA1,5%,0%\nB2,0%,1.5%\n"
PREDICTION_COLORANTS = ["GXT-10", "PG"]
PNG_HEADER = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10\x00\x00\x00\x10\x08\x06\x00\x00\x00"


# --------------------------------------------------------------------------------------
# The real pp-inks data
# --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def real_load(real_data_dir):
    return load_dataset(real_data_dir)


@pytest.fixture(scope="module")
def real_tables(real_data_dir):
    measurements = read_instrument_export(real_data_dir / "Spectra.csv")
    recipes, colorants = read_recipe_table(real_data_dir / "Concentrations.csv")
    return measurements, recipes, colorants


def test_real_folder_gives_83_measurements_of_43_recipes_at_8_and_12_um(real_load):
    dataset, report = real_load
    assert len(dataset) == 83
    assert dataset.n_recipes == 43
    assert sorted(dataset.table[THICKNESS_COLUMN].unique()) == [8.0, 12.0]
    assert dataset.colorants == ("GXT-10", "BiVaO4", "PG", "PearlB")
    assert dataset.table["sample_id"].is_unique
    assert not dataset.table[[*dataset.colorants, *BAND_COLUMNS]].isna().any().any()


def test_real_report_accounts_for_every_row_exactly_once(real_load):
    _, report = real_load
    frame = report.to_frame()
    assert frame["row"].tolist() == list(range(5, 88))  # data rows of Spectra.csv
    assert set(frame["status"]) == {"matched", "accepted suggestion"}
    assert report.unmatched == [] and report.suggested == []
    assert report.unmeasured_recipes == []


def test_real_near_misses_are_accepted_and_listed(real_load):
    dataset, report = real_load
    accepted = {entry.measured_name: entry.recipe_id for entry in report.accepted}
    assert accepted == {"BiVaO5H": "BiVa05", "BiVaO5": "BiVa05", "52C": "F052C", "52E": "F052E", "52F": "F052F"}
    row = dataset.table.set_index("sample_id").loc["F052F H"]
    assert (row["recipe_id"], row[THICKNESS_COLUMN], row["PearlB"]) == ("F052F", 12.0, 5.4)


def test_real_spelling_variants_match_by_name(real_load):
    dataset, _ = real_load
    recipe_of = dataset.table.set_index("sample_id")["recipe_id"]
    assert recipe_of["PBLUE_1"] == "PBLUE1"
    assert recipe_of["PG_0.5"] == "PG0.5"
    assert recipe_of["OPTI6"] == "OPTI 6"


def test_real_repeated_OPTI15_readings_are_both_kept(real_load):
    dataset, report = real_load
    opti15 = dataset.table[(dataset.table["recipe_id"] == "OPTI 15") & (dataset.table[THICKNESS_COLUMN] == 8.0)]
    assert opti15["sample_id"].tolist() == ["OPTI15 (row 55)", "OPTI15 (row 64)"]
    assert {(e.measured_name, e.row) for e in report.duplicates} >= {("OPTI15", 55), ("OPTI15", 64)}
    Lab = colorimetry.reflectance_to_Lab(opti15[BAND_COLUMNS].to_numpy(float))
    assert colorimetry.delta_E00(Lab[0], Lab[1]) == pytest.approx(0.75, abs=0.1)


def test_real_PG1_in_the_12um_block_is_suspect_but_kept_as_named(real_load):
    dataset, report = real_load
    assert [(e.measured_name, e.row, e.thickness_um) for e in report.suspect] == [("PG1", 38, 8.0)]
    assert "12 µm" in report.suspect[0].reason
    assert dataset.table.set_index("sample_id").loc["PG1", THICKNESS_COLUMN] == 8.0


def test_real_recipe_table_is_found_by_content(real_load):
    _, report = real_load
    assert any("Recipe table: Concentrations.csv" in note for note in report.notes)
    # The fluorescence table is told apart by its header, so it is not offered as a recipe table.
    assert not any("Fluorescence.csv" in note for note in report.notes)
    assert report.fluorescence is not None and report.fluorescence.source == "Fluorescence.csv"
    assert "PG1 (row 38)" in report.summary()


def test_real_bands_are_read_in_wavelength_order(real_tables):
    measurements, _, _ = real_tables
    Lab = colorimetry.reflectance_to_Lab(measurements[BAND_COLUMNS].to_numpy(float))
    instrument = measurements[["L_instrument", "a_instrument", "b_instrument"]].to_numpy(float)
    assert colorimetry.delta_E00(Lab, instrument).mean() < 0.01


def test_real_suggestions_are_left_out_unless_accepted(real_tables):
    measurements, recipes, colorants = real_tables
    dataset, report = match_measurements(measurements, recipes, colorants)
    assert len(dataset) == 78
    assert {e.measured_name for e in report.suggested} == {"BiVaO5H", "BiVaO5", "52C", "52E", "52F"}
    assert len(report.to_frame()) == 83  # listed, not dropped

    dataset, report = match_measurements(measurements, recipes, colorants, accept={"52c"})
    assert len(dataset) == 79
    assert [e.measured_name for e in report.accepted] == ["52C"]
    assert dataset.table.set_index("sample_id").loc["52C", "recipe_id"] == "F052C"


def test_real_thickness_rule_can_be_overridden(real_data_dir):
    dataset, _ = load_dataset(real_data_dir, thickness_rule=ThicknessRule({"H": 15.0}, default_um=10.0))
    assert dataset.table[THICKNESS_COLUMN].value_counts().to_dict() == {10.0: 42, 15.0: 41}


# --------------------------------------------------------------------------------------
# Matching rules on small files
# --------------------------------------------------------------------------------------


def small_match(names, recipe_ids, **options):
    measurements = read_instrument_export(export_text([(name, FLAT) for name in names]).encode(), name="export.csv")
    recipe_rows = "".join(f"{recipe_id},1%\n" for recipe_id in recipe_ids)
    recipes, colorants = read_recipe_table(f"id,GXT (%)\n{recipe_rows}".encode(), name="recipes.csv")
    return match_measurements(measurements, recipes, colorants, **options)


def test_custom_thickness_suffixes_are_applied_longest_first():
    rule = ThicknessRule({"-thick": 20.0, "k": 99.0}, default_um=10.0)
    dataset, report = small_match(["A1-thick", "A1"], ["A1"], thickness_rule=rule)
    assert dataset.table[THICKNESS_COLUMN].tolist() == [20.0, 10.0]
    assert len(report.matched) == 2


def test_thickness_rule_refuses_nonsense():
    with pytest.raises(ValueError, match="thickness"):
        ThicknessRule({"H": 0.0})


def test_lowercase_h_is_not_a_thickness_suffix():
    dataset, _ = small_match(["Peach"], ["Peach"])
    assert dataset.table[THICKNESS_COLUMN].tolist() == [8.0]


def test_a_suggestion_enters_the_dataset_only_when_accepted():
    dataset, report = small_match(["BiVaO5", "A1"], ["BiVa05", "A1"])
    assert dataset.sample_ids.tolist() == ["A1"]
    assert [(e.measured_name, e.recipe_id, e.status) for e in report.suggested] == [("BiVaO5", "BiVa05", "suggested")]
    assert report.to_frame()["status"].tolist() == ["suggested", "matched"]

    dataset, report = small_match(["BiVaO5", "A1"], ["BiVa05", "A1"], accept_suggestions=True)
    assert dataset.table["recipe_id"].tolist() == ["BiVa05", "A1"]
    assert report.to_frame()["status"].tolist() == ["accepted suggestion", "matched"]


def test_unmatched_rows_are_listed_with_a_reason():
    dataset, report = small_match(["A1", "ZZ9"], ["A1"])
    assert dataset.sample_ids.tolist() == ["A1"]
    assert [(e.measured_name, e.row, e.status) for e in report.unmatched] == [("ZZ9", 6, "unmatched")]
    assert "no recipe named 'ZZ9'" in report.unmatched[0].reason


def test_an_ambiguous_near_miss_is_not_suggested():
    _, report = small_match(["XO1"], ["X01", "XOl"])  # both look like XO1
    assert report.suggested == []
    assert "X01" in report.unmatched[0].reason and "XOl" in report.unmatched[0].reason


def test_a_name_that_is_itself_a_recipe_id_with_the_suffix_is_suspect():
    dataset, report = small_match(["PEACH"], ["PEAC", "PEACH"])
    assert dataset.table[["recipe_id", THICKNESS_COLUMN]].values.tolist() == [["PEAC", 12.0]]
    assert "whole name is also the recipe 'PEACH'" in report.suspect[0].reason


def test_block_of_other_thickness_flags_only_rows_that_would_fill_a_gap():
    names = ["A1H", "B2H", "C3", "D4H", "E5H", "A1", "B2", "F6H", "D4", "E5"]
    _, report = small_match(names, ["A1", "B2", "C3", "D4", "E5", "F6"])
    # C3 has no 12 µm reading; F6H sits among 8 µm rows but F6 has no 8 µm reading either.
    assert {e.measured_name for e in report.suspect} == {"C3", "F6H"}


# --------------------------------------------------------------------------------------
# Reading well-formed variants
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "make_source",
    [
        pytest.param(lambda path: path, id="path"),
        pytest.param(lambda path: str(path), id="str path"),
        pytest.param(lambda path: path.read_bytes(), id="bytes"),
        pytest.param(lambda path: io.BytesIO(path.read_bytes()), id="BytesIO"),
        pytest.param(lambda path: io.StringIO(path.read_text(encoding="utf-8-sig")), id="text buffer"),
    ],
)
def test_export_reads_from_paths_bytes_and_buffers(tmp_path, make_source):
    path = tmp_path / "Spectra.csv"
    path.write_bytes(b"\xef\xbb\xbf" + export_text([("OPTI7H", FLAT), (" OPTI7 ", FLAT)]).encode())
    frame = read_instrument_export(make_source(path), name="Spectra.csv")
    assert frame["name"].tolist() == ["OPTI7H", "OPTI7"]
    assert frame["row"].tolist() == [5, 6]
    assert frame[["L_instrument", "a_instrument", "b_instrument"]].iloc[0].tolist() == [50.0, 1.0, 2.0]
    np.testing.assert_array_equal(frame[BAND_COLUMNS].to_numpy(), 0.5)
    assert frame.attrs["source"] == "Spectra.csv"


def test_export_without_preamble_in_commas_with_extra_bands():
    headers = ["R380 nm", *BAND_HEADERS, "R710 nm"]
    spectrum = [9.0, *np.linspace(0.1, 0.9, 31), 9.0]
    text = ",".join(["User Color Name", *headers]) + "\n" + ",".join(["A1", *map(str, spectrum)]) + "\n"
    frame = read_instrument_export(text.encode(), name="export.csv")
    np.testing.assert_allclose(frame[BAND_COLUMNS].to_numpy()[0], np.linspace(0.1, 0.9, 31))
    assert frame["row"].tolist() == [2]


def test_recipe_table_units_separators_and_decimal_commas():
    text = "sep=;\nRecette;A [%];B wt%;C %;D (%);E\nr1;1,5%;2;0%;0;0,25\nr2;0;0;3,75%;10%;0\n"
    recipes, colorants = read_recipe_table(text.encode("utf-8-sig"), name="r.csv")
    assert colorants == ["A", "B", "C", "D", "E"]
    assert recipes["recipe_id"].tolist() == ["r1", "r2"]
    assert recipes.loc[0, colorants].tolist() == [1.5, 2.0, 0.0, 0.0, 0.25]
    assert recipes.loc[1, "C"] == 3.75


def test_tidy_csv_round_trip(tmp_path):
    dataset, _ = small_match(["A1", "A1H", "A1", "B2"], ["A1", "B2"])
    path = tmp_path / "tidy.csv"
    dataset.to_tidy_csv(path)
    again = read_tidy_csv(path)
    columns = ["sample_id", "recipe_id", *dataset.colorants, THICKNESS_COLUMN, *BAND_COLUMNS]
    pd.testing.assert_frame_equal(again.table[columns], dataset.table[columns])
    assert again.colorants == dataset.colorants
    assert again.fingerprint() == dataset.fingerprint()
    assert set(again.table["source"]) == {"tidy.csv"}


def test_load_dataset_reads_a_tidy_file_without_a_report(tmp_path):
    path = tmp_path / "tidy.csv"
    path.write_text(tidy_text([TIDY_A1, TIDY_B2]), encoding="utf-8")
    dataset, report = load_dataset(path)
    assert report is None
    assert dataset.sample_ids.tolist() == ["A1-8", "B2-8"]
    assert dataset.colorants == ("GXT-10", "PG")


def test_load_dataset_refuses_two_equally_good_recipe_tables(tmp_path):
    (tmp_path / "export.csv").write_text(export_text([("A1", FLAT)]), encoding="utf-8")
    (tmp_path / "one.csv").write_text(RECIPES, encoding="utf-8")
    (tmp_path / "two.csv").write_text(RECIPES, encoding="utf-8")
    with pytest.raises(IngestError, match="could both be the recipe table"):
        load_dataset(tmp_path)


def test_load_dataset_refuses_an_export_alone(tmp_path):
    path = tmp_path / "Spectra.csv"
    path.write_text(export_text([("A1", FLAT)]), encoding="utf-8")
    with pytest.raises(IngestError, match="needs a recipe table"):
        load_dataset(path)


def test_prediction_keeps_good_rows_and_reports_bad_ones():
    text = (
        "name;gxt-10 (%);Thickness (µm);PG\n"
        "first;5%;8;0,5\n"
        "second;abc;8;0\n"
        "third;10;12;1%\n"
        "fourth;10;0;1\n"
    )
    recipes, problems = read_recipes_for_prediction(text.encode(), PREDICTION_COLORANTS, name="recipes.csv")
    assert recipes.columns.tolist() == ["name", "GXT-10", "PG", THICKNESS_COLUMN]
    assert recipes.values.tolist() == [["first", 5.0, 0.5, 8.0], ["third", 10.0, 1.0, 12.0]]
    assert [(p.row, p.column) for p in problems] == [(3, "gxt-10 (%)"), (5, "Thickness (µm)")]
    assert all(p.file == "recipes.csv" and "expected" in p.message for p in problems)


def test_prediction_warns_about_an_unknown_numeric_column():
    text = "GXT-10,PG,TiO2,thickness_um\n5,0,3,8\n"
    with pytest.warns(UserWarning, match="TiO2"):
        recipes, problems = read_recipes_for_prediction(text.encode(), PREDICTION_COLORANTS)
    assert recipes.columns.tolist() == ["TiO2", "GXT-10", "PG", THICKNESS_COLUMN] and problems == []


def test_a_recipe_table_without_thickness_is_told_what_to_add_and_where_such_a_table_goes():
    # The lab's Concentrations.csv (thickness in the sample names) uploaded to Batch (review, 2026-12-07).
    with pytest.raises(IngestError) as caught:
        read_recipes_for_prediction(b"Name,GXT-10,PG\nA,1,2\n", PREDICTION_COLORANTS, name="Concentrations.csv")
    message = str(caught.value)
    assert "column 'thickness_um': missing column" in message and "e.g. 8 or 12 µm" in message and "Retrain page" in message


def test_a_folders_recipe_table_with_bad_rows_is_named_with_every_problem(repo_root, tmp_path):
    # Review: a bad row made the loader say "no recipe table found" and show only the first problem.
    import shutil

    from model import load_dataset

    folder = tmp_path / "demo-with-bad-rows"
    shutil.copytree(repo_root / "data" / "demo", folder)
    with open(folder / "Concentrations.csv", "a", encoding="utf-8") as table:
        table.write("FY5,6%,x,0%,0%,0%\nZZ9,150%,0%,0%,0%,0%\n")
    with pytest.raises(IngestError) as caught:
        load_dataset(folder)
    message = str(caught.value)
    assert "no recipe table found" not in message
    assert "recipe id 'FY5' is the same id as row 2" in message
    assert "column 'BiVaYellow (%)': expected a number (weight percent, from 0 to 100), got 'x'" in message
    assert "column 'FluoYellow (%)': expected a weight percent from 0 to 100, got 150%" in message


def test_the_notes_reader_returns_the_note_and_warns_nothing():
    import warnings

    from model.io import read_recipes_for_prediction_with_notes

    text = "GXT-10,PG,TiO2,thickness_um\n5,0,3,8\n"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any warning fails the test
        recipes, problems, notes = read_recipes_for_prediction_with_notes(text.encode(), PREDICTION_COLORANTS, name="recipes.csv")
    assert problems == [] and len(recipes) == 1
    assert notes == [
        "recipes.csv: column 'TiO2' is not one of the model's colorants (GXT-10, PG); "
        "it is passed through unchanged and does not affect the prediction."
    ]


# --------------------------------------------------------------------------------------
# Malformed files: each is refused with the file, row, column and what was expected
# --------------------------------------------------------------------------------------


def export_case(case_id, content, row, column, phrase):
    return pytest.param(read_instrument_export, "Spectra.csv", content, row, column, phrase, id=f"export: {case_id}")


def recipe_case(case_id, content, row, column, phrase):
    return pytest.param(read_recipe_table, "Concentrations.csv", content, row, column, phrase, id=f"recipes: {case_id}")


def tidy_case(case_id, content, row, column, phrase):
    return pytest.param(read_tidy_csv, "measurements.csv", content, row, column, phrase, id=f"tidy: {case_id}")


def prediction_case(case_id, content, row, column, phrase, max_rows=None):
    def read(path):
        return read_recipes_for_prediction(path, PREDICTION_COLORANTS, max_rows=max_rows)

    return pytest.param(read, "recipes.csv", content, row, column, phrase, id=f"prediction: {case_id}")


MALFORMED = [
    export_case("text in a band", export_text([("A1", FLAT), ("B2", with_cell(FLAT, "R450 nm", "abc"))]), 6, "R450 nm", "expected a number (reflectance factor"),
    export_case("NaN", export_text([("A1", with_cell(FLAT, "R500 nm", "NaN"))]), 5, "R500 nm", "got 'NaN' (not a number)"),
    export_case("inf", export_text([("A1", with_cell(FLAT, "R600 nm", "inf"))]), 5, "R600 nm", "expected a finite number"),
    export_case("negative reflectance", export_text([("A1", with_cell(FLAT, "R410 nm", "-0.2"))]), 5, "R410 nm", "from 0 to 5"),
    export_case("reflectance in percent", export_text([("A1", [45.0] * 31)]), 5, "R400 nm", "divide the spectrum by 100"),
    export_case("30 bands", export_text([("A1", FLAT[:30])], band_headers=BAND_HEADERS[:30]), EXPORT_HEADER_ROW, None, "missing 1 of the 31 band columns (R700 nm)"),
    export_case("header only", export_text([]), None, None, "no measurements below it"),
    export_case("rows separated by commas", export_text([("A1", FLAT)], row_delimiter=","), 5, None, "expected one value per column, separated by ';'"),
    export_case("not an export", "Sample ID,GXT (%)\nA1,5%\n", None, None, "expected a spectrophotometer library export"),
    export_case("empty name", export_text([("", FLAT)]), 5, "User Color Name", "expected a sample name"),
    export_case("empty file", b"", None, None, "the file is empty; expected a spectrophotometer export"),
    export_case("PNG image", PNG_HEADER + bytes(range(256)), None, None, "binary data"),
    export_case("random bytes", random.Random(0).randbytes(2000), None, None, "binary data"),
    export_case("UTF-16", export_text([("A1", FLAT)]).encode("utf-16"), None, None, "UTF-16"),
    export_case("Excel workbook", b"PK\x03\x04" + bytes(200), None, None, "Excel workbook"),
    recipe_case("duplicated column", "Sample ID,GXT-10 (%),GXT-10\nA1,5%,5%\n", 1, "GXT-10", "duplicated column"),
    recipe_case("text in a number", "Sample ID,GXT-10 (%),PG (%)\nA1,5%,0%\nB2,five,0%\n", 3, "GXT-10 (%)", "got 'five'"),
    recipe_case("NaN", "Sample ID,GXT-10 (%),PG (%)\nA1,nan,0%\n", 2, "GXT-10 (%)", "(not a number)"),
    recipe_case("inf", "Sample ID,GXT-10 (%),PG (%)\nA1,5%,inf\n", 2, "PG (%)", "expected a finite number"),
    recipe_case("negative concentration", "Sample ID,GXT-10 (%),PG (%)\nA1,-2%,0%\n", 2, "GXT-10 (%)", "from 0 to 100, got -2%"),
    recipe_case("500 %", "Sample ID,GXT-10 (%),PG (%)\nA1,500%,0%\n", 2, "GXT-10 (%)", "from 0 to 100, got 500%"),
    recipe_case("total above 100 %", "Sample ID,GXT-10 (%),PG (%)\nA1,60%,50%\n", 2, None, "add up to 110 %; expected at most 100 %"),
    recipe_case("duplicated recipe id", "Sample ID,GXT-10 (%)\nA1,5%\nB2,1%\nA1,6%\n", 4, "Sample ID", "same id as row 2"),
    recipe_case("same id in other spelling", "Sample ID,GXT-10 (%)\nOPTI 6,5%\nOPTI6,6%\n", 3, "Sample ID", "as 'OPTI 6' on row 2"),
    recipe_case("empty id", "Sample ID,GXT-10 (%)\nA1,5%\n,6%\n", 3, "Sample ID", "expected a recipe id"),
    recipe_case("empty cell", "Sample ID,GXT-10 (%),PG (%)\nA1,5%,\n", 2, "PG (%)", "write 0 for a colorant"),
    recipe_case("missing cells", "Sample ID,GXT-10 (%),PG (%)\nA1,5%\n", 2, None, "has 2 values but the header has 3 columns"),
    recipe_case("decimal comma with commas", "Sample ID,GXT-10 (%),PG (%)\nA1,1,5%,0%\n", 2, None, "a decimal comma?"),
    recipe_case("tab separated", "Sample ID\tGXT-10 (%)\nA1\t5%\n", 1, None, "This file is tab-separated"),
    recipe_case("header only", "Sample ID,GXT-10 (%)\n", None, None, "no recipes below it"),
    recipe_case("Latin-1 text", "Sample ID,GXT-10 (%)\nA1,5%\nBé,1%\n".encode("latin-1"), 3, None, "not UTF-8 text"),
    tidy_case("missing thickness column", tidy_text([TIDY_A1], header=["sample_id", "recipe_id", "GXT-10", "PG", "thick", *BAND_COLUMNS]), 1, "thickness_um", "missing column"),
    tidy_case("zero thickness", tidy_text([["A1-8", "A1", 5, 0, 0, *FLAT]]), 2, "thickness_um", "above 0 and below 1000, got 0"),
    tidy_case("2 mm thickness", tidy_text([["A1-8", "A1", 5, 0, 2000, *FLAT]]), 2, "thickness_um", "above 0 and below 1000, got 2000"),
    tidy_case("inf in a band", tidy_text([["A1-8", "A1", 5, 0, 8, "-inf", *FLAT[1:]]]), 2, "R400", "expected a finite number"),
    tidy_case("R700 missing", tidy_text([TIDY_A1[:-1]], header=["sample_id", "recipe_id", "GXT-10", "PG", "thickness_um", *BAND_COLUMNS[:-1]]), 1, None, "(R700)"),
    tidy_case("duplicated sample id", tidy_text([TIDY_A1, TIDY_A1]), 3, "sample_id", "already used on row 2"),
    tidy_case("one recipe id, two recipes", tidy_text([TIDY_A1, ["A1-12", "A1", 6, 0, 12, *FLAT]]), 3, "GXT-10", "different concentrations here than on row 2 (GXT-10: 6 wt % here, 5 there)"),
    tidy_case("no colorant column", tidy_text([["s", "r", 8, *FLAT]], header=["sample_id", "recipe_id", "thickness_um", *BAND_COLUMNS]), 1, None, "no colorant column"),
    prediction_case("missing colorant", "GXT-10,thickness_um\n5,8\n", 1, "PG", "missing column; expected a column 'PG'"),
    prediction_case("misspelt thickness", "GXT-10,PG,thicknes_um\n5,0,8\n", 1, "thickness_um", "rename it to 'thickness_um'"),
    prediction_case("unknown colorant", "GXT-10,PG,TiO2 (%),thickness_um\n5,0,3,8\n", 1, "TiO2 (%)", "looks like a colorant"),
    prediction_case("duplicated colorant", "GXT-10,GXT-10 (%),PG,thickness_um\n5,5,0,8\n", 1, "GXT-10 (%)", "duplicated column"),
    prediction_case("too many rows", "GXT-10,PG,thickness_um\n5,0,8\n5,0,8\n5,0,8\n", None, None, "expected at most 2 in one file. Split it", max_rows=2),
    prediction_case("header only", "GXT-10,PG,thickness_um\n", None, None, "no recipes below it"),
]


@pytest.mark.parametrize("read, file, content, row, column, phrase", MALFORMED)
def test_malformed_file_is_refused_with_file_row_column_and_expectation(tmp_path, read, file, content, row, column, phrase):
    path = tmp_path / file
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a refused file must not also warn
        with pytest.raises(IngestError) as caught:
            read(path)
    error = caught.value
    matching = [p for p in error.problems if (p.file, p.row, p.column) == (file, row, column) and phrase in p.message]
    assert matching, f"no problem at {file}, row {row}, column {column!r} saying {phrase!r} in:\n{error}"
    assert all("expected" in problem.message for problem in error.problems)
    assert str(matching[0]) in str(error)


def test_problem_reads_like_a_location_and_a_message():
    problem = Problem("Spectra.csv", 7, "R450 nm", "expected a number, got 'abc'")
    assert str(problem) == "Spectra.csv, row 7, column 'R450 nm': expected a number, got 'abc'"
    assert str(Problem("Spectra.csv", None, None, "the file is empty")) == "Spectra.csv: the file is empty"


def test_many_problems_are_capped_and_counted():
    rows = [(f"S{i}", ["x"] * 31) for i in range(3)]  # 93 bad cells
    with pytest.raises(IngestError) as caught:
        read_instrument_export(export_text(rows).encode(), name="Spectra.csv")
    error = caught.value
    assert len(error.problems) == 50 and error.n_more == 43
    assert str(error).endswith("… and 43 more problems; fix those above first, then load the file again.")


def test_ingest_error_survives_pickling():
    error = IngestError([Problem("a.csv", 2, "x", "expected a number")], n_more=3)
    again = pickle.loads(pickle.dumps(error))
    assert (again.problems, again.n_more, str(again)) == (error.problems, error.n_more, str(error))


CSV_TOKENS = [*';,"\n\r%.-eE0123456789 abHnmR', "User Color Name", "R400 nm", "sep=;", "thickness_um", "GXT-10", "nan"]
CSV_LIKE_TEXT = st.lists(st.sampled_from(CSV_TOKENS), max_size=120).map("".join)
READERS = {
    "export": read_instrument_export,
    "recipes": read_recipe_table,
    "tidy": read_tidy_csv,
    "prediction": lambda source, name: read_recipes_for_prediction(source, PREDICTION_COLORANTS, name=name),
}


@pytest.mark.parametrize("reader", READERS.values(), ids=READERS.keys())
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(content=st.one_of(st.binary(max_size=300), CSV_LIKE_TEXT.map(str.encode)))
def test_no_exception_but_IngestError_escapes_a_reader(reader, content):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # unknown numeric columns warn; not the point here
        try:
            reader(content, name="fuzz.csv")
        except IngestError as error:
            assert error.problems and all(problem.file == "fuzz.csv" for problem in error.problems)


# ---- issue 21: near misses are looked up, not searched for --------------------------------------


def _truncation_reference(key: str, keys) -> list[str]:
    """The rule as first written: a scan of every key, one is the other with leading letters or zeros dropped."""
    import re

    def is_truncation(short, long):
        return len(long) > len(short) > 0 and long.endswith(short) and re.fullmatch(r"[a-z0]+", long[: -len(short)]) is not None

    return [k for k in keys if is_truncation(key, k) or is_truncation(k, key)]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.text(alphabet="abFo0l1s5C-_ é", min_size=1, max_size=6), min_size=1, max_size=12),
    st.text(alphabet="abFo0l1s5C-_ é", min_size=1, max_size=7),
)
def test_recipe_finder_offers_the_same_near_misses_as_a_scan_of_every_recipe(recipe_ids, measured):
    from model.io.matching import RecipeFinder, name_key

    finder = RecipeFinder(recipe_ids)
    recipe_id, status, reason = finder.find(measured)
    key = name_key(measured)
    if key in finder.ids_by_key or finder.ids_by_lookalike.get(key.translate(str.maketrans("olis", "0115"))):
        return  # decided before truncations are looked at
    expected = [r for k in _truncation_reference(key, list(finder.ids_by_key)) for r in finder.ids_by_key[k]]
    if len(expected) == 1:
        assert (recipe_id, status) == (expected[0], "suggested")
    elif expected:
        assert recipe_id is None and f"several are close ({', '.join(expected)})" in reason
    else:
        assert recipe_id is None and "or spelled alike" in reason


def test_a_colorant_column_empty_in_all_10000_rows_is_read_as_zero_with_one_warning_naming_it(tmp_path):
    """Issue 27: a lab's whole database with a colorant none of its recipes uses, left blank, is read
    (and then trains with the model's own warning), not refused with a message per row."""
    import warnings

    from model.io.cells import UnusedColorantWarning
    from model.io.recipes import parse_recipe_table
    from model.simulate.scale import scale_dataset

    data = scale_dataset(10_000, 5, seed=2)
    unused = data.colorants[2]
    table = data.table.copy()
    table[unused] = np.nan  # written as empty cells
    path = tmp_path / "database.csv"
    table.to_csv(path, index=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        read = read_tidy_csv(path)
    messages = [str(w.message) for w in caught if issubclass(w.category, UnusedColorantWarning)]
    assert len(messages) == 1 and f"'{unused}' is empty in all 10,000 rows" in messages[0] and "read as 0 wt %" in messages[0]
    assert len(read) == 10_000 and (read.table[unused] == 0.0).all()
    other = [c for c in data.colorants if c != unused]
    np.testing.assert_array_equal(read.table[other].to_numpy(), data.table[other].to_numpy())

    # The instrument's recipe table: the same.
    recipes = "Sample ID,GXT-10 (%),PG (%),PearlB (%)\n" + "".join(f"R{i},{i % 7}%,,1%\n" for i in range(10_000))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        parsed = parse_recipe_table(recipes, "Concentrations.csv")
    assert [str(w.message).split(":")[1].strip()[:20] for w in caught if issubclass(w.category, UnusedColorantWarning)] == ["column 'PG (%)' is e"]
    assert (parsed.frame["PG"] == 0.0).all() and parsed.frame["GXT-10"].iloc[3] == 3.0

    # Empty in some rows only: a missing value, still refused row by row.
    table.loc[5:, unused] = 1.0
    table.to_csv(path, index=False)
    with pytest.raises(IngestError) as refused:
        read_tidy_csv(path)
    assert len(refused.value.problems) == 5 and all(p.column == unused and "the cell is empty" in p.message for p in refused.value.problems)
