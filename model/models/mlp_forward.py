"""The forward pass of fitted MLP heads as plain numpy: every prediction runs through it.

A head is a ``TransformedTargetRegressor`` around a ``Pipeline`` of feature map
(``FunctionTransformer``), ``StandardScaler`` and ``MLPRegressor``, with a target
transformer (a ``StandardScaler``, or a ``Pipeline`` of ``FunctionTransformer`` and
``StandardScaler``) that is undone on predict.

scikit-learn's ``predict`` validates its input on every call, which costs about 0.7 ms per
head: most of a one-recipe prediction (twelve heads for the hybrid), and most of the
formulation optimiser's time, which predicts thousands of tiny batches. The models'
``predict``, ``predict_members`` and ``predict_arrays`` therefore all use this module, so
the CLI, the API, the pages and the optimiser give one answer. :func:`compile_heads`
replays the same arithmetic from the fitted attributes (``coefs_``, ``intercepts_``,
``mean_``, ``scale_``) and checks the result against the heads' own ``predict`` before it
is used, so a pipeline step this module does not know falls back to ``predict`` instead
of giving a wrong colour. The replay is a program of
:class:`~model.models.snapshot.Step` s (feature map, scaler, network, undone target
transform); :func:`head_program` gives one head's program, verified the same way, for the
hybrid's serving snapshot (:mod:`model.models.snapshot`), which needs no scikit-learn.

Scales: whatever the heads were fitted on (for Huecast, inputs are colorants in wt %
then thickness in µm; outputs reflectance factor 0–1 or CIELAB with L* 0–100).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from sklearn.compose import TransformedTargetRegressor
from sklearn.neural_network import MLPRegressor
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from model.models.snapshot import ACTIVATIONS, Step, run_program

__all__ = ["CompiledForwardCache", "compile_heads", "head_program"]

#: A batch function: a float matrix (n, inputs) in, a float matrix (n, outputs) out.
ArrayFunction = Callable[[np.ndarray], np.ndarray]

# The compiled pass must reproduce ``predict`` to rounding error; anything looser means
# it is not the same computation.
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
    """One fitted head's forward pass as a program of :class:`~model.models.snapshot.Step` s, verified against ``predict``.

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


def compile_heads(heads: Sequence, probe: np.ndarray | None = None) -> ArrayFunction | None:
    """The mean prediction of fitted heads as one plain-numpy function, verified against ``predict``.

    Parameters
    ----------
    heads : sequence of fitted ``TransformedTargetRegressor``
        The ensemble members of one head (for example a model's spectral heads), all
        taking the same inputs.
    probe : numpy.ndarray, shape (n, inputs), optional
        Inputs to verify the replay on; the caller's own recipes are the most telling.
        Default: a fixed matrix of values 0–20 (as wt % and µm would be).

    Returns
    -------
    callable or None
        ``function(X)`` mapping a float matrix X (n, inputs), in the order the heads were
        fitted on, to the members' mean output (n, outputs), on the scale the heads
        predict. None when ``heads`` is empty, a step is one this module cannot replay, or
        the replay differs from the heads' own ``predict`` on ``probe`` by more than
        1e-9: the caller then uses ``predict``.

    Examples
    --------
    >>> mean_reflectance = compile_heads(model.spectral_heads_)      # doctest: +SKIP
    >>> mean_reflectance(X).shape                                     # doctest: +SKIP
    (n, 31)
    """
    programs = [_program(head) for head in heads]
    if not programs or any(program is None for program in programs):
        return None

    def predict(X: np.ndarray) -> np.ndarray:
        return np.mean([run_program(program, X) for program in programs], axis=0)

    probe = _probe(heads, probe)
    reference = np.mean([head.predict(probe) for head in heads], axis=0)
    if not np.allclose(predict(probe), reference, rtol=_TOLERANCE, atol=_TOLERANCE):
        return None
    return predict


class CompiledForwardCache:
    """Mixin of an estimator that keeps its compiled forward pass in ``_compiled_``.

    The compiled pass is a cache of closures (:func:`compile_heads`): it is left out of a
    pickle and rebuilt on first use after loading. List it before the scikit-learn base.
    """

    def __getstate__(self):
        # A copy: on Python ≥ 3.11 the base may hand back the live __dict__, and pickling
        # must not drop the cache of the model being pickled.
        state = dict(super().__getstate__())
        state.pop("_compiled_", None)
        return state
