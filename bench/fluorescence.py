"""Leave-recipe-out accuracy of the fluorescence head (ct/s) on the real data, beside a plain baseline.

    python bench/fluorescence.py [--seeds 0 1 2] [--folds 5] [--variants]

Reads ../shared/data/pp-inks (the real measurements and Fluorescence.csv; never copied
into the repo) and skips with a message when it is absent. The folds are the ones every
colour model is evaluated on (``model.evaluation.grouped_folds``: grouped by recipe, so a
recipe's 8 µm and 12 µm films are held out together), and each seed reseeds the head as a
model's ``reseeded(seed)`` does. Scores are over the held-out films that have a reading.

Rows:

- ``head``: :class:`model.models.fluorescence.FluorescenceHead` with its defaults, the
  head every colour model fits;
- ``baseline``: a plain linear regression on the concentrations (wt %), the amounts per
  area (wt % × µm) and the square roots of the concentrations, on every film with a
  reading (the issue's reference: "about 490 ct/s, R² 0.88").

``--variants`` adds the alternatives the defaults were chosen from (on this CV only).
Goal (issue 13): MAE ≤ 300 ct/s and R² ≥ 0.93.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np
import pandas as pd
from sklearn.linear_model import LinearRegression

from model import load_dataset
from model.core.schema import RECIPE_ID_COLUMN, THICKNESS_COLUMN
from model.evaluation import fluorescence_metrics, grouped_folds, per_recipe_fluorescence
from model.evaluation.metrics import FLUORESCENCE_MEASURED, FLUORESCENCE_PREDICTED
from model.models.base import SEED_STRIDE
from model.models.fluorescence import FluorescenceHead, fluorescence_readings

REAL_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "pp-inks"


def baseline_features(X: np.ndarray) -> np.ndarray:
    """Concentrations (wt %), amounts per area (wt % × µm) and √concentrations: the plain baseline's inputs."""
    concentration, thickness = X[:, :-1], X[:, -1:]
    return np.column_stack([concentration, concentration * thickness, np.sqrt(concentration)])


class Baseline:
    """Linear regression on :func:`baseline_features`, fitted on every film with a reading."""

    def fit(self, X, readings, colorants):
        measured = np.isfinite(readings)
        self.regression = LinearRegression().fit(baseline_features(X[measured]), readings[measured])
        return self

    def predict(self, X):
        return self.regression.predict(baseline_features(X))


def rows(variants: bool) -> dict:
    """name → callable(seed) returning an unfitted predictor with ``fit(X, readings, colorants)`` and ``predict(X)``."""
    chosen = {
        "head": lambda seed: FluorescenceHead(random_state=SEED_STRIDE * seed),
        "baseline": lambda seed: Baseline(),
    }
    if not variants:
        return chosen
    return {
        **chosen,
        "head alpha=0.1": lambda seed: FluorescenceHead(alpha=0.1, random_state=SEED_STRIDE * seed),
        "head alpha=3": lambda seed: FluorescenceHead(alpha=3.0, random_state=SEED_STRIDE * seed),
        "head (32,)": lambda seed: FluorescenceHead(hidden_layer_sizes=(32,), random_state=SEED_STRIDE * seed),
        "head (8, 8)": lambda seed: FluorescenceHead(hidden_layer_sizes=(8, 8), random_state=SEED_STRIDE * seed),
        "head 1 network": lambda seed: FluorescenceHead(n_ensemble=1, random_state=SEED_STRIDE * seed),
        "head 5 networks": lambda seed: FluorescenceHead(n_ensemble=5, random_state=SEED_STRIDE * seed),
    }


def out_of_fold(make, dataset, readings: np.ndarray, seeds, n_splits: int) -> pd.DataFrame:
    """Every held-out film with a reading: recipe, seed, measured and predicted ct/s."""
    X = dataset.table[[*dataset.colorants, THICKNESS_COLUMN]].astype(float).to_numpy()
    frames = []
    for seed in seeds:
        for train, test in grouped_folds(dataset.recipe_ids, n_splits, seed):
            if not np.isfinite(readings[train]).any():
                continue
            predictor = make(seed).fit(X[train], readings[train], dataset.colorants)
            scored = test[np.isfinite(readings[test])]
            frames.append(pd.DataFrame({
                "seed": seed, RECIPE_ID_COLUMN: dataset.recipe_ids[scored],
                FLUORESCENCE_MEASURED: readings[scored], FLUORESCENCE_PREDICTED: predictor.predict(X[scored]),
            }))
    return pd.concat(frames, ignore_index=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--variants", action="store_true", help="also score the alternatives the head's defaults were chosen from")
    args = parser.parse_args(argv)
    if not REAL_DATA.is_dir():
        print(f"Skipped: the real data folder {REAL_DATA} is absent (it holds the measurements and Fluorescence.csv).")
        return 0
    dataset, _ = load_dataset(REAL_DATA)
    readings = fluorescence_readings(dataset)
    if readings is None:
        print(f"Skipped: {REAL_DATA} has no fluorescence readings (expected Fluorescence.csv beside the measurements).")
        return 0
    print(
        f"{dataset.name}: {int(np.isfinite(readings).sum())} of {len(dataset)} films have a reading "
        f"({dataset.n_recipes} recipes); leave-recipe-out, {args.folds} folds × seeds {args.seeds}\n"
    )
    print(f"{'model':<16}{'MAE ct/s':>10}{'RMSE ct/s':>11}{'R²':>8}{'seconds':>9}   worst recipe (mean |error| ct/s)")
    for name, make in rows(args.variants).items():
        started = time.perf_counter()
        per_sample = out_of_fold(make, dataset, readings, args.seeds, args.folds)
        by_seed = pd.DataFrame([fluorescence_metrics(group) for _, group in per_sample.groupby("seed")])
        worst = per_recipe_fluorescence(per_sample).iloc[0]
        print(
            f"{name:<16}{by_seed['fluorescence_mae'].mean():>10.0f}{by_seed['fluorescence_rmse'].mean():>11.0f}"
            f"{by_seed['fluorescence_r2'].mean():>8.3f}{time.perf_counter() - started:>9.1f}   "
            f"{worst[RECIPE_ID_COLUMN]} ({worst['fluorescence_abs_error_cts']:.0f})",
            flush=True,
        )
    print("\nMetrics are per seed over the held-out films with a reading, then averaged over seeds. Goal: MAE ≤ 300 ct/s, R² ≥ 0.93.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
