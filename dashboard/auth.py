"""Sign-in and roles: who the user is, the sidebar's account box, the gate in front of admin pages,
and the routes and middleware that make a sign-in hold.

Secrets, never code, say how people sign in (``.streamlit/secrets.toml``)::

    [auth]
    admin_password_hash = "pbkdf2_sha256$…"   # make one: python3 -m model.auth.passwords
    admin_name = "lab lead"                    # optional, shown in the sidebar
    session_hours = 8                          # optional: how long a sign-in lasts, reloads included

or an OIDC provider for ``st.login`` (``[auth] redirect_uri, cookie_secret, client_id, …``)
with ``[roles] admins = ["lead@example.com"]``. With neither, a visitor is admin only when
the server listens on a loopback address and the request did not come through a proxy;
otherwise a viewer. A hash or secret is never shown or logged.

What makes it hold:

- **Attempts** are counted per client address (one shared ``unknown`` bucket when Streamlit
  reports none, as it does for a loopback client) *and* for the admin account as a whole,
  in one limiter per server process (:data:`_LIMITER`), so new sessions never reset it.
- **The client address** is the TCP peer, unless that peer is a proxy named in
  ``[server] trusted_proxies`` (:class:`ClientAddressMiddleware`, for the pages and the API alike).
- **Reloads**: the page cannot set a cookie over Streamlit's websocket, so after a correct
  password it hands the browser a one-time token, which the browser posts to
  :data:`SESSION_ROUTE`; that route sets a signed, HttpOnly, SameSite=Strict cookie
  (:class:`model.auth.access.SignInCookies`) that every later page run reads back from
  ``st.context.cookies``. Sign-out revokes it and clears it.
- **Admin pages for others** are a gate at the same address (:func:`admin_gate`): a link to
  ``/retrain`` shows what the page is and the sign-in form, not "Page not found".

Imported when the ASGI app is (``dashboard/app.py``), so it stays light: no model, no pandas.
"""

from __future__ import annotations

import json
import logging
import math
import secrets
import threading
import time
from collections.abc import Callable

import streamlit as st
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from dashboard import state
from model.auth.access import (
    SIGNED_OUT_FILE,
    VIEWER,
    AttemptLimiter,
    OneTimeTokens,
    SignInCookies,
    User,
    client_address,
    load_or_create_key,
    user_without_sign_in,
)
from model.auth.passwords import verify_password
from model.core import settings

__all__ = [
    "SIGN_IN_ATTEMPTS_PER_MINUTE",
    "ADMIN_ATTEMPTS_PER_MINUTE",
    "DEFAULT_SESSION_HOURS",
    "SESSION_ROUTE",
    "ROUTES",
    "ClientAddressMiddleware",
    "session_route",
    "mark_gate",
    "bind_address",
    "sign_in_keys",
    "current_user",
    "render_account",
    "admin_gate",
    "admin_reachable",
]

_LOG = logging.getLogger("huecast.access")
#: Admin password attempts allowed per client address in any minute (every session of that address together).
SIGN_IN_ATTEMPTS_PER_MINUTE = 5
#: Admin password attempts allowed in any minute from every address together: a guesser with
#: many addresses gets no more than this; the admin, already signed in by cookie, is not held up.
ADMIN_ATTEMPTS_PER_MINUTE = 10
#: How long a sign-in lasts unless ``[auth] session_hours`` says otherwise.
DEFAULT_SESSION_HOURS = 8.0
MAX_SESSION_HOURS = 24.0 * 30
#: The route the browser posts its one-time token to (POST) and signs out at (DELETE).
SESSION_ROUTE = "/account/session"
#: Where a server with no ``[server] secret`` keeps the key that signs its cookies (in the data folder).
KEY_FILE = "sign-in.key"
_ACCOUNT_KEY = "account:admin"
_MAX_TOKEN_BODY_BYTES = 256
_UNKNOWN_ADDRESS = "unknown"
# Session-state keys only this module uses.
_GATE_SHOWN = "auth_gate_shown"  # this run shows an admin page's gate: the sign-in form is there, not in the sidebar
_SIGNED_OUT = "auth_signed_out"  # this session signed out: the cookie its page load carried no longer counts
_BROWSER_STEP = "auth_browser_step"  # ("set", token) or ("clear", None): the cookie step the browser takes next

# One per server process, shared by every session (module state, not a cache a "clear cache" could empty).
_LIMITER = AttemptLimiter(max_attempts=SIGN_IN_ATTEMPTS_PER_MINUTE, window_s=60.0, limits={_ACCOUNT_KEY: ADMIN_ATTEMPTS_PER_MINUTE})
_TOKENS = OneTimeTokens(lifetime_s=60.0)
_lock = threading.Lock()
_keys: dict[str, bytes] = {}  # data folder -> the signing key kept there
_cookie_signers: dict[tuple, SignInCookies] = {}  # (key, lifetime, password hash, data folder) -> its signer (and its sign-outs)


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


# ---- who the client is, and the attempt limit ----


class ClientAddressMiddleware:
    """Set every request's client (``scope["client"]``) to :func:`model.auth.access.client_address`.

    uvicorn, which ``streamlit run`` starts, believes ``X-Forwarded-For`` from any loopback
    peer (its ``forwarded_allow_ips`` default) and writes the header's address over the
    client before the app sees it: any program on the server's machine could then name
    itself anything, one new address per guess. This middleware takes the peer from the
    connection itself and believes the header only from ``trusted_proxies``, so the pages
    (``st.context.ip_address``) and the API (``request.client``) see the same, honest client.

    Parameters
    ----------
    app : ASGI app
    trusted_proxies : iterable of networks, default none (:func:`model.core.settings.trusted_proxies`)
    """

    def __init__(self, app, trusted_proxies=()) -> None:
        self.app = app
        self.trusted_proxies = tuple(trusted_proxies)

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] in ("http", "websocket"):
            client = scope.get("client")
            peer = _connection_peer(receive) or (client[0] if client else None)
            forwarded_for = [value.decode("latin-1") for name, value in scope.get("headers", []) if name == b"x-forwarded-for"]
            address = client_address(peer, forwarded_for, self.trusted_proxies)
            if address is not None:
                scope = {**scope, "client": (address, client[1] if client else 0)}
        await self.app(scope, receive, send)


def _connection_peer(receive) -> str | None:
    """The address the TCP connection came from, read from uvicorn's transport (None if it cannot be reached)."""
    transport = getattr(getattr(receive, "__self__", None), "transport", None)
    try:
        peername = transport.get_extra_info("peername") if transport is not None else None
    except Exception:
        return None
    return str(peername[0]) if isinstance(peername, tuple) and peername else None


def sign_in_keys(address: str | None) -> list[str]:
    """The attempt limiter's keys for one password attempt: its client address (``unknown`` when there
    is none) and the admin account. Every session of a client shares them."""
    return [f"address:{address or _UNKNOWN_ADDRESS}", _ACCOUNT_KEY]


def _client_address() -> str | None:
    """This session's client address (None for a loopback client, or with no request behind the run)."""
    try:
        address = st.context.ip_address
    except Exception:  # no request behind this run
        return None
    return address if isinstance(address, str) and address else None  # AppTest's runtime answers with a mock


def _session_id() -> str:
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    context = get_script_run_ctx()
    return context.session_id if context is not None else "unknown"


# ---- the sign-in cookie ----


def _session_hours() -> float:
    """``[auth] session_hours`` (default 8). Raises ValueError naming the setting when it is not usable."""
    value = _secrets_section("auth").get("session_hours", DEFAULT_SESSION_HOURS)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or not 0 < value <= MAX_SESSION_HOURS:
        raise ValueError(f"[auth] session_hours = {value!r} in secrets is not usable; expected a number of hours "
                         f"above 0 and at most {MAX_SESSION_HOURS:g}, e.g. {DEFAULT_SESSION_HOURS:g}.")
    return float(value)


def _signing_key() -> bytes:
    """``[server] secret`` when configured; else a key kept in the data folder (made once, mode 0600);
    else, when that folder cannot be written, a key for this process only (sign-ins then end at a restart)."""
    secret = settings.server_secret()
    if secret:
        return secret
    folder = settings.data_dir()
    with _lock:
        if str(folder) not in _keys:
            try:
                _keys[str(folder)] = load_or_create_key(folder / KEY_FILE)
            except OSError as error:
                _LOG.warning("No sign-in key could be kept (%s): sign-ins last until the server restarts. "
                             "Set [server] secret in secrets, or make the data folder writable.", error)
                _keys[str(folder)] = secrets.token_bytes(32)
        return _keys[str(folder)]


def _cookie_signer() -> SignInCookies:
    """The signer for today's settings; one object per settings, so a sign-out is remembered by every session
    (and, in the data folder's :data:`SIGNED_OUT_FILE`, across restarts)."""
    lifetime_s = _session_hours() * 3600.0
    password_hash = str(_secrets_section("auth").get("admin_password_hash", ""))
    key = _signing_key()
    signed_out = settings.data_dir() / SIGNED_OUT_FILE
    with _lock:
        found = _cookie_signers.get((key, lifetime_s, password_hash, str(signed_out)))
        if found is None:
            found = SignInCookies(key, lifetime_s, password_hash, signed_out_file=signed_out)
            _cookie_signers[(key, lifetime_s, password_hash, str(signed_out))] = found
        return found


def _request_cookies() -> dict:
    """The cookies the browser sent when this session's page loaded (empty in AppTest)."""
    try:
        return dict(st.context.cookies)
    except Exception:
        return {}


def _cookie_role() -> str | None:
    """The role the page load's sign-in cookie carries, when it is ours, unexpired and not signed out."""
    value = _request_cookies().get(SignInCookies.NAME)
    return _cookie_signer().role(value) if value else None


async def session_route(request: Request) -> Response:
    """``POST``: trade a one-time token (the body) for the sign-in cookie. ``DELETE``: sign out (revoke and clear it)."""
    try:
        signer = _cookie_signer()
    except ValueError as error:
        return _json_error(500, str(error))
    secure = request.url.scheme == "https"
    if request.method == "DELETE":
        signer.revoke(request.cookies.get(SignInCookies.NAME))
        response = Response(status_code=204)
        response.delete_cookie(SignInCookies.NAME, path="/", secure=secure, httponly=True, samesite="strict")
        return response
    body = b""
    async for chunk in request.stream():  # a token is 43 characters: read no more than a little over that
        body += chunk
        if len(body) > _MAX_TOKEN_BODY_BYTES:
            return _json_error(413, f"A sign-in token is at most {_MAX_TOKEN_BODY_BYTES} bytes; sign in again on the page.")
    role = _TOKENS.redeem(body.decode("ascii", "replace").strip())
    if role is None:
        return _json_error(403, "This sign-in token is unknown, used or expired; sign in again on the page.")
    response = Response(status_code=204)
    response.set_cookie(SignInCookies.NAME, signer.issue(role), max_age=int(signer.lifetime_s), path="/",
                        secure=secure, httponly=True, samesite="strict")
    return response


def _json_error(status: int, message: str) -> Response:
    return Response(json.dumps({"error": message}), status_code=status, media_type="application/json")


#: The app's own routes for sign-in (``dashboard/app.py`` hands them to ``st.App`` beside the API's).
ROUTES = [Route(SESSION_ROUTE, session_route, methods=["POST", "DELETE"])]


def _browser_step() -> None:
    """Run the cookie step this session owes the browser (after a sign-in or a sign-out), once.

    A script in the page (``st.html``), because only the browser can carry the cookie: the
    page's websocket cannot set one. The token in it works once, within a minute.
    """
    step = st.session_state.pop(_BROWSER_STEP, None)
    if step is None:
        return
    action, token = step
    request = (f'{{method: "POST", credentials: "same-origin", headers: {{"Content-Type": "text/plain"}}, body: {json.dumps(token)}}}'
               if action == "set" else '{method: "DELETE", credentials: "same-origin"}')
    st.html(f"<script>fetch({json.dumps(SESSION_ROUTE)}, {request});</script>", unsafe_allow_javascript=True)


# ---- who the user is ----


def current_user() -> User:
    """Who is using the dashboard.

    With no sign-in configured (a local install) the single user is an admin when the
    server listens on a loopback address. With a password hash in secrets, a session is a
    viewer until it signs in with the admin password, or its page load carried a valid
    sign-in cookie. With OIDC, a signed-in user whose e-mail is in ``[roles] admins`` is an admin.
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
    admin = User(str(_secrets_section("auth").get("admin_name", "admin")), "admin")
    signed_in_until = st.session_state.get(state.SIGNED_IN)
    if signed_in_until and time.time() < float(signed_in_until):
        return admin
    try:
        if not st.session_state.get(_SIGNED_OUT) and _cookie_role() == "admin":
            return admin
    except ValueError:  # malformed settings: the account box says so
        pass
    return VIEWER


def _try_password(password: str) -> None:
    """Check one password attempt against the limit and the hash; sign in, or say why not."""
    try:
        hours = _session_hours()
    except ValueError as error:  # said before any attempt is counted
        st.error(str(error))
        return
    address = _client_address()
    session = _session_id()
    wait_s = _LIMITER.try_attempt(*sign_in_keys(address))
    if wait_s:
        _LOG.warning("Admin sign-in refused: too many attempts (address %s, session %s); retry in %.0f s.", address or _UNKNOWN_ADDRESS, session, wait_s)
        st.error(f"Too many sign-in attempts. Wait {wait_s:.0f} s and try again.")
        return
    if verify_password(password, _secrets_section("auth").get("admin_password_hash", "")):
        _LOG.info("Admin signed in (address %s, session %s).", address or _UNKNOWN_ADDRESS, session)
        st.session_state[state.SIGNED_IN] = time.time() + hours * 3600.0
        st.session_state.pop(_SIGNED_OUT, None)
        st.session_state[_BROWSER_STEP] = ("set", _TOKENS.issue("admin"))
        st.rerun()
    _LOG.warning("Failed admin sign-in (address %s, session %s).", address or _UNKNOWN_ADDRESS, session)
    st.error("That password is not the admin password. Try again, or ask the lab lead.")


def _sign_out() -> None:
    # The cookie this page load carried is revoked here; the browser is told to drop it (and
    # the route revokes the one it holds, which may be newer than this page load).
    value = _request_cookies().get(SignInCookies.NAME)
    if value:
        _cookie_signer().revoke(value)
    st.session_state[state.SIGNED_IN] = None
    st.session_state[_SIGNED_OUT] = True
    st.session_state[_BROWSER_STEP] = ("clear", None)


def _password_form(key: str) -> None:
    """The admin password form; ``key`` tells the sidebar's (``auth``) from a gate's (``auth_gate``)."""
    with st.form(f"{key}_sign_in_form", clear_on_submit=True):
        password = st.text_input("Admin password", type="password", key=f"{key}_password")
        submitted = st.form_submit_button("Sign in as admin")
    if submitted:
        _try_password(password)


def admin_reachable(user: User) -> bool:
    """Whether this user is admin or could sign in as one (False on a reachable server with no sign-in configured)."""
    return user.is_admin or _sign_in_mode() != "local"


def _local_viewer_note() -> str:
    reachable = (
        "this request came through a proxy" if _forwarded()
        else f"this server listens on `{bind_address() or 'every interface'}`, which other machines can reach"
    )
    return (
        f"You are a viewer: {reachable}, and no sign-in is configured, so nobody is admin. "
        "To sign in as admin, put `[auth] admin_password_hash` in "
        "`.streamlit/secrets.toml` (make it with `python3 -m model.auth.passwords`) or configure OIDC there; "
        "or, on your own machine, start the server with `--server.address 127.0.0.1`."
    )


#: What a viewer may do, in the account box's words.
VIEWER_CAN = "predict, run batches, formulate, plan experiments and review how accurate the model is"


def _account_sentence(user: User, mode: str) -> str:
    """Who you are, in the account box: "Not signed in" for a visitor (never "signed in as viewer"), and what you can do."""
    if user is VIEWER or user == VIEWER:  # a visitor who never signed in (or signed out)
        how = "Sign in with an admin account" if mode == "oidc" else "Sign in with the admin password"
        return f"Not signed in: you can {VIEWER_CAN}. {how} to also upload measurements, retrain and promote models."
    if user.is_admin:
        return f"Signed in as {user.name} (admin)."
    return f"Signed in as {user.name} (viewer): you can {VIEWER_CAN}; uploading and retraining need an admin account."


def render_account(user: User) -> None:
    """The sidebar's account box: who you are, and the sign-in or sign-out control."""
    mode = _sign_in_mode()
    if mode == "local":
        if user.is_admin:
            st.caption("Local single user: you are admin (no sign-in is configured, and the server listens on a loopback address).")
        else:
            st.caption(_local_viewer_note())
        return
    st.caption(_account_sentence(user, mode))
    if mode == "oidc":
        if st.user.is_logged_in:
            st.button("Sign out", key="auth_sign_out", on_click=st.logout)
        else:
            st.button("Sign in", key="auth_sign_in", on_click=st.login)
        return
    try:
        hours = _session_hours()
    except ValueError as error:
        st.error(str(error))
        return
    _browser_step()
    if user.is_admin:
        st.caption(f"A sign-in lasts {hours:g} h, page reloads included, until you sign out.")
        if st.button("Sign out", key="auth_sign_out"):
            _sign_out()
            st.rerun()
        return
    if st.session_state.get(_GATE_SHOWN):
        st.caption("Sign in on this page.")
        return
    _password_form("auth")


def mark_gate(shown: bool) -> None:
    """Tell the account box whether this run shows an admin page's gate (whose sign-in form it then leaves out)."""
    st.session_state[_GATE_SHOWN] = bool(shown)


def admin_gate(title: str, what: str) -> Callable[[], None]:
    """The page a non-admin sees at an admin page's address: what it is, and how to sign in.

    Parameters
    ----------
    title : str, the admin page's title (``"Retrain"``).
    what : str, what the page does, in a sentence (``"upload measurements, retrain and promote models"``).
    """

    def gate() -> None:
        st.title(title)
        mode = _sign_in_mode()
        user = current_user()
        st.info(f"{title} is for admins: it lets them {what}.", icon=":material/lock:")
        if mode == "local":
            st.markdown(_local_viewer_note())
        elif mode == "oidc":
            if st.user.is_logged_in:
                st.markdown(f"You are signed in as {user.name}, who is not an admin. Ask the lab lead to add your "
                            "e-mail to `[roles] admins` in the server's secrets.")
            else:
                st.button("Sign in", key="auth_gate_sign_in", on_click=st.login)
        else:
            st.markdown("Sign in with the admin password to open it.")
            _password_form("auth_gate")

    gate.__name__ = f"{title.lower().replace(' ', '_')}_gate"
    return gate
