"""Time the honest search of the served kind on the real data, and what one trial costs with and without the physics cache.

    python bench/search.py [--trials 50] [--jobs -1] [--data ../shared/data/pp-inks] [--trial-cost 4]

Runs ``python -m model search --data … --trials 50 --jobs -1`` as a subprocess (so the
time includes start-up, imports and joblib's workers), into a temporary models
directory (no champion there: the champion's row is the default model's configuration,
which is what serves after ``python -m model train``), and prints: wall-clock seconds,
the CPU seconds of the whole command (``RUSAGE_CHILDREN``: the CLI and its workers),
that CPU divided by the core count (what the wall clock would be on an otherwise idle
machine), the search's own figures from its ``run.json`` and ``trials.csv`` (test
recipes, the champion's row, the best configuration found, the physics alone and the old
system's network), and the old system's cost for the same 50 trials.

``--trial-cost N`` then cross-validates the first N sampled trials in this process, one
core, twice: with the physics solved afresh for every fit (as before the cache), and with
the physics cache of :mod:`model.models.fluorescent_km` warm, as a search's workers have
it after their first trials. It prints the CPU seconds of one trial each way.

The machine is shared, so wall time is noisy; the CPU figures are the steadier ones.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
REAL_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "pp-inks"

# The old PyTorch system on this machine: one fit of its winning config took about
# 1–2.5 s, and each of its 50 trials was one fit on one split (no CV), scored on test.
OLD_SECONDS_PER_FIT = (1.0, 2.5)


def run_cli(data: str, trials: int, jobs: int) -> int:
    """The search as a user runs it; print its time and its figures."""
    cores = os.cpu_count() or 1
    with tempfile.TemporaryDirectory() as models_dir:
        command = [sys.executable, "-m", "model", "search", "--data", data, "--trials", str(trials), "--jobs", str(jobs), "--out", models_dir]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        completed = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
        wall = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if completed.returncode != 0:
            print(completed.stderr[-3000:], file=sys.stderr)
            return completed.returncode
        run_dir = next(Path(models_dir, "search").glob("*/run.json")).parent
        run = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
        rows = pd.read_csv(run_dir / "trials.csv").set_index("candidate")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    with open("/proc/loadavg", encoding="utf-8") as handle:
        load = handle.read().split()[0]
    print(f"$ {' '.join(command[1:-2])}")
    print(f"search space: {run['space_size']:,} configurations of {run['searched_kind']}")
    print(f"protocol: {run['protocol']}")
    print(f"wall clock, whole command:            {wall:6.1f} s   (load average at the end {load} on {cores} cores)")
    print(f"CPU, whole command incl. workers:     {cpu:6.1f} s   → {cpu / cores:.1f} s on {cores} idle cores")
    print(f"inside run_search: wall {run['seconds']:.1f} s, CPU in candidates {run['cpu_seconds']:.1f} s")
    trial_cpu = rows.loc[rows.index.str.startswith("trial-"), "trial_cpu_seconds"]
    print(f"one trial ({run['n_folds']} folds): CPU mean {trial_cpu.mean():.2f} s, max {trial_cpu.max():.2f} s")
    print(f"\nOn {len(run['test_recipes'])} test recipes (of {run['dataset']['n_recipes']}), mean ΔE00 (CV mean ΔE00 on {run['n_train_recipes']} training recipes):")
    best = rows.loc[rows.index.str.startswith("trial-")].sort_values("rank").index[0]
    for name, label in ((best, f"best configuration found ({best})"), ("champion", "champion's configuration"), ("kubelka-munk", "physics alone"), ("baseline", "old system's network")):
        row = rows.loc[name]
        print(f"  {label:<40} {row['test_delta_e00_mean_headline']:.3f}  (CV {row['cv_delta_e00_mean_headline']:.3f}; p95 {row['test_delta_e00_p95_headline']:.3f})")
    print(f"  best configuration: {json.loads(rows.loc[best, 'config_json'])}")
    low, high = (trials * seconds for seconds in OLD_SECONDS_PER_FIT)
    print(f"\nold system: {trials} trials × 1 fit (single split, ranked on its test split) × {OLD_SECONDS_PER_FIT[0]:g}–{OLD_SECONDS_PER_FIT[1]:g} s = {low:.0f}–{high:.0f} s")
    return 0


def trial_cost(data: str, n_trials: int) -> None:
    """CPU seconds of one trial's CV with the physics solved afresh, then with the physics cache warm (one core)."""
    from model.evaluation.search_space import DEFAULT_FOLDS, DEFAULT_TEST_FRACTION, sample_configs
    from model.io import load_dataset
    from model.jobs import search
    from model.models.fluorescent_km import FIT_CACHE

    dataset, _ = load_dataset(data)
    train, _ = search._train_and_test(dataset, DEFAULT_TEST_FRACTION, 0, DEFAULT_FOLDS)
    configs = sample_configs(n_trials, seed=0)
    # Before: every fit solves its physics (a cache of no entries keeps nothing).
    size, FIT_CACHE.max_entries = FIT_CACHE.max_entries, 0
    cold = [search._cross_validate_candidate(f"t{i}", config, train, DEFAULT_FOLDS, 0)["trial_cpu_seconds"] for i, config in enumerate(configs)]
    FIT_CACHE.max_entries = size
    for config in configs:  # warm the cache with the physics of these trials, as a worker's first trials do
        search._cross_validate_candidate("warm", config, train, DEFAULT_FOLDS, 0)
    warm = [search._cross_validate_candidate(f"t{i}", config, train, DEFAULT_FOLDS, 0)["trial_cpu_seconds"] for i, config in enumerate(configs)]
    print(f"\none trial ({DEFAULT_FOLDS} folds, {n_trials} sampled trials, one core): CPU {sum(cold) / n_trials:.2f} s with the physics "
          f"solved per fit, {sum(warm) / n_trials:.2f} s with it cached ({FIT_CACHE.info()})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(REAL_DATA))
    parser.add_argument("--trials", type=int, default=50)
    parser.add_argument("--jobs", type=int, default=-1)
    parser.add_argument("--trial-cost", type=int, default=0, metavar="N", help="also time N trials with and without the physics cache")
    args = parser.parse_args()
    if not Path(args.data).exists():
        print(f"skipped: the data folder {args.data} is absent", file=sys.stderr)
        return 0
    code = run_cli(args.data, args.trials, args.jobs)
    if code == 0 and args.trial_cost:
        trial_cost(args.data, args.trial_cost)
    return code


if __name__ == "__main__":
    sys.exit(main())
