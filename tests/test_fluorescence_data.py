"""Fluorescence readings in (issue 13, part A): reading, matching, storing and simulating them.

A fluorescence table (``Sample ID,Fluorescence [ct/s]``) is matched to the measured films
with the export's own name rules, and becomes the optional ``fluorescence_cts`` column
(ct/s, NaN for a film without a reading) of a Dataset, from a folder, a tidy CSV, an
upload and the store. The simulator writes such a table for the demo.
"""

from __future__ import annotations

import io
import shutil
import sqlite3

import numpy as np
import pandas as pd
import pytest

from model.auth.access import LOCAL_ADMIN
from model.core import settings
from model.core.schema import FLUORESCENCE_COLUMN, RECIPE_ID_COLUMN, SAMPLE_ID_COLUMN, THICKNESS_COLUMN, Dataset
from model.io import IngestError, load_dataset, read_fluorescence_table, read_tidy_csv, read_upload
from model.io.fluorescence import is_fluorescence_table
from model.simulate import DEMO_COLORANTS, demo_measurement_plan, write_demo
from model.simulate.film import measure_fluorescence, simulate_dataset, simulate_fluorescence_cts
from model.store.measurements import MeasurementStore
from model.store.schema import SCHEMA

COLORANT_NAMES = [c.name for c in DEMO_COLORANTS]


def _reading(dataset: Dataset, sample_id: str) -> float:
    [value] = dataset.table.loc[dataset.table[SAMPLE_ID_COLUMN] == sample_id, FLUORESCENCE_COLUMN]
    return float(value)


@pytest.fixture(scope="module")
def real(real_data_dir):
    return load_dataset(real_data_dir)


@pytest.fixture(scope="module")
def demo():
    return load_dataset(settings.demo_data_dir())


# ---- the real pp-inks table ---------------------------------------------------------------


def test_real_fluorescence_table_every_row_used_or_reported(real, real_data_dir):
    _, report = real
    fluorescence = report.fluorescence
    n_rows = len(pd.read_csv(real_data_dir / "Fluorescence.csv"))
    assert n_rows == 71
    # Every reading is accounted for, once.
    rows = sorted(e.row for e in fluorescence.used + fluorescence.left_out)
    assert rows == list(range(2, n_rows + 2))
    # OPTI2, OPTI3 and OPTI5 were read at 8 µm but only their 12 µm films were measured.
    assert sorted(e.measured_name for e in fluorescence.left_out) == ["OPTI2", "OPTI3", "OPTI5"]
    assert all("no measured film" in e.reason for e in fluorescence.left_out)
    assert "Fluorescence readings (Fluorescence.csv): 71 rows; 68 used" in report.summary()


def test_real_films_without_a_reading_are_kept_for_colour(real):
    dataset, report = real
    assert len(dataset) == 83  # every measured row, with or without a reading
    has_reading = dataset.table[FLUORESCENCE_COLUMN].notna()
    assert has_reading.sum() == report.fluorescence.n_rows_with_reading == 70
    without = set(dataset.table.loc[~has_reading, SAMPLE_ID_COLUMN])
    assert without == set(report.fluorescence.rows_without_reading)
    # The 12 µm films of the non-fluorescent ladders were not read.
    assert {"PG2H", "PBLUE8H", "BiVaO5H"} <= without
    assert not any(name.startswith(("GXT", "OPTI", "T2", "F052")) for name in without)


def test_real_readings_follow_the_export_name_rules(real, real_data_dir):
    """The table spells names as the recipe table does; the export differs (52C, BiVaO5, F052C H, PG_1)."""
    dataset, _ = real
    table = pd.read_csv(real_data_dir / "Fluorescence.csv").set_index("Sample ID")["Fluorescence [ct/s]"]
    assert _reading(dataset, "52C") == table["F052C"] == 3730
    assert _reading(dataset, "F052C H") == table["F052CH"] == 4120
    assert _reading(dataset, "BiVaO5") == table["BiVa05"] == 0
    assert _reading(dataset, "PG_1") == _reading(dataset, "PG1") == table["PG1"]
    # A film measured twice has one reading, given to both rows.
    assert _reading(dataset, "OPTI15 (row 55)") == _reading(dataset, "OPTI15 (row 64)") == table["OPTI15"]
    # No GXT-10, no fluorescence; every GXT-10 film with a reading fluoresces.
    with_reading = dataset.table.dropna(subset=[FLUORESCENCE_COLUMN])
    assert (with_reading.loc[with_reading["GXT-10"] == 0, FLUORESCENCE_COLUMN] == 0).all()
    assert (with_reading.loc[with_reading["GXT-10"] > 0, FLUORESCENCE_COLUMN].between(1000, 9200)).all()


def test_the_table_is_told_apart_by_its_header_not_its_name(real_data_dir, tmp_path):
    for name in ("Spectra.csv", "Concentrations.csv"):
        shutil.copy(real_data_dir / name, tmp_path / name)
    shutil.copy(real_data_dir / "Fluorescence.csv", tmp_path / "intensities-2025.csv")
    dataset, report = load_dataset(tmp_path)
    assert report.fluorescence.source == "intensities-2025.csv"
    assert dataset.table[FLUORESCENCE_COLUMN].notna().sum() == 70
    assert not is_fluorescence_table((real_data_dir / "Concentrations.csv").read_text(encoding="utf-8"), "Concentrations.csv")
    # A colorant in percent whose name says fluorescent is a colorant, not a reading.
    assert not is_fluorescence_table("Sample ID,Fluorescent yellow (%)\nA,5%\n", "recipes.csv")


# ---- the demo -------------------------------------------------------------------------------


def test_demo_folder_loads_with_readings(demo):
    dataset, report = demo
    assert len(dataset) == len(demo_measurement_plan())
    assert report.fluorescence.left_out == []
    readings = dataset.table[FLUORESCENCE_COLUMN]
    # The 12 µm films of the PG and BLUE ladders have no reading and stay in for colour.
    without = set(dataset.table.loc[readings.isna(), SAMPLE_ID_COLUMN])
    assert without == {f"PG{level}H" for level in ("0.5", "0.75", "1", "1.5", "2")} | {f"BLUE{level}H" for level in (1, 2, 3, 5, 8)}
    measured = dataset.table[readings.notna()]
    assert (measured.loc[measured["FluoYellow"] == 0, FLUORESCENCE_COLUMN] == 0).all()
    assert measured.loc[measured["FluoYellow"] > 0, FLUORESCENCE_COLUMN].between(1000, 9500).all()
    # "MIX7" in the fluorescence table, "MIX 7" in the recipe table, "MIX7" in the export.
    assert _reading(dataset, "MIX7H") > 0


# ---- malformed input --------------------------------------------------------------------------


def test_a_malformed_fluorescence_file_in_a_folder_names_row_and_column(tmp_path):
    demo = settings.demo_data_dir()
    for name in ("Spectra.csv", "Concentrations.csv"):
        shutil.copy(demo / name, tmp_path / name)
    (tmp_path / "Fluorescence.csv").write_text("Sample ID,Fluorescence [ct/s]\nFY5,1930\nFY5H,-20\nFY10,lots\n", encoding="utf-8")
    with pytest.raises(IngestError) as caught:
        load_dataset(tmp_path)
    problems = [(p.file, p.row, p.column) for p in caught.value.problems]
    assert problems == [("Fluorescence.csv", 3, "Fluorescence [ct/s]"), ("Fluorescence.csv", 4, "Fluorescence [ct/s]")]
    assert "a fluorescence intensity in ct/s of 0 or more, got -20" in str(caught.value)


def test_two_fluorescence_tables_in_a_folder_are_refused(tmp_path):
    demo = settings.demo_data_dir()
    for name in ("Spectra.csv", "Concentrations.csv", "Fluorescence.csv"):
        shutil.copy(demo / name, tmp_path / name)
    shutil.copy(demo / "Fluorescence.csv", tmp_path / "again.csv")
    with pytest.raises(IngestError, match="at most one fluorescence table"):
        load_dataset(tmp_path)


def test_readings_of_one_film_that_disagree_are_both_left_out():
    demo = settings.demo_data_dir()
    # FYS is a look-alike of FY5 (S for 5): accepted, it names the same film as FY5.
    fluorescence = b"Sample ID,Fluorescence [ct/s]\nFY5,1930\nFYS,2500\nFY10,3620\n"
    files = [(name, (demo / name).read_bytes()) for name in ("Spectra.csv", "Concentrations.csv")]
    prepared = read_upload([*files, ("Fluorescence.csv", fluorescence)], accept=["FYS"])
    report = prepared.report.fluorescence
    assert [e.row for e in report.left_out] == [2, 3] and "disagree" in report.left_out[0].reason
    assert np.isnan(_reading(prepared.dataset, "FY5")) and _reading(prepared.dataset, "FY10") == 3620


def test_a_tidy_fluorescence_column_round_trips_and_bad_cells_name_row_and_column(demo):
    dataset, _ = demo
    buffer = io.BytesIO()
    dataset.to_tidy_csv(buffer)
    again = read_tidy_csv(buffer.getvalue(), name="tidy.csv")
    np.testing.assert_array_equal(again.table[FLUORESCENCE_COLUMN], dataset.table[FLUORESCENCE_COLUMN])  # NaN stays NaN
    assert again.fingerprint() == dataset.fingerprint()

    lines = buffer.getvalue().decode().splitlines()
    lines[2] = lines[2].rsplit(",", 1)[0] + ",-1"
    with pytest.raises(IngestError) as caught:
        read_tidy_csv("\n".join(lines).encode(), name="tidy.csv")
    [problem] = caught.value.problems
    assert (problem.row, problem.column) == (3, FLUORESCENCE_COLUMN)
    assert "ct/s of 0 or more, got -1" in problem.message


def test_an_empty_tidy_column_is_no_column_and_leaves_the_fingerprint_alone(tiny_dataset):
    buffer = io.BytesIO()
    tiny_dataset.to_tidy_csv(buffer)
    plain = read_tidy_csv(buffer.getvalue(), name="t.csv")
    lines = buffer.getvalue().decode().splitlines()
    with_empty = [lines[0] + f",{FLUORESCENCE_COLUMN}", *(line + "," for line in lines[1:])]
    empty = read_tidy_csv("\n".join(with_empty).encode(), name="t.csv")
    assert FLUORESCENCE_COLUMN not in empty.table.columns
    assert empty.fingerprint() == plain.fingerprint() == tiny_dataset.fingerprint()
    # A column of NaN is the same data as no column; a reading is different data.
    nan_column = Dataset(tiny_dataset.table.assign(**{FLUORESCENCE_COLUMN: np.nan}), tiny_dataset.colorants)
    assert nan_column.fingerprint() == tiny_dataset.fingerprint()
    one_reading = nan_column.table.copy()
    one_reading.loc[0, FLUORESCENCE_COLUMN] = 0.0
    assert Dataset(one_reading, tiny_dataset.colorants).fingerprint() != tiny_dataset.fingerprint()


# ---- the store ------------------------------------------------------------------------------


def test_the_store_round_trips_readings_and_nan_stays_nan(demo, tmp_path):
    dataset, _ = demo
    store = MeasurementStore(tmp_path / "m.sqlite3", seed=False)
    store.add(read_upload(_demo_files()), user=LOCAL_ADMIN)
    back = store.to_dataset()
    assert back.table[SAMPLE_ID_COLUMN].tolist() == dataset.table[SAMPLE_ID_COLUMN].tolist()
    np.testing.assert_array_equal(back.table[FLUORESCENCE_COLUMN], dataset.table[FLUORESCENCE_COLUMN])
    assert back.table[FLUORESCENCE_COLUMN].isna().sum() == 10
    assert back.fingerprint() == dataset.fingerprint()
    assert store.versions()["dataset_fingerprint"].tolist() == [dataset.fingerprint()]
    listing = store.measurements()
    assert listing[FLUORESCENCE_COLUMN].notna().sum() == 95


def test_data_without_readings_keeps_its_store_version(tiny_dataset, tmp_path):
    """Readings join a measurement's hash only when there is one: old versions stay valid."""
    from model.io.upload import PreparedUpload

    plain = PreparedUpload(tiny_dataset, None, ("t.csv",), "h")
    with_nan = PreparedUpload(Dataset(tiny_dataset.table.assign(**{FLUORESCENCE_COLUMN: np.nan}), tiny_dataset.colorants), None, ("t.csv",), "h")
    first, second = MeasurementStore(tmp_path / "a.sqlite3", seed=False), MeasurementStore(tmp_path / "b.sqlite3", seed=False)
    assert first.add(plain, user=LOCAL_ADMIN).store_version == second.add(with_nan, user=LOCAL_ADMIN).store_version
    assert FLUORESCENCE_COLUMN not in second.to_dataset().table.columns


def test_a_store_made_before_readings_existed_opens_and_takes_readings(demo, tmp_path):
    path = tmp_path / "old.sqlite3"
    old_schema = "\n".join(line for line in SCHEMA.splitlines() if "fluorescence_cts" not in line)
    with sqlite3.connect(path) as connection:
        connection.executescript(old_schema)
        connection.execute(
            "INSERT INTO uploads (source_files, content_hash, uploaded_by, uploaded_at, n_added, n_already, accepted) "
            "VALUES ('[\"old.csv\"]', 'h', 'lab', '2026-01-01T00:00:00+00:00', 1, 0, '[]')"
        )
        reflectance = "[" + ", ".join(["0.5"] * 31) + "]"
        connection.execute(
            "INSERT INTO measurements (upload_id, sample_id, recipe_id, thickness_um, concentrations, reflectance, source, content_hash) "
            f"VALUES (1, 'OLD1', 'OLD1', 8.0, '[[\"FluoYellow\", 5.0]]', '{reflectance}', 'old.csv', 'old-hash')"
        )
    store = MeasurementStore(path, seed=False)
    old = store.to_dataset()
    assert len(old) == 1 and FLUORESCENCE_COLUMN not in old.table.columns
    store.add(read_upload(_demo_files()), user=LOCAL_ADMIN)
    both = store.to_dataset()
    assert np.isnan(_reading(both, "OLD1")) and _reading(both, "FY25H") > 0


def test_reuploading_spectra_with_readings_says_they_repeat_stored_ones(tmp_path):
    store = MeasurementStore(tmp_path / "m.sqlite3", seed=False)
    store.add(read_upload(_demo_files()[:2]), user=LOCAL_ADMIN)
    result = store.add(read_upload(_demo_files()), user=LOCAL_ADMIN)
    assert result.n_added == 95 and "95 of them repeat spectra already stored without a fluorescence reading" in result.message


def _demo_files() -> list[tuple[str, bytes]]:
    demo = settings.demo_data_dir()
    return [(name, (demo / name).read_bytes()) for name in ("Spectra.csv", "Concentrations.csv", "Fluorescence.csv")]


# ---- uploads --------------------------------------------------------------------------------


def test_an_upload_takes_an_optional_third_file_in_any_order(demo):
    dataset, _ = demo
    files = _demo_files()
    prepared = read_upload(files[::-1])
    assert prepared.source_files == ("Spectra.csv", "Concentrations.csv", "Fluorescence.csv")
    np.testing.assert_array_equal(prepared.dataset.table[FLUORESCENCE_COLUMN], dataset.table[FLUORESCENCE_COLUMN])
    without = read_upload(files[:2])
    assert FLUORESCENCE_COLUMN not in without.dataset.table.columns and without.report.fluorescence is None


def test_a_near_miss_reading_is_offered_like_a_measured_one(tmp_path):
    from model.store.intake import review_upload

    files = _demo_files()
    files[2] = ("Fluorescence.csv", files[2][1].replace(b"\nFY25H,", b"\nFY25HH,").replace(b"\nQM5,", b"\nQMS,"))
    store = MeasurementStore(tmp_path / "m.sqlite3", seed=False)
    offered = []
    review = review_upload(files, store, choose=lambda suggestions: offered.extend(suggestions) or [e.measured_name for e in suggestions])
    assert [e.measured_name for e in offered] == ["QMS"]
    assert "look-alike" in offered[0].reason
    assert _reading(review.prepared.dataset, "QM5") == 0
    # FY25HH names no recipe: reported, and its film kept for colour without a reading.
    assert [e.measured_name for e in review.fluorescence.left_out] == ["FY25HH"]
    assert np.isnan(_reading(review.prepared.dataset, "FY25H"))


# ---- the simulator ----------------------------------------------------------------------------


def test_the_simulator_writes_a_fluorescence_table_like_the_real_one(tmp_path):
    paths = write_demo(tmp_path, seed=2026)
    table = read_fluorescence_table(paths["fluorescence"])
    text = paths["fluorescence"].read_text(encoding="utf-8")
    assert text.startswith("Sample ID,Fluorescence [ct/s]\n")
    readings = table.readings.set_index("name")[FLUORESCENCE_COLUMN]
    assert (readings % 10 == 0).all()
    plan = demo_measurement_plan().drop_duplicates(SAMPLE_ID_COLUMN)
    has_yellow = dict(zip(plan[RECIPE_ID_COLUMN] + np.where(plan[THICKNESS_COLUMN] == 12.0, "H", ""), plan["FluoYellow"] > 0))
    for name, value in readings.items():
        assert (value > 0) == has_yellow[name], name
    assert readings.max() == pytest.approx(9000, rel=0.08) and 1000 < readings[readings > 0].min() < 2500


def test_no_fluorescent_colorant_reads_exactly_zero_and_more_yellow_reads_more():
    concentrations = np.zeros((4, len(COLORANT_NAMES)))
    concentrations[1:, 0] = [5.0, 15.0, 25.0]
    concentrations[0, 2] = 2.0  # PhthaloGreen alone
    counts = simulate_fluorescence_cts(concentrations, np.full(4, 8.0))
    assert counts[0] == 0.0 and np.all(np.diff(counts[1:]) > 0)
    thicker = simulate_fluorescence_cts(concentrations, np.full(4, 12.0))
    assert np.all(thicker[1:] > counts[1:])
    noisy = measure_fluorescence(np.repeat(counts, 200), np.random.default_rng(0)).reshape(4, 200)
    assert (noisy[0] == 0).all()
    np.testing.assert_allclose(noisy[1:].mean(axis=1), counts[1:], rtol=0.01)


def test_simulate_dataset_adds_readings_only_when_asked():
    plan = demo_measurement_plan().head(12)
    assert FLUORESCENCE_COLUMN not in simulate_dataset(plan).table.columns
    with_readings = simulate_dataset(plan, fluorescence=True, rng=np.random.default_rng(1))
    plain = simulate_dataset(plan, rng=np.random.default_rng(1))
    np.testing.assert_array_equal(with_readings.reflectance, plain.reflectance)  # the readings are drawn after the spectra
    assert (with_readings.table.loc[plan["FluoYellow"].to_numpy() == 0, FLUORESCENCE_COLUMN] == 0).all()
