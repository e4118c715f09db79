"""Back up an install to one file, and restore it into empty folders: a lab can lose a disk and nothing else.

A backup (``python -m model backup --out FILE``) is one gzip-compressed tar file::

    store/measurements.sqlite3   the measurement store, copied with SQLite's online backup
    store/signed-out.txt         the sign-outs (when there are any), so a restore does not bring them back
    models/CHAMPION              the champion pointer
    models/promotions.jsonl      the promotions log
    models/<version>/…           every saved version (model, serving snapshot, card, tables)
    models/search/…              saved configuration searches
    manifest.json                format, time, champion, and the SHA-256 and size of every member

It is consistent while the server runs and writes:

- The store is copied with SQLite's online backup API (:meth:`sqlite3.Connection.backup`),
  which copies one committed state of the database, whatever other connections write
  meanwhile (a write in progress is not in it). The copy is checked with
  ``PRAGMA integrity_check``.
- The champion pointer and the promotions log are read first, then the version folders.
  A version is never changed once saved (new versions go into new folders) and never
  deleted while it is or was champion, so every version the pointer or the log names is
  in the backup.
- Hidden entries (``.staging-*`` temporaries, ``.discarded-*`` challengers) and the job
  queue's records are not backed up: they are never served.

A restore (``python -m model restore FILE --models-dir DIR --data-dir DIR``) refuses
folders that are not empty. It checks every member's name before writing anything (a
plain relative path under ``store/`` or ``models/``, no ``..``, no link or device), and
its SHA-256 against the manifest. It writes bytes only: nothing is unpickled. Files are
written into a hidden staging folder and moved into place only when every one has passed,
the champion pointer last, so a damaged or unsafe backup leaves the folders empty.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import sqlite3
import tarfile
import tempfile
from contextlib import closing
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath

from model.auth.access import SIGNED_OUT_FILE
from model.core import settings
from model.core.files import atomic_file, storage_errors
from model.registry import registry
from model.registry.registry import ModelRegistry
from model.store.measurements import STORE_FILE

__all__ = ["BACKUP_FORMAT", "BackupSummary", "RestoreSummary", "BackupError", "backup", "restore"]

#: Written in every manifest; a restore refuses any other.
BACKUP_FORMAT = "huecast-backup-1"
MANIFEST_MEMBER = "manifest.json"
STORE_MEMBER = f"store/{STORE_FILE}"
SIGNED_OUT_MEMBER = f"store/{SIGNED_OUT_FILE}"
MODELS_PREFIX = "models/"
DATA_DIR_SETTING = "HUECAST_DATA_DIR"
_COPY_BLOCK = 1 << 20


class BackupError(ValueError):
    """A backup file that cannot be restored (not a Huecast backup, damaged, or naming unsafe paths), or a
    folder a restore may not write into (not empty)."""


@dataclass(frozen=True)
class BackupSummary:
    """What :func:`backup` wrote.

    Attributes
    ----------
    path : Path, the backup file.
    champion : str or None, the champion version in it.
    versions : tuple of str, the model versions in it.
    n_measurements : int or None, measurements in the store; None when the install had no store.
    n_bytes : int, the size of the backup file.
    """

    path: Path
    champion: str | None
    versions: tuple[str, ...]
    n_measurements: int | None
    n_bytes: int


@dataclass(frozen=True)
class RestoreSummary:
    """What :func:`restore` put where.

    Attributes
    ----------
    models_dir, data_dir : Path
    champion : str or None
    versions : tuple of str
    n_measurements : int or None, None when the backup held no store.
    problems : list of str, checks that failed after the files were in place (for example a
        champion whose card is not signed with this server's secret); empty when all passed.
    """

    models_dir: Path
    data_dir: Path
    champion: str | None
    versions: tuple[str, ...]
    n_measurements: int | None
    problems: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------------------
# Backup
# --------------------------------------------------------------------------------------


def _copy_store(source: Path, destination: Path) -> int:
    """Copy the SQLite store at ``source`` to a new file with the online backup API; return its measurements."""
    # Read-only, so a backup never creates or changes the live file; the URI quotes odd characters in the path.
    with closing(sqlite3.connect(source.resolve().as_uri() + "?mode=ro", uri=True, timeout=30)) as live, \
            closing(sqlite3.connect(destination)) as copy:
        live.backup(copy)  # all pages in one step: one committed state, however many writers
        copy.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, no -wal beside it
        verdict = copy.execute("PRAGMA integrity_check").fetchone()[0]
        if verdict != "ok":
            raise sqlite3.DatabaseError(f"the copy of the measurement store fails SQLite's integrity check: {verdict}")
        return int(copy.execute("SELECT COUNT(*) FROM measurements").fetchone()[0])


def _registry_files(root: Path) -> list[tuple[str, Path]]:
    """``(member name, path)`` of every file to back up under the models folder, in a stable order.

    Hidden entries and links are left out: Huecast writes neither into a version it serves.
    """
    found = []
    for folder, folders, files in os.walk(root):
        folders[:] = sorted(name for name in folders if not name.startswith(".") and not os.path.islink(os.path.join(folder, name)))
        for name in sorted(files):
            path = Path(folder) / name
            if name.startswith(".") or path.is_symlink():
                continue
            found.append((MODELS_PREFIX + path.relative_to(root).as_posix(), path))
    return found


def _add(archive: tarfile.TarFile, name: str, data: bytes, members: dict) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = len(data), int(datetime.now(timezone.utc).timestamp()), 0o644
    archive.addfile(info, io.BytesIO(data))
    members[name] = {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}


def backup(out, *, models_dir=None, data_dir=None) -> BackupSummary:
    """Write the measurement store and the model registry to one backup file ``out``.

    Safe while the server runs (see the module's notes). The file appears whole or not at
    all (written beside ``out``, then renamed), readable by its owner only: it holds every
    measurement.

    Parameters
    ----------
    out : path of the backup file (``.tar.gz`` by convention); replaced if it exists.
    models_dir, data_dir : paths, default :func:`settings.models_dir` and :func:`settings.data_dir`.

    Raises
    ------
    FileNotFoundError
        The models folder does not exist.
    StorageError
        A folder cannot be read, or ``out`` cannot be written.
    sqlite3.DatabaseError
        The store cannot be read or its copy fails SQLite's integrity check.
    """
    models_root, data_root = settings.models_dir(models_dir), settings.data_dir(data_dir)
    if not models_root.is_dir():
        raise FileNotFoundError(f"There is no models folder to back up ({registry.MODELS_DIR_SETTING} names {models_root}).")
    members: dict[str, dict] = {}
    with storage_errors("read the models folder for a backup", models_root, registry.MODELS_DIR_SETTING, write=False):
        # The pointer and the log first: every version they name is then in the folders read after them.
        first = {name: (models_root / name).read_bytes() for name in (registry.POINTER_FILE, registry.PROMOTIONS_FILE) if (models_root / name).is_file()}
        files = [(name, path) for name, path in _registry_files(models_root) if name[len(MODELS_PREFIX):] not in first]
    champion = first.get(registry.POINTER_FILE, b"").decode("utf-8", errors="replace").strip() or None
    versions = tuple(sorted({name.split("/")[1] for name, _ in files if name.endswith("/" + registry.CARD_FILE) and name.count("/") == 2}))
    with tempfile.TemporaryDirectory(prefix="huecast-backup-") as scratch, atomic_file(out, mode=0o600) as temporary:
        n_measurements = None
        store_path = data_root / STORE_FILE
        if store_path.is_file():
            copy = Path(scratch) / STORE_FILE
            n_measurements = _copy_store(store_path, copy)
        with tarfile.open(temporary, "w:gz", compresslevel=6) as archive:
            if n_measurements is not None:
                _add(archive, STORE_MEMBER, copy.read_bytes(), members)
            if (data_root / SIGNED_OUT_FILE).is_file():  # restored with the same secret, a signed-out cookie would work again
                with storage_errors("read the data folder for a backup", data_root, DATA_DIR_SETTING, write=False):
                    _add(archive, SIGNED_OUT_MEMBER, (data_root / SIGNED_OUT_FILE).read_bytes(), members)
            for name, data in first.items():
                _add(archive, MODELS_PREFIX + name, data, members)
            with storage_errors("read the models folder for a backup", models_root, registry.MODELS_DIR_SETTING, write=False):
                for name, path in files:
                    _add(archive, name, path.read_bytes(), members)
            manifest = {
                "format": BACKUP_FORMAT,
                "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "champion": champion,
                "versions": list(versions),
                "n_measurements": n_measurements,
                "members": members,
            }
            _add(archive, MANIFEST_MEMBER, json.dumps(manifest, indent=1, sort_keys=True).encode("utf-8"), {})
    out = Path(out)
    return BackupSummary(out, champion, versions, n_measurements, out.stat().st_size)


# --------------------------------------------------------------------------------------
# Restore
# --------------------------------------------------------------------------------------


def _member_problem(member: tarfile.TarInfo) -> str | None:
    """Why ``member`` may not be restored, or None when it may."""
    name = member.name
    path = PurePosixPath(name)
    if not (member.isfile() or member.isdir()):
        return f"{name!r} is a link or a device, not a file"
    if "\\" in name or path.is_absolute() or any(part in ("", ".", "..") for part in name.rstrip("/").split("/")):
        return f"{name!r} is not a plain relative path (it is absolute, or has '..', '.', an empty part or a backslash)"
    if member.isfile() and name not in (MANIFEST_MEMBER, STORE_MEMBER, SIGNED_OUT_MEMBER) and not (name.startswith(MODELS_PREFIX) and len(path.parts) > 1):
        return f"{name!r} is neither the manifest, the store ({STORE_MEMBER}, {SIGNED_OUT_MEMBER}) nor under {MODELS_PREFIX}"
    return None


def _read_manifest(archive: tarfile.TarFile, files: dict[str, tarfile.TarInfo]) -> dict:
    if MANIFEST_MEMBER not in files:
        raise BackupError(f"The file has no {MANIFEST_MEMBER}: it is not a Huecast backup (make one with python -m model backup).")
    try:
        manifest = json.loads(archive.extractfile(files[MANIFEST_MEMBER]).read())
    except (ValueError, UnicodeDecodeError) as error:
        raise BackupError(f"The backup's {MANIFEST_MEMBER} is not valid JSON ({error}); the backup is damaged.") from None
    if not isinstance(manifest, dict) or manifest.get("format") != BACKUP_FORMAT or not isinstance(manifest.get("members"), dict):
        raise BackupError(f"The backup's {MANIFEST_MEMBER} is not of format {BACKUP_FORMAT!r}; it was not written by this version of Huecast.")
    listed, present = set(manifest["members"]), set(files) - {MANIFEST_MEMBER}
    if listed != present:
        missing, extra = sorted(listed - present)[:5], sorted(present - listed)[:5]
        raise BackupError(f"The backup does not hold what its manifest lists (missing: {missing or 'none'}; not listed: {extra or 'none'}); it is damaged.")
    return manifest


def _check_empty(folder: Path, setting: str) -> None:
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise BackupError(f"{folder} is not an empty folder ({setting}); a restore only writes into an empty or new folder, "
                          "so nothing in use is overwritten. Name an empty folder.")


def _extract(archive: tarfile.TarFile, member: tarfile.TarInfo, target: Path, expected: dict) -> None:
    """Write ``member``'s bytes to ``target``, checking its size and SHA-256 against the manifest's ``expected``."""
    target.parent.mkdir(parents=True, exist_ok=True)
    digest, size = hashlib.sha256(), 0
    with archive.extractfile(member) as source, open(target, "xb") as written:
        for block in iter(lambda: source.read(_COPY_BLOCK), b""):
            digest.update(block)
            size += len(block)
            if size > expected.get("size", 0):
                break  # longer than the manifest says: damaged, and never worth filling a disk for
            written.write(block)
    if digest.hexdigest() != expected.get("sha256") or size != expected.get("size"):
        raise BackupError(f"{member.name} in the backup does not match its SHA-256 in the manifest; the backup is damaged.")


def _move_into_place(staging: Path, folder: Path, last: str | None = None) -> None:
    """Move every entry of ``staging`` into ``folder`` (same file system: renames), ``last`` at the end."""
    names = sorted(entry.name for entry in staging.iterdir())
    if last in names:
        names = [name for name in names if name != last] + [last]
    for name in names:
        os.replace(staging / name, folder / name)


def _restored_store(path: Path) -> int:
    with closing(sqlite3.connect(path.resolve().as_uri() + "?mode=ro", uri=True)) as connection:
        verdict = connection.execute("PRAGMA integrity_check").fetchone()[0]
        if verdict != "ok":
            raise BackupError(f"The restored measurement store fails SQLite's integrity check ({verdict}); the backup is damaged.")
        return int(connection.execute("SELECT COUNT(*) FROM measurements").fetchone()[0])


def restore(archive_path, *, models_dir=None, data_dir=None) -> RestoreSummary:
    """Restore a backup written by :func:`backup` into an empty models folder and an empty data folder.

    Nothing is unpickled. After the files are in place, the champion is checked as the
    registry would before serving it (card, signature with a secret, file hashes:
    :meth:`~model.registry.registry.ModelRegistry.check_version`); a failure there is listed in the summary's
    ``problems``, not raised, because the files are restored as they were backed up.

    Parameters
    ----------
    archive_path : path of the backup file.
    models_dir, data_dir : paths, default :func:`settings.models_dir` and :func:`settings.data_dir`;
        each must be empty or not exist yet (they may be the same folder).

    Raises
    ------
    BackupError
        A folder is not empty, or the file is not a Huecast backup, is damaged, or names
        an unsafe path (nothing is written then).
    StorageError
        A folder cannot be written.
    """
    models_root, data_root = settings.models_dir(models_dir), settings.data_dir(data_dir)
    _check_empty(models_root, registry.MODELS_DIR_SETTING)
    _check_empty(data_root, DATA_DIR_SETTING)
    try:
        archive = tarfile.open(archive_path, "r:*")
    except tarfile.TarError as error:
        raise BackupError(f"{Path(archive_path).name} is not a backup file ({error}); make one with python -m model backup.") from None
    with archive:
        members = archive.getmembers()
        problems = [problem for member in members if (problem := _member_problem(member))]
        if problems:
            raise BackupError("The backup names paths a restore will not write: " + "; ".join(problems[:5]) + ". Nothing was restored.")
        files = {member.name: member for member in members if member.isfile()}
        manifest = _read_manifest(archive, files)
        for folder, setting in ((models_root, registry.MODELS_DIR_SETTING), (data_root, DATA_DIR_SETTING)):
            with storage_errors("restore a backup", folder, setting):
                folder.mkdir(parents=True, exist_ok=True)
        with storage_errors("restore a backup", models_root, registry.MODELS_DIR_SETTING):
            staging = Path(tempfile.mkdtemp(dir=models_root, prefix=".restoring-"))
        try:
            for name, member in files.items():
                if name != MANIFEST_MEMBER:
                    _extract(archive, member, staging / name, manifest["members"][name])
            with storage_errors("restore a backup", data_root, DATA_DIR_SETTING):
                for member_name, file_name in ((STORE_MEMBER, STORE_FILE), (SIGNED_OUT_MEMBER, SIGNED_OUT_FILE)):
                    if (staging / member_name).is_file():  # a rename needs one file system: copy, then rename within the folder
                        with atomic_file(data_root / file_name) as temporary:
                            shutil.copyfile(staging / member_name, temporary)
            with storage_errors("restore a backup", models_root, registry.MODELS_DIR_SETTING):
                if (staging / MODELS_PREFIX).is_dir():
                    _move_into_place(staging / MODELS_PREFIX, models_root, last=registry.POINTER_FILE)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return _restore_summary(models_root, data_root, manifest)


def _restore_summary(models_root: Path, data_root: Path, manifest: dict) -> RestoreSummary:
    models = ModelRegistry(models_root)
    problems = []
    champion = models.champion_version()
    if champion is not None:
        try:
            models.check_version(champion)
        except (registry.IntegrityError, registry.StorageError, ValueError) as error:
            problems.append(f"The champion {champion} does not pass its check: {error}")
    n_measurements = _restored_store(data_root / STORE_FILE) if (data_root / STORE_FILE).is_file() else None
    if n_measurements != manifest.get("n_measurements"):
        problems.append(f"The restored store holds {n_measurements} measurements; the backup's manifest says {manifest.get('n_measurements')}.")
    versions = tuple(card.version for card in models.list_cards())
    return RestoreSummary(models_root, data_root, champion, versions, n_measurements, problems)
