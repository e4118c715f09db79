"""What a column header names: a colorant (with or without a unit), the thickness, a band.

Headers are compared as a chemist would read them: ``GXT-10 (%)`` and ``gxt-10`` name
the same colorant, ``thickness (µm)`` is ``thickness_um``, ``R400 nm`` and ``R400`` are
the 400 nm band.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from difflib import get_close_matches

from model.core.schema import WAVELENGTHS_NM

__all__ = [
    "band_columns_by_wavelength",
    "band_wavelength",
    "column_key",
    "duplicated_bands",
    "is_fluorescence_header",
    "is_thickness_header",
    "missing_bands_message",
    "rename_hint",
    "strip_unit",
]

_BAND_HEADER = re.compile(r"R\s*(\d{3})(?:\s*nm)?", re.IGNORECASE)
_FLUORESCENCE_HEADER = re.compile(r"fluoresc|\bct\s*/\s*s\b|\bcts\b|\bcps\b|counts\s*(?:/|per)\s*s", re.IGNORECASE)
_UNIT_SUFFIX = re.compile(r"\s*(?:[(\[]\s*(?:wt\.?\s*)?%\s*[)\]]|(?:wt\.?\s*)?%)\s*$", re.IGNORECASE)


def strip_unit(header: str) -> tuple[str, bool]:
    """Colorant name from a header, and whether it carried a percent unit.

    ``GXT-10 (%)``, ``GXT-10 [%]``, ``GXT-10 wt%`` and ``GXT-10 %`` all give ``GXT-10``.
    """
    name = _UNIT_SUFFIX.sub("", header).strip()
    return name, name != header.strip()


def column_key(header: str) -> str:
    """How two spellings of a column are compared: no unit, case and spaces ignored."""
    return re.sub(r"\s+", "", strip_unit(header)[0]).casefold()


def is_thickness_header(header: str) -> bool:
    """Whether a header names the film thickness in µm (``thickness_um``, ``Thickness (µm)``)."""
    # 'µ'.casefold() is the Greek mu, so both forms of the micro sign are mapped.
    key = re.sub(r"[\s_()\[\]]", "", header).casefold().replace("μ", "u")
    return key == "thicknessum"


def is_fluorescence_header(header: str) -> bool:
    """Whether a header names a fluorescence intensity (``Fluorescence [ct/s]``, ``fluorescence_cts``, ``cps``).

    A header in percent (``Fluorescent yellow (%)``) names a colorant, not a reading.
    """
    return _FLUORESCENCE_HEADER.search(header) is not None and not strip_unit(header)[1]


def band_wavelength(header: str) -> int | None:
    """The wavelength in nm a band header names (``R400 nm``, ``R400``), or None."""
    match = _BAND_HEADER.fullmatch(header.strip())
    return int(match.group(1)) if match else None


def band_columns_by_wavelength(table_header: Sequence[str]) -> dict[int, int]:
    """Position of each grid band in a header; bands off the 400–700 nm grid are ignored."""
    grid = {int(w) for w in WAVELENGTHS_NM}
    positions: dict[int, int] = {}
    for position, header in enumerate(table_header):
        wavelength = band_wavelength(header)
        if wavelength in grid and wavelength not in positions:
            positions[wavelength] = position
    return positions


def missing_bands_message(present: Collection[int], style: str) -> str | None:
    """What to say when grid bands are missing, or None; ``style`` spells a band (``"R{} nm"``)."""
    missing = [style.format(int(w)) for w in WAVELENGTHS_NM if int(w) not in present]
    if not missing:
        return None
    listed = ", ".join(missing[:8]) + (", …" if len(missing) > 8 else "")
    return (
        f"missing {len(missing)} of the 31 band columns ({listed}); expected "
        f"{style.format(400)} … {style.format(700)} in 10 nm steps. Export or write the full spectrum."
    )


def duplicated_bands(header: Sequence[str]) -> list[str]:
    """The band headers that name a wavelength an earlier column already names."""
    seen: set[int] = set()
    duplicated = []
    for name in header:
        wavelength = band_wavelength(name)
        if wavelength in seen:
            duplicated.append(name)
        elif wavelength is not None:
            seen.add(wavelength)
    return duplicated


def rename_hint(wanted: str, headers: Sequence[str]) -> str:
    """`` The column 'X' may be it: rename it to 'wanted'.`` for the header closest to ``wanted``
    (case, spaces and a unit aside, :func:`column_key`), or ``""`` when none is close."""
    close = get_close_matches(column_key(wanted), [column_key(str(h)) for h in headers], n=1, cutoff=0.6)
    if not close:
        return ""
    header = next(str(h) for h in headers if column_key(str(h)) == close[0])
    return f" The column {header!r} may be it: rename it to {wanted!r}."
