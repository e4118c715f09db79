"""Time the honest search on the real data, next to the old system's cost.

    python bench/search.py [--trials 50] [--jobs -1] [--data ../shared/data/pp-inks]

Runs ``python -m model search --data … --trials 50 --jobs -1`` as a subprocess (so the
time includes start-up, imports and joblib's workers), into a temporary models
directory, and prints: wall-clock seconds, the CPU seconds of the whole command
(``RUSAGE_CHILDREN``: the CLI and its workers), that CPU divided by the core count (what
the wall clock would be on an otherwise idle machine), the search's own figures from
its ``run.json``, and the old system's cost for the same 50 trials.

The machine is shared, so wall time is noisy; the CPU figure is the steadier one.
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

ROOT = Path(__file__).resolve().parents[1]
REAL_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "pp-inks"

# The old PyTorch system on this machine: one fit of its winning config took about
# 1–2.5 s, and each of its 50 trials was one fit on one split (no CV), scored on test.
OLD_SECONDS_PER_FIT = (1.0, 2.5)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(REAL_DATA))
    parser.add_argument("--trials", type=int, default=50)
    parser.add_argument("--jobs", type=int, default=-1)
    args = parser.parse_args()
    if not Path(args.data).exists():
        print(f"skipped: the data folder {args.data} is absent", file=sys.stderr)
        return 0
    cores = os.cpu_count() or 1
    with tempfile.TemporaryDirectory() as models_dir:
        command = [sys.executable, "-m", "model", "search", "--data", args.data, "--trials", str(args.trials), "--jobs", str(args.jobs), "--out", models_dir]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        completed = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
        wall = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if completed.returncode != 0:
            print(completed.stderr[-3000:], file=sys.stderr)
            return completed.returncode
        run = json.loads(next(Path(models_dir, "search").glob("*/run.json")).read_text(encoding="utf-8"))
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    with open("/proc/loadavg", encoding="utf-8") as handle:
        load = handle.read().split()[0]
    print(f"$ {' '.join(command[1:-2])}")
    print(f"search space: {run['space_size']:,} combinations ({run['effective_space_size']:,} distinct models)")
    print(f"protocol: {run['protocol']}")
    print(f"wall clock, whole command:            {wall:6.1f} s   (load average at the end {load} on {cores} cores)")
    print(f"CPU, whole command incl. workers:     {cpu:6.1f} s   → {cpu / cores:.1f} s on {cores} idle cores")
    print(f"inside run_search: wall {run['seconds']:.1f} s, CPU in candidates {run['cpu_seconds']:.1f} s")
    low, high = (args.trials * seconds for seconds in OLD_SECONDS_PER_FIT)
    print(
        f"old system: {args.trials} trials × 1 fit (single split, ranked on its test split) × "
        f"{OLD_SECONDS_PER_FIT[0]:g}–{OLD_SECONDS_PER_FIT[1]:g} s = {low:.0f}–{high:.0f} s"
    )
    n_fits = args.trials * run["n_folds"] + run["n_finalists"]
    print(f"Huecast: {args.trials} trials × {run['n_folds']} leave-recipe-out folds + {run['n_finalists']} finalist fits = {n_fits} search fits, plus baseline and Kubelka–Munk")
    return 0


if __name__ == "__main__":
    sys.exit(main())
