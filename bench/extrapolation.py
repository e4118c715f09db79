"""Extrapolation on the real data: hold out the top of every single-pigment ladder, train on the rest.

    python bench/extrapolation.py [--seeds 0 1 2] [--data PATH]

Each single-pigment ladder's highest level (in pp-inks: GXT25, BiVaO20, PG2, PBLUE8) is
held out, both thicknesses and every repeat; each model is fitted on all other recipes
and scored on those, as mean ΔE00 (CIEDE2000, the headline CIELAB path) per recipe and
overall. Networks are seeded, so every model is fitted once per seed and the errors
are averaged over seeds. The models: the previous default (FormulationModel), the
fluorescent Kubelka–Munk physics alone, and the hybrid (the default since issue 12).
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

from model import load_dataset
from model.core import colorimetry
from model.models import FluorescentKubelkaMunkModel, FormulationModel, HybridModel

REAL_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "pp-inks"
MODELS = {
    "previous default (FormulationModel)": FormulationModel,
    "physics alone (FluorescentKubelkaMunkModel)": FluorescentKubelkaMunkModel,
    "hybrid (HybridModel, the default)": HybridModel,
}


def ladder_tops(dataset) -> list[str]:
    """The recipe at the highest level of each single-colorant series (one colorant present)."""
    table = dataset.table.drop_duplicates("recipe_id").set_index("recipe_id")[list(dataset.colorants)].astype(float)
    single = table[(table > 0).sum(axis=1) == 1]
    return [str(single[colorant].idxmax()) for colorant in dataset.colorants if (single[colorant] > 0).any()]


def score(model, train, test) -> pd.Series:
    prediction = model.fit(train).predict(test.recipes)
    delta_e00 = colorimetry.delta_E00(colorimetry.reflectance_to_Lab(test.reflectance), prediction.Lab)
    return pd.Series(delta_e00).groupby(test.recipe_ids).mean()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(REAL_DATA))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args()
    if not Path(args.data).exists():
        print(f"skipped: the real data folder {args.data} is absent", file=sys.stderr)
        return 0
    dataset, _ = load_dataset(args.data)
    tops = ladder_tops(dataset)
    held_out = np.isin(dataset.recipe_ids, tops)
    train, test = dataset.subset(~held_out), dataset.subset(held_out)
    print(f"held out (top of each ladder): {', '.join(tops)}; {len(test)} readings; trained on {train.n_recipes} recipes, {len(train)} readings")
    table = {}
    for label, make in MODELS.items():
        started = time.perf_counter()
        runs = [score(make().reseeded(seed), train, test) for seed in args.seeds]
        table[label] = pd.concat(runs, axis=1).mean(axis=1)
        print(f"{label}: mean ΔE00 {table[label].mean():.3f} over seeds {args.seeds} ({time.perf_counter() - started:.0f} s)")
    frame = pd.DataFrame(table)
    frame.loc["mean"] = frame.mean()
    print("\nΔE00 (CIEDE2000, headline path) per held-out recipe, mean over seeds:")
    print(frame.to_string(float_format=lambda v: f"{v:.2f}"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
