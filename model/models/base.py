"""The contract every colour model follows, written down once.

A colour model maps recipes (colorants in wt %, film thickness in µm) to a
:class:`~model.core.prediction.Prediction` (reflectance 0–1, CIELAB L* 0–100). The
registry, evaluation, search, retrain, formulation and the report depend on this class
only; none of them asks a model what it is.

It follows scikit-learn's estimator conventions (``sklearn.base.BaseEstimator``):

- ``__init__`` only stores its hyperparameters, so ``get_params``, ``set_params`` and
  ``sklearn.base.clone`` work, and the hyperparameters are the model's **config**,
  written on its card (:meth:`ColourModel.config`) and read back by
  :func:`model_from_config`;
- ``_parameter_constraints`` declares what each hyperparameter accepts; ``fit`` checks it
  first (``BaseEstimator._validate_params``), so a wrong value fails with a message that
  names the parameter, the value and what is accepted;
- learned state ends in ``_``; ``predict`` raises ``NotFittedError`` before ``fit``.

What a subclass provides
------------------------
``fit(dataset, progress=None) -> self``
    Learn from a :class:`~model.core.schema.Dataset`; set ``colorants_`` (the input
    colorant names, in order) and ``training_range_`` (a
    :class:`~model.core.prediction.TrainingRange`).
``predict(recipes) -> Prediction``
    A DataFrame with every colorant column (wt %) and ``thickness_um`` (µm).
``predict_members(X) -> (reflectance (m, n, 31), Lab (m, n, 3))``
    Every ensemble member's raw output for a float matrix X in :attr:`input_columns`
    order. A model without members returns one. Uncertainty and formulation use it.
``n_parameters``
    How many numbers the fit learned.

Optional: ``predict_arrays`` (a fast path for the optimiser, default: the members' mean),
``random_state`` (reseeded by :meth:`reseeded`) and ``serving_snapshot()`` (the fitted
model's whole prediction as plain arrays, a :class:`~model.models.serving_form.ServingSnapshot`
made by ``fit``; default None, the registry then saves none).

One prediction path: a model whose ``fit`` keeps a plain-numpy serving form (the MLP heads'
programs, :mod:`model.models.serving_form`) names those attributes in
:attr:`ColourModel.serving_attributes`, and ``predict``, ``predict_members`` and
``predict_arrays`` run them and nothing else. A model pickled before its fit kept them is
refused by :meth:`ColourModel.check_fitted` with what to do (retrain), never served another way.

Fluorescence (ct/s): every ``fit`` calls ``self._fit_fluorescence(dataset)`` and every
``predict`` passes ``fluorescence_cts=self.predict_fluorescence(X)`` to ``build_prediction``;
the head (:mod:`model.models.fluorescence`) exists only when the data has readings.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Callable, ClassVar

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, clone
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted

from model.core import colorimetry
from model.core.prediction import Prediction
from model.core.schema import THICKNESS_COLUMN, Dataset
from model.models.fluorescence import FluorescenceHead, fit_fluorescence_head
from model.models.recipe_values import check_recipe_values

__all__ = ["ColourModel", "DEFAULT_MODEL", "Progress", "check_recipe_values", "default_model", "model_from_config", "model_kinds", "SEED_STRIDE"]

#: The kind every caller trains when none is named: the CLI, training, retraining with no champion.
#: The physics hybrid predicts unseen recipes best (docs: benchmarks/accuracy).
DEFAULT_MODEL = "HybridModel"

#: ``progress(fraction 0–1, message)``, called during long fits.
Progress = Callable[[float, str], None]

#: Repeat ``seed`` of an evaluation refits a model with ``random_state + SEED_STRIDE * seed``:
#: far enough apart that the members of one repeat (``random_state + member``) never
#: coincide with those of the next.
SEED_STRIDE = 1000


class ColourModel(BaseEstimator, ABC):
    """Base class of every colour model: recipe in, :class:`Prediction` out (see module docs).

    Attributes set by ``fit``
    -------------------------
    colorants_ : tuple of str
        Input colorant names, in model input order.
    training_range_ : TrainingRange
        Min and max of each input seen in training (drives the out-of-range flag).
    """

    #: The name written on a model card's ``kind`` (the class name).
    kind: ClassVar[str] = ""
    #: Which CIELAB path ``Prediction.Lab`` reports. A model with a CIELAB head makes this
    #: a hyperparameter chosen on validation; a spectrum-only model keeps "spectral".
    headline: str = "spectral"
    #: The fitted attributes that hold the model's serving form (see the module notes); a model
    #: without them was saved by an older Huecast and must be retrained.
    serving_attributes: ClassVar[tuple[str, ...]] = ()
    #: The fluorescence head (:mod:`model.models.fluorescence`, ct/s), fitted by ``fit`` when the
    #: training data has readings, else None.
    fluorescence_head_: FluorescenceHead | None

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        cls.kind = cls.__name__
        _KINDS[cls.__name__] = cls

    # ---------------------------------------------------------------- the contract
    @abstractmethod
    def fit(self, dataset: Dataset, progress: Progress | None = None) -> "ColourModel":
        """Learn from every row of ``dataset``; returns self."""

    @abstractmethod
    def predict(self, recipes: pd.DataFrame) -> Prediction:
        """Predict a batch of recipes (colorants in wt %, ``thickness_um`` in µm)."""

    @abstractmethod
    def predict_members(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Each member's reflectance (m, n, 31; 0–1) and CIELAB (m, n, 3; L* 0–100) for X (n, inputs)."""

    @property
    @abstractmethod
    def n_parameters(self) -> int:
        """How many numbers the fit learned (reported beside accuracy in comparisons)."""

    # ------------------------------------------------------------ shared behaviour
    def check_fitted(self) -> None:
        """Raise ``NotFittedError`` (naming the class) when ``fit`` has not run, or ran in an older Huecast
        that did not keep the serving form (:attr:`serving_attributes`): such a model must be retrained."""
        name = type(self).__name__
        check_is_fitted(self, "training_range_", msg=f"This {name} is not fitted yet; call fit(dataset) before predict(recipes).")
        missing = [attribute for attribute in self.serving_attributes if attribute not in self.__dict__]
        if missing:
            raise NotFittedError(
                f"This {name} was fitted by an older Huecast: it lacks {missing}, which fit now keeps to predict with. "
                "Retrain it (python -m model train --data <folder> --promote --yes, or the Retrain page)."
            )

    @property
    def input_columns(self) -> list[str]:
        """The model's inputs in order: the colorant columns (wt %) then ``thickness_um`` (µm)."""
        self.check_fitted()
        return [*self.colorants_, THICKNESS_COLUMN]

    def predict_arrays(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Mean reflectance (n, 31) and headline CIELAB (n, 3) of X, without building a Prediction.

        The formulation optimiser predicts thousands of tiny batches; this skips the
        swatch, range and self-check bookkeeping. Subclasses may make it faster still.
        """
        member_reflectance, member_Lab = self.predict_members(np.asarray(X, dtype=float))
        reflectance = member_reflectance.mean(axis=0)
        if self.headline == "head":
            return reflectance, member_Lab.mean(axis=0)
        return reflectance, colorimetry.reflectance_to_Lab(reflectance)

    # ------------------------------------------------------- fluorescence (ct/s)
    def _fit_fluorescence(self, dataset: Dataset) -> None:
        """Fit the fluorescence head on ``dataset``'s readings (None without any); every ``fit`` calls it once."""
        self.fluorescence_head_ = fit_fluorescence_head(dataset, random_state=getattr(self, "random_state", 0))

    @property
    def has_fluorescence(self) -> bool:
        """Whether the model predicts fluorescence (its training data had readings)."""
        return self.fluorescence_head_ is not None

    @property
    def fluorescent_colorants(self) -> tuple[str, ...]:
        """The colorants the fluorescence head's gate opens for (they glow); empty without a head."""
        head = self.fluorescence_head_
        return () if head is None else tuple(head.fluorescent_colorants_)

    def predict_fluorescence(self, X: np.ndarray) -> np.ndarray | None:
        """Fluorescence intensity (n,; ct/s) of X (n, inputs) in :attr:`input_columns` order; None without a head."""
        head = self.fluorescence_head_
        return None if head is None else head.predict(np.asarray(X, dtype=float))

    def checked_training_inputs(self, dataset: Dataset) -> np.ndarray:
        """What every ``fit`` checks first: a Dataset, legal hyperparameters and legal recipe values.

        Returns the recipe values as floats, shape (n, colorants + 1), thickness last.

        Raises
        ------
        TypeError
            ``dataset`` is not a :class:`~model.core.schema.Dataset`.
        ValueError
            A hyperparameter (checked against ``_parameter_constraints`` where the class
            declares them) or a recipe value is out of its legal range; the message names it.
        """
        if not isinstance(dataset, Dataset):
            raise TypeError(f"fit expects a model.Dataset; got {type(dataset).__name__}.")
        if hasattr(type(self), "_parameter_constraints"):
            self._validate_params()  # scikit-learn's check against _parameter_constraints
        return check_recipe_values(dataset.table, [*dataset.colorants, THICKNESS_COLUMN], "Training data")

    def serving_snapshot(self):
        """The fitted model's whole prediction as a :class:`~model.models.serving_form.ServingSnapshot` (plain
        arrays, made by ``fit``; the registry saves it as ``serving.npz``), or None for a kind that has none (the default)."""
        return None

    def config(self) -> dict:
        """The hyperparameters as JSON-safe values (tuples become lists), for the model card."""
        return {name: list(value) if isinstance(value, tuple) else value for name, value in self.get_params(deep=False).items()}

    def reseeded(self, seed: int) -> "ColourModel":
        """An unfitted copy for repeat ``seed`` of an evaluation (see :data:`SEED_STRIDE`).

        Models without a ``random_state`` are deterministic and come back as a plain clone.
        """
        copy = clone(self)
        if "random_state" in copy.get_params(deep=False):
            copy.set_params(random_state=self.random_state + SEED_STRIDE * seed)
        return copy


_KINDS: dict[str, type[ColourModel]] = {}


def model_kinds() -> dict[str, type[ColourModel]]:
    """Every colour model class by its card ``kind``.

    A subclass registers itself when its module is imported. The package imports its
    model modules lazily (so a light module such as the serving snapshot does not pull in
    every model), so every one is imported here first and the list is complete whoever asks.
    """
    from model.models import import_model_modules

    import_model_modules()
    return dict(_KINDS)


def model_from_config(kind: str, config: dict) -> ColourModel:
    """An unfitted model of ``kind`` with the hyperparameters ``config`` (as a card writes them).

    Raises
    ------
    ValueError
        ``kind`` is not a known model, or ``config`` names a hyperparameter it does not have.
    """
    kinds = model_kinds()
    if kind not in kinds:
        raise ValueError(f"Model kind {kind!r} is not known; known kinds are {sorted(kinds)}.")
    cls = kinds[kind]
    known = set(cls().get_params(deep=False))
    unknown = set(config) - known
    if unknown:
        raise ValueError(f"{kind} has no hyperparameters {sorted(unknown)}; it takes {sorted(known)}.")
    values = {name: tuple(value) if isinstance(value, list) else value for name, value in config.items()}
    return cls(**values)


def default_model(**params) -> ColourModel:
    """An unfitted model of the default kind (:data:`DEFAULT_MODEL`) with its default hyperparameters,
    changed by ``params``."""
    return model_from_config(DEFAULT_MODEL, params)
