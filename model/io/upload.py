"""Read an upload: file bytes in, a Dataset and a match report out. Nothing is stored here.

An upload is one tidy CSV, or a spectrophotometer export together with its recipe table
and, optionally, a fluorescence table (in any order, told apart by content).
:mod:`model.ops.store` stores what :func:`read_upload` prepares.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from model.core.schema import RECIPE_ID_COLUMN, Dataset
from model.io.export import is_instrument_export, read_instrument_export
from model.io.fluorescence import is_fluorescence_table, match_fluorescence, read_fluorescence_table
from model.io.matching import ACCEPTED, MatchReport, match_measurements
from model.io.problems import IngestError, Problem, fail
from model.io.recipes import read_recipe_table
from model.io.text import read_text
from model.io.tidy import read_tidy_csv

__all__ = ["PreparedUpload", "files_content_hash", "read_upload"]


def files_content_hash(files: Sequence[tuple[str, bytes]]) -> str:
    """SHA-256 (hex) over the files' bytes; names and order are ignored.

    The same bytes under another name are the same upload.
    """
    file_hashes = sorted(hashlib.sha256(content).hexdigest() for _, content in files)
    return hashlib.sha256("\n".join(file_hashes).encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class PreparedUpload:
    """Uploaded files read and matched, ready to be committed with :meth:`model.ops.store.MeasurementStore.add`.

    Attributes
    ----------
    dataset : Dataset
        The measurements that would be stored (matched and accepted rows only).
    report : MatchReport or None
        The match report of an instrument export; None for a tidy CSV.
    source_files : tuple of str
        The uploaded file names.
    content_hash : str
        SHA-256 over the files' bytes (file names and order ignored).
    accepted : tuple of str
        Measured names whose near-miss suggestion was accepted.
    """

    dataset: Dataset
    report: MatchReport | None
    source_files: tuple[str, ...]
    content_hash: str
    accepted: tuple[str, ...] = ()


def read_upload(files: Sequence[tuple[str, bytes]], *, accept: Collection[str] | None = None) -> PreparedUpload:
    """Read uploaded files: an instrument export plus a recipe table (plus a fluorescence table), or one tidy CSV.

    Parameters
    ----------
    files : sequence of (file name, bytes)
        One file: a tidy CSV (``sample_id, recipe_id, <colorants…>, thickness_um,
        R400 … R700``, optionally ``fluorescence_cts``). Two files: a spectrophotometer
        export and a recipe table, in either order (told apart by content). Three files:
        those two and a fluorescence table (:func:`model.io.fluorescence.read_fluorescence_table`),
        whose readings become the dataset's ``fluorescence_cts`` (ct/s) and
        ``report.fluorescence``.
    accept : collection of str, optional
        Measured names (and fluorescence sample names) whose near-miss suggestion to
        accept (see :func:`model.io.matching.match_measurements`). None accepts none, so
        a first read lists every suggestion for a person to decide.

    Returns
    -------
    PreparedUpload

    Raises
    ------
    IngestError
        A file cannot be read (every problem, with file, row and column), the files are
        not one of the accepted shapes, or no measured name matches a recipe.
    """
    files = [(str(name), bytes(content)) for name, content in files]
    if len(files) == 1:
        return _read_tidy_upload(files)
    if len(files) not in (2, 3):
        fail("upload", None, None, f"got {len(files)} files; {_SHAPES}.")
    (export_name, export_bytes), (recipe_name, recipe_bytes), fluorescence_file = _export_recipes_fluorescence(files)
    measurements = read_instrument_export(export_bytes, name=export_name)
    recipes, colorants = read_recipe_table(recipe_bytes, name=recipe_name)
    dataset, report = match_measurements(measurements, recipes, colorants, accept=accept, source=export_name)
    if len(dataset) == 0:
        message = f"no measured name matches a recipe in {recipe_name}; is it the right recipe table?\n" + report.summary()
        fail(export_name, None, None, message)
    accepted = tuple(entry.measured_name for entry in report.accepted)
    names = (export_name, recipe_name)
    if fluorescence_file is not None:
        readings = read_fluorescence_table(fluorescence_file[1], name=fluorescence_file[0])
        dataset, report.fluorescence = match_fluorescence(dataset, readings, recipes[RECIPE_ID_COLUMN].astype(str).tolist(), accept=accept)
        names = (*names, fluorescence_file[0])
        accepted += tuple(entry.measured_name for entry in report.fluorescence.used if entry.status == ACCEPTED and entry.measured_name not in accepted)
    return PreparedUpload(dataset, report, names, files_content_hash(files), accepted)


_SHAPES = "upload one tidy CSV, or an instrument export together with its recipe table (and, optionally, a fluorescence table)"


def _export_recipes_fluorescence(files: Sequence[tuple[str, bytes]]) -> tuple[tuple[str, bytes], tuple[str, bytes], tuple[str, bytes] | None]:
    """``(export, recipe table, fluorescence table or None)`` of two or three files, told apart by content."""
    is_export = _export_flags(files)
    exports = [file for file, export in zip(files, is_export) if export]
    if len(exports) != 1:
        found = ", ".join(name for name, _ in exports) or ("neither file" if len(files) == 2 else "none of the files")
        fail(
            "upload",
            None,
            None,
            "expected exactly one spectrophotometer export (header with 'User Color Name' and 'R400 nm'); "
            f"{found} is one. Upload the export and its recipe table (and, optionally, a fluorescence table).",
        )
    others = [file for file, export in zip(files, is_export) if not export]
    fluorescence, recipe_tables = [], []
    for name, content in others:
        text, _ = read_text(content, name, "a CSV file")
        (fluorescence if is_fluorescence_table(text, name) else recipe_tables).append((name, content))
    if not recipe_tables:
        shown = " and ".join(name for name, _ in fluorescence)
        what = "a fluorescence table, not a recipe table" if len(fluorescence) == 1 else "fluorescence tables, not recipe tables"
        fail("upload", None, None, f"{shown}: {what}; expected the recipe table too. {_SHAPES[0].upper()}{_SHAPES[1:]}.")
    if len(recipe_tables) > 1:
        shown = " and ".join(name for name, _ in recipe_tables)
        fail(
            "upload",
            None,
            None,
            f"{shown} could both be the recipe table; expected one recipe table, and as the third file a fluorescence table "
            "whose header names fluorescence or ct/s (e.g. 'Sample ID,Fluorescence [ct/s]'). Fix the header or remove one file.",
        )
    return exports[0], recipe_tables[0], fluorescence[0] if fluorescence else None


def _read_tidy_upload(files: Sequence[tuple[str, bytes]]) -> PreparedUpload:
    """The upload of one file, which must be a tidy CSV."""
    name, content = files[0]
    try:
        dataset = read_tidy_csv(content, name=name)
    except IngestError as tidy_error:
        try:
            export = is_instrument_export(content, name=name)
        except IngestError:
            raise tidy_error from None  # not CSV text: the tidy reader has said so, with file and row
        if export:
            message = "this is a spectrophotometer export; upload the recipe table with it (two files)."
            raise IngestError([Problem(name, None, None, message)]) from None
        raise
    return PreparedUpload(dataset, None, (name,), files_content_hash(files))


def _export_flags(files: Sequence[tuple[str, bytes]]) -> list[bool]:
    """Which files are instrument exports, by their header row (see :func:`model.io.export.is_instrument_export`).

    A file that is not CSV text at all (empty, binary, UTF-16, not UTF-8) is neither an
    export nor a recipe table; the problems of every such file are raised together.
    """
    flags, problems = [], []
    for name, content in files:
        try:
            flags.append(is_instrument_export(content, name=name))
        except IngestError as error:
            problems.extend(error.problems)
    if problems:
        raise IngestError(problems)
    return flags
