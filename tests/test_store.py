"""The measurement store: uploads are all-or-nothing, idempotent, versioned and admin-only."""

from __future__ import annotations

import io
import sqlite3

import numpy as np
import pytest

from model import load_dataset
from model.auth.access import LOCAL_ADMIN, VIEWER, PermissionDenied
from model.core import settings
from model.io import IngestError, read_upload
from model.store.measurements import MeasurementStore, StoreError, open_store


def real_files(real_data_dir):
    return [(name, (real_data_dir / name).read_bytes()) for name in ("Spectra.csv", "Concentrations.csv")]


@pytest.fixture
def empty_store(tmp_path):
    return MeasurementStore(tmp_path / "measurements.sqlite3", seed=False)


@pytest.fixture(scope="module")
def real_upload(real_data_dir):
    """The real export and recipe table, every near-miss suggestion accepted."""
    suggestions = [entry.measured_name for entry in read_upload(real_files(real_data_dir)).report.suggested]
    return read_upload(real_files(real_data_dir), accept=suggestions)


def snapshot(store: MeasurementStore):
    return store.counts(), store.version(), len(store.uploads()), len(store.versions())


def test_real_upload_into_a_fresh_store_gives_the_expected_counts_and_report(empty_store, real_data_dir, real_upload):
    first_read = read_upload(real_files(real_data_dir))
    # Without acceptance, the five near misses are suggestions, not data.
    assert len(first_read.dataset) == 78
    assert sorted(e.measured_name for e in first_read.report.suggested) == ["52C", "52E", "52F", "BiVaO5", "BiVaO5H"]

    report = real_upload.report
    assert len(report.matched) == 83 and len(report.accepted) == 5 and not report.unmatched and not report.suggested
    assert sorted(e.row for e in report.duplicates) == [18, 38, 55, 64]
    assert [(e.measured_name, e.row) for e in report.suspect] == [("PG1", 38)]

    result = empty_store.add(real_upload, user=LOCAL_ADMIN)
    assert (result.n_added, result.n_already_stored, result.upload_id) == (83, 0, 1)
    assert empty_store.counts() == {"n_measurements": 83, "n_included": 83, "n_recipes": 43, "n_uploads": 1}
    dataset = empty_store.to_dataset()
    assert (len(dataset), dataset.n_recipes) == (83, 43)
    assert dataset.colorants == ("GXT-10", "BiVaO4", "PG", "PearlB")
    # The stored measurements are exactly what was read: same spectra, same fingerprint.
    assert dataset.fingerprint() == real_upload.dataset.fingerprint()
    upload = empty_store.uploads().iloc[0]
    assert upload["source_files"] == "Spectra.csv, Concentrations.csv" and upload["uploaded_by"] == LOCAL_ADMIN.name
    assert upload["uploaded_at"]


def test_a_second_identical_upload_adds_nothing_and_says_so(empty_store, real_upload):
    empty_store.add(real_upload, user=LOCAL_ADMIN)
    before = snapshot(empty_store)
    again = empty_store.add(real_upload, user=LOCAL_ADMIN)
    assert (again.upload_id, again.n_added, again.n_already_stored, again.same_files_as) == (None, 0, 83, 1)
    assert "Nothing added" in again.message and "upload 1" in again.message
    assert snapshot(empty_store) == before


def test_a_bad_row_late_in_the_file_is_refused_before_anything_is_stored(empty_store, real_data_dir):
    spectra = (real_data_dir / "Spectra.csv").read_bytes().decode("utf-8")
    lines = spectra.splitlines()
    fields = lines[-1].split(";")
    fields[-5] = "not a number"  # a band of the last measurement
    broken = "\n".join([*lines[:-1], ";".join(fields)]).encode("utf-8")
    before = snapshot(empty_store)
    with pytest.raises(IngestError, match=f"row {len(lines)}"):
        read_upload([("Spectra.csv", broken), ("Concentrations.csv", (real_data_dir / "Concentrations.csv").read_bytes())])
    assert snapshot(empty_store) == before


def test_a_database_failure_mid_insert_leaves_the_store_unchanged(empty_store, tiny_dataset, real_upload):
    empty_store.add(real_upload, user=LOCAL_ADMIN)
    before = snapshot(empty_store)
    late_sample = tiny_dataset.sample_ids[-3]
    with sqlite3.connect(empty_store.path) as connection:
        # A real failure inside SQLite, raised when the third-last row is inserted.
        connection.execute(f"CREATE TRIGGER fail_late BEFORE INSERT ON measurements WHEN NEW.sample_id = '{late_sample}' BEGIN SELECT RAISE(ABORT, 'disk on fire'); END")
    prepared = read_upload([("tiny.csv", tidy_bytes(tiny_dataset))])
    with pytest.raises(StoreError, match="not stored and the store is unchanged.*disk on fire"):
        empty_store.add(prepared, user=LOCAL_ADMIN)
    assert snapshot(empty_store) == before
    with sqlite3.connect(empty_store.path) as connection:
        connection.execute("DROP TRIGGER fail_late")
    assert empty_store.add(prepared, user=LOCAL_ADMIN).n_added == len(tiny_dataset)


def tidy_bytes(dataset) -> bytes:
    buffer = io.BytesIO()
    dataset.to_tidy_csv(buffer)
    return buffer.getvalue()


def test_tidy_csv_upload_round_trips_and_repeated_readings_are_kept(empty_store, tiny_dataset):
    prepared = read_upload([("tiny.csv", tidy_bytes(tiny_dataset))])
    assert prepared.report is None
    empty_store.add(prepared, user=LOCAL_ADMIN)
    stored = empty_store.to_dataset()
    assert stored.fingerprint() == tiny_dataset.fingerprint()
    # Another reading of a stored recipe (a different spectrum) is a new measurement.
    repeat = tiny_dataset.subset([0])
    table = repeat.table.assign(sample_id="R0@8 again", R550=repeat.table["R550"] + 0.01)
    result = empty_store.add(read_upload([("repeat.csv", tidy_bytes(type(repeat)(table, repeat.colorants)))]), user=LOCAL_ADMIN)
    assert result.n_added == 1 and len(empty_store.measurements("R0")) == 3


def test_a_store_from_before_notes_and_readings_opens_and_keeps_its_data(tmp_path, tiny_dataset):
    # A lab's store made by an earlier Huecast lacks the columns added since; opening it adds them.
    path = tmp_path / "measurements.sqlite3"
    MeasurementStore(path, seed=False).add(read_upload([("first.csv", tidy_bytes(tiny_dataset.subset(np.arange(12))))]), user=LOCAL_ADMIN)
    with sqlite3.connect(path) as connection:
        connection.execute("ALTER TABLE uploads DROP COLUMN notes")
        connection.execute("ALTER TABLE measurements DROP COLUMN fluorescence_cts")
    store = MeasurementStore(path, seed=False)
    assert store.uploads()["notes"].tolist() == [""] and len(store.to_dataset()) == 12

    blank = tiny_dataset.subset(np.arange(12, 24)).table.assign(**{tiny_dataset.colorants[-1]: np.nan})
    with pytest.warns(UserWarning, match="read as 0 wt %"):
        prepared = read_upload([("second.csv", tidy_bytes(type(tiny_dataset)(blank, tiny_dataset.colorants)))])
    store.add(prepared, user=LOCAL_ADMIN)
    [note] = prepared.notes
    assert store.uploads()["notes"].tolist() == ["", note] and len(store.to_dataset()) == 24


def test_seeded_from_the_demo_data_once_and_the_demo_fingerprint_is_found(isolated_install):
    store = open_store()
    assert store.path.parent == isolated_install.data_dir
    demo, _ = load_dataset(settings.demo_data_dir())
    assert store.counts()["n_included"] == len(demo) and store.uploads()["uploaded_by"].tolist() == ["demo seed"]
    assert store.to_dataset().fingerprint() == demo.fingerprint()
    assert store.version_for_fingerprint(demo.fingerprint()) == store.version()
    open_store()  # opening again does not seed again
    assert store.counts()["n_uploads"] == 1


def test_conflicting_recipe_ids_are_refused_until_the_other_upload_is_excluded(tmp_path, real_upload):
    store = MeasurementStore(tmp_path / "m.sqlite3")  # seeded with the synthetic demo, which also has PG1 etc.
    before = snapshot(store)
    with pytest.raises(StoreError, match="different concentrations.*PG0.5"):
        store.add(real_upload, user=LOCAL_ADMIN)
    assert snapshot(store) == before
    store.exclude(store.upload_measurement_ids(1), user=LOCAL_ADMIN, reason="synthetic demo data")
    assert store.add(real_upload, user=LOCAL_ADMIN).n_added == 83
    dataset = store.to_dataset()
    assert (len(dataset), dataset.n_recipes, dataset.colorants) == (83, 43, ("GXT-10", "BiVaO4", "PG", "PearlB"))
    with pytest.raises(StoreError, match="two different recipes"):
        store.include(store.upload_measurement_ids(1), user=LOCAL_ADMIN)
    assert store.counts()["n_included"] == 83


def test_exclude_and_include_change_the_version_and_old_versions_rebuild(empty_store, real_upload):
    empty_store.add(real_upload, user=LOCAL_ADMIN)
    full_version = empty_store.version()
    suspect = empty_store.measurements("PG1")
    assert set(suspect["recipe_id"]) == {"PG1"} and len(suspect) == 2
    row_38 = suspect.loc[suspect["sample_id"] == "PG1", "measurement_id"].tolist()
    new_version = empty_store.exclude(row_38, user=LOCAL_ADMIN, reason="suspect: mislabeled thickness")
    assert new_version != full_version and len(empty_store.to_dataset()) == 82
    listing = empty_store.measurements("PG1").set_index("sample_id")
    assert not listing.loc["PG1", "included"] and listing.loc["PG1", "excluded_reason"].startswith("suspect")
    assert len(empty_store.to_dataset(full_version)) == 83  # the data an older model saw
    assert empty_store.include(row_38, user=LOCAL_ADMIN) == full_version
    np.testing.assert_array_equal(empty_store.to_dataset().reflectance, real_upload.dataset.reflectance)


def test_viewers_cannot_change_the_store(empty_store, real_upload):
    with pytest.raises(PermissionDenied, match="cannot upload measurements"):
        empty_store.add(real_upload, user=VIEWER)
    empty_store.add(real_upload, user=LOCAL_ADMIN)
    with pytest.raises(PermissionDenied):
        empty_store.exclude([1], user=VIEWER, reason="x")
    with pytest.raises(PermissionDenied):
        empty_store.include([1], user=None)
    assert empty_store.counts()["n_included"] == 83


# ---- replacing the synthetic demo; the names data sets carry (issue 15) -----------------


def renamed_demo_files() -> list[tuple[str, bytes]]:
    """The demo export and recipe table with every colorant renamed: the same recipe ids with other
    colorants, as a lab's first real export clashes with the demo seed."""
    demo = settings.demo_data_dir()
    recipes = (demo / "Concentrations.csv").read_text(encoding="utf-8")
    header, rest = recipes.split("\n", 1)
    for index, name in enumerate(("FluoYellow", "BiVaYellow", "PhthaloGreen", "PearlBlue", "QuinMagenta")):
        header = header.replace(name, f"Lab{index}")
    return [("Spectra.csv", (demo / "Spectra.csv").read_bytes()), ("lab-recipes.csv", f"{header}\n{rest}".encode())]


def test_an_upload_that_clashes_only_with_the_demo_replaces_it_in_one_transaction(isolated_install):
    store = open_store()  # seeded with the synthetic demo
    assert store.demo_in_use() and store.data_name() == "Synthetic demo" and store.to_dataset().name == "Synthetic demo"
    upload = read_upload(renamed_demo_files())
    clashes = store.recipe_clashes(upload.dataset)
    assert len(clashes) == upload.dataset.n_recipes and all(clash.stored_is_demo and clash.stored_upload_id == 1 for clash in clashes)
    assert clashes[0].incoming and set(clashes[0].incoming) <= {f"Lab{i}" for i in range(5)}
    before = snapshot(store)
    with pytest.raises(StoreError, match="clash only with the synthetic demo data: replace the demo data"):
        store.add(upload, user=LOCAL_ADMIN)
    assert snapshot(store) == before
    with pytest.raises(PermissionDenied):
        store.add(upload, user=VIEWER, replace_demo=True)
    assert snapshot(store) == before

    result = store.add(upload, user=LOCAL_ADMIN, replace_demo=True)
    assert result.n_added == len(upload.dataset) and result.upload_id == 2
    assert not store.demo_in_use() and store.recipe_clashes(upload.dataset) == []
    listing = store.measurements()
    demo_rows = listing[listing["upload_id"] == 1]
    assert (~demo_rows["included"]).all() and demo_rows["excluded_reason"].str.startswith("synthetic demo data replaced by Spectra.csv + lab-recipes.csv").all()
    dataset = store.to_dataset()
    assert dataset.colorants == tuple(f"Lab{i}" for i in range(5)) and len(dataset) == len(upload.dataset)
    uploads = store.uploads()
    assert uploads["name"].iloc[0] == "Synthetic demo"
    assert uploads["name"].iloc[1].startswith("Spectra.csv + lab-recipes.csv (uploaded ")
    assert dataset.name == uploads["name"].iloc[1] == store.data_name()
    assert store.data_name(before[1]) == "Synthetic demo"  # the earlier store version is still named by its data


def test_a_clash_with_real_data_is_not_offered_as_a_demo_replacement(empty_store):
    upload = read_upload(renamed_demo_files())
    empty_store.add(upload, user=LOCAL_ADMIN)
    demo = settings.demo_data_dir()
    original = read_upload([(name, (demo / name).read_bytes()) for name in ("Spectra.csv", "Concentrations.csv")])
    clashes = empty_store.recipe_clashes(original.dataset)
    assert clashes and not any(clash.stored_is_demo for clash in clashes)
    with pytest.raises(StoreError, match="Rename those recipes in the upload"):
        empty_store.add(original, user=LOCAL_ADMIN, replace_demo=True)
    assert empty_store.counts()["n_uploads"] == 1


def test_the_first_real_export_replaces_the_demo(tmp_path, real_upload):
    store = MeasurementStore(tmp_path / "m.sqlite3")  # seeded with the synthetic demo
    assert all(clash.stored_is_demo for clash in store.recipe_clashes(real_upload.dataset))
    assert store.add(real_upload, user=LOCAL_ADMIN, replace_demo=True).n_added == 83
    assert store.to_dataset().colorants == ("GXT-10", "BiVaO4", "PG", "PearlB") and not store.demo_in_use()
    assert store.data_name().startswith("Spectra.csv + Concentrations.csv (uploaded ")


# ---- issue 21: rows hashed and written in bulk, fingerprints filled in when asked -------------------


def test_bulk_hashes_and_stored_columns_are_those_of_one_row_at_a_time(tiny_dataset):
    import hashlib
    import json
    import math

    from model.core.schema import BAND_COLUMNS, FLUORESCENCE_COLUMN
    from model.store.records import MeasurementRows

    def measurement_hash(sample_id, recipe_id, thickness_um, pairs, reflectance, reading=None):
        """The content hash as stores hold it: any change would give stored measurements new identities."""
        used = sorted((name, repr(float(value))) for name, value in pairs if float(value) != 0.0)
        content = [sample_id, recipe_id, repr(float(thickness_um)), used, [repr(float(r)) for r in reflectance]]
        content += [repr(float(reading))] if reading is not None else []
        return hashlib.sha256(json.dumps(content).encode("utf-8")).hexdigest()

    table = tiny_dataset.table.copy()
    table[FLUORESCENCE_COLUMN] = [math.nan if i % 3 else 100.0 * i for i in range(len(table))]
    table.loc[1, BAND_COLUMNS[4]] = math.inf  # json.dumps spells it Infinity; the hash's repr says inf
    dataset = type(tiny_dataset)(table, tiny_dataset.colorants)
    rows = MeasurementRows(dataset)
    for position, row in table.iterrows():
        reading = None if math.isnan(row[FLUORESCENCE_COLUMN]) else row[FLUORESCENCE_COLUMN]
        pairs = [[name, float(row[name])] for name in dataset.colorants]
        reflectance = row[BAND_COLUMNS].to_numpy(dtype=float)
        assert rows.hashes([position]) == [measurement_hash(row["sample_id"], row["recipe_id"], row["thickness_um"], pairs, reflectance, reading)]
        assert rows.hashes([position], with_fluorescence=False) == [measurement_hash(row["sample_id"], row["recipe_id"], row["thickness_um"], pairs, reflectance)]
        assert rows.reflectance_json(position) == json.dumps([float(v) for v in reflectance])
        assert rows.concentrations_json(position) == json.dumps(pairs)


def test_every_version_gets_the_fingerprint_of_its_data_when_asked(empty_store, tiny_dataset):
    from model.io.upload import PreparedUpload

    first, second = tiny_dataset.subset(range(0, 10)), tiny_dataset.subset(range(10, 20))
    empty_store.add(PreparedUpload(first, None, ("a.csv",), "a"), user=LOCAL_ADMIN)
    first_version = empty_store.version()
    empty_store.add(PreparedUpload(second, None, ("b.csv",), "b"), user=LOCAL_ADMIN)
    empty_store.exclude(empty_store.upload_measurement_ids(2)[:3], user=LOCAL_ADMIN, reason="suspect")
    # Asked for by fingerprint, the oldest version with that data is found, and only it is computed so far.
    assert empty_store.version_for_fingerprint(first.fingerprint()) == first_version
    versions = empty_store.versions()
    assert len(versions) == 3
    for version, fingerprint in zip(versions["version"], versions["dataset_fingerprint"]):
        assert fingerprint == empty_store.to_dataset(version).fingerprint()
    assert empty_store.version_for_fingerprint("") is None and empty_store.version_for_fingerprint("0" * 64) is None
