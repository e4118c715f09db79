"""Command line: ``python -m model {train,evaluate,predict} …``. Run with ``-h`` for help."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

__all__ = ["main"]


def _load_config(path: str | None):
    from .formulation_model import ModelConfig

    if path is None:
        return ModelConfig()
    return ModelConfig.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))


def _progress(fraction: float, message: str) -> None:
    print(f"\r[{fraction:6.1%}] {message:<60}", end="", file=sys.stderr, flush=True)
    if fraction >= 1:
        print(file=sys.stderr)


def _load_data(path: str):
    from .ingest import load_dataset

    dataset, report = load_dataset(path)
    if report is not None:
        print(report.summary(), file=sys.stderr)
    return dataset


def _cmd_train(args) -> int:
    from . import registry
    from .evaluation import format_metrics
    from .training import save_trained, train_and_evaluate

    dataset = _load_data(args.data)
    result = train_and_evaluate(
        dataset, _load_config(args.config), n_splits=args.folds, seeds=tuple(args.seeds), n_jobs=args.jobs, progress=_progress
    )
    card = save_trained(result, models_dir=args.out)
    print(format_metrics(result.evaluation.metrics, title=f"Model {card.version} (headline path: {result.model.config.headline})"))
    first_model = registry.champion_version(args.out) is None
    if args.promote or first_model:
        registry.promote(card.version, args.out)
        why = "" if args.promote else " (the first model in this directory)"
        print(f"Promoted {card.version} to champion{why}.")
    print(f"Saved to {Path(args.out or registry.settings.models_dir()) / card.version}")
    return 0


def _cmd_evaluate(args) -> int:
    from .evaluation import cross_validate, format_metrics

    dataset = _load_data(args.data)
    config = _load_config(args.config)
    evaluation = cross_validate(dataset, config, n_splits=args.folds, seeds=tuple(args.seeds), n_jobs=args.jobs, progress=_progress)
    headline = evaluation.best_headline()
    print(format_metrics(evaluation.with_headline(headline).metrics, title=f"Leave-recipe-out evaluation (headline: {headline})"))
    if args.per_recipe:
        print(evaluation.per_recipe().to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    return 0


def _cmd_predict(args) -> int:
    from . import registry
    from .ingest import IngestError, read_recipes_for_prediction
    from .safe_csv import write_csv

    model, card = registry.load_from_path(args.model)
    try:
        recipes, problems = read_recipes_for_prediction(args.input, list(model.colorants_), name=Path(args.input).name)
    except IngestError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    for problem in problems:
        print(f"skipped: {problem}", file=sys.stderr)
    prediction = model.predict(recipes)
    passthrough = recipes.drop(columns=model.input_columns)
    table = prediction.to_frame()
    table = table.join(passthrough.reset_index(drop=True)) if passthrough.shape[1] else table
    write_csv(table[[*passthrough.columns, *prediction.to_frame().columns]], args.output)
    print(f"Predicted {len(recipes)} recipes with model {card.version} -> {args.output}", file=sys.stderr)
    return 1 if problems else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m model", description="Huecast: predict film colour from a recipe.")
    commands = parser.add_subparsers(dest="command", required=True)

    def add_cv_options(command):
        command.add_argument("--data", required=True, help="folder with an instrument export and a recipe table, or a tidy CSV")
        command.add_argument("--config", help="JSON file of ModelConfig fields (default: the shipped default config)")
        command.add_argument("--folds", type=int, default=5, help="leave-recipe-out folds (default 5)")
        command.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="CV repeats (default 0 1 2)")
        command.add_argument("--jobs", type=int, default=1, help="folds in parallel; -1 for every core")

    train = commands.add_parser("train", help="cross-validate, fit on all data, save a new model version")
    add_cv_options(train)
    train.add_argument("--out", help="models directory (default trained_models/)")
    train.add_argument("--promote", action="store_true", help="make the new model the champion")
    train.set_defaults(run=_cmd_train)

    evaluate = commands.add_parser("evaluate", help="print the leave-recipe-out evaluation table")
    add_cv_options(evaluate)
    evaluate.add_argument("--per-recipe", action="store_true", help="also print mean ΔE00 per recipe")
    evaluate.set_defaults(run=_cmd_evaluate)

    predict = commands.add_parser("predict", help="predict a CSV of recipes")
    predict.add_argument("--model", required=True, help="a model version folder, or a models directory (uses its champion)")
    predict.add_argument("--input", required=True, help="CSV: one column per colorant (wt %%) plus thickness_um")
    predict.add_argument("--output", required=True, help="where to write the predictions CSV")
    predict.set_defaults(run=_cmd_predict)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
