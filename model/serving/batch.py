"""Predict a CSV of recipes: the one code path behind the Batch page and ``python -m model predict``.

A batch file is validated once, at this boundary: rows with a bad cell are left out and
each is reported (row, column, what was expected); the good rows are still predicted.
Problems with the whole file (no thickness column, an unknown colorant, too many rows)
raise :class:`~model.io.IngestError`, whose ``problems`` list every reason found.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from typing import Callable

import pandas as pd

from model.core.schema import BAND_COLUMNS, FLUORESCENCE_COLUMN, THICKNESS_COLUMN
from model.core.tolerance import UNTRUSTED_UNCERTAINTY
from model.io import IngestError, Problem, read_recipes_for_prediction_with_notes
from model.io.safe_csv import neutralise_formulas
from model.serving.csv_text import csv_text
from model.serving.plain_csv import read_plain_recipes

__all__ = [
    "MAX_BATCH_ROWS",
    "BatchResult",
    "predict_csv",
    "predict_csv_to_file",
    "result_key",
    "template_frame",
    "problems_frame",
    "READER_FIRST_COLUMNS",
    "reader_table",
    "names_missing_colorants",
]

#: The most recipes one upload may hold. 100,000 rows predict in a few seconds on one
#: core (see ``bench/dashboard_speed.py``); more would make a browser session wait too long.
MAX_BATCH_ROWS = 100_000

# Rows predicted per step: small enough that progress moves, large enough that the
# per-call overhead of the networks is negligible.
_CHUNK_ROWS = 10_000


@dataclass(frozen=True)
class BatchResult:
    """Predictions for the valid rows of a CSV of recipes.

    Attributes
    ----------
    table : pandas.DataFrame
        The CLI's output shape: passthrough columns (as in the file), the colorants
        (wt %) and ``thickness_um`` (µm), then :data:`model.PREDICTION_COLUMNS`
        (``L, a, b, C, h`` of the headline path, ``R400 … R700`` reflectance factor,
        ``delta_e00_paths``, ``hex``, ``out_of_gamut``, ``out_of_range``, ``out_of_range_detail``,
        ``fluorescence_cts``: ct/s, empty when the model has no fluorescence head).
    problems : list of Problem
        One or more per row left out, with its 1-based file row and column.
    warnings : list of str
        Legal but suspicious input (for example an extra numeric column that is ignored).
    """

    table: pd.DataFrame
    problems: list[Problem] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    n_written: int | None = None

    @property
    def n_predicted(self) -> int:
        """Recipes predicted: the table's rows, or those written to a file (:func:`predict_csv_to_file`)."""
        return len(self.table) if self.n_written is None else self.n_written

    @property
    def n_rows_left_out(self) -> int:
        """Distinct file rows that were not predicted."""
        return len({problem.row for problem in self.problems if problem.row is not None})

    @property
    def n_out_of_range(self) -> int:
        """Predicted rows whose recipe lies outside the model's training range."""
        return int(self.table["out_of_range"].sum()) if len(self.table) else 0

    @property
    def n_untrusted(self) -> int:
        """Predicted rows whose uncertainty band is too wide to rely on (above :data:`UNTRUSTED_UNCERTAINTY` ΔE00,
        where the Predict page says "do not rely on this prediction")."""
        if not len(self.table):
            return 0
        return int((pd.to_numeric(self.table["uncertainty_delta_e00"], errors="coerce") > UNTRUSTED_UNCERTAINTY).sum())


ProgressCallback = Callable[[float, str], None]


def result_key(content: bytes, model_version: str) -> tuple[str, str]:
    """What a batch result depends on: the file's SHA-256 and the model version.

    A caller that keeps a :class:`BatchResult` (the Batch page, per session) predicts
    again only when this changes, not on every widget rerun.
    """
    return hashlib.sha256(content).hexdigest(), model_version


def predict_csv(
    source,
    model,
    *,
    name: str | None = None,
    max_rows: int | None = MAX_BATCH_ROWS,
    progress: ProgressCallback | None = None,
    suggest_renames: bool = True,
) -> BatchResult:
    """Read, validate and predict a CSV of recipes.

    Parameters
    ----------
    source : str, path-like, bytes or file-like
        Comma- or semicolon-separated; concentrations as numbers or percent strings
        (``"12.5"`` or ``"12.5%"``, wt %), thickness in µm. See
        :func:`model.io.read_recipes_for_prediction`.
    model : fitted FormulationModel or KubelkaMunkModel
        Anything with ``colorants_``, ``input_columns`` and ``predict``.
    name : str, optional
        The file name used in messages (default: derived from ``source``).
    max_rows : int or None
        Refuse files with more recipes than this (``None``: no cap, as on the command line).
    progress : callable(fraction: float, message: str), optional
        Called with fractions 0–1 while reading and predicting.
    suggest_renames : bool
        Suggest renaming a column close to a missing colorant's name; False for a model whose
        colorants are not the lab's (the synthetic demo's), see :func:`model.io.read_recipes_for_prediction`.

    Returns
    -------
    BatchResult

    Raises
    ------
    IngestError
        The file as a whole cannot be used; ``error.problems`` says why, row and column.
    """
    if progress:
        progress(0.0, "Reading and checking the file…")
    recipes, problems, notes = _read_checked(source, model, name, max_rows, suggest_renames)
    input_columns = list(model.input_columns)
    passthrough = [column for column in recipes.columns if column not in input_columns]
    _refuse_output_names(passthrough, name)
    n_rows = len(recipes)
    frames = list(_predicted_chunks(recipes, model, passthrough, _CHUNK_ROWS, progress))
    table = pd.concat(frames, ignore_index=True) if frames else _empty_table(input_columns, passthrough)
    if progress:
        progress(1.0, f"Predicted {n_rows:,} recipes.")
    return BatchResult(table=table, problems=list(problems), warnings=notes)


def predict_csv_to_file(
    source, model, output, *, name: str | None = None, chunk_rows: int = _CHUNK_ROWS, n_jobs: int | None = None
) -> BatchResult:
    """:func:`predict_csv` for files of any size: predicted and written ``chunk_rows`` at a time.

    The file written is the one ``write_csv(predict_csv(source, model, max_rows=None).table, output)``
    writes, byte for byte (tests/test_scale.py), but only a few chunks of predictions are
    held at a time, so memory stays flat however many recipes the file holds. ``n_jobs``
    chunks are predicted and turned into text at once (joblib processes; -1: every core);
    they are written in file order. The returned result's ``table`` is empty (its columns
    only): the predictions are in ``output``.

    Keep ``chunk_rows`` at its default for the same numbers to the last bit: a network's
    matrix products over a batch of another size may sum in another order (BLAS).
    """
    recipes, problems, notes = _read_checked(source, model, name, None)
    input_columns = list(model.input_columns)
    passthrough = [column for column in recipes.columns if column not in input_columns]
    _refuse_output_names(passthrough, name)
    starts = range(0, len(recipes), chunk_rows)
    chunks = ((recipes.iloc[start : start + chunk_rows], start == 0) for start in starts)
    if n_jobs in (None, 1) or len(starts) <= 1:  # one chunk: no worker processes to start
        texts = (_chunk_text(model, rows, passthrough, header) for rows, header in chunks)
    else:
        from joblib import Parallel, delayed

        texts = Parallel(n_jobs=n_jobs, return_as="generator")(delayed(_chunk_text)(model, rows, passthrough, header) for rows, header in chunks)
    with open(output, "w", encoding="utf-8", newline="") as handle:
        for text in texts:
            handle.write(text)
        if len(recipes) == 0:  # no valid row: the header alone, as write_csv writes an empty table
            neutralise_formulas(_empty_table(input_columns, passthrough)).to_csv(handle, index=False)
    return BatchResult(table=_empty_table(input_columns, passthrough), problems=list(problems), warnings=notes, n_written=len(recipes))


def _chunk_text(model, rows: pd.DataFrame, passthrough: list[str], header: bool) -> str:
    """The CSV text of one chunk's output rows (with the header for the first): pandas' bytes."""
    predicted = model.predict(rows[list(model.input_columns)]).to_frame()
    safe = neutralise_formulas(pd.concat([rows[passthrough].reset_index(drop=True), predicted], axis=1))
    text = csv_text(safe, header=header)  # faster; None when it cannot promise pandas' bytes
    return safe.to_csv(header=header, index=False) if text is None else text


def _read_checked(
    source, model, name: str | None, max_rows: int | None, suggest_renames: bool = True
) -> tuple[pd.DataFrame, list[Problem], list[str]]:
    """The valid recipes, the problems and the notes of a CSV: :func:`read_plain_recipes` when the file allows, else the full reader."""
    recipes = read_plain_recipes(source, list(model.colorants_), name=name, max_rows=max_rows)
    if recipes is not None:  # a plain file has neither problems nor notes
        return recipes, [], []
    # The notes come back, not as warnings: collecting warnings is not thread-safe in a server.
    return read_recipes_for_prediction_with_notes(source, list(model.colorants_), name=name, max_rows=max_rows, suggest_renames=suggest_renames)


def _predicted_chunks(recipes: pd.DataFrame, model, passthrough: list[str], chunk_rows: int, progress: ProgressCallback | None):
    """Output frames of ``chunk_rows`` recipes each: passthrough columns, then the model's prediction columns."""
    input_columns = list(model.input_columns)
    n_rows = len(recipes)
    n_chunks = max(1, math.ceil(n_rows / chunk_rows))
    for chunk in range(n_chunks):
        if progress:
            progress(0.1 + 0.9 * chunk / n_chunks, f"Predicting rows {chunk * chunk_rows + 1:,}–{min(n_rows, (chunk + 1) * chunk_rows):,} of {n_rows:,}…")
        rows = recipes.iloc[chunk * chunk_rows : (chunk + 1) * chunk_rows]
        if len(rows) == 0:
            continue
        predicted = model.predict(rows[input_columns]).to_frame()
        yield pd.concat([rows[passthrough].reset_index(drop=True), predicted], axis=1)


def _refuse_output_names(passthrough: list[str], file: str | None) -> None:
    """An input column named like a prediction column would shadow it in the download."""
    from model.core.prediction import PREDICTION_COLUMNS

    clashes = [column for column in passthrough if column in PREDICTION_COLUMNS]
    if clashes:
        raise IngestError(
            [
                Problem(
                    file or "the file",
                    1,
                    column,
                    f"is the name of a predicted column; expected other names for input columns. "
                    f"Rename it (for example to '{column}_measured') so the download keeps both.",
                )
                for column in clashes
            ]
        )


def _empty_table(input_columns: list[str], passthrough: list[str]) -> pd.DataFrame:
    from model.core.prediction import PREDICTION_COLUMNS

    return pd.DataFrame(columns=[*passthrough, *input_columns, *PREDICTION_COLUMNS])


def template_frame(model) -> pd.DataFrame:
    """A CSV template for :func:`predict_csv`: a ``name`` column, the colorants (wt %) and ``thickness_um`` (µm).

    Its example rows lie inside the model's training range: the middle of each range,
    and the first colorant alone at its trained maximum at the thickest trained film.
    """
    training_range = model.training_range_
    colorants = list(model.colorants_)
    middle = {c: round((training_range.minimum[c] + training_range.maximum[c]) / 2, 3) for c in colorants}
    single = {c: training_range.minimum[c] for c in colorants}
    single[colorants[0]] = training_range.maximum[colorants[0]]
    thickness_low, thickness_high = training_range.minimum[THICKNESS_COLUMN], training_range.maximum[THICKNESS_COLUMN]
    rows = [
        {"name": "mid-range example", **middle, THICKNESS_COLUMN: round((thickness_low + thickness_high) / 2, 3)},
        {"name": f"{colorants[0]} only", **single, THICKNESS_COLUMN: thickness_high},
    ]
    return pd.DataFrame(rows, columns=["name", *colorants, THICKNESS_COLUMN])


def problems_frame(problems: list[Problem]) -> pd.DataFrame:
    """Problems as a table a person can scan: ``row`` (1-based, as a spreadsheet shows it), ``column``, ``problem``."""
    return pd.DataFrame(
        {
            "row": pd.array([p.row for p in problems], dtype="Int64"),
            "column": [p.column or "" for p in problems],
            "problem": [p.message for p in problems],
        }
    )


#: The predicted columns a reader looks at first, in order, after the file's own name columns:
#: the colour, how far to trust it and whether the recipe is outside the training range.
READER_FIRST_COLUMNS = ["L", "a", "b", "uncertainty_delta_e00", "out_of_range"]
# Then what explains or refines it; the spectrum comes last.
_READER_DETAIL_COLUMNS = ["C", "h", "delta_e00_paths", FLUORESCENCE_COLUMN, "out_of_range_detail", "out_of_gamut", "hex", "uncertainty_coverage"]


def reader_table(table: pd.DataFrame, input_columns) -> pd.DataFrame:
    """A batch result's columns in the order a reader needs them: who, what colour, how sure, then the rest.

    The file's own columns (a name, a sample id) first, then L*, a*, b*, the uncertainty
    band and the out-of-range flag (:data:`READER_FIRST_COLUMNS`), then the recipe
    (``input_columns``: colorants in wt %, ``thickness_um`` in µm), C*, h°, the two paths'
    ΔE00, the fluorescence and the flags' details, and the 31 reflectance bands last. So a
    table 800 px wide shows the colour of each row, not only its inputs. The values are not
    changed; :attr:`BatchResult.table` keeps the CLI's order.

    Parameters
    ----------
    table : DataFrame, :attr:`BatchResult.table`.
    input_columns : the model's ``input_columns`` (its colorants, then ``thickness_um``).

    Returns
    -------
    DataFrame, the same columns (any this function does not know go before the spectrum).
    """
    from model.core.prediction import PREDICTION_COLUMNS

    inputs = [column for column in input_columns if column in table.columns]
    known = {*PREDICTION_COLUMNS, *inputs}
    passthrough = [column for column in table.columns if column not in known]
    first = [column for column in READER_FIRST_COLUMNS if column in table.columns]
    details = [column for column in _READER_DETAIL_COLUMNS if column in table.columns]
    bands = [column for column in BAND_COLUMNS if column in table.columns]
    ordered = [*passthrough, *first, *inputs, *details]
    rest = [column for column in table.columns if column not in {*ordered, *bands}]
    return table[[*ordered, *rest, *bands]]


def names_missing_colorants(error: IngestError, colorants) -> bool:
    """Whether a refused file lacks some of the model's colorant columns (its recipes are for other colorants)."""
    wanted = set(colorants)
    return any(problem.column in wanted and "missing column" in problem.message for problem in error.problems)
