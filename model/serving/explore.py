"""Look around one recipe: the inputs' bounds and defaults, the measured training samples
nearest to it, and its two CIELAB paths.

The nearest samples need the measurements the model was trained on. A saved model
keeps only its weights and training range, and its card keeps the dataset's
fingerprint, not the data; :func:`model.registry.training_data.find_training_data` finds the data
again (store or demo data) by that fingerprint, so a chemist is never shown "nearest
measured samples" from some other dataset.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import NamedTuple

import numpy as np
import pandas as pd

from model.core import colorimetry
from model.core.prediction import Prediction, TrainingRange
from model.core.schema import BAND_COLUMNS, RECIPE_ID_COLUMN, SAMPLE_ID_COLUMN, THICKNESS_COLUMN, Dataset
from model.core.tolerance import UNTRUSTED_UNCERTAINTY
from model.io.cells import parse_number
from model.io.matching import near_miss

__all__ = [
    "InputBounds",
    "input_bounds",
    "default_recipe",
    "describe_recipe",
    "trained_thicknesses",
    "parse_thicknesses",
    "UNTRUSTED_UNCERTAINTY",
    "is_untrusted",
    "TrainingSamples",
    "nearest_samples",
    "recipe_frame",
    "lab_paths_table",
    "EntryReading",
    "read_entry",
    "format_entry",
    "recipe_to_query",
    "LinkRecipe",
    "recipe_from_query",
    "pins_to_query",
    "pins_from_query",
    "dropped_pins_note",
    "PIN_QUERY_KEY",
]

# "1,000" is a thousands separator in English and 1.000 in much of Europe: ask, never guess.
_THOUSANDS_OR_DECIMAL = re.compile(r"[+-]?\d{1,3},\d{3}")
#: The query parameter that holds the pinned recipes (repeated, one per pin).
PIN_QUERY_KEY = "pin"

# Steps of the recipe inputs: 0.05 wt % for a colorant, 0.1 µm for the film.
_COLORANT_STEP, _THICKNESS_STEP = 0.05, 0.1


class InputBounds(NamedTuple):
    """What an input widget offers: ``minimum``, ``maximum`` and ``step`` (wt % or µm)."""

    minimum: float
    maximum: float
    step: float


def _nice_ceiling(value: float) -> float:
    """The next 1, 1.5, 2, 2.5 … × a power of ten at or above ``value`` (1 for value ≤ 0)."""
    if value <= 0:
        return 1.0
    magnitude = 10 ** math.floor(math.log10(value))
    return math.ceil(value / magnitude * 2) / 2 * magnitude


def input_bounds(model) -> dict[str, InputBounds]:
    """Per input (each colorant, then ``thickness_um``): the range a recipe widget offers.

    The policy lets a chemist go past the trained maximum (the prediction is then flagged)
    without a slider so long it is useless: up to 1.5 × the trained maximum, rounded up
    to a nice number (colorants never above 100 wt %); the film from half the trained
    minimum (at least 0.5 µm).

    Parameters
    ----------
    model : fitted colour model, with ``colorants_`` and ``training_range_``.

    Returns
    -------
    dict of str to InputBounds, in the model's input order; wt % for colorants, µm for
    the film.
    """
    trained = model.training_range_
    bounds = {name: InputBounds(0.0, float(min(100.0, _nice_ceiling(1.5 * trained.maximum[name]))), _COLORANT_STEP) for name in model.colorants_}
    thickness_low = max(0.5, float(math.floor(trained.minimum[THICKNESS_COLUMN] / 2)))
    bounds[THICKNESS_COLUMN] = InputBounds(thickness_low, float(_nice_ceiling(1.5 * trained.maximum[THICKNESS_COLUMN])), _THICKNESS_STEP)
    return bounds


def default_recipe(model) -> dict[str, float]:
    """The recipe a fresh Predict page shows: the first colorant at half its trained maximum.

    A single pigment gives a clear colour on first load; the other colorants sit at their
    trained minimum and the film midway through its trained range (wt %, µm).
    """
    trained, colorants = model.training_range_, list(model.colorants_)
    recipe = {name: float(trained.minimum[name]) for name in colorants}
    recipe[colorants[0]] = float(round(trained.maximum[colorants[0]] / 2, 2))
    recipe[THICKNESS_COLUMN] = float(round((trained.minimum[THICKNESS_COLUMN] + trained.maximum[THICKNESS_COLUMN]) / 2, 2))
    return recipe


def describe_recipe(recipe: Mapping[str, float], colorants: Sequence[str]) -> str:
    """The colorants a recipe uses, in words: ``"PG 1.5%, PearlB 2%"``, or ``"no colorant"``."""
    return ", ".join(f"{name} {recipe[name]:g}%" for name in colorants if recipe[name]) or "no colorant"


def trained_thicknesses(training_range: TrainingRange) -> list[float]:
    """The film thicknesses (µm) to offer by default: the trained minimum and maximum, sorted."""
    return sorted({training_range.minimum[THICKNESS_COLUMN], training_range.maximum[THICKNESS_COLUMN]})


def parse_thicknesses(values: Iterable, model=None) -> list[float] | None:
    """Chosen film thicknesses as µm floats; None when none is chosen (no constraint).

    With ``model``, a thickness outside the range Predict offers for it (:func:`input_bounds`)
    is refused too: a plan or a formulation for a 500 µm drawdown of a model measured at
    8 and 12 µm would only state a meaningless band.

    Raises
    ------
    ValueError
        A value is not a number, or (with ``model``) outside that range; the message says which.
    """
    values = list(values)
    try:
        thicknesses = [float(value) for value in values]
    except ValueError:
        raise ValueError(f"Thicknesses must be numbers in µm; got {values}.") from None
    if model is not None:
        bounds, trained = input_bounds(model)[THICKNESS_COLUMN], model.training_range_
        outside = [value for value in thicknesses if not bounds.minimum <= value <= bounds.maximum]
        if outside:
            raise ValueError(
                f"Film thickness {', '.join(f'{value:g}' for value in outside)} µm is outside what this model can predict: "
                f"{bounds.minimum:g}–{bounds.maximum:g} µm (measured {trained.minimum[THICKNESS_COLUMN]:g}–{trained.maximum[THICKNESS_COLUMN]:g} µm). "
                "Choose a thickness in that range, or measure films of this thickness and retrain."
            )
    return thicknesses or None


def is_untrusted(uncertainty: float) -> bool:
    """True when a prediction's uncertainty band (ΔE00) is too wide to rely on (:data:`UNTRUSTED_UNCERTAINTY`)."""
    return bool(np.isfinite(uncertainty) and uncertainty > UNTRUSTED_UNCERTAINTY)


def recipe_frame(concentrations: Mapping[str, float], thickness_um: float, colorants: Sequence[str]) -> pd.DataFrame:
    """One recipe as the one-row frame ``model.predict`` takes (colorants in wt %, thickness in µm).

    Colorants missing from ``concentrations`` are 0 wt %.
    """
    row = {name: float(concentrations.get(name, 0.0)) for name in colorants}
    row[THICKNESS_COLUMN] = float(thickness_um)
    return pd.DataFrame([row], columns=[*colorants, THICKNESS_COLUMN])


class TrainingSamples:
    """Measured training samples prepared once for repeated nearest-recipe look-ups.

    The Predict page looks up neighbours on every widget change; holding the inputs,
    spectra and colours as arrays keeps that to a few array operations.

    Parameters
    ----------
    dataset : Dataset
        Training measurements (colorants in wt %, thickness in µm, reflectance 0–1).
    """

    def __init__(self, dataset: Dataset) -> None:
        self.columns = [*dataset.colorants, THICKNESS_COLUMN]
        self.sample_ids = dataset.table[SAMPLE_ID_COLUMN].astype(str).to_numpy()
        self.recipe_ids = dataset.table[RECIPE_ID_COLUMN].astype(str).to_numpy()
        self.inputs = dataset.table[self.columns].to_numpy(dtype=float)
        self.reflectance = dataset.reflectance
        self.Lab = colorimetry.reflectance_to_Lab(self.reflectance)
        self.hex = np.atleast_1d(colorimetry.sRGB_to_hex(colorimetry.Lab_to_sRGB(self.Lab)[0]))

    def __len__(self) -> int:
        return len(self.inputs)

    def nearest(self, recipe: pd.DataFrame, training_range: TrainingRange, k: int = 3) -> pd.DataFrame:
        """The ``k`` samples nearest to ``recipe``; see :func:`nearest_samples`."""
        span = np.array([max(training_range.maximum[c] - training_range.minimum[c], 1e-9) for c in self.columns])
        wanted = recipe[self.columns].to_numpy(dtype=float)[0]
        distance = np.sqrt((((self.inputs - wanted) / span) ** 2).sum(axis=1))
        order = np.argsort(distance, kind="stable")[:k]
        numbers = np.column_stack([self.inputs[order], distance[order], self.Lab[order], self.reflectance[order]])
        table = pd.DataFrame(numbers, columns=[*self.columns, "distance", "L", "a", "b", *BAND_COLUMNS])
        table.insert(0, RECIPE_ID_COLUMN, self.recipe_ids[order])
        table.insert(0, SAMPLE_ID_COLUMN, self.sample_ids[order])
        table.insert(len(self.columns) + 6, "hex", self.hex[order])
        return table


def nearest_samples(dataset: Dataset, recipe: pd.DataFrame, training_range: TrainingRange, k: int = 3) -> pd.DataFrame:
    """The ``k`` measured samples whose recipes are nearest to ``recipe``.

    Distance is Euclidean over the colorants and thickness, each divided by its trained
    span (max − min), so that 1 wt % of a colorant used up to 2 % counts as much as 10 %
    of one used up to 20 %. For repeated look-ups build a :class:`TrainingSamples` once.

    Parameters
    ----------
    dataset : Dataset
        Training measurements (colorants in wt %, thickness in µm).
    recipe : DataFrame
        One row with the dataset's colorant columns and ``thickness_um``.
    training_range : TrainingRange
    k : int

    Returns
    -------
    DataFrame
        ``sample_id, recipe_id, <colorants>, thickness_um, distance, L, a, b, hex,
        R400 … R700`` (reflectance factor 0–1), nearest first.
    """
    return TrainingSamples(dataset).nearest(recipe, training_range, k)


def lab_paths_table(prediction: Prediction, row: int = 0) -> pd.DataFrame:
    """CIELAB of one predicted recipe by both paths, for display.

    Returns
    -------
    DataFrame
        Index ``From the spectrum``, ``From the CIELAB head``; columns ``L*`` (0–100),
        ``a*``, ``b*``, ``C*`` and ``h°`` (degrees, 0–360, derived from a*, b*) and
        ``headline`` (True for the path the model reports, chosen on validation).
    """
    paths = {
        "From the spectrum": (prediction.Lab_spectral[row], prediction.headline == "spectral"),
        "From the CIELAB head": (prediction.Lab_head[row], prediction.headline == "head"),
    }
    records = {}
    for label, (Lab, is_headline) in paths.items():
        LCh = colorimetry.Lab_to_LCh(Lab)
        records[label] = {"L*": Lab[0], "a*": Lab[1], "b*": Lab[2], "C*": LCh[1], "h°": LCh[2], "headline": is_headline}
    return pd.DataFrame.from_dict(records, orient="index")


# --------------------------------------------------------------------------------------
# Typed entries and the recipe in the URL
# --------------------------------------------------------------------------------------


def _unit(name: str) -> str:
    return "µm" if name == THICKNESS_COLUMN else "wt %"


def format_entry(value: float) -> str:
    """A number as a recipe box and a shared link show it: at most five decimals, no trailing zeros (``12.5``, ``0``).

    Five, because the lab's recipe tables give 0.99625 wt %: a box or link that showed 0.9962 would
    name another recipe than the one predicted.
    """
    text = f"{float(value):.5f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


class EntryReading(NamedTuple):
    """What :func:`read_entry` made of a typed number.

    ``value`` is the number to use (wt % or µm), or None when the entry cannot be used;
    ``problem`` then says why in words. ``note`` says how a decimal comma was read.
    """

    value: float | None
    problem: str | None = None
    note: str | None = None


def read_entry(text: str, name: str, bounds: InputBounds) -> EntryReading:
    """Read what a person typed in a recipe box: a number, a decimal comma allowed.

    ``1,5`` is 1.5 (and the note says so); ``1.5`` is 1.5; ``abc`` is refused, and so
    is ``1,000``, which means 1 or 1000 depending on who typed it. A number outside ``bounds`` is refused with the allowed range, so an
    entry is never silently clamped or ignored.

    Parameters
    ----------
    text : str, as typed.
    name : str, a colorant (wt %) or ``thickness_um`` (µm); names the box in messages.
    bounds : InputBounds, the range the box offers.

    Returns
    -------
    EntryReading

    Examples
    --------
    >>> read_entry("1,5", "PG", InputBounds(0.0, 30.0, 0.05)).value
    1.5
    """
    unit = _unit(name)
    shown = str(text).strip()
    if _THOUSANDS_OR_DECIMAL.fullmatch(shown):
        whole, _, fraction = shown.partition(",")
        return EntryReading(
            None,
            f"{name}: “{shown}” could mean {format_entry(float(whole + '.' + fraction))} or {whole}{fraction} {unit}, so it was not used. "
            f"Type {format_entry(float(whole + '.' + fraction))} or {whole}{fraction}, whichever you mean.",
        )
    value = parse_number(shown, decimal_comma=True, digits_only=True)
    if value is None:
        if not shown:
            return EntryReading(None, f"{name}: the box is empty; type a number in {unit} (0 for a colorant the recipe does not use).")
        return EntryReading(None, f"{name}: “{shown}” is not a number. Type a number in {unit}, such as 1.5 or 1,5.")
    if not bounds.minimum <= value <= bounds.maximum:
        side = "above the largest" if value > bounds.maximum else "below the smallest"
        return EntryReading(
            None,
            f"{name}: {format_entry(value)} {unit} is {side} value this box accepts "
            f"({format_entry(bounds.minimum)}–{format_entry(bounds.maximum)} {unit}), so it was not used.",
        )
    note = f"Read “{shown}” as {format_entry(value)} {unit}." if "," in shown else None
    return EntryReading(float(value), None, note)


def recipe_to_query(recipe: Mapping[str, float], inputs: Sequence[str]) -> dict[str, str]:
    """The recipe as URL query parameters named after its inputs: ``{"PG": "12.5", "thickness_um": "8"}``.

    Every input is written (a colorant at 0 wt % too), so a link means the same recipe
    whatever the receiving page would default to.
    """
    return {name: format_entry(recipe[name]) for name in inputs}


class LinkRecipe(NamedTuple):
    """What :func:`recipe_from_query` read from a shared link.

    ``recipe`` has every input (wt %, µm); ``problems`` is one sentence per thing in the
    link that was not used, to show on the page; ``ignored`` names the query parameters
    that name no input of the model (they are in ``problems`` too).
    """

    recipe: dict[str, float]
    problems: list[str]
    ignored: list[str]


def recipe_from_query(params: Mapping[str, str], bounds: Mapping[str, InputBounds], defaults: Mapping[str, float]) -> LinkRecipe:
    """The recipe a link names, on top of ``defaults``; and what in the link could not be used.

    Parameters
    ----------
    params : mapping of str to str, the URL's query parameters.
    bounds : :func:`input_bounds` of the model: the inputs a link may name.
    defaults : the recipe used for inputs the link does not name (wt %, µm).

    Returns
    -------
    LinkRecipe
        ``problems`` has one sentence per value that was not a number or out of range
        (its default is used instead), and one for the parameters that name no input
        (``?TitaniumWhite=30``, or ``?fluoyellow=5`` for ``FluoYellow``: names are exact,
        never guessed), listing the model's inputs and a near miss where there is one.
        A link made for a model with other colorants (it names a colorant amount this
        model does not have) gets one sentence instead, naming the amounts dropped; the
        model's colorants the link does not name are then 0 wt %, not the defaults, so no
        amount appears that the link did not hold.
        The pins (:data:`PIN_QUERY_KEY`) are read by :func:`pins_from_query`.

    Examples
    --------
    >>> bounds = {"FluoYellow": InputBounds(0.0, 30.0, 0.05), "thickness_um": InputBounds(4.0, 20.0, 0.1)}
    >>> link = recipe_from_query({"fluoyellow": "5"}, bounds, {"FluoYellow": 0.0, "thickness_um": 8.0})
    >>> link.recipe, link.ignored
    ({'FluoYellow': 0.0, 'thickness_um': 8.0}, ['fluoyellow'])
    """
    recipe = {name: float(defaults[name]) for name in bounds}
    problems = []
    for name, limits in bounds.items():
        if name not in params:
            continue
        reading = read_entry(str(params[name]), name, limits)
        if reading.value is None:
            problems.append(f"In the link, {reading.problem} Using {format_entry(recipe[name])} {_unit(name)} instead.")
        else:
            recipe[name] = reading.value
    ignored = [name for name in params if name not in bounds and name != PIN_QUERY_KEY]
    other_colorants = _other_colorant_amounts(params, ignored, list(bounds))
    if other_colorants:
        not_named = [name for name in bounds if name != THICKNESS_COLUMN and name not in params]
        for name in not_named:
            recipe[name] = 0.0
        note = _other_colorants_note(other_colorants, not_named, list(bounds))
        typos = [name for name in ignored if name not in other_colorants]
        problems.append(f"{note} {_ignored_parameters_note(typos, list(bounds))}" if typos else note)
    elif ignored:
        problems.append(_ignored_parameters_note(ignored, list(bounds)))
    return LinkRecipe(recipe, problems, ignored)


def _other_colorant_amounts(params: Mapping[str, str], ignored: Sequence[str], inputs: Sequence[str]) -> dict[str, float]:
    """The link's amounts of colorants this model does not have: unknown names whose value is a number.

    A near miss of an input (``fluoyellow`` for ``FluoYellow``) is a typo, not another colorant.
    """
    amounts = {}
    for name in ignored:
        value = parse_number(str(params[name]), decimal_comma=True, digits_only=True)
        if value is not None and near_miss(name, inputs) is None:
            amounts[name] = value
    return amounts


def _other_colorants_note(dropped: Mapping[str, float], set_to_zero: Sequence[str], inputs: Sequence[str]) -> str:
    """One sentence for a link made for a model with other colorants: what was dropped, and what was set to 0."""
    colorants = [name for name in inputs if name != THICKNESS_COLUMN]
    amounts = ", ".join(f"{name} {format_entry(value)} wt %" for name, value in dropped.items())
    zero = f" {', '.join(set_to_zero)} {'is' if len(set_to_zero) == 1 else 'are'} not in the link, so {'it is' if len(set_to_zero) == 1 else 'they are'} at 0 wt %." if set_to_zero else ""
    return (
        f"This link was made for a model with other colorants: the model in use has {', '.join(colorants)}. "
        f"Dropped from the link, because this model does not have {'that colorant' if len(dropped) == 1 else 'those colorants'}: {amounts}.{zero} "
        "The recipe shown is therefore not the one shared: check it before relying on the prediction."
    )


def _ignored_parameters_note(ignored: Sequence[str], inputs: Sequence[str]) -> str:
    """One sentence naming the link's unknown parameters, with a near miss for each that has one."""
    described = []
    for name in ignored:
        meant = near_miss(name, inputs)
        described.append(f"“{name}” (did you mean “{meant}”?)" if meant else f"“{name}”")
    colorants = [name for name in inputs if name != THICKNESS_COLUMN]
    what = "is not an input" if len(ignored) == 1 else "are not inputs"
    return (
        f"In the link, {', '.join(described)} {what} of this model, so {'it was' if len(ignored) == 1 else 'they were'} ignored. "
        f"The model's colorants are {', '.join(colorants)} (wt %), and the film is {THICKNESS_COLUMN} (µm); names must match exactly."
    )


def pins_to_query(pins: Sequence[Mapping[str, float]], inputs: Sequence[str]) -> list[str]:
    """Pinned recipes as repeated ``pin`` values: ``"PG:1.5,thickness_um:8"`` (colorants at 0 left out)."""
    return [
        ",".join(f"{name}:{format_entry(pin[name])}" for name in inputs if name == THICKNESS_COLUMN or float(pin.get(name, 0.0)) != 0.0)
        for pin in pins
    ]


def pins_from_query(values: Sequence[str], bounds: Mapping[str, InputBounds], limit: int) -> list[dict[str, float]]:
    """The pinned recipes a link names (see :func:`pins_to_query`); unreadable pins are skipped.

    A pin must name ``thickness_um``; colorants it does not name are 0 wt %. At most
    ``limit`` pins are returned. :func:`dropped_pins_note` says which were skipped.
    """
    pins = []
    for value in values:
        pin = _read_pin(value, bounds)
        if pin is not None:
            pins.append(pin)
    return pins[:limit]


def _read_pin(value: str, bounds: Mapping[str, InputBounds]) -> dict[str, float] | None:
    """One pin's recipe, or None when it cannot be used (no thickness, an unknown input, a bad number)."""
    recipe = {name: 0.0 for name in bounds}
    if THICKNESS_COLUMN not in str(value):
        return None
    for part in str(value).split(","):
        name, _, number = part.partition(":")
        reading = read_entry(number, name, bounds[name]) if name in bounds else EntryReading(None)
        if reading.value is None:
            return None
        recipe[name] = reading.value
    return recipe


def dropped_pins_note(values: Sequence[str], bounds: Mapping[str, InputBounds]) -> str | None:
    """One sentence for the pins of a link that were not pinned, and why; None when every pin was used.

    A pin naming a colorant the model does not have (a link made for a model with other
    colorants) is named with that colorant; others could not be read.

    Examples
    --------
    >>> bounds = {"PG": InputBounds(0.0, 30.0, 0.05), "thickness_um": InputBounds(4.0, 20.0, 0.1)}
    >>> dropped_pins_note(["PG:1,thickness_um:8", "FluoYellow:2,thickness_um:8"], bounds)
    'In the link, 1 pinned recipe was not pinned: it names FluoYellow, a colorant the model in use (PG) does not have.'
    """
    dropped = [value for value in values if _read_pin(value, bounds) is None]
    if not dropped:
        return None
    unknown = sorted({part.partition(":")[0] for value in dropped for part in str(value).split(",")} - set(bounds) - {""})
    colorants = ", ".join(name for name in bounds if name != THICKNESS_COLUMN)
    count = f"{len(dropped)} pinned {'recipe was' if len(dropped) == 1 else 'recipes were'} not pinned"
    if unknown:
        return (f"In the link, {count}: {'it names' if len(dropped) == 1 else 'they name'} {', '.join(unknown)}, "
                f"{'a colorant' if len(unknown) == 1 else 'colorants'} the model in use ({colorants}) does not have.")
    return f"In the link, {count}: {'it' if len(dropped) == 1 else 'they'} could not be read (each needs thickness_um and numbers in range)."
