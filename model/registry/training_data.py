"""Find the measurements a saved model was trained on, and what people call them: one resolver for every caller.

A model card records the data it saw by its store version and its dataset fingerprint
(SHA-256 of the model-relevant content, see :meth:`model.core.schema.Dataset.fingerprint`),
never the data itself. The retrain comparison, the Overview page, the report and the
Predict page's nearest measured recipes all rebuild that data the same way, here.
:func:`data_name` says what that data is called (the Predict page's caption).

Light on purpose (no models, no scikit-learn): the dashboard's first page imports it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from model.core import settings
from model.core.schema import Dataset
from model.io import load_dataset
from model.store.measurements import DEMO_DATA_NAME, STORE_FILE, MeasurementStore

if TYPE_CHECKING:  # only named in annotations; the registry loads the models' stack
    from model.registry.registry import ModelCard

__all__ = ["TrainingData", "data_name", "find_training_data", "trained_on_demo"]


@dataclass(frozen=True)
class TrainingData:
    """What :func:`find_training_data` found: the dataset (None when nowhere) and where, in words."""

    dataset: Dataset | None
    description: str


def _matches(dataset: Dataset, fingerprint: str | None) -> bool:
    return fingerprint is None or dataset.fingerprint() == fingerprint


def _install_store() -> MeasurementStore | None:
    """The store under :func:`model.core.settings.data_dir` if one exists (looking never creates one)."""
    path = settings.data_dir() / STORE_FILE
    return MeasurementStore(path, seed=False) if path.is_file() else None


def find_training_data(card: ModelCard, store: MeasurementStore | None = None) -> TrainingData:
    """The data the model of ``card`` was trained on, if it can still be found.

    Looks, in order, at the store version on the card, at a store version whose dataset
    has the card's fingerprint (the shipped demo champion was trained on the files the
    store is seeded from), and at the shipped demo data. A candidate counts only when its
    fingerprint matches the card's, so a changed store is never mistaken for the data.

    Parameters
    ----------
    card : ModelCard
    store : MeasurementStore, optional
        Default: the store under :func:`model.core.settings.data_dir`, if one exists
        (looking never creates one).

    Returns
    -------
    TrainingData
        ``dataset`` is None, and ``description`` says why, when nothing matches.
    """
    fingerprint = card.dataset.get("fingerprint")
    if store is None:
        store = _install_store()
    if store is not None:
        store_version = card.dataset.get("store_version")
        if store_version:
            try:
                dataset = store.to_dataset(store_version)
            except ValueError:  # a version this store never had: another install's model
                dataset = None
            if dataset is not None and _matches(dataset, fingerprint):
                return TrainingData(dataset, f"the model's training data (store version {store_version[:12]})")
        found = store.version_for_fingerprint(fingerprint) if fingerprint else None
        if found:
            return TrainingData(store.to_dataset(found), f"the model's training data (store version {found[:12]}, matched by dataset fingerprint)")
    try:
        demo = load_dataset(settings.demo_data_dir())[0]
    except (OSError, ValueError):  # the demo folder was removed from this install
        demo = None
    if demo is not None and _matches(demo, fingerprint):
        return TrainingData(demo, "the shipped demo data (matched by dataset fingerprint)")
    return TrainingData(None, "the model's training data is in neither the measurement store nor the shipped demo data")


def data_name(dataset_info: Mapping, store: MeasurementStore | None = None) -> str:
    """What a model's (or a search's) data is called, in the names people gave it.

    The shipped demo data is :data:`~model.store.measurements.DEMO_DATA_NAME` ("Synthetic demo");
    store data is named by its uploads (file names and day), also for older cards that
    recorded only ``"store <version>"``.

    Parameters
    ----------
    dataset_info : mapping
        A card's ``dataset`` (or a search's ``meta["dataset"]``): ``name``, and optionally
        ``store_version`` and ``fingerprint``.
    store : MeasurementStore, optional; default the install's store when it exists
        (looking never creates one).
    """
    name = str(dataset_info.get("name") or "")
    if name == settings.demo_data_dir().name or name == DEMO_DATA_NAME:
        return DEMO_DATA_NAME
    if not name.startswith("store "):
        return name or "unknown data"
    if store is None:
        store = _install_store()
    version = dataset_info.get("store_version")
    if store is None:
        return f"measurement store version {name.removeprefix('store ')}"
    if not version:
        version = store.version_for_fingerprint(dataset_info.get("fingerprint") or "")
    return (store.data_name(version) if version else None) or f"measurement store version {name.removeprefix('store ')}"


def trained_on_demo(dataset_info: Mapping) -> bool:
    """Whether a model (or a search) was trained on the shipped synthetic demo data.

    Parameters
    ----------
    dataset_info : mapping
        A card's ``dataset`` (or a search's ``meta["dataset"]``); its name is read by
        :func:`model.registry.training_data.data_name`.

    Examples
    --------
    >>> trained_on_demo({"name": "demo"}), trained_on_demo({"name": "Spectra.csv + Concentrations.csv, 7 Dec"})
    (True, False)
    """
    return data_name(dataset_info) == DEMO_DATA_NAME
