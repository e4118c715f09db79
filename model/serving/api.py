"""The JSON API's requests and responses, without a web framework: JSON in, JSON-ready dicts out.

``dashboard/api.py`` wires these functions to Starlette routes under ``/api/v1``; they
know nothing about HTTP except the status code an error should carry. Validation
happens here, once: every problem names its field (``recipes[3].thickness_um``) and
what was expected, with the same rules and words as a CSV on the command line
(:data:`model.io.cells.CONCENTRATION`, :data:`~model.io.cells.THICKNESS`).

``predict`` gives the numbers of ``python -m model predict`` for the same recipes: the
same float inputs go through the same ``model.predict(recipes).to_frame()`` that
:func:`model.serving.batch.predict_csv` calls, and every float is written with Python's
shortest round-tripping repr, so a client reads back the exact double.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import orjson
import pandas as pd

from model.core.schema import THICKNESS_COLUMN
from model.io.cells import CONCENTRATION, THICKNESS, TOTAL_TOLERANCE

__all__ = [
    "API_VERSION",
    "MAX_RECIPES",
    "MAX_BODY_BYTES",
    "ApiError",
    "parse_body",
    "health",
    "model_card",
    "predict",
    "formulate",
    "to_json_bytes",
]

API_VERSION = "v1"
#: The most recipes one ``predict`` request may hold.
MAX_RECIPES = 10_000
#: The largest request body accepted (bytes); 10,000 recipes of a few colorants take about 1.5 MB.
MAX_BODY_BYTES = 4 * 1024 * 1024
_FORMULATE_MAX_CANDIDATES = 10


class ApiError(ValueError):
    """A request the API refuses: ``status`` (4xx), a message naming ``field``, and any per-row ``errors``."""

    def __init__(self, status: int, message: str, field: str | None = None, errors: list[dict] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.field = field
        self.errors = errors or []

    def to_dict(self) -> dict:
        body: dict[str, Any] = {"status": self.status, "message": self.message}
        if self.field is not None:
            body["field"] = self.field
        if self.errors:
            body["errors"] = self.errors
        return {"error": body}


def parse_body(body: bytes) -> Any:
    """The JSON value of a request body; :class:`ApiError` 400 when it is not UTF-8 JSON, 413 when too large."""
    if len(body) > MAX_BODY_BYTES:
        raise ApiError(413, f"The request body has {len(body):,} bytes; expected at most {MAX_BODY_BYTES:,}. Send fewer recipes per request.")
    try:
        return json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as error:
        raise ApiError(400, f"The request body is not JSON ({error}); expected a JSON object such as {{\"recipes\": [...]}}.") from None


def to_json_bytes(value: Any) -> bytes:
    """``value`` as compact UTF-8 JSON; NaN and infinity become null (JSON has neither).

    orjson writes each float as its shortest round-tripping decimal (as ``repr`` does),
    so a client parses back the exact double, about 20 times faster than :mod:`json`.
    """
    return orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY)


def _clean(value: Any) -> Any:
    """A JSON-safe Python value: numpy scalars unwrapped, NaN/inf to None."""
    if isinstance(value, (np.floating, float)):
        value = float(value)
        return value if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return value


def _records(frame: pd.DataFrame) -> list[dict]:
    """Rows of ``frame`` as dicts of plain Python values (NaN stays NaN: :func:`to_json_bytes` writes null).

    What ``frame.to_dict(orient="records")`` gives, through one object array: that boxes every
    cell through pandas' indexing, about 6 ms for one row of 50 columns, most of a one-recipe
    request. numpy turns float, int and bool cells into Python ones on the way to objects.
    """
    names = list(frame.columns)
    return [dict(zip(names, row)) for row in frame.to_numpy(dtype=object).tolist()]


# --------------------------------------------------------------------------------------
# GET health, GET model
# --------------------------------------------------------------------------------------


def health(card) -> dict:
    """``GET /api/v1/health``: ok, and the champion's version."""
    return {"status": "ok", "api_version": API_VERSION, "model_version": card.version}


def model_card(model, card) -> dict:
    """``GET /api/v1/model``: the champion's card with its colorants and trained ranges (wt %, µm)."""
    trained = model.training_range_
    inputs = [*model.colorants_, THICKNESS_COLUMN]
    return {
        "version": card.version,
        "kind": card.kind,
        "created_at": card.created_at,
        "colorants": [
            {"name": name, "unit": "wt %", "trained_min": _clean(trained.minimum[name]), "trained_max": _clean(trained.maximum[name])}
            for name in model.colorants_
        ],
        "thickness_um": {"unit": "µm", "trained_min": _clean(trained.minimum[THICKNESS_COLUMN]), "trained_max": _clean(trained.maximum[THICKNESS_COLUMN])},
        "inputs": inputs,
        "metrics": {key: _clean(value) for key, value in card.metrics.items() if not isinstance(value, (dict, list))},
        "data": {key: _clean(value) for key, value in card.dataset.items() if not isinstance(value, (dict, list))},
        "config": card.config,
    }


# --------------------------------------------------------------------------------------
# POST predict
# --------------------------------------------------------------------------------------


def _recipe_list(payload: Any) -> list:
    """The recipes of a ``predict`` body: ``{"recipes": [...]}`` or a bare list."""
    recipes = payload.get("recipes") if isinstance(payload, Mapping) else payload
    if isinstance(payload, Mapping) and "recipes" not in payload:
        raise ApiError(422, "The field 'recipes' is missing; expected {\"recipes\": [{<colorant>: wt %, …, \"thickness_um\": µm}, …]}.", "recipes")
    if not isinstance(recipes, list):
        raise ApiError(422, f"'recipes' is a {type(recipes).__name__}; expected a list of recipe objects.", "recipes")
    if not recipes:
        raise ApiError(422, "'recipes' is empty; expected at least one recipe.", "recipes")
    if len(recipes) > MAX_RECIPES:
        raise ApiError(413, f"'recipes' has {len(recipes):,} recipes; expected at most {MAX_RECIPES:,} in one request. Split it.", "recipes")
    return recipes


def _number(value: Any, quantity) -> tuple[float | None, str | None]:
    """``(value, None)`` or ``(None, message)`` by the CLI's rules for one cell of ``quantity``."""
    if isinstance(value, bool) or value is None or not isinstance(value, (int, float, str)):
        shown = "null" if value is None else json.dumps(value)[:40]
        return None, f"expected a number ({quantity.description}, {quantity.range_text}), got {shown}."
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        number = float(value)
        if math.isfinite(number) and quantity._inside(number):
            return number, None
        return quantity.parse(repr(number), False)  # its message
    return quantity.parse(value, False)  # a string: "12.5" or "12.5%", as in a CSV cell


def recipes_frame(recipes: Sequence, colorants: Sequence[str]) -> tuple[pd.DataFrame, list[int], list[dict]]:
    """Validate recipe objects into the model's input frame.

    Parameters
    ----------
    recipes : list of dict
        Each has every colorant (wt %, 0–100; a number or a string such as ``"12.5%"``)
        and ``thickness_um`` (µm, above 0 and below 1000). Other scalar fields
        (``name``, ``sample_id`` …) are passed through to the response.
    colorants : the model's colorants, in its input order.

    Returns
    -------
    frame : pandas.DataFrame
        The valid recipes: passthrough fields, then the colorants and ``thickness_um`` (float).
    rows : list of int, the 0-based position in ``recipes`` of each row of ``frame``.
    errors : list of dict
        ``{"row", "field", "message"}`` for every problem of every recipe left out.
    """
    inputs = [*colorants, THICKNESS_COLUMN]
    input_names = set(inputs)
    values = np.empty((len(recipes), len(inputs)))
    valid, rows, errors = [], [], []
    for position, recipe in enumerate(recipes):
        where = f"recipes[{position}]"
        if not isinstance(recipe, Mapping):
            errors.append({"row": position, "field": where, "message": f"{where} is a {type(recipe).__name__}; expected an object of {', '.join(inputs)}."})
            continue
        row_errors = []
        for column, name in enumerate(inputs):
            quantity = THICKNESS if name == THICKNESS_COLUMN else CONCENTRATION
            if name not in recipe:
                hint = "write 0 for a colorant the recipe does not use" if quantity is CONCENTRATION else "the film thickness in µm"
                row_errors.append({"row": position, "field": f"{where}.{name}", "message": f"{where}.{name} is missing; expected a number ({hint})."})
                continue
            number, problem = _number(recipe[name], quantity)
            if problem:
                row_errors.append({"row": position, "field": f"{where}.{name}", "message": f"{where}.{name}: {problem}"})
            else:
                values[len(rows), column] = number
        if not row_errors and values[len(rows), : len(colorants)].sum() > 100.0 + TOTAL_TOLERANCE:
            total = values[len(rows), : len(colorants)].sum()
            row_errors.append({"row": position, "field": where, "message": f"{where}: the concentrations add up to {total:g} %; expected at most 100 % (the rest of the film is binder)."})
        for name, value in recipe.items():
            if name not in input_names and isinstance(value, (dict, list)):
                row_errors.append({"row": position, "field": f"{where}.{name}", "message": f"{where}.{name} is a {type(value).__name__}; expected a text or number to pass through."})
        if row_errors:
            errors.extend(row_errors)
            continue
        valid.append(recipe)
        rows.append(position)
    passthrough = list(dict.fromkeys(name for recipe in valid for name in recipe if name not in input_names))
    frame = pd.DataFrame(values[: len(rows)], columns=inputs)
    if passthrough:
        frame = pd.concat([pd.DataFrame({name: [recipe.get(name) for recipe in valid] for name in passthrough}), frame], axis=1)
    return frame, rows, errors


def predict(payload: Any, model, card) -> dict:
    """``POST /api/v1/predict``: up to :data:`MAX_RECIPES` recipes in, the CLI's fields out.

    Parameters
    ----------
    payload : the parsed JSON body, ``{"recipes": [{<colorant>: wt %, …, "thickness_um": µm}, …]}``
        (or a bare list of recipes).
    model, card : the champion and its card.

    Returns
    -------
    dict
        ``model_version``, ``n_predicted``, ``predictions`` (one object per valid recipe:
        ``row`` (0-based position in the request), passthrough fields, the inputs, then
        the CLI's columns ``L, a, b, C, h, R400 … R700, delta_e00_paths,
        uncertainty_delta_e00, hex, out_of_gamut, out_of_range, out_of_range_detail,
        fluorescence_cts`` (ct/s; null when the model has no fluorescence head))
        and ``errors`` (``row``, ``field``, ``message`` for each recipe left out).

    Raises
    ------
    ApiError
        422 when the body has no recipe list or no recipe is valid (the errors listed);
        413 for more than :data:`MAX_RECIPES` recipes.
    """
    recipes = _recipe_list(payload)
    frame, rows, errors = recipes_frame(recipes, list(model.colorants_))
    if not rows:
        raise ApiError(422, f"No recipe could be predicted: {errors[0]['message']}" + (f" (and {len(errors) - 1} more problems)" if len(errors) > 1 else ""),
                       errors[0]["field"], errors)
    inputs = list(model.input_columns)
    passthrough = [column for column in frame.columns if column not in inputs]
    # The same call as model.serving.batch.predict_csv, so the numbers are the CLI's. Without
    # passthrough fields the frame is the inputs already, and no frame is copied or joined.
    table = model.predict(frame[inputs] if passthrough else frame).to_frame()
    if passthrough:
        table = pd.concat([frame[passthrough].reset_index(drop=True), table], axis=1)
    # "row" first; the request's position wins over a passthrough field that is called "row".
    predictions = [{"row": row, **record} | {"row": row} for row, record in zip(rows, _records(table))]
    return {"model_version": card.version, "n_predicted": len(rows), "predictions": predictions, "errors": errors}


# --------------------------------------------------------------------------------------
# POST formulate
# --------------------------------------------------------------------------------------


def _target(spec: Any):
    from model.formulation import Target

    if not isinstance(spec, Mapping) or not spec:
        raise ApiError(422, "'target' is missing or not an object; expected one of {\"hex\": \"#9fc24a\"}, {\"Lab\": [L, a, b]} or {\"spectrum\": [31 reflectances, 400–700 nm]}.", "target")
    kinds = [kind for kind in ("hex", "Lab", "spectrum") if kind in spec]
    if len(kinds) != 1:
        raise ApiError(422, f"'target' has {kinds or list(spec)}; expected exactly one of 'hex', 'Lab' or 'spectrum'.", "target")
    kind = kinds[0]
    value = spec[kind]
    try:
        if kind == "hex":
            if not isinstance(value, str):
                raise ValueError(f"expected a text such as '#9fc24a', got {json.dumps(value)[:40]}")
            return Target.from_hex(value)
        numbers = _numbers(value, f"target.{kind}")
        if kind == "Lab":
            if len(numbers) != 3:
                raise ValueError(f"expected 3 numbers [L*, a*, b*] (L* 0–100), got {len(numbers)}")
            return Target.from_Lab(*numbers)
        return Target.from_spectrum(np.asarray(numbers), label="spectrum from the API")
    except ApiError:
        raise
    except (ValueError, TypeError) as error:
        raise ApiError(422, f"target.{kind}: {error}", f"target.{kind}") from None


def _numbers(value: Any, field: str) -> list[float]:
    if not isinstance(value, list) or not all(isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) for x in value):
        raise ApiError(422, f"{field}: expected a list of finite numbers.", field)
    return [float(x) for x in value]


def _constraints(spec: Any, colorants: Sequence[str]):
    from model.formulation import Constraints

    if spec is None:
        return Constraints()
    if not isinstance(spec, Mapping):
        raise ApiError(422, "'constraints' is not an object; expected {\"colorants\": [...], \"minimum\": {...}, \"maximum\": {...}, \"max_total\": wt %, \"thicknesses_um\": [...]}.", "constraints")
    known = {"colorants", "minimum", "maximum", "max_total", "thicknesses_um", "min_fluorescence_cts"}
    unknown = sorted(set(spec) - known)
    if unknown:
        raise ApiError(422, f"constraints.{unknown[0]} is not a constraint; expected only {sorted(known)}.", f"constraints.{unknown[0]}")
    allowed = spec.get("colorants")
    if allowed is not None:
        if not isinstance(allowed, list) or not all(isinstance(name, str) for name in allowed):
            raise ApiError(422, "constraints.colorants: expected a list of colorant names.", "constraints.colorants")
        strangers = [name for name in allowed if name not in colorants]
        if strangers:
            raise ApiError(422, f"constraints.colorants: {strangers[0]!r} is not a colorant of this model; expected some of {list(colorants)}.", "constraints.colorants")
    limits = {}
    for bound in ("minimum", "maximum"):
        value = spec.get(bound, {})
        if not isinstance(value, Mapping):
            raise ApiError(422, f"constraints.{bound}: expected an object of colorant → wt %.", f"constraints.{bound}")
        for name, number in value.items():
            if name not in colorants:
                raise ApiError(422, f"constraints.{bound}.{name} is not a colorant of this model; expected some of {list(colorants)}.", f"constraints.{bound}.{name}")
            parsed, problem = _number(number, CONCENTRATION)
            if problem:
                raise ApiError(422, f"constraints.{bound}.{name}: {problem}", f"constraints.{bound}.{name}")
        limits[bound] = {name: float(number) for name, number in value.items()}
    max_total = spec.get("max_total")
    if max_total is not None:
        max_total, problem = _number(max_total, CONCENTRATION)
        if problem:
            raise ApiError(422, f"constraints.max_total: {problem}", "constraints.max_total")
    thicknesses = spec.get("thicknesses_um")
    if thicknesses is not None:
        thicknesses = _numbers(thicknesses, "constraints.thicknesses_um")
        bad = [value for value in thicknesses if not THICKNESS._inside(value)]
        if bad or not thicknesses:
            raise ApiError(422, f"constraints.thicknesses_um: expected film thicknesses in µm, {THICKNESS.range_text}, got {bad or 'an empty list'}.", "constraints.thicknesses_um")
    min_fluorescence = spec.get("min_fluorescence_cts")
    if min_fluorescence is not None and (
        isinstance(min_fluorescence, bool) or not isinstance(min_fluorescence, (int, float)) or not math.isfinite(min_fluorescence) or min_fluorescence < 0
    ):
        raise ApiError(422, "constraints.min_fluorescence_cts: expected a fluorescence intensity in ct/s, a number ≥ 0.", "constraints.min_fluorescence_cts")
    return Constraints(
        colorants=allowed, minimum=limits["minimum"], maximum=limits["maximum"], max_total=max_total, thicknesses_um=thicknesses,
        min_fluorescence_cts=None if min_fluorescence is None else float(min_fluorescence),
    )


def formulate(payload: Any, model, card) -> dict:
    """``POST /api/v1/formulate``: a target and constraints in, candidate recipes out.

    Parameters
    ----------
    payload : ``{"target": {"hex": …} | {"Lab": [L, a, b]} | {"spectrum": [31 values]},
        "constraints": {…} (optional), "n_candidates": 1–10 (optional, default 3)}``

    Returns
    -------
    dict
        ``model_version``, ``target`` (its label and CIELAB), ``reachable``, ``explanation``
        and ``candidates`` (best first: ``rank``, the recipe, ``delta_e00``, metamerism,
        ``L, a, b``, ``hex``, the out-of-range flag, ``fluorescence_cts`` with a fluorescence
        head); ``fluorescence_met`` (null unless ``constraints.min_fluorescence_cts`` was
        given and the model can predict fluorescence).
    """
    from model.formulation import formulate as run_formulation

    if not isinstance(payload, Mapping):
        raise ApiError(422, "The body is not an object; expected {\"target\": {...}, \"constraints\": {...}}.", "target")
    unknown = sorted(set(payload) - {"target", "constraints", "n_candidates"})
    if unknown:
        raise ApiError(422, f"'{unknown[0]}' is not a field of a formulate request; expected 'target', 'constraints' and 'n_candidates'.", unknown[0])
    target = _target(payload.get("target"))
    constraints = _constraints(payload.get("constraints"), list(model.colorants_))
    n_candidates = payload.get("n_candidates", 3)
    if isinstance(n_candidates, bool) or not isinstance(n_candidates, int) or not 1 <= n_candidates <= _FORMULATE_MAX_CANDIDATES:
        raise ApiError(422, f"n_candidates={json.dumps(n_candidates)[:20]}: expected a whole number from 1 to {_FORMULATE_MAX_CANDIDATES}.", "n_candidates")
    try:
        result = run_formulation(model, target, constraints, n_candidates=n_candidates)
    except ValueError as error:  # constraints that cannot hold together (minimums above max_total…)
        raise ApiError(422, f"constraints: {error}", "constraints") from None
    return {
        "model_version": card.version,
        "target": {"label": target.label, "Lab": [_clean(value) for value in target.Lab]},
        "reachable": bool(result.reachable),
        "fluorescence_met": result.fluorescence_met,
        "explanation": result.explanation,
        "candidates": _records(result.to_frame()),
    }
