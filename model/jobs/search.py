"""Honest hyperparameter search: select on leave-recipe-out CV, report once on held-out recipes.

The system Huecast replaces ran a random search over about 1.5 M combinations and
ranked configurations on its test split, so its "best" score was optimistic. Here:

1. A fraction of the *recipes* (default 20 %) is set aside as test before anything
   else (:func:`model.evaluation.cross_validation.split_test_recipes`; both thicknesses and every repeat
   of a recipe go to the same side).
2. Each sampled configuration of the served kind (:mod:`model.evaluation.search_space`:
   the hybrid's heads, their sizes and penalties, the physics' penalties, the blend) is scored by
   leave-recipe-out cross-validation on the remaining recipes only
   (:func:`model.evaluation.cross_validation.cross_validate`, one seed, the same folds for
   every trial). The ranking score is the mean CIEDE2000 of the headline CIELAB path
   (the better of the two paths in that CV, as ``model.jobs.training`` chooses it);
   spectral MAE breaks ties.
3. The test recipes are used once, after the ranking, to report the finalists (the top
   10) and the three reference rows, all fitted on the same training recipes: the
   champion's configuration (:func:`champion_configuration`: what serves now, scored as
   the trials are), the Kubelka–Munk physics alone and the old system's network
   (:data:`baseline_model`). So the search answers one question first: did it find a
   configuration that predicts better than the one in use?

The result and its files (plain CSV and JSON under ``<models dir>/search/<run id>/``)
are in :mod:`model.jobs.search_result`. A search started from the dashboard runs in the
one job queue (:mod:`model.jobs.job_queue`), shared with challenger training: one job at a time.
A search never promotes: a configuration it found is trained as a challenger
(``retrain.start_challenger(model=result.model(candidate))``), compared with the champion
on the same folds, and an admin decides through the one door (:mod:`model.registry.promotion`).

Trials run through joblib, so the same code runs on a Dask cluster by switching the
joblib backend: ``run_search(..., cluster="tcp://scheduler:8786")`` (``python -m model
search --cluster ADDRESS``) sends every trial to the cluster's workers through joblib's
``dask`` backend. Each trial is seeded on its own, so the ranking is the local run's.
"""

from __future__ import annotations

import contextlib
import json
import math
import time
import warnings
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
from joblib import Parallel, delayed, parallel_config
from threadpoolctl import threadpool_limits

from model.auth.access import User, require_admin
from model.core import settings
from model.core.schema import RECIPE_ID_COLUMN, SAMPLE_ID_COLUMN, THICKNESS_COLUMN, Dataset
from model.evaluation import cross_validate, score_prediction, search_space, split_test_recipes, summarise
from model.evaluation.search_space import (  # noqa: F401 - every name of search_space is re-exported (see __all__)
    BASELINE,
    CHAMPION,
    DEFAULT_FOLDS,
    DEFAULT_TEST_FRACTION,
    DEFAULT_TRIALS,
    N_FINALISTS,
    PHYSICS,
    PHYSICS_FIELDS,
    REFERENCES,
    SEARCH_SPACE,
    SEARCHED_KIND,
    baseline_model,
    effective_search_space_size,
    estimated_cost,
    physics_model,
    sample_configs,
    search_space_size,
)
from model.jobs import job_queue
from model.jobs.search_result import (
    SearchResult,
    latest_search,
    list_search_runs,
    load_search,
    save_search,
    with_config_columns,
    with_headline,
)
from model.models.base import ColourModel, default_model, model_from_config
from model.models.fluorescence import without_readings
from model.registry import registry
from model.registry.registry import ModelRegistry

# One import for the whole search: the space (search_space) and the result's files
# (search_result) are re-exported, so callers keep writing ``search.SEARCH_SPACE``.
__all__ = [  # noqa: PLE0604 - search_space.__all__ whole, so a name added there is exported here too
    *search_space.__all__,
    "SearchResult",
    "save_search",
    "load_search",
    "list_search_runs",
    "latest_search",
    "run_search",
    "champion_configuration",
    "restore_malloc_thresholds",
    "SearchJob",
    "SearchBusy",
    "start_search_job",
    "search_job_status",
    "active_search_job",
]

#: The job of this module, as the queue names it.
SEARCH_JOB = "search"


# --------------------------------------------------------------------------------------
# Scoring one candidate
# --------------------------------------------------------------------------------------


class _TimedFit:
    """A model wrapper that records fit time; ``cross_validate`` only sees fit and predict."""

    def __init__(self, model):
        self.model = model
        self.fit_seconds = math.nan

    def fit(self, dataset: Dataset) -> _TimedFit:
        started = time.perf_counter()
        self.model.fit(dataset)
        self.fit_seconds = time.perf_counter() - started
        return self

    def predict(self, recipes):
        return self.model.predict(recipes)


def _make_candidate(model: ColourModel, seed: int) -> ColourModel:
    """The unfitted copy one fit of the search trains: every CV fold and every test fit comes from here."""
    return model.reseeded(seed)


_CV_KEYS = (
    "delta_e00_mean_headline", "delta_e00_median_headline", "delta_e00_p95_headline", "delta_e00_max_headline",
    "delta_e00_mean_spectral", "delta_e00_mean_head",
    "spectral_mae", "spectral_rmse", "spectral_r2", "lab_mae", "lab_rmse", "lab_r2", "normalised_lab_mae",
)


def _cross_validate_candidate(candidate: str, config: ColourModel, train: Dataset, n_folds: int, cv_seed: int) -> dict:
    """Leave-recipe-out CV of one candidate on the training recipes (runs in a joblib worker)."""
    started, cpu_started = time.perf_counter(), time.process_time()
    fitted: list[_TimedFit] = []

    def factory(seed: int):
        wrapped = _TimedFit(_make_candidate(config, seed))
        fitted.append(wrapped)
        return wrapped

    # One BLAS thread per worker: two workers on two cores, no oversubscription. The folds run
    # here, in this worker: under a cluster's dask backend, joblib would send them on again.
    with threadpool_limits(1), parallel_config(backend="sequential"), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence and batch-size clipping: the CV score judges them
        evaluation = cross_validate(train, factory, n_splits=n_folds, seeds=(cv_seed,), n_jobs=1)
    # A trial's headline path is chosen by this CV; the champion's row is scored as it serves, on its own.
    chosen = "headline" in config.get_params(deep=False) and candidate != CHAMPION
    headline = evaluation.best_headline() if chosen else config.headline
    metrics = evaluation.with_headline(headline).metrics
    row = {"candidate": candidate, "headline": headline}
    row.update({f"cv_{key}": metrics[key] for key in _CV_KEYS})
    row["n_parameters"] = fitted[0].model.n_parameters
    row["fit_seconds"] = float(np.mean([f.fit_seconds for f in fitted]))
    row["trial_seconds"] = time.perf_counter() - started
    row["trial_cpu_seconds"] = time.process_time() - cpu_started
    return row


def _test_candidate(candidate: str, config: ColourModel, headline: str, train: Dataset, test: Dataset) -> tuple[dict, pd.DataFrame]:
    """Fit on every training recipe, predict the test recipes once (runs in a joblib worker)."""
    model = _make_candidate(with_headline(config, headline), 0)
    with threadpool_limits(1), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        started, cpu_started = time.perf_counter(), time.process_time()
        model.fit(train)
        fit_seconds = time.perf_counter() - started
        per_sample = score_prediction(test, model.predict(test.recipes))
        cpu_seconds = time.process_time() - cpu_started
    metrics = summarise(per_sample, headline)
    row = {"candidate": candidate, "test_fit_seconds": fit_seconds, "test_cpu_seconds": cpu_seconds, "n_parameters": model.n_parameters}
    row.update({f"test_{key}": metrics[key] for key in _CV_KEYS})
    keep = [SAMPLE_ID_COLUMN, RECIPE_ID_COLUMN, *test.colorants, THICKNESS_COLUMN, "L_measured", "a_measured", "b_measured"]
    predictions = per_sample[keep].copy()
    for axis in "Lab":
        predictions[f"{axis}_predicted"] = per_sample[f"{axis}_{headline}"]
    predictions["delta_e00"] = per_sample[f"delta_e00_{headline}"]
    predictions["spectral_mae"] = per_sample["spectral_mae"]
    predictions.insert(0, "candidate", candidate)
    return row, predictions




# --------------------------------------------------------------------------------------
# Running a search
# --------------------------------------------------------------------------------------

# Rank on the training recipes' CV only; spectral MAE breaks ties, then trial order.
_RANK_COLUMNS = ["cv_delta_e00_mean_headline", "cv_spectral_mae", "candidate"]


def _train_and_test(dataset: Dataset, test_fraction: float, seed: int, n_folds: int) -> tuple[Dataset, Dataset]:
    train_rows, test_rows = split_test_recipes(dataset.recipe_ids, test_fraction, seed)
    train, test = dataset.subset(train_rows), dataset.subset(test_rows)
    if train.n_recipes < n_folds:
        raise ValueError(f"Only {train.n_recipes} training recipes for {n_folds} folds; use fewer folds or more data.")
    return train, test


def _cross_validate_all(candidates: list, train: Dataset, n_folds: int, seed: int, n_jobs: int, report) -> pd.DataFrame:
    """One CV row per candidate, in the order of ``candidates``, with its ``config_json``."""
    rows = []
    runner = Parallel(n_jobs=n_jobs, return_as="generator_unordered")
    # Dearest first (the reference rows, then by estimated cost), so no worker idles at the end. Trials that
    # share a physics are sent together, so each worker meets few physics and solves each once (its cache).
    dispatch = sorted(candidates, key=lambda item: (
        -estimated_cost(item[1]) if item[0] in REFERENCES else 0.0, _physics_of(item[1]), -estimated_cost(item[1]),
    ))
    tasks = (delayed(_cross_validate_candidate)(name, config, train, n_folds, seed) for name, config in dispatch)
    for done, row in enumerate(runner(tasks), start=1):
        rows.append(row)
        report(0.85 * done / len(candidates), f"cross-validated {done}/{len(candidates)} candidates")
    cv = pd.DataFrame(rows).set_index("candidate").loc[[name for name, _ in candidates]].reset_index()
    config_of = dict(candidates)
    cv["kind"] = [type(config_of[name]).kind for name in cv["candidate"]]
    cv["config_json"] = ["" if name == PHYSICS else json.dumps(config_of[name].config()) for name in cv["candidate"]]
    return cv


def _physics_of(config: ColourModel) -> str:
    """The physics penalties of a hybrid (what its cached physics depends on), as a sort key; "" for another kind."""
    params = config.get_params(deep=False)
    return json.dumps([params.get(name) for name in PHYSICS_FIELDS]) if all(name in params for name in PHYSICS_FIELDS) else ""


def champion_configuration(models_dir=None) -> tuple[ColourModel, str | None]:
    """The configuration that serves now, unfitted, and its version: the champion card's kind and config.

    With no champion, the default model (:func:`model.models.base.default_model`) and None.
    Its ``n_jobs`` is cleared: in a search the trials, not the heads, run in parallel.

    Raises
    ------
    IntegrityError
        The champion's card cannot be read (:meth:`model.registry.registry.ModelRegistry.read_card`).
    """
    models = ModelRegistry(models_dir)
    version = models.champion_version()
    if version is None:
        model = default_model()
    else:
        card = models.read_card(version)
        model = model_from_config(card.kind, dict(card.config))
    if "n_jobs" in model.get_params(deep=False):
        model.set_params(n_jobs=None)
    return model, version


def _rank(cv: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The trials, ranked (``rank`` 1 is best), and the reference rows (``rank`` NaN)."""
    is_trial = cv["candidate"].str.startswith("trial-")
    trials = cv[is_trial].sort_values(_RANK_COLUMNS, kind="mergesort").reset_index(drop=True)
    trials.insert(0, "rank", np.arange(1, len(trials) + 1))
    references = cv[~is_trial].reset_index(drop=True)
    references.insert(0, "rank", np.nan)
    return trials, references


def _report_on_test(reported: list[str], config_of: dict, headline_of: dict, train: Dataset, test: Dataset, n_jobs: int, report) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Test metrics (one row per reported candidate) and test predictions, in the order of ``reported``."""
    rows, predictions = [], []
    tasks = (delayed(_test_candidate)(name, config_of[name], headline_of[name], train, test) for name in reported)
    for done, (row, frame) in enumerate(Parallel(n_jobs=n_jobs, return_as="generator_unordered")(tasks), start=1):
        rows.append(row)
        predictions.append(frame)
        report(0.85 + 0.15 * done / len(reported), f"reported {done}/{len(reported)} finalists on the test recipes")
    order = {name: position for position, name in enumerate(reported)}
    test_predictions = pd.concat(predictions, ignore_index=True).sort_values(
        ["candidate", SAMPLE_ID_COLUMN], key=lambda s: s.map(order) if s.name == "candidate" else s, kind="mergesort"
    )
    return pd.DataFrame(rows).drop(columns="n_parameters"), test_predictions.reset_index(drop=True)


def _run_meta(
    dataset: Dataset, train: Dataset, test: Dataset, *, n_trials: int, seed: int, n_folds: int, test_fraction: float, n_jobs: int,
    n_finalists: int, space: dict, champion: ColourModel, champion_version: str | None, seconds: float, cpu_seconds: float,
) -> dict:
    """The run's ``run.json``: its id, the protocol in words, the space, the data's provenance and timings."""
    created_at = datetime.now(timezone.utc)
    fingerprint = dataset.fingerprint()
    return {
        "run_id": f"{created_at:%Y%m%d-%H%M%S}-{fingerprint[:8]}-seed{seed}",
        "created_at": created_at.isoformat(timespec="seconds"),
        "protocol": (
            f"{test.n_recipes} of {dataset.n_recipes} recipes ({test_fraction:.0%}) held out as test before the search; "
            f"each trial scored by {n_folds}-fold leave-recipe-out CV on the other {train.n_recipes} recipes (CV seed {seed}); "
            "ranked by mean ΔE00 of the better CIELAB path, spectral MAE breaks ties; "
            f"the top {n_finalists}, the champion's configuration, Kubelka–Munk and the old system's network "
            "refitted on all training recipes and scored once on test."
        ),
        "seed": seed,
        "n_trials": n_trials,
        "n_folds": n_folds,
        "test_fraction": test_fraction,
        "n_jobs": n_jobs,
        "n_finalists": min(n_finalists, n_trials),
        "space": {name: [list(v) if isinstance(v, tuple) else v for v in values] for name, values in space.items()},
        "space_size": search_space_size(space),
        "effective_space_size": effective_search_space_size(space),
        "searched_kind": SEARCHED_KIND,
        "champion": {"version": champion_version, "kind": type(champion).kind, "config": champion.config()},
        "baseline_config": baseline_model().config(),
        "dataset": {"name": dataset.name, "fingerprint": fingerprint, "n_samples": len(dataset), "n_recipes": dataset.n_recipes, "colorants": list(dataset.colorants)},
        "test_recipes": sorted(np.unique(test.recipe_ids).tolist()),
        "n_train_recipes": train.n_recipes,
        "seconds": round(seconds, 2),
        # Core-seconds spent in the candidates (excludes worker start-up); /n cores ≈ wall time on a quiet machine.
        "cpu_seconds": round(cpu_seconds, 2),
        "library_versions": registry.library_versions(),
    }


#: glibc's mallopt parameters, and the values its dynamic thresholds reach on 64-bit Linux
#: (DEFAULT_MMAP_THRESHOLD_MAX, 32 MiB; trim at twice that, as its own adjustment does).
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_MMAP_THRESHOLD_BYTES = 32 * 1024 * 1024


def restore_malloc_thresholds() -> bool:
    """Let this process allocate large arrays as a plain Python process does; True if it could (glibc).

    Dask starts its workers with ``MALLOC_TRIM_THRESHOLD_=65536`` (its config's
    ``distributed.nanny.pre-spawn-environ``). Setting that variable switches off glibc's
    dynamic mmap threshold (mallopt(3)), so every array above 128 KiB is mapped and unmapped
    afresh: one hybrid fit of 2,560 films took 24.4 s in such a worker against 14.7 s in a
    plain process (bench/scale.py --cluster-cv). This sets the thresholds to the values the
    dynamic ones reach. Elsewhere than glibc it does nothing and returns False.
    """
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
        mallopt = libc.mallopt if libc is not None else None
    except (OSError, AttributeError):
        return False
    if mallopt is None:
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD_BYTES)) and bool(mallopt(_M_TRIM_THRESHOLD, 2 * _MMAP_THRESHOLD_BYTES))


@contextlib.contextmanager
def joblib_backend(cluster: str | None):
    """Where joblib runs the trials: this machine (``cluster=None``) or a Dask cluster.

    Parameters
    ----------
    cluster : str or None
        The scheduler's address (``tcp://host:8786``). Every worker must have this
        project installed (``pip install -e .``, the same versions) and see the same
        ``HUECAST_MODELS_DIR`` and ``HUECAST_DATA_DIR`` if it writes there; a trial only
        needs its arguments, which are sent to it.

    Yields
    ------
    dict, what the run's metadata records: ``cluster`` and its ``cluster_workers``.

    Raises
    ------
    ImportError
        ``dask.distributed`` is not installed (it is in requirements.txt).
    OSError
        No scheduler answers at ``cluster`` within 30 s.
    """
    if cluster is None:
        yield {}
        return
    from dask.distributed import Client  # only a cluster run needs it

    with Client(cluster, timeout="30s") as client:
        workers = len(client.scheduler_info().get("workers", {}))
        client.run(restore_malloc_thresholds)  # on every worker now connected (see its docstring)
        with parallel_config(backend="dask"):
            yield {"cluster": cluster, "cluster_workers": workers}


def run_search(
    dataset: Dataset,
    *,
    n_trials: int = DEFAULT_TRIALS,
    seed: int = 0,
    n_folds: int = DEFAULT_FOLDS,
    test_fraction: float = DEFAULT_TEST_FRACTION,
    n_jobs: int = 1,
    n_finalists: int = N_FINALISTS,
    space: dict[str, tuple] | None = None,
    champion: ColourModel | None = None,
    champion_version: str | None = None,
    progress: Callable[[float, str], None] | None = None,
    cluster: str | None = None,
) -> SearchResult:
    """Seeded random search, ranked on leave-recipe-out CV, finalists reported on test recipes.

    Parameters
    ----------
    dataset : Dataset
    n_trials : int, configurations drawn from ``space`` (default 50).
    seed : int
        Seeds the test split, the sampled configurations and the CV folds: the same seed
        on the same data gives the same ranking.
    n_folds : int, leave-recipe-out folds on the training recipes (default 3).
    test_fraction : float, share of recipes held out as test (default 0.2).
    n_jobs : int, trials in parallel through joblib (``-1`` for every core).
    n_finalists : int, how many of the best trials are reported on test (default 10).
    space : dict, default :data:`SEARCH_SPACE` (HybridModel fields).
    champion : ColourModel, optional
        The configuration that serves now, unfitted (:func:`champion_configuration`): the
        :data:`CHAMPION` row, scored on the same folds and test recipes as the trials.
        Default: the default model (what serves when there is no champion).
    champion_version : str, optional, its version, recorded in ``run.json``.
    progress : callable(fraction 0–1, message), optional
    cluster : str, optional
        A Dask scheduler's address: the trials run on its workers (all of them; ``n_jobs``
        is then ignored), see :func:`joblib_backend`. Default: this machine.

    Returns
    -------
    SearchResult

    Raises
    ------
    ValueError
        Fewer training recipes than folds, or more trials than the space has models.
    """
    started = time.perf_counter()
    space = SEARCH_SPACE if space is None else space

    def report(fraction: float, message: str) -> None:
        if progress:
            progress(min(1.0, fraction), message)

    # The search scores colour. A model's fluorescence head (ct/s, fitted from the readings) never changes a colour
    # prediction, so the candidates fit without it: a third of a small hybrid's fit, the same every trial.
    # (The run's provenance below is the data as given: its fingerprint is the one a champion's card names.)
    train, test = _train_and_test(without_readings(dataset), test_fraction, seed, n_folds)
    configs = sample_configs(n_trials, seed, space)
    champion = default_model() if champion is None else champion
    candidates = [(f"trial-{index:03d}", config) for index, config in enumerate(configs, start=1)]
    candidates += [(CHAMPION, champion), (PHYSICS, physics_model()), (BASELINE, baseline_model())]
    report(0.0, f"{len(configs)} trials on {train.n_recipes} training recipes, {test.n_recipes} test recipes held out")
    with joblib_backend(cluster) as where:
        # On a cluster, n_jobs=-1 is every worker (joblib runs n_jobs=1 in this process whatever the backend).
        workers = -1 if cluster is not None else n_jobs
        cv = _cross_validate_all(candidates, train, n_folds, seed, workers, report)
        trials, references = _rank(cv)
        # The test recipes are touched here, once, after the ranking is fixed.
        reported = [*trials["candidate"].head(n_finalists), *REFERENCES]
        test_table, test_predictions = _report_on_test(reported, dict(candidates), dict(zip(cv["candidate"], cv["headline"])), train, test, workers, report)
    trials, references = (with_config_columns(frame.merge(test_table, on="candidate", how="left")) for frame in (trials, references))
    meta = _run_meta(
        dataset, train, test, n_trials=len(configs), seed=seed, n_folds=n_folds, test_fraction=test_fraction, n_jobs=n_jobs,
        n_finalists=n_finalists, space=space, champion=champion, champion_version=champion_version, seconds=time.perf_counter() - started,
        cpu_seconds=float(cv["trial_cpu_seconds"].sum() + test_table["test_cpu_seconds"].sum()),
    )
    meta.update(where)
    report(1.0, f"search done in {meta['seconds']:.0f} s; best {trials.iloc[0]['candidate']}")
    return SearchResult(trials=trials, references=references, test_predictions=test_predictions, meta=meta)


# --------------------------------------------------------------------------------------
# Background jobs: a search in the one job queue (model.jobs.job_queue)
# --------------------------------------------------------------------------------------

#: Raised when any job (a search or a challenger training) is already running: the queue
#: runs one at a time. The same class as ``retrain.RetrainBusy``.
SearchBusy = job_queue.JobBusy
#: Where a background job is: ``kind`` is ``"search"`` (``output`` the run folder) or
#: ``"training"`` (a challenger, ``output`` its version).
SearchJob = job_queue.JobStatus


def search_job_status(job_id: str, *, jobs_dir=None) -> SearchJob:
    """The status of a background job; a worker that died unfinished is reported as failed.

    Raises
    ------
    FileNotFoundError
        No such job.
    """
    return job_queue.job_status(job_id, jobs_dir=jobs_dir)


def active_search_job(*, jobs_dir=None) -> SearchJob | None:
    """The running search job, if any (a challenger training is not one)."""
    return job_queue.active_job(kinds=(SEARCH_JOB,), jobs_dir=jobs_dir)


def _search_worker(job_dir: Path, progress, dataset: Dataset, options: dict, models_dir: str) -> tuple[str, str]:
    champion, version = champion_configuration(models_dir)  # the champion when the search starts, not when it was queued
    result = run_search(dataset, progress=progress, champion=champion, champion_version=version, **options)
    run_dir = save_search(result, models_dir)
    return f"Search {result.run_id} finished in {result.meta['seconds']:.0f} s; best {result.best}.", str(run_dir)


def start_search_job(
    dataset: Dataset,
    *,
    user: User,
    models_dir=None,
    jobs_dir=None,
    n_trials: int = DEFAULT_TRIALS,
    seed: int = 0,
    n_jobs: int = -1,
    n_folds: int = DEFAULT_FOLDS,
) -> str:
    """Start :func:`run_search` in a background process and save its results; return the job id.

    Poll :func:`search_job_status`. ``models_dir`` is where the run is saved; ``jobs_dir``
    the job queue's folder (default ``<data dir>/jobs``).

    Raises
    ------
    PermissionDenied
        ``user`` is not an admin.
    SearchBusy
        A job (a search or a challenger training) is running; the message says which.
    StorageError
        The models folder cannot be written (:meth:`model.registry.registry.ModelRegistry.check_writable`).
    """
    require_admin(user, "start a hyperparameter search")
    ModelRegistry(models_dir).check_writable()  # a search saves its run there: fail now, not after the trials
    options = {"n_trials": int(n_trials), "seed": int(seed), "n_jobs": int(n_jobs), "n_folds": int(n_folds)}
    args = (dataset, options, str(settings.models_dir(models_dir)))
    details = {"description": f"a configuration search of {int(n_trials)} trials", "follow_on": "the Compare page"}
    return job_queue.start_job(SEARCH_JOB, _search_worker, args, user=user, jobs_dir=jobs_dir, details=details)
