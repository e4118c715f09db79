"""Read a reflectance spectrum pasted as text (the Formulate page's spectral target).

Accepted shapes: 31 values (400–700 nm in 10 nm steps), 31 ``wavelength value`` lines or
a header row of band names with a value row, and a whole row copied from the instrument
export. Values above 3 are read as percent. Result: reflectance factor 0–1 (may exceed 1).
"""

from __future__ import annotations

import csv
import re

import numpy as np

from model.core.schema import WAVELENGTHS_NM
from model.io.cells import MAX_REFLECTANCE, parse_number

__all__ = ["SpectrumParseError", "parse_spectrum"]

_N_BANDS = len(WAVELENGTHS_NM)


class SpectrumParseError(ValueError):
    """Pasted text could not be read as a 31-band reflectance spectrum."""


# A pasted spectrum with any value above this is taken as percent.
_PERCENT_ABOVE = 3.0


def _to_number(token: str) -> float | None:
    # Pasted cells may keep a spreadsheet's quotes. A trailing % is dropped: whether the
    # spectrum is in percent is judged from its values (_PERCENT_ABOVE). Words such as
    # "nan" are not numbers here, so they count as text among the values.
    text = token.strip().strip('"').strip("'")
    return parse_number(text, decimal_comma=True, percent_sign=True, digits_only=True)


def _bands_from_header(lines: list[str]) -> np.ndarray | None:
    """Read a header line naming R400 … R700 and the data row below it, if pasted so."""
    for index, line in enumerate(lines[:-1]):
        if not re.search(r"R\s*400", line, re.IGNORECASE):
            continue
        delimiter = max(";,\t", key=line.count)
        header = next(csv.reader([line], delimiter=delimiter))
        row = next(csv.reader([lines[index + 1]], delimiter=delimiter))
        positions = {}
        for position, name in enumerate(header):
            match = re.fullmatch(r"\s*R\s*(\d{3})\s*(?:nm)?\s*", name, re.IGNORECASE)
            if match:
                positions[int(match.group(1))] = position
        missing = [int(w) for w in WAVELENGTHS_NM if int(w) not in positions]
        if missing:
            raise SpectrumParseError(
                f"The pasted header names reflectance columns but lacks {', '.join(f'R{w}' for w in missing)}; "
                "expected R400 … R700 in 10 nm steps."
            )
        values = []
        for wavelength in WAVELENGTHS_NM:
            position = positions[int(wavelength)]
            value = _to_number(row[position]) if position < len(row) else None
            if value is None:
                cell = row[position] if position < len(row) else "(missing)"
                raise SpectrumParseError(f"The value under R{int(wavelength)} is {cell!r}; expected a reflectance number.")
            values.append(value)
        return np.array(values)
    return None


def _band_name(index: int) -> str:
    return f"R{int(WAVELENGTHS_NM[index])}"


def _split_fields(line: str) -> list[str]:
    """The fields of one pasted line: ';' or tab separated (decimal commas survive), else commas or spaces."""
    if ";" in line or "\t" in line:
        return [cell for cell in re.split(r"[;\t]", line) if cell.strip()]
    return [cell for cell in re.split(r"[,\s]+", line) if cell.strip()]


def _bands_from_pairs(lines: list[str]) -> np.ndarray | None:
    """Read ``wavelength value`` lines (400 … 700 nm, one per line), if pasted so.

    Only lines whose wavelengths are exactly the 31 bands count as pairs; then every
    value must be a number, because one bad value must not shift the others.
    """
    if lines and not any(_to_number(field) is not None for field in _split_fields(lines[0])):
        lines = lines[1:]  # a header line such as "nm  R"
    rows = [_split_fields(line) for line in lines]
    if len(rows) != _N_BANDS or any(len(fields) != 2 for fields in rows):
        return None
    wavelengths = [_to_number(fields[0]) for fields in rows]
    if any(w is None for w in wavelengths) or not np.allclose(wavelengths, WAVELENGTHS_NM):
        return None
    values = []
    for index, (_, cell) in enumerate(rows):
        value = _to_number(cell)
        if value is None:
            raise SpectrumParseError(
                f"The value for {_band_name(index)} (line '{lines[index].strip()}') is {cell.strip()!r}; "
                "expected a reflectance number on every wavelength–value line."
            )
        values.append(value)
    return np.array(values)


def _bands_from_export_row(line: str) -> np.ndarray:
    """The last 31 fields of one row copied from the instrument export (R400 … R700)."""
    if ";" in line or "\t" in line:
        fields = next(csv.reader([line], delimiter=max(";\t", key=line.count)))
    elif "," in line:
        fields = next(csv.reader([line], delimiter=","))
    else:
        fields = line.split()
    while fields and not fields[-1].strip():
        fields.pop()  # a trailing separator
    values = []
    for index, cell in enumerate(fields[-_N_BANDS:]):
        value = _to_number(cell)
        if value is None:
            raise SpectrumParseError(
                f"In the pasted export row the value for {_band_name(index)} is {cell.strip()!r}; expected a reflectance "
                f"number in each of the row's last {_N_BANDS} fields (R400 … R700)."
            )
        values.append(value)
    return np.array(values)


def _bands_from_list(tokens: list[str]) -> np.ndarray:
    """31 numbers in a row; words before the first one (a sample name) are ignored, words among them are not."""
    is_number = [_to_number(token) is not None for token in tokens]
    first = is_number.index(True)
    values, stray = [], None
    for token, number in zip(tokens[first:], is_number[first:]):
        if number:
            values.append(_to_number(token))
        elif stray is None:
            stray = (token.strip(), len(values))
    if stray is not None:
        token, n_before = stray
        where = f"after {_band_name(n_before - 1)}" if n_before == _N_BANDS else f"between {_band_name(n_before - 1)} and {_band_name(n_before)}"
        raise SpectrumParseError(
            f"Found {_N_BANDS} numbers, but also {token!r} {where}; expected only the {_N_BANDS} reflectance values, "
            "so that each lands on its band. Remove it or correct the value."
        )
    return np.array(values)


def _as_reflectance_factor(values: np.ndarray, notes: list[str]) -> np.ndarray:
    """Pasted values (factor or percent) as reflectance factors, refusing what no spectrum holds."""
    invalid = np.flatnonzero(~np.isfinite(values) | (values < 0))
    if invalid.size:
        index = invalid[0]
        raise SpectrumParseError(
            f"Reflectance values must be finite and not negative; {_band_name(index)} is {values[index]:g}. Check the pasted numbers."
        )
    percent = values.max() > _PERCENT_ABOVE
    # Factors above _PERCENT_ABOVE are read as percent, so only percent can exceed the bound.
    too_large = np.flatnonzero(values > 100.0 * MAX_REFLECTANCE)
    if too_large.size:
        index = too_large[0]
        how_many = f" (so are {too_large.size - 1} more values)" if too_large.size > 1 else ""
        raise SpectrumParseError(
            f"{_band_name(index)} is {values[index]:g}, too large for a reflectance{how_many}; "
            f"expected reflectance factors from 0 to {MAX_REFLECTANCE:g} (usually 0–1), or percent from 0 to {100 * MAX_REFLECTANCE:g}."
        )
    if percent:
        notes.append(f"values above {_PERCENT_ABOVE:g} were read as percent and divided by 100")
        return values / 100.0
    return values


def parse_spectrum(text: str) -> tuple[np.ndarray, list[str]]:
    """Read a reflectance spectrum pasted as text.

    Accepted shapes:

    - 31 numbers (400–700 nm in 10 nm steps) separated by commas, semicolons, tabs,
      spaces or line breaks, optionally after a name;
    - two columns, wavelength and value (``400 0.12`` per line, 400 … 700 nm);
    - one row copied from the spectrophotometer's export (``Spectra.csv``): the
      reflectance bands are its last 31 fields;
    - a header line naming ``R400 nm`` … ``R700 nm`` with the data row below it.

    Values are reflectance factors (0–5, usually 0–1). If any is above 3 the spectrum is
    taken as percent and divided by 100 (with a note); percent above 500 is refused.
    Input that could be read more than one way (a word among the numbers, a bad value in
    a band) is refused rather than guessed at: a shifted spectrum looks plausible.

    Parameters
    ----------
    text : str

    Returns
    -------
    reflectance : numpy.ndarray, shape (31,)
        Reflectance factor, 0–5 (usually 0–1; above 1 for fluorescent samples).
    notes : list of str
        What was assumed while reading, in words.

    Raises
    ------
    SpectrumParseError
        The text holds no 31-band spectrum, or a value that is not a finite, non-negative
        reflectance; the message names the band and says what is expected.
    """
    notes: list[str] = []
    text = (text or "").strip()
    if not text:
        raise SpectrumParseError("Nothing was pasted; paste 31 reflectance values (400–700 nm in 10 nm steps).")
    lines = [line for line in text.splitlines() if line.strip()]
    values = _bands_from_header(lines)
    if values is not None:
        notes.append("read the R400 … R700 columns under the pasted header")
        return _as_reflectance_factor(values, notes).astype(float), notes
    values = _bands_from_pairs(lines)
    if values is not None:
        notes.append("read wavelength–value pairs")
        return _as_reflectance_factor(values, notes).astype(float), notes
    tokens = [cell for line in lines for cell in _split_fields(line)]
    numbers = [n for n in (_to_number(t) for t in tokens) if n is not None]
    has_words = len(numbers) < len(tokens)
    if len(numbers) == 2 * _N_BANDS and not has_words and np.allclose(numbers[0::2], WAVELENGTHS_NM):
        values = np.array(numbers[1::2])
        notes.append("read wavelength–value pairs")
    elif len(numbers) == _N_BANDS:
        values = _bands_from_list(tokens)
    elif len(numbers) > _N_BANDS and has_words and len(lines) == 1:
        values = _bands_from_export_row(lines[0])
        notes.append(f"took the last {_N_BANDS} fields of the pasted row as R400 … R700 (the instrument export's order)")
    else:
        found = f"{len(numbers)} number{'s' if len(numbers) != 1 else ''}"
        raise SpectrumParseError(
            f"Found {found} in the pasted text; expected {_N_BANDS} reflectance values (400–700 nm in 10 nm steps), "
            "31 'wavelength value' lines, or a whole row copied from the instrument export."
        )
    return _as_reflectance_factor(values, notes).astype(float), notes
