"""What every page does first: the local favicon, the styles that keep it readable at any width,
and, while the champion is the demo model, one sentence that says so.

Not a page (it is not listed in ``dashboard/app.py``'s navigation). Each page calls
:func:`set_up_page` at its top.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st
from streamlit.errors import StreamlitAPIException

from model.presentation.demo_notice import DEMO_NOTICE, RETRAIN_LINK_LABEL
from model.registry.training_data import trained_on_demo
from model.presentation.layout import page_style_html

__all__ = ["FAVICON", "RETRAIN_SCRIPT", "RETRAIN_URL_PATH", "set_up_page", "champion_is_demo"]

#: A local PNG, so the browser tab has an icon offline (no font CDN).
FAVICON = Path(__file__).resolve().parents[1] / "static" / "favicon.png"
#: The Retrain page: a file page for admins, a sign-in gate at the same address for everyone else (dashboard/app.py).
RETRAIN_SCRIPT, RETRAIN_URL_PATH = "app_pages/retrain.py", "retrain"


def champion_is_demo() -> bool:
    """Whether the served champion was trained on the synthetic demo (False when none can be loaded: the page says why)."""
    from dashboard import champion
    from model.registry import registry

    try:
        _, card = champion.served()  # the cached champion app.py has loaded: shows nothing
    except (FileNotFoundError, registry.IntegrityError, registry.StorageError, ValueError):
        return False
    return trained_on_demo(card.dataset)


def _retrain_gate() -> None:
    """Stands for the sign-in gate app.py registers at the Retrain address, so a link can name it."""


def _link_to_retrain() -> None:
    """A link to the Retrain page in this tab: the page itself for an admin, its sign-in gate for anyone who can sign in."""
    from dashboard import auth

    user = auth.current_user()
    if not auth.admin_reachable(user):  # nobody can sign in as admin here: a link would lead to a closed door
        st.caption(
            "An admin retrains it on the lab's measurements; this server has no admin sign-in yet (the sidebar says how to add one)."
        )
        return
    target = RETRAIN_SCRIPT if user.is_admin else st.Page(_retrain_gate, title="Retrain", url_path=RETRAIN_URL_PATH)
    try:
        st.page_link(target, label=RETRAIN_LINK_LABEL, icon=":material/model_training:")
    except StreamlitAPIException:  # the navigation has no Retrain page: the plain address still leads there
        st.markdown(f"[{RETRAIN_LINK_LABEL}]({RETRAIN_URL_PATH})")


def set_up_page() -> None:
    """Local favicon (``st.set_page_config`` may be called again from a page), the page-wide CSS and the demo notice."""
    st.set_page_config(page_icon=str(FAVICON))
    st.html(page_style_html())
    if champion_is_demo():
        st.info(DEMO_NOTICE, icon=":material/science:")
        _link_to_retrain()
