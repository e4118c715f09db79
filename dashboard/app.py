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
#: What an admin page lets admins do, for the gate a non-admin sees at its address (dashboard/auth.py).
ADMIN_PAGE_PURPOSE = {
    "retrain.py": "upload measurements, retrain, search, promote and roll back models",
}
#: Pages that predict with the serving snapshot and import nothing heavy: they may run while
#: the warm start still loads scikit-learn (dashboard/readiness.py). Every other page waits.
LIGHT_PAGES = {"predict.py", "batch.py"}


def run_page() -> None:
    """One page run: the navigation (admin pages for admins; for others a sign-in gate at their address), the sidebar, the page."""
    # ``model`` and ``dashboard`` are installed packages (``pip install -e .``, see README), so
    # they are imported absolutely, with no path edits; here, not at the top, so that the
    # ASGI import below stays light (the lifespan's warm start imports the heavy parts).
    # Not while the warm start's thread imports them too: see dashboard/readiness.py.
    from dashboard import readiness

    readiness.wait_for_light_imports()
    from dashboard import auth, champion

    # A local icon: a Material icon name makes every page load fetch a font from a CDN.
    st.set_page_config(page_title="Huecast", page_icon=str(PAGES_DIR.parent / "static" / "favicon.png"), layout="wide")
    user = auth.current_user()
    pages, gates = {}, []
    for position, (file, title, icon, admin_only) in enumerate(PAGES):
        if not (PAGES_DIR / file).is_file():
            continue
        if admin_only and not user.is_admin:
            # At the admin page's own address, hidden from the menu: a link to /retrain, or a
            # reload after the sign-in ended, shows how to sign in instead of "Page not found".
            gate = auth.admin_gate(title, ADMIN_PAGE_PURPOSE.get(file, "change the served model"))
            gates.append(st.Page(gate, title=title, icon=icon, url_path=Path(file).stem, visibility="hidden"))
            continue
        pages[file] = st.Page(str(PAGES_DIR / file), title=title, icon=icon, default=(position == 0))
    page = st.navigation([*pages.values(), *gates])
    on_gate = any(page is gate for gate in gates)
    auth.mark_gate(on_gate)
    try:
        model, card = champion.predictor()
    except champion.NoChampion:
        st.stop()
    champion.render_sidebar(model, card)
    if not on_gate and not any(page is pages.get(file) for file in LIGHT_PAGES):
        readiness.wait_for_heavy_imports()  # before the page's own imports
    try:
        page.run()
    finally:
        readiness.page_run_ended()


if __name__ == "__main__":  # a page run (the server, or AppTest)
    run_page()
else:  # imported by `streamlit run` (uvicorn) as the ASGI app
    from starlette.middleware import Middleware

    from dashboard import api, auth, legacy_api
    from model.core import settings

    # Every request's client is the TCP peer unless it is a proxy the admin trusts
    # ([server] trusted_proxies): uvicorn alone believes X-Forwarded-For from any local program.
    # The old system's routes come before api.ROUTES, whose last route answers any other /api/ path.
    # CORS is outermost, so a browser's preflight is answered before anything else runs.
    app = st.App(
        __file__,
        routes=[*auth.ROUTES, *legacy_api.ROUTES, *api.ROUTES],
        middleware=[
            Middleware(legacy_api.ApiCORSMiddleware, allow_origins=settings.cors_origins()),
            Middleware(auth.ClientAddressMiddleware, trusted_proxies=settings.trusted_proxies()),
        ],
        lifespan=api.lifespan,
    )
