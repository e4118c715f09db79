"""The Batch page with real uploaded files (AppTest), and model.serving.batch behind it and the CLI."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from model import PREDICTION_COLUMNS, THICKNESS_COLUMN
from model.io import IngestError
from model.io.safe_csv import to_csv_bytes
from model.serving import batch
from tests._downloads import downloaded_table, record_downloads

APP_TIMEOUT_S = 60


@pytest.fixture
def batch_page(open_dashboard):
    return open_dashboard("batch.py", APP_TIMEOUT_S)


def upload(at, path):
    at.file_uploader(key="batch_upload").set_value((path.name, path.read_bytes(), "text/csv")).run()
    assert not at.exception, at.exception


def frames_with_column(at, column):
    """The shown tables that have ``column`` (AppTest does not expose a read-only table's key)."""
    return [frame.value for frame in at.dataframe if column in frame.value.columns]


def test_good_file_is_predicted_row_for_row(batch_page, shipped, tmp_path):
    model, _ = shipped
    colorants = list(model.colorants_)
    recipes = pd.DataFrame({c: [0.0, 0.0, 0.0] for c in colorants})
    recipes[colorants[0]] = [5.0, 0.0, 12.0]
    recipes[colorants[2]] = [0.0, 1.0, 0.5]
    recipes[THICKNESS_COLUMN] = [8.0, 12.0, 10.0]
    shown = recipes.copy()
    shown[colorants[0]] = [f"{v:g}%" for v in recipes[colorants[0]]]  # percent strings are accepted
    shown.insert(0, "sample", ["A", "B", "C"])
    source = tmp_path / "recipes.csv"
    shown.to_csv(source, sep=";", index=False)

    upload(batch_page, source)
    assert not batch_page.error
    assert any("All 3 rows" in s.value for s in batch_page.success)
    [table] = frames_with_column(batch_page, "swatch")
    assert table["sample"].tolist() == ["A", "B", "C"]
    assert table["swatch"].str.startswith("data:image/svg+xml").all()
    np.testing.assert_allclose(table[["L", "a", "b"]].to_numpy(dtype=float), model.predict(recipes).Lab, atol=1e-9)


def test_bad_rows_are_named_and_the_good_rows_still_predicted(batch_page, shipped, tmp_path):
    model, _ = shipped
    colorants = list(model.colorants_)
    header = ",".join(["name", *colorants, THICKNESS_COLUMN])
    zeros = ["0"] * (len(colorants) - 1)
    lines = [
        header,
        ",".join(["good-1", "4", *zeros, "8"]),
        ",".join(["bad-text", "lots", *zeros, "8"]),  # row 3: not a number
        ",".join(["good-2", "2%", *zeros, "12"]),
        ",".join(["bad-thickness", "1", *zeros, "-2"]),  # row 5: negative thickness
    ]
    source = tmp_path / "with-bad-rows.csv"
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")

    upload(batch_page, source)
    assert any("2 rows of with-bad-rows.csv were left out" in e.value for e in batch_page.error)
    [report] = frames_with_column(batch_page, "problem")
    assert report["row"].tolist() == [3, 5]
    assert report["column"].tolist() == [colorants[0], THICKNESS_COLUMN]
    assert "lots" in report["problem"].iloc[0]
    [predictions] = frames_with_column(batch_page, "swatch")
    assert predictions["name"].tolist() == ["good-1", "good-2"]


def test_unusable_file_shows_a_readable_list_not_a_traceback(batch_page, tmp_path):
    source = tmp_path / "not-recipes.csv"
    source.write_bytes(b"colour,amount\nred,\xff\xfe\n")
    upload(batch_page, source)
    assert any("cannot be used as it is" in e.value for e in batch_page.error)
    [report] = frames_with_column(batch_page, "problem")
    assert len(report) >= 1 and report["problem"].str.len().gt(0).all()
    assert not frames_with_column(batch_page, "swatch")


def test_table_is_the_cli_shape_and_progress_reaches_one(shipped):
    model, _ = shipped
    template = batch.template_frame(model)
    fractions = []
    result = batch.predict_csv(to_csv_bytes(template), model, name="template.csv", progress=lambda f, _m: fractions.append(f))
    assert list(result.table.columns) == ["name", *model.input_columns, *PREDICTION_COLUMNS]
    assert result.problems == [] and result.n_predicted == 2
    assert not result.table["out_of_range"].any()  # the template's examples are inside the trained range
    assert fractions[0] == 0.0 and fractions[-1] == 1.0 and fractions == sorted(fractions)


def test_row_cap_names_the_limit_and_what_to_do(shipped):
    model, _ = shipped
    rows = pd.concat([batch.template_frame(model)] * 3, ignore_index=True)
    with pytest.raises(IngestError, match="at most 5") as caught:
        batch.predict_csv(to_csv_bytes(rows), model, name="big.csv", max_rows=5)
    assert "Split it" in str(caught.value)
    assert batch.predict_csv(to_csv_bytes(rows), model, max_rows=None).n_predicted == 6


def test_each_batch_in_a_threaded_server_gets_its_own_notes_and_only_those(shipped):
    # The server reads uploads in several threads. Notes collected with warnings.catch_warnings
    # (process-wide state) could be lost or land in another request's result.
    from concurrent.futures import ThreadPoolExecutor

    model, _ = shipped
    rows = pd.concat([batch.template_frame(model)] * 500, ignore_index=True)  # long enough for the threads to overlap

    def read(index: int) -> tuple[int, list[str]]:
        extra = rows.assign(**{f"lot_{index}": 1.0})  # a column of numbers the model does not know
        return index, batch.predict_csv(to_csv_bytes(extra), model, name=f"file_{index}.csv").warnings

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(read, range(32)))
    for index, notes in results:
        assert len(notes) == 1 and notes[0].startswith(f"file_{index}.csv: column 'lot_{index}' is not one of the model's colorants"), notes


def test_large_batch_is_predicted_in_chunks_in_file_order(shipped, monkeypatch):
    model, _ = shipped
    monkeypatch.setattr(batch, "_CHUNK_ROWS", 4)
    rng = np.random.default_rng(3)
    recipes = pd.DataFrame({c: rng.uniform(0, model.training_range_.maximum[c], 10) for c in model.colorants_})
    recipes[THICKNESS_COLUMN] = rng.uniform(8, 12, len(recipes))
    messages = []
    result = batch.predict_csv(recipes.to_csv(index=False).encode(), model, progress=lambda _f, m: messages.append(m))
    assert sum("Predicting rows" in m for m in messages) == 3  # 10 rows in chunks of 4
    expected = model.predict(recipes).Lab
    np.testing.assert_allclose(result.table[["L", "a", "b"]].to_numpy(dtype=float), expected, atol=1e-6)


def test_result_key_changes_with_the_file_or_the_model():
    key = batch.result_key(b"PG,thickness_um\n1,8\n", "v1")
    assert key == batch.result_key(b"PG,thickness_um\n1,8\n", "v1")
    assert key != batch.result_key(b"PG,thickness_um\n1,9\n", "v1")
    assert key != batch.result_key(b"PG,thickness_um\n1,8\n", "v2")


def test_out_of_range_rows_are_counted_and_the_page_warns(batch_page, shipped, tmp_path):
    model, _ = shipped
    recipes = batch.template_frame(model)
    recipes.loc[0, model.colorants_[0]] = model.training_range_.maximum[model.colorants_[0]] + 5
    result = batch.predict_csv(to_csv_bytes(recipes), model)
    assert result.n_out_of_range == 1
    assert batch.BatchResult(result.table.head(0)).n_out_of_range == 0

    source = tmp_path / "one-outside.csv"
    recipes.to_csv(source, index=False)
    upload(batch_page, source)
    assert [w.value for w in batch_page.warning if "outside the training range" in w.value] == [
        "1 recipes lie outside the training range; their predictions are less reliable (the column “outside training: why” says why)."
    ]


def test_rows_with_a_band_too_wide_to_rely_on_are_counted_and_the_page_warns(batch_page, shipped, tmp_path):
    # Review: Predict says "do not rely on this prediction" above a ±3 ΔE00 band; Batch showed such rows without a word.
    model, _ = shipped
    recipes = batch.template_frame(model)
    recipes.loc[0, "QuinMagenta"] = 1.5 * model.training_range_.maximum["QuinMagenta"]  # the demo champion's band: about 3.4
    result = batch.predict_csv(to_csv_bytes(recipes), model)
    assert result.table["uncertainty_delta_e00"].iloc[0] > batch.UNTRUSTED_UNCERTAINTY and result.n_untrusted == 1
    source = tmp_path / "one-wide-band.csv"
    recipes.to_csv(source, index=False)
    upload(batch_page, source)
    [warning] = [w.value for w in batch_page.warning if "do not rely" in w.value]
    assert warning.startswith("1 recipes have an uncertainty band wider than ±3 ΔE00: do not rely on those predictions")


def test_the_table_has_the_fluorescence_column_filled_with_a_head_and_empty_without(glowing_install, open_dashboard, quick_model, tiny_dataset, tmp_path):
    model = glowing_install["model"]
    recipes = pd.DataFrame({"FluoYellow": [10.0, 0.0], "BiVaYellow": [2.0, 4.0], "PhthaloGreen": [0.5, 0.5], THICKNESS_COLUMN: [8.0, 12.0]})
    source = tmp_path / "glowing.csv"
    recipes.to_csv(source, index=False)
    at = open_dashboard("batch.py", APP_TIMEOUT_S)
    upload(at, source)
    [table] = frames_with_column(at, "swatch")
    np.testing.assert_allclose(table["fluorescence_cts"].to_numpy(dtype=float), model.predict(recipes).fluorescence_cts)
    assert table["fluorescence_cts"].iloc[1] == 0.0
    headless = clone(quick_model).fit(tiny_dataset)  # no readings in the tiny dataset: no head
    plain = pd.DataFrame({**{c: [1.0] for c in headless.colorants_}, THICKNESS_COLUMN: [10.0]})
    assert batch.predict_csv(to_csv_bytes(plain), headless).table["fluorescence_cts"].isna().all()
    assert "fluorescence_cts" in PREDICTION_COLUMNS


def _three_recipes(model, tmp_path):
    colorants = list(model.colorants_)
    recipes = pd.DataFrame({c: [0.0, 0.0, 0.0] for c in colorants})
    recipes[colorants[0]] = [5.123456, 0.0, 12.0]
    recipes[colorants[2]] = [0.0, 1.0, 0.5]
    recipes[THICKNESS_COLUMN] = [8.0, 12.0, 10.25]
    recipes.insert(0, "sample", ["A", "B", "C"])
    source = tmp_path / "recipes.csv"
    recipes.to_csv(source, index=False)
    return recipes, source


def test_the_results_show_colour_uncertainty_and_flags_first_and_the_spectrum_last(batch_page, shipped, tmp_path):
    model, _ = shipped
    _, source = _three_recipes(model, tmp_path)
    upload(batch_page, source)
    [table] = frames_with_column(batch_page, "swatch")
    columns = list(table.columns)
    # At 800 px a table shows its first few columns: the row's name and colour, how sure, and the flag,
    # not only the inputs (the band and the flag used to sit after 31 reflectance columns).
    assert columns[:7] == ["swatch", "sample", "L", "a", "b", "uncertainty_delta_e00", "out_of_range"]
    assert columns[7 : 7 + len(model.input_columns)] == list(model.input_columns)
    assert columns[-31:] == [f"R{wavelength}" for wavelength in range(400, 701, 10)]
    assert sorted(columns) == sorted(["swatch", "sample", *model.input_columns, *PREDICTION_COLUMNS])
    # Headers in words with units; the swatch is drawn as an image, not its data URI as text.
    [grid] = [frame for frame in batch_page.dataframe if "swatch" in frame.value.columns]
    config = json.loads(grid.proto.columns)
    assert config["swatch"]["type_config"]["type"] == "image"
    assert [config[column]["label"] for column in columns[2:7]] == ["L*", "a*", "b*", "± ΔE00", "outside training"]
    assert config[THICKNESS_COLUMN]["label"] == "film (µm)" and config[model.colorants_[0]]["label"] == f"{model.colorants_[0]} (wt %)"


def test_the_download_is_in_the_readers_order_at_the_precision_a_lab_reads(open_dashboard, shipped, tmp_path, monkeypatch):
    model, _ = shipped
    recipes, source = _three_recipes(model, tmp_path)
    files = record_downloads(monkeypatch)
    at = open_dashboard("batch.py", APP_TIMEOUT_S)
    upload(at, source)
    table = downloaded_table(files, "recipes-predictions.csv")
    assert list(table.columns[:6]) == ["sample", "L", "a", "b", "uncertainty_delta_e00", "out_of_range"]
    assert table[model.colorants_[0]].tolist() == ["5.123", "0.0", "12.0"] and table[THICKNESS_COLUMN].tolist() == ["8.0", "12.0", "10.2"]
    assert all(len(cell.partition(".")[2]) <= 2 for column in ["L", "a", "b", "C", "h", "delta_e00_paths"] for cell in table[column])
    assert all(len(cell.partition(".")[2]) <= 4 for band in ["R400", "R550", "R700"] for cell in table[band])
    expected = model.predict(recipes[list(model.input_columns)]).Lab
    np.testing.assert_allclose(table[["L", "a", "b"]].to_numpy(dtype=float), expected, atol=0.005)
    # The CLI's shape and precision are the programs': unchanged.
    full = batch.predict_csv(source.read_bytes(), model).table
    assert list(full.columns[:len(model.input_columns) + 2]) == ["sample", *model.input_columns, "L"]
    np.testing.assert_array_equal(full[["L", "a", "b"]].to_numpy(dtype=float), expected)
