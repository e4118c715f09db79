"""The store's records as values: uploads, measurement hashes, names people use, and what
:meth:`~model.store.measurements.MeasurementStore.add` reports. No SQL here; :mod:`model.store.measurements`
keeps the database.
"""

from __future__ import annotations

import gc
import hashlib
import json
import math
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from typing import NamedTuple

import numpy as np
import pandas as pd

from model.core.schema import (
    BAND_COLUMNS,
    FLUORESCENCE_COLUMN,
    RECIPE_ID_COLUMN,
    SAMPLE_ID_COLUMN,
    SOURCE_COLUMN,
    THICKNESS_COLUMN,
    Dataset,
)

__all__ = [
    "DEMO_DATA_NAME",
    "SEED_UPLOADER",
    "RecipeClash",
    "StoreError",
    "UploadComparison",
    "UploadResult",
    "collector_paused",
    "concentration_pairs",
    "dataset_name",
    "describe_concentrations",
    "fluorescence_of",
    "MeasurementRows",
    "fluorescence_values",
    "measurement_hash",
    "measurement_table",
    "now_utc",
    "plain_day",
    "sha256_text",
    "upload_name",
    "upload_table",
]

SEED_UPLOADER = "demo seed"
DEMO_DATA_NAME = "Synthetic demo"
_NAMED_UPLOADS = 2


@contextmanager
def collector_paused():
    """Pause Python's cyclic garbage collector for a bulk read or write, then restore it.

    Reading and storing an upload allocates hundreds of thousands of lists and records and
    frees them without cycles; the collector's repeated passes over them cost about a
    fifth of the time (``bench/uploads.py``) and find nothing to collect.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


class StoreError(ValueError):
    """An upload or change was refused; the store is unchanged. The message says what to do."""


def now_utc() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def concentration_pairs(row: pd.Series, colorants: Sequence[str]) -> list[list]:
    return [[name, float(row[name])] for name in colorants]


def fluorescence_of(row: pd.Series) -> float | None:
    """A table row's fluorescence reading in ct/s, or None (no column, or NaN: no reading)."""
    value = row.get(FLUORESCENCE_COLUMN)
    return None if value is None or math.isnan(float(value)) else float(value)


def measurement_hash(
    sample_id: str, recipe_id: str, thickness_um: float, pairs: Sequence, reflectance: Sequence[float], fluorescence_cts: float | None = None
) -> str:
    """SHA-256 (hex) of one measurement's content: what identifies it in the store."""
    return _content_hash(sample_id, recipe_id, thickness_um, pairs, [repr(float(r)) for r in reflectance], fluorescence_cts)


def _content_hash(sample_id: str, recipe_id: str, thickness_um: float, pairs: Sequence, reflectance_texts: list[str], fluorescence_cts: float | None) -> str:
    # Only non-zero concentrations, sorted, so that the same recipe hashes the same in a
    # table with more (all-zero) colorant columns. repr keeps every float bit.
    used = sorted((name, repr(float(value))) for name, value in pairs if float(value) != 0.0)
    # json.dumps([sample_id, recipe_id, thickness, used, reflectance_texts(, reading)]), with the
    # 31 texts joined directly: a float's repr has nothing JSON escapes, and json's own list
    # encoder costs more than the rest of the hash.
    content = json.dumps([sample_id, recipe_id, repr(float(thickness_um)), used])[:-1] + ', ["' + '", "'.join(reflectance_texts) + '"]'
    # A reading joins the hash only when there is one, so a measurement without a reading
    # keeps the hash (and the store its version) it had before readings were stored.
    if fluorescence_cts is not None:
        content += f', "{float(fluorescence_cts)!r}"'
    return sha256_text(content + "]")


class MeasurementRows:
    """A dataset's rows as the store keeps them: content hashes and the stored columns.

    Every value is taken out of the table once, and each spectrum is written as text once
    (``repr`` of each reflectance), for both its hash and its stored JSON, so hashing and
    storing an upload costs time linear in its rows with no per-row pandas access.

    Parameters
    ----------
    dataset : Dataset
    """

    def __init__(self, dataset: Dataset) -> None:
        table = dataset.table
        self.colorants = tuple(dataset.colorants)
        self.sample_ids = [str(value) for value in table[SAMPLE_ID_COLUMN].tolist()]
        self.recipe_ids = [str(value) for value in table[RECIPE_ID_COLUMN].tolist()]
        self.thicknesses = table[THICKNESS_COLUMN].to_numpy(dtype=float).tolist()
        self.concentrations = table[list(self.colorants)].to_numpy(dtype=float).tolist()
        reflectance = table[BAND_COLUMNS].to_numpy(dtype=float)
        self._reflectance = reflectance
        self.sources = [str(value) for value in table[SOURCE_COLUMN].tolist()] if SOURCE_COLUMN in table.columns else None
        self.readings = fluorescence_values(table)
        # json.dumps writes a finite float as its repr; NaN and infinity it spells otherwise.
        self._finite = np.isfinite(reflectance).all(axis=1).tolist()
        self._texts: list[list[str] | None] = [None] * len(reflectance)

    def __len__(self) -> int:
        return len(self.sample_ids)

    @cached_property
    def reflectance(self) -> list[list[float]]:
        """Each row's 31 reflectance factors as Python floats (made when first needed)."""
        return self._reflectance.tolist()

    def _reflectance_text(self, position: int) -> list[str]:
        """``repr`` of each reflectance of one row, made once (for its hash and its JSON)."""
        texts = self._texts[position]
        if texts is None:
            texts = self._texts[position] = [repr(value) for value in self.reflectance[position]]
        return texts

    def hashes(self, positions: Sequence[int] | None = None, *, with_fluorescence: bool = True) -> list[str]:
        """:func:`measurement_hash` of the rows at ``positions`` (default all), in that order.

        ``with_fluorescence=False`` hashes them as if they had no reading (how a spectrum
        stored without its reading was hashed).
        """
        positions = range(len(self)) if positions is None else positions
        return [
            _content_hash(
                self.sample_ids[p],
                self.recipe_ids[p],
                self.thicknesses[p],
                zip(self.colorants, self.concentrations[p]),
                self._reflectance_text(p),
                self.readings[p] if with_fluorescence else None,
            )
            for p in positions
        ]

    def insert_rows(self, upload_id: int, positions: Sequence[int], hashes: Sequence[str], source: str) -> list[tuple]:
        """The ``measurements`` rows of ``positions`` (``hashes`` per position of the dataset), in
        the order ``upload_id, sample_id, recipe_id, thickness_um, concentrations, reflectance,
        source, fluorescence_cts, content_hash``; ``source`` where the dataset has no such column."""
        return [
            (
                upload_id,
                self.sample_ids[p],
                self.recipe_ids[p],
                self.thicknesses[p],
                self.concentrations_json(p),
                self.reflectance_json(p),
                self.sources[p] if self.sources is not None else source,
                self.readings[p],
                hashes[p],
            )
            for p in positions
        ]

    def concentrations_json(self, position: int) -> str:
        """The ``concentrations`` column: ``[[colorant, wt %], …]`` in the dataset's colorant order."""
        return json.dumps([[name, value] for name, value in zip(self.colorants, self.concentrations[position])])

    def reflectance_json(self, position: int) -> str:
        """The ``reflectance`` column: the 31 reflectance factors as ``json.dumps`` writes them."""
        if not self._finite[position]:
            return json.dumps(self.reflectance[position])
        return "[" + ", ".join(self._reflectance_text(position)) + "]"


def fluorescence_values(table: pd.DataFrame) -> list[float | None]:
    """:func:`fluorescence_of` of every row of a table: ct/s, or None (no column, or NaN)."""
    if FLUORESCENCE_COLUMN not in table.columns:
        return [None] * len(table)
    return [None if math.isnan(value) else value for value in table[FLUORESCENCE_COLUMN].to_numpy(dtype=float).tolist()]


def measurement_table(rows: Sequence, *, details: bool) -> tuple[pd.DataFrame, tuple[str, ...]]:
    """Stored measurement rows (``m.*, uploaded_by, uploaded_at``) as a Dataset-shaped table.

    One colorant column per colorant any row uses (0 wt % where a recipe does not use it),
    and ``fluorescence_cts`` (ct/s, NaN without a reading) only when some row has a reading.
    With ``details``, the store's bookkeeping columns come first and last.
    """
    colorants: dict[str, None] = {}
    concentrations = []
    for row in rows:
        pairs = json.loads(row["concentrations"])
        colorants.update((name, None) for name, _ in pairs)
        concentrations.append(dict(pairs))
    names = tuple(colorants)
    readings = [math.nan if row["fluorescence_cts"] is None else float(row["fluorescence_cts"]) for row in rows]
    has_readings = any(not math.isnan(reading) for reading in readings)
    columns = [SAMPLE_ID_COLUMN, RECIPE_ID_COLUMN, *names, THICKNESS_COLUMN, *BAND_COLUMNS, SOURCE_COLUMN, *([FLUORESCENCE_COLUMN] if has_readings else [])]
    if details:
        columns = ["measurement_id", "upload_id", "included", "excluded_reason", *columns, "uploaded_by", "uploaded_at"]
    if not rows:
        return pd.DataFrame([], columns=columns), names
    # Built column by column: a dict per row would cost pandas far more than the JSON does.
    values: dict[str, list | np.ndarray] = {
        SAMPLE_ID_COLUMN: [row["sample_id"] for row in rows],
        RECIPE_ID_COLUMN: [row["recipe_id"] for row in rows],
    }
    for name in names:
        values[name] = [float(recipe.get(name, 0.0)) for recipe in concentrations]
    values[THICKNESS_COLUMN] = [float(row["thickness_um"]) for row in rows]
    reflectance = np.array([json.loads(row["reflectance"]) for row in rows], dtype=float)
    values.update(zip(BAND_COLUMNS, reflectance.T))
    values[SOURCE_COLUMN] = [row["source"] for row in rows]
    values[FLUORESCENCE_COLUMN] = readings
    if details:
        values.update(
            measurement_id=[int(row["id"]) for row in rows],
            upload_id=[int(row["upload_id"]) for row in rows],
            included=[not row["excluded"] for row in rows],
            excluded_reason=[row["excluded_reason"] or "" for row in rows],
            uploaded_by=[row["uploaded_by"] for row in rows],
            uploaded_at=[row["uploaded_at"] for row in rows],
        )
    return pd.DataFrame({column: values[column] for column in columns}), names


def plain_day(iso: str) -> str:
    try:
        moment = datetime.fromisoformat(iso)
    except (TypeError, ValueError):
        return str(iso)
    return f"{moment.day} {moment:%b %Y}"


def upload_name(source_files: str, uploaded_by: str, uploaded_at: str) -> str:
    """How people call one upload: its file names and day, or :data:`DEMO_DATA_NAME`."""
    if uploaded_by == SEED_UPLOADER:
        return DEMO_DATA_NAME
    return f"{' + '.join(json.loads(source_files))} (uploaded {plain_day(uploaded_at)})"


def upload_table(rows: Sequence) -> pd.DataFrame:
    """The uploads' records (rows of the ``uploads`` table with their ``n_included``) as :meth:`MeasurementStore.uploads` gives them."""
    columns = ["upload_id", "source_files", "uploaded_by", "uploaded_at", "n_added", "n_already", "n_included", "name", "notes"]
    return pd.DataFrame(
        [
            {
                "upload_id": row["id"],
                "source_files": ", ".join(json.loads(row["source_files"])),
                "uploaded_by": row["uploaded_by"],
                "uploaded_at": row["uploaded_at"],
                "n_added": row["n_added"],
                "n_already": row["n_already"],
                "n_included": row["n_included"],
                "name": upload_name(row["source_files"], row["uploaded_by"], row["uploaded_at"]),
                "notes": " ".join(json.loads(row["notes"] or "[]")),  # NULL: stored before notes were kept
            }
            for row in rows
        ],
        columns=columns,
    )


def dataset_name(upload_names: Sequence[str]) -> str:
    """One name for data drawn from several uploads, oldest first; long lists are counted."""
    names = list(dict.fromkeys(upload_names))
    if len(names) <= _NAMED_UPLOADS:
        return " and ".join(names) or "empty store"
    shown = names[-_NAMED_UPLOADS:]
    return f"{' and '.join(shown)}, and {len(names) - len(shown)} earlier upload{'s' if len(names) - len(shown) > 1 else ''}"


@dataclass(frozen=True)
class RecipeClash:
    """A recipe id that an upload gives other concentrations than the store has for it.

    Attributes
    ----------
    recipe_id : str
    stored_upload_id : int, the upload that stored the id first (among included measurements).
    stored_is_demo : bool, that upload is the shipped synthetic demo data.
    stored, incoming : dict of colorant → wt %, the non-zero concentrations of each side.
    """

    recipe_id: str
    stored_upload_id: int
    stored_is_demo: bool
    stored: dict
    incoming: dict

    def describe(self) -> str:
        return f"{self.recipe_id} (stored by upload {self.stored_upload_id} as {describe_concentrations(self.stored)}; this upload says {describe_concentrations(self.incoming)})"


class UploadComparison(NamedTuple):
    """What :meth:`~model.store.measurements.MeasurementStore.compare` found: ``already_stored`` (per row, bool) and ``clashes``."""

    already_stored: np.ndarray
    clashes: list[RecipeClash]


@dataclass(frozen=True)
class UploadResult:
    """What :meth:`MeasurementStore.add` did.

    Attributes
    ----------
    upload_id : int or None
        The new upload's id; None when nothing was added.
    n_added : int
        Measurements stored by this upload.
    n_already_stored : int
        Measurements of the upload that were already in the store (left as they were).
    same_files_as : int or None
        The id of an earlier upload of byte-identical files, if any.
    store_version : str
        The store version after the upload.
    message : str
        One sentence for a person.
    """

    upload_id: int | None
    n_added: int
    n_already_stored: int
    same_files_as: int | None
    store_version: str
    message: str


def describe_concentrations(concentrations: dict[str, float]) -> str:
    return ", ".join(f"{name} {value:g}%" for name, value in concentrations.items()) or "no colorant"
