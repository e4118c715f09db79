"""Read measurement and recipe files into a :class:`~model.core.schema.Dataset`.

Three input shapes (see DESIGN.md, *Data*):

1. the spectrophotometer's library export (:func:`read_instrument_export`) together with a
   recipe table (:func:`read_recipe_table`), joined by :func:`match_measurements`, and
   optionally a fluorescence table (:func:`read_fluorescence_table`, one reading in ct/s
   per film, matched by the same rules);
2. a tidy CSV, one row per measurement (:func:`read_tidy_csv`), optionally with a
   ``fluorescence_cts`` column;
3. for prediction only, a CSV of recipes (:func:`read_recipes_for_prediction`).

:func:`load_dataset` picks the right readers for a folder or a file, and
:func:`read_upload` for uploaded bytes. :func:`parse_spectrum` reads a pasted spectrum.

Every reader validates at this boundary and reports what a chemist can act on: the
file, the row as a text editor or spreadsheet numbers it (1-based, header included),
the column as written in the file, and what was expected. All problems found are
reported together in one :class:`IngestError`; no other exception type escapes a reader
because of the content of a file.

Scales: concentrations in weight percent (0–100; ``"0.99625%"`` and ``0.99625`` mean
the same), film thickness in µm, reflectance as a factor (0–1, may exceed 1 for
fluorescent colorants).

Modules: :mod:`~model.io.problems` (errors), :mod:`~model.io.text` (bytes to tables),
:mod:`~model.io.cells` (the one number parser), :mod:`~model.io.columns` (headers), one
module per reader (:mod:`~model.io.export`, :mod:`~model.io.recipes`, :mod:`~model.io.fluorescence`,
:mod:`~model.io.tidy`, :mod:`~model.io.prediction_input`, :mod:`~model.io.spectrum_text`),
:mod:`~model.io.matching`, :mod:`~model.io.folder` and :mod:`~model.io.upload`.
"""

from model.io.cells import MAX_REFLECTANCE
from model.io.export import INSTRUMENT_LAB_COLUMNS, is_instrument_export, read_instrument_export
from model.io.fluorescence import read_fluorescence_table
from model.io.folder import load_dataset
from model.io.matching import FluorescenceReport, MatchEntry, MatchReport, ThicknessRule, match_measurements
from model.io.prediction_input import read_recipes_for_prediction, read_recipes_for_prediction_with_notes
from model.io.problems import MAX_REPORTED_PROBLEMS, IngestError, Problem
from model.io.recipes import read_recipe_table
from model.io.spectrum_text import SpectrumParseError, parse_spectrum
from model.io.tidy import read_tidy_csv
from model.io.upload import PreparedUpload, read_upload

__all__ = [
    "INSTRUMENT_LAB_COLUMNS",
    "MAX_REFLECTANCE",
    "MAX_REPORTED_PROBLEMS",
    "FluorescenceReport",
    "IngestError",
    "MatchEntry",
    "MatchReport",
    "PreparedUpload",
    "Problem",
    "SpectrumParseError",
    "ThicknessRule",
    "is_instrument_export",
    "load_dataset",
    "match_measurements",
    "parse_spectrum",
    "read_fluorescence_table",
    "read_instrument_export",
    "read_recipe_table",
    "read_recipes_for_prediction",
    "read_recipes_for_prediction_with_notes",
    "read_tidy_csv",
    "read_upload",
]
