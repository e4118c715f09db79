"""How Huecast's results look: every Plotly figure, and the HTML of swatches and the report.

The one place where numbers become pictures. Pure Python, no Streamlit: the dashboard's
pages call these functions and only render what they return (``st.plotly_chart``,
``st.html``); ``python -m model report`` writes :func:`report.build_report` to a file.
What the pictures show (accuracy summaries, tolerance bands, nearest samples, search
results) is computed below this package, in :mod:`model.core.tolerance`, :mod:`model.registry`
(the review), :mod:`model.jobs` (search results) and :mod:`model.serving`.

Modules
-------
figures
    Plotly figures: spectra, the error histogram, per-recipe and search charts. Every
    axis names its quantity and unit.
swatches
    Colour swatches as HTML: one colour, a target/predicted pair, a table-cell image and
    the measured-against-predicted grid.
layout
    Page-wide CSS that keeps the dashboard readable from 800 px up (wrapping columns,
    whole metric values).
tables
    Tables for people: columns named in words with units, in the order a reader needs them
    (the search's top configurations, Predict's two paths, Plan's suggestions, model history,
    a comparison's summary).
demo_notice
    What every page says while the champion is the synthetic demo model.
report
    The stakeholder report: one self-contained HTML page (Plotly inlined).
wording
    The uncertainty band in words ("9 in 10 recipes like this come within ΔE00 1.8").
"""

__all__ = ["demo_notice", "figures", "layout", "report", "swatches", "tables", "wording"]
