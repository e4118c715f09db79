"""Champion and challenger: train a challenger off the request path, compare fairly, promote or roll back.

Training runs in a lower-priority worker process (:mod:`model.ops.jobs`): a fit takes
every core for minutes, and a process can be killed without leaving a half-written
model behind (``registry.save_model`` stages the folder and renames it into place). The
job's status file, in ``<data dir>/retrain_jobs/<job id>/``, can be read by any session.

The worker saves the challenger with :func:`model.ops.training.save_trained`. It never
promotes: only an admin does, with :func:`promote_challenger`.

How champion and challenger are compared
----------------------------------------
Both are scored on the **same leave-recipe-out folds of the new dataset**
(:func:`model.evaluation.cross_validation.grouped_folds`; same ``n_splits`` and seeds, so the same
recipes are held out together), and each side is refitted in every fold so that no
model is ever scored on a recipe it was trained on:

- *challenger*: its configuration fitted on the new dataset minus the held-out recipes.
  This is the cross-validation :func:`~model.ops.training.train_and_evaluate` runs anyway.
- *champion*: the champion's configuration fitted on **the champion's own training
  data** (rebuilt from the store version or dataset fingerprint on its card) minus the
  held-out recipes. That is what the champion would have been had it not seen those
  recipes, so both sides answer the same question: how well would you predict a recipe
  you have not seen, given the data and configuration you have?

Scoring the champion's saved model directly would flatter it on every recipe it was
trained on (most of the new dataset, usually); comparing only configurations on the new
data would ignore what the new measurements add. If the champion's training data cannot
be rebuilt (it was trained outside the store), the champion's configuration is refitted
on the new dataset's folds instead, and the comparison says so: it then compares
configurations only. Each side reports its own headline CIELAB path (chosen on
validation when it was trained).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
from sklearn.base import clone

from model.core import settings
from model.core.files import atomic_write_json
from model.core.schema import RECIPE_ID_COLUMN, Dataset
from model.evaluation import Evaluation, cross_validate
from model.models.base import ColourModel, model_from_config
from model.models.mlp import FormulationModel
from model.ops import jobs, registry
from model.ops.access import User, require_admin
from model.ops.training import DEFAULT_CV_SEEDS, DEFAULT_N_SPLITS, save_trained, train_and_evaluate
from model.ops.training_data import find_training_data

__all__ = [
    "JOBS_FOLDER",
    "TIE_DELTA_E00",
    "JobStatus",
    "RetrainBusy",
    "Comparison",
    "cv_plan",
    "fresh_search_available",
    "start_challenger",
    "job_status",
    "wait_for_job",
    "cancel_job",
    "active_job",
    "load_comparison",
    "compare_on_same_folds",
    "promote_challenger",
    "discard_challenger",
    "rollback",
    "model_history",
]

JOBS_FOLDER = "retrain_jobs"
COMPARISON_FILE = "comparison.json"
PER_RECIPE_FILE = "per_recipe.csv"
#: Per-recipe mean ΔE00 differences smaller than this are a tie: far below the 0.75 ΔE00
#: between two readings of one recipe on the real instrument, so nobody could tell.
TIE_DELTA_E00 = 0.05
#: The worker's niceness increment: predictions in the dashboard's process go first.
#: ``HUECAST_RETRAIN_NICENESS`` overrides it.
WORKER_NICENESS = jobs.DEFAULT_NICENESS

#: Raised when a challenger (or a configuration search) is already running: one at a time on a small machine.
RetrainBusy = jobs.JobBusy


# --------------------------------------------------------------------------------------
# Status of a job (the machinery is in model.ops.jobs)
# --------------------------------------------------------------------------------------


class JobStatus(jobs.JobStatus):
    """Where a challenger-training job is: a :class:`model.ops.jobs.JobStatus` naming its models.

    Attributes
    ----------
    challenger_version : str or None, set when the challenger is saved.
    champion_version : str or None, the champion it is compared with.
    store_version : str or None, the store version of the training data.
    """

    @property
    def challenger_version(self) -> str | None:
        return self.output

    @property
    def champion_version(self) -> str | None:
        return self.details.get("champion_version")

    @property
    def store_version(self) -> str | None:
        return self.details.get("store_version")


def _challenger_job(status: jobs.JobStatus | None) -> JobStatus | None:
    return None if status is None else JobStatus(**asdict(status))


def _jobs_root(jobs_dir=None) -> Path:
    return Path(jobs_dir) if jobs_dir is not None else settings.data_dir() / JOBS_FOLDER


def job_status(job_id: str, *, jobs_dir=None) -> JobStatus:
    """The status of a job; a worker that died without finishing is reported as failed.

    Raises
    ------
    FileNotFoundError
        No such job.
    """
    return _challenger_job(jobs.job_status(job_id, _jobs_root(jobs_dir)))


def wait_for_job(job_id: str, *, timeout: float = 600.0, jobs_dir=None, poll_seconds: float = 0.2) -> JobStatus:
    """Block until the job finishes or ``timeout`` seconds pass; returns the last status."""
    return _challenger_job(jobs.wait_for_job(job_id, _jobs_root(jobs_dir), timeout=timeout, poll_seconds=poll_seconds))


def active_job(*, jobs_dir=None) -> JobStatus | None:
    """The running job, if any (the newest one)."""
    return _challenger_job(jobs.active_job(_jobs_root(jobs_dir)))


def cancel_job(job_id: str, *, user: User, jobs_dir=None) -> JobStatus:
    """Stop a running job's worker (SIGTERM). Nothing it was writing is ever served."""
    require_admin(user, "cancel a training job")
    return _challenger_job(jobs.cancel_job(job_id, _jobs_root(jobs_dir), cancelled_by=user.name))


# --------------------------------------------------------------------------------------
# The fair comparison
# --------------------------------------------------------------------------------------


class _FittedOnReference:
    """The champion's procedure in one fold: its config, fitted on its own training data
    minus the recipes the fold holds out of the new dataset."""

    def __init__(self, model: ColourModel, reference: Dataset, new_recipe_ids) -> None:
        self.model = model
        self.reference = reference
        self.new_recipe_ids = frozenset(np.asarray(new_recipe_ids).astype(str))

    def fit(self, fold_train: Dataset) -> "_FittedOnReference":
        held_out = self.new_recipe_ids - set(fold_train.recipe_ids)
        keep = ~np.isin(self.reference.recipe_ids, sorted(held_out))
        if keep.sum() < 2:
            raise ValueError("The champion's training data has fewer than 2 measurements outside this fold's held-out recipes.")
        self.model_ = clone(self.model).fit(self.reference.subset(keep))
        return self

    def predict(self, recipes: pd.DataFrame):
        # A colorant the champion's data never had is one it cannot use: it sees 0 wt %.
        missing = [c for c in self.model_.input_columns if c not in recipes.columns]
        return self.model_.predict(recipes.assign(**{c: 0.0 for c in missing}) if missing else recipes)


@dataclass(frozen=True)
class Comparison:
    """Champion and challenger scored on the same leave-recipe-out folds.

    Attributes
    ----------
    champion_version, challenger_version : str or None
    protocol : str, how the two were scored, in words.
    summary : DataFrame, index ``metric`` (mean ΔE00, p95 ΔE00, spectral MAE), columns
        ``champion, challenger, better``.
    per_recipe : DataFrame, one row per recipe: ``recipe_id``, ``champion_delta_e00``,
        ``challenger_delta_e00``, ``champion_spectral_mae``, ``challenger_spectral_mae``,
        ``difference`` (champion − challenger ΔE00; positive means the challenger is
        better) and ``winner`` (``"challenger"``, ``"champion"`` or ``"tie"``).
    warnings : list of str
    """

    champion_version: str | None
    challenger_version: str | None
    protocol: str
    summary: pd.DataFrame
    per_recipe: pd.DataFrame
    warnings: list[str] = field(default_factory=list)

    @property
    def challenger_wins(self) -> bool:
        """True when the challenger has the lower mean ΔE00 (headline path)."""
        return float(self.summary.loc["mean ΔE00", "challenger"]) < float(self.summary.loc["mean ΔE00", "champion"])


_SUMMARY_METRICS = {
    "mean ΔE00": "delta_e00_mean_headline",
    "p95 ΔE00": "delta_e00_p95_headline",
    "spectral MAE (reflectance 0–1)": "spectral_mae",
}


def _build_comparison(champion: Evaluation, challenger: Evaluation, champion_version, challenger_version, protocol, warnings_) -> Comparison:
    rows = []
    for label, key in _SUMMARY_METRICS.items():
        a, b = champion.metrics[key], challenger.metrics[key]
        rows.append({"metric": label, "champion": a, "challenger": b, "better": "challenger" if b < a else ("champion" if a < b else "equal")})
    summary = pd.DataFrame(rows).set_index("metric")
    per_recipe = _per_recipe(champion, challenger)
    return Comparison(champion_version, challenger_version, protocol, summary, per_recipe, list(warnings_))


def _per_recipe(champion: Evaluation, challenger: Evaluation) -> pd.DataFrame:
    def by_recipe(evaluation: Evaluation, side: str) -> pd.DataFrame:
        table = evaluation.per_sample.groupby(RECIPE_ID_COLUMN)[["delta_e00", "spectral_mae"]].mean()
        return table.rename(columns={"delta_e00": f"{side}_delta_e00", "spectral_mae": f"{side}_spectral_mae"})

    table = by_recipe(champion, "champion").join(by_recipe(challenger, "challenger"), how="outer").reset_index()
    table["difference"] = table["champion_delta_e00"] - table["challenger_delta_e00"]
    table["winner"] = np.where(table["difference"] > TIE_DELTA_E00, "challenger", np.where(table["difference"] < -TIE_DELTA_E00, "champion", "tie"))
    return table.sort_values("difference", ascending=False).reset_index(drop=True)


def compare_on_same_folds(
    dataset: Dataset,
    *,
    challenger: ColourModel,
    champion: ColourModel,
    champion_reference: Dataset | None,
    challenger_evaluation: Evaluation | None = None,
    n_splits: int = DEFAULT_N_SPLITS,
    seeds=DEFAULT_CV_SEEDS,
    champion_version: str | None = None,
    challenger_version: str | None = None,
    reference_description: str = "",
    progress: Callable[[float, str], None] | None = None,
) -> tuple[Comparison, Evaluation, Evaluation]:
    """Score champion and challenger on the same leave-recipe-out folds of ``dataset``.

    See the module docstring for why each side is refitted per fold, and on what.

    Parameters
    ----------
    dataset : Dataset, the new training data.
    challenger, champion : unfitted ColourModel
        The champion keeps the headline path it was chosen with.
    champion_reference : Dataset or None
        The champion's training data; None refits the champion's config on ``dataset``.
    challenger_evaluation : Evaluation, optional
        The challenger's cross-validation from ``train_and_evaluate`` with the same
        ``n_splits`` and ``seeds`` (reused: same folds, so no need to fit it again).
    n_splits, seeds : the folds (``evaluation.grouped_folds``).
    progress : callable(fraction, message), optional

    Returns
    -------
    (Comparison, champion Evaluation, challenger Evaluation)
    """
    seeds = tuple(seeds)
    warnings_: list[str] = []
    if champion_reference is None:
        champion_side = champion
        basis = "the champion's configuration refitted on the new dataset (its own training data is not in the store, so this compares configurations only)"
    else:
        def champion_side(seed: int):
            return _FittedOnReference(champion.reseeded(seed), champion_reference, dataset.recipe_ids)

        basis = f"{reference_description or 'the champion’s training data'} minus each fold's held-out recipes, with the champion's configuration"
        unknown = [c for c in dataset.colorants if c not in champion_reference.colorants and (dataset.table[c] > 0).any()]
        if unknown:
            warnings_.append(f"The champion's training data has no measurements with {', '.join(unknown)}; it predicts those recipes as if that colorant were absent.")

    steps = 1 if challenger_evaluation is not None else 2

    def report(offset: int, label: str):
        return (lambda fraction, message: progress((offset + fraction) / steps, f"{label}: {message}")) if progress else None

    champion_evaluation = cross_validate(dataset, champion_side, n_splits=n_splits, seeds=seeds, progress=report(0, "champion"))
    if challenger_evaluation is None:
        challenger_evaluation = cross_validate(dataset, challenger, n_splits=n_splits, seeds=seeds, progress=report(1, "challenger"))
        challenger_evaluation = challenger_evaluation.with_headline(challenger_evaluation.best_headline())
    same_configuration = challenger.kind == champion.kind and challenger.config() == champion.config()
    if same_configuration and champion_reference is None:
        warnings_.append("Same configuration and same data: the two sides score the same by construction.")
    protocol = (
        f"Leave-recipe-out on the new dataset ({len(dataset)} measurements of {dataset.n_recipes} recipes): "
        f"{n_splits} folds grouped by recipe × seeds {list(seeds)}, the same folds for both. "
        f"Challenger: its configuration fitted on the new dataset minus each fold's held-out recipes. "
        f"Champion: {basis}. No model is scored on a recipe it was fitted on."
    )
    comparison = _build_comparison(champion_evaluation, challenger_evaluation, champion_version, challenger_version, protocol, warnings_)
    return comparison, champion_evaluation, challenger_evaluation


def _save_comparison(job_dir: Path, comparison: Comparison) -> None:
    comparison.per_recipe.to_csv(job_dir / PER_RECIPE_FILE, index=False)
    atomic_write_json(
        job_dir / COMPARISON_FILE,
        {
            "champion_version": comparison.champion_version,
            "challenger_version": comparison.challenger_version,
            "protocol": comparison.protocol,
            "summary": comparison.summary.reset_index().to_dict(orient="records"),
            "warnings": comparison.warnings,
        },
    )


def load_comparison(job_id: str, *, jobs_dir=None) -> Comparison:
    """The comparison a finished job wrote (JSON and CSV: data, never unpickled)."""
    job_dir = _jobs_root(jobs_dir) / job_id
    data = json.loads((job_dir / COMPARISON_FILE).read_text(encoding="utf-8"))
    per_recipe = pd.read_csv(job_dir / PER_RECIPE_FILE, dtype={RECIPE_ID_COLUMN: str})
    summary = pd.DataFrame(data["summary"]).set_index("metric")
    return Comparison(data["champion_version"], data["challenger_version"], data["protocol"], summary, per_recipe, data["warnings"])


# --------------------------------------------------------------------------------------
# The worker
# --------------------------------------------------------------------------------------


def _train_challenger_job(job_dir: Path, progress, dataset: Dataset, challenger: ColourModel, champion: ColourModel | None, champion_reference, reference_description: str, champion_version, store_version, models_dir: str, n_splits: int, seeds: tuple, started_by: str, fresh_search: bool = False) -> tuple[str, str]:
    """Runs in the worker process (a :func:`model.ops.jobs.start_job` target): (search,) train, compare, save. Never promotes."""
    has_champion = champion is not None
    search_share = 0.4 if fresh_search else 0.0
    train_share = search_share + (0.95 - search_share) * (0.6 if has_champion else 1.0)
    notes = {"trained_by": started_by, "role": "challenger", "job_id": job_dir.name}
    if fresh_search:
        # The search module's own protocol: ranked on leave-recipe-out CV of the training
        # recipes, its test recipes touched once. Its best configuration is the challenger's.
        from model.ops import search

        found = search.run_search(dataset, progress=lambda f, m: progress(search_share * f, f"search: {m}"))
        run_dir = search.save_search(found, models_dir)
        challenger = found.model(found.best)
        notes.update(search_run=found.run_id, search_candidate=found.best, search_folder=str(run_dir))

    result = train_and_evaluate(dataset, challenger, n_splits=n_splits, seeds=seeds, progress=lambda f, m: progress(search_share + (train_share - search_share) * f, f"challenger {m}"))
    comparison = None
    if has_champion:
        comparison, champion_evaluation, _ = compare_on_same_folds(
            dataset,
            challenger=clone(result.model),
            champion=champion,
            champion_reference=champion_reference,
            challenger_evaluation=result.evaluation,
            n_splits=n_splits,
            seeds=seeds,
            champion_version=champion_version,
            reference_description=reference_description,
            progress=lambda f, m: progress(train_share + (0.95 - train_share) * f, f"scoring the {m}"),
        )
        notes["compared_with"] = {
            "champion_version": champion_version,
            "champion_metrics_same_folds": {key: champion_evaluation.metrics[key] for key in _SUMMARY_METRICS.values()},
            "protocol": comparison.protocol,
        }
    progress(0.97, "saving the challenger")
    card = save_trained(result, models_dir=models_dir, store_version=store_version, notes=notes)
    if comparison is not None:
        _save_comparison(job_dir, Comparison(champion_version, card.version, comparison.protocol, comparison.summary, comparison.per_recipe, comparison.warnings))
    return f"Challenger {card.version} is trained and scored.", card.version


def fresh_search_available() -> bool:
    """True when ``model/search.py`` (the configuration search) is installed."""
    import importlib.util

    return importlib.util.find_spec(f"{__package__}.search") is not None


def cv_plan() -> tuple[int, tuple[int, ...]]:
    """Folds and seeds for challenger training: ``(5, (0, 1, 2))`` unless ``HUECAST_RETRAIN_CV``
    says otherwise, as ``"<folds>x<seeds>"`` (e.g. ``"3x1"`` for a quick check or a test).

    Raises
    ------
    ValueError
        The variable is not of that form.
    """
    value = os.environ.get("HUECAST_RETRAIN_CV", "").strip()
    if not value:
        return DEFAULT_N_SPLITS, tuple(DEFAULT_CV_SEEDS)
    try:
        folds, n_seeds = (int(part) for part in value.lower().split("x"))
        if folds < 2 or n_seeds < 1:
            raise ValueError
    except ValueError:
        raise ValueError(f"HUECAST_RETRAIN_CV={value!r}: use '<folds>x<seeds>' with at least 2 folds and 1 seed, e.g. '5x3'.") from None
    return folds, tuple(range(n_seeds))


def start_challenger(
    dataset: Dataset,
    *,
    user: User,
    model: ColourModel | None = None,
    store=None,
    store_version: str | None = None,
    models_dir=None,
    jobs_dir=None,
    n_splits: int | None = None,
    seeds=None,
    fresh_search: bool = False,
) -> str:
    """Start training a challenger on ``dataset`` in a worker process; return the job id.

    The worker cross-validates and fits the challenger (``training.train_and_evaluate``),
    scores the champion on the same folds (:func:`compare_on_same_folds`), and saves the
    challenger with its card (not promoted). Poll :func:`job_status`.

    Parameters
    ----------
    dataset : Dataset, usually ``store.to_dataset()``.
    user : User, must be an admin.
    model : unfitted ColourModel, default the champion's kind and configuration (or
        ``FormulationModel()`` if there is no champion). Its headline path is chosen again
        on validation.
    store : MeasurementStore, optional
        Where to find the champion's training data for a fair comparison.
    store_version : str, optional, recorded on the challenger's card.
    models_dir, jobs_dir : paths, default from :mod:`model.core.settings`.
    fresh_search : bool
        Run :func:`model.ops.search.run_search` on ``dataset`` first (in the worker) and train
        its best configuration instead of ``model``.
    n_splits, seeds : the leave-recipe-out folds, shared by both sides. Default
        :func:`cv_plan` (5 folds × seeds 0, 1, 2, as ``python -m model train``).

    Raises
    ------
    PermissionDenied
        ``user`` is not an admin.
    RetrainBusy
        Another challenger is training.
    """
    require_admin(user, "train a challenger")
    default_splits, default_seeds = cv_plan()
    n_splits = default_splits if n_splits is None else n_splits
    seeds = default_seeds if seeds is None else tuple(seeds)
    if fresh_search_available():
        from model.ops.search import active_search_job

        searching = active_search_job(models_dir)
        if searching is not None:
            raise RetrainBusy("A configuration search is running (Compare page); train the challenger when it has finished.")
    models_root = settings.models_dir(models_dir)
    champion_card = None
    champion_version = registry.champion_version(models_root)
    if champion_version is not None:
        try:
            champion_card = registry.read_card(champion_version, models_root)
        except registry.IntegrityError:
            champion_card = None
    champion = model_from_config(champion_card.kind, champion_card.config) if champion_card else None
    if model is None:
        model = clone(champion) if champion is not None else FormulationModel()
    if fresh_search and not fresh_search_available():
        raise ValueError("fresh_search=True needs model/search.py, which this install does not have; train the champion's configuration instead.")
    reference, description = (None, "")
    if champion is not None and store is not None:
        found = find_training_data(champion_card, store)
        reference, description = found.dataset, found.description

    compared_with = champion_version if champion is not None else None
    return jobs.start_job(
        "training",
        _train_challenger_job,
        (dataset, model, champion, reference, description, compared_with, store_version, str(models_root), n_splits, tuple(seeds), user.name, fresh_search),
        jobs_dir=_jobs_root(jobs_dir),
        started_by=user.name,
        niceness=int(os.environ.get("HUECAST_RETRAIN_NICENESS", WORKER_NICENESS)),
        details={"champion_version": compared_with, "store_version": store_version},
    )


# --------------------------------------------------------------------------------------
# Promotion, discarding, rollback and history
# --------------------------------------------------------------------------------------


def promote_challenger(version: str, *, user: User, models_dir=None) -> None:
    """Make ``version`` the champion (``registry.promote``: checked, then an atomic pointer swap).

    The dashboard must clear its model cache afterwards; every session then loads the new
    champion on its next rerun.
    """
    registry.promote(version, models_dir, user=user, action="promote")


def rollback(version: str, *, user: User, models_dir=None) -> None:
    """Point the champion back at an earlier ``version`` (recorded as a rollback)."""
    registry.promote(version, models_dir, user=user, action="rollback")


def discard_challenger(version: str, *, user: User, models_dir=None) -> Path:
    """Hide a challenger that was never promoted, so it is never served, even as a fallback.

    The folder is renamed to ``.discarded-<version>`` (kept on disk, not listed). A version
    that is or was the champion cannot be discarded: roll back instead.

    Returns
    -------
    Path, where the discarded folder now is.
    """
    require_admin(user, "discard a challenger")
    root = settings.models_dir(models_dir)
    ever_served = {entry.get("version") for entry in registry.promotion_history(root)} | {registry.champion_version(root)}
    if version in ever_served:
        raise ValueError(f"Model {version} is or was the champion; it stays in the history. Roll back to another version instead.")
    source = root / version
    if not version or Path(version).name != version or not (source / registry.CARD_FILE).is_file():
        raise ValueError(f"{version!r} is not a saved model version in {root}.")
    target = root / f".discarded-{version}"
    os.replace(source, target)
    return target


def model_history(models_dir=None) -> pd.DataFrame:
    """Every saved version, newest first, with its metrics, data and promotion record.

    Columns ``version, status, created_at, trained_on, n_samples, n_recipes,
    store_version, delta_e00_mean, delta_e00_p95, spectral_mae, last_promoted_at,
    last_promoted_by``. ``status`` is ``champion``, ``former champion`` or ``challenger``.
    """
    root = settings.models_dir(models_dir)
    champion = registry.champion_version(root)
    history = registry.promotion_history(root)
    rows = []
    for card in registry.list_cards(root):
        promotions = [entry for entry in history if entry.get("version") == card.version]
        status = "champion" if card.version == champion else ("former champion" if promotions else "challenger")
        rows.append(
            {
                "version": card.version,
                "status": status,
                "created_at": card.created_at,
                "trained_on": card.dataset.get("name", ""),
                "n_samples": card.dataset.get("n_samples"),
                "n_recipes": card.dataset.get("n_recipes"),
                "store_version": (card.dataset.get("store_version") or "")[:12],
                "delta_e00_mean": card.metrics.get("delta_e00_mean_headline"),
                "delta_e00_p95": card.metrics.get("delta_e00_p95_headline"),
                "spectral_mae": card.metrics.get("spectral_mae"),
                "last_promoted_at": promotions[-1]["at"] if promotions else "",
                "last_promoted_by": promotions[-1].get("user", "") if promotions else "",
            }
        )
    columns = ["version", "status", "created_at", "trained_on", "n_samples", "n_recipes", "store_version", "delta_e00_mean", "delta_e00_p95", "spectral_mae", "last_promoted_at", "last_promoted_by"]
    return pd.DataFrame(rows, columns=columns).iloc[::-1].reset_index(drop=True)
