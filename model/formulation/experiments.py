"""Plan experiments: the few recipes whose measurement would teach the model most.

::

    from model.formulation import plan_experiments
    plan = plan_experiments(model, measured, batch_size=6)
    plan.to_frame(), plan.recipe_table_csv()

The errors that remain sit where the lab has no measurements: at the ends of the
single-pigment ladders and in mixtures beyond them. So the recipes worth making next are
scored on what the model does not know, in three parts:

- **model uncertainty**: the ensemble's stated band plus the disagreement between the
  physics-only path and the model's prediction (both ΔE00), at the least certain of the
  allowed films;
- **distance** from every measured recipe, in a scaled recipe space (each colorant
  divided by its allowed maximum, then square-rooted: colour changes fastest at low
  concentration, as Kubelka–Munk's K/S is linear in concentration and reflectance is
  not);
- **spread** within the batch: it is chosen greedily, and each chosen recipe counts as
  measured for the next pick ("kriging believer", Ginsbourger, Le Riche & Carraro 2010,
  *Kriging is well-suited to parallelize optimization*).

They combine as in :func:`select_batch`: a candidate is worth the uncertain, unmeasured
neighbourhood it would cover (Cohn 1996), so a recipe in the middle of an unexplored
region beats an isolated corner, and the candidates, mostly sparse like real designs
(:func:`candidate_recipes`), stand for the recipes the lab makes.

An optional target region (a :class:`~model.formulation.target.Target` and a ΔE00
radius) down-weights recipes predicted far from it, and
:class:`~model.formulation.constraints.Constraints` bound what may be suggested.

Scales: concentrations in wt % (0–100), thickness in µm, CIELAB L* 0–100, ΔE00 in
CIEDE2000 units; scaled distances are unitless (0 to about √k for k colorants).
"""

from __future__ import annotations

from dataclasses import dataclass
from numbers import Integral

import numpy as np
import pandas as pd
from scipy.spatial.distance import cdist
from scipy.stats import qmc

from model.core import colorimetry
from model.core.schema import RECIPE_ID_COLUMN, THICKNESS_COLUMN, Dataset
from model.formulation.constraints import Constraints
from model.formulation.experiment_plan import ExperimentPlan, Suggestion
from model.formulation.target import Target
from model.io.cells import TOTAL_TOLERANCE
from model.io.matching import name_key
from model.models.base import Progress

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "DEFAULT_HEADROOM",
    "DEFAULT_UNCERTAINTY_WEIGHT",
    "candidate_recipes",
    "default_constraints",
    "length_scale",
    "plan_experiments",
    "scaled_recipes",
    "select_batch",
]

DEFAULT_BATCH_SIZE = 6
#: Default allowed maximum of each colorant: this many times the highest measured level
#: ("a little beyond the trained range": far enough to extend a ladder by one step).
DEFAULT_HEADROOM = 1.5
#: Weight of the model's uncertainty in a candidate's need (:func:`select_batch`). On the
#: simulation bench (bench/experiments.py, 5 seeds) 0 (coverage alone) did worst and 1
#: best from 30 recipes on; 1 leaves a model with no spread (a one-member ensemble) no
#: need anywhere, so a fifth of the need stays coverage.
DEFAULT_UNCERTAINTY_WEIGHT = 0.8
#: Recipes are suggested to the lab's weighing precision, wt %.
WEIGHING_STEP_WT = 0.01
#: A disagreement (ΔE00) between physics and model worth naming in a reason: one most people see.
NOTABLE_DISAGREEMENT = 1.0


def default_constraints(measured: Dataset, headroom: float = DEFAULT_HEADROOM) -> Constraints:
    """Every colorant from 0 to ``headroom`` × its highest measured level; the measured thicknesses."""
    recipes = measured.recipes
    maximum = {name: float(headroom * recipes[name].max()) for name in measured.colorants}
    return Constraints(maximum=maximum, thicknesses_um=sorted(recipes[THICKNESS_COLUMN].unique().tolist()))


def scaled_recipes(concentrations: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """Concentrations (wt %, shape (n, k)) in the unitless space distances are measured in: √(c / upper).

    A colorant whose upper bound is 0 (not allowed) contributes 0.
    """
    span = np.where(upper > 0, upper, 1.0)
    return np.sqrt(np.clip(np.asarray(concentrations, dtype=float), 0.0, None) / span) * (upper > 0)


#: Share of candidate recipes that are sparse (one to three colorants), as real designs are:
#: the demo's (after the real pp-inks) has 47 of 51 recipes with three colorants or fewer.
SPARSE_SHARE = 0.75


def candidate_recipes(lower: np.ndarray, upper: np.ndarray, max_total: float | None, n: int, rng: np.random.Generator) -> np.ndarray:
    """Recipes to score, shape (m ≤ n + k, k), wt %, distinct, rounded to :data:`WEIGHING_STEP_WT`.

    :data:`SPARSE_SHARE` of them are sparse, as real recipes are (one, two or three
    colorants above their minimum, equally often); the rest fill the allowed box (a
    scrambled Sobol sequence, Owen 1998); plus each allowed colorant alone at its
    maximum, the end of its ladder. Recipes over ``max_total`` are shrunk toward the
    minimums until they meet it.
    """
    allowed = upper > lower
    k = len(upper)
    n_box = n - round(SPARSE_SHARE * n)
    # A power of two keeps the Sobol sequence balanced (scipy warns otherwise); the excess is dropped.
    box = qmc.Sobol(d=k, scramble=True, seed=rng).random_base2(int(np.ceil(np.log2(max(n_box, 2)))))[:n_box]
    sparse = rng.uniform(size=(n - n_box, k))
    n_used = rng.integers(1, min(3, max(int(allowed.sum()), 1)) + 1, size=len(sparse))
    for row, count in zip(sparse, n_used):
        keep = rng.permutation(np.flatnonzero(allowed))[:count]
        row[np.setdiff1d(np.arange(k), keep)] = 0.0
    ends = np.eye(k)[allowed]
    unit = np.vstack([box, sparse, ends])
    recipes = lower + unit * (upper - lower)
    if max_total is not None:
        excess = recipes.sum(axis=1) > max_total
        room = max_total - lower.sum()
        free = (recipes - lower)[excess]
        recipes[excess] = lower + free * (room / free.sum(axis=1, keepdims=True))
    rounded = np.clip(np.round(recipes / WEIGHING_STEP_WT) * WEIGHING_STEP_WT, lower, upper)
    if max_total is not None:  # rounding up may push a recipe shrunk to the total back over it: round those down
        over = rounded.sum(axis=1) > max_total + TOTAL_TOLERANCE
        rounded[over] = np.clip(np.floor(recipes[over] / WEIGHING_STEP_WT) * WEIGHING_STEP_WT, lower, upper)
    return np.unique(rounded, axis=0)


@dataclass(frozen=True)
class _Films:
    """The model's predictions of every candidate at every allowed thickness, shapes (n, t[, 3])."""

    Lab: np.ndarray
    uncertainty: np.ndarray
    disagreement: np.ndarray

    @property
    def model_term(self) -> np.ndarray:
        return self.uncertainty + self.disagreement

    def least_certain(self) -> np.ndarray:
        """Per candidate, the index of the thickness whose film is least certain."""
        return np.argmax(self.model_term, axis=1)


def _predict_films(model, candidates: np.ndarray, thicknesses: np.ndarray, colorants: list[str]) -> _Films:
    n, t = len(candidates), len(thicknesses)
    inputs = pd.DataFrame(np.repeat(candidates, t, axis=0), columns=colorants)
    inputs[THICKNESS_COLUMN] = np.tile(thicknesses, n)
    prediction = model.predict(inputs[list(model.input_columns)])
    # A model without physics has no physics path; the disagreement of its own two paths stands in.
    disagreement = prediction.delta_e00_physics if prediction.has_physics else prediction.delta_e00_paths
    return _Films(
        Lab=prediction.Lab.reshape(n, t, 3),
        uncertainty=np.nan_to_num(prediction.uncertainty).reshape(n, t),
        disagreement=np.nan_to_num(disagreement).reshape(n, t),
    )


def _nearest(scaled_from: np.ndarray, scaled_to: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distance from each row of ``scaled_from`` to its nearest row of ``scaled_to``, and that row's index."""
    if not len(scaled_to):
        return np.full(len(scaled_from), np.inf), np.zeros(len(scaled_from), dtype=int)
    distances = cdist(scaled_from, scaled_to)
    nearest = np.argmin(distances, axis=1)
    return distances[np.arange(len(scaled_from)), nearest], nearest


def length_scale(scaled_measured: np.ndarray) -> float:
    """The kernel radius ℓ of :func:`select_batch`: half the median nearest-neighbour distance of the measured recipes, in [0.05, 1].

    Coverage is judged at the scale the measured design already has: a recipe counts as
    "near" a measured one when it is closer than half their typical spacing.
    """
    if len(scaled_measured) < 2:
        return 0.25
    distances = cdist(scaled_measured, scaled_measured)
    np.fill_diagonal(distances, np.inf)
    return float(np.clip(0.5 * np.median(distances.min(axis=1)), 0.05, 1.0))


def select_batch(
    model_term: np.ndarray,
    scaled_candidates: np.ndarray,
    scaled_measured: np.ndarray,
    batch_size: int,
    *,
    uncertainty_weight: float = DEFAULT_UNCERTAINTY_WEIGHT,
    region_weight: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Greedy batch: each pick covers the most uncovered need among the candidates, then counts as measured.

    Every candidate p carries a need, ``region(p) × (w · û(p) + 1 − w)`` (û: ``model_term``
    in ΔE00 over its maximum), and a coverage gap ``1 − exp(−d(p)² / 2ℓ²)``, d(p) its
    scaled distance to the nearest measured or already chosen recipe. A candidate x is
    worth the need still uncovered around it,

        acquisition(x) = Σ_p need(p) · gap(p) · exp(−|p − x|² / 2ℓ²),

    Cohn's integrated-variance idea (Cohn 1996, *Neural network exploration using optimal
    experiment design*, Neural Networks 9(6)) with a kernel in place of a Gaussian process.
    Summing over the candidates, who stand for the recipes the lab makes, favours a
    recipe in the middle of an unexplored, uncertain region over an isolated corner. After
    each pick the gaps are recomputed with it counted as measured (kriging believer,
    Ginsbourger et al. 2010), which spreads the batch; ℓ is :func:`length_scale`.

    Returns
    -------
    chosen : numpy.ndarray of int, shape (batch_size,), indices into the candidates, in pick order.
    acquisition : numpy.ndarray, shape (batch_size,), each pick's score when it was picked, as a
        share (0–1) of the candidates' total need.
    """
    model_hat = model_term / max(float(model_term.max(initial=0.0)), 1e-12)
    region = np.ones(len(model_term)) if region_weight is None else region_weight
    need = region * (uncertainty_weight * model_hat + 1.0 - uncertainty_weight)
    ell = length_scale(scaled_measured)
    distance_to_known, _ = _nearest(scaled_candidates, scaled_measured)
    between = cdist(scaled_candidates, scaled_candidates)  # (n, n): 32 MB for the default 2000 candidates
    kernel = np.exp(-(between**2) / (2 * ell**2))
    total_need = max(float(need.sum()), 1e-12)
    chosen, scores = [], []
    for _ in range(batch_size):
        gap = 1.0 - np.exp(-(distance_to_known**2) / (2 * ell**2))
        acquisition = kernel @ (need * gap)
        acquisition[chosen] = -np.inf
        best = int(np.argmax(acquisition))
        chosen.append(best)
        scores.append(float(acquisition[best]) / total_need)
        distance_to_known = np.minimum(distance_to_known, between[:, best])
    return np.array(chosen), np.array(scores)


def _checked_inputs(model, measured: Dataset | None, batch_size, n_candidates: int, radius_delta_e00: float, uncertainty_weight: float) -> None:
    """Raise a ValueError naming the input at fault, and what to give instead."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, Integral) or batch_size < 1:
        raise ValueError(f"batch_size={batch_size!r}: ask for at least 1 recipe (a whole number ≥ 1).")
    if n_candidates < batch_size:
        raise ValueError(f"n_candidates={n_candidates!r} is below batch_size={batch_size}; score at least as many recipes as you ask for.")
    if not radius_delta_e00 > 0:
        raise ValueError(f"radius_delta_e00={radius_delta_e00!r}: give a positive ΔE00 radius around the target.")
    if not 0.0 <= uncertainty_weight <= 1.0:
        raise ValueError(f"uncertainty_weight={uncertainty_weight!r}: give a weight from 0 (distance only) to 1 (uncertainty only).")
    if measured is None or not len(measured):
        raise ValueError("measured: no measured recipes were given; pass the champion's training data (model.registry.training_data.find_training_data).")
    missing = [name for name in model.colorants_ if name not in measured.colorants]
    if missing:
        raise ValueError(f"measured lacks the model's colorants {missing}; pass the data the model was trained on.")


def _measured_recipes(measured: Dataset, colorants: list[str]) -> pd.DataFrame:
    """One row per measured recipe: ``recipe_id`` and its concentrations (wt %)."""
    return measured.table.groupby(RECIPE_ID_COLUMN, sort=True)[colorants].first().astype(float).reset_index()


def _recipe_ids(count: int, prefix: str, measured_ids) -> list[str]:
    """``PLAN1``, ``PLAN2``, …, skipping any that the upload's matcher could confuse with a measured recipe."""
    taken = {name_key(str(recipe_id)) for recipe_id in measured_ids}
    ids, number = [], 1
    while len(ids) < count:
        candidate = f"{prefix}{number}"
        if name_key(candidate) not in taken:
            ids.append(candidate)
        number += 1
    return ids


def plan_experiments(
    model,
    measured: Dataset,
    constraints: Constraints | None = None,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    target: Target | None = None,
    radius_delta_e00: float = 5.0,
    n_candidates: int = 2000,
    uncertainty_weight: float = DEFAULT_UNCERTAINTY_WEIGHT,
    prefix: str = "PLAN",
    seed: int = 0,
    progress: Progress | None = None,
) -> ExperimentPlan:
    """The ``batch_size`` recipes to make and measure next, chosen to teach ``model`` most.

    Parameters
    ----------
    model : fitted ColourModel
        The champion. Its ``predict`` gives the uncertainty and, for a hybrid, the physics path.
    measured : Dataset
        The recipes already measured (the model's training data).
    constraints : Constraints, optional
        What may be suggested; default :func:`default_constraints` (0 to 1.5× the highest
        measured level, the measured thicknesses).
    batch_size : int ≥ 1, default 6
    target : Target, optional
        A colour to plan around; recipes predicted more than ``radius_delta_e00`` from it
        are down-weighted by ``exp(−(ΔE00 − radius) / radius)``.
    radius_delta_e00 : float > 0, default 5
    n_candidates : int, default 2000
        How many recipes to score (see :func:`candidate_recipes`).
    uncertainty_weight : float in [0, 1], default :data:`DEFAULT_UNCERTAINTY_WEIGHT`
        Weight of the model's uncertainty in each candidate's need (see :func:`select_batch`);
        0 plans on distance and coverage alone.
    prefix : str, default "PLAN"
        Recipe ids are ``PLAN1``, ``PLAN2``, … (numbers a measured recipe uses are skipped).
    seed : int
        Seed of the candidate recipes.
    progress : callable(fraction, message), optional

    Returns
    -------
    ExperimentPlan

    Raises
    ------
    ValueError
        A bad input, named: ``batch_size`` below 1, contradictory limits (the colorant is
        named, see :meth:`Constraints.resolve`), no measured recipes, a non-positive radius.
    """
    _checked_inputs(model, measured, batch_size, n_candidates, radius_delta_e00, uncertainty_weight)
    constraints = constraints or default_constraints(measured)
    colorants, lower, upper, thicknesses = constraints.resolve(model)
    if progress:
        progress(0.1, "proposing candidate recipes")
    candidates = candidate_recipes(lower, upper, constraints.total_cap, n_candidates, np.random.default_rng(seed))
    recipes = _measured_recipes(measured, colorants)
    scale_upper = np.maximum(upper, recipes[colorants].max().to_numpy())
    scaled_measured = scaled_recipes(recipes[colorants].to_numpy(), scale_upper)
    scaled_candidates = scaled_recipes(candidates, scale_upper)
    if progress:
        progress(0.3, f"predicting {len(candidates) * len(thicknesses):,} films")
    films = _predict_films(model, candidates, thicknesses, colorants)
    worst = films.least_certain()
    rows = np.arange(len(candidates))
    region = None
    if target is not None:
        to_target = colorimetry.delta_E00(films.Lab, np.broadcast_to(target.Lab, films.Lab.shape)).min(axis=1)
        region = np.exp(-np.clip(to_target - radius_delta_e00, 0.0, None) / radius_delta_e00)
    if progress:
        progress(0.7, "choosing the batch")
    if len(candidates) < batch_size:
        raise ValueError(f"Only {len(candidates)} distinct recipes fit the constraints; ask for at most that many, or widen the limits.")
    chosen, scores = select_batch(
        films.model_term[rows, worst], scaled_candidates, scaled_measured, batch_size, uncertainty_weight=uncertainty_weight, region_weight=region,
    )
    context = _ReasonContext.build(recipes, colorants, measured, thicknesses, films.model_term[rows, worst], target)
    ids = _recipe_ids(batch_size, prefix, recipes[RECIPE_ID_COLUMN])
    suggestions = [
        _suggestion(ids[rank], candidates[index], thicknesses[worst[index]], films, index, worst[index], scores[rank], scaled_candidates[index], scaled_measured, context)
        for rank, index in enumerate(chosen)
    ]
    if progress:
        progress(1.0, "planned")
    return ExperimentPlan(
        suggestions=suggestions, colorants=tuple(colorants), thicknesses_um=tuple(float(t) for t in thicknesses),
        n_candidates=len(candidates), n_measured_recipes=len(recipes),
        measured_Lab=colorimetry.reflectance_to_Lab(measured.reflectance), target_label=None if target is None else target.label,
    )


@dataclass(frozen=True)
class _ReasonContext:
    """What the reasons are built from: the measured recipes and the spread of the model term over the candidates."""

    recipes: pd.DataFrame
    colorants: list[str]
    measured_thicknesses: np.ndarray
    allowed_thicknesses: np.ndarray
    model_term: np.ndarray
    target: Target | None

    @classmethod
    def build(cls, recipes, colorants, measured: Dataset, thicknesses, model_term, target) -> _ReasonContext:
        return cls(recipes, colorants, np.unique(measured.recipes[THICKNESS_COLUMN]), np.asarray(thicknesses), np.sort(model_term), target)

    def combined_before(self, used: list[str]) -> bool:
        """Whether some measured recipe holds every colorant of ``used`` (above 0)."""
        return bool((self.recipes[used] > 0).all(axis=1).any())


def _suggestion(recipe_id, concentrations, thickness, films: _Films, index, film, score, scaled, scaled_measured, context: _ReasonContext) -> Suggestion:
    Lab = films.Lab[index, film]
    sRGB, _ = colorimetry.Lab_to_sRGB(Lab)
    _, nearest = _nearest(scaled[None, :], scaled_measured)
    nearest_row = context.recipes.iloc[int(nearest[0])]
    distance_wt = float(np.linalg.norm(concentrations - nearest_row[context.colorants].to_numpy(dtype=float)))
    uncertainty, disagreement = float(films.uncertainty[index, film]), float(films.disagreement[index, film])
    reasons = _reasons(dict(zip(context.colorants, concentrations)), Lab, uncertainty, disagreement, str(nearest_row[RECIPE_ID_COLUMN]), distance_wt, context)
    return Suggestion(
        recipe_id=recipe_id, concentrations={name: float(value) for name, value in zip(context.colorants, concentrations)},
        thickness_um=float(thickness), Lab=np.asarray(Lab, dtype=float), hex=str(colorimetry.sRGB_to_hex(sRGB)),
        uncertainty=uncertainty, disagreement=disagreement, nearest_recipe=str(nearest_row[RECIPE_ID_COLUMN]),
        nearest_distance_wt=distance_wt, acquisition=float(score), reasons=tuple(reasons),
    )


def _reasons(concentrations: dict[str, float], Lab, uncertainty: float, disagreement: float, nearest: str, distance_wt: float, context: _ReasonContext) -> list[str]:
    """Why this recipe, in words built from the data, most telling first."""
    reasons = []
    measured_max = context.recipes[context.colorants].max()
    for name, value in concentrations.items():
        if value > measured_max[name] + 1e-9:
            reasons.append(f"no measured film has more than {measured_max[name]:g} % {name} (this has {value:g} %)")
    used = [name for name, value in concentrations.items() if value > 0]
    if len(used) == 1 and concentrations[used[0]] <= measured_max[used[0]] + 1e-9:
        reasons.extend(_ladder_reason(used[0], concentrations[used[0]], context))
    if len(used) >= 2 and not context.combined_before(used):
        reasons.append(f"no measured film combines {', '.join(used[:-1])} and {used[-1]}")
    if disagreement >= NOTABLE_DISAGREEMENT:
        reasons.append(f"the physics model and the network disagree by {disagreement:.1f} ΔE00 here")
    share_below = np.floor(100.0 * np.searchsorted(context.model_term, uncertainty + disagreement) / max(len(context.model_term), 1))
    if share_below >= 50:
        reasons.append(f"uncertainty band {uncertainty:.1f} ΔE00 today; the model is less sure here than at {share_below:.0f} % of the recipes considered")
    else:
        reasons.append(f"uncertainty band {uncertainty:.1f} ΔE00 today")
    reasons.append(f"nearest measured recipe is {nearest}, {distance_wt:.1f} wt % away")
    thick, thin = context.allowed_thicknesses.max(), context.allowed_thicknesses.min()
    if thick > context.measured_thicknesses.max() + 1e-9:
        reasons.append(f"no film thicker than {context.measured_thicknesses.max():g} µm was measured")
    if thin < context.measured_thicknesses.min() - 1e-9:
        reasons.append(f"no film thinner than {context.measured_thicknesses.min():g} µm was measured")
    if context.target is not None:
        reasons.append(f"predicted {float(colorimetry.delta_E00(Lab, context.target.Lab)):.1f} ΔE00 from the target {context.target.label}")
    return reasons


def _ladder_reason(name: str, value: float, context: _ReasonContext) -> list[str]:
    """For a one-colorant recipe beyond the end of that colorant's ladder (its films alone), say where the ladder stops."""
    others = [other for other in context.colorants if other != name]
    alone = context.recipes[(context.recipes[name] > 0) & (context.recipes[others] <= 0).all(axis=1)]
    if alone.empty:
        return [f"no film of {name} alone was measured"]
    top = alone.loc[alone[name].idxmax()]
    if value <= top[name] + 1e-9:
        return []
    return [f"the {name} ladder (films of {name} alone) stops at {top[name]:g} % ({top[RECIPE_ID_COLUMN]})"]
