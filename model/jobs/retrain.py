"""Champion and challenger: train a challenger off the request path, compare fairly, promote or roll back.

Training runs in a lower-priority worker process (:mod:`model.jobs.job_queue`): a fit takes
every core for minutes, and a process can be killed without leaving a half-written
model behind (``ModelRegistry.save_model`` stages the folder and renames it into place). The
job runs in the one job queue shared with the configuration search (``<data dir>/jobs/``):
a challenger cannot start while a search or a promotion runs, nor the other way round.
Its status file can be read by any session.

The worker saves the challenger with :func:`model.jobs.training.save_trained`, and its
comparison with the champion beside it. It never promotes: only an admin does, through the
one door to the champion (:mod:`model.registry.promotion`; :func:`promote_challenger` and
:func:`rollback` are that door with the action named).

How champion and challenger are compared (the same leave-recipe-out folds, each side
refitted per fold so that no model is scored on a recipe it saw) is in
:mod:`model.registry.comparison`. A champion trained on other colorants than the data is not
cross-validated at all: it cannot predict those recipes, so the comparison would be
meaningless (and on the real data it was about 200 s of a 327 s retrain); the job records
why instead, and the verdict says so.

The worker fits the folds of both cross-validations in parallel over the cores it may use
(:func:`fold_jobs`): a fold is one process, as each fit is single-threaded by design
(small matrices, see :func:`model.models.mlp.fit_heads`).
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from sklearn.base import clone

from model.auth.access import User, require_admin
from model.core import settings
from model.core.files import storage_errors
from model.core.schema import Dataset
from model.jobs import job_queue, search
from model.jobs.training import DEFAULT_CV_SEEDS, DEFAULT_N_SPLITS, TrainingResult, evaluate_configuration, save_trained
from model.models.base import ColourModel, default_model, model_from_config
from model.registry import promotion, registry
from model.registry.registry import ModelRegistry
from model.registry.comparison import SUMMARY_METRICS, TIE_DELTA_E00, Comparison, compare_on_same_folds, read_comparison, write_comparison
from model.registry.history import model_history
from model.registry.training_data import find_training_data

__all__ = [
    "TIE_DELTA_E00",
    "JobStatus",
    "RetrainBusy",
    "Comparison",
    "cv_plan",
    "fold_jobs",
    "start_challenger",
    "job_status",
    "wait_for_job",
    "cancel_job",
    "active_job",
    "pending_challenger",
    "load_comparison",
    "compare_on_same_folds",
    "score_against_champion",
    "promote_challenger",
    "discard_challenger",
    "rollback",
    "model_history",
]

#: The worker's niceness increment: predictions in the dashboard's process go first.
#: ``HUECAST_RETRAIN_NICENESS`` overrides it.
WORKER_NICENESS = job_queue.DEFAULT_NICENESS

#: Raised when any job (a challenger, a search or a promotion) is already running: the
#: queue runs one at a time. The same class as ``search.SearchBusy``.
RetrainBusy = job_queue.JobBusy
#: The jobs of this module, as the queue names them.
TRAINING_JOB = "training"
#: Below this many films a fold fits in well under a second, less than starting the worker
#: processes of a parallel pool costs (about 2 s: each imports scikit-learn), so the folds
#: run one after the other. The real pp-inks data has 83 films.
PARALLEL_FOLDS_MIN_FILMS = 50


# --------------------------------------------------------------------------------------
# Status of a job (the machinery is in model.jobs.job_queue)
# --------------------------------------------------------------------------------------


class JobStatus(job_queue.JobStatus):
    """Where a challenger-training job is: a :class:`model.jobs.job_queue.JobStatus` naming its models.

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


def _challenger_job(status: job_queue.JobStatus | None) -> JobStatus | None:
    return None if status is None else JobStatus(**asdict(status))


def job_status(job_id: str, *, jobs_dir=None) -> JobStatus:
    """The status of a job; a worker that died without finishing is reported as failed.

    Raises
    ------
    FileNotFoundError
        No such job.
    """
    return _challenger_job(job_queue.job_status(job_id, jobs_dir=jobs_dir))


def wait_for_job(job_id: str, *, timeout: float = 600.0, jobs_dir=None, poll_seconds: float = 0.2) -> JobStatus:
    """Block until the job finishes or ``timeout`` seconds pass; returns the last status."""
    return _challenger_job(job_queue.wait_for_job(job_id, jobs_dir=jobs_dir, timeout=timeout, poll_seconds=poll_seconds))


def active_job(*, jobs_dir=None) -> JobStatus | None:
    """The running challenger training, if any (a running search or promotion is not one)."""
    return _challenger_job(job_queue.active_job(kinds=(TRAINING_JOB,), jobs_dir=jobs_dir))


def pending_challenger(*, models_dir=None, jobs_dir=None) -> JobStatus | None:
    """The finished challenger training whose challenger still waits for Promote or Discard.

    Read from the records only (the jobs folder's status files and the models folder),
    never from a browser session, so every admin session sees it: after a reload, or on
    another machine. Only the newest finished training counts; a challenger that is or
    was the champion, or that was discarded (its folder hidden), no longer waits.

    Parameters
    ----------
    models_dir, jobs_dir : paths, default from :mod:`model.core.settings`.

    Returns
    -------
    JobStatus or None
        The job (``challenger_version`` names the model, :func:`load_comparison` reads
        its comparison), or None when no challenger waits.
    """
    root = job_queue.jobs_root(jobs_dir)
    if not root.is_dir():
        return None
    for folder in sorted((p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")), key=lambda p: p.name, reverse=True):
        try:
            status = job_status(folder.name, jobs_dir=root)
        except (FileNotFoundError, ValueError, TypeError):  # no status yet, or not a status this code wrote
            continue
        if status.kind != TRAINING_JOB or status.state != "done":
            continue
        return status if status.challenger_version and _awaits_decision(status.challenger_version, models_dir) else None
    return None


def _awaits_decision(version: str, models_dir=None) -> bool:
    """True when ``version`` is saved, visible, and was never the champion."""
    models = ModelRegistry(models_dir)
    try:
        registry.check_version_name(version)
    except ValueError:
        return False  # not a name the registry writes, so not a challenger it saved
    if not (models.root / version / registry.CARD_FILE).is_file():
        return False  # discarded (renamed to .discarded-…) or never saved here
    return version not in promotion.served_versions(models.root)


def cancel_job(job_id: str, *, user: User, jobs_dir=None) -> JobStatus:
    """Stop a running job's worker (SIGTERM). Nothing it was writing is ever served.

    Raises
    ------
    PermissionDenied
        ``user`` is not an admin.
    """
    require_admin(user, "cancel a training job")
    return _challenger_job(job_queue.cancel_job(job_id, user=user, jobs_dir=jobs_dir))


def load_comparison(job_id: str, *, jobs_dir=None) -> Comparison:
    """The comparison a finished challenger job wrote (JSON and CSV: data, never unpickled).

    Raises
    ------
    FileNotFoundError
        The job wrote none (there was no champion to compare with).
    """
    return read_comparison(job_queue.jobs_root(jobs_dir) / job_id)


# --------------------------------------------------------------------------------------
# The worker
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _ChallengerPlan:
    """What the challenger worker is to do; picklable, as it crosses to the spawned worker.

    ``champion`` is None when there is no champion to compare with, or when it is not to
    be compared (``not_compared`` says why: other colorants); ``champion_reference`` is None
    when the champion's training data could not be rebuilt.
    """

    dataset: Dataset
    challenger: ColourModel
    champion: ColourModel | None
    champion_reference: Dataset | None
    reference_description: str
    champion_version: str | None
    store_version: str | None
    models_dir: str
    n_splits: int
    seeds: tuple
    started_by: str
    fresh_search: bool
    not_compared: str = ""
    notes: tuple = ()
    n_jobs: int = 1


def _searched_challenger(plan: _ChallengerPlan, progress, notes: dict) -> ColourModel:
    """The best configuration of a fresh search on the plan's dataset; the search is saved and noted.

    The search module's own protocol: ranked on leave-recipe-out CV of the training
    recipes, its test recipes touched once.
    """
    found = search.run_search(plan.dataset, progress=progress)
    run_dir = search.save_search(found, plan.models_dir)
    notes.update(search_run=found.run_id, search_candidate=found.best, search_folder=str(run_dir))
    return found.model(found.best)


def _compare(plan: _ChallengerPlan, challenger: ColourModel, challenger_evaluation, progress) -> tuple[Comparison | None, dict]:
    """The champion scored on the challenger's folds, and what the card notes about it (or why it was not)."""
    if plan.champion is None:
        return None, ({"compared_with": {"champion_version": plan.champion_version, "not_compared": plan.not_compared}} if plan.not_compared else {})
    comparison, champion_evaluation, _ = compare_on_same_folds(
        plan.dataset,
        challenger=clone(challenger),
        champion=plan.champion,
        champion_reference=plan.champion_reference,
        challenger_evaluation=challenger_evaluation,
        n_splits=plan.n_splits,
        seeds=plan.seeds,
        champion_version=plan.champion_version,
        reference_description=plan.reference_description,
        n_jobs=plan.n_jobs,
        progress=progress,
    )
    compared = {
        "champion_version": plan.champion_version,
        "champion_metrics_same_folds": {key: champion_evaluation.metrics[key] for key in SUMMARY_METRICS.values()},
        "protocol": comparison.protocol,
    }
    return comparison, {"compared_with": compared}


def _save_comparison(comparison: Comparison | None, version: str, models_dir, *folders: Path) -> None:
    """Keep the comparison beside the challenger (where the door reads it) and in each of ``folders``."""
    if comparison is None:
        return
    named = replace(comparison, challenger_version=version)
    for folder in (settings.models_dir(models_dir) / version, *folders):
        write_comparison(folder, named)


def _fit_beside_comparison(plan: _ChallengerPlan, challenger: ColourModel, evaluation, progress) -> tuple[TrainingResult, tuple]:
    """The challenger's final fit on all the data and the champion's cross-validation on the same folds.

    With parallel folds the final fit runs in a thread of this process while the champion's folds
    run in the pool's processes, so no core waits for the one fit (the last round of an odd
    number of folds leaves one idle otherwise). The fit's warnings filters are not thread-safe
    (``warnings.catch_warnings``), so with one fold at a time, when the folds would run in this
    process too, the two run one after the other.
    """
    if plan.n_jobs == 1 or plan.champion is None:
        challenger.fit(plan.dataset)
        return TrainingResult(challenger, evaluation, plan.dataset), _compare(plan, challenger, evaluation, progress)
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="final-fit") as pool:
        fitting = pool.submit(challenger.fit, plan.dataset)
        compared = _compare(plan, challenger, evaluation, progress)
        fitting.result()  # re-raises a failed fit here
    return TrainingResult(challenger, evaluation, plan.dataset), compared


def _train_challenger_job(job_dir: Path, progress, plan: _ChallengerPlan) -> tuple[str, str]:
    """Runs in the worker process (a :func:`model.jobs.job_queue.start_job` target): (search,) train, compare, save. Never promotes."""
    ModelRegistry(plan.models_dir).check_writable()  # again: the folder may have changed since the job was queued
    search_share = 0.4 if plan.fresh_search else 0.0
    train_share = search_share + (0.95 - search_share) * (0.6 if plan.champion is not None else 1.0)
    notes = {"trained_by": plan.started_by, "role": "challenger", "job_id": job_dir.name, **dict(plan.notes)}
    challenger = plan.challenger
    if plan.fresh_search:
        challenger = _searched_challenger(plan, lambda f, m: progress(search_share * f, f"search: {m}"), notes)
    challenger, evaluation = evaluate_configuration(
        plan.dataset, challenger, n_splits=plan.n_splits, seeds=plan.seeds, n_jobs=plan.n_jobs,
        progress=lambda f, m: progress(search_share + (train_share - search_share) * f, f"challenger cross-validation: {m}"),
    )
    progress(train_share, "challenger final fit" + (", beside the champion's cross-validation" if plan.champion is not None else ""))
    result, (comparison, compared) = _fit_beside_comparison(
        plan, challenger, evaluation, lambda f, m: progress(train_share + (0.95 - train_share) * f, f"scoring the {m}"),
    )
    notes.update(compared)
    progress(0.97, "saving the challenger")
    card = save_trained(result, models_dir=plan.models_dir, store_version=plan.store_version, notes=notes)
    _save_comparison(comparison, card.version, plan.models_dir, job_dir)
    return f"Challenger {card.version} is trained and scored.", card.version


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


def fold_jobs(dataset: Dataset) -> int:
    """Folds the challenger job fits at once: every core the worker may use (``joblib.cpu_count``,
    which respects CPU affinity and container quotas), or 1 for data of fewer than
    :data:`PARALLEL_FOLDS_MIN_FILMS` films. ``HUECAST_RETRAIN_JOBS`` overrides it (``-1``: every core).

    The scores do not depend on it: each fold fits the same reseeded model on the same rows.

    Raises
    ------
    ValueError
        The variable is not an integer ≥ 1 or -1.
    """
    from joblib import cpu_count

    value = os.environ.get("HUECAST_RETRAIN_JOBS", "").strip()
    if value:
        try:
            jobs = int(value)
            if jobs < 1 and jobs != -1:
                raise ValueError
        except ValueError:
            raise ValueError(f"HUECAST_RETRAIN_JOBS={value!r}: use a number of parallel folds ≥ 1, or -1 for every core.") from None
        return cpu_count() if jobs == -1 else jobs
    return cpu_count() if len(dataset) >= PARALLEL_FOLDS_MIN_FILMS else 1


@dataclass(frozen=True)
class _ChampionToCompare:
    """The champion's version, unfitted model, training data and how that data was found;
    ``not_compared`` says why the champion is not to be cross-validated (other colorants)."""

    version: str | None = None
    model: ColourModel | None = None
    reference: Dataset | None = None
    description: str = ""
    not_compared: str = ""


def _champion_to_compare(models_root: Path, store, dataset: Dataset) -> _ChampionToCompare:
    """What the challenger on ``dataset`` is to be compared with.

    Nothing when there is no readable champion; no model (and ``not_compared`` set) when the
    champion's colorants (its card's, else its training data's) differ from ``dataset``'s:
    it cannot predict those recipes, so cross-validating it would only cost time. The
    training data is None without a ``store`` or when it cannot be rebuilt.
    """
    models = ModelRegistry(models_root)
    version = models.champion_version()
    if version is None:
        return _ChampionToCompare()
    try:
        card = models.read_card(version)
    except registry.IntegrityError:
        return _ChampionToCompare()
    found = find_training_data(card, store) if store is not None else None
    reference = found.dataset if found is not None else None
    colorants = card.dataset.get("colorants") or (reference.colorants if reference is not None else None)
    if colorants is not None and set(colorants) != set(dataset.colorants):
        why = (
            f"The champion {version} was trained on other colorants ({', '.join(colorants)}) than this data "
            f"({', '.join(dataset.colorants)}), so it cannot predict these recipes; it was not cross-validated on them."
        )
        return _ChampionToCompare(version, not_compared=why)
    return _ChampionToCompare(version, model_from_config(card.kind, card.config), reference, found.description if found is not None else "")


def score_against_champion(
    result: TrainingResult, version: str, *, models_dir=None, store=None, n_splits: int = DEFAULT_N_SPLITS, seeds=DEFAULT_CV_SEEDS,
    n_jobs: int = 1, progress=None,
) -> Comparison | None:
    """Score the champion on the folds ``result`` was cross-validated on, and keep the comparison beside ``version``.

    For a model trained outside the job queue (``python -m model train --promote``), so
    that the door (:func:`model.registry.promotion.verdict`) finds the same comparison a
    challenger job makes. ``n_splits`` and ``seeds`` must be the ones ``result`` was
    cross-validated with; ``n_jobs`` folds are fitted at once (``-1``: every core).

    Returns
    -------
    Comparison or None
        None when there is no champion, or its colorants differ from the data (it is then
        not cross-validated at all; the verdict says why).
    """
    root = settings.models_dir(models_dir)
    champion = _champion_to_compare(root, store, result.dataset)
    plan = _ChallengerPlan(
        result.dataset, result.model, champion.model, champion.reference, champion.description, champion.version,
        None, str(root), int(n_splits), tuple(seeds), "", False, champion.not_compared, n_jobs=int(n_jobs),
    )
    comparison, _ = _compare(plan, result.model, result.evaluation, progress)
    _save_comparison(comparison, version, root)
    return comparison


def _challenger_plan(
    dataset: Dataset, *, user: User, model: ColourModel | None, store, store_version: str | None, models_root: Path,
    n_splits: int | None, seeds, fresh_search: bool, notes: dict | None,
) -> _ChallengerPlan:
    """What :func:`start_challenger` hands its worker (built here so that a test can run the worker in-process)."""
    default_splits, default_seeds = cv_plan()
    champion = _champion_to_compare(models_root, store, dataset)
    if model is None:
        model = clone(champion.model) if champion.model is not None else default_model()
    return _ChallengerPlan(
        dataset, model, champion.model, champion.reference, champion.description, champion.version, store_version, str(models_root),
        default_splits if n_splits is None else int(n_splits), default_seeds if seeds is None else tuple(seeds),
        user.name, bool(fresh_search), champion.not_compared, tuple((notes or {}).items()), fold_jobs(dataset),
    )


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
    notes: dict | None = None,
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
        :func:`~model.models.base.default_model` if there is no champion). Its headline path is chosen again
        on validation.
    store : MeasurementStore, optional, where to find the champion's training data.
    store_version : str, optional, recorded on the challenger's card.
    models_dir, jobs_dir : paths, default from :mod:`model.core.settings`.
    fresh_search : bool, run :func:`model.jobs.search.run_search` on ``dataset`` first (in
        the worker) and train its best configuration instead of ``model``.
    n_splits, seeds : the leave-recipe-out folds, shared by both sides. Default
        :func:`cv_plan` (5 folds × seeds 0, 1, 2, as ``python -m model train``). The folds
        of both sides run in parallel over :func:`fold_jobs` cores.
    notes : dict, optional, more notes for the challenger's card (the Compare page names the
        search run and configuration it came from).

    Raises
    ------
    PermissionDenied
        ``user`` is not an admin.
    RetrainBusy
        A job (challenger, search or promotion) is running; the message says which.
    registry.StorageError
        The models folder cannot be written, so the challenger could not be saved: said
        before any training starts, with what to change.
    """
    require_admin(user, "train a challenger")
    models_root = ModelRegistry(models_dir).check_writable()
    plan = _challenger_plan(
        dataset, user=user, model=model, store=store, store_version=store_version, models_root=models_root,
        n_splits=n_splits, seeds=seeds, fresh_search=fresh_search, notes=notes,
    )
    return job_queue.start_job(
        TRAINING_JOB,
        _train_challenger_job,
        (plan,),
        user=user,
        jobs_dir=jobs_dir,
        niceness=int(os.environ.get("HUECAST_RETRAIN_NICENESS", WORKER_NICENESS)),
        details={"champion_version": plan.champion_version, "store_version": store_version, "description": "a challenger training", "follow_on": "the Retrain page"},
    )


# --------------------------------------------------------------------------------------
# Promotion, discarding, rollback and history
# --------------------------------------------------------------------------------------


def promote_challenger(version: str, *, user: User, confirm: bool = False, override_reason: str | None = None, models_dir=None) -> promotion.Verdict:
    """Make ``version`` the champion through the one door (:func:`model.registry.promotion.promote`).

    The admin has seen the verdict (:func:`model.registry.promotion.verdict`) and confirms; a
    challenger that predicts worse than the champion also needs ``override_reason``. The
    dashboard must clear its model cache afterwards; every session then loads the new
    champion on its next rerun.

    Raises
    ------
    PermissionDenied
        ``user`` is not an admin.
    promotion.PromotionRefused
        Not confirmed, or worse than the champion without a reason.
    registry.IntegrityError
        ``version`` does not load (its file does not match its card).
    """
    require_admin(user, "promote a challenger")
    return promotion.promote(version, user=user, confirm=confirm, override_reason=override_reason, action="promote", models_dir=models_dir)


def rollback(version: str, *, user: User, confirm: bool = False, override_reason: str | None = None, models_dir=None) -> promotion.Verdict:
    """Point the champion back at an earlier ``version`` through the one door (recorded as a rollback).

    Refused (``promotion.PromotionRefused``) for a version that never served or cannot be
    compared with the champion (:func:`model.registry.promotion.rollback_options` lists what is
    offered), and without ``confirm``; like :func:`promote_challenger` otherwise.
    """
    require_admin(user, "roll back the champion")
    return promotion.promote(version, user=user, confirm=confirm, override_reason=override_reason, action="rollback", models_dir=models_dir)


def discard_challenger(version: str, *, user: User, models_dir=None) -> Path:
    """Hide a challenger that was never promoted, so it is never served, even as a fallback.

    The folder is renamed to ``.discarded-<version>`` (kept on disk, not listed). A version
    that is or was the champion cannot be discarded: roll back instead.

    Returns
    -------
    Path, where the discarded folder now is.

    Raises
    ------
    PermissionDenied
        ``user`` is not an admin.
    ValueError
        ``version`` is or was the champion, or is not a saved version (``registry.VersionNameError``
        for a name outside ``registry.VERSION_PATTERN``).
    registry.StorageError
        The models folder cannot be written; the message says what to change.
    """
    require_admin(user, "discard a challenger")
    models = ModelRegistry(models_dir)
    registry.check_version_name(version)
    if version in promotion.served_versions(models.root):
        raise ValueError(f"Model {version} is or was the champion; it stays in the history. Roll back to another version instead.")
    source = models.root / version
    if not (source / registry.CARD_FILE).is_file():
        raise ValueError(f"{version!r} is not a saved model version in the models folder.")
    target = models.root / f".discarded-{version}"
    with storage_errors(f"discard model {version}", models.root, registry.MODELS_DIR_SETTING):
        os.replace(source, target)
    return target
