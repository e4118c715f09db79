"""The old system's HTTP contract, translated onto Huecast's own serving functions.

The FastAPI server Huecast replaces answered ``/api/status``, ``/api/reagents``,
``/api/predict``, ``/api/batch_predict`` and ``/api/inverse_predict`` (and
``/api/retrain``); its React page, lab scripts and spreadsheets still call them. Each
function here reads an old request body, turns it into the request :mod:`model.serving.api`
answers under ``/api/v1`` (``predict``) or the search that ``/api/v1/formulate`` runs
(:func:`model.formulation.formulate`, with the same caps and time bound), and writes the
answer in the old shape. No number is computed twice: the reflectance and CIELAB of
``/api/predict`` are the ``R400 … R700`` and ``L, a, b, C, h`` of ``/api/v1/predict`` for the
same recipe. ``dashboard/legacy_api.py`` wires these functions to Starlette routes.

**Names.** Old clients send short colorant names (``GXT``) where the data says ``GXT-10``.
An admin declares aliases in secrets (``[api.aliases] GXT = "GXT-10"``, read by
:func:`model.core.settings.colorant_aliases`); a name must be a colorant of the served
model or such an alias, matched exactly, or the request is refused with 400 naming the
accepted names (:class:`ColorantNames`). Answers name each colorant as the old clients do:
by its first alias when it has one.

**Errors** are ``{"detail": "..."}`` (:func:`error_body`): 400 for bad input (what
``/api/v1`` answers with 422), and the other statuses of ``/api/v1`` as they are (413 for a
body or batch over the caps, 429/503 when the heavy lane is full or the search was stopped).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from model.core.schema import BAND_COLUMNS, THICKNESS_COLUMN, WAVELENGTHS_NM
from model.io.cells import CONCENTRATION, THICKNESS
from model.serving import api
from model.serving.api import ApiError

__all__ = [
    "DEFAULT_THICKNESS_UM",
    "METHODS",
    "ColorantNames",
    "error_body",
    "status",
    "reagents",
    "predict",
    "batch_predict",
    "inverse_predict",
    "retrain_started",
    "fluorescence_emission_area",
]

_WAVELENGTHS = [int(nm) for nm in WAVELENGTHS_NM]
#: The film thickness (µm) of a predict body without one: the old contract's own default.
DEFAULT_THICKNESS_UM = 8.0
_PREDICT_FIELDS = ("concentrations", "thickness", "model_type")
_INVERSE_FIELDS = ("target_spectrum", "thickness", "method", "initial_guess", "bounds")
#: The search of each old ``method`` (keyword arguments of :func:`model.formulation.formulate`).
#: "global" is the search of ``/api/v1/formulate`` (8 L-BFGS-B starts per thickness from the
#: screening of the whole allowed box); "local" refines only the best screening recipe.
METHODS = {"global": {"n_starts": 8}, "local": {"n_starts": 1}}


def error_body(error: ApiError) -> tuple[int, dict]:
    """``(status, {"detail": message})`` of an :class:`ApiError` in the old contract: 422 becomes 400."""
    return (400 if error.status == 422 else error.status), {"detail": error.message}


def _bad(message: str, field: str | None = None) -> ApiError:
    return ApiError(400, message, field)


class ColorantNames:
    """The colorant names an old client may send, and the name each colorant is answered with.

    Parameters
    ----------
    colorants : sequence of str
        The served model's colorants, in model order.
    aliases : mapping of str to str
        Old name → colorant (:func:`model.core.settings.colorant_aliases`). An alias of a
        colorant this model does not have is not accepted (another champion may have it).

    Raises
    ------
    ValueError
        An alias is spelt like one of the model's colorants: the two could not be told apart.
    """

    def __init__(self, colorants: Sequence[str], aliases: Mapping[str, str]) -> None:
        self.colorants = list(colorants)
        shadowing = [alias for alias in aliases if alias in self.colorants]
        if shadowing:
            raise ValueError(f"[api.aliases] {shadowing[0]!r} is spelt like a colorant of the served model; "
                             "remove that alias (the colorant's own name is accepted as it is).")
        self.aliases = {alias: colorant for alias, colorant in aliases.items() if colorant in self.colorants}
        self._idle = {alias: colorant for alias, colorant in aliases.items() if colorant not in self.colorants}
        self._answered = {colorant: colorant for colorant in self.colorants}
        for alias, colorant in reversed(list(self.aliases.items())):  # the first alias declared wins
            self._answered[colorant] = alias

    @property
    def accepted_text(self) -> str:
        """The accepted names, for a message: ``GXT-10, BiVaO4, PG, PearlB (colorants); GXT (for GXT-10) (aliases)``."""
        text = f"{', '.join(self.colorants)} (colorants)"
        if self.aliases:
            text += "; " + ", ".join(f"{alias} (for {colorant})" for alias, colorant in self.aliases.items()) + " (aliases)"
        return text

    def colorant(self, name: Any, field: str) -> str:
        """The model colorant ``name`` stands for (itself or its alias), or 400 naming ``field`` and the accepted names."""
        if isinstance(name, str):
            if name in self._answered:
                return name
            if name in self.aliases:
                return self.aliases[name]
        if isinstance(name, str) and name in self._idle:  # declared, but for a colorant another model had
            raise _bad(f"{field} is declared as an alias of {self._idle[name]!r} ([api.aliases]), but the served model has no "
                       f"colorant {self._idle[name]!r}. Expected only {self.accepted_text}. An admin can correct the alias, "
                       "or promote a model trained on that colorant.", field)
        hint = api._did_you_mean(name, [*self.colorants, *self.aliases]) if isinstance(name, str) else ""
        raise _bad(f"{field} is not a colorant of this model.{hint} Expected only {self.accepted_text}. "
                   "An admin can declare an old name as an alias: [api.aliases] in secrets.toml.", field)

    def answered(self, colorant: str) -> str:
        """The name an answer gives ``colorant``: its first alias, else itself."""
        return self._answered[colorant]

    def client_names(self) -> list[str]:
        """Every colorant, in model order, under the name answers give it."""
        return [self._answered[colorant] for colorant in self.colorants]


# --------------------------------------------------------------------------------------
# GET status, GET reagents
# --------------------------------------------------------------------------------------


def status(model, card, aliases: Mapping[str, str], serving_status: str = "ok") -> dict:
    """``GET /api/status``.

    ``samples_loaded`` is the number of measurements the served model was trained on (its
    card's ``n_samples``; null when the card does not say); ``samples_with_conc`` is the
    same number, because Huecast trains only on measurements matched to a recipe (the
    match report lists the others). ``model_types`` names the one model served (its card's
    ``kind``); ``status`` is ``"ok"``, or ``"degraded"`` while a fallback model serves.
    """
    n_samples = card.dataset.get("n_samples")
    n_samples = None if n_samples is None else int(n_samples)
    return {
        "status": serving_status,
        "samples_loaded": n_samples,
        "samples_with_conc": n_samples,
        "reagents": ColorantNames(model.colorants_, aliases).client_names(),
        "model_types": [card.kind],
        "model_version": card.version,
    }


def reagents(model, card, aliases: Mapping[str, str]) -> dict:
    """``GET /api/reagents``.

    ``thicknesses`` are the thinnest and thickest films the model was trained on (µm; the
    old server listed its two, 8 and 12). ``substrate`` is the card's ``dataset.substrate``
    when a card records one, else ``"not recorded"``: the physics fits the substrate's
    reflectance from the measurements, and no name comes with them. ``outputs`` are what
    ``/api/predict`` returns: reflectance and CIELAB, and fluorescence when the model has a
    fluorescence head.
    """
    trained = model.training_range_
    thicknesses = sorted({float(trained.minimum[THICKNESS_COLUMN]), float(trained.maximum[THICKNESS_COLUMN])})
    outputs = ["reflectance", "cielab"] + (["fluorescence"] if model.has_fluorescence else [])
    return {
        "reagents": ColorantNames(model.colorants_, aliases).client_names(),
        "substrate": str(card.dataset.get("substrate") or "not recorded"),
        "thicknesses": thicknesses,
        "outputs": outputs,
    }


# --------------------------------------------------------------------------------------
# POST predict, POST batch_predict
# --------------------------------------------------------------------------------------


def _v1_recipe(body: Any, names: ColorantNames, where: str) -> tuple[dict, dict[str, str]]:
    """An old predict body as a ``/api/v1/predict`` recipe, and each v1 field → the old field it came from."""
    label = where or "The body"
    prefix = f"{where}." if where else ""
    if not isinstance(body, Mapping):
        raise _bad(f"{label} is {api._shown(body)}; expected an object {{\"concentrations\": {{name: wt %, …}}, \"thickness\": µm}}.", where or None)
    for field in body:
        if field not in _PREDICT_FIELDS:
            raise _bad(f"{prefix}{field} is not a field of a predict request.{api._did_you_mean(field, _PREDICT_FIELDS)} "
                       f"Expected only {', '.join(_PREDICT_FIELDS)}.", f"{prefix}{field}")
    concentrations = body.get("concentrations")
    if not isinstance(concentrations, Mapping):
        raise _bad(f"{prefix}concentrations is {api._shown(concentrations) if 'concentrations' in body else 'missing'}; "
                   "expected an object of colorant → wt % (a colorant left out means 0).", f"{prefix}concentrations")
    model_type = body.get("model_type")
    if model_type is not None and not isinstance(model_type, str):
        raise _bad(f"{prefix}model_type is {api._shown(model_type)}; expected a text (it is not used: one model is served).", f"{prefix}model_type")
    given, origin = _by_colorant(concentrations, f"{prefix}concentrations", names, lambda value, field: value)
    recipe = dict.fromkeys(names.colorants, 0.0) | given
    recipe[THICKNESS_COLUMN] = body.get("thickness", DEFAULT_THICKNESS_UM)
    return recipe, origin | {THICKNESS_COLUMN: f"{prefix}thickness"}


def _predict_answers(bodies: list, model, card, aliases: Mapping[str, str], batch: bool) -> list[dict]:
    names = ColorantNames(model.colorants_, aliases)
    if len(bodies) > api.MAX_RECIPES:
        raise ApiError(413, f"The request has {len(bodies):,} recipes; expected at most {api.MAX_RECIPES:,}. Send them in several requests.")
    recipes, origins = [], {}
    for position, body in enumerate(bodies):
        recipe, origin = _v1_recipe(body, names, f"[{position}]" if batch else "")
        recipes.append(recipe)
        origins[f"recipes[{position}]"] = f"[{position}].concentrations" if batch else "concentrations"  # a whole-recipe problem (the total)
        origins.update({f"recipes[{position}].{field}": old for field, old in origin.items()})
    try:
        answer = api.predict({"recipes": recipes}, model, card)
        problems = answer["errors"]
    except ApiError as error:
        problems = error.errors or [{"field": error.field, "message": error.message}]
    if problems:  # the old contract answers all recipes or none
        first = problems[0]
        field = origins.get(first["field"], first["field"])
        message = first["message"]
        for v1_field in sorted(origins, key=len, reverse=True):  # recipes[0].GXT-10 before recipes[0]
            message = message.replace(v1_field, origins[v1_field])
        more = f" (and {len(problems) - 1} more problems)" if len(problems) > 1 else ""
        raise _bad(message + more, field)
    predictions = answer["predictions"]
    X = np.array([[row[name] for name in model.input_columns] for row in predictions], dtype=float)
    area, multiplier = fluorescence_emission_area(model, X)
    model_r2 = card.metrics.get("fluorescence_r2")
    return [
        {
            "wavelengths": _WAVELENGTHS,
            "reflectance": [row[band] for band in BAND_COLUMNS],
            "cielab": {"L": row["L"], "a": row["a"], "b": row["b"], "c": row["C"], "h": row["h"]},
            "fluorescence": {
                "fluorescence_cts": row.get("fluorescence_cts"),
                "fluorescence_area": float(area[index]),
                "gxt_multiplier": float(multiplier[index]),
                "model_r2": None if model_r2 is None else api._clean(model_r2),
            },
            "thickness": float(row[THICKNESS_COLUMN]),
            "model_version": card.version,
        }
        for index, row in enumerate(predictions)
    ]


def predict(payload: Any, model, card, aliases: Mapping[str, str]) -> dict:
    """``POST /api/predict``: one old recipe in, its spectrum, CIELAB and fluorescence out.

    Parameters
    ----------
    payload : ``{"concentrations": {name: wt %, …}, "thickness": µm, "model_type": str}``
        A colorant left out means 0 wt %; a thickness left out means
        :data:`DEFAULT_THICKNESS_UM` (8 µm, the old server's default); ``model_type`` is
        optional and not used (one champion is served). Names are matched by
        :class:`ColorantNames`; any other field is refused.
    model, card : the champion (or its serving snapshot) and its card.
    aliases : old name → colorant (:func:`model.core.settings.colorant_aliases`).

    Returns
    -------
    dict
        ``wavelengths`` (400 … 700 nm), ``reflectance`` (31 values, 0–1, above 1 where a
        fluorescent colorant emits), ``cielab`` (``L, a, b, c, h``; D65, 10°), ``fluorescence``
        (see Notes), ``thickness`` (µm), ``model_version``. Reflectance and CIELAB are
        those of ``POST /api/v1/predict`` for the same recipe.

    Raises
    ------
    ApiError
        400 naming the field for an unknown field or colorant, a colorant given twice
        (by its name and an alias), or a value ``/api/v1/predict`` refuses.

    Notes
    -----
    ``fluorescence_cts`` is the fluorescence head's intensity (ct/s; null without a head),
    as ``/api/v1/predict`` gives it. ``fluorescence_area`` and ``gxt_multiplier`` are
    defined by :func:`fluorescence_emission_area`. ``model_r2`` is the R² of the fluorescence
    head recorded on the model's card (``metrics.fluorescence_r2``, leave-recipe-out), or
    null when the card records none; it is never estimated here.
    """
    return _predict_answers([payload], model, card, aliases, batch=False)[0]


def batch_predict(payload: Any, model, card, aliases: Mapping[str, str]) -> list[dict]:
    """``POST /api/batch_predict``: a list of :func:`predict` bodies in, their answers out, in order.

    One ``/api/v1/predict`` call predicts them all. The whole batch is refused (400, the
    field named as ``[3].concentrations.GXT``) when any body is refused, as the old
    server did; at most :data:`model.serving.api.MAX_RECIPES` bodies (more: 413).
    """
    if not isinstance(payload, list):
        raise _bad(f"The body is {api._shown(payload)}; expected a list of predict requests "
                   "[{\"concentrations\": {…}, \"thickness\": µm}, …].")
    if not payload:
        raise _bad("The body is an empty list; expected at least one predict request.")
    return _predict_answers(payload, model, card, aliases, batch=True)


def fluorescence_emission_area(model, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The old ``fluorescence_area`` and ``gxt_multiplier`` of recipes X, from the model's own prediction.

    Parameters
    ----------
    model : fitted colour model (or serving snapshot); ``predict_arrays``, ``colorants_``,
        ``training_range_`` and ``fluorescent_colorants`` are used.
    X : ndarray (n, colorants + 1)
        Colorants in wt %, then the thickness in µm.

    Returns
    -------
    fluorescence_area : ndarray (n,)
        The reflectance the fluorescent colorants add, integrated over wavelength
        (reflectance factor × nm, 400–700 nm, trapezoid rule): the predicted spectrum of
        the recipe minus the predicted spectrum of the same film without its fluorescent
        colorants, its positive part only. The positive part is where the film sends back
        more light than the film without them; in the physics backbone that is the
        emission term of Allen (1964) and Fukshansky & Kazarinova (1980), which adds
        reflectance beyond the excitation bands while absorption there takes it away.
        The film without them is the background, as the old system subtracted a
        background under the emission band. 0 for a recipe without a fluorescent colorant.
    gxt_multiplier : ndarray (n,)
        That area relative to the area of the same recipe with each fluorescent colorant
        at its highest trained concentration, clipped to 0–1: 0 without a fluorescent
        colorant, and near 1 once the emission saturates (the fluorescent colorant absorbs
        most of the excitation light; Beer–Lambert). Also 0 when the model knows no
        fluorescent colorant or predicts no emission at the trained maximum.

    Notes
    -----
    The fluorescent colorants are those of the model's fluorescence head
    (``fluorescent_colorants``: the colorants whose films read above 0 ct/s), else those
    of its physics backbone (reflectance above 1 in the training data). All three spectra
    come from one ``predict_arrays`` call, the prediction path of the search.
    """
    X = np.asarray(X, dtype=float)
    zeros = np.zeros(len(X))
    columns = [model.colorants_.index(name) for name in _fluorescent(model)]
    if not columns or not len(X):
        return zeros, zeros
    maximum = np.array([model.training_range_.maximum[model.colorants_[j]] for j in columns], dtype=float)
    without, saturated = X.copy(), X.copy()
    without[:, columns] = 0.0
    saturated[:, columns] = maximum
    reflectance, _ = model.predict_arrays(np.vstack([X, without, saturated]))
    recipe, background, at_maximum = np.split(reflectance, 3)
    area = np.trapezoid(np.clip(recipe - background, 0.0, None), WAVELENGTHS_NM, axis=1)
    area[~(X[:, columns] > 0).any(axis=1)] = 0.0  # the same film: only float noise could differ
    full = np.trapezoid(np.clip(at_maximum - background, 0.0, None), WAVELENGTHS_NM, axis=1)
    multiplier = np.clip(np.divide(area, full, out=np.zeros_like(area), where=full > 0), 0.0, 1.0)
    return area, multiplier


def _fluorescent(model) -> tuple[str, ...]:
    """The model's fluorescent colorants: its fluorescence head's, else its physics backbone's, else none."""
    named = tuple(getattr(model, "fluorescent_colorants", ()) or ())
    if named:
        return named
    physics = getattr(model, "physics", None) or getattr(model, "physics_", None)  # a serving snapshot / a hybrid
    index = getattr(physics, "fluorescent_index", ()) if physics is not None else ()
    return tuple(model.colorants_[j] for j in index)


# --------------------------------------------------------------------------------------
# POST inverse_predict
# --------------------------------------------------------------------------------------


def _inverse_request(payload: Any, names: ColorantNames):
    """Validated parts of an old inverse request: spectrum, thickness or None, method, guess, bounds."""
    if not isinstance(payload, Mapping):
        raise _bad(f"The body is {api._shown(payload)}; expected an object {{\"target_spectrum\": [31 values], …}}.")
    for field in payload:
        if field not in _INVERSE_FIELDS:
            raise _bad(f"{field} is not a field of an inverse_predict request.{api._did_you_mean(field, _INVERSE_FIELDS)} "
                       f"Expected only {', '.join(_INVERSE_FIELDS)}.", field)
    if "target_spectrum" not in payload:
        raise _bad("target_spectrum is missing; expected 31 reflectances (0–1, 400–700 nm in 10 nm steps).", "target_spectrum")
    n_bands = len(WAVELENGTHS_NM)
    spectrum = api._numbers(payload["target_spectrum"], "target_spectrum", n_bands, n_bands, f"{n_bands} reflectances (0–1, 400–700 nm in 10 nm steps)")
    thickness = None
    if payload.get("thickness") is not None:
        thickness, problem = api._number(payload["thickness"], THICKNESS)
        if problem:
            raise _bad(f"thickness: {problem}", "thickness")
    method = payload.get("method", "global")
    if method not in METHODS:
        raise _bad(f"method is {api._shown(method)}; expected one of {', '.join(repr(name) for name in METHODS)}.", "method")
    guess = _named_numbers(payload.get("initial_guess"), "initial_guess", names, "wt %", lambda value, field: _concentration(value, field))
    bounds = _named_numbers(payload.get("bounds"), "bounds", names, "[low, high] in wt %", _bound)
    return spectrum, thickness, method, guess, bounds


def _named_numbers(spec: Any, field: str, names: ColorantNames, expected: str, read: Callable) -> dict[str, Any]:
    """``{colorant: read(value, field.name)}`` of an object of colorant name → value (None: empty)."""
    if spec is None:
        return {}
    if not isinstance(spec, Mapping):
        raise _bad(f"{field} is {api._shown(spec)}; expected an object of colorant → {expected}.", field)
    return _by_colorant(spec, field, names, read)[0]


def _by_colorant(spec: Mapping, field: str, names: ColorantNames, read: Callable) -> tuple[dict[str, Any], dict[str, str]]:
    """``({colorant: read(value, where)}, {colorant: where})`` of an object of names or aliases → value.

    Each name goes through :meth:`ColorantNames.colorant` (400 for an unknown one); a colorant
    named twice (for instance by its name and by its alias) is refused naming both fields.
    """
    values, given_as = {}, {}
    for name, value in spec.items():
        where = f"{field}.{name}"
        colorant = names.colorant(name, where)
        if colorant in given_as:
            raise _bad(f"{where}: {colorant} is already given as {given_as[colorant]}; name each colorant once.", where)
        given_as[colorant] = where
        values[colorant] = read(value, where)
    return values, given_as


def _concentration(value: Any, field: str) -> float:
    number, problem = api._number(value, CONCENTRATION)
    if problem:
        raise _bad(f"{field}: {problem}", field)
    return number


def _bound(value: Any, field: str) -> tuple[float, float]:
    if not isinstance(value, list) or len(value) != 2:
        raise _bad(f"{field} is {api._shown(value)}; expected [low, high] in wt %.", field)
    low, high = (_concentration(item, f"{field}[{index}]") for index, item in enumerate(value))
    if low > high:
        raise _bad(f"{field}: low {low:g} is above high {high:g}; expected [low, high] with low ≤ high.", field)
    return low, high


def inverse_predict(payload: Any, model, card, aliases: Mapping[str, str], *, should_stop: Callable[[], bool] | None = None) -> dict:
    """``POST /api/inverse_predict``: a target spectrum in, the recipe whose prediction matches it best out.

    Parameters
    ----------
    payload : ``{"target_spectrum": [31 values], "thickness": µm, "method": "global" | "local",
        "initial_guess": {name: wt %}, "bounds": {name: [low, high]}}``, all but
        ``target_spectrum`` optional.
    model, card : the champion (or its serving snapshot) and its card.
    aliases : old name → colorant.
    should_stop : callable, optional
        As for :func:`model.serving.api.formulate`: True stops the search (503). It also
        stops after :data:`model.serving.api.FORMULATE_TIME_LIMIT_S` seconds.

    Returns
    -------
    dict
        ``concentrations`` (old name → wt %, and ``thickness`` in µm), ``predicted_spectrum``
        (the recipe's predicted reflectance), ``target_spectrum`` (as sent), ``metrics``
        (see Notes), ``optimization`` (see Notes) and ``method``.

    Raises
    ------
    ApiError
        400 naming the field for an unknown field or colorant, a spectrum that is not 31
        reflectance factors (finite, 0–5), a thickness or concentration out of range, bounds with low above
        high or that contradict each other; 503 when the search was stopped.

    Notes
    -----
    The request becomes the search of ``POST /api/v1/formulate`` with a spectral target
    (:func:`model.formulation.formulate`: spectral RMS plus the daylight ΔE00 and
    metamerism terms): ``thickness`` → ``thicknesses_um`` [thickness] (absent: the
    thinnest and thickest trained films, as ``/api/v1`` does); ``bounds`` → the
    constraints' ``minimum`` and ``maximum``; ``method`` → :data:`METHODS`; one candidate.
    Its caps are those of ``/api/v1/formulate`` (one thickness, one candidate, a 31-value
    spectrum, each colorant once) and so is its time bound.

    ``initial_guess`` is checked (names, wt %) but is not a start: Huecast's search has no
    start argument, and begins by screening the whole allowed box; ``optimization.message``
    says so whenever an initial guess is sent.

    ``metrics`` compare ``predicted_spectrum`` with ``target_spectrum`` over the 31 bands:
    ``mse`` and ``mae`` (reflectance factor² and factor), ``max_error`` (the largest
    absolute difference), ``r2`` (the coefficient of determination, 1 − SS_res / SS_tot,
    as ``sklearn.metrics.r2_score``; null for a flat target) and ``delta_e00`` (CIEDE2000
    under D65, the search's own measure). In ``optimization``: ``success`` is whether the
    target was reached (ΔE00 within :data:`model.formulation.REACHED_DELTA_E00`),
    ``message`` says why not in words (a match found only outside the trained range does not
    count), ``iterations`` counts the recipes the search
    predicted (it counts predictions, not optimiser iterations) and ``final_objective``
    is the returned recipe's spectral ``mse``, the quantity the old system minimised.
    """
    from model.formulation import Constraints, FormulationCancelled, Target, formulate

    names = ColorantNames(model.colorants_, aliases)
    spectrum, thickness, method, guess, bounds = _inverse_request(payload, names)
    constraints = Constraints(
        minimum={colorant: low for colorant, (low, _) in bounds.items()},
        maximum={colorant: high for colorant, (_, high) in bounds.items()},
        thicknesses_um=None if thickness is None else [thickness],
    )
    try:
        target = Target.from_spectrum(np.asarray(spectrum), label="target_spectrum of /api/inverse_predict")
    except ValueError as error:  # a value no reflectance factor takes (percent, negative)
        raise _bad(f"target_spectrum: {error}", "target_spectrum") from None
    deadline = time.monotonic() + api.FORMULATE_TIME_LIMIT_S

    def stop() -> bool:
        return time.monotonic() >= deadline or (should_stop is not None and bool(should_stop()))

    try:
        result = formulate(model, target, constraints, n_candidates=1, should_stop=stop, **METHODS[method])
    except FormulationCancelled as stopped:
        raise ApiError(503, f"The search was stopped after {stopped.seconds:.1f} s (the limit is {api.FORMULATE_TIME_LIMIT_S:g} s, or the client left); "
                       "try method \"local\", or narrower bounds, or send it again later.") from None
    except ValueError as error:  # bounds that cannot hold together (a minimum above the trained range…)
        raise _bad(f"bounds: {error}", "bounds") from None
    best = result.best
    predicted = np.asarray(best.reflectance, dtype=float)
    target_array = np.asarray(spectrum)
    difference = predicted - target_array
    total = float(np.sum((target_array - target_array.mean()) ** 2))
    mse = float(np.mean(difference**2))
    message = result.explanation
    if guess:
        message += " The initial_guess was checked but not used as a start: the search screens the whole allowed range first."
    concentrations = {names.answered(colorant): float(best.recipe[colorant]) for colorant in names.colorants}
    return {
        "concentrations": {**concentrations, "thickness": float(best.recipe[THICKNESS_COLUMN])},
        "predicted_spectrum": predicted.tolist(),
        "target_spectrum": spectrum,
        "metrics": {
            "mse": mse,
            "mae": float(np.mean(np.abs(difference))),
            "max_error": float(np.max(np.abs(difference))),
            "r2": None if total == 0 else 1.0 - float(np.sum(difference**2)) / total,
            "delta_e00": float(best.delta_e00),
        },
        "optimization": {"success": bool(result.reachable), "iterations": int(result.n_predictions), "final_objective": mse, "message": message},
        "method": method,
    }


# --------------------------------------------------------------------------------------
# POST retrain
# --------------------------------------------------------------------------------------


def retrain_started(job_id: str, colorants: Sequence[str], aliases: Mapping[str, str]) -> dict:
    """``POST /api/retrain``'s answer once a challenger's training has been queued as job ``job_id``.

    Huecast never promotes from this route: the challenger is compared with the champion
    when it is done, and an admin decides on the Retrain page (or ``POST
    /api/v1/model/promote``). ``reagents`` are the colorants of the stored measurements.
    """
    return {
        "status": "started",
        "message": f"A challenger is training from the stored measurements (job {job_id}; follow it at GET /api/v1/jobs/{job_id}). "
                   "It is not promoted: when it is done, an admin compares it with the champion and decides on the Retrain page "
                   "(or POST /api/v1/model/promote).",
        "reagents": ColorantNames(colorants, aliases).client_names(),
        "job_id": job_id,
    }
