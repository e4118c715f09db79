"""Atomic writes: a reader in another process sees the old file or folder or the new one, never half.

Everything is written beside its target and renamed into place with ``os.replace``,
which is atomic within one file system. A process killed mid-write leaves at most a
hidden temporary (``.<name>.*`` or ``.staging-*``) that no reader lists.

Files and folders get the permissions the process's umask gives any new file (``0o666 &
~umask``, folders ``0o777 & ~umask``), as ``open`` and ``mkdir`` make them, not the
private ``0o600`` of :func:`tempfile.mkstemp`: the dashboard may run as another user than
the command line or the worker that wrote them, and must still read them. The kernel
applies the umask when the temporary is created, so it is never read or changed here
(changing it to read it would race with other threads).
"""

from __future__ import annotations

import errno
import getpass
import hashlib
import json
import os
import secrets
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

__all__ = [
    "atomic_write_bytes", "atomic_write_text", "atomic_write_json", "atomic_file", "staged_folder",
    "StorageError", "storage_errors", "check_writable", "sha256_file",
]

_ATTEMPTS = 100  # random names to try before giving up, as tempfile does


def _new_temporary(folder: Path, prefix: str, *, directory: bool = False) -> Path:
    """Create an empty file (or folder) with a random hidden name in ``folder``, with the umask's normal mode.

    ``O_EXCL`` (and ``mkdir``) fail on an existing name, so two writers never share one.
    """
    for _ in range(_ATTEMPTS):
        path = folder / f"{prefix}{secrets.token_hex(6)}"
        try:
            if directory:
                os.mkdir(path, 0o777)
            else:
                os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        except FileExistsError:
            continue
        return path
    raise FileExistsError(f"No free temporary name in {folder} after {_ATTEMPTS} tries; remove its hidden {prefix}* files.")


def sha256_file(path) -> str:
    """The SHA-256 of a file's bytes, as hex, read 1 MiB at a time."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@contextmanager
def atomic_file(path, mode: int | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` to write; it replaces ``path`` when the block ends.

    For a file too large to hold in memory (a backup archive). The temporary is flushed
    to disk before the rename; if the block raises, it is removed and ``path`` is untouched.

    Parameters
    ----------
    path : path of the file to replace; its folder is created if needed.
    mode : int, optional
        Permission bits to give the file (e.g. ``0o600`` for a file only this user may
        read); default, the umask's normal mode for a new file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = _new_temporary(path.parent, f".{path.name}.")
    try:
        yield temporary
        with open(temporary, "rb+") as written:
            os.fsync(written.fileno())  # on disk before the rename, so a crash cannot leave an empty file in place
        if mode is not None:
            os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def atomic_write_bytes(path, data: bytes, mode: int | None = None) -> None:
    """Replace the file ``path`` with ``data`` in one step; its folder is created if needed.

    ``mode``: permission bits to give the file; default, the umask's normal mode for a new
    file (``0o644`` under the usual umask ``022``), so a server running as another user can read it.
    """
    with atomic_file(path, mode) as temporary:
        temporary.write_bytes(data)


def atomic_write_text(path, text: str, mode: int | None = None) -> None:
    """Replace the file ``path`` with ``text`` (UTF-8) in one step, as :func:`atomic_write_bytes`."""
    atomic_write_bytes(path, text.encode("utf-8"), mode)


def atomic_write_json(path, data: dict) -> None:
    """Replace the file ``path`` with ``data`` as JSON (values JSON cannot hold are written as text)."""
    atomic_write_text(path, json.dumps(data, indent=1, default=str))


@contextmanager
def staged_folder(root, final_name: str) -> Iterator[Path]:
    """Build a folder beside ``root / final_name`` and rename it into place when the block ends.

    Yields the staging folder to write into (made with the umask's normal folder mode). If
    the block raises, the staging folder is removed and nothing appears under ``final_name``.

    Raises
    ------
    FileExistsError
        ``root / final_name`` already exists: saved folders are never overwritten.
    """
    root = Path(root)
    final = root / final_name
    if final.exists():
        raise FileExistsError(f"{final_name!r} already exists in {root}; saved folders are never overwritten.")
    root.mkdir(parents=True, exist_ok=True)
    staging = _new_temporary(root, ".staging-", directory=True)
    try:
        yield staging
        os.replace(staging, final)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


# --------------------------------------------------------------------------------------
# File-system failures, said as what to change
# --------------------------------------------------------------------------------------


class StorageError(RuntimeError):
    """A folder Huecast keeps things in cannot be written or read. The message says what to change.

    The message names the folder by its setting (``HUECAST_MODELS_DIR``…), never by its
    absolute path, because a web client may see it; the path is in :attr:`folder`.

    Attributes
    ----------
    folder : Path
    """

    def __init__(self, message: str, folder) -> None:
        super().__init__(message)
        self.folder = Path(folder)


def _user_name() -> str:
    try:
        import pwd

        return pwd.getpwuid(os.geteuid()).pw_name
    except (ImportError, KeyError, AttributeError):  # not a POSIX system, or a uid without a name
        return getpass.getuser()


def _storage_error(error: OSError, doing: str, folder: Path, setting: str, *, write: bool) -> StorageError:
    """A :class:`StorageError` saying what to change after ``error`` while ``doing`` something in ``folder``."""
    user, where = _user_name(), f"the folder {setting} names"
    elsewhere = f"or set {setting} to a folder user {user!r} can {'write' if write else 'read'}"
    if error.errno == errno.EROFS:
        fix = f"{where} is on a read-only file system; remount it read-write, {elsewhere}"
    elif error.errno in (errno.ENOSPC, errno.EDQUOT):
        fix = f"the disk holding {where} is full; free some space on it, or set {setting} to a folder on a disk with room"
    elif error.errno in (errno.EACCES, errno.EPERM) and write:
        fix = (f"user {user!r}, which runs Huecast, may not write to {where}; give it write permission on the folder and "
               f"everything in it (chown -R {user} <folder>, or chmod -R u+rwX <folder>), {elsewhere}")
    elif error.errno in (errno.EACCES, errno.EPERM):
        fix = (f"user {user!r}, which runs Huecast, may not read {where}; give it read permission on the folder and "
               f"everything in it (chmod -R a+rX <folder>), {elsewhere}")
    else:
        fix = f"{error.strerror or error} in {where}; check the disk, and that user {user!r} can read and write the folder"
    return StorageError(f"Could not {doing}: {fix}.", folder)


@contextmanager
def storage_errors(doing: str, folder, setting: str, *, write: bool = True) -> Iterator[None]:
    """Turn a file-system failure inside the block into a :class:`StorageError`.

    Parameters
    ----------
    doing : str, what was being done, as "Could not <doing>" reads ("save model v1").
    folder : path, the folder the failure is in.
    setting : str, the setting that names it (``HUECAST_MODELS_DIR``).
    write : bool, whether the block writes (the advice differs for a folder it may not read).

    A missing file and an existing name keep their own exceptions: callers answer those.
    """
    try:
        yield
    except (FileNotFoundError, FileExistsError):
        raise
    except OSError as error:
        raise _storage_error(error, doing, Path(folder), setting, write=write) from error


def check_writable(folder, setting: str) -> Path:
    """Check that ``folder`` can be written: create it when missing, write and remove a hidden probe file.

    The probe goes through :func:`atomic_write_bytes`, as saving does, so a permission bit,
    a read-only mount or a full disk fail here. ``os.access`` would not do: it says yes to
    root whatever the permission bits.

    Returns
    -------
    Path, the folder.

    Raises
    ------
    StorageError
        The folder cannot be created or written; the message says what to change.
    """
    folder = Path(folder)
    with storage_errors(f"write to the folder {setting} names", folder, setting):
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / ".write-check"
        atomic_write_bytes(probe, b"")
        probe.unlink(missing_ok=True)
    return folder
