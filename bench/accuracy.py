"""Leave-recipe-out accuracy on the real data: the models side by side, in one run.

    python bench/accuracy.py [--seeds 0 1 2] [--folds 5] [--jobs 2] [--per-recipe] [--only hybrid physics ...]
                             [--set inner_folds=2 n_ensemble=2]

Rows: ``hybrid`` (the shipped default since issue 12: fluorescent Kubelka–Munk physics
with MLP residual heads, blended on inner validation), ``physics`` (that physics model
alone), ``mlp`` (the previous default: three small MLPs per head) and ``legacy`` (the
old system's configuration).

Reads ../shared/data/pp-inks (the real measurements; never copied into the repo).
Prints, for each configuration, the full table (ΔE00 mean/median/p95/max for each
CIELAB path, spectral MAE/RMSE/R², the old system's normalised CIELAB MAE), the
headline path chosen by validation, where the error is (ladder end points, ladder
interiors, mixtures), and the calibration of the stated uncertainty: how often the
real error falls inside k times the band. ``--per-recipe`` lists every recipe.
``--set NAME=VALUE ...`` scores the rows with those hyperparameters changed (values are
Python literals; each row takes the ones it has), to try a cheaper or different setting
against the defaults.
"""

from __future__ import annotations

import argparse
import ast
import os
import sys
import time
from pathlib import Path

# One BLAS thread per process: the folds already run in parallel, and nested BLAS
# threads on a shared machine make a 100-row fit tens of times slower.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


import pandas as pd

from model import FormulationModel, cross_validate, format_metrics, load_dataset
from model.evaluation import calibration_table
from model.models import FluorescentKubelkaMunkModel, HybridModel
from model.models.mlp import legacy_model
from model.models.uncertainty import BAND_SCALE

#: name → (label, unfitted model, spread-to-band factor of its uncertainty, or "calibrated")
ROWS = {
    "hybrid": ("Huecast default: HybridModel()", HybridModel, "calibrated"),  # model/models/difficulty.py, not a scaled spread
    "physics": ("fluorescent Kubelka–Munk alone: FluorescentKubelkaMunkModel()", FluorescentKubelkaMunkModel, None),
    "mlp": ("previous default: FormulationModel()", FormulationModel, BAND_SCALE),
    "legacy": ("old system's config (legacy_model())", legacy_model, None),
}

REAL_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "pp-inks"


def recipe_kinds(dataset) -> pd.Series:
    """Label each recipe ``ladder end`` / ``ladder interior`` (one colorant) or ``mixture``.

    A ladder end is the lowest or highest level of a single-colorant series: held out,
    the model has to extrapolate to it.
    """
    table = dataset.table.drop_duplicates("recipe_id").set_index("recipe_id")[list(dataset.colorants)].astype(float)
    present = table > 0
    kinds = pd.Series("mixture", index=table.index)
    for colorant in dataset.colorants:
        ladder = table[present.sum(axis=1).eq(1) & present[colorant]][colorant]
        for recipe, level in ladder.items():
            kinds[recipe] = "ladder end" if level in (ladder.min(), ladder.max()) else "ladder interior"
    return kinds


def hyperparameters(assignments: list[str]) -> dict:
    """``["inner_folds=2", "hidden_layer_sizes=(16,)"]`` → ``{"inner_folds": 2, "hidden_layer_sizes": (16,)}``."""
    changes = {}
    for assignment in assignments:
        name, separator, value = assignment.partition("=")
        if not separator or not name.strip():
            raise SystemExit(f"--set {assignment!r}: use NAME=VALUE, e.g. inner_folds=2.")
        try:
            changes[name.strip()] = ast.literal_eval(value.strip())
        except (ValueError, SyntaxError):
            raise SystemExit(f"--set {assignment!r}: the value must be a Python literal, e.g. 2, 0.1 or (16,).") from None
    return changes


def configured(make, changes: dict):
    """The row's unfitted model with the ``changes`` it has as hyperparameters."""
    model = make()
    own = {name: value for name, value in changes.items() if name in model.get_params(deep=False)}
    return model.set_params(**own) if own else model


def evaluate(dataset, model, folds, seeds, jobs):
    evaluation = cross_validate(dataset, model, n_splits=folds, seeds=tuple(seeds), n_jobs=jobs)
    headline = evaluation.best_headline()
    evaluation = evaluation.with_headline(headline)
    return headline, evaluation.metrics, evaluation.metrics_by_seed, evaluation.per_sample


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(REAL_DATA))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--per-recipe", action="store_true")
    parser.add_argument("--only", nargs="+", choices=sorted(ROWS), default=list(ROWS), help="rows to score (default: all four)")
    parser.add_argument("--set", nargs="+", default=[], metavar="NAME=VALUE", help="hyperparameters to change in every row that has them")
    args = parser.parse_args()
    changes = hyperparameters(args.set)
    if not Path(args.data).exists():
        print(f"skipped: the real data folder {args.data} is absent", file=sys.stderr)
        return 0
    dataset, _ = load_dataset(args.data)
    kinds = recipe_kinds(dataset)
    for name in args.only:
        label, make, band_scale = ROWS[name]
        config = configured(make, changes)
        started = time.perf_counter()
        headline, metrics, by_seed, per_sample = evaluate(dataset, config, args.folds, args.seeds, args.jobs)
        seconds = time.perf_counter() - started
        changed = {name: value for name, value in changes.items() if name in config.get_params(deep=False)}
        if changed:
            label += " with " + ", ".join(f"{name}={value!r}" for name, value in changed.items())
        title = f"== {label}: {args.folds} folds × seeds {args.seeds}, headline {headline}, {seconds:.0f} s =="
        print(format_metrics(metrics, title=title))
        print(f"mean ΔE00 (headline) by seed: {', '.join(f'{v:.3f}' for v in by_seed['delta_e00_mean_headline'])}")
        per_recipe = per_sample.groupby("recipe_id")[["delta_e00", "spectral_mae", "uncertainty"]].mean()
        per_recipe["kind"] = kinds.reindex(per_recipe.index)
        by_kind = per_recipe.groupby("kind")["delta_e00"].agg(["count", "mean", "max"])
        print("where the error is (headline ΔE00 averaged per recipe):")
        print(by_kind.rename(columns={"count": "recipes"}).to_string(float_format=lambda v: f"{v:.2f}"))
        worst = per_recipe.sort_values("delta_e00", ascending=False)
        print("worst 8 recipes: " + ", ".join(f"{r} ({row.kind}) {row.delta_e00:.2f}" for r, row in worst.head(8).iterrows()))
        if per_sample["uncertainty"].notna().any():
            table = calibration_table(per_sample["delta_e00"], per_sample["uncertainty"])
            band = "its calibrated 90 % band" if band_scale == "calibrated" else f"band = {band_scale:g} × ensemble RMS spread"
            print(f"uncertainty calibration ({band}, headline path; "
                  f"median band {per_sample['uncertainty'].median():.2f} ΔE00):")
            print("  " + "   ".join(f"within {row.multiple:g}×band: {100 * row.fraction_within:.0f}%" for row in table.itertuples())
                  + f"   (Spearman band vs error {table.attrs['spearman']:.2f}, n={int(table['n'].iloc[0])})")
        else:
            print("uncertainty: a single fitted model has no ensemble spread (NaN)")
        if args.per_recipe:
            print(worst.to_string(float_format=lambda v: f"{v:.3f}"))
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
