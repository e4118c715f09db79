"""Leave-recipe-out accuracy on the real data: the shipped default config against the old system's.

    python bench/accuracy.py [--seeds 0 1 2] [--folds 5] [--jobs 2] [--per-recipe]

Reads ../shared/data/pp-inks (the real measurements; never copied into the repo).
Prints, for each configuration, the full table (ΔE00 mean/median/p95/max for each
CIELAB path, spectral MAE/RMSE/R², the old system's normalised CIELAB MAE), the
headline path chosen by validation, and optionally the per-recipe errors.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from model import ModelConfig, cross_validate, format_metrics, load_dataset  # noqa: E402
from model.formulation_model import LEGACY_CONFIG  # noqa: E402

REAL_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "pp-inks"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(REAL_DATA))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--per-recipe", action="store_true")
    args = parser.parse_args()
    if not Path(args.data).exists():
        print(f"skipped: the real data folder {args.data} is absent", file=sys.stderr)
        return 0
    dataset, _ = load_dataset(args.data)
    for label, config in (("Huecast default", ModelConfig()), ("old system's config (LEGACY_CONFIG)", LEGACY_CONFIG)):
        started = time.perf_counter()
        evaluation = cross_validate(dataset, config, n_splits=args.folds, seeds=tuple(args.seeds), n_jobs=args.jobs)
        headline = evaluation.best_headline()
        evaluation = evaluation.with_headline(headline)
        seconds = time.perf_counter() - started
        title = f"== {label}: {args.folds} folds × seeds {args.seeds}, headline {headline}, {seconds:.0f} s =="
        print(format_metrics(evaluation.metrics, title=title))
        spread = evaluation.metrics_by_seed["delta_e00_mean_headline"]
        print(f"mean ΔE00 by seed: {', '.join(f'{v:.3f}' for v in spread)}\n")
        if args.per_recipe:
            print(evaluation.per_recipe().to_string(index=False, float_format=lambda v: f"{v:.3f}"), "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
