"""Time from upload to a scored challenger, on the real pp-inks data, with the champion's configuration.

What is timed is what the Retrain page does, through the same functions:

1. ``model.io.read_upload`` of the real export and recipe table (suggestions accepted);
2. ``MeasurementStore.add`` into a fresh, empty store (one transaction);
3. ``retrain.start_challenger`` in a worker process (spawn) with the champion's config,
   then waiting until the challenger is cross-validated, fitted, saved and compared with
   the champion on the same leave-recipe-out folds (default 5 folds × 3 seeds).

The "champion" is a model of the shipped champion's configuration fitted (without CV) on
an earlier upload: the real data without its last ``--new-recipes`` recipes (default 5, about
10 films), stored as the store's first version, saved and promoted in a tmp models directory.
The timed upload is then the whole export: the store keeps what it already has and adds the
new recipes' films, so the challenger is trained on all of pp-inks and the champion is
cross-validated on its own, smaller data (as after a real upload: nothing of the two
sides' fold fits is the same). ``--same-data`` gives the champion all of the data instead
(the set-up of the figures before 2026-12-07's H3 note: a challenger on the data its
champion already had). Nothing in the repository is touched; everything runs in tmp
directories (HUECAST_MODELS_DIR / HUECAST_DATA_DIR).

Run::

    python3 bench/retrain.py            # the champion's CV plan: 5 folds x 3 seeds, folds on every core
    python3 bench/retrain.py --same-data
    python3 bench/retrain.py --default-model   # today's default configuration, not the shipped champion's
    HUECAST_RETRAIN_CV=3x1 python3 bench/retrain.py
    HUECAST_RETRAIN_JOBS=1 python3 bench/retrain.py    # the folds one after the other
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
REAL_DATA = REPO_ROOT.parent / "shared" / "data" / "pp-inks"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--new-recipes", type=int, default=5, help="recipes the timed upload adds to the champion's data (default 5)")
    parser.add_argument("--same-data", action="store_true", help="the champion is trained on all of the data (no new recipes)")
    parser.add_argument("--default-model", action="store_true", help="both sides use default_model()'s configuration instead of the shipped champion's")
    parser.add_argument("--timeline", action="store_true", help="print the job's progress messages as they change, with the seconds since the upload")
    args = parser.parse_args()
    if not REAL_DATA.is_dir():
        raise SystemExit(f"The real data is absent: no folder {REAL_DATA}.")
    workdir = Path(tempfile.mkdtemp(prefix="huecast-bench-retrain-"))
    os.environ["HUECAST_MODELS_DIR"] = str(workdir / "models")
    os.environ["HUECAST_DATA_DIR"] = str(workdir / "data")

    from sklearn.base import clone

    from model import model_from_config
    from model.models.base import default_model
    from model.auth.access import LOCAL_ADMIN
    from model.io import read_upload
    from model.jobs import retrain
    from model.registry.registry import ModelRegistry
    from model.store.measurements import MeasurementStore

    shipped_models = ModelRegistry(REPO_ROOT / "trained_models")
    shipped = shipped_models.read_card(shipped_models.champion_version())
    configured = default_model() if args.default_model else model_from_config(shipped.kind, shipped.config)
    files = [(name, (REAL_DATA / name).read_bytes()) for name in ("Spectra.csv", "Concentrations.csv")]
    n_splits, seeds = retrain.cv_plan()
    print(f"champion configuration: {type(configured).__name__} {configured.config()}")
    print(f"challenger CV: {n_splits} folds x seeds {list(seeds)} (both sides on the same folds); cores: {os.cpu_count()}; "
          f"HUECAST_RETRAIN_JOBS={os.environ.get('HUECAST_RETRAIN_JOBS', '(unset)')}")

    started = time.perf_counter()
    suggestions = [entry.measured_name for entry in read_upload(files).report.suggested]
    prepared = read_upload(files, accept=suggestions)
    read_s = time.perf_counter() - started

    store = MeasurementStore(workdir / "data" / "measurements.sqlite3", seed=False)
    # The "champion" the challenger is compared with: the shipped config fitted on the
    # store's first version, the earlier upload (outside the timed span).
    earlier = prepared
    if not args.same_data:
        new_recipes = sorted(set(prepared.dataset.recipe_ids))[-args.new_recipes:] if args.new_recipes > 0 else []
        keep = [recipe not in new_recipes for recipe in prepared.dataset.recipe_ids]
        earlier = dataclasses.replace(prepared, dataset=prepared.dataset.subset(keep), content_hash=f"earlier-{prepared.content_hash}")
    store.add(earlier, user=LOCAL_ADMIN)
    dataset = store.to_dataset()
    print(f"champion's data: {len(dataset)} films of {dataset.n_recipes} recipes; the upload: {len(prepared.dataset)} films of {prepared.dataset.n_recipes}")
    champion_fit_started = time.perf_counter()
    champion = clone(configured).fit(dataset)
    models = ModelRegistry()
    dataset_info = {"fingerprint": dataset.fingerprint(), "store_version": store.version(), "n_samples": len(dataset), "n_recipes": dataset.n_recipes, "name": "pp-inks"}
    card = models.save_model(champion, metrics={}, dataset_info=dataset_info)
    models.promote(card.version, user=LOCAL_ADMIN)
    champion_fit_s = time.perf_counter() - champion_fit_started

    # Timed: the upload committed to a store (the champion's, or with --same-data a fresh one),
    # the challenger trained and scored.
    target = MeasurementStore(workdir / "data2" / "measurements.sqlite3", seed=False) if args.same_data else store
    t0 = time.perf_counter()
    result = target.add(prepared, user=LOCAL_ADMIN)
    commit_s = time.perf_counter() - t0
    job = retrain.start_challenger(target.to_dataset(), user=LOCAL_ADMIN, store=store, store_version=target.version())
    status = _follow(job, t0) if args.timeline else retrain.wait_for_job(job, timeout=3600, poll_seconds=0.5)
    total_s = read_s + (time.perf_counter() - t0)
    if status.state != "done":
        raise SystemExit(f"training did not finish: {status.state}: {status.message}")
    comparison = retrain.load_comparison(job)

    print(f"upload: {result.message}")
    print(f"read + match the two files: {read_s:.2f} s")
    print(f"commit to the store (one transaction): {commit_s:.2f} s")
    print(f"upload -> challenger scored (read, commit, worker CV + final fit + champion CV on the same folds, save): {total_s:.1f} s")
    print(f"(outside the timed span: fitting the stand-in champion once took {champion_fit_s:.1f} s)")
    print(comparison.protocol)
    print(comparison.summary.to_string(float_format=lambda v: f"{v:.4f}"))
    wins = comparison.per_recipe["winner"].value_counts().to_dict()
    print(f"per recipe (tie < {retrain.TIE_DELTA_E00} ΔE00): {wins}")


def _follow(job: str, t0: float):
    """Wait for the job, printing each new progress message with the seconds since ``t0`` (where the time goes)."""
    from model.jobs import retrain

    last = None
    while True:
        status = retrain.job_status(job)
        if status.message != last:
            print(f"  {time.perf_counter() - t0:6.1f} s  {status.fraction:5.1%}  {status.message}", flush=True)
            last = status.message
        if status.finished:
            return status
        time.sleep(0.1)


if __name__ == "__main__":
    main()
