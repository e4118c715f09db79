"""Time review and commit of Retrain uploads of 1,000 / 10,000 / cap measurement rows.

Each upload is an instrument export and its recipe table in the instrument's own format,
made by replicating the rows of a real or shipped export with new ids: copy ``k`` of
recipe ``T22`` is ``T22x00007``, and the measured names follow (``T22H`` becomes
``T22x00007H``), so every copy keeps the source's near misses, duplicate readings and
suspect rows and the match report has the same things to say at every size.

What is timed is what the Retrain page does, through the same functions:

- **review**: :func:`model.store.intake.review_upload` against a store holding the shipped
  demo data, every near-miss suggestion accepted (both reads, the comparison with the store);
- **commit**: :meth:`model.store.measurements.MeasurementStore.add` of the reviewed upload into that
  store (one transaction);
- **again**: the same review once more, after the commit: every row's recipe is now in the
  store, so every row is hashed and looked up (the most a review does).

Each figure is the median of ``--repeats`` runs, each in a fresh store. The goal (issue
21) is at most 0.1 ms per row on 10,000 rows for each of review and commit.

Run::

    python3 bench/uploads.py                  # the real pp-inks export when present, else data/demo
    python3 bench/uploads.py --source data/demo --repeats 5
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
REAL_DATA = REPO_ROOT.parent / "shared" / "data" / "pp-inks"
DEMO_DATA = REPO_ROOT / "data" / "demo"
GOAL_MS_PER_ROW = 0.1
GOAL_ROWS = 10_000


def write_upload(source: Path, out_dir: Path, n_rows: int) -> list[Path]:
    """Write ``Spectra.csv`` (``n_rows`` measurements) and ``Concentrations.csv`` into ``out_dir``.

    The rows of ``source``'s export are repeated with a copy tag after each recipe id
    (before the thickness suffix of a measured name); the recipe table holds every
    recipe of every copy used. Returns the two paths.
    """
    from model.io.matching import ThicknessRule

    rule = ThicknessRule()
    export_lines = (source / "Spectra.csv").read_text(encoding="utf-8-sig").splitlines()
    header_index = next(i for i, line in enumerate(export_lines) if "User Color Name" in line and "R400 nm" in line)
    name_position = export_lines[header_index].split(";").index("User Color Name")
    data_lines = [line for line in export_lines[header_index + 1 :] if line.strip()]
    recipe_lines = (source / "Concentrations.csv").read_text(encoding="utf-8-sig").splitlines()
    recipe_header, recipe_rows = recipe_lines[0], [line for line in recipe_lines[1:] if line.strip()]
    delimiter = ";" if recipe_header.count(";") > recipe_header.count(",") else ","

    export, recipes = export_lines[: header_index + 1], [recipe_header]
    n_copies = math.ceil(n_rows / len(data_lines))
    for copy in range(1, n_copies + 1):
        tag = f"x{copy:05d}"
        for line in data_lines[: n_rows - len(export) + header_index + 1]:
            fields = line.split(";")
            name = fields[name_position].strip('"')
            base, _ = rule.split(name)
            fields[0] = str(len(export) - header_index)
            fields[name_position] = f'"{base}{tag}{name.strip()[len(base):]}"'
            export.append(";".join(fields))
        for line in recipe_rows:
            recipe_id, rest = line.split(delimiter, 1)
            recipes.append(f"{recipe_id.strip()}{tag}{delimiter}{rest}")
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / "Spectra.csv", out_dir / "Concentrations.csv"]
    paths[0].write_text("\n".join(export) + "\n", encoding="utf-8")
    paths[1].write_text("\n".join(recipes) + "\n", encoding="utf-8")
    return paths


def _accept_all(suggestions):
    return [entry.measured_name for entry in suggestions]


def time_upload(paths: list[Path], workdir: Path, repeats: int) -> dict[str, float]:
    """Median wall and CPU seconds of review, commit and a second review of the same files (all
    rows already stored), the rows read and the rows stored (last run)."""
    from model.auth.access import LOCAL_ADMIN
    from model.store.intake import review_upload
    from model.store.measurements import MeasurementStore

    files = [(path.name, path.read_bytes()) for path in paths]
    runs = []
    for run in range(repeats):
        store = MeasurementStore(workdir / f"store-{paths[0].parent.name}-{run}.sqlite3", seed=True)
        wall, cpu = time.perf_counter(), time.process_time()
        review = review_upload(files, store, choose=_accept_all)
        review_times = time.perf_counter() - wall, time.process_time() - cpu
        wall, cpu = time.perf_counter(), time.process_time()
        result = store.add(review.prepared, user=LOCAL_ADMIN)
        commit_times = time.perf_counter() - wall, time.process_time() - cpu
        # The same files again: now every row's recipe is in the store, so every row is hashed and looked up.
        wall, cpu = time.perf_counter(), time.process_time()
        again = review_upload(files, store, choose=_accept_all)
        again_times = time.perf_counter() - wall, time.process_time() - cpu
        assert again.n_already_stored == result.n_added and again.n_new == 0
        runs.append((*review_times, *commit_times, *again_times))
        report = review.prepared.report
        n_read = len(report.matched) + len(report.suggested) + len(report.unmatched)
        n_stored = result.n_added
    medians = [statistics.median(column) for column in zip(*runs)]
    names = ("review_s", "review_cpu_s", "commit_s", "commit_cpu_s", "again_s", "again_cpu_s")
    return dict(zip(names, medians), n_read=n_read, n_stored=n_stored)


def main(argv: list[str] | None = None) -> int:
    from model.io.upload import MAX_UPLOAD_ROWS

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_source = REAL_DATA if REAL_DATA.is_dir() else DEMO_DATA
    parser.add_argument("--source", type=Path, default=default_source, help=f"folder with Spectra.csv and Concentrations.csv (default {default_source})")
    parser.add_argument("--repeats", type=int, default=3, help="runs per size; the median is shown (default 3)")
    parser.add_argument("--sizes", type=int, nargs="*", default=[1_000, GOAL_ROWS, MAX_UPLOAD_ROWS], help="measurement rows per upload")
    args = parser.parse_args(argv)

    print(f"source: {args.source}; median of {args.repeats} runs, each into a fresh store seeded with the demo data")
    print(f"cores: {os.cpu_count()}, load average at start: {os.getloadavg()[0]:.1f} (wall time is what a user waits; CPU time is this process's own)")
    print(f"{'rows':>8} {'stored':>8} | {'review s':>8} {'ms/row':>7} {'cpu ms/row':>10} | {'commit s':>8} {'ms/row':>7} {'cpu ms/row':>10} | {'again s':>7} {'ms/row':>7}")
    met = True
    with tempfile.TemporaryDirectory(prefix="huecast-bench-uploads-") as tmp:
        workdir = Path(tmp)
        for n_rows in args.sizes:
            paths = write_upload(args.source, workdir / f"upload-{n_rows}", n_rows)
            timed = time_upload(paths, workdir, args.repeats)
            per_row = {key: 1000 * value / timed["n_read"] for key, value in timed.items() if key.endswith("_s")}
            print(
                f"{timed['n_read']:>8,} {timed['n_stored']:>8,} | {timed['review_s']:>8.2f} {per_row['review_s']:>7.3f} {per_row['review_cpu_s']:>10.3f} "
                f"| {timed['commit_s']:>8.2f} {per_row['commit_s']:>7.3f} {per_row['commit_cpu_s']:>10.3f} "
                f"| {timed['again_s']:>7.2f} {per_row['again_s']:>7.3f}"
            )
            if n_rows == GOAL_ROWS:
                met = per_row["review_s"] <= GOAL_MS_PER_ROW and per_row["commit_s"] <= GOAL_MS_PER_ROW
    print(f"goal: review and commit ≤ {GOAL_MS_PER_ROW} ms per row (wall) on {GOAL_ROWS:,} rows: {'met' if met else 'NOT met'}")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
