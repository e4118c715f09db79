"""Inverse formulation: find recipes whose predicted colour matches a target.

A colour model (:class:`~model.models.base.ColourModel`) maps a recipe to a spectrum and
CIELAB. Formulation runs it backwards by bounded multi-start optimisation:

1. **Screening.** A few hundred recipes are drawn inside the constraints, on every
   allowed thickness and on the faces of the concentration box (subsets of the allowed
   colorants, because real recipes use two or three pigments, not all of them). They
   are predicted in one batch.
2. **Refinement.** The best distinct screening recipes start a bounded quasi-Newton
   search (``scipy.optimize.minimize``, L-BFGS-B). All starts are optimised at once:
   their objectives are independent, so their sum is minimised, and its gradient comes
   from forward differences evaluated as one batch prediction per step. A Python loop
   of single predictions would be a hundred times slower.
3. **Tidying.** Concentrations within a few percent of their allowed range of zero are
   set to zero when that costs (almost) no colour accuracy, so that a candidate names
   the pigments it really needs.

The objective is CIEDE2000 to the target for a colour target (CIELAB, hex, sRGB). For a
spectral target it is the spectral RMS plus a metamerism term: the ΔE00 under D65, A
and F11, so that a recipe that matches under daylight but not under a shop's lamps
ranks lower.

With a minimum fluorescence (``Constraints.min_fluorescence_cts``, ct/s) the objective
adds a quadratic penalty on the predicted shortfall below it (aimed 1 % above, so the
penalty's slack stays above the minimum), and a recipe is never tidied below it.

Every batch goes through the model's ``predict_arrays`` (the contract's fast path) and,
with a minimum fluorescence, ``predict_fluorescence``, so the search knows nothing of how
a model computes its colour.

Scales: concentrations in wt % (0–100), thickness in µm, reflectance factor 0–1 (may
exceed 1 for fluorescent colorants), L* 0–100, ΔE00 CIEDE2000 units, spectral RMS in
reflectance percent (0–100 scale, so 1.0 means 0.01 reflectance).
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable

import numpy as np
from scipy.optimize import minimize

from model.core import colorimetry
from model.core.schema import THICKNESS_COLUMN
from model.formulation.constraints import Constraints
from model.formulation.explain import describe_candidates, explain_fluorescence, explain_outcome
from model.formulation.result import METAMERISM_ILLUMINANTS, FormulationResult, safest_first
from model.formulation.target import Target

__all__ = ["FormulationCancelled", "formulate"]

# Relative step of the forward-difference gradient, as a fraction of each colorant's
# allowed span: big enough to rise above the networks' float noise, small enough to be local.
_GRADIENT_STEP = 1e-3
# Weight of the daylight (D65) ΔE00² against the spectral RMS² (in %²) and the mean
# metamerism ΔE00² under A and F11 in a spectral target's objective. The model cannot
# reproduce a measured curve exactly, and a chemist first judges the match in daylight,
# so the colour under D65 must not be traded away for a slightly closer curve.
_DAYLIGHT_WEIGHT = 10.0
# ... and in the final polish, which must not leave a visible daylight difference behind.
_POLISH_DAYLIGHT_WEIGHT = 1000.0
# Penalty weight on exceeding the maximum total (per wt %², in objective units).
_TOTAL_PENALTY = 1e3
# A candidate's concentration is tried at zero when below this fraction of its allowed span.
_SNAP_FRACTION = 0.05
# ... and set to zero when that raises its ΔE00 to the target by at most this much.
_SNAP_TOLERANCE_DELTA_E00 = 0.05
# A minimum fluorescence is aimed this share above what was asked, so that the penalty's
# slack (a penalty method stops a hair short of its goal) stays above the minimum.
_FLUORESCENCE_MARGIN = 0.01
# Penalty weight on the relative fluorescence shortfall² (objective units, ΔE00²): 1 % short costs 10 ΔE00².
_FLUORESCENCE_PENALTY = 1e5
# Most box corners tried when looking for the highest reachable fluorescence (2 per free colorant).
_MAX_CORNERS = 4096


class FormulationCancelled(RuntimeError):
    """A search ended early because its caller's ``should_stop`` said so (a deadline, a client gone).

    Attributes
    ----------
    seconds : float, how long the search had run.
    n_predictions : int, recipes predicted before it stopped.
    """

    def __init__(self, seconds: float, n_predictions: int) -> None:
        super().__init__(f"The formulation search was stopped after {seconds:.1f} s and {n_predictions:,} predicted recipes.")
        self.seconds = seconds
        self.n_predictions = n_predictions


def formulate(
    model,
    target: Target,
    constraints: Constraints | None = None,
    *,
    n_candidates: int = 3,
    n_starts: int = 8,
    screening_per_face: int = 16,
    max_iterations: int = 40,
    seed: int = 0,
    should_stop: Callable[[], bool] | None = None,
) -> FormulationResult:
    """Find recipes whose predicted colour matches ``target`` within ``constraints``.

    Parameters
    ----------
    model : fitted ColourModel, usually the champion
        Read through the contract only: ``colorants_``, ``training_range_``,
        ``predict_arrays`` (during the search) and ``predict`` (for the candidates).
    target : Target
    constraints : Constraints, optional; default every colorant within its trained range,
        at the lowest and highest trained thickness.
    n_candidates : int
        How many distinct recipes to return (fewer when the search finds fewer distinct ones).
    n_starts : int
        Starting points refined per allowed thickness.
    screening_per_face : int
        Random recipes per subset of colorants in the screening batch.
    max_iterations : int
        L-BFGS-B iterations (each is one batch prediction of ``starts × (colorants + 1)`` recipes).
    seed : int
        Seeds the screening sample, so a search is repeatable.
    should_stop : callable, optional
        Called with no arguments before every batch prediction of the search (screening,
        each L-BFGS-B step, polish, tidying: a few dozen calls, so it must be cheap);
        when it returns True the search ends with :class:`FormulationCancelled`. The JSON
        API passes one that turns True after a deadline or when the client has left.

    Returns
    -------
    FormulationResult
        Candidates ordered by expected ΔE00 to the target (the predicted ΔE00 and the
        uncertainty band in quadrature: :attr:`Candidate.expected_delta_e00`); those whose
        prediction is risky (wide uncertainty, paths that disagree, out of the training
        range: :attr:`Candidate.risks`) come after the others.
        Never raises because a target is out of reach: ``reachable`` is False and
        ``explanation`` says which way the closest recipe falls short.

    Raises
    ------
    ValueError
        ``n_candidates`` is below 1, or the constraints contradict each other or name
        unknown colorants.
    FormulationCancelled
        ``should_stop`` returned True; nothing is returned.

    Examples
    --------
    >>> result = formulate(model, Target.from_hex("#2e8b57"))            # doctest: +SKIP
    >>> result.best.recipe, result.best.delta_e00                       # doctest: +SKIP
    """
    if n_candidates < 1:
        raise ValueError(f"n_candidates={n_candidates!r}: ask for at least one recipe.")
    started = time.perf_counter()
    constraints = constraints or Constraints()
    colorants, lower, upper, thicknesses = constraints.resolve(model)
    scorer = _Scorer(model, target, constraints.min_fluorescence_cts, should_stop)
    rng = np.random.default_rng(seed)
    refined = _search(scorer, lower, upper, thicknesses, constraints.total_cap, rng, n_starts, screening_per_face, max_iterations)
    final_objective, _ = scorer.score(refined)
    chosen = _distinct(refined, np.argsort(final_objective), upper - lower, n_candidates)
    candidates = describe_candidates(model, target, colorants, refined[chosen])  # best objective first
    reachable, shortfalls, explanation = explain_outcome(target, candidates, colorants, lower, upper, constraints.total_cap)
    met, fluorescence_sentence = _fluorescence_verdict(scorer, constraints, candidates, colorants, lower, upper, thicknesses, refined)
    return FormulationResult(
        target=target, candidates=safest_first(candidates), reachable=reachable and met is not False,
        explanation=" ".join(part for part in (explanation, fluorescence_sentence) if part), shortfalls=tuple(shortfalls),
        seconds=time.perf_counter() - started, n_predictions=scorer.n_predictions,
        min_fluorescence_cts=constraints.min_fluorescence_cts, fluorescence_met=met,
    )


def _fluorescence_verdict(scorer, constraints: Constraints, candidates, colorants, lower, upper, thicknesses, refined) -> tuple[bool | None, str]:
    """Whether the candidates reach the minimum fluorescence, and why not (see :func:`explain_fluorescence`)."""
    minimum = constraints.min_fluorescence_cts
    has_head = scorer.model.has_fluorescence
    highest = None
    if minimum is not None and has_head and any(c.fluorescence_cts < minimum for c in candidates):
        highest = _highest_fluorescence(scorer.model, lower, upper, thicknesses, constraints.total_cap, refined, colorants)
    return explain_fluorescence(minimum, candidates, has_head, highest)


def _highest_fluorescence(model, lower, upper, thicknesses, max_total, tried: np.ndarray, colorants: list[str]) -> tuple[float, dict]:
    """The highest predicted fluorescence (ct/s) over the corners of the allowed box at every
    thickness and the recipes ``tried``, and that recipe (wt %, µm)."""
    free = np.flatnonzero(upper > lower)
    corners = np.tile(lower, (1, 1))
    if 0 < len(free) and 2 ** len(free) <= _MAX_CORNERS:
        corners = np.tile(lower, (2 ** len(free), 1))
        for bit, column in enumerate(free):
            at_top = (np.arange(len(corners)) >> bit) & 1 == 1
            corners[at_top, column] = upper[column]
    corners = _cap_total(corners, lower, max_total)
    recipes = np.vstack([*(np.column_stack([corners, np.full(len(corners), t)]) for t in thicknesses), tried])
    fluorescence = model.predict_fluorescence(recipes)
    best = int(np.argmax(fluorescence))
    return float(fluorescence[best]), dict(zip([*colorants, THICKNESS_COLUMN], map(float, recipes[best])))


def _search(
    scorer: _Scorer,
    lower: np.ndarray,
    upper: np.ndarray,
    thicknesses: np.ndarray,
    max_total: float | None,
    rng: np.random.Generator,
    n_starts: int,
    screening_per_face: int,
    max_iterations: int,
) -> np.ndarray:
    """Screen, refine (and polish, for a spectral target) and tidy: recipes (n, colorants + 1) in wt % then µm."""
    free = upper > lower
    screening = _screening_recipes(lower, upper, free, thicknesses, rng, screening_per_face)
    screening[:, :-1] = _cap_total(screening[:, :-1], lower, max_total)
    objective, _ = scorer.score(screening)
    starts = []
    for thickness in thicknesses:
        at_thickness = np.flatnonzero(np.isclose(screening[:, -1], thickness))
        order = at_thickness[np.argsort(objective[at_thickness])]
        starts.extend(_distinct(screening, order, upper - lower, n_starts))
    refined = _refine(scorer, screening[starts], lower, upper, free, max_total, max_iterations)
    if scorer.target.is_spectral:
        # Polish: from the best spectral matches, close the remaining daylight colour gap
        # (the curve and metamerism terms stay in, at a hundredth of the weight).
        scorer.daylight_weight = _POLISH_DAYLIGHT_WEIGHT
        refined = _refine(scorer, refined, lower, upper, free, max_total, max_iterations // 2)
    return _snap_small_to_zero(scorer, refined, lower, upper)


class _Scorer:
    """Predicts a batch of recipes and scores each against the target (one prediction per batch).

    Parameters
    ----------
    model : fitted ColourModel; only ``predict_arrays`` is called.
    target : Target
    min_fluorescence_cts : float, optional; see :class:`Constraints`.
    should_stop : callable, optional
        Asked before every batch; True ends the search with :class:`FormulationCancelled`.

    Attributes
    ----------
    daylight_weight : float
        Weight of the D65 ΔE00² in a spectral target's objective (the polish raises it).
    n_predictions : int
        Recipes predicted so far.
    """

    def __init__(self, model, target: Target, min_fluorescence_cts: float | None = None, should_stop: Callable[[], bool] | None = None):
        self.model = model
        self.target = target
        self.should_stop = should_stop
        self.started = time.perf_counter()
        # Without a fluorescence head the minimum cannot steer the search (the verdict says so).
        self.fluorescence_goal = None
        if min_fluorescence_cts is not None and min_fluorescence_cts > 0 and model.has_fluorescence:
            self.fluorescence_goal = float(min_fluorescence_cts) * (1.0 + _FLUORESCENCE_MARGIN)
        self.n_predictions = 0
        self.daylight_weight = _DAYLIGHT_WEIGHT
        if target.is_spectral:
            illuminants = ("D65", *METAMERISM_ILLUMINANTS)
            self.target_Lab_by_illuminant = {name: colorimetry.reflectance_to_Lab(target.reflectance, name) for name in illuminants}

    def predict(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Reflectance (n, 31; 0–1) and headline CIELAB (n, 3; L* 0–100) of recipes X (n, colorants + thickness)."""
        # Every stage of the search predicts through here, one batch per step, so this is
        # where a cancelled search stops: between steps, never inside a prediction.
        if self.should_stop is not None and self.should_stop():
            raise FormulationCancelled(time.perf_counter() - self.started, self.n_predictions)
        self.n_predictions += len(X)
        return self.model.predict_arrays(X)

    def fluorescence_penalty(self, X: np.ndarray) -> np.ndarray:
        """Penalty (n,) on the predicted fluorescence shortfall of recipes X below the goal; zeros without a minimum."""
        if self.fluorescence_goal is None:
            return np.zeros(len(X))
        shortfall = np.clip(self.fluorescence_goal - self.model.predict_fluorescence(X), 0, None) / self.fluorescence_goal
        return _FLUORESCENCE_PENALTY * shortfall**2

    def score(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Objective (n,) and ΔE00 under D65 (n,) of recipes X (with the fluorescence penalty in the objective)."""
        objective, delta_e00 = self._colour_score(X)
        return objective + self.fluorescence_penalty(X), delta_e00

    def _colour_score(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        reflectance, Lab = self.predict(X)
        if not self.target.is_spectral:
            delta_e00 = colorimetry.delta_E00(Lab, self.target.Lab)
            return delta_e00**2, delta_e00
        # Spectral target: match the curve, and the colour under each illuminant, so that
        # metameric pairs (same colour in daylight, different under a lamp) rank lower.
        rms_percent = 100.0 * np.sqrt(np.mean((reflectance - self.target.reflectance) ** 2, axis=1))
        predicted_Lab = np.stack(
            [Lab if illuminant == "D65" else colorimetry.reflectance_to_Lab(reflectance, illuminant) for illuminant in self.target_Lab_by_illuminant]
        )
        target_Lab = np.stack(list(self.target_Lab_by_illuminant.values()))[:, None, :]
        colour_terms = colorimetry.delta_E00(predicted_Lab, np.broadcast_to(target_Lab, predicted_Lab.shape))  # one call, 3 illuminants
        delta_e00 = colour_terms[0]
        objective = rms_percent**2 + self.daylight_weight * colour_terms[0] ** 2 + np.mean(np.square(colour_terms[1:]), axis=0)
        return objective, delta_e00


def _total_penalty(concentrations: np.ndarray, max_total: float | None) -> np.ndarray:
    """Quadratic penalty (n,) on each recipe's total above ``max_total`` (wt %); zeros without a maximum."""
    if max_total is None:
        return np.zeros(len(concentrations))
    excess = np.clip(concentrations.sum(axis=1) - max_total, 0, None)
    return _TOTAL_PENALTY * excess**2


def _cap_total(concentrations: np.ndarray, lower: np.ndarray, max_total: float | None) -> np.ndarray:
    """Scale the part above the minimums down so the total fits (a penalty leaves a hair over)."""
    if max_total is None:
        return concentrations
    concentrations = concentrations.copy()
    totals = concentrations.sum(axis=1)
    over = totals > max_total
    if np.any(over):
        free = concentrations[over] - lower
        room = max_total - lower.sum()
        concentrations[over] = lower + free * (room / np.maximum(free.sum(axis=1, keepdims=True), 1e-12))
    return concentrations


def _screening_recipes(lower, upper, free, thicknesses, rng: np.random.Generator, per_face: int) -> np.ndarray:
    """Random recipes on every face of the box spanned by the free colorants, at every thickness."""
    free_indices = np.flatnonzero(free)
    faces = [subset for size in range(1, len(free_indices) + 1) for subset in itertools.combinations(free_indices, size)]
    if len(faces) > 64:  # many colorants: sample faces of up to three colorants plus the full box
        small = [face for face in faces if len(face) <= 3]
        faces = [small[i] for i in rng.choice(len(small), size=min(63, len(small)), replace=False)] + [tuple(free_indices)]
    rows = []
    for face in faces:
        sample = np.tile(lower, (per_face, 1))
        columns = list(face)
        # Square-root spacing: colour changes fastest at low loadings.
        sample[:, columns] = lower[columns] + (upper[columns] - lower[columns]) * rng.uniform(0, 1, (per_face, len(columns))) ** 2
        rows.append(sample)
    concentrations = np.vstack(rows)
    return np.vstack([np.column_stack([concentrations, np.full(len(concentrations), t)]) for t in thicknesses])


def _distinct(X: np.ndarray, order: np.ndarray, span: np.ndarray, limit: int) -> list[int]:
    """Indices (in ``order``) of up to ``limit`` recipes that differ meaningfully from each other."""
    chosen: list[int] = []
    scale = np.where(span > 0, span, 1.0)
    for index in order:
        recipe = X[index]
        is_new = True
        for other in chosen:
            same_thickness = np.isclose(recipe[-1], X[other][-1])
            same_set = np.array_equal(recipe[:-1] > 0, X[other][:-1] > 0)
            close = np.max(np.abs(recipe[:-1] - X[other][:-1]) / scale) < _SNAP_FRACTION
            if same_thickness and same_set and close:
                is_new = False
                break
        if is_new:
            chosen.append(int(index))
            if len(chosen) == limit:
                break
    return chosen


def _refine(scorer: _Scorer, starts: np.ndarray, lower, upper, free, max_total, max_iterations: int) -> np.ndarray:
    """Bounded L-BFGS-B from every start at once; thickness stays at each start's value."""
    n_starts = len(starts)
    free_indices = np.flatnonzero(free)
    n_free = len(free_indices)
    if n_free == 0:
        return starts
    span = upper[free_indices] - lower[free_indices]
    steps = np.maximum(_GRADIENT_STEP * span, 1e-6)

    def unpack(vector: np.ndarray) -> np.ndarray:
        X = starts.copy()
        X[:, free_indices] = vector.reshape(n_starts, n_free)
        return X

    def objective_and_gradient(vector: np.ndarray) -> tuple[float, np.ndarray]:
        X = unpack(vector)
        # Forward differences, stepping backwards where a variable sits at its upper bound.
        base = X[:, free_indices]
        direction = np.where(base + steps > upper[free_indices], -1.0, 1.0)
        batch = [X]
        for k, column in enumerate(free_indices):
            shifted = X.copy()
            shifted[:, column] += direction[:, k] * steps[k]
            batch.append(shifted)
        stacked = np.vstack(batch)
        objective, _ = scorer.score(stacked)
        values = (objective + _total_penalty(stacked[:, :-1], max_total)).reshape(n_free + 1, n_starts)
        gradient = (values[1:] - values[0]).T / (direction * steps)
        return float(values[0].sum()), gradient.reshape(-1)

    bounds = [(lower[column], upper[column]) for _ in range(n_starts) for column in free_indices]
    result = minimize(
        objective_and_gradient,
        starts[:, free_indices].reshape(-1),
        jac=True,
        method="L-BFGS-B",
        bounds=bounds,
        options={"maxiter": max_iterations, "ftol": 1e-10, "gtol": 1e-8},
    )
    X = unpack(np.clip(result.x, np.tile(lower[free_indices], n_starts), np.tile(upper[free_indices], n_starts)))
    X[:, :-1] = _cap_total(X[:, :-1], lower, max_total)
    return X


def _snap_small_to_zero(scorer: _Scorer, X: np.ndarray, lower, upper) -> np.ndarray:
    """Drop near-zero colorants from each recipe when that costs (almost) no accuracy."""
    _, delta_e00 = scorer.score(X)
    snapped = X.copy()
    small = (X[:, :-1] < lower + _SNAP_FRACTION * (upper - lower)) & (lower == 0) & (X[:, :-1] > 0)
    snapped[:, :-1][small] = 0.0
    changed = np.any(small, axis=1)
    if not np.any(changed):
        return X
    _, snapped_delta_e00 = scorer.score(snapped[changed])
    accept = snapped_delta_e00 <= delta_e00[changed] + _SNAP_TOLERANCE_DELTA_E00
    # ... and never when that takes a recipe further below the minimum fluorescence.
    accept &= scorer.fluorescence_penalty(snapped[changed]) <= scorer.fluorescence_penalty(X[changed]) + 1e-9
    result = X.copy()
    result[np.flatnonzero(changed)[accept]] = snapped[changed][accept]
    return result
