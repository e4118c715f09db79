"""Atomic writes: a reader in another process sees the old file or folder or the new one, never half.

Everything is written beside its target and renamed into place with ``os.replace``,
which is atomic within one file system. A process killed mid-write leaves at most a
hidden temporary (``.<name>.*`` or ``.staging-*``) that no reader lists.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

__all__ = ["atomic_write_bytes", "atomic_write_text", "atomic_write_json", "staged_folder"]


def atomic_write_bytes(path, data: bytes, mode: int | None = None) -> None:
    """Replace the file ``path`` with ``data`` in one step; its folder is created if needed.

    ``mode``: permission bits to give the file (e.g. ``0o644`` for a model file the dashboard
    may read as another user); default, readable by this user only, as ``mkstemp`` makes it.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())  # on disk before the rename, so a crash cannot leave an empty file in place
        if mode is not None:
            os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def atomic_write_text(path, text: str, mode: int | None = None) -> None:
    """Replace the file ``path`` with ``text`` (UTF-8) in one step, as :func:`atomic_write_bytes`."""
    atomic_write_bytes(path, text.encode("utf-8"), mode)


def atomic_write_json(path, data: dict) -> None:
    """Replace the file ``path`` with ``data`` as JSON (values JSON cannot hold are written as text)."""
    atomic_write_text(path, json.dumps(data, indent=1, default=str))


@contextmanager
def staged_folder(root, final_name: str) -> Iterator[Path]:
    """Build a folder beside ``root / final_name`` and rename it into place when the block ends.

    Yields the staging folder to write into. If the block raises, the staging folder is
    removed and nothing appears under ``final_name``.

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
    staging = Path(tempfile.mkdtemp(dir=root, prefix=".staging-"))
    try:
        yield staging
        os.chmod(staging, 0o755)  # mkdtemp makes it private; the dashboard may run as another user
        os.replace(staging, final)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
