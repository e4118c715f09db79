"""Measurements on their way into the store, and the store's data on its way into a job.

The Retrain page matches an upload twice: a first match lists the near-miss names (a
measured name, or a fluorescence table's sample name, close to a recipe id) for a person
to accept or not, and a second match applies the accepted ones (the files are read
once). :func:`review_upload` runs both and says what storing the result would do. :func:`store_snapshot` and
:func:`search_is_stale` give a search or a promotion job the store's current data and
say whether a shown search ran on it.

Admin-only actions stay in :mod:`model.store.measurements`; everything here only reads.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from model.core.schema import BAND_COLUMNS, SAMPLE_ID_COLUMN, Dataset
from model.io import MatchEntry, PreparedUpload
from model.io.matching import FluorescenceReport
from model.io.upload import read_upload_files
from model.store.measurements import MeasurementStore, RecipeClash, open_store
from model.store.records import collector_paused

__all__ = [
    "StoreListing",
    "StoreSnapshot",
    "UploadReview",
    "review_upload",
    "search_is_stale",
    "store_listing",
    "store_snapshot",
    "upload_labels",
]


@dataclass(frozen=True)
class UploadReview:
    """An upload read for review: what would be stored, and what the match report says.

    Attributes
    ----------
    prepared : PreparedUpload
        The second match (accepted suggestions applied): what ``MeasurementStore.add`` takes.
    suggestions : tuple of MatchEntry
        The first read's near misses, the ones a person was asked about.
    already_stored : numpy.ndarray of bool
        Per row of ``prepared.dataset``: an identical measurement is already in the store.
    clashes : tuple of RecipeClash
        Recipe ids the store already holds with other concentrations: storing as it is
        would be refused (:meth:`MeasurementStore.add`).
    """

    prepared: PreparedUpload
    suggestions: tuple[MatchEntry, ...] = ()
    already_stored: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    clashes: tuple[RecipeClash, ...] = ()

    @property
    def clashes_only_with_demo(self) -> bool:
        """True when every clash is with the shipped synthetic demo data (so replacing it resolves them)."""
        return bool(self.clashes) and all(clash.stored_is_demo for clash in self.clashes)

    @property
    def clash_summary(self) -> str:
        """The clashing recipe ids in plain words, e.g. ``"5 recipes (BiVaO1, BiVaO2, …)"``; empty without clashes."""
        if not self.clashes:
            return ""
        ids = [clash.recipe_id for clash in self.clashes]
        shown = ", ".join(ids[:6]) + (", …" if len(ids) > 6 else "")
        return f"{len(ids)} recipe{'s' if len(ids) > 1 else ''} ({shown})"

    @property
    def n_new(self) -> int:
        """Measurements that storing would add."""
        return int((~self.already_stored).sum())

    @property
    def n_already_stored(self) -> int:
        return int(self.already_stored.sum())

    @property
    def n_recipes(self) -> int:
        return self.prepared.dataset.n_recipes

    @property
    def left_out(self) -> list[MatchEntry]:
        """Measured rows not in the dataset: unmatched, and suggestions not accepted."""
        report = self.prepared.report
        return [*report.unmatched, *report.suggested] if report is not None else []

    @property
    def fluorescence(self) -> FluorescenceReport | None:
        """How the optional fluorescence table's readings were matched; None without one."""
        return self.prepared.report.fluorescence if self.prepared.report is not None else None

    @property
    def suspect(self) -> list[MatchEntry]:
        """Rows kept as named that a person should check."""
        return list(self.prepared.report.suspect) if self.prepared.report is not None else []

    @property
    def n_duplicates(self) -> int:
        """Repeated readings of one recipe (kept: they are normal)."""
        return len(self.prepared.report.duplicates) if self.prepared.report is not None else 0

    @property
    def new_spectra(self) -> pd.DataFrame:
        """``sample_id`` and ``R400 … R700`` (reflectance factor 0–1) of the rows storing would add."""
        return self.prepared.dataset.table.loc[~self.already_stored, [SAMPLE_ID_COLUMN, *BAND_COLUMNS]]


def review_upload(
    files: Sequence[tuple[str, bytes]],
    store: MeasurementStore,
    *,
    choose: Callable[[list[MatchEntry]], Collection[str]] | None = None,
) -> UploadReview:
    """Read an upload, let a person accept near-miss names, and compare it with the store.

    Parameters
    ----------
    files : sequence of (file name, bytes)
        As :func:`model.io.read_upload` takes them.
    store : MeasurementStore
        Only read (:meth:`~model.store.measurements.MeasurementStore.compare`); nothing is written.
    choose : callable, optional
        Called once, after a successful first read, with its near-miss suggestions (a
        list, possibly empty: the export's, then the fluorescence table's); returns the
        names whose suggestion to accept. Default: accept none.

    Returns
    -------
    UploadReview

    Raises
    ------
    IngestError
        A read fails; see :func:`model.io.read_upload`.
    """
    with collector_paused():
        read = read_upload_files(files)  # read once; matching twice is cheap beside reading
        first = read.prepare()
    report = first.report
    suggestions = tuple(report.suggested) if report is not None else ()
    if report is not None and report.fluorescence is not None:
        suggestions += tuple(report.fluorescence.suggested)
    accepted = list(choose(list(suggestions))) if choose is not None else []  # the page's widgets: not paused
    with collector_paused():
        prepared = read.prepare(accepted) if accepted else first
        comparison = store.compare(prepared.dataset)
    return UploadReview(prepared, suggestions, comparison.already_stored, tuple(comparison.clashes))


@dataclass(frozen=True)
class StoreListing:
    """Stored measurements for a table, and the ids an admin may exclude or include.

    Attributes
    ----------
    table : DataFrame
        :meth:`MeasurementStore.measurements` without the 31 reflectance columns.
    included_ids, excluded_ids : list of int
        ``measurement_id`` of the rows included in training, and of the excluded ones.
    """

    table: pd.DataFrame
    included_ids: list[int]
    excluded_ids: list[int]


def store_listing(store: MeasurementStore, recipe_id: str | None = None) -> StoreListing:
    """Every stored measurement (of one recipe, when given), ready to list."""
    listing = store.measurements(recipe_id)
    included = listing["included"].astype(bool)
    return StoreListing(
        table=listing.drop(columns=[column for column in BAND_COLUMNS if column in listing.columns]),
        included_ids=listing.loc[included, "measurement_id"].tolist(),
        excluded_ids=listing.loc[~included, "measurement_id"].tolist(),
    )


def upload_labels(uploads: pd.DataFrame) -> dict[int, str]:
    """``{upload_id: "#id: name"}`` from :meth:`MeasurementStore.uploads`, in its order
    (the name is the file names and day, or "Synthetic demo")."""
    return {int(upload_id): f"#{upload_id}: {name}" for upload_id, name in zip(uploads["upload_id"], uploads["name"])}


@dataclass(frozen=True)
class StoreSnapshot:
    """The store's included measurements at one moment, and the store version they make."""

    dataset: Dataset
    store_version: str


def store_snapshot(store: MeasurementStore | None = None) -> StoreSnapshot:
    """What a job started now trains on.

    Parameters
    ----------
    store : MeasurementStore, optional; default :func:`model.store.measurements.open_store`.

    Raises
    ------
    StoreError
        The store holds no included measurement.
    """
    store = open_store() if store is None else store
    return StoreSnapshot(store.to_dataset(), store.version())


def search_is_stale(search_meta: dict, dataset: Dataset) -> bool:
    """True when ``dataset`` is not the data a saved search ran on.

    Parameters
    ----------
    search_meta : dict
        :attr:`model.jobs.search.SearchResult.meta`; its ``dataset.fingerprint`` names the
        data (see :meth:`model.core.schema.Dataset.fingerprint`).
    dataset : Dataset
        The data at hand, typically :func:`store_snapshot`'s.
    """
    return dataset.fingerprint() != search_meta.get("dataset", {}).get("fingerprint")
