"""Read an upload: file bytes in, a Dataset and a match report out. Nothing is stored here.

An upload is one tidy CSV, or a spectrophotometer export together with its recipe table
and, optionally, a fluorescence table (in any order, told apart by content).
:mod:`model.store.measurements` stores what :func:`read_upload` prepares.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from functools import cached_property

import pandas as pd

from model.core.schema import RECIPE_ID_COLUMN, Dataset
from model.io.export import find_export_header, parse_instrument_export
from model.io.fluorescence import FluorescenceTable, is_fluorescence_table, match_fluorescence, parse_fluorescence_table
from model.io.matching import ACCEPTED, MatchReport, MeasurementMatcher
from model.io.problems import IngestError, Problem, fail
from model.io.recipes import RecipeTable, parse_recipe_table
from model.io.text import read_table, read_text, refuse_rows_beyond, split_lines
from model.io.tidy import parse_tidy_with_notes

__all__ = ["MAX_UPLOAD_ROWS", "PreparedUpload", "UploadFiles", "files_content_hash", "read_upload", "read_upload_files"]


def files_content_hash(files: Sequence[tuple[str, bytes]]) -> str:
    """SHA-256 (hex) over the files' bytes; names and order are ignored.

    The same bytes under another name are the same upload.
    """
    file_hashes = sorted(hashlib.sha256(content).hexdigest() for _, content in files)
    return hashlib.sha256("\n".join(file_hashes).encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class PreparedUpload:
    """Uploaded files read and matched, ready to be committed with :meth:`model.store.measurements.MeasurementStore.add`.

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
    notes : tuple of str
        What reading the files assumed, for the person uploading to see: a colorant column empty
        in every row, read as 0 wt % (:func:`model.io.cells.fill_unused_colorants`).
    """

    dataset: Dataset
    report: MatchReport | None
    source_files: tuple[str, ...]
    content_hash: str
    accepted: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()


#: The most rows one uploaded table may hold: measurement rows of an export or a tidy CSV,
#: recipes of a recipe table, readings of a fluorescence table. Reading a table stops as soon
#: as it passes the cap. Matching and storing are linear (``python3 bench/uploads.py``), and
#: a larger set of measurements is uploaded in parts.
MAX_UPLOAD_ROWS = 50_000


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
        ``report.fluorescence``. No table may hold more than :data:`MAX_UPLOAD_ROWS` rows.
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
        A file cannot be read (every problem, with file, row and column), a table has
        more than :data:`MAX_UPLOAD_ROWS` rows, the files are not one of the accepted
        shapes, or no measured name matches a recipe.
    """
    return read_upload_files(files).prepare(accept)


@dataclass(frozen=True)
class UploadFiles:
    """Uploaded files read and checked, not yet matched: :meth:`prepare` matches them.

    Matching is cheap beside reading, so a page that asks a person which near-miss names
    to accept reads the files once and matches them twice (:func:`model.store.intake.review_upload`).

    Attributes
    ----------
    names : tuple of str
        The file names: the export's, the recipe table's and the fluorescence table's
        (in that order), or the tidy CSV's.
    content_hash : str
        :func:`files_content_hash` of the files.
    tidy : Dataset or None
        The tidy CSV's measurements; None for an export.
    measurements : DataFrame or None
        :func:`model.io.export.read_instrument_export` of the export.
    recipes : RecipeTable or None
        The recipe table.
    fluorescence : FluorescenceTable or None
        The optional fluorescence table.
    notes : tuple of str
        As :attr:`PreparedUpload.notes`.
    """

    names: tuple[str, ...]
    content_hash: str
    tidy: Dataset | None = None
    measurements: pd.DataFrame | None = None
    recipes: RecipeTable | None = None
    fluorescence: FluorescenceTable | None = None
    notes: tuple[str, ...] = ()

    @cached_property
    def _matcher(self) -> MeasurementMatcher:
        return MeasurementMatcher(self.measurements, self.recipes.frame, self.recipes.colorants, source=self.names[0])

    def prepare(self, accept: Collection[str] | None = None) -> PreparedUpload:
        """Match the export to its recipe table (and the readings to the films), accepting the
        near misses named in ``accept``; see :func:`read_upload`."""
        if self.tidy is not None:
            return PreparedUpload(self.tidy, None, self.names, self.content_hash, notes=self.notes)
        export_name, recipe_name = self.names[:2]
        recipes = self.recipes.frame
        dataset, report = self._matcher.match(accept=accept)
        if len(dataset) == 0:
            message = f"no measured name matches a recipe in {recipe_name}; is it the right recipe table?\n" + report.summary()
            fail(export_name, None, None, message)
        accepted = tuple(entry.measured_name for entry in report.accepted)
        if self.fluorescence is not None:
            recipe_ids = recipes[RECIPE_ID_COLUMN].astype(str).tolist()
            dataset, report.fluorescence = match_fluorescence(dataset, self.fluorescence, recipe_ids, accept=accept)
            accepted += tuple(entry.measured_name for entry in report.fluorescence.used if entry.status == ACCEPTED and entry.measured_name not in accepted)
        return PreparedUpload(dataset, report, self.names, self.content_hash, accepted, self.notes)


def read_upload_files(files: Sequence[tuple[str, bytes]]) -> UploadFiles:
    """Read and check uploaded files without matching them; see :func:`read_upload`.

    Raises
    ------
    IngestError
        As :func:`read_upload`, except for a failed match.
    """
    files = [(str(name), bytes(content)) for name, content in files]
    if len(files) == 1:
        return _read_tidy_upload(files)
    if len(files) not in (2, 3):
        fail("upload", None, None, f"got {len(files)} files; {_SHAPES}.")
    texts = _texts(files)
    (export_name, export_text), (recipe_name, recipe_text), fluorescence_file = _export_recipes_fluorescence(texts)
    measurements = parse_instrument_export(export_text, export_name, max_rows=MAX_UPLOAD_ROWS)
    recipes = parse_recipe_table(recipe_text, recipe_name, max_rows=MAX_UPLOAD_ROWS)
    fluorescence = None
    names = (export_name, recipe_name)
    if fluorescence_file is not None:
        fluorescence_name, fluorescence_text = fluorescence_file
        _refuse_too_many_readings(fluorescence_name, fluorescence_text)
        fluorescence = parse_fluorescence_table(fluorescence_text, fluorescence_name)
        names = (*names, fluorescence_name)
    return UploadFiles(names, files_content_hash(files), measurements=measurements, recipes=recipes, fluorescence=fluorescence, notes=recipes.notes)


_SHAPES = "upload one tidy CSV, or an instrument export together with its recipe table (and, optionally, a fluorescence table)"
_ANY_CSV = "a CSV file (a spectrophotometer export, a recipe table or a tidy CSV)"


def _texts(files: Sequence[tuple[str, bytes]]) -> list[tuple[str, str]]:
    """``(name, text)`` of each file, each decoded once.

    A file that is not CSV text at all (empty, binary, UTF-16, not UTF-8) is neither an
    export nor a recipe table; the problems of every such file are raised together.
    """
    texts, problems = [], []
    for name, content in files:
        try:
            texts.append(read_text(content, name, _ANY_CSV))
        except IngestError as error:
            problems.extend(error.problems)
    if problems:
        raise IngestError(problems)
    return [(name, text) for (text, name) in texts]


def _export_recipes_fluorescence(files: Sequence[tuple[str, str]]) -> tuple[tuple[str, str], tuple[str, str], tuple[str, str] | None]:
    """``(export, recipe table, fluorescence table or None)`` of two or three ``(name, text)``, told apart by content."""
    is_export = [find_export_header(split_lines(text)) is not None for _, text in files]
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
    for name, text in others:
        (fluorescence if is_fluorescence_table(text, name) else recipe_tables).append((name, text))
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


def _refuse_too_many_readings(name: str, text: str) -> None:
    """Refuse a fluorescence table of more than :data:`MAX_UPLOAD_ROWS` readings, reading no further than that."""
    try:
        table = read_table(text, name, "a fluorescence table", MAX_UPLOAD_ROWS)
    except IngestError:
        return  # a malformed table: parse_fluorescence_table says what is wrong with it
    advice = f"Keep one reading per measured film, or split the upload into parts of at most {MAX_UPLOAD_ROWS:,} readings each."
    refuse_rows_beyond(table, MAX_UPLOAD_ROWS, "readings", advice)


def _read_tidy_upload(files: Sequence[tuple[str, bytes]]) -> UploadFiles:
    """The upload of one file, which must be a tidy CSV."""
    name, content = files[0]
    text, name = read_text(content, name, "a tidy measurement CSV")
    try:
        dataset, notes = parse_tidy_with_notes(text, name, max_rows=MAX_UPLOAD_ROWS)
    except IngestError:
        if find_export_header(split_lines(text)) is not None:
            message = "this is a spectrophotometer export; upload the recipe table with it (two files)."
            raise IngestError([Problem(name, None, None, message)]) from None
        raise
    return UploadFiles((name,), files_content_hash(files), tidy=dataset, notes=notes)
