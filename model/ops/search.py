"""Honest hyperparameter search: select on leave-recipe-out CV, report once on held-out recipes.

The system Huecast replaces ran a random search over about 1.5 M combinations and
ranked configurations on its test split, so its "best" score was optimistic. Here:

1. A fraction of the *recipes* (default 20 %) is set aside as test before anything
   else (:func:`model.evaluation.cross_validation.split_test_recipes`; both thicknesses and every repeat
   of a recipe go to the same side).
2. Each sampled configuration is scored by leave-recipe-out cross-validation on the
   remaining recipes only (:func:`model.evaluation.cross_validation.cross_validate`, one seed, the same
   folds for every trial). The ranking score is the mean CIEDE2000 of the headline
   CIELAB path (the better of the two paths in that CV, as ``model.ops.training`` chooses
   it); spectral MAE breaks ties.
3. The test recipes are used once, after the ranking, to report the finalists (the top
   10), the fixed baseline (:data:`BASELINE_CONFIG`, the old system's architecture) and
   the Kubelka–Munk physics model, all fitted on the same training recipes.

Budget
------
``python -m model search --trials 50 --jobs -1`` must finish in about a minute on two
cores, so every trial is cheap by construction, not by cutting the protocol: 3 folds,
one CV seed, and an iteration cap that is itself a searched dimension (``max_iter`` of
100, 200 or 400: lbfgs iterations or adam epochs; adam also stops after 10 epochs
without improvement). The caps are recorded in every configuration, so a promoted
configuration is refitted exactly as it was scored.

Results are plain files (no pickles) under ``<models dir>/search/<run id>/``:
``run.json`` (protocol, space, timings, provenance), ``trials.csv`` (every trial's
config, CV metrics, parameter count, fit time, and test metrics for the finalists) and
``test_predictions.csv`` (per-measurement test predictions of the reported candidates).

Trials run through joblib, so the same code runs on a Dask or Ray cluster by switching
the joblib backend.
"""

from __future__ import annotations

import json
import math
import time
import warnings
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
from sklearn.base import clone
from joblib import Parallel, delayed
from threadpoolctl import threadpool_limits

from model.core import settings
from model.core.files import staged_folder
from model.core.schema import RECIPE_ID_COLUMN, SAMPLE_ID_COLUMN, THICKNESS_COLUMN, Dataset
from model.evaluation import cross_validate, score_prediction, split_test_recipes, summarise
from model.models.base import ColourModel, model_from_config
from model.models.mlp import INPUT_TRANSFORMS, SPECTRAL_TARGETS, FormulationModel, legacy_model
from model.models.physics import KubelkaMunkModel
from model.ops import jobs, registry
from model.ops.access import User, require_admin

__all__ = [
    "LEGACY_LAYOUTS",
    "SEARCH_SPACE",
    "baseline_model",
    "BASELINE",
    "PHYSICS",
    "DEFAULT_TRIALS",
    "DEFAULT_FOLDS",
    "DEFAULT_TEST_FRACTION",
    "N_FINALISTS",
    "TRIAL_COST_CAP",
    "estimated_cost",
    "search_space_size",
    "effective_search_space_size",
    "sample_configs",
    "SearchResult",
    "run_search",
    "save_search",
    "load_search",
    "list_search_runs",
    "latest_search",
    "promote_configuration",
    "SearchJob",
    "SearchBusy",
    "start_search_job",
    "start_promotion_job",
    "search_job_status",
    "active_search_job",
]

#: The old system's 13 hidden-layer layouts.
LEGACY_LAYOUTS: tuple[tuple[int, ...], ...] = (
    (32,), (64,), (128,), (64, 32), (64, 64), (128, 64), (64, 64, 32), (64, 64, 64),
    (128, 64, 32), (64, 128, 64), (128, 128, 64), (64, 64, 64, 32), (128, 128, 64, 32),
)

#: Values each FormulationModel hyperparameter is drawn from. Transforms come from model.models.mlp,
#: so a new transform added there joins the search automatically.
SEARCH_SPACE: dict[str, tuple] = {
    "hidden_layer_sizes": LEGACY_LAYOUTS,
    "activation": ("relu", "tanh", "logistic"),
    "solver": ("adam", "lbfgs"),
    "learning_rate_init": (1e-4, 3e-4, 1e-3, 3e-3, 1e-2),
    "batch_size": (8, 16, 32, 64),
    "alpha": (1e-5, 1e-4, 1e-3, 1e-2, 0.1, 0.3, 1.0, 3.0),
    "early_stopping": (False, True),
    "input_transform": INPUT_TRANSFORMS,
    "spectral_target": SPECTRAL_TARGETS,
    "n_ensemble": (1, 2, 3),
    # The iteration cap (lbfgs iterations or adam epochs): searched, so its cost shows in the ranking.
    "max_iter": (50, 100, 200),
}

# scikit-learn ignores these for lbfgs; such draws are normalised so duplicates are not scored twice.
_ADAM_ONLY = ("learning_rate_init", "batch_size", "early_stopping")

#: The fixed reference configuration: the old PyTorch system's architecture
#: ([64, 128, 64] ReLU, adam, raw inputs and reflectance, one network).
baseline_model = legacy_model
#: Candidate names of the two reference rows in results.
BASELINE = "baseline"
PHYSICS = "kubelka-munk"

#: Per-trial budget in :func:`estimated_cost` units (about 1 s of one core per CV fit):
#: what lets 50 trials × 3 folds finish in about a minute on two cores.
TRIAL_COST_CAP = 400.0
_MIN_ITER = 10
DEFAULT_TRIALS = 50
DEFAULT_FOLDS = 3
DEFAULT_TEST_FRACTION = 0.2
N_FINALISTS = 10
SEARCH_FOLDER = "search"
JOBS_FOLDER = ".jobs"


# --------------------------------------------------------------------------------------
# The space and sampling
# --------------------------------------------------------------------------------------


def search_space_size(space: dict[str, tuple] | None = None) -> int:
    """Number of combinations in ``space`` (the product of its dimensions), as the old system counted."""
    space = SEARCH_SPACE if space is None else space
    return math.prod(len(values) for values in space.values())


def effective_search_space_size(space: dict[str, tuple] | None = None) -> int:
    """Distinct models in ``space``: lbfgs ignores learning rate, batch size and early stopping."""
    space = SEARCH_SPACE if space is None else space
    total = 0
    for solver in space["solver"]:
        sizes = [len(values) for name, values in space.items() if name != "solver" and (solver != "lbfgs" or name not in _ADAM_ONLY)]
        total += math.prod(sizes)
    return total


def _normalise(model: FormulationModel) -> FormulationModel:
    if model.solver == "lbfgs":
        default = FormulationModel().get_params()
        return clone(model).set_params(**{name: default[name] for name in _ADAM_ONLY})
    return model


def estimated_cost(config: FormulationModel, n_rows: int = 60, n_inputs: int = 5) -> float:
    """Relative fitting cost of an unfitted model ``config``: networks × iterations × optimiser steps × network size.

    One unit is roughly 2 ms of one core (measured on this project's 2-core machine for a
    [32] lbfgs model on ~50 rows). Used only to keep trials within :data:`TRIAL_COST_CAP`.
    """
    widths = (n_inputs, *config.hidden_layer_sizes, 31)
    weights = sum(a * b for a, b in zip(widths[:-1], widths[1:]))
    if config.solver == "lbfgs":
        steps = 1
    else:
        rows = 0.9 * n_rows if config.early_stopping else n_rows
        batch = min(rows, config.batch_size) if isinstance(config.batch_size, int) else min(rows, 200)
        steps = math.ceil(rows / batch)
    return config.n_ensemble * config.max_iter * steps * (1 + weights / 6000)


def _within_budget(config: FormulationModel, cap: float) -> FormulationModel:
    # Halve the iteration cap of a configuration too dear for the budget (big adam
    # ensembles with small batches); the CV score then shows what that costs in accuracy.
    while config.max_iter > _MIN_ITER and estimated_cost(config) > cap:
        config = clone(config).set_params(max_iter=max(_MIN_ITER, config.max_iter // 2))
    return config


def sample_configs(n_trials: int, seed: int = 0, space: dict[str, tuple] | None = None, cost_cap: float | None = None) -> list[FormulationModel]:
    """``n_trials`` distinct unfitted models (configurations) drawn uniformly from ``space`` with a seeded generator.

    Parameters
    ----------
    n_trials : int, ≥ 1 and at most the number of distinct models in ``space``.
    seed : int, the same seed gives the same list.
    space : dict of field name → tuple of values, default :data:`SEARCH_SPACE`.
    cost_cap : float, default :data:`TRIAL_COST_CAP`
        A draw whose :func:`estimated_cost` exceeds it has its ``max_iter`` halved until
        it fits (never below 10); ``float("inf")`` turns the budget off.
    """
    cost_cap = TRIAL_COST_CAP if cost_cap is None else cost_cap
    space = SEARCH_SPACE if space is None else space
    if n_trials < 1:
        raise ValueError(f"n_trials={n_trials!r}: run at least 1 trial (the default is {DEFAULT_TRIALS}).")
    available = effective_search_space_size(space)
    if n_trials > available:
        raise ValueError(f"n_trials={n_trials}: the space has only {available} distinct models; ask for fewer trials.")
    rng = np.random.default_rng(seed)
    configs: list[FormulationModel] = []
    seen: set[str] = set()
    while len(configs) < n_trials:
        draw = {name: values[int(rng.integers(len(values)))] for name, values in space.items()}
        config = _within_budget(_normalise(FormulationModel(**draw)), cost_cap)
        key = json.dumps(config.config(), sort_keys=True)
        if key not in seen:
            seen.add(key)
            configs.append(config)
    return configs


# --------------------------------------------------------------------------------------
# Scoring one candidate
# --------------------------------------------------------------------------------------


class _TimedFit:
    """A model wrapper that records fit time; ``cross_validate`` only sees fit and predict."""

    def __init__(self, model):
        self.model = model
        self.fit_seconds = math.nan

    def fit(self, dataset: Dataset) -> "_TimedFit":
        started = time.perf_counter()
        self.model.fit(dataset)
        self.fit_seconds = time.perf_counter() - started
        return self

    def predict(self, recipes):
        return self.model.predict(recipes)


def _make_candidate(model: ColourModel, seed: int) -> ColourModel:
    """The unfitted copy one fit of the search trains: every CV fold and every test fit comes from here."""
    return model.reseeded(seed)


def _with_headline(model: ColourModel, headline: str) -> ColourModel:
    """An unfitted copy reporting ``headline``, for models whose headline is a hyperparameter."""
    model = clone(model)
    return model.set_params(headline=headline) if "headline" in model.get_params(deep=False) else model


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

    # One BLAS thread per worker: two workers on two cores, no oversubscription.
    with threadpool_limits(1), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence and batch-size clipping: the CV score judges them
        evaluation = cross_validate(train, factory, n_splits=n_folds, seeds=(cv_seed,), n_jobs=1)
    headline = evaluation.best_headline() if "headline" in config.get_params(deep=False) else config.headline
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
    model = _make_candidate(_with_headline(config, headline), 0)
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
# The result
# --------------------------------------------------------------------------------------


def _layers_text(layers) -> str:
    return "-".join(str(int(n)) for n in layers)


@dataclass(frozen=True)
class SearchResult:
    """Everything a search produced, as plain tables.

    Attributes
    ----------
    trials : DataFrame
        One row per trial, best first: ``rank``, ``candidate`` (``trial-007``), the
        config fields, ``headline``, ``cv_*`` metrics (training recipes only),
        ``n_parameters``, ``fit_seconds`` (mean per CV fit, wall clock, s),
        ``trial_seconds``, and ``test_*`` metrics for the finalists (NaN otherwise).
        ΔE00 is CIEDE2000; spectral errors are on the reflectance factor (0–1);
        CIELAB errors are in L*a*b* units.
    references : DataFrame
        The same columns for :data:`BASELINE` and :data:`PHYSICS` (rank NaN).
    test_predictions : DataFrame
        Per-measurement test predictions of finalists and references: ``candidate``,
        ids, inputs, measured and predicted L*, a*, b* (headline path), ``delta_e00``,
        ``spectral_mae``.
    meta : dict
        Run id, protocol, seed, space sizes, dataset provenance, test recipes, timings.
    """

    trials: pd.DataFrame
    references: pd.DataFrame
    test_predictions: pd.DataFrame
    meta: dict = field(default_factory=dict)

    @property
    def run_id(self) -> str:
        return str(self.meta.get("run_id", ""))

    @property
    def best(self) -> str:
        """The rank-1 candidate's name (the "optimised" configuration)."""
        return str(self.trials.iloc[0]["candidate"])

    def top(self, n: int = N_FINALISTS) -> pd.DataFrame:
        """The ``n`` best trials, for the top-10 table."""
        return self.trials.head(n).reset_index(drop=True)

    def all_rows(self) -> pd.DataFrame:
        """Trials and the two reference rows together."""
        return pd.concat([self.trials, self.references], ignore_index=True)

    def row(self, candidate: str) -> pd.Series:
        rows = self.all_rows()
        match = rows[rows["candidate"] == candidate]
        if match.empty:
            raise KeyError(f"No candidate {candidate!r} in search {self.run_id}; candidates are {rows['candidate'].tolist()}.")
        return match.iloc[0]

    def model(self, candidate: str) -> ColourModel:
        """The unfitted model of a candidate, with its CV-chosen headline path."""
        row = self.row(candidate)
        if candidate == PHYSICS:
            return KubelkaMunkModel()
        return _with_headline(model_from_config(FormulationModel.kind, json.loads(row["config_json"])), row["headline"])

    def predictions(self, candidate: str) -> pd.DataFrame:
        """Per-measurement test predictions of one reported candidate (empty if it was not a finalist)."""
        return self.test_predictions[self.test_predictions["candidate"] == candidate].reset_index(drop=True)

    def per_recipe(self, candidate: str) -> pd.DataFrame:
        """Mean test ΔE00 (CIEDE2000) per test recipe for one candidate, worst first."""
        frame = self.predictions(candidate)
        table = frame.groupby(RECIPE_ID_COLUMN, as_index=False)[["delta_e00", "spectral_mae"]].mean()
        return table.sort_values("delta_e00", ascending=False).reset_index(drop=True)

    def comparison(self) -> pd.DataFrame:
        """Baseline against optimised on the test recipes, with % improvement, plus the physics row.

        Rows: baseline, optimised, improvement (%), Kubelka–Munk. Columns: mean ΔE00,
        spectral MAE, RMSE, R² (reflectance 0–1), CIELAB MAE, RMSE, R², parameters and
        training time (s, one fit on the training recipes). Improvement is positive when
        the optimised model is better: lower for errors, time and parameters, higher for R².
        """
        columns = {
            "test_delta_e00_mean_headline": "test mean ΔE00",
            "test_spectral_mae": "spectral MAE",
            "test_spectral_rmse": "spectral RMSE",
            "test_spectral_r2": "spectral R²",
            "test_lab_mae": "CIELAB MAE",
            "test_lab_rmse": "CIELAB RMSE",
            "test_lab_r2": "CIELAB R²",
            "n_parameters": "parameters",
            "test_fit_seconds": "training time (s)",
        }
        baseline, optimised, physics = (self.row(name) for name in (BASELINE, self.best, PHYSICS))
        table = pd.DataFrame(
            [[row[key] for key in columns] for row in (baseline, optimised, physics)],
            columns=list(columns.values()),
            index=["baseline (old system's config)", f"optimised ({self.best})", "Kubelka–Munk physics"],
        ).astype(float)
        improvement = {}
        for key, label in columns.items():
            before, after = float(baseline[key]), float(optimised[key])
            if key.endswith("_r2"):
                improvement[label] = 100.0 * (after - before) / abs(before) if before else math.nan
            else:
                improvement[label] = 100.0 * (before - after) / abs(before) if before else math.nan
        table.loc["improvement (%)"] = pd.Series(improvement)
        order = [table.index[0], table.index[1], "improvement (%)", table.index[2]]
        return table.loc[order].rename_axis("model").reset_index()


# --------------------------------------------------------------------------------------
# Running a search
# --------------------------------------------------------------------------------------


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
    cost_cap: float | None = None,
    progress: Callable[[float, str], None] | None = None,
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
    space : dict, default :data:`SEARCH_SPACE`.
    cost_cap : float, default :data:`TRIAL_COST_CAP` (see :func:`sample_configs`).
    progress : callable(fraction 0–1, message), optional

    Returns
    -------
    SearchResult
    """
    started = time.perf_counter()
    space = SEARCH_SPACE if space is None else space

    def report(fraction: float, message: str) -> None:
        if progress:
            progress(min(1.0, fraction), message)

    train_rows, test_rows = split_test_recipes(dataset.recipe_ids, test_fraction, seed)
    train, test = dataset.subset(train_rows), dataset.subset(test_rows)
    if train.n_recipes < n_folds:
        raise ValueError(f"Only {train.n_recipes} training recipes for {n_folds} folds; use fewer folds or more data.")
    configs = sample_configs(n_trials, seed, space, cost_cap)
    candidates = [(f"trial-{index:03d}", config) for index, config in enumerate(configs, start=1)]
    candidates += [(BASELINE, baseline_model()), (PHYSICS, KubelkaMunkModel())]
    report(0.0, f"{len(configs)} trials on {train.n_recipes} training recipes, {test.n_recipes} test recipes held out")

    cv_rows = []
    runner = Parallel(n_jobs=n_jobs, return_as="generator_unordered")
    # Dearest first (the fixed references, then by estimated cost), so no worker idles at the end.
    dispatch = sorted(candidates, key=lambda item: -(math.inf if item[0] in (BASELINE, PHYSICS) else estimated_cost(item[1])))
    tasks = (delayed(_cross_validate_candidate)(name, config, train, n_folds, seed) for name, config in dispatch)
    for done, row in enumerate(runner(tasks), start=1):
        cv_rows.append(row)
        report(0.85 * done / len(candidates), f"cross-validated {done}/{len(candidates)} candidates")
    cv = pd.DataFrame(cv_rows).set_index("candidate").loc[[name for name, _ in candidates]].reset_index()
    config_of = dict(candidates)
    cv["config_json"] = ["" if name == PHYSICS else json.dumps(config_of[name].config()) for name in cv["candidate"]]

    is_trial = cv["candidate"].str.startswith("trial-")
    # Rank on the training recipes' CV only; spectral MAE breaks ties, then trial order.
    trials = cv[is_trial].sort_values(["cv_delta_e00_mean_headline", "cv_spectral_mae", "candidate"], kind="mergesort").reset_index(drop=True)
    trials.insert(0, "rank", np.arange(1, len(trials) + 1))
    references = cv[~is_trial].reset_index(drop=True)
    references.insert(0, "rank", np.nan)

    # The test recipes are touched here, once, after the ranking is fixed.
    reported = [*trials["candidate"].head(n_finalists), BASELINE, PHYSICS]
    headline_of = dict(zip(cv["candidate"], cv["headline"]))
    test_rows_out, predictions = [], []
    tasks = (delayed(_test_candidate)(name, config_of[name], headline_of[name], train, test) for name in reported)
    for done, (row, frame) in enumerate(Parallel(n_jobs=n_jobs, return_as="generator_unordered")(tasks), start=1):
        test_rows_out.append(row)
        predictions.append(frame)
        report(0.85 + 0.15 * done / len(reported), f"reported {done}/{len(reported)} finalists on the test recipes")
    test_table = pd.DataFrame(test_rows_out).drop(columns="n_parameters")
    trials = trials.merge(test_table, on="candidate", how="left")
    references = references.merge(test_table, on="candidate", how="left")
    trials, references = (_with_config_columns(frame) for frame in (trials, references))
    test_predictions = pd.concat(predictions, ignore_index=True)
    order = {name: position for position, name in enumerate(reported)}
    test_predictions = test_predictions.sort_values(["candidate", SAMPLE_ID_COLUMN], key=lambda s: s.map(order) if s.name == "candidate" else s, kind="mergesort").reset_index(drop=True)

    created_at = datetime.now(timezone.utc)
    fingerprint = dataset.fingerprint()
    meta = {
        "run_id": f"{created_at:%Y%m%d-%H%M%S}-{fingerprint[:8]}-seed{seed}",
        "created_at": created_at.isoformat(timespec="seconds"),
        "protocol": (
            f"{test.n_recipes} of {dataset.n_recipes} recipes ({test_fraction:.0%}) held out as test before the search; "
            f"each trial scored by {n_folds}-fold leave-recipe-out CV on the other {train.n_recipes} recipes (CV seed {seed}); "
            "ranked by mean ΔE00 of the better CIELAB path, spectral MAE breaks ties; "
            f"the top {n_finalists}, the baseline and Kubelka–Munk refitted on all training recipes and scored once on test."
        ),
        "seed": seed,
        "n_trials": len(configs),
        "n_folds": n_folds,
        "test_fraction": test_fraction,
        "n_jobs": n_jobs,
        "n_finalists": min(n_finalists, len(configs)),
        "space": {name: [list(v) if isinstance(v, tuple) else v for v in values] for name, values in space.items()},
        "space_size": search_space_size(space),
        "effective_space_size": effective_search_space_size(space),
        "baseline_config": baseline_model().config(),
        "dataset": {"name": dataset.name, "fingerprint": fingerprint, "n_samples": len(dataset), "n_recipes": dataset.n_recipes, "colorants": list(dataset.colorants)},
        "test_recipes": sorted(np.unique(test.recipe_ids).tolist()),
        "n_train_recipes": train.n_recipes,
        "seconds": round(time.perf_counter() - started, 2),
        # Core-seconds spent in the candidates (excludes worker start-up); /n cores ≈ wall time on a quiet machine.
        "cpu_seconds": round(float(cv["trial_cpu_seconds"].sum() + test_table["test_cpu_seconds"].sum()), 2),
        "trial_cost_cap": TRIAL_COST_CAP,
        "library_versions": registry.library_versions(),
    }
    report(1.0, f"search done in {meta['seconds']:.0f} s; best {trials.iloc[0]['candidate']}")
    return SearchResult(trials=trials, references=references, test_predictions=test_predictions, meta=meta)


def _with_config_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """Readable config columns next to ``config_json`` (``layers`` as "64-128-64"; adam-only fields blank for lbfgs)."""
    frame = frame.copy()
    configs = [json.loads(text) if text else None for text in frame["config_json"]]
    names = ["layers", "activation", "solver", "alpha", "learning_rate_init", "batch_size", "early_stopping", "input_transform", "spectral_target", "n_ensemble", "max_iter"]
    values = {name: [] for name in names}
    for config in configs:
        for name in names:
            if config is None:
                values[name].append(None)
            elif name == "layers":
                values[name].append(_layers_text(config["hidden_layer_sizes"]))
            elif name in _ADAM_ONLY and config["solver"] == "lbfgs":
                values[name].append(None)
            else:
                values[name].append(config[name])
    position = list(frame.columns).index("headline")
    for offset, name in enumerate(names):
        frame.insert(position + offset, name, pd.Series(values[name], index=frame.index, dtype=object))
    return frame


# --------------------------------------------------------------------------------------
# Persistence (plain CSV and JSON; nothing here is ever unpickled)
# --------------------------------------------------------------------------------------

RUN_FILE = "run.json"
TRIALS_FILE = "trials.csv"
PREDICTIONS_FILE = "test_predictions.csv"


def _search_root(models_dir=None) -> Path:
    return settings.models_dir(models_dir) / SEARCH_FOLDER


def save_search(result: SearchResult, models_dir=None) -> Path:
    """Write ``result`` to ``<models dir>/search/<run id>/`` (staged, then renamed into place).

    Raises
    ------
    FileExistsError
        That run is already saved; runs are never overwritten.
    """
    root = _search_root(models_dir)
    with staged_folder(root, result.run_id) as staging:
        (staging / RUN_FILE).write_text(json.dumps(result.meta, indent=2, default=str), encoding="utf-8")
        pd.concat([result.trials, result.references], ignore_index=True).to_csv(staging / TRIALS_FILE, index=False, float_format="%.6g")
        result.test_predictions.to_csv(staging / PREDICTIONS_FILE, index=False, float_format="%.6g")
    return root / result.run_id


def load_search(path) -> SearchResult:
    """Read a saved search run folder back into a :class:`SearchResult`.

    Raises
    ------
    FileNotFoundError
        The folder lacks one of ``run.json``, ``trials.csv``, ``test_predictions.csv``.
    """
    path = Path(path)
    missing = [name for name in (RUN_FILE, TRIALS_FILE, PREDICTIONS_FILE) if not (path / name).is_file()]
    if missing:
        raise FileNotFoundError(f"{path} is not a complete search run (missing {missing}); run `python -m model search` again.")
    meta = json.loads((path / RUN_FILE).read_text(encoding="utf-8"))
    rows = pd.read_csv(path / TRIALS_FILE, keep_default_na=True, dtype={"candidate": str, "config_json": str, "layers": str, SAMPLE_ID_COLUMN: str})
    rows["config_json"] = rows["config_json"].fillna("")
    is_trial = rows["candidate"].str.startswith("trial-")
    predictions = pd.read_csv(path / PREDICTIONS_FILE, dtype={"candidate": str, SAMPLE_ID_COLUMN: str, RECIPE_ID_COLUMN: str})
    return SearchResult(
        trials=rows[is_trial].reset_index(drop=True),
        references=rows[~is_trial].reset_index(drop=True),
        test_predictions=predictions,
        meta=meta,
    )


def list_search_runs(models_dir=None) -> list[Path]:
    """Complete search run folders, newest first."""
    root = _search_root(models_dir)
    if not root.is_dir():
        return []
    runs = [p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".") and (p / RUN_FILE).is_file()]
    return sorted(runs, key=lambda p: p.name, reverse=True)


def latest_search(models_dir=None) -> SearchResult | None:
    """The newest saved search, or None when there is none."""
    runs = list_search_runs(models_dir)
    return load_search(runs[0]) if runs else None


# --------------------------------------------------------------------------------------
# Promotion
# --------------------------------------------------------------------------------------


def promote_configuration(
    result: SearchResult,
    candidate: str,
    dataset: Dataset,
    *,
    user: User,
    models_dir=None,
    store_version: str | None = None,
    progress: Callable[[float, str], None] | None = None,
) -> registry.ModelCard:
    """Fit a searched configuration on all of ``dataset`` and make it the champion.

    Runs ``training.train_and_evaluate`` (full leave-recipe-out CV, headline chosen again
    on validation, final fit), saves the version with its card, then promotes it.

    Raises
    ------
    PermissionDenied
        ``user`` is not an admin.
    ValueError
        ``candidate`` is the physics row (it is a reference, not a servable FormulationModel).
    """
    require_admin(user, "promote a searched configuration")
    from model.ops.training import save_trained, train_and_evaluate

    if candidate == PHYSICS:
        raise ValueError(f"{candidate!r} is the Kubelka–Munk reference; promote a searched configuration or the baseline.")
    training = train_and_evaluate(dataset, result.model(candidate), progress=progress)
    notes = {"search_run": result.run_id, "search_candidate": candidate, "promoted_by": user.name}
    card = save_trained(training, models_dir=models_dir, store_version=store_version, notes=notes)
    registry.promote(card.version, models_dir, user=user)
    return card


# --------------------------------------------------------------------------------------
# Background jobs: a search or a promotion in a separate, lower-priority process
# --------------------------------------------------------------------------------------

#: Raised when a search or promotion job is already running; the machine has two cores.
SearchBusy = jobs.JobBusy
#: Where a background search or promotion is: ``kind`` is ``"search"`` or ``"promote"``,
#: ``output`` the run folder of a search or the promoted model version.
SearchJob = jobs.JobStatus


def _jobs_root(models_dir=None) -> Path:
    return _search_root(models_dir) / JOBS_FOLDER


def search_job_status(job_id: str, models_dir=None) -> SearchJob:
    """The status of a background job; a worker that died unfinished is reported as failed."""
    return jobs.job_status(job_id, _jobs_root(models_dir))


def active_search_job(models_dir=None) -> SearchJob | None:
    """The running search or promotion job, if any."""
    return jobs.active_job(_jobs_root(models_dir))


def _search_worker(job_dir: Path, progress, dataset: Dataset, options: dict, models_dir: str) -> tuple[str, str]:
    result = run_search(dataset, progress=progress, **options)
    run_dir = save_search(result, models_dir)
    return f"Search {result.run_id} finished in {result.meta['seconds']:.0f} s; best {result.best}.", str(run_dir)


def _promotion_worker(job_dir: Path, progress, run_dir: str, candidate: str, dataset: Dataset, user: User, models_dir: str, store_version: str | None) -> tuple[str, str]:
    card = promote_configuration(load_search(run_dir), candidate, dataset, user=user, models_dir=models_dir, store_version=store_version, progress=progress)
    return f"{candidate} trained on all data as {card.version} and promoted to champion.", card.version


def _models_root(models_dir) -> str:
    return str(settings.models_dir(models_dir))


def start_search_job(dataset: Dataset, *, user: User, models_dir=None, n_trials: int = DEFAULT_TRIALS, seed: int = 0, n_jobs: int = -1, n_folds: int = DEFAULT_FOLDS) -> str:
    """Start :func:`run_search` in a background process and save its results; return the job id.

    Poll :func:`search_job_status`. Raises ``PermissionDenied`` for a viewer and
    :class:`SearchBusy` when another job runs.
    """
    require_admin(user, "start a hyperparameter search")
    options = {"n_trials": int(n_trials), "seed": int(seed), "n_jobs": int(n_jobs), "n_folds": int(n_folds)}
    return jobs.start_job("search", _search_worker, (dataset, options, _models_root(models_dir)), jobs_dir=_jobs_root(models_dir), started_by=user.name)


def start_promotion_job(run_dir, candidate: str, dataset: Dataset, *, user: User, models_dir=None, store_version: str | None = None) -> str:
    """Start :func:`promote_configuration` in a background process; return the job id."""
    require_admin(user, "promote a searched configuration")
    if candidate == PHYSICS:
        raise ValueError(f"{candidate!r} is the Kubelka–Munk reference; promote a searched configuration or the baseline.")
    args = (str(run_dir), candidate, dataset, user, _models_root(models_dir), store_version)
    return jobs.start_job("promote", _promotion_worker, args, jobs_dir=_jobs_root(models_dir), started_by=user.name)
