"""Property tests (hypothesis): valid input never raises, round trips hold, colour maths is sane.

Ingestion: random valid recipe tables, tidy CSVs, instrument exports and batch files are
written as a person or an instrument would write them, read back, and must give the same
numbers. Colorimetry: random reflectance in [0, 1.5] (fluorescent films exceed 1).
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from model.core import colorimetry
from model.core.schema import BAND_COLUMNS, RECIPE_ID_COLUMN, SAMPLE_ID_COLUMN, THICKNESS_COLUMN, WAVELENGTHS_NM, Dataset
from model.io import read_instrument_export, read_recipe_table, read_recipes_for_prediction, read_tidy_csv
from model.registry.registry import ModelRegistry

FAST = settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
N_BANDS = len(WAVELENGTHS_NM)

# ---- strategies -------------------------------------------------------------------------

# Names as chemists write them: letters, digits and a few marks; never a unit, a band or a key column.
_NAME = st.from_regex(r"[A-Za-z][A-Za-z0-9 _.\-]{0,10}[A-Za-z0-9]", fullmatch=True)
_RESERVED = re.compile(r"^(sample_?id|recipe_?id|source|thickness.*|r\s*\d{3}.*|name|l|a|b)$", re.IGNORECASE)


def _key(name: str) -> str:
    return re.sub(r"[\s_\-]+", "", name).casefold()


def _unique(names, key=lambda n: re.sub(r"\s+", "", n).casefold()):
    seen, kept = set(), []
    for name in names:
        if key(name) not in seen and not _RESERVED.match(name.strip()):
            seen.add(key(name))
            kept.append(name.strip())
    return kept


colorant_names = st.lists(_NAME, min_size=1, max_size=5).map(_unique).filter(bool)
# Concentrations are written with repr(), so reading must give back the same float; at most
# 5 colorants × 20 wt % keeps every recipe at or below 100 %.
concentration = st.floats(0, 20, allow_nan=False, allow_infinity=False)
thickness = st.floats(0.5, 999, allow_nan=False, allow_infinity=False)
reflectance_value = st.floats(0, 1.5, allow_nan=False, allow_infinity=False)
spectrum = st.lists(reflectance_value, min_size=N_BANDS, max_size=N_BANDS)


@st.composite
def recipe_tables(draw):
    colorants = draw(colorant_names)
    # _unique also drops names reserved for columns ("a", "Name"): keep drawing until one id is left.
    ids = draw(st.lists(_NAME, min_size=1, max_size=8).map(lambda names: _unique(names, key=_key)).filter(bool))
    rows = [[recipe_id, *draw(st.lists(concentration, min_size=len(colorants), max_size=len(colorants)))] for recipe_id in ids]
    return colorants, rows


def _write(rows, delimiter=",", bom=False) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=delimiter, lineterminator="\n").writerows(rows)
    return (codecs.BOM_UTF8 if bom else b"") + buffer.getvalue().encode("utf-8")


# ---- ingestion round trips ----------------------------------------------------------------


@FAST
@given(table=recipe_tables(), delimiter=st.sampled_from([",", ";"]), bom=st.booleans(), percent=st.booleans(), unit=st.sampled_from(["", " (%)", " [%]", " wt%"]))
def test_recipe_table_round_trips(table, delimiter, bom, percent, unit):
    colorants, rows = table
    written = [[f"{v!r}%" if percent else repr(v) for v in row[1:]] for row in rows]
    content = _write([["Sample ID", *(c + unit for c in colorants)], *([row[0], *cells] for row, cells in zip(rows, written))], delimiter, bom)
    frame, read_colorants = read_recipe_table(content, name="recipes.csv")
    assert read_colorants == colorants
    assert frame[RECIPE_ID_COLUMN].tolist() == [row[0] for row in rows]
    np.testing.assert_array_equal(frame[colorants].to_numpy(), np.array([row[1:] for row in rows], dtype=float))


@st.composite
def datasets(draw):
    colorants, recipes = draw(recipe_tables())
    rows = []
    for recipe_id, *concentrations in recipes:
        for reading in range(draw(st.integers(1, 3))):
            rows.append(
                {
                    SAMPLE_ID_COLUMN: f"{recipe_id}#{reading}",
                    RECIPE_ID_COLUMN: recipe_id,
                    **dict(zip(colorants, concentrations)),
                    THICKNESS_COLUMN: draw(thickness),
                    **dict(zip(BAND_COLUMNS, draw(spectrum))),
                }
            )
    return Dataset(pd.DataFrame(rows), tuple(colorants), name="random")


@FAST
@given(dataset=datasets())
def test_tidy_csv_round_trips_to_the_same_numbers_and_fingerprint(tmp_path_factory, dataset):
    path = tmp_path_factory.mktemp("tidy") / "tidy.csv"
    dataset.to_tidy_csv(path)
    again = read_tidy_csv(path)
    assert again.colorants == dataset.colorants
    assert again.sample_ids.tolist() == dataset.sample_ids.tolist()
    # Dataset.to_tidy_csv writes each float's shortest exact form: equal bit for bit.
    np.testing.assert_array_equal(again.reflectance, dataset.reflectance)
    np.testing.assert_array_equal(again.recipes.to_numpy(), dataset.recipes.to_numpy())
    assert again.fingerprint() == dataset.fingerprint()


@FAST
@given(
    names=st.lists(st.from_regex(r"[A-Za-z0-9][A-Za-z0-9 _.\-;,\"]{0,12}", fullmatch=True), min_size=1, max_size=6),
    spectra=st.lists(spectrum, min_size=6, max_size=6),
    delimiter=st.sampled_from([";", ",", "\t"]),
    preamble=st.booleans(),
)
def test_instrument_export_round_trips(names, spectra, delimiter, preamble):
    names = [name for name in names if name.strip()] or ["A1"]
    header = ["Index", "User Color Name", "L", "a", "b", *(f"R{int(w)} nm" for w in WAVELENGTHS_NM)]
    rows = [[i, name, 50.0, -1.5, 2.5, *map(repr, spectra[i])] for i, name in enumerate(names)]
    lines = [["sep=;"], ["Library", "fuzz"]] if preamble else []
    content = _write([*lines, header, *rows], delimiter)
    frame = read_instrument_export(content, name="Spectra.csv")
    assert frame["name"].tolist() == [name.strip() for name in names]
    np.testing.assert_array_equal(frame[BAND_COLUMNS].to_numpy(), np.array(spectra[: len(names)], dtype=float))
    np.testing.assert_array_equal(frame[["L_instrument", "a_instrument", "b_instrument"]].to_numpy()[0], [50.0, -1.5, 2.5])
    assert frame["row"].tolist() == [len(lines) + 2 + i for i in range(len(names))]


@FAST
@given(table=recipe_tables(), thicknesses=st.lists(thickness, min_size=8, max_size=8), delimiter=st.sampled_from([",", ";"]), shuffle=st.randoms())
def test_batch_file_round_trips_in_any_column_order(table, thicknesses, delimiter, shuffle):
    colorants, rows = table
    header = ["name", *colorants, THICKNESS_COLUMN]
    body = [[row[0], *map(repr, row[1:]), repr(t)] for row, t in zip(rows, thicknesses)]
    order = list(range(len(header)))
    shuffle.shuffle(order)
    content = _write([[header[i] for i in order], *([line[i] for i in order] for line in body)], delimiter)
    recipes, problems = read_recipes_for_prediction(content, colorants, name="batch.csv", max_rows=1000)
    assert problems == []
    assert recipes.columns.tolist() == ["name", *colorants, THICKNESS_COLUMN]
    assert recipes["name"].tolist() == [row[0] for row in rows]
    expected = np.array([[*row[1:], t] for row, t in zip(rows, thicknesses)], dtype=float)
    np.testing.assert_array_equal(recipes[[*colorants, THICKNESS_COLUMN]].to_numpy(), expected)


# ---- colorimetry ----------------------------------------------------------------------------

spectra_batches = st.integers(1, 12).flatmap(lambda n: st.lists(spectrum, min_size=n, max_size=n)).map(np.array)


@FAST
@given(reflectance=spectra_batches)
def test_Lab_of_any_reflectance_is_finite_and_batch_equals_per_row(reflectance):
    Lab = colorimetry.reflectance_to_Lab(reflectance)
    assert Lab.shape == (len(reflectance), 3) and np.isfinite(Lab).all()
    assert (Lab[:, 0] >= 0).all()
    per_row = np.array([colorimetry.reflectance_to_Lab(row) for row in reflectance])
    np.testing.assert_allclose(Lab, per_row, rtol=0, atol=1e-9)
    LCh = colorimetry.reflectance_to_LCh(reflectance)
    assert ((LCh[:, 2] >= 0) & (LCh[:, 2] <= 360)).all() and (LCh[:, 1] >= 0).all()


@FAST
@given(first=spectra_batches, second=spectra_batches)
def test_delta_E00_is_a_sane_distance(first, second):
    n = min(len(first), len(second))
    Lab_1, Lab_2 = colorimetry.reflectance_to_Lab(first[:n]), colorimetry.reflectance_to_Lab(second[:n])
    np.testing.assert_allclose(colorimetry.delta_E00(Lab_1, Lab_1), 0.0, atol=1e-9)
    forward, backward = colorimetry.delta_E00(Lab_1, Lab_2), colorimetry.delta_E00(Lab_2, Lab_1)
    assert np.isfinite(forward).all() and (forward >= 0).all()
    np.testing.assert_allclose(forward, backward, rtol=1e-9, atol=1e-9)


@FAST
@given(reflectance=spectra_batches)
def test_sRGB_swatch_is_displayable(reflectance):
    sRGB, out_of_gamut = colorimetry.Lab_to_sRGB(colorimetry.reflectance_to_Lab(reflectance))
    assert sRGB.shape == (len(reflectance), 3) and out_of_gamut.shape == (len(reflectance),)
    assert ((sRGB >= 0) & (sRGB <= 1)).all()
    hexes = colorimetry.sRGB_to_hex(sRGB)
    assert all(re.fullmatch(r"#[0-9a-f]{6}", code) for code in hexes)
    np.testing.assert_allclose(np.array([colorimetry.hex_to_sRGB(code) for code in hexes]), sRGB, atol=0.5 / 255 + 1e-12)


@FAST
@given(reflectance=spectrum, scale=st.floats(0.1, 1.0))
def test_darker_film_has_lower_lightness(reflectance, scale):
    # Reflectance scaled down everywhere reflects less light: L* cannot rise.
    reflectance = np.array(reflectance)
    L_full = colorimetry.reflectance_to_Lab(reflectance)[0]
    L_scaled = colorimetry.reflectance_to_Lab(reflectance * scale)[0]
    assert L_scaled <= L_full + 1e-9


# ---- the model: a batch prediction equals row-by-row predictions ----------------------------


@pytest.fixture(scope="module")
def champion():
    model, _ = ModelRegistry(Path(__file__).resolve().parents[1] / "trained_models").load_champion()
    return model


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_batch_prediction_equals_per_row_prediction(champion, data):
    colorants = list(champion.colorants_)
    n = data.draw(st.integers(2, 6))
    rows = [
        {**{c: data.draw(st.floats(0, 15)) for c in colorants}, THICKNESS_COLUMN: data.draw(st.floats(4, 20))}
        for _ in range(n)
    ]
    recipes = pd.DataFrame(rows, columns=champion.input_columns)
    together = champion.predict(recipes).to_frame()
    one_by_one = pd.concat([champion.predict(recipes.iloc[[i]]).to_frame() for i in range(n)], ignore_index=True)
    numeric = [c for c in together.columns if pd.api.types.is_float_dtype(together[c])]
    np.testing.assert_allclose(together[numeric].to_numpy(), one_by_one[numeric].to_numpy(), rtol=1e-9, atol=1e-9)
    assert together["hex"].tolist() == one_by_one["hex"].tolist()
    assert np.isfinite(together[["L", "a", "b"]].to_numpy()).all()
