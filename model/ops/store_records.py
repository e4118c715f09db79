"""The store's records as values: uploads, measurement hashes, names people use, and what
:meth:`~model.ops.store.MeasurementStore.add` reports. No SQL here; :mod:`model.ops.store`
keeps the database.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import pandas as pd

from model.core.schema import BAND_COLUMNS, FLUORESCENCE_COLUMN, RECIPE_ID_COLUMN, SAMPLE_ID_COLUMN, SOURCE_COLUMN, THICKNESS_COLUMN

__all__ = [
    "DEMO_DATA_NAME",
    "SEED_UPLOADER",
    "RecipeClash",
    "StoreError",
    "UploadResult",
    "concentration_pairs",
    "dataset_name",
    "describe_concentrations",
    "fluorescence_of",
    "measurement_hash",
    "measurement_table",
    "now_utc",
    "plain_day",
    "sha256_text",
    "upload_name",
]

SEED_UPLOADER = "demo seed"
DEMO_DATA_NAME = "Synthetic demo"
_NAMED_UPLOADS = 2


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
    # Only non-zero concentrations, sorted, so that the same recipe hashes the same in a
    # table with more (all-zero) colorant columns. repr keeps every float bit.
    used = sorted((name, repr(float(value))) for name, value in pairs if float(value) != 0.0)
    content = [sample_id, recipe_id, repr(float(thickness_um)), used, [repr(float(r)) for r in reflectance]]
    # A reading joins the hash only when there is one, so a measurement without a reading
    # keeps the hash (and the store its version) it had before readings were stored.
    if fluorescence_cts is not None:
        content.append(repr(float(fluorescence_cts)))
    return sha256_text(json.dumps(content))


def measurement_table(rows: Sequence, *, details: bool) -> tuple[pd.DataFrame, tuple[str, ...]]:
    """Stored measurement rows (``m.*, uploaded_by, uploaded_at``) as a Dataset-shaped table.

    One colorant column per colorant any row uses (0 wt % where a recipe does not use it),
    and ``fluorescence_cts`` (ct/s, NaN without a reading) only when some row has a reading.
    With ``details``, the store's bookkeeping columns come first and last.
    """
    colorants: dict[str, None] = {}
    parsed = []
    for row in rows:
        pairs = json.loads(row["concentrations"])
        colorants.update((name, None) for name, _ in pairs)
        parsed.append((row, dict(pairs), json.loads(row["reflectance"])))
    names = tuple(colorants)
    records = []
    for row, concentrations, reflectance in parsed:
        record = {SAMPLE_ID_COLUMN: row["sample_id"], RECIPE_ID_COLUMN: row["recipe_id"]}
        record.update({name: float(concentrations.get(name, 0.0)) for name in names})
        record[THICKNESS_COLUMN] = float(row["thickness_um"])
        record.update(zip(BAND_COLUMNS, map(float, reflectance)))
        record[SOURCE_COLUMN] = row["source"]
        record[FLUORESCENCE_COLUMN] = math.nan if row["fluorescence_cts"] is None else float(row["fluorescence_cts"])
        if details:
            record.update(
                measurement_id=int(row["id"]),
                upload_id=int(row["upload_id"]),
                included=not row["excluded"],
                excluded_reason=row["excluded_reason"] or "",
                uploaded_by=row["uploaded_by"],
                uploaded_at=row["uploaded_at"],
            )
        records.append(record)
    has_readings = any(not math.isnan(record[FLUORESCENCE_COLUMN]) for record in records)
    columns = [SAMPLE_ID_COLUMN, RECIPE_ID_COLUMN, *names, THICKNESS_COLUMN, *BAND_COLUMNS, SOURCE_COLUMN, *([FLUORESCENCE_COLUMN] if has_readings else [])]
    if details:
        columns = ["measurement_id", "upload_id", "included", "excluded_reason", *columns, "uploaded_by", "uploaded_at"]
    return pd.DataFrame(records, columns=columns), names


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
