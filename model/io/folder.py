"""Load a dataset from a folder (export + recipe table, told apart by content) or a tidy CSV.

Scales: concentrations in weight percent (0–100), film thickness in µm, reflectance as a
factor (0–1, may exceed 1 for fluorescent colorants).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import NoReturn

from model.core.schema import RECIPE_ID_COLUMN, Dataset
from model.io.export import find_export_header, parse_instrument_export
from model.io.fluorescence import is_fluorescence_table, match_fluorescence, parse_fluorescence_table
from model.io.matching import FluorescenceReport, MatchReport, ThicknessRule, match_measurements, name_key
from model.io.problems import IngestError, Problem, count_of, fail
from model.io.recipes import RecipeRowsError, RecipeTable, parse_recipe_table
from model.io.text import read_text, split_lines
from model.io.tidy import parse_tidy

__all__ = ["load_dataset"]


def load_dataset(
    path, *, accept_suggestions: bool = True, thickness_rule: ThicknessRule | None = None
) -> tuple[Dataset, MatchReport | None]:
    """Load measurements from a folder (export + recipe table) or a tidy CSV file.

    In a folder, the files are told apart by content, not by name:

    - the **export** is the ``.csv`` whose header names ``User Color Name`` and
      ``R400 nm``; there must be exactly one;
    - a **fluorescence table** (optional, at most one) is a ``.csv`` whose header names
      fluorescence or ct/s after its first column (``Sample ID,Fluorescence [ct/s]``,
      :func:`~model.io.fluorescence.read_fluorescence_table`). Its readings are matched
      to the measured films by the same name rules and added as ``fluorescence_cts``
      (ct/s, NaN for a film without a reading); ``report.fluorescence`` says how;
    - every other ``.csv`` that reads as a valid recipe table (:func:`read_recipe_table`)
      is a candidate **recipe table**. Among the candidates the one whose ids match the
      most measured names wins; on a tie, one marked as percent (a ``(%)`` unit or ``%``
      values) wins. A tie that remains is an error: move the other file out of the folder.

    The files used and those passed over (with why) are listed in ``report.notes``.

    Parameters
    ----------
    path : str or path-like
        A folder, or a tidy CSV file (see :func:`read_tidy_csv`).
    accept_suggestions : bool
        Include near-miss matches (listed in the report as accepted). True by default so
        that a folder loads as it is; the report shows what was accepted.
    thickness_rule : ThicknessRule, optional
        How names encode thickness (default: trailing ``H`` = 12 µm, else 8 µm).

    Returns
    -------
    dataset : Dataset
    report : MatchReport or None
        None for a tidy CSV, which needs no matching.

    Raises
    ------
    IngestError
        If the path does not exist, a file cannot be read, the folder does not hold one
        export and a recipe table, or no measured name matches a recipe.
    """
    path = Path(path)
    if path.is_dir():
        return _load_folder(path, accept_suggestions, thickness_rule or ThicknessRule())
    if path.is_file():
        text, file = read_text(path, None, "a tidy measurement CSV")
        if find_export_header(split_lines(text)) is not None:
            fail(
                file,
                None,
                None,
                "this is a spectrophotometer export, which needs a recipe table to be matched with; "
                "expected a folder holding both files, or a tidy CSV. Pass the folder instead.",
            )
        return parse_tidy(text, file), None
    fail(
        str(path),
        None,
        None,
        "no such file or folder; expected a folder with an instrument export and a recipe table, or a tidy CSV file.",
    )


def _load_folder(folder: Path, accept_suggestions: bool, rule: ThicknessRule) -> tuple[Dataset, MatchReport]:
    exports, fluorescence_files, others, notes = _csv_files_by_kind(folder)
    if len(exports) != 1:
        found = ", ".join(file for file, _ in exports) or "none"
        fail(
            folder.name,
            None,
            None,
            f"expected exactly one spectrophotometer export (a CSV whose header names 'User Color Name' and "
            f"'R400 nm') in the folder; found {found}. Keep one export per folder.",
        )
    export_file, export_text = exports[0]
    measurements = parse_instrument_export(export_text, export_file)
    measured_keys = [name_key(rule.split(name)[0]) for name in measurements["name"]]
    recipe_file, recipe_table = _choose_recipe_table(folder, export_file, others, measured_keys, notes)

    dataset, report = match_measurements(
        measurements,
        recipe_table.frame,
        recipe_table.colorants,
        thickness_rule=rule,
        accept_suggestions=accept_suggestions,
        source=export_file,
    )
    report.notes = notes
    if len(dataset) == 0:
        fail(
            export_file,
            None,
            None,
            f"no measured name matches a recipe in {recipe_file}; expected the 'User Color Name' of each sample "
            "to be a recipe id (plus the thickness suffix).\n" + report.summary(),
        )
    if fluorescence_files:
        dataset, report.fluorescence = _attach_fluorescence(folder, dataset, fluorescence_files, recipe_table, rule, accept_suggestions)
    return Dataset(dataset.table, dataset.colorants, name=folder.name), report


def _attach_fluorescence(
    folder: Path, dataset: Dataset, files: Sequence[tuple[str, str]], recipe_table: RecipeTable, rule: ThicknessRule, accept_suggestions: bool
) -> tuple[Dataset, FluorescenceReport]:
    if len(files) > 1:
        found = ", ".join(file for file, _ in files)
        fail(folder.name, None, None, f"expected at most one fluorescence table (a CSV whose header names fluorescence or ct/s); found {found}. Keep one per folder.")
    file, text = files[0]
    readings = parse_fluorescence_table(text, file)
    recipe_ids = recipe_table.frame[RECIPE_ID_COLUMN].astype(str).tolist()
    return match_fluorescence(dataset, readings, recipe_ids, thickness_rule=rule, accept_suggestions=accept_suggestions)


def _csv_files_by_kind(folder: Path) -> tuple[list[tuple[str, str]], list[tuple[str, str]], list[tuple[str, str]], list[str]]:
    """``(exports, fluorescence tables, others, notes)``: ``(file, text)`` of each readable CSV, and why others were skipped."""
    csv_files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() == ".csv")
    exports, fluorescence_files, others, notes = [], [], [], []
    for csv_path in csv_files:
        try:
            text, file = read_text(csv_path, None, "a CSV file")
        except IngestError as error:
            notes.append(f"Skipped {csv_path.name}: {error.problems[0].message}")
            continue
        if find_export_header(split_lines(text)) is not None:
            exports.append((file, text))
        elif is_fluorescence_table(text, file):
            fluorescence_files.append((file, text))
        else:
            others.append((file, text))
    return exports, fluorescence_files, others, notes


def _choose_recipe_table(
    folder: Path, export_file: str, others: Sequence[tuple[str, str]], measured_keys: Sequence[str], notes: list[str]
) -> tuple[str, RecipeTable]:
    """The recipe table that matches the most measured names; why others were passed over goes to ``notes``."""
    candidates, failures = [], []
    for file, text in others:
        try:
            recipe_table = parse_recipe_table(text, file)
        except IngestError as error:
            failures.append(error)
            notes.append(f"Not used: {file} is not a recipe table ({_without_file(error.problems[0]).rstrip('.')}).")
            continue
        table_keys = {name_key(recipe_id) for recipe_id in recipe_table.frame[RECIPE_ID_COLUMN]}
        n_matching = sum(key in table_keys for key in measured_keys)
        candidates.append(((n_matching, recipe_table.percent_marked), file, recipe_table))
    if not candidates:
        _fail_without_recipe_table(folder, export_file, failures)
    candidates.sort(key=lambda candidate: candidate[0], reverse=True)
    (score, recipe_file, recipe_table), runners_up = candidates[0], candidates[1:]
    if runners_up and runners_up[0][0] == score:
        fail(
            folder.name,
            None,
            None,
            f"{recipe_file} and {runners_up[0][1]} could both be the recipe table (each matches {score[0]} measured names); "
            "expected one. Move the other file out of the folder.",
        )
    notes.insert(0, f"Recipe table: {recipe_file} ({score[0]} of {len(measured_keys)} measured names match it by name).")
    notes.extend(f"Not used as the recipe table: {file} (only {s[0]} names match it)." for s, file, _ in runners_up)
    return recipe_file, recipe_table


def _fail_without_recipe_table(folder: Path, export_file: str, failures: Sequence[IngestError]) -> NoReturn:
    # A file whose header is a recipe table's but whose rows are bad is the recipe table: every
    # problem of it, by row and column, not "no recipe table found" and its first problem.
    tables_with_bad_rows = [error for error in failures if isinstance(error, RecipeRowsError)]
    if len(tables_with_bad_rows) == 1:
        raise tables_with_bad_rows[0]
    expected = "expected a CSV with a recipe id column and one column per colorant (wt %)"
    headline = Problem(folder.name, None, None, f"no recipe table found next to {export_file}; {expected}.")
    # The first problem of each file says why it is not a recipe table; all of them would bury that.
    first_problems = []
    for error in failures:
        first, n_others = error.problems[0], len(error.problems) - 1 + error.n_more
        first_problems.append(replace(first, message=f"{first.message} ({count_of(n_others, 'more problem')} in this file)"))
    raise IngestError([headline, *first_problems])


def _without_file(problem: Problem) -> str:
    return str(problem)[len(problem.file) :].lstrip(",: ")
