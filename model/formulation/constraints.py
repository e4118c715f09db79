"""What a formulation search may use: colorants, their limits, the total, the thicknesses,
and what it must reach besides colour: a minimum fluorescence.

Scales: concentrations in wt % (0–100), film thickness in µm, fluorescence intensity in
counts per second (ct/s).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from model.core.schema import THICKNESS_COLUMN

__all__ = ["Constraints"]


@dataclass(frozen=True)
class Constraints:
    """What the search may use.

    Parameters
    ----------
    colorants : sequence of str, optional
        Allowed colorants; default every colorant of the model. The others stay at 0.
    minimum, maximum : mapping colorant → wt %, optional
        Per-colorant limits. Default 0 and the highest level seen in training (going
        beyond the training range is allowed but the candidate is flagged).
    max_total : float, optional
        Maximum sum of all concentrations, wt %. Without one the sum is still at most 100
        (:attr:`total_cap`): the colorants are part of the ink.
    thicknesses_um : sequence of float, optional
        Allowed film thicknesses in µm; default the lowest and highest trained thickness.
    min_fluorescence_cts : float, optional
        Predicted fluorescence intensity every candidate must reach, ct/s (a fluorescent
        safety or brand ink must glow at least so much). Needs a model with a fluorescence
        head; without one the search says it could not be checked.
    """

    colorants: Sequence[str] | None = None
    minimum: Mapping[str, float] = field(default_factory=dict)
    maximum: Mapping[str, float] = field(default_factory=dict)
    max_total: float | None = None
    thicknesses_um: Sequence[float] | None = None
    min_fluorescence_cts: float | None = None

    @property
    def total_cap(self) -> float:
        """The most the colorants of a recipe may add up to, wt %: ``max_total``, and never above 100."""
        return 100.0 if self.max_total is None else min(float(self.max_total), 100.0)

    def resolve(self, model) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray]:
        """Bounds in the model's terms.

        Parameters
        ----------
        model : fitted ColourModel
            Only its ``colorants_`` and ``training_range_`` are read.

        Returns
        -------
        colorants : list of str, every model colorant in model order.
        lower, upper : numpy.ndarray, wt % per colorant (both 0 for disallowed ones).
        thicknesses : numpy.ndarray, µm.

        Raises
        ------
        ValueError
            A name is not one of the model's colorants, or the limits contradict each other.
        """
        colorants = list(model.colorants_)
        allowed = list(self.colorants) if self.colorants is not None else colorants
        for name in [*allowed, *self.minimum, *self.maximum]:
            if name not in colorants:
                raise ValueError(f"Colorant {name!r} is not one this model knows; it knows {colorants}.")
        if not allowed:
            raise ValueError("No colorant is allowed; allow at least one.")
        # A limit on a colorant left out would be dropped without a word: a minimum cannot be met.
        excluded = [name for name, low in self.minimum.items() if name not in allowed and float(low) > 0]
        if excluded:
            raise ValueError(
                f"A minimum is set for {', '.join(excluded)}, which is not among the allowed colorants ({', '.join(allowed)}); "
                "allow it, or remove its minimum."
            )
        lower, upper = self._concentration_bounds(colorants, allowed, model.training_range_.maximum)
        self._check_total(lower)
        self._check_fluorescence()
        return colorants, lower, upper, self._thicknesses(model.training_range_)

    def _concentration_bounds(self, colorants: list[str], allowed: list[str], trained_maximum) -> tuple[np.ndarray, np.ndarray]:
        """Lower and upper wt % per model colorant; 0 and 0 for the ones not allowed."""
        lower = np.zeros(len(colorants))
        upper = np.zeros(len(colorants))
        for i, name in enumerate(colorants):
            if name not in allowed:
                continue
            lower[i] = float(self.minimum.get(name, 0.0))
            upper[i] = float(self.maximum.get(name, trained_maximum[name]))
            if lower[i] < 0:
                raise ValueError(f"Minimum of {name} is {lower[i]:g} wt %; concentrations cannot be negative.")
            if upper[i] < lower[i]:
                raise ValueError(f"Maximum of {name} ({upper[i]:g} wt %) is below its minimum ({lower[i]:g} wt %); raise the maximum.")
        return lower, upper

    def _check_total(self, lower: np.ndarray) -> None:
        """Raise when the maximum total is not positive or the minimums already exceed it (or 100 wt %)."""
        if self.max_total is not None and self.max_total <= 0:
            raise ValueError(f"max_total={self.max_total:g} wt %: give a positive maximum total, or none.")
        if lower.sum() > self.total_cap + 1e-9:
            cap = f"the maximum total of {self.total_cap:g} wt %" if self.max_total is not None and self.max_total < 100 else "100 wt %"
            raise ValueError(f"The minimums add up to {lower.sum():g} wt %, above {cap}; lower a minimum or raise the maximum total.")

    def _check_fluorescence(self) -> None:
        """Raise when the minimum fluorescence is not a number ≥ 0 ct/s."""
        if self.min_fluorescence_cts is None:
            return
        value = self.min_fluorescence_cts
        if not isinstance(value, (int, float, np.floating, np.integer)) or not np.isfinite(value) or value < 0:
            raise ValueError(f"min_fluorescence_cts={value!r}: give a fluorescence intensity ≥ 0 ct/s, or none.")

    def _thicknesses(self, trained) -> np.ndarray:
        """The allowed thicknesses in µm, sorted and distinct; default the trained extremes."""
        if self.thicknesses_um is None:
            thicknesses = np.unique([trained.minimum[THICKNESS_COLUMN], trained.maximum[THICKNESS_COLUMN]])
        else:
            thicknesses = np.unique(np.asarray(list(self.thicknesses_um), dtype=float))
        if not len(thicknesses) or np.any(~np.isfinite(thicknesses)) or np.any(thicknesses <= 0):
            given = ", ".join(f"{value:g}" for value in thicknesses) or "none"
            raise ValueError(f"Allowed thicknesses ({given} µm): give one or more positive film thicknesses in µm.")
        return thicknesses
