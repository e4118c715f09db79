"""Colorants a training set cannot teach: never used, or used in a single recipe.

A lab's database often carries a column for every colorant on the shelf, some of them
never used, and a colorant tried once. Neither stops a fit (the physics' ridge and
smoothness penalties keep such constants defined, near 0 or resting on one recipe), but
the model's predictions for recipes that hold them are unfounded, and a single-recipe
colorant cannot be validated: with its recipe held out, no training recipe holds it. So
the fit says so once, naming each colorant and what to do, with a
:class:`ColorantWarning`; the fits inside a validation, which would repeat it about
each fold, stay quiet (:func:`quiet_colorant_warnings`).

Scales: concentrations in wt % (0–100).
"""

from __future__ import annotations

import warnings
from contextlib import contextmanager

import numpy as np

from model.core.schema import Dataset

__all__ = ["ColorantWarning", "degenerate_colorants", "degenerate_colorant_notes", "warn_degenerate_colorants", "quiet_colorant_warnings"]


class ColorantWarning(UserWarning):
    """A colorant the training data cannot teach (never used, or in one recipe only)."""


def degenerate_colorants(dataset: Dataset) -> tuple[list[str], dict[str, str]]:
    """The colorants that are 0 wt % (or empty) in every film, and those in exactly one recipe (name → recipe id)."""
    loadings = dataset.table[list(dataset.colorants)].apply(lambda column: column.astype(float)).to_numpy()
    present = np.nan_to_num(loadings, nan=0.0) > 0
    recipe_ids = np.asarray(dataset.recipe_ids)
    absent, single = [], {}
    for index, name in enumerate(dataset.colorants):
        recipes = np.unique(recipe_ids[present[:, index]])
        if len(recipes) == 0:
            absent.append(name)
        elif len(recipes) == 1:
            single[name] = str(recipes[0])
    return absent, single


def degenerate_colorant_notes(dataset: Dataset) -> list[str]:
    """One sentence per colorant the data cannot teach, naming it and saying what to do.

    For a caller that shows them (the retraining's comparison, on the Retrain page and in the
    API's job report) rather than relying on a warning reaching a person.
    """
    absent, single = degenerate_colorants(dataset)
    return [
        *(
            f"Colorant {name!r} is 0 wt % or empty in all {len(dataset)} training films: the model cannot learn what it does, "
            "so its predictions for recipes that hold it are guesses. Drop the column, or add films that hold it."
            for name in absent
        ),
        *(
            f"Colorant {name!r} is in only one recipe ({recipe!r}): what the model learns of it rests on that recipe alone, "
            "so predictions at other loadings or in other mixtures are poorly founded, and validation cannot score it "
            "(with that recipe held out no training recipe holds it). Add a few loadings of it (a ladder)."
            for name, recipe in single.items()
        ),
    ]


def warn_degenerate_colorants(dataset: Dataset, stacklevel: int = 3) -> None:
    """One :class:`ColorantWarning` per sentence of :func:`degenerate_colorant_notes`."""
    for note in degenerate_colorant_notes(dataset):
        warnings.warn(note, ColorantWarning, stacklevel=stacklevel)


@contextmanager
def quiet_colorant_warnings():
    """Silence :class:`ColorantWarning` (and the physics' own) inside: for the fits of a validation's folds."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ColorantWarning)
        yield
