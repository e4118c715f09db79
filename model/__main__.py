"""Command line: ``python -m model {train,evaluate,predict,report,search,sign,backup,restore} …``. Run with ``-h`` for help."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

__all__ = ["main"]


def _load_model(path: str | None):
    """The unfitted model a ``--config`` JSON file describes: hyperparameters, plus an optional ``kind``."""
    from model.models.base import DEFAULT_MODEL, model_from_config

    config = {} if path is None else json.loads(Path(path).read_text(encoding="utf-8"))
    return model_from_config(config.pop("kind", DEFAULT_MODEL), config)


def _progress(fraction: float, message: str) -> None:
    print(f"\r[{fraction:6.1%}] {message:<60}", end="", file=sys.stderr, flush=True)
    if fraction >= 1:
        print(file=sys.stderr)


def _load_data(path: str):
    from model.io import load_dataset

    dataset, report = load_dataset(path)
    if report is not None:
        print(report.summary(), file=sys.stderr)
    return dataset


def _cmd_train(args) -> int:
    from model.auth.access import LOCAL_ADMIN
    from model.evaluation import format_metrics
    from model.jobs.search import joblib_backend
    from model.jobs.training import save_trained, train_and_evaluate
    from model.registry.registry import ModelRegistry

    models = ModelRegistry(args.out)
    models.check_writable()  # before minutes of cross-validation, not after
    dataset = _load_data(args.data)
    # On a cluster the folds run on its workers (joblib's dask backend sends the data to a worker once,
    # not once per fold); n_jobs=-1 there means every worker. The final fit runs here.
    with joblib_backend(args.cluster):
        result = train_and_evaluate(
            dataset, _load_model(args.config), n_splits=args.folds, seeds=tuple(args.seeds), n_jobs=-1 if args.cluster else args.jobs,
            progress=_progress,
        )
    card = save_trained(result, models_dir=args.out)
    print(format_metrics(result.evaluation.metrics, title=f"Model {card.version} (headline path: {result.model.headline})"))
    first_model = models.champion_version() is None
    if args.promote or first_model:
        # The one door to the champion: a comparison on the same folds, its verdict, then --yes.
        from model.jobs import retrain
        from model.registry import promotion

        if not first_model:
            retrain.score_against_champion(result, card.version, models_dir=args.out, n_splits=args.folds, seeds=tuple(args.seeds), progress=_progress)
        print(f"Verdict: {promotion.verdict(card.version, models_dir=args.out).sentence}")
        try:
            # Whoever runs the command line on this machine already owns its files: a local admin. The first
            # model in a directory has nothing to be compared with, so it serves without --yes (said above).
            promotion.promote(card.version, user=LOCAL_ADMIN, confirm=args.yes or first_model, override_reason=args.override_reason, models_dir=args.out)
        except promotion.PromotionRefused as refusal:
            remedy = {"confirm": "run it with --yes to promote after reading the verdict",
                      "override_reason": "add --override-reason \"why\" to promote it anyway; the reason is kept in the promotions log"}
            print(f"Not promoted: {remedy.get(refusal.field, refusal)}. {card.version} is saved as a challenger; promote it on the Retrain page, "
                  "with POST /api/v1/model/promote, or train again with --promote.", file=sys.stderr)
            return 1
        why = "" if args.promote else " (the first model in this directory)"
        print(f"Promoted {card.version} to champion{why}.")
    print(f"Saved to {models.root / card.version}")
    return 0


def _cmd_evaluate(args) -> int:
    from model.evaluation import cross_validate, format_metrics

    dataset = _load_data(args.data)
    evaluation = cross_validate(dataset, _load_model(args.config), n_splits=args.folds, seeds=tuple(args.seeds), n_jobs=args.jobs, progress=_progress)
    headline = evaluation.best_headline()
    print(format_metrics(evaluation.with_headline(headline).metrics, title=f"Leave-recipe-out evaluation (headline: {headline})"))
    if args.per_recipe:
        print(evaluation.per_recipe().to_string(index=False, float_format=lambda v: f"{v:.3f}"))
        fluorescence = evaluation.per_recipe_fluorescence()
        if fluorescence is not None:
            print("\nFluorescence per recipe (ct/s), worst first:")
            print(fluorescence.to_string(index=False, float_format=lambda v: f"{v:.0f}"))
    return 0


def _cmd_predict(args) -> int:
    from model.io import IngestError
    from model.registry import registry
    from model.serving.batch import predict_csv_to_file

    model, card = registry.load_predictor_from_path(args.model)  # the serving snapshot when the model has one
    try:
        # The same reading and prediction as the dashboard's Batch page; no row cap on the command line,
        # and the predictions are written a chunk at a time, so a million recipes fit in memory.
        result = predict_csv_to_file(
            args.input, model, args.output, name=Path(args.input).name, chunk_rows=args.chunk_rows, n_jobs=args.jobs
        )
    except IngestError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    for message in result.warnings:
        print(f"warning: {message}", file=sys.stderr)
    for problem in result.problems:
        print(f"skipped: {problem}", file=sys.stderr)
    print(f"Predicted {result.n_predicted} recipes with model {card.version} -> {args.output}", file=sys.stderr)
    return 1 if result.problems else 0


def _cmd_report(args) -> int:
    from model.presentation.report import build_report
    from model.registry import registry, review
    from model.registry.registry import ModelRegistry

    source = Path(args.model) if args.model else ModelRegistry().root
    if (source / registry.CARD_FILE).is_file():
        version, models = source.name, ModelRegistry(source.parent)
    else:
        models = ModelRegistry(source)
        version = models.champion_version()
        if version is None:
            print(f"error: no champion in {source}; pass --model with a model version folder, or train one first.", file=sys.stderr)
            return 2
    card = models.read_card(version)
    out_of_fold = review.out_of_fold_table(card, models.root, progress=_progress)
    if out_of_fold is None:
        print("warning: the training data of this model cannot be found; the report shows summary figures only.", file=sys.stderr)
    Path(args.out).write_text(build_report(card, out_of_fold, models.root), encoding="utf-8")
    print(f"Wrote the report of model {version} to {args.out}", file=sys.stderr)
    return 0


def _cmd_search(args) -> int:
    import time

    from model.jobs import search
    from model.registry.registry import ModelRegistry

    started = time.perf_counter()
    ModelRegistry(args.out).check_writable()  # the run is saved under <out>/search/: fail before the trials, not after
    dataset = _load_data(args.data)
    champion, version = search.champion_configuration(args.out)
    print(
        f"Search space: {search.search_space_size():,} configurations of the served kind ({search.SEARCHED_KIND}); "
        f"the champion's configuration ({version or 'no champion: the default model'}) is scored beside them",
        file=sys.stderr,
    )
    result = search.run_search(
        dataset, n_trials=args.trials, seed=args.seed, n_folds=args.folds, test_fraction=args.test_fraction, n_jobs=args.jobs, progress=_progress,
        cluster=args.cluster, champion=champion, champion_version=version,
    )
    run_dir = search.save_search(result, args.out)
    print(f"Protocol: {result.meta['protocol']}")
    columns = ["rank", "candidate", "layers", "activation", "n_ensemble", "max_iter", "input_transform", "alpha", "residual_alpha",
               "physics_ridge", "physics_smoothness", "blend_step", "n_parameters", "cv_delta_e00_mean_headline",
               "test_delta_e00_mean_headline", "test_delta_e00_p95_headline", "test_spectral_mae", "fit_seconds"]
    print(f"\nTop {result.meta['n_finalists']} (ranked on CV; test recipes scored once, after ranking):")
    print(result.top()[columns].to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    print("\nBaseline against optimised, on the test recipes:")
    print(result.comparison().to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    reference = result.references.set_index("candidate")
    for name in search.REFERENCES:
        print(f"{name}: CV mean ΔE00 {reference.loc[name, 'cv_delta_e00_mean_headline']:.3f}, test mean ΔE00 {reference.loc[name, 'test_delta_e00_mean_headline']:.3f}")
    print(f"\nSearch ({result.meta['n_trials']} trials, n_jobs={args.jobs}) took {result.meta['seconds']:.1f} s; "
          f"command total {time.perf_counter() - started:.1f} s. Saved to {run_dir}")
    return 0


def _cmd_sign(args) -> int:
    from model.registry import registry
    from model.registry.registry import ModelRegistry

    models = ModelRegistry(args.models_dir)
    if args.all:  # every folder with a card, signed or not: list_cards would skip the unsigned ones
        versions = sorted(p.name for p in models.root.iterdir() if not p.name.startswith(".") and (p / registry.CARD_FILE).is_file())
    else:
        versions = [args.version]
    for version in versions:
        card = models.sign_card(version)
        headline = card.metrics.get("delta_e00_mean_headline")
        shown = "unknown" if headline is None else f"{headline:.3f}"
        print(f"Signed {card.version} ({card.kind}, created {card.created_at}, mean ΔE00 {shown}); its files match the card.")
    return 0


def _versions(versions) -> str:
    return f"{len(versions)} model version" + ("" if len(versions) == 1 else "s")


def _cmd_backup(args) -> int:
    from model.registry import backup

    summary = backup.backup(args.out, models_dir=args.models_dir, data_dir=args.data_dir)
    store = "no measurement store" if summary.n_measurements is None else f"{summary.n_measurements:,} measurements"
    print(f"Backed up {store}, {_versions(summary.versions)} (champion {summary.champion}) "
          f"to {summary.path} ({summary.n_bytes / 1e6:.1f} MB).")
    return 0


def _cmd_restore(args) -> int:
    from model.registry import backup

    summary = backup.restore(args.file, models_dir=args.models_dir, data_dir=args.data_dir)
    store = "no measurement store" if summary.n_measurements is None else f"{summary.n_measurements:,} measurements"
    print(f"Restored {store} to {summary.data_dir} and {_versions(summary.versions)} "
          f"(champion {summary.champion}) to {summary.models_dir}.")
    for problem in summary.problems:
        print(f"warning: {problem}", file=sys.stderr)
    return 1 if summary.problems else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m model", description="Huecast: predict film colour from a recipe.")
    commands = parser.add_subparsers(dest="command", required=True)
    _add_model_commands(commands)
    _add_search_command(commands)
    _add_admin_commands(commands)
    return parser


def _add_cv_options(command) -> None:
    command.add_argument("--data", required=True, help="folder with an instrument export and a recipe table, or a tidy CSV")
    command.add_argument("--config", help="JSON file of model hyperparameters, optionally with \"kind\" (default: HybridModel's defaults)")
    command.add_argument("--folds", type=int, default=5, help="leave-recipe-out folds (default 5)")
    command.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="CV repeats (default 0 1 2)")
    command.add_argument("--jobs", type=int, default=1, help="folds in parallel; -1 for every core")


def _add_model_commands(commands) -> None:
    """train, evaluate, predict and report."""
    train = commands.add_parser("train", help="cross-validate, fit on all data, save a new model version")
    _add_cv_options(train)
    train.add_argument("--out", help="models directory (default HUECAST_MODELS_DIR, else trained_models/)")
    train.add_argument("--promote", action="store_true", help="compare with the champion on the same folds, print the verdict, promote with --yes")
    train.add_argument("--yes", action="store_true", help="with --promote: confirm the promotion after the verdict (without it, nothing is promoted)")
    train.add_argument("--cluster", metavar="ADDRESS", help="run the cross-validation's folds on a Dask cluster, e.g. tcp://scheduler:8786 (default: this machine's cores)")
    train.add_argument("--override-reason", help="with --promote --yes: why a model that predicts worse than the champion serves anyway (logged)")
    train.set_defaults(run=_cmd_train)

    evaluate = commands.add_parser("evaluate", help="print the leave-recipe-out evaluation table")
    _add_cv_options(evaluate)
    evaluate.add_argument("--per-recipe", action="store_true", help="also print mean ΔE00 per recipe (and fluorescence error per recipe, ct/s)")
    evaluate.set_defaults(run=_cmd_evaluate)

    predict = commands.add_parser("predict", help="predict a CSV of recipes")
    predict.add_argument("--model", required=True, help="a model version folder, or a models directory (uses its champion)")
    predict.add_argument("--input", required=True, help="CSV: one column per colorant (wt %%) plus thickness_um")
    predict.add_argument("--output", required=True, help="where to write the predictions CSV")
    predict.add_argument("--chunk-rows", type=int, default=10_000, help="recipes predicted and written at a time (default 10,000, as the Batch page)")
    predict.add_argument("--jobs", type=int, default=-1, help="chunks predicted in parallel (default -1: every core; a file of one chunk is predicted in this process)")
    predict.set_defaults(run=_cmd_predict)

    report = commands.add_parser("report", help="write the stakeholder accuracy report as one self-contained HTML file")
    report.add_argument("--out", required=True, help="where to write the HTML report")
    report.add_argument("--model", help="a model version folder, or a models directory (its champion); default HUECAST_MODELS_DIR, else trained_models/")
    report.set_defaults(run=_cmd_report)


def _add_search_command(commands) -> None:
    search = commands.add_parser("search", help="honest random hyperparameter search: rank on leave-recipe-out CV, report on held-out recipes")
    search.add_argument("--data", required=True, help="folder with an instrument export and a recipe table, or a tidy CSV")
    search.add_argument("--trials", type=int, default=50, help="configurations to try (default 50)")
    search.add_argument("--jobs", type=int, default=1, help="trials in parallel; -1 for every core")
    search.add_argument("--seed", type=int, default=0, help="seeds the test split, the sampling and the folds (default 0)")
    search.add_argument("--folds", type=int, default=3, help="leave-recipe-out folds on the training recipes (default 3)")
    search.add_argument("--test-fraction", type=float, default=0.2, help="share of recipes held out as test (default 0.2)")
    search.add_argument("--out", help="models directory; results go to <out>/search/<run id>/ (default HUECAST_MODELS_DIR, else trained_models/)")
    search.add_argument("--cluster", metavar="ADDRESS", help="run the trials on a Dask cluster, e.g. tcp://scheduler:8786 (default: this machine's cores)")
    search.set_defaults(run=_cmd_search)


def _add_admin_commands(commands) -> None:
    """sign, backup and restore."""
    sign = commands.add_parser("sign", help="sign model cards with the server secret (after checking their files), so a server that has one loads them")
    which = sign.add_mutually_exclusive_group(required=True)
    which.add_argument("--version", help="the model version to sign")
    which.add_argument("--all", action="store_true", help="sign every saved version")
    sign.add_argument("--models-dir", help="models directory (default HUECAST_MODELS_DIR, else trained_models/)")
    sign.set_defaults(run=_cmd_sign)

    backup = commands.add_parser("backup", help="write the measurement store and every model version to one file (safe while the server runs)")
    backup.add_argument("--out", required=True, help="the backup file to write, e.g. huecast-2026-01-31.tar.gz")
    backup.add_argument("--models-dir", help="models directory (default HUECAST_MODELS_DIR, else trained_models/)")
    backup.add_argument("--data-dir", help="data directory holding the measurement store (default HUECAST_DATA_DIR, else data/store/)")
    backup.set_defaults(run=_cmd_backup)

    restore = commands.add_parser("restore", help="restore a backup into an empty models directory and an empty data directory")
    restore.add_argument("file", help="a file written by python -m model backup")
    restore.add_argument("--models-dir", help="empty or new models directory (default HUECAST_MODELS_DIR)")
    restore.add_argument("--data-dir", help="empty or new data directory (default HUECAST_DATA_DIR)")
    restore.set_defaults(run=_cmd_restore)


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    from model.core.files import StorageError
    from model.registry.registry import IntegrityError

    try:
        return args.run(args)
    except StorageError as error:
        print(f"error: {error} (The folder: {error.folder})", file=sys.stderr)
        return 2
    except (ValueError, FileNotFoundError, IntegrityError) as error:
        # A bad --config, data file or path, or a model that fails its check: the message says what to fix; a traceback would not.
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
