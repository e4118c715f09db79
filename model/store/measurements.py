"""The measurement store: every uploaded measurement, in one SQLite file.

Layout (``<data dir>/measurements.sqlite3``, see :func:`model.core.settings.data_dir`):

- ``uploads``: one row per upload: source file names, a content hash of the files, who
  uploaded them and when, and how many measurements it added.
- ``measurements``: one row per measured spectrum, with its recipe (concentrations in
  wt %), film thickness (µm), 31 reflectance factors, the film's fluorescence reading
  (ct/s; NULL without one) and an ``excluded`` flag. A store created before readings
  existed gains the column when opened.
  Concentrations are kept per measurement, as ``[[colorant, wt %], …]``, because
  different uploads may use different colorants; :meth:`MeasurementStore.to_dataset`
  puts them in one table (a colorant a recipe does not use is 0 wt %).
- ``store_versions``: which measurements were included at each store version, so the
  data a model was trained on can be rebuilt from the version on its card, and that
  data's fingerprint (filled in when first looked up: :func:`~model.store.lookups.fill_fingerprints`).

Why it is built this way:

- An upload is one transaction (``BEGIN IMMEDIATE`` … ``COMMIT``): it lands entirely or
  not at all, even if the process dies halfway.
- A measurement is identified by a hash of its content (sample id, recipe, thickness,
  concentrations, spectrum, and the fluorescence reading when there is one, so data
  without readings keeps its hashes and store versions). Uploading the same file again, or a file that repeats
  readings already stored, adds nothing and says so. Duplicate *readings* of one recipe
  (different spectra) are normal and are all kept.
- The **store version** is a SHA-256 over the content hashes of the included
  measurements: the same included measurements give the same version whatever order
  they arrived in. Every model card records the store version it was trained on.
- Nothing is deleted. A suspect reading is *excluded* (left out of training) and can be
  included again.
- Work follows the upload, not the store: an upload is compared through the indexes
  (:mod:`model.store.lookups`) and each row hashed and written once
  (:class:`~model.store.records.MeasurementRows`); see ``bench/uploads.py``.
- Admin actions take a :class:`~model.auth.access.User` and refuse viewers
  (:func:`~model.auth.access.require_admin`); hiding a button is not the only check.

The store is seeded from the shipped demo data (``data/demo``) the first time it is
opened, so a new install can retrain at once.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Collection, Sequence
from contextlib import closing, contextmanager
from pathlib import Path

import numpy as np
import pandas as pd

from model.auth.access import User, require_admin
from model.core import settings
from model.core.schema import RECIPE_ID_COLUMN, Dataset
from model.io import PreparedUpload, load_dataset
from model.io.upload import files_content_hash
from model.store.lookups import PENDING_FINGERPRINT, chunks, fill_fingerprints, first_included, recipes_among, stored_among
from model.store.records import (
    DEMO_DATA_NAME,
    SEED_UPLOADER,
    MeasurementRows,
    RecipeClash,
    StoreError,
    UploadComparison,
    UploadResult,
    collector_paused,
    dataset_name,
    measurement_table,
    now_utc,
    sha256_text,
    upload_name,
    upload_table,
)
from model.store.schema import SCHEMA, add_missing_columns

__all__ = [
    "DEMO_DATA_NAME",
    "SEED_UPLOADER",
    "STORE_FILE",
    "MeasurementStore",
    "RecipeClash",
    "StoreError",
    "UploadComparison",
    "UploadResult",
    "open_store",
]

STORE_FILE = "measurements.sqlite3"
# Concentrations read from "0.99625%" strings are exact; anything closer than this is the same recipe.
_CONCENTRATION_TOLERANCE = 1e-9


# --------------------------------------------------------------------------------------
# The store
# --------------------------------------------------------------------------------------


class MeasurementStore:
    """Measurements in a SQLite file; see the module docstring for the design.

    Parameters
    ----------
    path : path-like, optional
        The SQLite file; default ``<settings.data_dir()>/measurements.sqlite3``.
    seed : bool
        On first opening (no upload yet), store the demo data (``data/demo``) as upload 1.

    Examples
    --------
    >>> store = MeasurementStore("/tmp/huecast/measurements.sqlite3")   # doctest: +SKIP
    >>> prepared = read_upload([("tidy.csv", data)])                      # doctest: +SKIP
    >>> store.add(prepared, user=admin).message                           # doctest: +SKIP
    >>> store.to_dataset()                                                # doctest: +SKIP
    """

    def __init__(self, path=None, *, seed: bool = True) -> None:
        self.path = Path(path) if path is not None else settings.data_dir() / STORE_FILE
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with closing(self._connect()) as connection:
            connection.executescript(SCHEMA)
            add_missing_columns(connection)
        if seed:
            self._seed_from_demo()

    # ---- connections and transactions ------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        # Autocommit mode with explicit BEGIN: Python's implicit transactions would not
        # cover the whole upload. WAL lets sessions read while one session writes.
        connection = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA foreign_keys=ON")
        connection.row_factory = sqlite3.Row
        return connection

    @contextmanager
    def _transaction(self):
        connection = self._connect()
        try:
            # IMMEDIATE takes the write lock at once, so two uploads cannot interleave.
            connection.execute("BEGIN IMMEDIATE")
            try:
                yield connection
            except BaseException:
                connection.execute("ROLLBACK")
                raise
            connection.execute("COMMIT")
        finally:
            connection.close()

    def _seed_from_demo(self) -> None:
        demo = settings.demo_data_dir()
        with self._transaction() as connection:
            if connection.execute("SELECT COUNT(*) FROM uploads").fetchone()[0]:
                return  # already seeded or used: another session got here first
            if not demo.is_dir():
                return
            dataset, report = load_dataset(demo)
            files = sorted(p for p in demo.iterdir() if p.suffix.lower() == ".csv")
            prepared = PreparedUpload(
                dataset,
                report,
                tuple(p.name for p in files),
                files_content_hash([(p.name, p.read_bytes()) for p in files]),
                tuple(entry.measured_name for entry in report.accepted) if report else (),
            )
            self._insert(connection, prepared, SEED_UPLOADER)

    # ---- reading ---------------------------------------------------------------------

    def _rows(self, where: str = "", parameters: Sequence = ()) -> list[sqlite3.Row]:
        with closing(self._connect()) as connection:
            return connection.execute(
                "SELECT m.*, u.uploaded_by, u.uploaded_at FROM measurements m JOIN uploads u ON u.id = m.upload_id "
                f"{where} ORDER BY m.id",
                parameters,
            ).fetchall()

    def _rows_by_id(self, ids: Sequence[int]) -> list[sqlite3.Row]:
        """The measurements with these ids, in id order."""
        rows = [row for chunk, marks in chunks(ids) for row in self._rows(f"WHERE m.id IN ({marks})", chunk)]
        return sorted(rows, key=lambda row: row["id"])

    def to_dataset(self, store_version: str | None = None) -> Dataset:
        """The included measurements as a :class:`Dataset` (what training uses).

        Parameters
        ----------
        store_version : str, optional
            Rebuild the measurements included at that earlier version instead (see
            :meth:`versions`). Excluding a measurement later does not change an old version.

        Returns
        -------
        Dataset
            Rows in upload order; one colorant column per colorant any included
            measurement uses (0 wt % where a recipe does not use it). ``name`` is
            what people call the data (:meth:`data_name`): the uploads' file names and
            days, or "Synthetic demo".

        Raises
        ------
        StoreError
            The store holds no included measurement, or ``store_version`` is unknown.
        """
        if store_version is None:
            rows = self._rows("WHERE m.excluded = 0")
        else:
            with closing(self._connect()) as connection:
                found = connection.execute("SELECT measurement_ids FROM store_versions WHERE version = ?", (store_version,)).fetchone()
            if found is None:
                raise StoreError(f"Store version {store_version[:12]}… is unknown to {self.path}; list known ones with versions().")
            rows = self._rows_by_id(json.loads(found["measurement_ids"]))
        if not rows:
            raise StoreError("The measurement store has no included measurements; upload some or include excluded ones.")
        table, colorants = measurement_table(rows, details=False)
        return Dataset(table, colorants, name=self._name_of(sorted({int(row["upload_id"]) for row in rows})))

    def _name_of(self, upload_ids: Sequence[int]) -> str:
        with closing(self._connect()) as connection:
            found = connection.execute(
                f"SELECT source_files, uploaded_by, uploaded_at FROM uploads WHERE id IN ({','.join('?' * len(upload_ids))}) ORDER BY id", list(upload_ids)
            ).fetchall()
        return dataset_name([upload_name(row["source_files"], row["uploaded_by"], row["uploaded_at"]) for row in found])

    def data_name(self, store_version: str | None = None) -> str | None:
        """What the included measurements (or those of ``store_version``) are called.

        The names people gave them: each upload's file names and day, and
        :data:`DEMO_DATA_NAME` for the shipped demo seed, e.g. ``"Spectra.csv +
        Concentrations.csv (uploaded 2 Dec 2026)"``. None when nothing is included or the
        version is unknown. Only the uploads are read, not the measurements.
        """
        with closing(self._connect()) as connection:
            if store_version is None:
                upload_ids = [row[0] for row in connection.execute("SELECT DISTINCT upload_id FROM measurements WHERE excluded = 0 ORDER BY upload_id")]
            else:
                found = connection.execute("SELECT measurement_ids FROM store_versions WHERE version = ?", (store_version,)).fetchone()
                ids = json.loads(found["measurement_ids"]) if found is not None else []
                upload_ids = sorted({row["upload_id"] for row in self._rows_by_id(ids)})
        return self._name_of(upload_ids) if upload_ids else None

    def demo_in_use(self) -> bool:
        """True while any included measurement comes from the shipped synthetic demo seed."""
        with closing(self._connect()) as connection:
            return bool(
                connection.execute(
                    "SELECT 1 FROM measurements m JOIN uploads u ON u.id = m.upload_id WHERE m.excluded = 0 AND u.uploaded_by = ? LIMIT 1", (SEED_UPLOADER,)
                ).fetchone()
            )

    def recipe_clashes(self, dataset: Dataset) -> list[RecipeClash]:
        """Recipe ids of ``dataset`` that the store already holds (included) with other concentrations.

        What :meth:`add` would refuse, said in advance, so a page can offer a way out
        (replace the demo data, or rename) before anything is stored. Only reads.
        """
        return self.compare(dataset).clashes

    def measurements(self, recipe_id: str | None = None) -> pd.DataFrame:
        """Every stored measurement, included or not, optionally of one recipe only.

        Columns ``measurement_id, upload_id, included, excluded_reason, sample_id,
        recipe_id, <colorants…> (wt %), thickness_um (µm), R400 … R700 (0–1), source,
        fluorescence_cts (ct/s, NaN without a reading; only when some measurement has
        one), uploaded_by, uploaded_at``.
        """
        rows = self._rows("WHERE m.recipe_id = ?", (recipe_id,)) if recipe_id is not None else self._rows()
        return measurement_table(rows, details=True)[0]

    def recipe_ids(self) -> list[str]:
        """Distinct recipe ids in the store (included or not), sorted."""
        with closing(self._connect()) as connection:
            return [row[0] for row in connection.execute("SELECT DISTINCT recipe_id FROM measurements ORDER BY recipe_id")]

    def uploads(self) -> pd.DataFrame:
        """One row per upload: ``upload_id, source_files, uploaded_by, uploaded_at, n_added, n_already, n_included, name, notes``.

        ``name`` is what people call it: the file names and day, or :data:`DEMO_DATA_NAME`.
        ``notes`` is what reading the files assumed (a colorant column left blank, read as
        0 wt %), one sentence each, joined; empty when it assumed nothing or the upload was
        stored before notes were kept.
        """
        with closing(self._connect()) as connection:
            rows = connection.execute(
                "SELECT u.*, (SELECT COUNT(*) FROM measurements m WHERE m.upload_id = u.id AND m.excluded = 0) AS n_included "
                "FROM uploads u ORDER BY u.id"
            ).fetchall()
        return upload_table(rows)

    def counts(self) -> dict[str, int]:
        """``n_measurements`` (stored), ``n_included``, ``n_recipes`` (of included), ``n_uploads``."""
        with closing(self._connect()) as connection:

            def one(sql: str) -> int:
                return int(connection.execute(sql).fetchone()[0])

            return {
                "n_measurements": one("SELECT COUNT(*) FROM measurements"),
                "n_included": one("SELECT COUNT(*) FROM measurements WHERE excluded = 0"),
                "n_recipes": one("SELECT COUNT(DISTINCT recipe_id) FROM measurements WHERE excluded = 0"),
                "n_uploads": one("SELECT COUNT(*) FROM uploads"),
            }

    def version(self) -> str:
        """The store version: SHA-256 over the content hashes of the included measurements."""
        with closing(self._connect()) as connection:
            return self._version(connection)

    @staticmethod
    def _version(connection: sqlite3.Connection) -> str:
        hashes = [row[0] for row in connection.execute("SELECT content_hash FROM measurements WHERE excluded = 0 ORDER BY content_hash")]
        return sha256_text("\n".join(hashes))

    def versions(self) -> pd.DataFrame:
        """Every store version recorded so far: ``version, dataset_fingerprint, n_included, created_at``."""
        with closing(self._connect()) as connection:
            fill_fingerprints(connection, self._fingerprint_of)
            rows = connection.execute("SELECT * FROM store_versions ORDER BY created_at, version").fetchall()
        return pd.DataFrame(
            [{"version": r["version"], "dataset_fingerprint": r["dataset_fingerprint"], "n_included": len(json.loads(r["measurement_ids"])), "created_at": r["created_at"]} for r in rows],
            columns=["version", "dataset_fingerprint", "n_included", "created_at"],
        )

    def version_for_fingerprint(self, dataset_fingerprint: str) -> str | None:
        """The store version whose dataset has this :meth:`Dataset.fingerprint`, or None.

        Finds the training data of a model saved with a dataset fingerprint but no store
        version (the shipped demo champion was trained on the files the store is seeded from).
        The oldest such version, when several have it.
        """
        if not dataset_fingerprint:
            return None
        with closing(self._connect()) as connection:
            fill_fingerprints(connection, self._fingerprint_of, until=dataset_fingerprint)
            row = connection.execute(
                "SELECT version FROM store_versions WHERE dataset_fingerprint = ? ORDER BY created_at, version LIMIT 1", (dataset_fingerprint,)
            ).fetchone()
        return row[0] if row else None

    def compare(self, dataset: Dataset) -> UploadComparison:
        """What storing ``dataset`` would meet: rows already stored, and recipe ids that clash.

        Only rows of recipe ids the store already holds can be stored already or clash (a
        measurement's hash covers its recipe id), so only those are hashed: new data costs
        one indexed look-up per recipe id. Time is linear in the rows either way. Only reads.
        """
        rows = MeasurementRows(dataset)
        with closing(self._connect()) as connection:
            known = recipes_among(connection, list(dict.fromkeys(rows.recipe_ids)))
            candidates = [position for position, recipe_id in enumerate(rows.recipe_ids) if recipe_id in known]
            hashes = rows.hashes(candidates)
            stored = stored_among(connection, hashes)
            already_stored = np.zeros(len(rows), dtype=bool)
            already_stored[[p for p, h in zip(candidates, hashes) if h in stored]] = True
            clashes = self._clashes(connection, dataset, [p for p in candidates if not already_stored[p]])
        return UploadComparison(already_stored, clashes)

    def is_stored(self, dataset: Dataset) -> np.ndarray:
        """Per row of ``dataset``: True where an identical measurement is already stored."""
        return self.compare(dataset).already_stored

    def _stored_without_reading(self, connection: sqlite3.Connection, rows: MeasurementRows, positions: Sequence[int]) -> str:
        """A warning when new rows repeat included spectra stored without a fluorescence reading.

        A reading is part of a measurement's identity, so the same spectrum uploaded again
        with its reading is a new measurement; both would then be trained on.
        """
        with_reading = [position for position in positions if rows.readings[position] is not None]
        if not with_reading:
            return ""
        bare = rows.hashes(with_reading, with_fluorescence=False)
        included = stored_among(connection, bare, included_only=True)
        n_repeats = sum(h in included for h in bare)
        if not n_repeats:
            return ""
        return (
            f" {n_repeats} of them repeat spectra already stored without a fluorescence reading: exclude those earlier "
            "measurements so that each film counts once."
        )

    # ---- changing (admin only) -------------------------------------------------------

    def add(self, prepared: PreparedUpload, *, user: User, replace_demo: bool = False) -> UploadResult:
        """Store an upload's measurements in one transaction: all of them or none.

        Measurements already stored (same content) are not stored twice; if none is new,
        nothing is recorded and the message says so.

        Parameters
        ----------
        prepared : PreparedUpload, from :func:`model.io.read_upload`.
        user : User, must be an admin.
        replace_demo : bool
            In the same transaction, first exclude every included measurement of the
            shipped synthetic demo (kept, and can be included again), so that real data
            whose recipe ids the demo also uses can be stored. The demo measurements stay
            included when the upload is refused.

        Raises
        ------
        PermissionDenied
            ``user`` is not an admin.
        StoreError
            A recipe id is already stored (included) with different concentrations, or
            the database failed; the store is unchanged either way.
        """
        require_admin(user, "upload measurements")
        try:
            with collector_paused(), self._transaction() as connection:
                if replace_demo:
                    self._exclude_demo(connection, user, " + ".join(prepared.source_files))
                return self._insert(connection, prepared, user.name)
        except sqlite3.Error as error:
            raise StoreError(f"The upload was not stored and the store is unchanged: the database reported {error}. Try again; if it persists, check disk space and permissions of {self.path}.") from error

    def _insert(self, connection: sqlite3.Connection, prepared: PreparedUpload, uploader: str) -> UploadResult:
        dataset = prepared.dataset
        same_files = connection.execute("SELECT id FROM uploads WHERE content_hash = ? ORDER BY id LIMIT 1", (prepared.content_hash,)).fetchone()
        same_files_as = int(same_files[0]) if same_files else None
        rows = MeasurementRows(dataset)
        hashes = rows.hashes()
        stored = stored_among(connection, hashes)
        new_positions, seen = [], set(stored)
        for position, content_hash in enumerate(hashes):  # the first of identical rows is the new one
            if content_hash not in seen:
                new_positions.append(position)
                seen.add(content_hash)
        n_already = len(hashes) - len(new_positions)
        if not new_positions:
            where = f" (the same files as upload {same_files_as})" if same_files_as else ""
            version = self._version(connection)
            return UploadResult(None, 0, n_already, same_files_as, version, f"Nothing added: all {n_already} measurements are already in the store{where}.")
        self._check_recipes_agree(connection, dataset, new_positions)
        cursor = connection.execute(
            "INSERT INTO uploads (source_files, content_hash, uploaded_by, uploaded_at, n_added, n_already, accepted, notes) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                json.dumps(list(prepared.source_files)), prepared.content_hash, uploader, now_utc(), len(new_positions), n_already,
                json.dumps(list(prepared.accepted)), json.dumps(list(prepared.notes)),
            ),
        )
        upload_id = int(cursor.lastrowid)
        connection.executemany(
            "INSERT INTO measurements (upload_id, sample_id, recipe_id, thickness_um, concentrations, reflectance, source, fluorescence_cts, content_hash) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows.insert_rows(upload_id, new_positions, hashes, ", ".join(prepared.source_files)),
        )
        version = self._record_version(connection)
        already = f"; {n_already} were already stored" if n_already else ""
        n_recipes = dataset.table[RECIPE_ID_COLUMN].iloc[new_positions].nunique()
        message = f"Stored {len(new_positions)} measurements of {n_recipes} recipes as upload {upload_id}{already}."
        message += self._stored_without_reading(connection, rows, new_positions)
        return UploadResult(upload_id, len(new_positions), n_already, same_files_as, version, message)

    def _clashes(self, connection: sqlite3.Connection, dataset: Dataset, positions: Sequence[int]) -> list[RecipeClash]:
        recipe_ids = dataset.table[RECIPE_ID_COLUMN].astype(str).tolist()
        concentrations = dataset.table[list(dataset.colorants)].to_numpy(dtype=float).tolist()
        incoming: dict[str, dict[str, float]] = {}
        for position in positions:
            if recipe_ids[position] not in incoming:
                incoming[recipe_ids[position]] = {k: v for k, v in zip(dataset.colorants, concentrations[position]) if v != 0.0}
        first_stored = first_included(connection, list(incoming))
        clashes = []
        for recipe_id, concentrations_in in incoming.items():
            found = first_stored.get(recipe_id)
            if found is None:
                continue
            stored = {k: v for k, v in json.loads(found["concentrations"]) if v != 0.0}
            names = set(stored) | set(concentrations_in)
            if any(abs(stored.get(n, 0.0) - concentrations_in.get(n, 0.0)) > _CONCENTRATION_TOLERANCE for n in names):
                clashes.append(RecipeClash(recipe_id, int(found["upload_id"]), found["uploaded_by"] == SEED_UPLOADER, stored, concentrations_in))
        return clashes

    def _check_recipes_agree(self, connection: sqlite3.Connection, dataset: Dataset, positions: Sequence[int]) -> None:
        # Leave-recipe-out grouping trusts that one recipe id is one recipe. A second recipe
        # under an id already in the training data would silently merge two recipes.
        clashes = self._clashes(connection, dataset, positions)
        if clashes:
            shown = "; ".join(clash.describe() for clash in clashes[:5]) + (f"; and {len(clashes) - 5} more" if len(clashes) > 5 else "")
            only_demo = all(clash.stored_is_demo for clash in clashes)
            way_out = (
                "They clash only with the synthetic demo data: replace the demo data with this upload (the demo measurements are "
                "excluded from training, not deleted)."
                if only_demo
                else "Rename those recipes in the upload, or exclude the earlier upload's measurements first."
            )
            raise StoreError(f"Nothing was stored: {len(clashes)} recipe id(s) are already in the store with different concentrations: {shown}. {way_out}")

    def _exclude_demo(self, connection: sqlite3.Connection, user: User, replaced_by: str) -> None:
        ids = [
            row[0]
            for row in connection.execute(
                "SELECT m.id FROM measurements m JOIN uploads u ON u.id = m.upload_id WHERE m.excluded = 0 AND u.uploaded_by = ? ORDER BY m.id", (SEED_UPLOADER,)
            )
        ]
        if not ids:
            return
        reason = f"synthetic demo data replaced by {replaced_by}"
        connection.execute(
            f"UPDATE measurements SET excluded = 1, excluded_reason = ?, excluded_by = ?, excluded_at = ? WHERE id IN ({','.join('?' * len(ids))})",
            (reason, user.name, now_utc(), *ids),
        )
        connection.execute("INSERT INTO events (at, user, action, detail) VALUES (?, ?, ?, ?)", (now_utc(), user.name, "exclude", json.dumps({"ids": ids, "reason": reason})))

    def _record_version(self, connection: sqlite3.Connection) -> str:
        version = self._version(connection)
        ids = [row[0] for row in connection.execute("SELECT id FROM measurements WHERE excluded = 0 ORDER BY id")]
        # The dataset fingerprint is filled in when first asked for (fill_fingerprints): it
        # formats every stored number, which would make each upload, exclusion and inclusion
        # cost time in proportion to the whole store rather than to what changed.
        connection.execute(
            "INSERT OR IGNORE INTO store_versions (version, dataset_fingerprint, measurement_ids, created_at) VALUES (?, ?, ?, ?)",
            (version, PENDING_FINGERPRINT, json.dumps(ids), now_utc()),
        )
        return version

    def _fingerprint_of(self, store_version: str) -> str:
        return self.to_dataset(store_version).fingerprint()

    def exclude(self, measurement_ids: Collection[int], *, user: User, reason: str) -> str:
        """Leave measurements out of training without deleting them; returns the new store version.

        Parameters
        ----------
        measurement_ids : collection of int, from :meth:`measurements`.
        user : User, must be an admin.
        reason : str, why (kept with the measurement), e.g. ``"suspect: mislabeled thickness"``.
        """
        require_admin(user, "exclude measurements")
        if not str(reason).strip():
            raise StoreError("Say why the measurements are excluded (reason=…); the reason is kept with them.")
        return self._set_excluded(measurement_ids, True, user, str(reason).strip())

    def include(self, measurement_ids: Collection[int], *, user: User) -> str:
        """Include excluded measurements again; returns the new store version.

        Raises
        ------
        StoreError
            Including them would put two different recipes under one recipe id.
        """
        require_admin(user, "include measurements")
        return self._set_excluded(measurement_ids, False, user, None)

    def upload_measurement_ids(self, upload_id: int) -> list[int]:
        """The ids of the measurements an upload added (to exclude or include a whole upload)."""
        with closing(self._connect()) as connection:
            return [row[0] for row in connection.execute("SELECT id FROM measurements WHERE upload_id = ? ORDER BY id", (int(upload_id),))]

    def _set_excluded(self, measurement_ids: Collection[int], excluded: bool, user: User, reason: str | None) -> str:
        ids = sorted({int(i) for i in measurement_ids})
        if not ids:
            raise StoreError("No measurement ids given; pick measurements from the list first.")
        with self._transaction() as connection:
            known = {row[0] for row in connection.execute(f"SELECT id FROM measurements WHERE id IN ({','.join('?' * len(ids))})", ids)}
            unknown = [i for i in ids if i not in known]
            if unknown:
                raise StoreError(f"Measurement ids {unknown} are not in the store; refresh the list and pick again.")
            connection.execute(
                f"UPDATE measurements SET excluded = ?, excluded_reason = ?, excluded_by = ?, excluded_at = ? WHERE id IN ({','.join('?' * len(ids))})",
                (int(excluded), reason, user.name if excluded else None, now_utc() if excluded else None, *ids),
            )
            if not excluded:
                self._check_included_agree(connection)
            connection.execute(
                "INSERT INTO events (at, user, action, detail) VALUES (?, ?, ?, ?)",
                (now_utc(), user.name, "exclude" if excluded else "include", json.dumps({"ids": ids, "reason": reason})),
            )
            return self._record_version(connection)

    def _check_included_agree(self, connection: sqlite3.Connection) -> None:
        seen: dict[str, tuple[dict, int]] = {}
        for row in connection.execute("SELECT recipe_id, concentrations, upload_id FROM measurements WHERE excluded = 0 ORDER BY id"):
            concentrations = {k: v for k, v in json.loads(row["concentrations"]) if v != 0.0}
            if row["recipe_id"] not in seen:
                seen[row["recipe_id"]] = (concentrations, row["upload_id"])
                continue
            first, first_upload = seen[row["recipe_id"]]
            names = set(first) | set(concentrations)
            if any(abs(first.get(n, 0.0) - concentrations.get(n, 0.0)) > _CONCENTRATION_TOLERANCE for n in names):
                raise StoreError(
                    f"Nothing changed: including these would put two different recipes under the id {row['recipe_id']!r} "
                    f"(uploads {first_upload} and {row['upload_id']}). Exclude the other upload's measurements first."
                )


def open_store(data_dir=None, *, seed: bool = True) -> MeasurementStore:
    """The store (:data:`STORE_FILE`) in ``data_dir``, default :func:`model.core.settings.data_dir`
    (``HUECAST_DATA_DIR``); with ``seed``, a new store starts with the shipped demo data."""
    return MeasurementStore(settings.data_dir(data_dir) / STORE_FILE, seed=seed)
