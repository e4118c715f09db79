"""Retrain uploads have a row cap, refused while reading, and a 10,000-row upload goes through.

Real files are written to ``tmp_path`` in the instrument's format: the shipped demo export
and recipe table, their rows repeated with new recipe ids. How fast review and commit are
is measured by ``bench/uploads.py``, not asserted here.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from model.auth.access import LOCAL_ADMIN
from model.core import settings
from model.io import IngestError, read_upload
from model.io import upload as upload_module
from model.io.matching import ThicknessRule, name_key
from model.io.upload import MAX_UPLOAD_ROWS
from model.store.intake import review_upload
from model.store.measurements import MeasurementStore

BANDS = ";".join(f"R{wavelength} nm" for wavelength in range(400, 701, 10))


def write_upload(folder: Path, n_rows: int) -> list[Path]:
    """The demo export's rows repeated to ``n_rows`` measurements, copy k of recipe FY5 named
    FY5x00k (and FY5H its FY5x00kH), and the recipe table of the recipes they measure."""
    demo = settings.demo_data_dir()
    lines = (demo / "Spectra.csv").read_text(encoding="utf-8").splitlines()
    header_index = next(i for i, line in enumerate(lines) if "User Color Name" in line)
    name_position = lines[header_index].split(";").index("User Color Name")
    rows = [line for line in lines[header_index + 1 :] if line.strip()]
    recipe_header, *recipe_rows = (demo / "Concentrations.csv").read_text(encoding="utf-8").splitlines()
    export, recipes = lines[: header_index + 1], [recipe_header]
    for copy in range(1, math.ceil(n_rows / len(rows)) + 1):
        used = set()
        for line in rows[: n_rows - (len(export) - header_index - 1)]:
            fields = line.split(";")
            name = fields[name_position].strip('"')
            base, _ = ThicknessRule().split(name)
            fields[name_position] = f'"{base}x{copy:03d}{name[len(base):]}"'
            export.append(";".join(fields))
            used.add(name_key(base))
        recipes.extend(f"{recipe_id}x{copy:03d},{rest}" for recipe_id, rest in (row.split(",", 1) for row in recipe_rows) if name_key(recipe_id) in used)
    paths = [folder / "Spectra.csv", folder / "Concentrations.csv"]
    paths[0].write_text("\n".join(export) + "\n", encoding="utf-8")
    paths[1].write_text("\n".join(recipes) + "\n", encoding="utf-8")
    return paths


def files_of(paths: list[Path]) -> list[tuple[str, bytes]]:
    return [(path.name, path.read_bytes()) for path in paths]


def test_an_export_over_the_cap_is_refused_naming_the_file_the_cap_and_what_to_do(tmp_path):
    # A plain export of MAX_UPLOAD_ROWS + 1 rows: the real cap, not a patched one.
    row = ";".join(["x"] + ["0.5"] * 31)
    export = tmp_path / "Big export.csv"
    export.write_text(f"User Color Name;{BANDS}\n" + f"{row}\n" * (MAX_UPLOAD_ROWS + 1), encoding="utf-8")
    recipes = tmp_path / "Concentrations.csv"
    recipes.write_text("Sample ID,A (%)\nx,1%\n", encoding="utf-8")
    with pytest.raises(IngestError) as refused:
        read_upload(files_of([export, recipes]))
    message = str(refused.value)
    assert message.startswith("Big export.csv: ")
    assert f"more than {MAX_UPLOAD_ROWS:,} measurement rows" in message and "Split the export" in message


def test_an_export_at_the_cap_is_read(tmp_path, monkeypatch):
    monkeypatch.setattr(upload_module, "MAX_UPLOAD_ROWS", 40)
    assert len(read_upload(files_of(write_upload(tmp_path, 40))).dataset) == 40
    with pytest.raises(IngestError, match="more than 40 measurement rows"):
        read_upload(files_of(write_upload(tmp_path, 41)))


def test_reading_stops_at_the_cap_so_a_fault_below_it_is_never_reached(tmp_path, monkeypatch):
    monkeypatch.setattr(upload_module, "MAX_UPLOAD_ROWS", 50)
    export, recipes = write_upload(tmp_path, 120)
    lines = export.read_text(encoding="utf-8").splitlines()
    lines[100] = "this row has one cell"  # far below the cap: a row-by-row read would name it first
    export.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(IngestError) as refused:
        read_upload(files_of([export, recipes]))
    assert [(p.file, p.row) for p in refused.value.problems] == [("Spectra.csv", None)]
    assert "more than 50 measurement rows; one upload takes at most 50" in str(refused.value)


def test_a_recipe_table_a_tidy_csv_and_a_fluorescence_table_have_the_cap_too(tmp_path, monkeypatch):
    tidy = tmp_path / "tidy.csv"
    read_upload(files_of(write_upload(tmp_path, 31))).dataset.to_tidy_csv(tidy)
    monkeypatch.setattr(upload_module, "MAX_UPLOAD_ROWS", 30)
    export, recipes = write_upload(tmp_path, 30)  # 30 measurements of 24 recipes …
    recipes.write_text(recipes.read_text(encoding="utf-8") * 2, encoding="utf-8")  # … in a table of 48 (and a second header row)
    with pytest.raises(IngestError, match=r"Concentrations.csv: the file has more than 30 recipes; .*Keep only the recipes"):
        read_upload(files_of([export, recipes]))

    with pytest.raises(IngestError, match=r"tidy.csv: the file has more than 30 measurement rows; .*Split it"):
        read_upload(files_of([tidy]))

    export, recipes = write_upload(tmp_path, 20)
    readings = tmp_path / "Fluorescence.csv"
    readings.write_text("Sample ID,Fluorescence [ct/s]\n" + "".join(f"F{i},0\n" for i in range(31)), encoding="utf-8")
    with pytest.raises(IngestError, match=r"Fluorescence.csv: the file has more than 30 readings"):
        read_upload(files_of([export, recipes, readings]))


@pytest.mark.slow
def test_a_10000_row_upload_is_reviewed_and_committed_whole(tmp_path):
    paths = write_upload(tmp_path, 10_000)
    store = MeasurementStore(tmp_path / "store" / "measurements.sqlite3", seed=False)
    review = review_upload(files_of(paths), store)
    report = review.prepared.report
    assert (len(report.matched), len(report.suggested), len(report.unmatched)) == (10_000, 0, 0)
    assert review.n_new == 10_000 and review.n_already_stored == 0 and not review.clashes
    # The report says of each copy what it says of the demo: the first copy's repeated readings are the demo's.
    demo = settings.demo_data_dir()
    demo_report = read_upload(files_of([demo / "Spectra.csv", demo / "Concentrations.csv"])).report
    assert demo_report.duplicates and {e.row for e in report.duplicates if "x001" in e.measured_name} == {e.row for e in demo_report.duplicates}

    result = store.add(review.prepared, user=LOCAL_ADMIN)
    assert (result.n_added, result.n_already_stored) == (10_000, 0)
    assert store.counts() == {"n_measurements": 10_000, "n_included": 10_000, "n_recipes": review.n_recipes, "n_uploads": 1}
    # What is stored is what was read, to the last digit the fingerprint keeps.
    assert store.to_dataset().fingerprint() == review.prepared.dataset.fingerprint()
    again = store.add(review.prepared, user=LOCAL_ADMIN)
    assert (again.n_added, again.n_already_stored, again.same_files_as) == (0, 10_000, 1)
