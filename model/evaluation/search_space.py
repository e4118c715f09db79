"""What the configuration search draws from: the space, seeded sampling, and a per-trial budget.

The old system drew from about 1.5 M combinations of its network's hyperparameters;
:data:`SEARCH_SPACE` keeps its 13 layouts and adds what scikit-learn's ``MLPRegressor``
and :class:`~model.models.mlp.FormulationModel` offer (input transforms, spectral
targets, ensembles), so it is at least as large.

Budget
------
``python -m model search --trials 50 --jobs -1`` must finish in about a minute on two
cores, so every trial is cheap by construction, not by cutting the protocol: 3 folds,
one CV seed, and an iteration cap that is itself a searched dimension (``max_iter`` of
50, 100 or 200: lbfgs iterations or adam epochs; adam also stops after 10 epochs
without improvement). A draw too dear for :data:`TRIAL_COST_CAP` has its cap halved
(:func:`sample_configs`). The caps are recorded in every configuration, so a promoted
configuration is refitted exactly as it was scored.
"""

from __future__ import annotations

import json
import math
from itertools import pairwise

import numpy as np
from sklearn.base import clone

from model.models.fluorescent_km import FluorescentKubelkaMunkModel
from model.models.mlp import INPUT_TRANSFORMS, SPECTRAL_TARGETS, FormulationModel, legacy_model

__all__ = [
    "LEGACY_LAYOUTS",
    "SEARCH_SPACE",
    "ADAM_ONLY_FIELDS",
    "baseline_model",
    "BASELINE",
    "PHYSICS",
    "physics_model",
    "DEFAULT_TRIALS",
    "DEFAULT_FOLDS",
    "DEFAULT_TEST_FRACTION",
    "N_FINALISTS",
    "TRIAL_COST_CAP",
    "estimated_cost",
    "search_space_size",
    "effective_search_space_size",
    "sample_configs",
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

#: Fields scikit-learn ignores for lbfgs; such draws are normalised so duplicates are not scored twice.
ADAM_ONLY_FIELDS = ("learning_rate_init", "batch_size", "early_stopping")

#: The fixed reference configuration: the old PyTorch system's architecture
#: ([64, 128, 64] ReLU, adam, raw inputs and reflectance, one network).
baseline_model = legacy_model
#: Candidate names of the two reference rows in results.
BASELINE = "baseline"
PHYSICS = "kubelka-munk"


def physics_model() -> FluorescentKubelkaMunkModel:
    """The physics reference row: the fluorescent Kubelka–Munk film (issue 12), unfitted."""
    return FluorescentKubelkaMunkModel()

#: Per-trial budget in :func:`estimated_cost` units (about 1 s of one core per CV fit):
#: what lets 50 trials × 3 folds finish in about a minute on two cores.
TRIAL_COST_CAP = 400.0
_MIN_ITER = 10
DEFAULT_TRIALS = 50
DEFAULT_FOLDS = 3
DEFAULT_TEST_FRACTION = 0.2
N_FINALISTS = 10


def search_space_size(space: dict[str, tuple] | None = None) -> int:
    """Number of combinations in ``space`` (the product of its dimensions), as the old system counted."""
    space = SEARCH_SPACE if space is None else space
    return math.prod(len(values) for values in space.values())


def effective_search_space_size(space: dict[str, tuple] | None = None) -> int:
    """Distinct models in ``space``: lbfgs ignores learning rate, batch size and early stopping."""
    space = SEARCH_SPACE if space is None else space
    total = 0
    for solver in space["solver"]:
        sizes = [len(values) for name, values in space.items() if name != "solver" and (solver != "lbfgs" or name not in ADAM_ONLY_FIELDS)]
        total += math.prod(sizes)
    return total


def _normalise(model: FormulationModel) -> FormulationModel:
    if model.solver == "lbfgs":
        default = FormulationModel().get_params()
        return clone(model).set_params(**{name: default[name] for name in ADAM_ONLY_FIELDS})
    return model


def estimated_cost(config: FormulationModel, n_rows: int = 60, n_inputs: int = 5) -> float:
    """Relative fitting cost of an unfitted model ``config``: networks × iterations × optimiser steps × network size.

    One unit is roughly 2 ms of one core (measured on this project's 2-core machine for a
    [32] lbfgs model on ~50 rows). Used only to keep trials within :data:`TRIAL_COST_CAP`.
    """
    widths = (n_inputs, *config.hidden_layer_sizes, 31)
    weights = sum(a * b for a, b in pairwise(widths))
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

    Raises
    ------
    ValueError
        ``n_trials`` is below 1 or above the number of distinct models in ``space``.
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
