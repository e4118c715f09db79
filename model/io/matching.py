"""Join measured spectra to their recipes by name, and report how each row fared.

A measured name (the export's ``User Color Name``) encodes a recipe id and a film
thickness (:class:`ThicknessRule`: ``OPTI7H`` is a 12 µm film of ``OPTI7``). Names are
compared ignoring case, spaces, ``_`` and ``-``; a near miss of exactly one recipe id is
*suggested*, and enters the dataset only when accepted (:mod:`model.io.names`, whose
:func:`name_key`, :class:`RecipeFinder`, :func:`near_miss` and statuses are re-exported
here). :class:`MatchReport` lists every measured row with what became of it.

Scales: concentrations in weight percent (0–100), film thickness in µm, reflectance as a
factor (0–1, may exceed 1 for fluorescent colorants).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd

from model.core.schema import (
    BAND_COLUMNS,
    RECIPE_ID_COLUMN,
    SAMPLE_ID_COLUMN,
    SOURCE_COLUMN,
    THICKNESS_COLUMN,
    Dataset,
)
from model.io.export import INSTRUMENT_LAB_COLUMNS
from model.io.names import ACCEPTED, DUPLICATE, MATCHED, SUGGESTED, SUSPECT, UNMATCHED, RecipeFinder, name_key, near_miss

__all__ = [
    "ACCEPTED",
    "DUPLICATE",
    "MATCHED",
    "SUGGESTED",
    "SUSPECT",
    "UNMATCHED",
    "FluorescenceReport",
    "MatchEntry",
    "MatchReport",
    "MeasurementMatcher",
    "RecipeFinder",
    "ThicknessRule",
    "match_measurements",
    "name_key",
    "near_miss",
]


@dataclass(frozen=True)
class ThicknessRule:
    """How a measured name encodes the film thickness.

    A name ending in one of ``suffixes`` (after trailing spaces are stripped; case
    sensitive) is a film of that thickness, and its recipe is the name without the suffix
    (and without the spaces before it). Any other name is ``default_um`` thick.

    Parameters
    ----------
    suffixes : mapping of str to float
        Suffix → thickness in µm. The default ``{"H": 12.0}`` reads ``OPTI7H`` and
        ``F052F H`` as 12 µm films of ``OPTI7`` and ``F052F``. Longer suffixes are tried
        first.
    default_um : float
        Thickness in µm of a name without a suffix.

    Examples
    --------
    >>> ThicknessRule().split("F052F H")
    ('F052F', 12.0)
    >>> ThicknessRule({"-thick": 20.0}, default_um=10.0).split("OPTI7-thick")
    ('OPTI7', 20.0)
    """

    suffixes: Mapping[str, float] = field(default_factory=lambda: {"H": 12.0})
    default_um: float = 8.0

    def __post_init__(self) -> None:
        thicknesses = [*self.suffixes.values(), self.default_um]
        if not all(self.suffixes) or not all(0 < float(t) < 1000 for t in thicknesses):
            raise ValueError(
                f"ThicknessRule(suffixes={dict(self.suffixes)!r}, default_um={self.default_um!r}): expected "
                "non-empty suffixes and thicknesses above 0 and below 1000 µm."
            )

    @cached_property
    def _longest_first(self) -> list[str]:
        return sorted(self.suffixes, key=len, reverse=True)

    def split(self, name: str) -> tuple[str, float]:
        """``(recipe name, thickness in µm)`` encoded by a measured name."""
        stripped = name.strip()
        for suffix in self._longest_first:
            if stripped.endswith(suffix) and len(stripped) > len(suffix):
                return stripped[: -len(suffix)].rstrip(), float(self.suffixes[suffix])
        return stripped, float(self.default_um)


@dataclass(frozen=True)
class MatchEntry:
    """One measured row in a :class:`MatchReport`.

    ``status`` is ``"matched"``, ``"accepted suggestion"``, ``"suggested"`` (a near miss
    not accepted: left out of the dataset), ``"unmatched"``, or, in the duplicates and
    suspect lists, ``"duplicate"`` and ``"suspect"``.
    """

    measured_name: str
    row: int | None
    recipe_id: str | None
    thickness_um: float
    status: str
    reason: str

    def describe(self) -> str:
        target = f" → {self.recipe_id}" if self.recipe_id is not None else ""
        return f"{self.measured_name} (row {self.row}){target} at {self.thickness_um:g} µm: {self.reason}"


@dataclass
class MatchReport:
    """What became of each measured row when it was matched to the recipe table.

    Every measured row is in exactly one of ``matched`` (status ``matched`` or
    ``accepted suggestion``; these are in the dataset), ``suggested`` (a near miss not
    accepted) and ``unmatched``. ``duplicates`` and ``suspect`` flag rows again; they
    are kept as their status says.

    Attributes
    ----------
    source : str
        The export's file name.
    matched, suggested, unmatched, duplicates, suspect : list of MatchEntry
    unmeasured_recipes : list of str
        Recipe ids with no measurement in the dataset.
    notes : list of str
        How the inputs were chosen (set by :func:`load_dataset`).
    """

    source: str
    matched: list[MatchEntry] = field(default_factory=list)
    suggested: list[MatchEntry] = field(default_factory=list)
    unmatched: list[MatchEntry] = field(default_factory=list)
    duplicates: list[MatchEntry] = field(default_factory=list)
    suspect: list[MatchEntry] = field(default_factory=list)
    unmeasured_recipes: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    fluorescence: FluorescenceReport | None = None

    @property
    def accepted(self) -> list[MatchEntry]:
        """The suggestions that were accepted into the dataset."""
        return [entry for entry in self.matched if entry.status == ACCEPTED]

    def to_frame(self) -> pd.DataFrame:
        """One row per measured row, in file order.

        Columns ``row, measured_name, recipe_id, thickness_um, status, reason``, then
        ``duplicate`` and ``suspect`` holding the reason for that flag ("" if none).
        """
        flags = {DUPLICATE: self.duplicates, SUSPECT: self.suspect}
        reason_by_row = {kind: {(e.row, e.measured_name): e.reason for e in entries} for kind, entries in flags.items()}
        rows = []
        for entry in sorted(self.matched + self.suggested + self.unmatched, key=lambda e: (e.row is None, e.row)):
            key = (entry.row, entry.measured_name)
            rows.append(
                {
                    "row": entry.row,
                    "measured_name": entry.measured_name,
                    "recipe_id": entry.recipe_id,
                    "thickness_um": entry.thickness_um,
                    "status": entry.status,
                    "reason": entry.reason,
                    DUPLICATE: reason_by_row[DUPLICATE].get(key, ""),
                    SUSPECT: reason_by_row[SUSPECT].get(key, ""),
                }
            )
        columns = ["row", "measured_name", "recipe_id", THICKNESS_COLUMN, "status", "reason", DUPLICATE, SUSPECT]
        return pd.DataFrame(rows, columns=columns)

    def summary(self) -> str:
        """A plain-text account for a person: counts, then each row that needs a look."""
        in_dataset = self.matched
        thickness_counts = pd.Series([e.thickness_um for e in in_dataset], dtype=float).value_counts().sort_index()
        by_thickness = ", ".join(f"{count} at {thickness:g} µm" for thickness, count in thickness_counts.items())
        n_rows = len(self.matched) + len(self.suggested) + len(self.unmatched)
        n_recipes = len({e.recipe_id for e in in_dataset})
        lines = [
            f"{self.source}: {n_rows} measured rows; {len(in_dataset)} in the dataset ({n_recipes} recipes; {by_thickness or 'none'}).",
            *self.notes,
            f"Matched by name: {len(self.matched) - len(self.accepted)}.",
        ]
        sections = [
            ("Accepted suggestions", self.accepted),
            ("Suggestions not accepted, left out", self.suggested),
            ("Unmatched, left out", self.unmatched),
            ("Duplicate readings, all kept", self.duplicates),
            ("Suspect, kept as named: please check", self.suspect),
        ]
        for title, entries in sections:
            lines.append(f"{title} ({len(entries)}):" if entries else f"{title}: none.")
            lines.extend(f"  {entry.describe()}" for entry in entries)
        unmeasured = ", ".join(self.unmeasured_recipes) or "none"
        lines.append(f"Recipes without a measurement in the dataset: {unmeasured}.")
        if self.fluorescence is not None:
            lines.extend(self.fluorescence.summary_lines())
        return "\n".join(lines)


@dataclass
class FluorescenceReport:
    """What became of each fluorescence reading when it was matched to the measured films.

    A reading names a film as the export does (recipe name plus thickness suffix) and is
    matched with the same rules (:class:`ThicknessRule`, :class:`RecipeFinder`). Every
    reading is in exactly one of ``used`` and ``left_out``; a measured row without a
    reading stays in the dataset for colour and is listed in ``rows_without_reading``.

    Attributes
    ----------
    source : str
        The fluorescence table's file name.
    used : list of MatchEntry
        Readings given to measured rows (status ``matched`` or ``accepted suggestion``).
    left_out : list of MatchEntry
        Readings not used, each with why: no recipe of that name, a suggestion not
        accepted, no measured film of that recipe and thickness, or readings of one film
        that disagree.
    rows_without_reading : list of str
        Sample ids of measured rows that got no reading (kept for colour).
    n_rows_with_reading : int
        Measured rows that got a reading (a film measured twice counts twice).
    """

    source: str
    used: list[MatchEntry] = field(default_factory=list)
    left_out: list[MatchEntry] = field(default_factory=list)
    rows_without_reading: list[str] = field(default_factory=list)
    n_rows_with_reading: int = 0

    def to_frame(self) -> pd.DataFrame:
        """One row per reading, in file order: ``row, sample_name, recipe_id, thickness_um, status, reason``."""
        entries = sorted(self.used + self.left_out, key=lambda e: (e.row is None, e.row))
        columns = ["row", "sample_name", "recipe_id", THICKNESS_COLUMN, "status", "reason"]
        return pd.DataFrame(
            [[e.row, e.measured_name, e.recipe_id, e.thickness_um, e.status, e.reason] for e in entries], columns=columns
        )

    @property
    def suggested(self) -> list[MatchEntry]:
        """Readings left out because their name is a near miss nobody accepted yet."""
        return [entry for entry in self.left_out if entry.status == SUGGESTED]

    @property
    def headline(self) -> str:
        """One sentence: how many readings were used, and how many measured rows have none."""
        n_readings = len(self.used) + len(self.left_out)
        return (
            f"Fluorescence readings ({self.source}): {n_readings} rows; {len(self.used)} used, giving "
            f"{self.n_rows_with_reading} measured rows a reading in ct/s; {len(self.rows_without_reading)} rows "
            "without a reading are kept for colour."
        )

    def summary_lines(self) -> list[str]:
        """:attr:`headline`, then each reading left out and the rows kept for colour only."""
        lines = [self.headline]
        accepted = [e for e in self.used if e.status == ACCEPTED]
        if accepted:
            lines.append(f"  Accepted suggestions ({len(accepted)}):")
            lines.extend(f"    {entry.describe()}" for entry in accepted)
        lines.append(f"  Readings left out ({len(self.left_out)}):" if self.left_out else "  Readings left out: none.")
        lines.extend(f"    {entry.describe()}" for entry in self.left_out)
        without = ", ".join(self.rows_without_reading)
        lines.append(
            f"  Measured rows without a reading, kept for colour ({len(self.rows_without_reading)}): {without}."
            if self.rows_without_reading
            else "  Measured rows without a reading: none."
        )
        return lines


# A row whose thickness differs from this many rows on each side sits inside a block of
# the other thickness: labs measure films in blocks, so it is probably mislabeled.
_BLOCK_HALF_WIDTH = 2


def match_measurements(
    measurements: pd.DataFrame,
    recipes: pd.DataFrame,
    colorants: Sequence[str],
    *,
    thickness_rule: ThicknessRule | None = None,
    accept_suggestions: bool = False,
    accept: Collection[str] | None = None,
    source: str | None = None,
) -> tuple[Dataset, MatchReport]:
    """Join measured spectra to their recipes by name, and report how each row fared.

    Each measured name is split by ``thickness_rule`` into a recipe name and a thickness.
    The recipe name matches a recipe id when the two are equal once case, spaces, ``_``
    and ``-`` are ignored (``PBLUE_1`` = ``PBLUE1``, ``OPTI6`` = ``OPTI 6``). A name
    that matches none but is a near miss of exactly one id is *suggested*: it differs
    only in look-alike characters (``BiVaO5`` / ``BiVa05``) or by leading letters or
    zeros (``52C`` / ``F052C``). A suggestion enters the dataset only when accepted.

    Parameters
    ----------
    measurements : pandas.DataFrame
        As returned by :func:`read_instrument_export`: ``name``, ``row``, ``R400`` …
        ``R700``; ``L_instrument`` … are carried along when present.
    recipes : pandas.DataFrame
        ``recipe_id`` and the ``colorants`` columns (wt %), as from :func:`read_recipe_table`.
    colorants : sequence of str
        The colorant columns of ``recipes`` to use, in model input order.
    thickness_rule : ThicknessRule, optional
        Default ``ThicknessRule()``: a trailing ``H`` is 12 µm, otherwise 8 µm.
    accept_suggestions : bool
        Accept every suggestion.
    accept : collection of str, optional
        Measured names (as in the export; compared ignoring case, spaces, ``_``, ``-``)
        whose suggestion is accepted.
    source : str, optional
        Provenance for the ``source`` column; default ``measurements.attrs["source"]``.

    Returns
    -------
    dataset : Dataset
        The matched and accepted rows, in file order: ``sample_id`` (the measured name,
        with `` (row N)`` added where one name was measured more than once),
        ``recipe_id``, the colorants, ``thickness_um``, the bands, ``source`` and the
        instrument's CIELAB columns when present.
    report : MatchReport
        Every measured row, with duplicates (one recipe measured more than once at one
        thickness) and suspect rows (named for one thickness but inside a block of rows
        of the other; or a name with a thickness suffix that is itself a recipe id).

    Raises
    ------
    ValueError
        If ``measurements`` or ``recipes`` lack the columns named above.
    """
    matcher = MeasurementMatcher(measurements, recipes, colorants, thickness_rule=thickness_rule, source=source)
    return matcher.match(accept=accept, accept_suggestions=accept_suggestions)


class MeasurementMatcher:
    """Measured rows joined to a recipe table once; :meth:`match` applies a choice of near misses.

    Finding each row's recipe, its duplicates and the suspect rows does not depend on which
    suggestions a person accepts, so a page that asks first and matches again
    (:func:`model.store.intake.review_upload`) pays for it once. Parameters as for
    :func:`match_measurements`, which is ``MeasurementMatcher(…).match(…)``.

    Raises
    ------
    ValueError
        If ``measurements`` or ``recipes`` lack the columns :func:`match_measurements` names.
    """

    def __init__(
        self,
        measurements: pd.DataFrame,
        recipes: pd.DataFrame,
        colorants: Sequence[str],
        *,
        thickness_rule: ThicknessRule | None = None,
        source: str | None = None,
    ) -> None:
        rule = thickness_rule or ThicknessRule()
        colorants = tuple(colorants)
        missing = [c for c in ("name", "row", *BAND_COLUMNS) if c not in measurements.columns]
        missing += [c for c in (RECIPE_ID_COLUMN, *colorants) if c not in recipes.columns]
        if missing:
            raise ValueError(
                f"match_measurements: columns {missing} are missing; "
                "expected the frames of read_instrument_export and read_recipe_table."
            )
        self.measurements, self.recipes, self.colorants = measurements, recipes, colorants
        self.source = source or measurements.attrs.get("source", "measurements")
        self.recipe_ids = recipes[RECIPE_ID_COLUMN].astype(str).tolist()
        finder = RecipeFinder(self.recipe_ids)
        self.entries: list[MatchEntry] = []  # statuses matched, suggested or unmatched: nothing accepted yet
        for name, row in zip(measurements["name"].astype(str), measurements["row"]):
            base, thickness_um = rule.split(name)
            recipe_id, status, reason = finder.find(base)
            self.entries.append(MatchEntry(name, int(row), recipe_id, thickness_um, status, reason))
        self.duplicates = _duplicates(self.entries)
        self.suspect = _suspects(self.entries, rule, finder)

    def match(self, *, accept: Collection[str] | None = None, accept_suggestions: bool = False) -> tuple[Dataset, MatchReport]:
        """The dataset and report of :func:`match_measurements` with these suggestions accepted."""
        accepted_keys = {name_key(name) for name in accept or ()}
        entries = [
            replace(entry, status=ACCEPTED)
            if entry.status == SUGGESTED and (accept_suggestions or name_key(entry.measured_name) in accepted_keys)
            else entry
            for entry in self.entries
        ]
        report = MatchReport(
            source=self.source,
            matched=[e for e in entries if e.status in (MATCHED, ACCEPTED)],
            suggested=[e for e in entries if e.status == SUGGESTED],
            unmatched=[e for e in entries if e.status == UNMATCHED],
            duplicates=list(self.duplicates),
            suspect=list(self.suspect),
        )
        included = [position for position, e in enumerate(entries) if e.status in (MATCHED, ACCEPTED)]
        measured_recipes = {entries[p].recipe_id for p in included}
        report.unmeasured_recipes = [r for r in dict.fromkeys(self.recipe_ids) if r not in measured_recipes]
        dataset = _matched_dataset(self.measurements, self.recipes, self.colorants, entries, included, self.source)
        return dataset, report


def _reading_groups(entries: Sequence[MatchEntry]) -> dict[tuple[str, float], list[MatchEntry]]:
    """Rows grouped by what they measure: recipe (or unmatched base name) and thickness."""
    groups: dict[tuple[str, float], list[MatchEntry]] = defaultdict(list)
    for entry in entries:
        what = entry.recipe_id if entry.recipe_id is not None else f"unmatched {name_key(entry.measured_name)}"
        groups[(what, entry.thickness_um)].append(entry)
    return groups


def _duplicates(entries: Sequence[MatchEntry]) -> list[MatchEntry]:
    duplicates = []
    for (_, thickness_um), group in _reading_groups(entries).items():
        if len(group) < 2:
            continue
        what = group[0].recipe_id or group[0].measured_name
        rows = ", ".join(str(e.row) for e in group)
        reason = f"{len(group)} readings of {what} at {thickness_um:g} µm (rows {rows}); all kept"
        duplicates.extend(replace(entry, status=DUPLICATE, reason=reason) for entry in group)
    return sorted(duplicates, key=lambda e: e.row)


def _suspects(entries: Sequence[MatchEntry], rule: ThicknessRule, finder: RecipeFinder) -> list[MatchEntry]:
    """Rows whose name may not say what was measured; they are kept as named."""
    groups = _reading_groups(entries)
    thicknesses = [entry.thickness_um for entry in entries]
    suspects = []
    for position, entry in enumerate(entries):
        reasons = []
        # A row with a neighbour of its own thickness is in no block of the other (the common case, checked first).
        in_own_block = (position > 0 and thicknesses[position - 1] == entry.thickness_um) or thicknesses[position + 1 : position + 2] == [entry.thickness_um]
        block_reason = None if in_own_block else _block_mismatch(entries, position, groups)
        if block_reason:
            reasons.append(block_reason)
        base, _ = rule.split(entry.measured_name)
        whole_name_ids = finder.ids_by_key.get(name_key(entry.measured_name), []) if base != entry.measured_name.strip() else []
        if whole_name_ids:
            reasons.append(
                f"the whole name is also the recipe {whole_name_ids[0]!r}; the thickness rule read it as "
                f"{base!r} at {entry.thickness_um:g} µm. Pass a ThicknessRule if that is wrong"
            )
        if reasons:
            suspects.append(replace(entry, status=SUSPECT, reason="; ".join(reasons)))
    return suspects


def _block_mismatch(entries: Sequence[MatchEntry], position: int, groups) -> str | None:
    """Why the row at ``position`` looks like a film of the other thickness, or None.

    Labs measure films in blocks of one thickness, so a row named for one thickness
    between rows of the other is doubtful, but only if relabelling it would fill a gap:
    its recipe has no reading at the other thickness (``PG1`` among the 12 µm rows, with
    no ``PG1H`` anywhere). A recipe measured at both thicknesses in turn is not suspect.
    """
    entry = entries[position]
    before = entries[max(0, position - _BLOCK_HALF_WIDTH) : position]
    after = entries[position + 1 : position + 1 + _BLOCK_HALF_WIDTH]
    neighbours = [*before, *after]
    neighbour_thicknesses = {e.thickness_um for e in neighbours}
    if len(neighbours) <= _BLOCK_HALF_WIDTH or len(neighbour_thicknesses) != 1 or entry.thickness_um in neighbour_thicknesses:
        return None
    other_um = neighbour_thicknesses.pop()
    reason = (
        f"named as {entry.thickness_um:g} µm but rows {neighbours[0].row}–{neighbours[-1].row} around it "
        f"are all {other_um:g} µm, so it may be mislabeled"
    )
    if entry.recipe_id is None:
        return reason
    if groups.get((entry.recipe_id, other_um)):
        return None
    reason += f"; {entry.recipe_id} has no {other_um:g} µm reading"
    others = [str(e.row) for e in groups[(entry.recipe_id, entry.thickness_um)] if e is not entry]
    if others:
        reason += f" and another {entry.thickness_um:g} µm one (row {', '.join(others)})"
    return reason


def _matched_dataset(measurements, recipes, colorants, entries, included, source) -> Dataset:
    chosen = [entries[p] for p in included]
    name_counts = Counter(e.measured_name for e in chosen)
    sample_ids = [e.measured_name if name_counts[e.measured_name] == 1 else f"{e.measured_name} (row {e.row})" for e in chosen]
    recipe_ids = [e.recipe_id for e in chosen]
    # Ambiguous ids never match, so the ids that did are unique in the table.
    concentrations = recipes.assign(**{RECIPE_ID_COLUMN: recipes[RECIPE_ID_COLUMN].astype(str)})
    concentrations = concentrations.drop_duplicates(RECIPE_ID_COLUMN, keep=False).set_index(RECIPE_ID_COLUMN)[list(colorants)]

    measured = measurements.iloc[included].reset_index(drop=True)
    recipe_values = concentrations.loc[recipe_ids].to_numpy(dtype=float) if chosen else np.empty((0, len(colorants)))
    band_values = measured[BAND_COLUMNS].to_numpy(dtype=float)
    # One frame from all its columns at once: inserting 40 columns one by one costs more than the data.
    columns: dict[str, object] = {SAMPLE_ID_COLUMN: sample_ids, RECIPE_ID_COLUMN: recipe_ids}
    columns.update(zip(colorants, recipe_values.T))
    columns[THICKNESS_COLUMN] = np.array([e.thickness_um for e in chosen], dtype=float)
    columns.update(zip(BAND_COLUMNS, band_values.T))
    table = pd.DataFrame(columns)
    table[SOURCE_COLUMN] = source
    for column in INSTRUMENT_LAB_COLUMNS:
        if column in measured.columns:
            table[column] = measured[column].to_numpy(dtype=float)
    return Dataset(table, colorants, name=Path(source).stem)


