"""Huecast dashboard router and server: ``streamlit run dashboard/app.py``.

This one file plays two parts. ``streamlit run`` finds ``app = st.App(...)`` below,
imports this file as a module and serves that ASGI app: the pages, the JSON API under
``/api/v1`` (:mod:`dashboard.api`) and the warm start in its lifespan, in one process
with one cached champion. Each page run then executes this same file as the page
script (``__name__ == "__main__"``): it lists the pages, draws the shared sidebar (which
champion model is served) and runs the selected page. The pages live in
``dashboard/app_pages/`` and are UI only.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

PAGES_DIR = Path(__file__).resolve().parent / "app_pages"

# ---- PAGES: add a page with one line: (file in app_pages/, title, icon, admin only) ----
# A file that does not exist yet is left out, so pages can land in any order.
PAGES = [
    ("predict.py", "Predict", ":material/palette:", False),
    ("batch.py", "Batch", ":material/table_view:", False),
    ("formulate.py", "Formulate", ":material/science:", False),
    ("plan.py", "Plan experiments", ":material/biotech:", False),
    ("compare.py", "Compare", ":material/compare_arrows:", False),
    ("overview.py", "Overview", ":material/insights:", False),
    ("retrain.py", "Retrain", ":material/model_training:", True),
]
# ---- end of PAGES ----
#: Pages that predict with the serving snapshot and import nothing heavy: they may run while
#: the warm start still loads scikit-learn (dashboard/readiness.py). Every other page waits.
LIGHT_PAGES = {"predict.py", "batch.py"}


def run_page() -> None:
    """One page run: the navigation (admin pages only for admins), the sidebar, the page."""
    # ``model`` and ``dashboard`` are installed packages (``pip install -e .``, see README), so
    # they are imported absolutely, with no path edits; here, not at the top, so that the
    # ASGI import below stays light (the lifespan's warm start imports the heavy parts).
    # Not while the warm start's thread imports them too: see dashboard/readiness.py.
    from dashboard import readiness

    readiness.wait_for_light_imports()
    from dashboard import common

    # A local icon: a Material icon name makes every page load fetch a font from a CDN.
    st.set_page_config(page_title="Huecast", page_icon=str(PAGES_DIR.parent / "static" / "favicon.png"), layout="wide")
    user = common.current_user()
    pages = {
        file: st.Page(str(PAGES_DIR / file), title=title, icon=icon, default=(position == 0))
        for position, (file, title, icon, admin_only) in enumerate(PAGES)
        if (PAGES_DIR / file).is_file() and (user.is_admin or not admin_only)
    }
    page = st.navigation(list(pages.values()))
    try:
        model, card = common.predictor()
    except common.NoChampion:
        st.stop()
    common.render_sidebar(model, card)
    if not any(page is pages.get(file) for file in LIGHT_PAGES):
        readiness.wait_for_heavy_imports()  # before the page's own imports
    try:
        page.run()
    finally:
        readiness.page_run_ended()


if __name__ == "__main__":  # a page run (the server, or AppTest)
    run_page()
else:  # imported by `streamlit run` (uvicorn) as the ASGI app
    from dashboard import api

    app = st.App(__file__, routes=api.ROUTES, lifespan=api.lifespan)
