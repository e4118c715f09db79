"""Colour swatches as HTML, for ``st.html``, table cells and the report.

Colours are display sRGB hex codes (``#rrggbb``), as
:func:`model.core.colorimetry.sRGB_to_hex` writes them; a colour outside the sRGB gamut
arrives already clipped to the nearest displayable one.
"""

from __future__ import annotations

import html

import pandas as pd

from model.core.schema import SAMPLE_ID_COLUMN
from model.core.tolerance import TOLERANCE_COLOURS

__all__ = ["swatch_html", "swatch_pair_html", "swatch_data_uri", "with_swatch_column", "swatch_grid_html", "SWATCH_GRID_CSS"]

#: Styles of :func:`swatch_grid_html`'s tiles (classes ``hc-*``), shared by the page and the report.
SWATCH_GRID_CSS = (
    ".hc-grid{display:flex;flex-wrap:wrap;gap:6px;font-family:sans-serif}"
    ".hc-tile{width:92px;border:1px solid #ccc;border-radius:4px;overflow:hidden;background:#fff}"
    ".hc-pair{display:flex;height:46px}.hc-pair div{flex:1}"
    ".hc-bar{color:#fff;font-size:12px;font-weight:bold;text-align:center;padding:1px 0}"
    ".hc-name{font-size:10px;color:#333;text-align:center;white-space:nowrap;overflow:hidden;text-overflow:ellipsis;padding:1px 2px}"
)


def swatch_html(hex_code: str, height_px: int = 160, label: str = "") -> str:
    """A filled rectangle of one colour, with an optional caption under it.

    Parameters
    ----------
    hex_code : str, ``#rrggbb`` (display sRGB).
    height_px : int, the rectangle's height in CSS pixels.
    label : str, plain text (escaped here).
    """
    caption = f'<div style="font-size:0.85rem;margin-top:4px">{html.escape(label)}</div>' if label else ""
    return (
        f'<div style="background:{hex_code};height:{height_px}px;border-radius:8px;'
        f'border:1px solid rgba(0,0,0,0.15)" title="{hex_code}"></div>{caption}'
    )


def swatch_pair_html(target_hex: str, predicted_hex: str) -> str:
    """Two colours side by side, captioned ``target`` (left) and ``predicted`` (right)."""
    return (
        "<div style='display:flex;height:70px;border-radius:6px;overflow:hidden;border:1px solid #ccc'>"
        f"<div style='flex:1;background:{target_hex}'></div><div style='flex:1;background:{predicted_hex}'></div></div>"
        "<div style='display:flex;font-size:12px;color:#666'><div style='flex:1'>target</div><div style='flex:1'>predicted</div></div>"
    )


def swatch_data_uri(hex_code: str) -> str:
    """A 40 × 20 px SVG square of one colour as a data URI, for an image column of a table."""
    return (
        "data:image/svg+xml;utf8,<svg xmlns='http://www.w3.org/2000/svg' width='40' height='20'>"
        f"<rect width='40' height='20' fill='%23{hex_code.lstrip('#')}'/></svg>"
    )


def with_swatch_column(table: pd.DataFrame, n_rows: int | None = None) -> pd.DataFrame:
    """The first ``n_rows`` of a predictions table (all when None) with a ``swatch`` image first.

    ``table`` has a ``hex`` column (display sRGB); ``swatch`` holds
    :func:`swatch_data_uri` of each. The input is not changed (it may be a cached object).
    """
    shown = (table if n_rows is None else table.head(n_rows)).copy()
    shown.insert(0, "swatch", shown["hex"].map(swatch_data_uri))
    return shown


def swatch_grid_html(table: pd.DataFrame) -> str:
    """A grid of tiles: measured (left) and predicted (right) swatch, ΔE00 on a band-coloured bar.

    Parameters
    ----------
    table : DataFrame
        From :func:`model.registry.review.swatch_table`: ``sample_id``, ``measured_hex``,
        ``predicted_hex``, ``delta_e00`` (CIEDE2000) and ``band`` (a tolerance band name),
        in the order to show.

    Returns
    -------
    str, a ``<style>`` element and one ``div.hc-grid`` with a ``div.hc-tile`` per row.
    """
    colours = {name: colour for _, name, colour in TOLERANCE_COLOURS}
    tiles = []
    for row in table.itertuples(index=False):
        label = html.escape(str(getattr(row, SAMPLE_ID_COLUMN)))
        tiles.append(
            f'<div class="hc-tile" title="{label}: measured {row.measured_hex}, predicted {row.predicted_hex}">'
            f'<div class="hc-pair"><div style="background:{row.measured_hex}"></div><div style="background:{row.predicted_hex}"></div></div>'
            f'<div class="hc-bar" style="background:{colours[row.band]}">{row.delta_e00:.2f}</div>'
            f'<div class="hc-name">{label}</div></div>'
        )
    return f"<style>{SWATCH_GRID_CSS}</style>" + '<div class="hc-grid">' + "".join(tiles) + "</div>"
