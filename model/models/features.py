"""The named feature maps and target transforms of the MLP heads, as plain numpy.

Every fitted head (:mod:`model.models.mlp`, :mod:`model.models.fluorescence`) wraps these
functions in scikit-learn ``FunctionTransformer`` steps; the serving snapshot
(:mod:`model.models.snapshot`) replays the same functions by name from :data:`FUNCTIONS`,
without scikit-learn. Pickled models refer to them by their old module paths
(``model.models.mlp._features_sqrt``, ``model.models.fluorescence.recipe_features``…),
which import them from here, so models saved before this module existed still load.

Scales: recipes are colorants in wt % then the film thickness in µm; reflectance is a
factor 0–1 (may exceed 1); fluorescence intensity is in counts per second (ct/s).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = ["FUNCTIONS", "function_name", "recipe_features"]

# Reflectance can touch 0 in strong absorption bands; the floor keeps log and K/S finite.
_REFLECTANCE_FLOOR = 1e-3


# Input feature maps. Columns arrive as [colorants (wt %)…, thickness (µm)].
def _features_raw(X):
    return np.asarray(X, dtype=float)


def _features_sqrt(X):
    # Colour responds roughly like the square root of loading at low concentration.
    X = np.asarray(X, dtype=float)
    return np.column_stack([np.sqrt(np.clip(X[:, :-1], 0, None)), X[:, -1:]])


def _features_amount(X):
    # Pigment per unit area (wt % × µm) is what Kubelka–Munk says a film's absorption
    # depends on; keep concentration, thickness and total load as well.
    X = np.asarray(X, dtype=float)
    concentration, thickness = X[:, :-1], X[:, -1:]
    amount = concentration * thickness / 10.0
    total = concentration.sum(axis=1, keepdims=True)
    return np.column_stack([np.sqrt(np.clip(amount, 0, None)), np.sqrt(np.clip(concentration, 0, None)), thickness, total])


_INPUT_FUNCTIONS = {"raw": _features_raw, "sqrt": _features_sqrt, "amount": _features_amount}


# Spectral target transforms (reflectance factor 0–1 in, network target out) and their inverses.
def _identity(R):
    return np.asarray(R, dtype=float)


def _log_reflectance(R):
    return np.log(np.clip(np.asarray(R, dtype=float), _REFLECTANCE_FLOOR, None))


def _exp(Y):
    return np.exp(np.asarray(Y, dtype=float))


def _ks(R):
    # Kubelka–Munk remission function K/S = (1 − R)² / 2R, on a log scale so that it is
    # well conditioned; fluorescent bands (R > 1) are mirrored so the map stays invertible.
    R = np.clip(np.asarray(R, dtype=float), _REFLECTANCE_FLOOR, None)
    return np.sign(1.0 - R) * np.log1p((1.0 - R) ** 2 / (2.0 * R))


def _ks_inverse(Y):
    Y = np.asarray(Y, dtype=float)
    ks = np.expm1(np.abs(Y))
    below_one = 1.0 + ks - np.sqrt(ks**2 + 2.0 * ks)
    above_one = 1.0 + ks + np.sqrt(ks**2 + 2.0 * ks)
    return np.where(Y >= 0, below_one, above_one)


#: Scale of the log target (ct/s): log(1 + I / scale) is ≈ log I over the 1,000–9,000 ct/s a
#: fluorescent film reads, and stays finite for a film that reads 0.
_TARGET_SCALE_CTS = 100.0


def recipe_features(X):
    """Features of recipes X (n, colorants + 1; wt %, then µm) the networks see.

    √c per colorant, the amount per area c·X/10 (wt % × µm / 10) and its square root, and
    the thickness (µm): Kubelka–Munk absorption depends on the amount per area, and a
    colorant's effect at low loading grows roughly like the square root of it.
    """
    X = np.asarray(X, dtype=float)
    concentration, thickness = np.clip(X[:, :-1], 0, None), X[:, -1:]
    amount = concentration * thickness / 10.0
    return np.column_stack([np.sqrt(concentration), amount, np.sqrt(amount), thickness])


def _to_log(intensity):
    return np.log1p(np.clip(np.asarray(intensity, dtype=float), 0, None) / _TARGET_SCALE_CTS)


def _from_log(target):
    return _TARGET_SCALE_CTS * np.expm1(np.clip(np.asarray(target, dtype=float), 0, None))


#: Every function a head's ``FunctionTransformer`` may hold, by the name a snapshot stores.
FUNCTIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    function.__name__: function
    for function in (
        _features_raw, _features_sqrt, _features_amount, _identity, _log_reflectance, _exp, _ks, _ks_inverse,
        recipe_features, _to_log, _from_log,
    )
}


def function_name(function) -> str | None:
    """The :data:`FUNCTIONS` name of ``function``, or None when it is not one of them (compared by identity)."""
    return next((name for name, known in FUNCTIONS.items() if known is function), None)
