"""Look-ups in the measurement store for many values at once, and the fingerprints filled in late.

An upload of tens of thousands of rows is compared with the store through its indexes
(the unique content hash, the recipe id), a chunk of values per query: the cost follows
the upload, not the store, and stays under SQLite's cap on bound parameters (999 before
SQLite 3.32). :mod:`model.store.measurements` keeps the transactions and the behaviour.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator, Sequence

__all__ = ["PENDING_FINGERPRINT", "SQL_CHUNK", "chunks", "fill_fingerprints", "first_included", "recipes_among", "stored_among"]

#: Values per ``IN (…)`` query.
SQL_CHUNK = 500
#: ``store_versions.dataset_fingerprint`` of a version whose fingerprint is not computed yet. (An
#: empty store's version keeps it for good: it has no dataset.)
PENDING_FINGERPRINT = ""


def chunks(values: Sequence) -> Iterator[tuple[list, str]]:
    """``(chunk, "?,?,…")``: ``values`` in chunks of :data:`SQL_CHUNK`, each with its placeholders."""
    for start in range(0, len(values), SQL_CHUNK):
        chunk = list(values[start : start + SQL_CHUNK])
        yield chunk, ",".join("?" * len(chunk))


def stored_among(connection: sqlite3.Connection, hashes: Sequence[str], *, included_only: bool = False) -> set[str]:
    """Which of ``hashes`` (content hashes) the store holds; only included measurements with ``included_only``."""
    excluded = " AND excluded = 0" if included_only else ""
    found: set[str] = set()
    for chunk, marks in chunks(list(dict.fromkeys(hashes))):
        found.update(row[0] for row in connection.execute(f"SELECT content_hash FROM measurements WHERE content_hash IN ({marks}){excluded}", chunk))
    return found


def recipes_among(connection: sqlite3.Connection, recipe_ids: Sequence[str]) -> set[str]:
    """Which of ``recipe_ids`` the store holds a measurement of (included or not)."""
    found: set[str] = set()
    for chunk, marks in chunks(list(dict.fromkeys(recipe_ids))):
        found.update(row[0] for row in connection.execute(f"SELECT DISTINCT recipe_id FROM measurements WHERE recipe_id IN ({marks})", chunk))
    return found


def first_included(connection: sqlite3.Connection, recipe_ids: Sequence[str]) -> dict[str, sqlite3.Row]:
    """Per recipe id, its first stored included measurement: ``concentrations, upload_id, uploaded_by``."""
    first: dict[str, sqlite3.Row] = {}
    for chunk, marks in chunks(recipe_ids):
        # SQLite gives the bare columns of a MIN() aggregate the values of the row holding the minimum.
        rows = connection.execute(
            "SELECT m.recipe_id, m.concentrations, m.upload_id, u.uploaded_by, MIN(m.id) FROM measurements m "
            f"JOIN uploads u ON u.id = m.upload_id WHERE m.excluded = 0 AND m.recipe_id IN ({marks}) GROUP BY m.recipe_id",
            chunk,
        )
        first.update((row[0], row) for row in rows)
    return first


def fill_fingerprints(connection: sqlite3.Connection, fingerprint_of: Callable[[str], str], *, until: str | None = None) -> None:
    """Compute the pending dataset fingerprints of recorded store versions, oldest first.

    A version's fingerprint formats every number of its measurements, so it is made when
    first asked for rather than at every upload, exclusion and inclusion (which would then
    cost time in proportion to the whole store). The measurements of a version never change,
    so a late fingerprint is the one an early one would have been.

    Parameters
    ----------
    connection : sqlite3.Connection, in autocommit mode: each fingerprint is kept as soon as it is known.
    fingerprint_of : callable, store version → :meth:`~model.core.schema.Dataset.fingerprint` of its measurements.
    until : str, optional
        Stop at the first version with this fingerprint, and look no further than the
        oldest version that already has it.
    """
    bound, parameters = "", [PENDING_FINGERPRINT]
    if until is not None:
        found = connection.execute(
            "SELECT created_at, version FROM store_versions WHERE dataset_fingerprint = ? ORDER BY created_at, version LIMIT 1", (until,)
        ).fetchone()
        if found is not None:
            bound, parameters = " AND (created_at < ? OR (created_at = ? AND version < ?))", [PENDING_FINGERPRINT, found[0], found[0], found[1]]
    pending = connection.execute(
        f"SELECT version FROM store_versions WHERE dataset_fingerprint = ? AND measurement_ids != '[]'{bound} ORDER BY created_at, version", parameters
    ).fetchall()
    for (version,) in pending:
        fingerprint = fingerprint_of(version)
        try:
            connection.execute("UPDATE store_versions SET dataset_fingerprint = ? WHERE version = ?", (fingerprint, version))
        except sqlite3.OperationalError:  # read-only or busy: the answer is still right, only not kept
            pass
        if fingerprint == until:
            return
