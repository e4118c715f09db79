"""What the configuration search draws from: the served kind's own hyperparameters, and the reference rows.

The served model is the :class:`~model.models.hybrid.HybridModel`: fluorescent
Kubelka–Munk physics with MLP residual heads and plain MLP heads, blended on inner
leave-recipe-out validation. :data:`SEARCH_SPACE` draws its own hyperparameters: the
heads' layout, activation, iteration cap and ensemble size, the plain heads' and the
residual heads' L2 penalties, the input transform, the physics' ridge and smoothness
penalties, and the blend's grid step. Everything else (the inner folds, the headline,
the fluorescence settings) stays at the served model's defaults.

Reference rows
--------------
Every search also scores, on the same folds and the same test recipes:

- :data:`CHAMPION`: the configuration that serves now (its card's kind and config; the
  default model's when there is no champion), so the search says whether it found
  anything better than what is in use;
- :data:`PHYSICS`: the fluorescent Kubelka–Munk physics alone;
- :data:`BASELINE`: the old system's network ([64, 128, 64] ReLU, adam), kept so the
  old system's figures can still be compared.

Budget
------
``python -m model search --trials 50 --jobs -1`` must finish within 90 s on two cores.
A hybrid fit nests an inner 3-fold validation, so one trial of 3 outer folds fits the
physics 12 times and 16 MLP heads (per member) 12 times. The physics depends only on its
own two penalties and the training recipes, which every trial shares: it is solved once
per training set and penalty pair in each worker and reused
(:data:`model.models.fluorescent_km.FIT_CACHE`), which is why the physics penalties have
only two values each. The heads are what a trial pays for (most of it scikit-learn's
per-iteration overhead, about 0.5 ms an lbfgs iteration a head), so the space keeps them
small: at most 32 units a layer, one member and 100 iterations (the served default,
two members and up to 2000 iterations, is scored once, as the champion's row). On the
real data a 50-trial run with up to two members and 200 iterations cost 5.5 CPU-seconds
a trial, and one with up to 100 iterations 4.3 (bench/search.py, a busy machine).
:func:`estimated_cost` orders the dispatch, dearest first.
"""

from __future__ import annotations

import json
import math
from itertools import pairwise

import numpy as np

from model.models.fluorescent_km import FluorescentKubelkaMunkModel
from model.models.hybrid import HybridModel
from model.models.mlp import INPUT_TRANSFORMS, legacy_model

__all__ = [
    "SEARCHED_KIND",
    "SEARCH_SPACE",
    "PHYSICS_FIELDS",
    "baseline_model",
    "BASELINE",
    "PHYSICS",
    "CHAMPION",
    "REFERENCES",
    "physics_model",
    "DEFAULT_TRIALS",
    "DEFAULT_FOLDS",
    "DEFAULT_TEST_FRACTION",
    "N_FINALISTS",
    "estimated_cost",
    "search_space_size",
    "effective_search_space_size",
    "sample_configs",
]

#: The kind the search draws: the served model's.
SEARCHED_KIND = HybridModel.kind

#: Values each HybridModel hyperparameter is drawn from (the others keep their defaults).
#: Transforms come from model.models.mlp, so a new transform joins the search automatically.
SEARCH_SPACE: dict[str, tuple] = {
    # The plain and the residual heads (one layout, activation and iteration cap for both).
    "hidden_layer_sizes": ((8,), (16,), (32,), (16, 16)),
    "activation": ("tanh", "relu", "logistic"),
    "max_iter": (25, 50, 100),
    "n_ensemble": (1,),  # one member a trial: the dearest single lever (a second doubles the heads)
    "input_transform": INPUT_TRANSFORMS,
    # Regularisation: the plain heads' L2 penalty, and the residual heads' (they learn a small correction).
    "alpha": (1e-3, 1e-2, 0.1, 0.3, 1.0),
    "residual_alpha": (0.1, 0.3, 1.0, 3.0, 10.0),
    # The physics' penalties: two values each, so the physics is solved for at most four pairs.
    "physics_ridge": (1e-3, 1e-2),
    "physics_smoothness": (1e-2, 1e-1),
    # The blend's grid step (0.05 costs 0.8 s per blend on five candidates: left out).
    "blend_step": (0.1, 0.2),
}
#: The fields that set the physics (the part fitted once per training set and reused).
PHYSICS_FIELDS = ("physics_ridge", "physics_smoothness")

#: The old PyTorch system's architecture ([64, 128, 64] ReLU, adam, raw inputs and reflectance, one network).
baseline_model = legacy_model
#: Candidate names of the three reference rows in results.
BASELINE = "baseline"
PHYSICS = "kubelka-munk"
CHAMPION = "champion"
REFERENCES = (CHAMPION, PHYSICS, BASELINE)

DEFAULT_TRIALS = 50
DEFAULT_FOLDS = 3
DEFAULT_TEST_FRACTION = 0.2
N_FINALISTS = 10


def physics_model() -> FluorescentKubelkaMunkModel:
    """The physics reference row: the fluorescent Kubelka–Munk film (issue 12), unfitted.

    Its defaults are the served hybrid's physics, so its fits come from the physics cache.
    """
    return FluorescentKubelkaMunkModel()


def search_space_size(space: dict[str, tuple] | None = None) -> int:
    """Number of combinations in ``space`` (the product of its dimensions)."""
    space = SEARCH_SPACE if space is None else space
    return math.prod(len(values) for values in space.values())


def effective_search_space_size(space: dict[str, tuple] | None = None) -> int:
    """Distinct models in ``space``: every combination is one (the hybrid's heads all use lbfgs)."""
    return search_space_size(space)


def estimated_cost(config) -> float:
    """Relative cost of fitting an unfitted model ``config``, to send the dearest trials first.

    For a hybrid: members × iterations × network size (its physics is shared between
    trials). The reference rows (another kind) count as dearest.
    """
    if not isinstance(config, HybridModel):
        return math.inf
    widths = (5, *config.hidden_layer_sizes, 31)
    weights = sum(a * b for a, b in pairwise(widths))
    return config.n_ensemble * config.max_iter * (1 + weights / 2000)


def sample_configs(n_trials: int, seed: int = 0, space: dict[str, tuple] | None = None) -> list[HybridModel]:
    """``n_trials`` distinct unfitted hybrids drawn uniformly from ``space`` with a seeded generator.

    Parameters
    ----------
    n_trials : int, ≥ 1 and at most the number of combinations in ``space``.
    seed : int, the same seed gives the same list.
    space : dict of HybridModel field name → tuple of values, default :data:`SEARCH_SPACE`.

    Raises
    ------
    ValueError
        ``n_trials`` is below 1 or above the number of combinations in ``space``.
    """
    space = SEARCH_SPACE if space is None else space
    if n_trials < 1:
        raise ValueError(f"n_trials={n_trials!r}: run at least 1 trial (the default is {DEFAULT_TRIALS}).")
    available = effective_search_space_size(space)
    if n_trials > available:
        raise ValueError(f"n_trials={n_trials}: the space has only {available} distinct models; ask for fewer trials.")
    rng = np.random.default_rng(seed)
    configs: list[HybridModel] = []
    seen: set[str] = set()
    while len(configs) < n_trials:
        config = HybridModel(**{name: values[int(rng.integers(len(values)))] for name, values in space.items()})
        key = json.dumps(config.config(), sort_keys=True)
        if key not in seen:
            seen.add(key)
            configs.append(config)
    return configs
