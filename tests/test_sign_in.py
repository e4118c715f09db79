"""Sign-in that holds: the attempt limit across sessions and addresses, X-Forwarded-For only from
trusted proxies, a sign-in that survives a reload (signed cookie), a gate instead of "Page not
found", and page tables whose toolbar download cannot carry a spreadsheet formula.

Pages run in AppTest with a password hash in secrets (as tests/test_access.py does). The
middleware and the cookie route run in a real uvicorn server in a thread, as ``streamlit run``
serves them, and are asked over HTTP.
"""

from __future__ import annotations

import ast
import contextlib
import json
import re
import socket
import stat
import threading
import time
import urllib.error
import urllib.request
from ipaddress import ip_network
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from dashboard import auth, state
from model.auth.access import AttemptLimiter, SignInCookies, client_address
from model.auth.passwords import hash_password
from model.core import settings

REPO_ROOT = Path(__file__).resolve().parents[1]
APP = REPO_ROOT / "dashboard" / "app.py"
PAGES = REPO_ROOT / "dashboard" / "app_pages"
APP_TIMEOUT_S = 60
PASSWORD = "correct horse battery staple"
PASSWORD_HASH = hash_password(PASSWORD, iterations=1)
AUTH = {"admin_password_hash": PASSWORD_HASH, "admin_name": "lab lead"}
#: What the account box says to someone who never signed in (or signed out): never "signed in as viewer".
NOT_SIGNED_IN = "Not signed in: you can predict"


@pytest.fixture
def hosted(isolated_install, monkeypatch, tmp_path):
    """A tmp install with the shipped models, no server secret, and a fresh attempt limiter."""
    isolated_install.copy_shipped_models()
    monkeypatch.delenv("HUECAST_SECRET", raising=False)
    monkeypatch.setenv("HUECAST_SECRETS_FILE", str(tmp_path / "no-secrets.toml"))
    monkeypatch.setattr(auth, "_LIMITER", AttemptLimiter(auth.SIGN_IN_ATTEMPTS_PER_MINUTE, 60.0, limits=auth._LIMITER.limits))
    return isolated_install


def _app(**auth_settings) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=APP_TIMEOUT_S)
    at.secrets["auth"] = {**AUTH, **auth_settings}
    return at


def _sidebar_text(at) -> str:
    return "\n".join(str(element.value) for kind in ("caption", "error", "markdown") for element in getattr(at.sidebar, kind))


def _page_text(at) -> str:
    return "\n".join(str(element.value) for kind in ("title", "info", "markdown", "error", "caption") for element in getattr(at, kind))


def _try_password(at: AppTest, password: str) -> AppTest:
    at.sidebar.text_input(key="auth_password").input(password)
    return at.sidebar.button[0].click().run()


# --------------------------------------------------------------------------------------
# 1. The attempt limit holds across sessions, with or without a client address
# --------------------------------------------------------------------------------------


def test_new_sessions_without_an_address_share_one_limit(hosted, monkeypatch):
    # AppTest, like a loopback browser, has no client address; unlike a browser, every AppTest
    # has the same session id, so each gets its own here, as each new browser tab would.
    import uuid

    import streamlit as st

    monkeypatch.setattr(auth, "_session_id", lambda: st.session_state.setdefault("test_session_id", uuid.uuid4().hex))
    for wrong in ([1, 2], [3, 4], [5]):  # three sessions, five wrong passwords
        at = _app().run()
        for guess in wrong:
            assert "not the admin password" in _sidebar_text(_try_password(at, f"guess {guess}"))
    fourth = _try_password(_app().run(), PASSWORD)  # a fourth session, the right password, within the minute
    assert not fourth.exception, fourth.exception
    assert "Too many sign-in attempts" in _sidebar_text(fourth)
    assert NOT_SIGNED_IN in _sidebar_text(fourth)


def test_the_limiter_keys_name_the_address_or_one_unknown_bucket_and_the_account():
    assert auth.sign_in_keys(None) == auth.sign_in_keys("") == ["address:unknown", "account:admin"]
    assert auth.sign_in_keys("198.51.100.7") == ["address:198.51.100.7", "account:admin"]
    now = [0.0]
    limiter = AttemptLimiter(auth.SIGN_IN_ATTEMPTS_PER_MINUTE, 60.0, clock=lambda: now[0], limits=auth._LIMITER.limits)
    for _ in range(auth.SIGN_IN_ATTEMPTS_PER_MINUTE):
        assert limiter.try_attempt(*auth.sign_in_keys(None)) == 0.0
    assert limiter.try_attempt(*auth.sign_in_keys(None)) > 0  # any further session with no address
    # Many addresses together are held by the account's own limit.
    allowed = [limiter.try_attempt(*auth.sign_in_keys(f"192.0.2.{n}")) == 0.0 for n in range(1, 20)]
    assert sum(allowed) == auth.ADMIN_ATTEMPTS_PER_MINUTE - auth.SIGN_IN_ATTEMPTS_PER_MINUTE
    now[0] += 60.0
    assert limiter.try_attempt(*auth.sign_in_keys("192.0.2.99")) == 0.0


# --------------------------------------------------------------------------------------
# 2. X-Forwarded-For only from proxies the admin names
# --------------------------------------------------------------------------------------


def test_client_address_believes_the_header_only_from_a_trusted_proxy():
    proxies = [ip_network("10.0.0.2"), ip_network("192.0.2.0/24")]
    assert client_address("127.0.0.1", ["203.0.113.9"], ()) == "127.0.0.1"  # default: nobody is trusted
    assert client_address("198.51.100.7", ["203.0.113.9"], proxies) == "198.51.100.7"  # not a named proxy
    assert client_address("10.0.0.2", ["203.0.113.9"], proxies) == "203.0.113.9"
    # Right to left past every trusted hop; what a client wrote further left is not believed.
    assert client_address("10.0.0.2", ["6.6.6.6, 203.0.113.9, 192.0.2.5"], proxies) == "203.0.113.9"
    assert client_address("10.0.0.2", ["not-an-address, 192.0.2.5"], proxies) == "192.0.2.5"
    assert client_address("10.0.0.2", [], proxies) == "10.0.0.2"


def test_trusted_proxies_come_from_secrets_and_a_bad_entry_is_named(tmp_path, monkeypatch):
    secrets_file = tmp_path / "secrets.toml"
    monkeypatch.setenv("HUECAST_SECRETS_FILE", str(secrets_file))
    monkeypatch.delenv("HUECAST_TRUSTED_PROXIES", raising=False)
    assert settings.trusted_proxies() == ()
    secrets_file.write_text('[server]\ntrusted_proxies = ["10.0.0.2", "192.0.2.0/24"]\n')
    assert [str(network) for network in settings.trusted_proxies()] == ["10.0.0.2/32", "192.0.2.0/24"]
    secrets_file.write_text('[server]\ntrusted_proxies = ["10.0.0.2", "proxy.lab"]\n')
    with pytest.raises(ValueError, match=r"trusted_proxies: 'proxy.lab' is not an IP address"):
        settings.trusted_proxies()
    secrets_file.write_text('[server]\ntrusted_proxies = "10.0.0.2"\n')
    with pytest.raises(ValueError, match="is not a list"):
        settings.trusted_proxies()


@contextlib.contextmanager
def _served(app):
    """``app`` served by uvicorn on a free loopback port in a thread, as ``streamlit run`` serves it; yields the URL."""
    import uvicorn

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error", lifespan="off", ws="websockets-sansio"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.01)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


def _who_am_i_app(middleware):
    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route, WebSocketRoute

    async def who(request):
        return PlainTextResponse(request.client.host)

    async def who_ws(websocket):
        await websocket.accept()
        await websocket.send_text(websocket.client.host)
        await websocket.close()

    return Starlette(routes=[Route("/who", who), WebSocketRoute("/ws", who_ws)], middleware=middleware)


def _client_seen(host: str, forwarded_for: str) -> tuple[str, str]:
    """What the app takes for the client over HTTP and over a websocket (as a page's session sees it)."""
    from websockets.sync.client import connect

    request = urllib.request.Request(f"http://{host}/who", headers={"X-Forwarded-For": forwarded_for})
    with urllib.request.urlopen(request, timeout=5) as answer:
        over_http = answer.read().decode()
    with connect(f"ws://{host}/ws", additional_headers={"X-Forwarded-For": forwarded_for}, open_timeout=5) as websocket:
        over_websocket = websocket.recv(timeout=5)
    return over_http, over_websocket


def test_a_local_program_cannot_name_itself_anything_through_x_forwarded_for():
    from starlette.middleware import Middleware

    with _served(_who_am_i_app([])) as host:  # uvicorn alone: a loopback peer is believed (the fault)
        assert _client_seen(host, "203.0.113.9") == ("203.0.113.9", "203.0.113.9")
    untrusted = [Middleware(auth.ClientAddressMiddleware, trusted_proxies=())]
    with _served(_who_am_i_app(untrusted)) as host:
        assert _client_seen(host, "203.0.113.9") == ("127.0.0.1", "127.0.0.1")
    trusted = [Middleware(auth.ClientAddressMiddleware, trusted_proxies=[ip_network("127.0.0.1")])]
    with _served(_who_am_i_app(trusted)) as host:  # the admin named this proxy: its header counts
        assert _client_seen(host, "203.0.113.9") == ("203.0.113.9", "203.0.113.9")


def test_the_app_serves_the_sign_in_route_and_the_client_address_middleware():
    # The ASGI app as `streamlit run` imports it (in a fresh interpreter: building st.App sets process-wide config).
    import subprocess
    import sys

    probe = ("import json, dashboard.app as a; print(json.dumps([[m.cls.__name__ for m in a.app._user_middleware], "
             "[r.path for r in a.app._user_routes]]))")
    done = subprocess.run([sys.executable, "-c", probe], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    middleware, routes = json.loads(done.stdout.strip().splitlines()[-1])
    assert middleware == ["ApiCORSMiddleware", "ClientAddressMiddleware"]
    assert auth.SESSION_ROUTE in routes and "/api/v1/predict" in routes


# --------------------------------------------------------------------------------------
# 3. A sign-in survives a reload; sign-out ends it; an admin page's address shows a gate
# --------------------------------------------------------------------------------------


def test_a_signed_cookie_says_who_until_when_and_nothing_else_passes():
    now = [1_000_000.0]
    cookies = SignInCookies(b"k" * 32, 3600.0, PASSWORD_HASH, clock=lambda: now[0])
    value = cookies.issue()
    assert cookies.role(value) == "admin"
    assert PASSWORD_HASH not in value and PASSWORD not in value
    payload, signature = value.split(".")
    assert cookies.role(f"{payload}.{'0' * len(signature)}") is None  # tampered signature
    assert cookies.role(f"{payload[:-1]}{'B' if payload[-1] == 'A' else 'A'}.{signature}") is None  # tampered payload
    assert SignInCookies(b"other key " * 4, 3600.0, PASSWORD_HASH).role(value) is None
    assert SignInCookies(b"k" * 32, 3600.0, hash_password("new password", iterations=1)).role(value) is None  # password changed
    now[0] += 3600.0
    assert cookies.role(value) is None  # expired
    fresh = cookies.issue()
    cookies.revoke(fresh)
    assert cookies.role(fresh) is None  # signed out


def test_a_sign_out_is_kept_on_disk_across_restarts_and_processes(tmp_path, caplog):
    now = [1_000_000.0]
    path = tmp_path / "data" / "signed-out.txt"

    def server() -> SignInCookies:  # a server process started with the same settings and data folder
        return SignInCookies(b"k" * 32, 3600.0, PASSWORD_HASH, clock=lambda: now[0], signed_out_file=path)

    first, other = server(), server()
    kept, ended = first.issue(), first.issue()
    assert other.role(ended) == "admin"
    first.revoke(ended)
    assert first.role(ended) is None and other.role(ended) is None  # the other process reads the file anew
    assert server().role(ended) is None and server().role(kept) == "admin"  # after a restart
    with open(path, "a", encoding="ascii") as file:
        file.write("cut-short-by-a-crash\n")
    assert server().role(ended) is None and server().role(kept) == "admin"

    # Where the folder cannot be written, a sign-out still holds in this process, and the log says why.
    blocked = SignInCookies(b"k" * 32, 3600.0, PASSWORD_HASH, clock=lambda: now[0], signed_out_file=tmp_path / "a-file" / "signed-out.txt")
    (tmp_path / "a-file").write_text("not a folder")
    value = blocked.issue()
    with caplog.at_level("WARNING", logger="huecast.auth"):
        blocked.revoke(value)
    assert blocked.role(value) is None
    assert "could not be kept in signed-out.txt" in caplog.text and "until this server restarts" in caplog.text


def _post(url: str, body: bytes = b"", method: str = "POST", cookie: str | None = None):
    request = urllib.request.Request(url, data=body if method == "POST" else None, method=method, headers={"Cookie": cookie} if cookie else {})
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            return answer.status, answer.headers.get_all("set-cookie") or []
    except urllib.error.HTTPError as error:
        return error.code, error.headers.get_all("set-cookie") or []


@pytest.fixture
def session_route(hosted, monkeypatch):
    """The app's sign-in route served by uvicorn, with the password settings of ``_app``."""
    from starlette.applications import Starlette

    monkeypatch.setattr(auth, "_secrets_section", lambda name: dict(AUTH, session_hours=2) if name == "auth" else {})
    with _served(Starlette(routes=auth.ROUTES)) as host:
        yield f"http://{host}{auth.SESSION_ROUTE}"


def test_the_route_trades_a_one_time_token_for_an_httponly_strict_cookie_and_clears_it(session_route, hosted):
    token = auth._TOKENS.issue("admin")
    status, set_cookies = _post(session_route, token.encode())
    assert status == 204
    [header] = set_cookies
    attributes = {part.strip().split("=")[0].lower() for part in header.split(";")}
    assert {"httponly", "path", "max-age"} <= attributes and "samesite=strict" in header.lower()
    assert "max-age=7200" in header.lower()  # [auth] session_hours = 2
    value = re.match(rf"{SignInCookies.NAME}=([^;]+)", header).group(1)
    assert auth._cookie_signer().role(value) == "admin"
    key_file = hosted.data_dir / auth.KEY_FILE  # no [server] secret: a key kept in the data folder
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert _post(session_route, token.encode())[0] == 403  # a token works once
    assert _post(session_route, b"made-up")[0] == 403
    assert _post(session_route, b"x" * 100_000)[0] == 413  # read no further than a token could be
    status, set_cookies = _post(session_route, method="DELETE", cookie=f"{SignInCookies.NAME}={value}")
    assert status == 204 and set_cookies and "max-age=0" in set_cookies[0].lower()
    assert auth._cookie_signer().role(value) is None  # revoked, not only cleared
    auth._cookie_signers.clear()  # a restart: the sign-out is read back from the data folder
    assert auth._cookie_signer().role(value) is None
    assert (hosted.data_dir / auth.SIGNED_OUT_FILE).is_file()


def _browser_token(at: AppTest) -> str:
    scripts = [element.value for element in at.sidebar.get("html")]
    [script] = [body for body in scripts if auth.SESSION_ROUTE in body]
    assert '"POST"' in script and "credentials" in script
    return re.search(r'body: "([A-Za-z0-9_-]+)"', script).group(1)


def test_a_sign_in_survives_a_reload_and_sign_out_ends_it(session_route, hosted, monkeypatch):
    at = _try_password(_app(session_hours=2).run(), PASSWORD)
    assert "Signed in as lab lead (admin)." in _sidebar_text(at)
    # The browser trades the page's one-time token for the cookie.
    status, [header] = _post(session_route, _browser_token(at).encode())
    assert status == 204
    cookie = re.match(rf"{SignInCookies.NAME}=([^;]+)", header).group(1)

    # A reload: a new session whose page load carries the cookie.
    monkeypatch.setattr(auth, "_request_cookies", lambda: {SignInCookies.NAME: cookie})
    reloaded = _app(session_hours=2).run()
    assert "Signed in as lab lead (admin)." in _sidebar_text(reloaded)
    reloaded.switch_page(str(PAGES / "retrain.py")).run()
    assert not reloaded.exception, reloaded.exception
    assert "Model history" in [header.value for header in reloaded.header]

    reloaded.sidebar.button(key="auth_sign_out").click().run()
    assert NOT_SIGNED_IN in _sidebar_text(reloaded)
    assert any('"DELETE"' in element.value for element in reloaded.sidebar.get("html"))  # the browser drops it
    again = _app(session_hours=2).run()  # a reload that still sends the old cookie
    assert NOT_SIGNED_IN in _sidebar_text(again)


def test_a_visitor_is_told_what_they_can_do_and_how_to_sign_in_never_signed_in_as_viewer(hosted):
    text = _sidebar_text(_app().run())
    assert "Not signed in: you can predict, run batches, formulate, plan experiments and review how accurate the model is." in text
    assert "Sign in with the admin password to also upload measurements, retrain and promote models." in text
    assert "Signed in as" not in text and "(viewer)" not in text
    assert "Signed in as lab lead (admin)." in _sidebar_text(_try_password(_app().run(), PASSWORD))


def test_a_tampered_or_foreign_cookie_is_a_viewer(hosted, monkeypatch):
    monkeypatch.setattr(auth, "_request_cookies", lambda: {SignInCookies.NAME: SignInCookies(b"x" * 32, 3600.0, PASSWORD_HASH).issue()})
    assert NOT_SIGNED_IN in _sidebar_text(_app().run())


def test_an_admin_page_address_shows_a_sign_in_gate_not_page_not_found(hosted):
    at = _try_password(_app().run(), PASSWORD)
    at.switch_page(str(PAGES / "retrain.py")).run()
    assert "Model history" in [header.value for header in at.header]
    # The sign-in ends (a reload without the cookie, or a viewer's link to /retrain): same address, a gate.
    at.session_state[state.SIGNED_IN] = None
    at.run()
    assert not at.exception, at.exception
    text = _page_text(at)
    assert "Retrain is for admins" in text and "Page not found" not in text
    assert not at.sidebar.text_input, "the password form is on the page, not twice"
    assert not [button.label for button in at.button if re.search(r"promot|roll ?back|train", button.label, re.I)]
    at.text_input(key="auth_gate_password").input(PASSWORD)
    [sign_in] = [button for button in at.button if button.label == "Sign in as admin"]
    sign_in.click().run()
    assert not at.exception, at.exception
    assert "Model history" in [header.value for header in at.header]  # signed in on the gate: the page itself


def test_a_bad_session_lifetime_is_named(hosted):
    at = _app(session_hours="eight").run()
    assert not at.exception, at.exception
    assert "[auth] session_hours = 'eight'" in _sidebar_text(at)


# --------------------------------------------------------------------------------------
# 4. A table's toolbar download carries no formula
# --------------------------------------------------------------------------------------


def test_a_user_string_shown_in_a_table_is_neutralised(open_dashboard, isolated_install, shipped, tmp_path):
    isolated_install.copy_shipped_models()
    model, _ = shipped
    colorants = list(model.colorants_)
    zeros = ",".join(["0"] * (len(colorants) - 1))
    link = '=HYPERLINK("http://example.com/x","click")'
    source = tmp_path / "recipes.csv"
    source.write_text(f"name,{','.join(colorants)},thickness_um\n\"{link.replace(chr(34), chr(34) * 2)}\",5,{zeros},8\n@SUM(1+1),2,{zeros},10\n")
    at = open_dashboard("batch.py")
    at.file_uploader(key="batch_upload").set_value((source.name, source.read_bytes(), "text/csv")).run()
    assert not at.exception, at.exception
    [table] = [frame.value for frame in at.dataframe if "swatch" in frame.value.columns]
    # Streamlit's toolbar "Download as CSV" writes the cells as shown: these open as text, not formulas.
    assert table["name"].tolist() == ["'" + link, "'@SUM(1+1)"]


def test_every_page_table_goes_through_the_formula_guard():
    """Each ``st.dataframe`` in a page shows ``neutralise_formulas(...)`` (or its ``.style``), so no new table forgets it."""
    unguarded = []
    for page in sorted(PAGES.glob("*.py")):
        for node in ast.walk(ast.parse(page.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in ("dataframe", "data_editor", "table"):
                shown = node.args[0] if node.args else None
                while isinstance(shown, (ast.Call, ast.Attribute)) and not (isinstance(shown, ast.Call) and getattr(shown.func, "id", None) == "neutralise_formulas"):
                    shown = shown.func if isinstance(shown, ast.Call) else shown.value
                if not (isinstance(shown, ast.Call) and getattr(shown.func, "id", None) == "neutralise_formulas"):
                    unguarded.append(f"{page.name}:{node.lineno}")
    assert not unguarded, f"tables shown without model.io.safe_csv.neutralise_formulas: {unguarded}"


def test_secrets_toml_is_ignored_by_git():
    import subprocess

    done = subprocess.run(["git", "check-ignore", "-q", ".streamlit/secrets.toml"], cwd=REPO_ROOT, check=False)
    assert done.returncode == 0, ".streamlit/secrets.toml is not in .gitignore"
