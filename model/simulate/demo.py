"""The synthetic demo data that ships with Huecast, written in the instrument's own export format.

A new user sees a working app without real data. The demo imitates the real pp-inks
set: ladders of each of five colorants and their mixtures, each recipe drawn down at
8 µm and 12 µm (a few read twice), simulated by :mod:`model.simulate.film` and written
as the handheld spectrophotometer's library export next to a recipe table, with the
near-miss names a real lab produces.

It also writes a fluorescence table (``Fluorescence.csv``, ct/s per film), as the lab's
fluorometer does, from the simulated films' emitted light.

Run ``python -m model.simulate --out data/demo --seed 2026`` to regenerate it.
"""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd

from model.core import colorimetry
from model.core.schema import RECIPE_ID_COLUMN, SAMPLE_ID_COLUMN, THICKNESS_COLUMN, WAVELENGTHS_NM
from model.simulate.film import (
    DEMO_COLORANTS,
    THICK_FILM_UM,
    THIN_FILM_UM,
    Colorant,
    measure,
    measure_fluorescence,
    repeatability_delta_e00,
    simulate_fluorescence_cts,
    simulate_reflectance,
)

__all__ = ["demo_measurement_plan", "demo_recipes", "main", "write_demo"]


# ------------------------------------------------------------------ recipe design

# Ladders and mixtures in the manner of the real pp-inks design: single-pigment ladders
# of five levels, fluorescent-yellow-led binaries and ternaries, a few four- and
# five-colorant mixes. A few levels are odd numbers, as weighed-out recipes are.
# Each entry: recipe name → {colorant: wt %}.
_LADDERS = {
    # prefix: (colorant, [(nominal level in the name, weighed-out wt %), ...])
    "FY": ("FluoYellow", [(5, 5), (10, 10), (15, 15), (20, 20), (25, 25)]),
    "BV": ("BiVaYellow", [(1, 1), (2, 2), (5, 5), (10, 10), (20, 20)]),
    "PG": ("PhthaloGreen", [(0.5, 0.5467), (0.75, 0.739), (1, 0.995), (1.5, 1.475), (2, 2.01)]),
    "BLUE": ("PearlBlue", [(1, 0.99625), (2, 2.03), (3, 2.991), (5, 3.75), (8, 6.02)]),
    "QM": ("QuinMagenta", [(0.5, 0.5), (1, 1), (2, 2), (3, 3.02), (5, 5)]),
}
_MIXTURES: list[dict[str, float]] = [
    # binaries
    {"FluoYellow": 10, "BiVaYellow": 5},
    {"FluoYellow": 15, "BiVaYellow": 3},
    {"FluoYellow": 20, "BiVaYellow": 10},
    {"FluoYellow": 25, "BiVaYellow": 2},
    {"FluoYellow": 15.007, "PhthaloGreen": 0.448},
    {"FluoYellow": 14.83, "PhthaloGreen": 0.984},
    {"FluoYellow": 22, "PhthaloGreen": 1.5},
    {"FluoYellow": 14.88, "PearlBlue": 0.974},
    {"FluoYellow": 14.3, "PearlBlue": 3},
    {"FluoYellow": 20, "QuinMagenta": 1},
    {"BiVaYellow": 10, "PhthaloGreen": 1},
    {"BiVaYellow": 5, "PearlBlue": 5},
    {"BiVaYellow": 10, "QuinMagenta": 2},
    {"PearlBlue": 5, "QuinMagenta": 2},
    {"PhthaloGreen": 1, "QuinMagenta": 1.5},
    # ternaries
    {"FluoYellow": 14.8, "BiVaYellow": 4.72, "PhthaloGreen": 0.98},
    {"FluoYellow": 14.8, "BiVaYellow": 5.049, "PearlBlue": 2.91},
    {"FluoYellow": 20, "BiVaYellow": 5, "QuinMagenta": 0.8},
    {"FluoYellow": 22, "PhthaloGreen": 0.5, "PearlBlue": 3},
    {"BiVaYellow": 15, "QuinMagenta": 3, "PearlBlue": 1},
    {"FluoYellow": 10, "PearlBlue": 6, "QuinMagenta": 0.5},
    {"BiVaYellow": 12, "PearlBlue": 4, "PhthaloGreen": 0.75},
    # four and five colorants
    {"FluoYellow": 19.96, "BiVaYellow": 5.949, "PhthaloGreen": 0.978, "PearlBlue": 3.03},
    {"FluoYellow": 22, "BiVaYellow": 5, "PearlBlue": 9, "QuinMagenta": 0.6},
    {"FluoYellow": 12, "BiVaYellow": 8, "PhthaloGreen": 0.6, "QuinMagenta": 1.2},
    {"FluoYellow": 18, "BiVaYellow": 6, "PhthaloGreen": 1.2, "PearlBlue": 2, "QuinMagenta": 0.4},
]
#: Recipes read a second time at 8 µm, as OPTI15 was in the real data.
_DUPLICATED_RECIPES = ("MIX9", "BV5", "MIX23")
#: Export names that differ from the recipe table at the normalisation level only
#: (an underscore or a space), so the demo exercises the name matcher.
_EXPORT_NAME_OVERRIDES = {"BLUE1": "BLUE_1"}
_TABLE_NAME_OVERRIDES = {"MIX7": "MIX 7"}
#: Ladders whose 12 µm films have no fluorescence reading, as the real PG and PBLUE ladders
#: have none: the lab did not read films it knew could not fluoresce. They stay in for colour.
_UNREAD_THICK_LADDERS = ("PG", "BLUE")


def demo_recipes(colorants: tuple[Colorant, ...] = DEMO_COLORANTS) -> pd.DataFrame:
    """The demo recipe design: one row per recipe, independent of thickness.

    Parameters
    ----------
    colorants : tuple of Colorant
        Must include the five demo colorant names.

    Returns
    -------
    pandas.DataFrame
        ``recipe_id`` then one column per colorant (wt %): 25 ladder recipes (five
        colorants × five levels) and 26 mixtures of two to five colorants
        (``MIX1`` … ``MIX26``).
    """
    names = [c.name for c in colorants]
    needed = {colorant for colorant, _ in _LADDERS.values()} | {c for mixture in _MIXTURES for c in mixture}
    if needed - set(names):
        raise ValueError(f"demo_recipes needs the demo colorants; missing {sorted(needed - set(names))}.")
    rows = []
    for prefix, (colorant, levels) in _LADDERS.items():
        # Ladder names carry the nominal level, as the real names do (PG0.75 holds 0.739 %).
        for nominal, weighed in levels:
            rows.append({RECIPE_ID_COLUMN: f"{prefix}{nominal:g}", colorant: float(weighed)})
    for number, mixture in enumerate(_MIXTURES, start=1):
        rows.append({RECIPE_ID_COLUMN: f"MIX{number}", **mixture})
    table = pd.DataFrame(rows, columns=[RECIPE_ID_COLUMN, *names]).fillna(0.0)
    return table


def demo_measurement_plan(colorants: tuple[Colorant, ...] = DEMO_COLORANTS) -> pd.DataFrame:
    """Every demo measurement: each recipe at 8 and 12 µm, plus the duplicate readings.

    Returns
    -------
    pandas.DataFrame
        ``sample_id`` (the name in the export: a trailing ``H`` for 12 µm),
        ``recipe_id``, the colorant columns (wt %) and ``thickness_um`` (µm), in the
        order the readings are taken: the 8 µm ladders, then the 12 µm ladders, then
        each mixture at 8 and 12 µm, then the repeat readings.
    """
    recipes = demo_recipes(colorants)
    is_ladder = ~recipes[RECIPE_ID_COLUMN].str.startswith("MIX")
    blocks = []
    for thickness, suffix in ((THIN_FILM_UM, ""), (THICK_FILM_UM, "H")):
        block = recipes[is_ladder].assign(**{THICKNESS_COLUMN: thickness})
        blocks.append(block.assign(**{SAMPLE_ID_COLUMN: block[RECIPE_ID_COLUMN] + suffix}))
    for _, mixture in recipes[~is_ladder].iterrows():
        for thickness, suffix in ((THIN_FILM_UM, ""), (THICK_FILM_UM, "H")):
            row = mixture.to_frame().T.assign(**{THICKNESS_COLUMN: thickness})
            blocks.append(row.assign(**{SAMPLE_ID_COLUMN: row[RECIPE_ID_COLUMN] + suffix}))
    repeats = recipes[recipes[RECIPE_ID_COLUMN].isin(_DUPLICATED_RECIPES)].assign(**{THICKNESS_COLUMN: THIN_FILM_UM})
    blocks.append(repeats.assign(**{SAMPLE_ID_COLUMN: repeats[RECIPE_ID_COLUMN]}))
    plan = pd.concat(blocks, ignore_index=True)
    names = [c.name for c in colorants]
    plan[names] = plan[names].astype(float)
    plan[SAMPLE_ID_COLUMN] = plan[SAMPLE_ID_COLUMN].replace(_EXPORT_NAME_OVERRIDES)
    return plan[[SAMPLE_ID_COLUMN, RECIPE_ID_COLUMN, *names, THICKNESS_COLUMN]]


# ---------------------------------------------------------------- export writing

_EXPORT_HEADER = (
    "Index;Original Library Name;Saved Collection Name;Original Color Name;User Color Name;Scan Type;"
    "DE00 to Scan;Match Degree;Scan Reference Index;Nix Device;Note;Date Saved;Illuminant;Observer;"
    "Measurement Mode;L;a;b;L;c;h;X;Y;Z;sRGB R;sRGB G;sRGB B;HEX;Density Status;Density C;Density M;"
    "Density Y;Density K;" + ";".join(f"R{int(w)} nm" for w in WAVELENGTHS_NM)
)
_DEVICE_NAME = "Simulated Spectro"
_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _export_number(value: float) -> str:
    """The instrument's number format: 9 significant digits, unpadded exponent (``9.75997226e+1``)."""
    mantissa, exponent = f"{value:.8e}".split("e")
    return f"{mantissa}e{exponent[0]}{int(exponent[1:])}"


def _export_date(moment: dt.datetime) -> str:
    """``Mon Oct 27 2025 12:43:48 GMT+0000 (Coordinated Universal Time)``, locale-independent."""
    return (
        f"{_WEEKDAYS[moment.weekday()]} {_MONTHS[moment.month - 1]} {moment.day:02d} {moment.year} "
        f"{moment:%H:%M:%S} GMT+0000 (Coordinated Universal Time)"
    )


def _percent(value: float) -> str:
    """A recipe-table cell, ``0.99625%``: shortest exact decimal, as the lab writes it."""
    return np.format_float_positional(float(value), trim="-") + "%"


def _scan_times(count: int, rng: np.random.Generator) -> list[dt.datetime]:
    """Reading times: sessions of about 20 readings on weekdays, 15–60 s apart."""
    moment = dt.datetime(2026, 1, 12, 10, 0, 0)
    times = []
    for index in range(count):
        if index and index % 20 == 0:
            moment = (moment + dt.timedelta(days=1)).replace(hour=10, minute=0, second=0)
            while moment.weekday() >= 5:
                moment += dt.timedelta(days=1)
            moment += dt.timedelta(minutes=int(rng.integers(0, 300)))
        moment += dt.timedelta(seconds=int(rng.integers(15, 61)))
        times.append(moment)
    return times


def _export_text(plan: pd.DataFrame, reflectance: np.ndarray, rng: np.random.Generator) -> str:
    Lab = colorimetry.reflectance_to_Lab(reflectance)
    LCh = colorimetry.Lab_to_LCh(Lab)
    XYZ = colorimetry.reflectance_to_XYZ(reflectance) / 100.0  # the export states XYZ on a 0–1 scale
    sRGB, _ = colorimetry.Lab_to_sRGB(Lab)
    sRGB_codes = np.round(sRGB * 255).astype(int)
    hex_codes = np.atleast_1d(colorimetry.sRGB_to_hex(sRGB))
    times = _scan_times(len(plan), rng)
    export_time = times[-1] + dt.timedelta(hours=2)
    lines = [
        "sep=;",
        f"Export Date/Time;{_export_date(export_time)},User Email;-,Saved Library Name;MASTER",
        "Exported From; Saved Library",
        _EXPORT_HEADER,
    ]
    for row in range(len(plan)):
        colour_columns = [*Lab[row], *LCh[row], *XYZ[row]]
        fields = [
            str(row + 1),
            '"-"',
            '"MASTER"',
            '"-"',
            f'"{plan[SAMPLE_ID_COLUMN].iloc[row]}"',
            "Scan",
            '"-"',
            '"-"',
            '"-"',
            _DEVICE_NAME,
            '"-"',
            _export_date(times[row]),
            "D65",
            "10",
            "M2",
            *(_export_number(v) for v in colour_columns),
            *(str(v) for v in sRGB_codes[row]),
            str(hex_codes[row]),
            "undefined",
            "-",
            "-",
            "-",
            "-",
            *(_export_number(v) for v in reflectance[row]),
        ]
        lines.append(";".join(fields))
    return "\n".join(lines) + "\n"


def _recipe_table_text(recipes: pd.DataFrame, colorant_names: list[str]) -> str:
    lines = [",".join(["Sample ID", *(f"{name} (%)" for name in colorant_names)])]
    for _, recipe in recipes.iterrows():
        name = _TABLE_NAME_OVERRIDES.get(recipe[RECIPE_ID_COLUMN], recipe[RECIPE_ID_COLUMN])
        lines.append(",".join([name, *(_percent(recipe[c]) for c in colorant_names)]))
    return "\n".join(lines) + "\n"


def _fluorescence_table_text(recipes: pd.DataFrame, colorant_names: list[str], seed: int) -> str:
    """``Sample ID,Fluorescence [ct/s]``: one reading per film (recipe at 8 and 12 µm), named as
    the recipe plus the thickness suffix, in the compact spelling (``MIX7`` where the recipe
    table says ``MIX 7``), as the real fluorescence table is written."""
    films = []
    for _, recipe in recipes.iterrows():
        for thickness, suffix in ((THIN_FILM_UM, ""), (THICK_FILM_UM, "H")):
            unread = suffix and str(recipe[RECIPE_ID_COLUMN]).rstrip("0123456789.") in _UNREAD_THICK_LADDERS
            if not unread:
                films.append((f"{recipe[RECIPE_ID_COLUMN]}{suffix}", recipe[colorant_names].to_numpy(dtype=float), thickness))
    true_cts = simulate_fluorescence_cts(np.array([c for _, c, _ in films]), np.array([t for _, _, t in films]))
    # Its own noise stream, so adding this file left the export's bytes as they were.
    readings = measure_fluorescence(true_cts, np.random.default_rng([seed, 1]))
    lines = ["Sample ID,Fluorescence [ct/s]", *(f"{name},{reading:.0f}" for (name, _, _), reading in zip(films, readings))]
    return "\n".join(lines) + "\n"


def write_demo(out_dir, seed: int = 2026) -> dict[str, Path]:
    """Write the synthetic demo: an instrument export, its recipe table and a fluorescence table.

    Parameters
    ----------
    out_dir : str or pathlib.Path
        Folder to write into (created if absent). Existing files are overwritten.
    seed : int
        Seed of the measurement noise and reading times. The same seed writes
        byte-identical files.

    Returns
    -------
    dict of str to pathlib.Path
        ``{"spectra": …/Spectra.csv, "concentrations": …/Concentrations.csv,
        "fluorescence": …/Fluorescence.csv}``.

    Notes
    -----
    ``Spectra.csv`` follows the real instrument export: a ``sep=;`` line, two metadata
    lines, a ``;``-separated table with the sample name in ``User Color Name``,
    CIELAB (D65, 10°) computed from the spectrum, XYZ on a 0–1 scale, sRGB and
    ``R400 nm`` … ``R700 nm``. ``Concentrations.csv`` has ``Sample ID`` and one
    ``<colorant> (%)`` column per colorant with values such as ``0.99625%``.
    ``Fluorescence.csv`` has ``Sample ID,Fluorescence [ct/s]``, one reading per film
    (:func:`model.simulate.film.simulate_fluorescence_cts`, 3 % reading noise, rounded to
    10 ct/s; 0 for a film without the fluorescent colorant), like the real pp-inks file.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    names = [c.name for c in DEMO_COLORANTS]
    plan = demo_measurement_plan()
    true_reflectance = simulate_reflectance(plan[names].to_numpy(), plan[THICKNESS_COLUMN].to_numpy())
    measured = measure(true_reflectance, rng)
    paths = {"spectra": out_dir / "Spectra.csv", "concentrations": out_dir / "Concentrations.csv", "fluorescence": out_dir / "Fluorescence.csv"}
    # newline="\n" so the bytes are the same on every platform.
    paths["spectra"].write_text(_export_text(plan, measured, rng), encoding="utf-8", newline="\n")
    paths["concentrations"].write_text(_recipe_table_text(demo_recipes(), names), encoding="utf-8", newline="\n")
    paths["fluorescence"].write_text(_fluorescence_table_text(demo_recipes(), names, seed), encoding="utf-8", newline="\n")
    return paths


def main(argv: list[str] | None = None) -> None:
    """Command line: ``python -m model.simulate --out data/demo --seed 2026``."""
    parser = argparse.ArgumentParser(description="Write Huecast's synthetic demo data (instrument export + recipe table + fluorescence table).")
    parser.add_argument("--out", default="data/demo", help="output folder (default: data/demo)")
    parser.add_argument("--seed", type=int, default=2026, help="noise seed (default: 2026)")
    parser.add_argument(
        "--report", action="store_true", help="also print the simulated instrument repeatability (mean ΔE00)"
    )
    args = parser.parse_args(argv)
    paths = write_demo(args.out, seed=args.seed)
    plan = demo_measurement_plan()
    n_fluorescence = len(paths["fluorescence"].read_text(encoding="utf-8").splitlines()) - 1
    print(
        f"Wrote {paths['spectra']} ({len(plan)} readings), {paths['concentrations']} "
        f"({len(demo_recipes())} recipes) and {paths['fluorescence']} ({n_fluorescence} fluorescence readings)."
    )
    if args.report:
        names = [c.name for c in DEMO_COLORANTS]
        truth = simulate_reflectance(plan[names].to_numpy(), plan[THICKNESS_COLUMN].to_numpy())
        delta = repeatability_delta_e00(np.repeat(truth, 400, axis=0), np.random.default_rng(args.seed))
        print(f"Repeatability between two readings: mean ΔE00 {delta.mean():.3f}, median {np.median(delta):.3f}.")


if __name__ == "__main__":
    main()
