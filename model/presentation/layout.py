"""Page-wide styles that keep every dashboard page readable from 800 px to wide screens.

Streamlit lays columns side by side at any width, so at 800 px (with the sidebar open)
a column of a few dozen pixels cuts metric values ("10…") and breaks labels mid-word.
These rules let a row of columns wrap instead, keep metric values whole, and let wide
tables scroll inside their own frame. They are plain CSS for ``st.html``; no Streamlit here.
"""

from __future__ import annotations

__all__ = ["MIN_COLUMN_REM", "PAGE_CSS", "page_style_html"]

#: Below this width (rem) a column moves to the next line instead of squeezing its content.
MIN_COLUMN_REM = 9

PAGE_CSS = (
    # Rows of columns wrap: a column never gets narrower than MIN_COLUMN_REM (or the row).
    '[data-testid="stHorizontalBlock"]{flex-wrap:wrap;row-gap:0.75rem}'
    f'[data-testid="stColumn"]{{min-width:min(100%,{MIN_COLUMN_REM}rem)}}'
    # Metric values and labels are never cut with an ellipsis: they shrink a little, then wrap.
    '[data-testid="stMetricValue"]{font-size:clamp(1.35rem,2.6vw,2.25rem)}'
    '[data-testid="stMetricValue"] div,[data-testid="stMetricLabel"] div,[data-testid="stMetricLabel"] p'
    "{white-space:normal;overflow:visible;text-overflow:clip;overflow-wrap:normal}"
    # Widget labels break between words, never inside one ("thicknes s").
    '[data-testid="stWidgetLabel"] p{word-break:normal;overflow-wrap:normal;hyphens:manual}'
    # Buttons keep their text inside: they wrap onto a second line rather than being cut.
    '[data-testid="stBaseButton-primary"],[data-testid="stBaseButton-secondary"]{max-width:100%;white-space:normal;height:auto}'
    '[data-testid="stBaseButton-primary"] p,[data-testid="stBaseButton-secondary"] p{white-space:normal}'
)


def page_style_html() -> str:
    """:data:`PAGE_CSS` as one ``<style>`` element, for ``st.html`` at the top of a page."""
    return f"<style>{PAGE_CSS}</style>"
