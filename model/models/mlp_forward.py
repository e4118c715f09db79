"""Fitted scikit-learn MLP heads exported as plain-numpy programs: how a model's serving form is made.

A head is a ``TransformedTargetRegressor`` around a ``Pipeline`` of feature map
(``FunctionTransformer``), ``StandardScaler`` and ``MLPRegressor``, with a target
transformer (a ``StandardScaler``, or a ``Pipeline`` of ``FunctionTransformer`` and
``StandardScaler``) that is undone on predict. :func:`head_program` replays the same
arithmetic from the fitted attributes (``coefs_``, ``intercepts_``, ``mean_``, ``scale_``)
as a program of :class:`~model.models.serving_form.Step` s and checks it against the head's
own ``predict`` before it is used; :func:`head_programs` does so for an ensemble and is what
every ``fit`` calls last, so a model predicts through its programs only
(:mod:`model.models.serving_form`).

Why: scikit-learn's ``predict`` validates its input on every call, about 0.7 ms per head:
most of a one-recipe prediction (twelve heads for the hybrid), and most of the formulation
optimiser's time, which predicts thousands of tiny batches.

Scales: whatever the heads were fitted on (for Huecast, inputs are colorants in wt %
then thickness in µm; outputs reflectance factor 0–1 or CIELAB with L* 0–100).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.compose import TransformedTargetRegressor
from sklearn.neural_network import MLPRegressor
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from model.models.serving_form import ACTIVATIONS, Step, run_program

__all__ = ["head_program", "head_programs"]

# The replay must reproduce ``predict`` to rounding error; anything looser means it is not
# the same computation.
_TOLERANCE = 1e-9
# Rows of the default verification probe. Its values (0–20, as wt % and µm would be) only
# need to exercise every step; the comparison is of arithmetic, not of accuracy.
_PROBE_ROWS = 8
_PROBE_MAXIMUM = 20.0


def _network_step(network: MLPRegressor) -> Step | None:
    """A fitted ``MLPRegressor``'s forward pass as a step, or None for an activation not in :data:`ACTIVATIONS`."""
    # A Poisson loss puts an exponential on the output layer; only the linear output is replayed.
    if network.activation not in ACTIVATIONS or network.out_activation_ != "identity":
        return None
    layers = [array for weight, bias in zip(network.coefs_, network.intercepts_) for array in (weight, bias)]
    return Step("network", network.activation, tuple(layers))


def _step(step, inverse: bool = False) -> Step | None:
    """A plain-numpy stand-in for one fitted pipeline step, or None when the step is unfamiliar.

    With ``inverse`` it stands in for the step's ``inverse_transform`` instead (a target
    transformer undone on predict); a network has no inverse.
    """
    if isinstance(step, FunctionTransformer):
        function, kw_args = (step.inverse_func, step.inv_kw_args) if inverse else (step.func, step.kw_args)
        # kw_args would have to be replayed too; such a step is left to predict.
        return None if kw_args or function is None else Step.named_function(function)
    if isinstance(step, StandardScaler):
        mean = step.mean_ if step.with_mean else np.zeros(1)
        scale = step.scale_ if step.with_std else np.ones(1)
        return Step("inverse_affine" if inverse else "affine", None, (np.asarray(mean, dtype=float), np.asarray(scale, dtype=float)))
    if isinstance(step, MLPRegressor) and not inverse:
        return _network_step(step)
    return None


def _program(head) -> tuple[Step, ...] | None:
    """The forward pass of one fitted head as steps, or None if its shape is unfamiliar (not verified)."""
    if not isinstance(head, TransformedTargetRegressor) or not isinstance(head.regressor_, Pipeline):
        return None
    forward = [_step(step) for _, step in head.regressor_.steps]
    transformer = head.transformer_
    inverse_steps = [step for _, step in transformer.steps] if isinstance(transformer, Pipeline) else [transformer]
    inverse = [_step(step, inverse=True) for step in reversed(inverse_steps)]
    steps = [*forward, *inverse]
    return None if any(step is None for step in steps) else tuple(steps)


def _probe(heads: Sequence, probe: np.ndarray | None) -> np.ndarray:
    if probe is None:
        probe = np.random.default_rng(0).uniform(0.0, _PROBE_MAXIMUM, (_PROBE_ROWS, heads[0].n_features_in_))
    return np.asarray(probe, dtype=float)


def head_program(head, probe: np.ndarray | None = None) -> tuple[Step, ...] | None:
    """One fitted head's forward pass as a program of :class:`~model.models.serving_form.Step` s, verified against ``predict``.

    Parameters
    ----------
    head : fitted ``TransformedTargetRegressor``
    probe : numpy.ndarray, shape (n, inputs), optional
        Inputs to verify the replay on. Default: a fixed matrix of values 0–20 (as wt % and µm would be).

    Returns
    -------
    tuple of Step, or None
        None when a step is one the replay does not know, or the replay differs from
        ``head.predict`` on ``probe`` by more than 1e-9: the caller then uses ``predict``.
    """
    program = _program(head)
    if program is None:
        return None
    probe = _probe([head], probe)
    reference = np.asarray(head.predict(probe), dtype=float).reshape(len(probe), -1)
    replay = run_program(program, probe)
    if replay.shape != reference.shape or not np.allclose(replay, reference, rtol=_TOLERANCE, atol=_TOLERANCE):
        return None
    return program


def head_programs(heads: Sequence, what: str) -> tuple[tuple[Step, ...], ...]:
    """Every member of an ensemble head as a verified, savable program (see :func:`head_program`).

    Parameters
    ----------
    heads : sequence of fitted ``TransformedTargetRegressor``, one per ensemble member.
    what : str
        What the heads are (for example ``"spectral heads"``), named in the error.

    Raises
    ------
    ValueError
        A head holds a step the replay does not know (or a function without a name in
        :data:`model.models.features.FUNCTIONS`), or its replay differs from its own
        ``predict``: the model cannot be served, so its ``fit`` fails rather than predict another way.
    """
    programs = tuple(head_program(head) for head in heads)
    bad = [member for member, program in enumerate(programs) if program is None or not all(step.savable for step in program)]
    if bad:
        raise ValueError(
            f"The {what} of ensemble member(s) {bad} cannot be replayed in plain numpy (a pipeline step other than "
            "FunctionTransformer with a function of model.models.features.FUNCTIONS, StandardScaler and MLPRegressor "
            "with a linear output). Build heads from those steps (model.models.mlp.FormulationModel._make_head does)."
        )
    return programs
