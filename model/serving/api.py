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

Input is strict and work is bounded: a body is read by :func:`parse_body` (no duplicate
keys, integers within 64 bits, finite numbers, nesting at most :data:`MAX_JSON_DEPTH`);
an unknown field gets a 422 that names it, lists the accepted names and the closest of
them; every list and count has a cap (the ``MAX_*`` constants, listed in :func:`predict`
and :func:`formulate`); a formulation stops after :data:`FORMULATE_TIME_LIMIT_S`.
Messages name fields, never server paths.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Mapping, Sequence
from difflib import get_close_matches
from typing import Any

import numpy as np
import orjson
import pandas as pd

from model.core.schema import THICKNESS_COLUMN, WAVELENGTHS_NM
from model.io.cells import CONCENTRATION, THICKNESS, TOTAL_TOLERANCE
from model.io.columns import column_key
from model.serving import json_input

__all__ = [
    "API_VERSION",
    "FORMULATE_TIME_LIMIT_S",
    "MAX_BODY_BYTES",
    "MAX_CANDIDATES",
    "MAX_ID_CHARS",
    "MAX_JSON_DEPTH",
    "MAX_RECIPES",
    "MAX_THICKNESSES",
    "RECIPE_ID_FIELDS",
    "ApiError",
    "check_content_type",
    "parse_body",
    "health",
    "model_card",
    "predict",
    "formulate",
    "to_json_bytes",
]

API_VERSION = "v1"
#: The most recipes one ``predict`` request may hold (more: 413).
MAX_RECIPES = 10_000
#: The largest request body accepted (bytes); 10,000 recipes of a few colorants take about 1.5 MB.
MAX_BODY_BYTES = 4 * 1024 * 1024
#: The deepest nesting of arrays and objects in a body (deeper: 400); a predict body needs 3.
MAX_JSON_DEPTH = 32
#: Fields a recipe may carry besides the model's colorants and ``thickness_um``: identifiers,
#: passed through to its prediction unchanged.
RECIPE_ID_FIELDS = ("id", "name", "sample_id", "recipe_id")
#: The longest identifier text (characters) a recipe may carry.
MAX_ID_CHARS = 200
#: The most candidate recipes one ``formulate`` request may ask for.
MAX_CANDIDATES = 10
#: The most film thicknesses in ``constraints.thicknesses_um``: the search's work grows with each
#: (screening, starts and every L-BFGS-B step); 8 take about 0.5 s, 1,000 took minutes and GB.
MAX_THICKNESSES = 8
#: The longest one ``formulate`` request may search (seconds) before it is stopped with 503.
FORMULATE_TIME_LIMIT_S = 30.0
# A number sent as text ("12.5%") is never longer than this; longer text is not echoed back.
_MAX_NUMBER_TEXT = 64


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


def check_content_type(content_type: str) -> None:
    """415 for a request body sent as another type than JSON, before it is read.

    A web page on any origin may POST ``text/plain`` or a form without asking first (no CORS
    preflight); read as JSON anyway, it would run a formulation and hold the heavy lane. No
    ``Content-Type`` at all is taken as JSON, as the old system's server (FastAPI) took it.
    """
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type and media_type != "application/json" and not media_type.endswith("+json"):
        raise ApiError(
            415, f"The request body is sent as {_shown(content_type)}; expected JSON with the header Content-Type: application/json "
            "(curl: -H 'Content-Type: application/json').",
        )


def parse_body(body: bytes) -> Any:
    """The JSON value of a request body, read strictly: nothing is guessed.

    Raises
    ------
    ApiError
        413 over :data:`MAX_BODY_BYTES`; 400 when it is not UTF-8 JSON, or nests arrays and
        objects deeper than :data:`MAX_JSON_DEPTH`; 422 naming the field
        (``recipes[0].FluoYellow``) for a key given twice in one object, an integer beyond
        64 bits, or a number JSON has no value for (``NaN``, ``Infinity``, ``1e400``).
        See :func:`model.serving.json_input.loads`.
    """
    if len(body) > MAX_BODY_BYTES:
        raise ApiError(413, f"The request body has {len(body):,} bytes; expected at most {MAX_BODY_BYTES:,}. Send fewer recipes per request.")
    try:
        return json_input.loads(body, max_depth=MAX_JSON_DEPTH)
    except json_input.JsonInputError as error:
        raise ApiError(error.status, error.message, error.field) from None


def _shown(value: Any) -> str:
    """A short description of a JSON value for a message (never the whole of a long one)."""
    if value is None or isinstance(value, bool):
        return json.dumps(value)
    if isinstance(value, str):
        return repr(value) if len(value) <= 40 else f"{value[:40]!r}… ({len(value):,} characters)"
    if isinstance(value, list):
        return f"a list of {len(value):,} items"
    if isinstance(value, Mapping):
        return "an object"
    return repr(value)


def _did_you_mean(name: str, accepted: Sequence[str]) -> str:
    """`` Did you mean 'X'?`` for the accepted name ``name`` is closest to (case, spaces and units aside), or ``""``."""
    keys = {column_key(option): option for option in accepted}
    key = column_key(name[:100])
    # A name that is the last word of one accepted name ('reason' for 'override_reason') means that one.
    endings = [option for option in keys if len(key) >= 3 and option.endswith(key) and option != key]
    close = [key] if key in keys else endings[:1] if len(endings) == 1 else get_close_matches(key, list(keys), n=1, cutoff=0.6)
    return f" Did you mean {keys[close[0]]!r}?" if close else ""


def _refuse_unknown(names, accepted: Sequence[str], where: str, what: str) -> None:
    """422 for the first of ``names`` not in ``accepted``, naming it, the accepted names and a near miss."""
    for name in names:
        if name not in accepted:
            field = json_input.field_path(where, name)
            raise ApiError(422, f"{field} is not {what}.{_did_you_mean(name, accepted)} Expected only {', '.join(accepted)}.", field)


def _is_number(value: Any) -> bool:
    """A JSON number this API computes with: not bool, an int within 64 bits or a finite float."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return json_input.INT64_MIN <= value <= json_input.INT64_MAX
    return isinstance(value, float) and math.isfinite(value)


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
    """The recipes of a ``predict`` body: ``{"recipes": [...]}`` (no other field) or a bare list."""
    recipes = payload.get("recipes") if isinstance(payload, Mapping) else payload
    if isinstance(payload, Mapping) and "recipes" not in payload:
        hint = next((f" The body has {_shown(name)}.{_did_you_mean(name, ['recipes'])}" for name in list(payload)[:8] if _did_you_mean(name, ["recipes"])), "")
        raise ApiError(422, "The field 'recipes' is missing; expected {\"recipes\": [{<colorant>: wt %, …, \"thickness_um\": µm}, …]}." + hint, "recipes")
    if isinstance(payload, Mapping):
        _refuse_unknown(payload, ["recipes"], "", "a field of a predict request")
    if not isinstance(recipes, list):
        raise ApiError(422, f"'recipes' is {_shown(recipes)}; expected a list of recipe objects.", "recipes")
    if not recipes:
        raise ApiError(422, "'recipes' is empty; expected at least one recipe.", "recipes")
    if len(recipes) > MAX_RECIPES:
        raise ApiError(413, f"'recipes' has {len(recipes):,} recipes; expected at most {MAX_RECIPES:,} in one request. Split it.", "recipes")
    return recipes


def _number(value: Any, quantity) -> tuple[float | None, str | None]:
    """``(value, None)`` or ``(None, message)`` by the CLI's rules for one cell of ``quantity``."""
    expected = f"expected a number ({quantity.description}, {quantity.range_text})"
    if isinstance(value, str):
        if len(value) > _MAX_NUMBER_TEXT:
            return None, f"{expected}, got {_shown(value)}."
        return quantity.parse(value, False)  # "12.5" or "12.5%", as in a CSV cell
    if not _is_number(value):
        return None, f"{expected}, got {_shown(value)}."
    number = float(value)
    if quantity._inside(number):
        return number, None
    return quantity.parse(repr(number), False)  # its message


def _identifier_problem(value: Any) -> str | None:
    """Why ``value`` cannot be passed through as a recipe's identifier, or None."""
    if value is None or _is_number(value) or (isinstance(value, str) and len(value) <= MAX_ID_CHARS):
        return None
    return f"is {_shown(value)}; expected a text of at most {MAX_ID_CHARS} characters, a number or null, passed through unchanged."


def recipes_frame(recipes: Sequence, colorants: Sequence[str]) -> tuple[pd.DataFrame, list[int], list[dict]]:
    """Validate recipe objects into the model's input frame.

    Parameters
    ----------
    recipes : list of dict
        Each has every colorant (wt %, 0–100; a number or a string such as ``"12.5%"``)
        and ``thickness_um`` (µm, above 0 and below 1000), and may have identifiers
        (:data:`RECIPE_ID_FIELDS`: a text of at most :data:`MAX_ID_CHARS` characters, a
        number or null), passed through to the response. Nothing else.
    colorants : the model's colorants, in its input order.

    Returns
    -------
    frame : pandas.DataFrame
        The valid recipes: identifier fields, then the colorants and ``thickness_um`` (float).
    rows : list of int, the 0-based position in ``recipes`` of each row of ``frame``.
    errors : list of dict
        ``{"row", "field", "message"}`` for every problem of every recipe left out: a
        value missing, of the wrong type or out of range, or a total above 100 %.

    Raises
    ------
    ApiError
        422 for the first field, in any recipe, that is neither an input nor an
        identifier: a misspelt or unknown colorant is a mistake in the request, not in
        one recipe, so the whole request is refused (naming the field, the accepted
        names and the closest of them) rather than predicted as if the field were absent.
    """
    inputs = [*colorants, THICKNESS_COLUMN]
    accepted = [*inputs, *RECIPE_ID_FIELDS]
    input_names, accepted_names = set(inputs), set(accepted)
    values = np.empty((len(recipes), len(inputs)))
    valid, rows, errors = [], [], []
    for position, recipe in enumerate(recipes):
        where = f"recipes[{position}]"
        if not isinstance(recipe, Mapping):
            errors.append({"row": position, "field": where, "message": f"{where} is {_shown(recipe)}; expected an object of {', '.join(inputs)}."})
            continue
        if not accepted_names.issuperset(recipe):
            _refuse_unknown(recipe, accepted, where, "a field of a recipe (a colorant of this model, thickness_um or an identifier)")
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
        for name in RECIPE_ID_FIELDS:
            problem = _identifier_problem(recipe.get(name))
            if problem:
                row_errors.append({"row": position, "field": f"{where}.{name}", "message": f"{where}.{name} {problem}"})
        if row_errors:
            errors.extend(row_errors)
            continue
        valid.append(recipe)
        rows.append(position)
    # In the order the request gives them, as the CLI keeps a file's column order.
    passthrough = list(dict.fromkeys(name for recipe in valid for name in recipe if name not in input_names))
    frame = pd.DataFrame(values[: len(rows)], columns=inputs)
    if passthrough:
        # object columns, so an identifier comes back as sent (3 stays 3 beside a recipe without one)
        identifiers = pd.DataFrame({name: [recipe.get(name) for recipe in valid] for name in passthrough}, dtype=object)
        frame = pd.concat([identifiers, frame], axis=1)
    return frame, rows, errors


def predict(payload: Any, model, card) -> dict:
    """``POST /api/v1/predict``: up to :data:`MAX_RECIPES` recipes in, the CLI's fields out.

    Parameters
    ----------
    payload : the parsed JSON body, ``{"recipes": [{<colorant>: wt %, …, "thickness_um": µm}, …]}``
        (or a bare list of recipes). A recipe may also carry the identifiers
        :data:`RECIPE_ID_FIELDS` (``id``, ``name``, ``sample_id``, ``recipe_id``; a text of
        at most :data:`MAX_ID_CHARS` characters, a number or null).
    model, card : the champion (or its serving snapshot) and its card.

    Returns
    -------
    dict
        ``model_version``, ``n_predicted``, ``predictions`` (one object per valid recipe:
        ``row`` (0-based position in the request), its identifiers, the inputs, then
        the CLI's columns ``L, a, b, C, h, R400 … R700, delta_e00_paths,
        uncertainty_delta_e00, uncertainty_coverage, hex, out_of_gamut, out_of_range,
        out_of_range_detail, fluorescence_cts`` (ct/s; null when the model has no
        fluorescence head). ``uncertainty_delta_e00`` is the band (ΔE00) within which
        ``uncertainty_coverage`` (0.9) of recipes like this one were measured, calibrated out
        of sample; ``uncertainty_coverage`` is null when the model was saved before that
        calibration and the band is its ensemble spread)
        and ``errors`` (``row``, ``field``, ``message`` for each recipe left out).

    Raises
    ------
    ApiError
        422 when the body has no recipe list, a field other than ``recipes``, a recipe
        with a field that is neither an input nor an identifier (the whole request: see
        :func:`recipes_frame`), or no valid recipe (the errors listed); 413 for more than
        :data:`MAX_RECIPES` recipes.

    Notes
    -----
    The caps on one request: at most :data:`MAX_RECIPES` recipes, identifiers of at most
    :data:`MAX_ID_CHARS` characters, and (:func:`parse_body`) a body of at most
    :data:`MAX_BODY_BYTES` bytes nested at most :data:`MAX_JSON_DEPTH` deep.
    """
    recipes = _recipe_list(payload)
    frame, rows, errors = recipes_frame(recipes, list(model.colorants_))
    if not rows:
        raise ApiError(422, f"No recipe could be predicted: {errors[0]['message']}" + (f" (and {len(errors) - 1} more problems)" if len(errors) > 1 else ""),
                       errors[0]["field"], errors)
    inputs = list(model.input_columns)
    passthrough = [column for column in frame.columns if column not in inputs]
    # The same call as model.serving.batch.predict_csv, so the numbers are the CLI's. Without
    # identifiers the frame is the inputs already, and no frame is copied or joined.
    table = model.predict(frame[inputs] if passthrough else frame).to_frame()
    if passthrough:
        table = pd.concat([frame[passthrough].reset_index(drop=True), table], axis=1)
    predictions = [{"row": row, **record} for row, record in zip(rows, _records(table))]
    return {"model_version": card.version, "n_predicted": len(rows), "predictions": predictions, "errors": errors}


# --------------------------------------------------------------------------------------
# POST formulate
# --------------------------------------------------------------------------------------


_TARGET_KINDS = ("hex", "Lab", "spectrum")
_N_BANDS = len(WAVELENGTHS_NM)
_CONSTRAINT_FIELDS = ("colorants", "minimum", "maximum", "max_total", "thicknesses_um", "min_fluorescence_cts")


def _target(spec: Any):
    from model.formulation import Target

    if not isinstance(spec, Mapping) or not spec:
        raise ApiError(422, "'target' is missing or not an object; expected one of {\"hex\": \"#9fc24a\"}, {\"Lab\": [L, a, b]} or {\"spectrum\": [31 reflectances, 400–700 nm]}.", "target")
    _refuse_unknown(spec, _TARGET_KINDS, "target", "a kind of target")
    if len(spec) != 1:
        raise ApiError(422, f"'target' has {', '.join(spec)}; expected exactly one of 'hex', 'Lab' or 'spectrum'.", "target")
    kind, value = next(iter(spec.items()))
    try:
        if kind == "hex":
            if not isinstance(value, str) or len(value) > 16:
                raise ValueError(f"expected a text such as '#9fc24a', got {_shown(value)}")
            return Target.from_hex(value)
        if kind == "Lab":
            return Target.from_Lab(*_numbers(value, "target.Lab", 3, 3, "3 numbers [L*, a*, b*] (L* 0–100, a* and b* −128 to 128)"))
        reflectance = _numbers(value, "target.spectrum", _N_BANDS, _N_BANDS, f"{_N_BANDS} reflectances (0–1, 400–700 nm in 10 nm steps)")
        return Target.from_spectrum(np.asarray(reflectance), label="spectrum from the API")
    except ApiError:
        raise
    except (ValueError, TypeError) as error:
        raise ApiError(422, f"target.{kind}: {error}", f"target.{kind}") from None


def _numbers(value: Any, field: str, fewest: int, most: int, expected: str) -> list[float]:
    """A list of ``fewest``…``most`` finite numbers, its length checked before its items."""
    if not isinstance(value, list) or not fewest <= len(value) <= most:
        raise ApiError(422, f"{field}: expected {expected}, got {_shown(value)}.", field)
    for index, item in enumerate(value):
        if not _is_number(item):
            raise ApiError(422, f"{field}[{index}]: expected a finite number, got {_shown(item)}.", f"{field}[{index}]")
    return [float(item) for item in value]


def _allowed_colorants(allowed: Any, colorants: Sequence[str]) -> list[str] | None:
    """``constraints.colorants``: None, or distinct names of the model's colorants (at most all of them)."""
    field = "constraints.colorants"
    if allowed is None:
        return None
    if not isinstance(allowed, list) or not 1 <= len(allowed) <= len(colorants):
        raise ApiError(422, f"{field}: expected a list of 1 to {len(colorants)} of this model's colorants ({', '.join(colorants)}), got {_shown(allowed)}.", field)
    for index, name in enumerate(allowed):
        if not isinstance(name, str):
            raise ApiError(422, f"{field}[{index}]: expected a colorant name, got {_shown(name)}.", field)
        if name not in colorants:
            raise ApiError(422, f"{field}: {_shown(name)} is not a colorant of this model.{_did_you_mean(name, colorants)} Expected some of {', '.join(colorants)}.", field)
        if name in allowed[:index]:
            raise ApiError(422, f"{field}: {name!r} is named twice; name each colorant once.", field)
    return allowed


def _constraints(spec: Any, colorants: Sequence[str]):
    from model.formulation import Constraints

    if spec is None:
        return Constraints()
    if not isinstance(spec, Mapping):
        raise ApiError(422, "'constraints' is not an object; expected {\"colorants\": [...], \"minimum\": {...}, \"maximum\": {...}, \"max_total\": wt %, \"thicknesses_um\": [...]}.", "constraints")
    _refuse_unknown(spec, _CONSTRAINT_FIELDS, "constraints", "a constraint")
    allowed = _allowed_colorants(spec.get("colorants"), colorants)
    limits = {}
    for bound in ("minimum", "maximum"):
        value = spec.get(bound, {})
        if not isinstance(value, Mapping):
            raise ApiError(422, f"constraints.{bound}: expected an object of colorant → wt %, got {_shown(value)}.", f"constraints.{bound}")
        _refuse_unknown(value, colorants, f"constraints.{bound}", "a colorant of this model")  # so at most one entry per colorant
        for name, number in value.items():
            parsed, problem = _number(number, CONCENTRATION)
            if problem:
                raise ApiError(422, f"constraints.{bound}.{name}: {problem}", f"constraints.{bound}.{name}")
            limits.setdefault(bound, {})[name] = parsed
    max_total = spec.get("max_total")
    if max_total is not None:
        max_total, problem = _number(max_total, CONCENTRATION)
        if problem:
            raise ApiError(422, f"constraints.max_total: {problem}", "constraints.max_total")
    thicknesses = spec.get("thicknesses_um")
    if thicknesses is not None:
        thicknesses = _numbers(thicknesses, "constraints.thicknesses_um", 1, MAX_THICKNESSES, f"1 to {MAX_THICKNESSES} film thicknesses in µm")
        bad = [value for value in thicknesses if not THICKNESS._inside(value)]
        if bad:
            raise ApiError(422, f"constraints.thicknesses_um: expected film thicknesses in µm, {THICKNESS.range_text}, got {bad}.", "constraints.thicknesses_um")
    min_fluorescence = spec.get("min_fluorescence_cts")
    if min_fluorescence is not None and (not _is_number(min_fluorescence) or min_fluorescence < 0):
        raise ApiError(422, f"constraints.min_fluorescence_cts: expected a fluorescence intensity in ct/s, a number ≥ 0, got {_shown(min_fluorescence)}.", "constraints.min_fluorescence_cts")
    return Constraints(
        colorants=allowed, minimum=limits.get("minimum", {}), maximum=limits.get("maximum", {}), max_total=max_total, thicknesses_um=thicknesses,
        min_fluorescence_cts=None if min_fluorescence is None else float(min_fluorescence),
    )


def formulate(payload: Any, model, card, *, should_stop: Callable[[], bool] | None = None) -> dict:
    """``POST /api/v1/formulate``: a target and constraints in, candidate recipes out.

    Parameters
    ----------
    payload : ``{"target": {"hex": …} | {"Lab": [L, a, b]} | {"spectrum": [31 values]},
        "constraints": {…} (optional), "n_candidates": 1–10 (optional, default 3)}``
    model, card : the champion, or its serving snapshot (only ``colorants_``,
        ``training_range_``, ``predict_arrays``, ``predict_fluorescence`` and ``predict``
        are used), and its card.
    should_stop : callable, optional
        Asked between the steps of the search; True stops it (the server passes one that
        turns True when the client has gone). The search also stops by itself after
        :data:`FORMULATE_TIME_LIMIT_S` seconds.

    Returns
    -------
    dict
        ``model_version``, ``target`` (its label and CIELAB), ``reachable``, ``explanation``
        and ``candidates`` (best first: ``rank``, the recipe, ``delta_e00``, metamerism,
        ``L, a, b``, ``hex``, the out-of-range flag, ``fluorescence_cts`` with a fluorescence
        head); ``fluorescence_met`` (null unless ``constraints.min_fluorescence_cts`` was
        given and the model can predict fluorescence).

    Raises
    ------
    ApiError
        422 naming the field for anything but the fields below, or a value out of bounds;
        503 when the search was stopped (time limit or ``should_stop``).

    Notes
    -----
    Every list and count a request may carry is capped, so that one request's work is
    bounded: ``n_candidates`` 1 to :data:`MAX_CANDIDATES`; ``constraints.thicknesses_um``
    1 to :data:`MAX_THICKNESSES` entries; ``constraints.colorants`` 1 to the model's number
    of colorants, each once; ``constraints.minimum`` and ``maximum`` one entry per model
    colorant at most; ``target.Lab`` exactly 3 numbers, ``target.spectrum`` exactly 31.
    The number of search starts is not a request field (8 per thickness, see
    :func:`model.formulation.formulate`).
    """
    from model.formulation import FormulationCancelled
    from model.formulation import formulate as run_formulation

    if not isinstance(payload, Mapping):
        raise ApiError(422, "The body is not an object; expected {\"target\": {...}, \"constraints\": {...}}.", "target")
    _refuse_unknown(payload, ("target", "constraints", "n_candidates"), "", "a field of a formulate request")
    target = _target(payload.get("target"))
    constraints = _constraints(payload.get("constraints"), list(model.colorants_))
    n_candidates = payload.get("n_candidates", 3)
    if not isinstance(n_candidates, int) or isinstance(n_candidates, bool) or not 1 <= n_candidates <= MAX_CANDIDATES:
        raise ApiError(422, f"n_candidates={_shown(n_candidates)}: expected a whole number from 1 to {MAX_CANDIDATES}.", "n_candidates")
    deadline = time.monotonic() + FORMULATE_TIME_LIMIT_S

    def stop() -> bool:
        return time.monotonic() >= deadline or (should_stop is not None and bool(should_stop()))

    try:
        result = run_formulation(model, target, constraints, n_candidates=n_candidates, should_stop=stop)
    except FormulationCancelled as stopped:
        raise ApiError(
            503, f"The formulation was stopped after {stopped.seconds:.1f} s (the limit is {FORMULATE_TIME_LIMIT_S:g} s, or the client left); "
            "try fewer thicknesses or candidates, or fewer colorants, or send it again later.",
        ) from None
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
