"""The session-state keys that more than one page uses, in one place.

A key that only one page reads and writes carries that page's prefix and stays in that
page (``batch_result``, ``retrain_flash``…). The keys here cross a page boundary: the
Formulate page fills in the Predict page's recipe, the recipe and the pins outlive a
visit to another page, and the sidebar's sign-in holds on every page.

Why the recipe has a value key besides its widgets: Streamlit forgets a widget's state
when a run of another page does not draw it, so a recipe kept only in its boxes is gone
after a visit to Batch. The value keys are plain session state and stay; the boxes are
refilled from them. The helpers take the state mapping (``st.session_state``, or a dict in a
test) so that they are plain functions.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping

__all__ = [
    "PREDICT_PAGE",
    "PREDICT_PINNED",
    "SIGNED_IN",
    "predict_input_key",
    "predict_slider_key",
    "predict_value_key",
    "predict_problem_key",
    "send_recipe_to_predict",
]

#: The Predict page, as ``st.switch_page`` names it (relative to ``dashboard/app.py``).
PREDICT_PAGE = "app_pages/predict.py"
#: Predict: the recipes pinned for comparison (a list of recipe dicts, at most four).
PREDICT_PINNED = "predict_pinned"
#: Sidebar: when (Unix seconds) this session's sign-in with the admin password ends; absent or None
#: when it has not signed in (a sign-in cookie from its page load may still count: dashboard/auth.py).
SIGNED_IN = "auth_admin_signed_in"


def predict_input_key(name: str) -> str:
    """Predict: the text box of one input (a colorant in wt %, or ``thickness_um`` in µm), as typed."""
    return f"predict_{name}"


def predict_value_key(name: str) -> str:
    """Predict: the number the prediction uses for one input (a float; survives page changes)."""
    return f"predict_value_{name}"


def predict_problem_key(name: str) -> str:
    """Predict: why the last entry typed in one input's box was not used (absent when it was)."""
    return f"predict_problem_{name}"


def predict_slider_key(name: str) -> str:
    """Predict: the slider that mirrors :func:`predict_input_key`'s number box."""
    return f"predict_{name}_slider"


def send_recipe_to_predict(state: MutableMapping, recipe: Mapping[str, float]) -> None:
    """Put ``recipe`` (colorants in wt %, ``thickness_um`` in µm) into the Predict page's inputs.

    Only the values are set; the Predict page refills its boxes and sliders from them on
    its next run, and forgets an earlier refused entry. The caller then switches to
    :data:`PREDICT_PAGE`.
    """
    for name, value in recipe.items():
        state[predict_value_key(name)] = float(value)
        state.pop(predict_problem_key(name), None)
