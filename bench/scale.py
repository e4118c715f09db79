"""How the default model's fit scales with a lab's database: films × colorants.

    python bench/scale.py [--sizes 200x5 800x5 800x12 3200x5 10000x12] [--jobs N] [--profile]
    python bench/scale.py --cluster-cv 3200x5 [--folds 5] [--seeds 0 1 2]
    python bench/scale.py --train-cv 10000x12 [--folds 5] [--seeds 0 1 2] [--jobs -1]

Each size runs in its own fresh process (so its peak memory is its own): it simulates a
database with :func:`model.simulate.scale.scale_dataset` (random one-to-three-colorant
recipes, each at 8 and 12 µm, read once with the simulated instrument's noise; the
demo's five colorants, then made-up absorbers), fits the default ``HybridModel()`` once
(``--jobs`` sets its ``n_jobs``), predicts 100,000 new recipes in process (1,000 at a time), and scores
the mean ΔE00 (CIEDE2000, D65 10°, headline path) on 1,000 held-out recipes × 2 films
against the simulator's noise-free truth. Peak memory is the process's VmHWM
(``/proc/self/status``). Prints one table, with the 1-minute load average beside each
row: on a shared machine the seconds are only as good as the load is low, so it also
prints the fit's CPU seconds (this process's; with ``--jobs`` the heads' worker processes
are not counted), which a busy machine inflates far less, the physics solver's iterations
and how many inner folds were fitted.
``--profile`` prints the top lines of a cProfile of each fit.

``--cluster-cv`` instead times ``python -m model train``'s cross-validation (5 folds ×
3 seeds of the default model) in one single-threaded process (what one worker does: joblib
runs a one-worker cluster's folds in the calling process), then on a ``LocalCluster`` of 2
single-threaded worker processes through joblib's Dask backend, as ``train --cluster
ADDRESS`` runs it (goal: ≥ 1.7× faster on 2 workers), and checks that both give the same scores.

``--train-cv`` times what ``python -m model train --jobs -1`` does on a simulated set
(:func:`model.jobs.training.train_and_evaluate`: 5 folds × 3 seeds of the default model on
every core, ``--jobs`` folds at a time, then the final fit; goal ≤ 15 min for 10,000 × 12),
with the peak memory of this process and the cross-validated mean ΔE00.

Goals (issue 27, quiet 2-core machine): 10,000 × 12 ≤ 120 s and 3,200 × 5 ≤ 30 s, peak
memory ≤ 3 GB; the held-out error falls as the data grow.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SIZES = ("200x5", "800x5", "800x12", "3200x5", "10000x12")
HELD_OUT_FILMS = 2_000
PREDICT_RECIPES = 100_000
#: Recipes per predict call: the uncertainty band's neighbour search holds a (chunk × training films) array.
PREDICT_CHUNK = 1_000


def peak_memory_gb() -> float:
    """This process's peak resident memory (VmHWM), GB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024 / 1e9
    return float("nan")


def run_one(n_films: int, n_colorants: int, jobs: int | None, profile: bool) -> dict:
    """Fit, predict and score one size in this process; the figures as a dict."""
    import numpy as np
    import pandas as pd

    from model.core import colorimetry
    from model.core.schema import THICKNESS_COLUMN
    from model.models import HybridModel
    from model.simulate.scale import random_mixtures, scale_dataset, synthetic_colorants

    dataset = scale_dataset(n_films, n_colorants, seed=0)
    held_out = scale_dataset(HELD_OUT_FILMS, n_colorants, seed=1, noise=False, first_recipe=10**6)
    model = HybridModel(n_jobs=jobs)
    load_before = os.getloadavg()[0]
    started, cpu_started = time.perf_counter(), time.process_time()
    if profile:
        import cProfile
        import io
        import pstats

        profiler = cProfile.Profile()
        profiler.runcall(model.fit, dataset)
        text = io.StringIO()
        pstats.Stats(profiler, stream=text).sort_stats("tottime").print_stats(8)
        profile_lines = [line for line in text.getvalue().splitlines() if line.strip()][-9:]
    else:
        model.fit(dataset)
        profile_lines = []
    fit_seconds, fit_cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
    load_after_fit = os.getloadavg()[0]

    _, maxima = synthetic_colorants(n_colorants)
    recipes = pd.DataFrame(random_mixtures(PREDICT_RECIPES, maxima, np.random.default_rng(7)), columns=list(dataset.colorants))
    recipes[THICKNESS_COLUMN] = np.tile([8.0, 12.0], PREDICT_RECIPES // 2)
    model.predict(recipes.head(10))  # builds the serving snapshot once; not what is measured
    started = time.perf_counter()
    for start in range(0, PREDICT_RECIPES, PREDICT_CHUNK):
        model.predict(recipes.iloc[start : start + PREDICT_CHUNK])
    predict_seconds = time.perf_counter() - started

    truth = colorimetry.reflectance_to_Lab(held_out.reflectance)
    predicted = np.vstack([model.predict(held_out.recipes.iloc[s : s + PREDICT_CHUNK]).Lab for s in range(0, len(held_out), PREDICT_CHUNK)])
    error = float(np.mean(colorimetry.delta_E00(predicted, truth)))
    return {
        "films": n_films, "colorants": n_colorants, "fit_s": fit_seconds, "fit_cpu_s": fit_cpu_seconds, "predict_100k_s": predict_seconds,
        "peak_gb": peak_memory_gb(), "held_out_delta_e00": error, "physics_iterations": getattr(model.physics_, "n_iterations_", None),
        "inner_folds_fitted": len(model._inner_folds(dataset)), "load_before": load_before, "load_after_fit": load_after_fit,
        "lab_weights": [round(float(w), 2) for w in model.lab_weights_], "profile": profile_lines,
    }


def cluster_cv(size: str, folds: int, seeds: list[int]) -> None:
    """Time the default model's cross-validation in one single-threaded process, then on a LocalCluster of 2
    single-threaded workers (joblib's Dask backend, as ``train --cluster ADDRESS`` runs it).

    The one-process run stands for one worker: on a cluster of one worker joblib runs every fold in the
    calling process whatever the backend (its effective n_jobs is 1), so that is what it would time anyway.
    It runs with the allocator settings ``joblib_backend`` gives every worker (``restore_malloc_thresholds``),
    so that the two differ only in the number of processes (they cut a 3,200 × 5 fit's page faults by
    two thirds, and its time by up to a tenth).
    """
    from dask.distributed import LocalCluster
    from threadpoolctl import threadpool_limits

    from model.evaluation import cross_validate
    from model.jobs.search import joblib_backend, restore_malloc_thresholds
    from model.models import HybridModel
    from model.simulate.scale import scale_dataset

    films, colorants = (int(v) for v in size.split("x"))
    dataset = scale_dataset(films, colorants, seed=0)
    scores = {}
    for workers in (1, 2):
        load = os.getloadavg()[0]
        started = time.perf_counter()
        if workers == 1:
            restore_malloc_thresholds()
            with threadpool_limits(limits=1):
                evaluation = cross_validate(dataset, HybridModel(), n_splits=folds, seeds=tuple(seeds), n_jobs=1)
        else:
            # Started as docs/pages/operations/cluster.md says (--preload model.jobs.dask_worker): the workers' imports,
            # like this process's for the one-process run, are done before the timed span.
            with LocalCluster(
                n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=":0", preload=["model.jobs.dask_worker"],
            ) as cluster:
                started = time.perf_counter()  # the cluster's start-up is not the cross-validation's
                with joblib_backend(cluster.scheduler_address):
                    evaluation = cross_validate(dataset, HybridModel(), n_splits=folds, seeds=tuple(seeds), n_jobs=-1)
        seconds = time.perf_counter() - started
        scores[workers] = (seconds, evaluation.metrics["delta_e00_mean_headline"])
        where = "one single-threaded process" if workers == 1 else f"a LocalCluster of {workers} single-threaded workers"
        print(f"{films:,} × {colorants}, {folds} folds × seeds {seeds} in {where}: {seconds:.0f} s "
              f"(mean ΔE00 {scores[workers][1]:.4f}; load average {load:.1f} before)", flush=True)
    same = "the same scores" if scores[1][1] == scores[2][1] else "DIFFERENT scores"
    print(f"speed-up with 2 workers: {scores[1][0] / scores[2][0]:.2f}× (goal ≥ 1.7×), {same}")


def train_cv(size: str, folds: int, seeds: list[int], jobs: int) -> None:
    """Time ``python -m model train``'s work (CV on ``jobs`` cores, then the final fit) on a simulated set."""
    from model.jobs.training import train_and_evaluate
    from model.models import HybridModel
    from model.simulate.scale import scale_dataset

    films, colorants = (int(v) for v in size.split("x"))
    dataset = scale_dataset(films, colorants, seed=0)
    load = os.getloadavg()[0]
    started = time.perf_counter()
    result = train_and_evaluate(dataset, HybridModel(), n_splits=folds, seeds=tuple(seeds), n_jobs=jobs)
    seconds = time.perf_counter() - started
    print(f"{films:,} × {colorants}: train with {folds} folds × seeds {seeds} on {jobs} job(s), then the final fit: {seconds:.0f} s "
          f"({seconds / 60:.1f} min; goal ≤ 15 min), CV mean ΔE00 {result.evaluation.metrics['delta_e00_mean_headline']:.4f}, "
          f"peak memory of this process {peak_memory_gb():.2f} GB; load average {load:.1f} before, {os.getloadavg()[0]:.1f} after", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", default=list(DEFAULT_SIZES), help="FILMSxCOLORANTS, e.g. 3200x5")
    parser.add_argument("--jobs", type=int, default=None, help="HybridModel(n_jobs=…): MLP heads in parallel (default: one at a time); "
                        "with --train-cv the folds at a time (default -1: every core)")
    parser.add_argument("--profile", action="store_true", help="print the top lines of a cProfile of each fit")
    parser.add_argument("--memory-limit-gb", type=float, default=8.0, help="address-space cap of each size's process (default 8): "
                        "a size that needs more fails with MemoryError instead of waking the kernel's OOM killer on a shared machine")
    parser.add_argument("--cluster-cv", metavar="FILMSxCOLORANTS", help="time the cross-validation on a LocalCluster of 1 and 2 workers instead")
    parser.add_argument("--train-cv", metavar="FILMSxCOLORANTS", help="time python -m model train's CV and final fit on a simulated set instead")
    parser.add_argument("--folds", type=int, default=5, help="with --cluster-cv or --train-cv (default 5)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="with --cluster-cv or --train-cv (default 0 1 2)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.cluster_cv:
        cluster_cv(args.cluster_cv, args.folds, args.seeds)
        return 0
    if args.train_cv:
        train_cv(args.train_cv, args.folds, args.seeds, -1 if args.jobs is None else args.jobs)
        return 0
    if args.child:
        import resource

        cap = int(args.memory_limit_gb * 1e9)
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
        films, colorants = (int(v) for v in args.child.split("x"))
        print(json.dumps(run_one(films, colorants, args.jobs, args.profile)))
        return 0

    header = (f"{'films × colorants':>18} | {'one fit':>8} | {'fit CPU':>8} | {'predict 100k':>12} | {'peak memory':>11} | "
              f"{'held-out ΔE00':>13} | {'LM iterations':>13} | {'inner folds':>11} | load (before / after fit)")
    print(f"HybridModel(n_jobs={args.jobs}); held-out: {HELD_OUT_FILMS:,} noise-free films of new recipes")
    print(header)
    print("-" * len(header))
    for size in args.sizes:
        command = [sys.executable, str(Path(__file__).resolve()), "--child", size, "--memory-limit-gb", str(args.memory_limit_gb)]
        command += ["--profile"] if args.profile else []
        if args.jobs is not None:
            command += ["--jobs", str(args.jobs)]
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
        if done.returncode != 0:
            print(f"{size:>18} | failed: {done.stderr.strip().splitlines()[-1] if done.stderr.strip() else done.returncode}")
            continue
        row = json.loads(done.stdout.strip().splitlines()[-1])
        print(f"{row['films']:>9,} × {row['colorants']:<6} | {row['fit_s']:>6.1f} s | {row['fit_cpu_s']:>6.1f} s | {row['predict_100k_s']:>10.2f} s | "
              f"{row['peak_gb']:>8.2f} GB | {row['held_out_delta_e00']:>13.3f} | {row['physics_iterations']!s:>13} | "
              f"{row['inner_folds_fitted']:>11} | {row['load_before']:.1f} / {row['load_after_fit']:.1f}", flush=True)
        for line in row["profile"]:
            print(f"    {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
