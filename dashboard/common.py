"""What every dashboard page shares: the champion model, the sidebar and the current user.

Pages import from here (``from dashboard.common import champion``) and never load a
model themselves, so the model is loaded once per process and every user shares it.

Two forms of the champion: :func:`predictor` gives its serving snapshot
(:class:`model.models.snapshot.ServingSnapshot`: plain numpy, no scikit-learn, the same
numbers as the model), which is all the Predict and Batch pages and the API's predict need;
:func:`champion` gives the full model (unpickled, scikit-learn loaded) for everything
else. Importing this module imports neither scikit-learn nor SciPy
(tests/test_import_weight.py), so the Predict page can run while the warm start
(:mod:`dashboard.warm_start`) still loads them.
"""

from __future__ import annotations

import logging
import warnings

import streamlit as st

from dashboard import readiness, state
from model.ops import registry
from model.ops.access import VIEWER, AttemptLimiter, User, user_without_sign_in
from model.ops.passwords import verify_password
from model.ops.training_data import data_name, find_training_data
from model.serving import explore

__all__ = [
    "predictor",
    "serving_snapshot",
    "served_predictor",
    "champion",
    "clear_champion_cache",
    "render_sidebar",
    "current_user",
    "training_data",
    "training_samples",
    "served_champion",
    "bind_address",
    "NoChampion",
]

_LOG = logging.getLogger("huecast.access")
_SERVING_LOG = logging.getLogger("huecast.serving")
#: Admin password attempts allowed per session and per client address in any minute.
SIGN_IN_ATTEMPTS_PER_MINUTE = 5


class NoChampion(RuntimeError):
    """No model in the models directory could be loaded."""


@st.cache_resource(show_spinner="Loading the champion model…", max_entries=4)
def _load_champion(pointer: str, models_dir: str):
    # Keyed on the pointer (and folder): a promotion by another session changes the pointer,
    # so the next rerun asks for a new key and loads the new champion. Never mutate the result.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model, card = registry.load_champion(models_dir, fallback=True)
    # With a fallback, the registry's last warning says why the champion was passed over.
    fallback_reason = str(caught.pop().message) if caught and card.version != pointer else None
    for warning in caught:  # anything else (a library version mismatch) goes to the log as before
        warnings.showwarning(warning.message, warning.category, warning.filename, warning.lineno)
    return model, card, fallback_reason


@st.cache_resource(show_spinner="Loading the champion model…", max_entries=4)
def _load_serving_snapshot(pointer: str, models_dir: str):
    # Keyed like _load_champion. A snapshot that fails its check is logged once (this result
    # is cached) and the full model, checked on its own, serves instead.
    try:
        return registry.load_serving(pointer, models_dir)
    except (FileNotFoundError, registry.IntegrityError, ValueError) as error:
        _SERVING_LOG.warning("The serving snapshot of champion %s cannot be used (%s); the full model serves instead.", pointer, error)
        return None, None


def serving_snapshot():
    """The champion's serving snapshot and card, ``(snapshot, card)``; ``(None, None)`` when it has none.

    A snapshot is plain numpy and needs no scikit-learn; a model kind without one, or a
    version saved before snapshots existed, is served by :func:`champion`.
    """
    models_dir = str(registry.settings.models_dir())
    pointer = registry.champion_version(models_dir)
    if pointer is None:
        return None, None
    return _load_serving_snapshot(pointer, models_dir)


def predictor():
    """What a page predicts with, ``(predictor, card)``: the champion's serving snapshot, else the full champion.

    Both have ``predict(recipes) -> Prediction`` with the same numbers, ``colorants_``,
    ``training_range_``, ``input_columns`` and ``fluorescent_colorants``. Raises
    :class:`NoChampion` as :func:`champion` does.
    """
    snapshot, card = serving_snapshot()
    return (snapshot, card) if snapshot is not None else champion()


def served_predictor():
    """:func:`predictor` for code outside a page (the API): shows nothing, raises what the registry raises."""
    snapshot, card = serving_snapshot()
    return (snapshot, card) if snapshot is not None else served_champion()


def served_champion():
    """The champion for code outside a page (the API, the warm start): ``(model, card)``.

    The same cache as :func:`champion`, so the API and the pages serve one model object.
    Raises what :func:`model.ops.registry.load_champion` raises; shows nothing.
    """
    readiness.wait_for_heavy_imports()
    models_dir = str(registry.settings.models_dir())
    model, card, _ = _load_champion(registry.champion_version(models_dir), models_dir)
    return model, card


def champion():
    """The served model and its card, loaded once per champion for all users.

    Reads the champion pointer on every call (one small file), so a promotion made in
    another session is picked up on the next rerun. When the champion fails its
    integrity check, :func:`model.ops.registry.load_champion` serves the last good one;
    the page then shows why, and that an admin can roll back.

    Returns
    -------
    (model, ModelCard)

    Raises
    ------
    NoChampion
        No version in the models directory loads; the page has already shown an error.
    """
    readiness.wait_for_heavy_imports()
    models_dir = str(registry.settings.models_dir())
    pointer = registry.champion_version(models_dir)
    try:
        model, card, fallback_reason = _load_champion(pointer, models_dir)
    except registry.IntegrityError as error:
        st.error(f"The champion model {pointer} cannot be used: {error}")
    except FileNotFoundError:
        pass  # nothing promoted yet: said below
    else:
        if fallback_reason is not None:
            st.error(f"The champion model {pointer} cannot be used: {fallback_reason}")
            st.warning(
                f"Showing the last good champion, {card.version}, because champion {pointer} failed its check. "
                "An admin can roll back or promote another model on the Retrain page."
            )
        return model, card
    st.error(
        f"No champion model in {models_dir} can be loaded. Train and promote one with "
        "`python -m model train --data data/demo --promote`, then reload this page."
    )
    raise NoChampion(models_dir)


def clear_champion_cache() -> None:
    """Forget every loaded model; call after a promotion or rollback."""
    _load_champion.clear()
    _load_serving_snapshot.clear()


# ---- sign-in (Retrain page's engineer) ----
# Secrets, never code, say how people sign in (.streamlit/secrets.toml):
#   [auth] admin_password_hash = "pbkdf2_sha256$…"   (make one: python3 -m model.ops.passwords)
#   or an OIDC provider for st.login ([auth] redirect_uri, cookie_secret, client_id, …)
#      with [roles] admins = ["lead@example.com"]
# With neither, a visitor is admin only when the server listens on a loopback address
# (and the request did not come through a proxy); otherwise a viewer. A hash or secret is never shown.


def bind_address() -> str:
    """The address this server listens on (``server.address``; empty means every interface)."""
    return str(st.get_option("server.address") or "")


def _forwarded() -> bool:
    """The request came through a proxy: a loopback server behind one is reachable from anywhere."""
    try:
        headers = st.context.headers
        return bool(headers.get("X-Forwarded-For") or headers.get("Forwarded"))
    except Exception:  # no request (AppTest)
        return False


@st.cache_resource
def _sign_in_limiter() -> AttemptLimiter:
    # One per server process, shared by every session: a new session does not reset the count.
    return AttemptLimiter(max_attempts=SIGN_IN_ATTEMPTS_PER_MINUTE, window_s=60.0)


def _client_keys() -> tuple[list[str], str]:
    """The rate limit's keys for this request (its session, and its client address when known) and the address."""
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    context = get_script_run_ctx()
    keys = [f"session:{context.session_id if context is not None else 'unknown'}"]
    try:
        address = st.context.ip_address
    except Exception:  # no request behind this run (AppTest)
        address = None
    if address:
        keys.append(f"address:{address}")
    return keys, address or "unknown"


def _secrets_section(name: str) -> dict:
    try:
        section = st.secrets.get(name)
    except Exception:  # no secrets file at all: a local install
        return {}
    return dict(section) if section else {}


def _sign_in_mode() -> str:
    """``"oidc"`` (st.login), ``"password"`` (an admin password hash) or ``"local"`` (no secrets)."""
    auth = _secrets_section("auth")
    if "client_id" in auth or any(isinstance(value, dict) or hasattr(value, "keys") for value in auth.values()):
        return "oidc"
    if auth.get("admin_password_hash"):
        return "password"
    return "local"


def current_user() -> User:
    """Who is using the dashboard.

    With no sign-in configured (a local install) the single user is an admin. With a
    password hash in secrets, a session is a viewer until it signs in with the admin
    password. With OIDC, a signed-in user whose e-mail is in ``[roles] admins`` is an admin.
    """
    mode = _sign_in_mode()
    if mode == "local":
        return user_without_sign_in(bind_address(), forwarded=_forwarded())
    if mode == "oidc":
        if not st.user.is_logged_in:
            return VIEWER
        email = str(st.user.get("email") or "")
        admins = {str(address).strip().lower() for address in _secrets_section("roles").get("admins", [])}
        role = "admin" if email and email.lower() in admins else "viewer"
        return User(str(st.user.get("name") or email or "signed-in user"), role)
    if st.session_state.get(state.SIGNED_IN):
        return User(str(_secrets_section("auth").get("admin_name", "admin")), "admin")
    return VIEWER


def _render_sign_in(user: User) -> None:
    """The sidebar's account box: who you are, and the sign-in or sign-out control."""
    mode = _sign_in_mode()
    if mode == "local":
        if user.is_admin:
            st.caption("Local single user: you are admin (no sign-in is configured, and the server listens on a loopback address).")
            return
        reachable = (
            "this request came through a proxy" if _forwarded()
            else f"this server listens on `{bind_address() or 'every interface'}`, which other machines can reach"
        )
        st.caption(
            f"You are a viewer: {reachable}, and no sign-in is configured, so nobody is admin. "
            "To sign in as admin, put `[auth] admin_password_hash` in "
            "`.streamlit/secrets.toml` (make it with `python3 -m model.ops.passwords`) or configure OIDC there; "
            "or, on your own machine, start the server with `--server.address 127.0.0.1`."
        )
        return
    st.caption(f"Signed in as {user.name} ({user.role}).")
    if mode == "oidc":
        if st.user.is_logged_in:
            st.button("Sign out", key="auth_sign_out", on_click=st.logout)
        else:
            st.button("Sign in", key="auth_sign_in", on_click=st.login)
        return
    if user.is_admin:
        if st.button("Sign out", key="auth_sign_out"):
            st.session_state[state.SIGNED_IN] = False
            st.rerun()
        return
    with st.form("auth_sign_in_form", clear_on_submit=True):
        password = st.text_input("Admin password", type="password", key="auth_password")
        submitted = st.form_submit_button("Sign in as admin")
    if submitted:
        keys, address = _client_keys()
        session_key = keys[0]
        wait_s = _sign_in_limiter().try_attempt(*keys)
        if wait_s:
            _LOG.warning("Admin sign-in refused: too many attempts from address %s (%s); retry in %.0f s.", address, session_key, wait_s)
            st.error(f"Too many sign-in attempts. Wait {wait_s:.0f} s and try again.")
            return
        if verify_password(password, _secrets_section("auth").get("admin_password_hash", "")):
            _LOG.info("Admin signed in from address %s (%s).", address, session_key)
            st.session_state[state.SIGNED_IN] = True
            st.rerun()
        _LOG.warning("Failed admin sign-in from address %s (%s).", address, session_key)
        st.error("That password is not the admin password. Try again, or ask the lab lead.")


def render_sidebar(model, card) -> None:
    """Name the champion in the sidebar: version, training set size, leave-recipe-out ΔE00."""
    n_recipes = card.dataset.get("n_recipes", getattr(model, "n_recipes_", None))
    n_samples = card.dataset.get("n_samples", getattr(model, "n_samples_", None))
    delta_e00_mean = card.metrics.get("delta_e00_mean_headline")
    with st.sidebar:
        st.markdown("**Champion model**")
        st.caption(f"Version `{card.version}`")
        st.caption(
            f"Trained on {n_recipes} recipes ({n_samples} measurements) from "
            f"“{data_name(card.dataset)}”."
        )
        if delta_e00_mean is not None:
            st.metric(
                "Leave-recipe-out mean ΔE00",
                f"{delta_e00_mean:.2f}",
                help="Mean CIEDE2000 colour difference on recipes the model never saw in training. "
                "Below about 1 most people cannot see a difference; below 2 is close enough for most commercial work.",
            )
        _render_sign_in(current_user())


@st.cache_resource(show_spinner="Loading the training measurements…", max_entries=4)
def _training_data(version: str, _card):
    # Keyed on the version; the card itself is not hashed (leading underscore).
    return find_training_data(_card)


def training_data(card):
    """Where the champion's training measurements were found (:class:`model.ops.training_data.TrainingData`:
    ``dataset`` None when they cannot be), loaded once per model version for every page."""
    return _training_data(card.version, card)


@st.cache_resource(max_entries=4)
def _training_samples(version: str, _card):
    dataset = training_data(_card).dataset
    return None if dataset is None else explore.TrainingSamples(dataset)


def training_samples(card):
    """The champion's training measurements ready for nearest-recipe look-ups
    (:class:`model.serving.explore.TrainingSamples`), or None when they cannot be found."""
    return _training_samples(card.version, card)
