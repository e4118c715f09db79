"""Round-trip benchmark of inverse formulation on the real pp-inks data.

Trains the default configuration on all real measurements, then uses every measured
spectrum as a target and formulates for it (default constraints: every colorant within
its trained range, 8 and 12 µm). Reports the predicted ΔE00 of the best recipe, how close
its concentrations are to the true recipe, how often the true pigment set is recovered,
and the wall time per target.

    python bench/formulate.py [--every N]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from model import FormulationModel, load_dataset
from model.formulation import Target, formulate

REAL_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "pp-inks"
# A pigment counts as present above this loading (the smallest real non-zero level is 0.45 wt %).
PRESENT_WT_PERCENT = 0.1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--every", type=int, default=1, help="use every N-th measurement as a target (default all)")
    args = parser.parse_args()
    if not REAL_DATA.is_dir():
        print(f"skipped: real data absent at {REAL_DATA}")
        return 0
    dataset, _ = load_dataset(REAL_DATA)
    started = time.perf_counter()
    model = FormulationModel().fit(dataset)
    print(f"trained default config on {len(dataset)} measurements in {time.perf_counter() - started:.1f} s")
    colorants = list(dataset.colorants)
    upper = np.array([model.training_range_.maximum[c] for c in colorants])
    rows = []
    for index in range(0, len(dataset), args.every):
        truth = dataset.recipes.iloc[index]
        result = formulate(model, Target.from_sample(dataset, dataset.sample_ids[index]), n_candidates=3)
        best = result.best
        found = np.array([best.recipe[c] for c in colorants])
        true = truth[colorants].to_numpy(dtype=float)
        rows.append(
            {
                "delta_e00": best.delta_e00,
                "seconds": result.seconds,
                "mean_abs_wt": float(np.mean(np.abs(found - true))),
                "set_recovered": bool(np.array_equal(found > PRESENT_WT_PERCENT, true > 0)),
                "thickness_recovered": bool(np.isclose(best.recipe["thickness_um"], truth["thickness_um"])),
                "inside": bool(np.all(true < upper)),
                "any_candidate_set": any(
                    np.array_equal(np.array([c.recipe[n] for n in colorants]) > PRESENT_WT_PERCENT, true > 0) for c in result.candidates
                ),
            }
        )
    import pandas as pd

    table = pd.DataFrame(rows)
    for label, part in (("all targets", table), ("true recipe strictly inside the range", table[table.inside])):
        errors = part["delta_e00"]
        print(
            f"{label}: n={len(part)}  predicted ΔE00 to target median {errors.median():.3f}, max {errors.max():.3f}, "
            f"≤0.5 in {100 * (errors <= 0.5).mean():.0f} %"
        )
        print(
            f"  concentrations vs true recipe: mean |Δ| {part.mean_abs_wt.mean():.2f} wt % (median {part.mean_abs_wt.median():.2f}); "
            f"pigment set recovered by best {100 * part.set_recovered.mean():.0f} %, by any of 3 {100 * part.any_candidate_set.mean():.0f} %; "
            f"thickness recovered {100 * part.thickness_recovered.mean():.0f} %"
        )
    print(
        f"time per target (4 colorants, 2 thicknesses): median {table.seconds.median():.2f} s, "
        f"mean {table.seconds.mean():.2f} s, max {table.seconds.max():.2f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
