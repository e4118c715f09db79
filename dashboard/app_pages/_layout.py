"""What every page does first: the local favicon, and the styles that keep it readable at any width.

Not a page (it is not listed in ``dashboard/app.py``'s navigation). Each page calls
:func:`set_up_page` at its top.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from model.presentation.layout import page_style_html

__all__ = ["FAVICON", "set_up_page"]

#: A local PNG, so the browser tab has an icon offline (no font CDN).
FAVICON = Path(__file__).resolve().parents[1] / "static" / "favicon.png"


def set_up_page() -> None:
    """Local favicon (``st.set_page_config`` may be called again from a page) and the page-wide CSS."""
    st.set_page_config(page_icon=str(FAVICON))
    st.html(page_style_html())
