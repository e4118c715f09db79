"""A search's result: the trials, the reference rows, the test predictions, and their files.

Results are plain files (no pickles) under ``<models dir>/search/<run id>/``:
``run.json`` (protocol, space, timings, provenance), ``trials.csv`` (every trial's
config, CV metrics, parameter count, fit time, and test metrics for the finalists) and
``test_predictions.csv`` (per-measurement test predictions of the reported candidates).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from sklearn.base import clone

from model.core import settings
from model.core.files import staged_folder
from model.core.schema import RECIPE_ID_COLUMN, SAMPLE_ID_COLUMN
from model.evaluation.search_space import BASELINE, CHAMPION, N_FINALISTS, PHYSICS, physics_model
from model.models.base import ColourModel, model_from_config
from model.models.mlp import FormulationModel

__all__ = [
    "SEARCH_FOLDER",
    "SearchResult",
    "with_headline",
    "with_config_columns",
    "search_root",
    "save_search",
    "load_search",
    "list_search_runs",
    "latest_search",
]

SEARCH_FOLDER = "search"
RUN_FILE = "run.json"
TRIALS_FILE = "trials.csv"
PREDICTIONS_FILE = "test_predictions.csv"
# The readable config columns of a trials table, in order; "layers" stands for hidden_layer_sizes. The hybrid's
# fields first, then the old network's (the baseline row, and searches saved before the hybrid was searched).
_CONFIG_COLUMNS = (
    "layers", "activation", "n_ensemble", "max_iter", "input_transform", "alpha", "residual_alpha", "physics_ridge",
    "physics_smoothness", "blend_step", "solver", "learning_rate_init", "batch_size", "early_stopping", "spectral_target",
)
# Fields scikit-learn ignores for lbfgs: shown blank there.
_ADAM_ONLY_FIELDS = ("learning_rate_init", "batch_size", "early_stopping")


def with_headline(model: ColourModel, headline: str) -> ColourModel:
    """An unfitted copy reporting ``headline``, for models whose headline is a hyperparameter."""
    model = clone(model)
    return model.set_params(headline=headline) if "headline" in model.get_params(deep=False) else model


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
        The same columns for :data:`CHAMPION` (the configuration serving when the search
        ran), :data:`PHYSICS` and :data:`BASELINE` (rank NaN). Searches saved before the
        champion's row have only the last two. ``kind`` names each row's model kind.
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

    @property
    def has_champion(self) -> bool:
        """Whether the champion's configuration was scored (searches saved before it was are not)."""
        return bool((self.references["candidate"] == CHAMPION).any())

    def all_rows(self) -> pd.DataFrame:
        """Trials and the reference rows together."""
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
            return physics_model()
        # Searches saved before the hybrid was searched have no kind column: their trials were networks.
        kind = row["kind"] if isinstance(row.get("kind"), str) else FormulationModel.kind
        return with_headline(model_from_config(kind, json.loads(row["config_json"])), row["headline"])

    def predictions(self, candidate: str) -> pd.DataFrame:
        """Per-measurement test predictions of one reported candidate (empty if it was not a finalist)."""
        return self.test_predictions[self.test_predictions["candidate"] == candidate].reset_index(drop=True)

    def per_recipe(self, candidate: str) -> pd.DataFrame:
        """Mean test ΔE00 (CIEDE2000) per test recipe for one candidate, worst first."""
        frame = self.predictions(candidate)
        table = frame.groupby(RECIPE_ID_COLUMN, as_index=False)[["delta_e00", "spectral_mae"]].mean()
        return table.sort_values("delta_e00", ascending=False).reset_index(drop=True)

    def comparison(self) -> pd.DataFrame:
        """Baseline against optimised on the test recipes, with % improvement, plus the physics and champion rows.

        Rows: baseline, optimised, improvement (%), Kubelka–Munk, and the champion's
        configuration when the search scored it. Columns: mean ΔE00,
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
        if self.has_champion:
            table.loc["champion's configuration (served)"] = [float(self.row(CHAMPION)[key]) for key in columns]
            order.append("champion's configuration (served)")
        return table.loc[order].rename_axis("model").reset_index()



def _config_cell(config: dict | None, name: str):
    if config is None:
        return None
    if name == "layers":
        return "-".join(str(int(n)) for n in config["hidden_layer_sizes"])
    if name in _ADAM_ONLY_FIELDS and config.get("solver") == "lbfgs":
        return None
    return config.get(name)


def with_config_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """Readable config columns before ``headline``, from ``config_json`` (``layers`` as "64-128-64"; a field the
    row's kind lacks, and adam-only fields of an lbfgs network, blank)."""
    frame = frame.copy()
    configs = [json.loads(text) if text else None for text in frame["config_json"]]
    position = list(frame.columns).index("headline")
    for offset, name in enumerate(_CONFIG_COLUMNS):
        values = [_config_cell(config, name) for config in configs]
        frame.insert(position + offset, name, pd.Series(values, index=frame.index, dtype=object))
    return frame


# --------------------------------------------------------------------------------------
# Persistence (plain CSV and JSON; nothing here is ever unpickled)
# --------------------------------------------------------------------------------------


def search_root(models_dir=None) -> Path:
    """Where search runs are saved: ``<models dir>/search``."""
    return settings.models_dir(models_dir) / SEARCH_FOLDER


def save_search(result: SearchResult, models_dir=None) -> Path:
    """Write ``result`` to ``<models dir>/search/<run id>/`` (staged, then renamed into place).

    Raises
    ------
    FileExistsError
        That run is already saved; runs are never overwritten.
    """
    root = search_root(models_dir)
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
    root = search_root(models_dir)
    if not root.is_dir():
        return []
    runs = [p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".") and (p / RUN_FILE).is_file()]
    return sorted(runs, key=lambda p: p.name, reverse=True)


def latest_search(models_dir=None) -> SearchResult | None:
    """The newest saved search, or None when there is none."""
    runs = list_search_runs(models_dir)
    return load_search(runs[0]) if runs else None
