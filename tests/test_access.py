"""Access: a viewer reaches no admin action, through the pages or the library; secrets never leak.

Roles come from Streamlit secrets (``[auth] admin_password_hash``, see dashboard/auth.py).
The UI hides admin controls from a viewer, and every admin function in ``model/`` checks
the user again, so a page that forgot to hide a button still could not act.
"""

from __future__ import annotations

import logging
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from model.auth.access import VIEWER, PermissionDenied, User
from model.auth.passwords import hash_password
from model.io import PreparedUpload
from model.jobs import job_queue, retrain, search
from model.registry import promotion, registry
from model.registry.registry import ModelRegistry
from model.store.measurements import MeasurementStore

REPO_ROOT = Path(__file__).resolve().parents[1]
APP = REPO_ROOT / "dashboard" / "app.py"
PAGES = REPO_ROOT / "dashboard" / "app_pages"
APP_TIMEOUT_S = 90
PASSWORD = "tr0ub4dor&3 but longer"
PASSWORD_HASH = hash_password(PASSWORD, iterations=1)  # the iteration count lives in the hash
SECRET_PARTS = [PASSWORD, PASSWORD_HASH, *PASSWORD_HASH.split("$")[2:]]  # salt and digest too
ADMIN_CONTROL = re.compile(r"promot|roll ?back|retrain|train a|search|store these|exclude|include|discard|cancel", re.IGNORECASE)


@pytest.fixture
def hosted(tmp_path, monkeypatch):
    """A tmp install holding a copy of the shipped models, and an empty store."""
    models_dir = tmp_path / "models"
    shutil.copytree(REPO_ROOT / "trained_models", models_dir)
    monkeypatch.setenv("HUECAST_MODELS_DIR", str(models_dir))
    monkeypatch.setenv("HUECAST_DATA_DIR", str(tmp_path / "data"))
    return models_dir


def _app() -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=APP_TIMEOUT_S)
    at.secrets["auth"] = {"admin_password_hash": PASSWORD_HASH, "admin_name": "lab lead"}
    return at


def _all_text(at) -> str:
    """Everything a person could read on the page and in the sidebar, widgets included."""
    parts = []
    for kind in ("markdown", "caption", "info", "success", "error", "warning", "code", "json", "title", "header", "subheader", "text", "exception"):
        for element in getattr(at, kind, []):
            parts.append(str(getattr(element, "value", element)))
    for kind in ("button", "text_input", "number_input", "selectbox", "multiselect", "slider", "radio", "checkbox", "metric"):
        for element in getattr(at, kind, []):
            parts.append(f"{getattr(element, 'label', '')} {getattr(element, 'value', '')}")
    for frame in getattr(at, "dataframe", []):
        parts.append(frame.value.to_csv())
    return "\n".join(parts)


def _reachable_pages() -> list[Path]:
    # A file starting with "_" is a helper the pages share, not a page.
    return sorted(path for path in PAGES.glob("*.py") if path.name != "retrain.py" and not path.name.startswith("_"))


def test_a_viewer_reaches_no_admin_control_on_any_page_and_sees_no_secret(hosted, caplog):
    caplog.set_level(logging.DEBUG)
    at = _app().run()
    assert not at.exception, at.exception
    assert "Not signed in: you can" in _all_text(at.sidebar)
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        at.switch_page(str(PAGES / "retrain.py"))
    visited = []
    for page in _reachable_pages():
        at.switch_page(str(page)).run()
        assert not at.exception, f"{page.name}: {at.exception}"
        labels = [button.label for button in at.button] + [button.label for button in at.sidebar.button]
        admin_buttons = [label for label in labels if ADMIN_CONTROL.search(label)]
        assert not admin_buttons, f"{page.name} shows a viewer {admin_buttons}"
        uploaders = at.get("file_uploader")
        if page.name != "batch.py":  # predicting a CSV of recipes is for everyone
            assert not uploaders, f"{page.name} offers a viewer an upload"
        text = _all_text(at) + _all_text(at.sidebar)
        leaked = [part for part in SECRET_PARTS if part in text]
        assert not leaked, f"{page.name} shows a secret"
        visited.append(page.name)
    assert {"predict.py", "batch.py"} <= set(visited)
    assert not [part for part in SECRET_PARTS if part in caplog.text], "a secret reached the logs"


# A viewer who opens app_pages/retrain.py directly gets no controls: tests/test_dashboard_retrain.py.


def test_signing_in_as_admin_shows_no_secret_in_pages_or_logs(hosted, caplog):
    caplog.set_level(logging.DEBUG)
    at = _app().run()
    at.sidebar.text_input(key="auth_password").input(PASSWORD)
    at.sidebar.button[0].click().run()
    assert not at.exception, at.exception
    assert "Signed in as lab lead (admin)." in _all_text(at.sidebar)
    at.switch_page(str(PAGES / "retrain.py")).run()
    assert not at.exception, at.exception
    text = _all_text(at) + _all_text(at.sidebar)
    assert not [part for part in SECRET_PARTS if part in text]
    assert not [part for part in SECRET_PARTS if part in caplog.text]
    # The password field is emptied after signing in (clear_on_submit), so no later rerun echoes it.
    assert all(field.value in ("", None) for field in at.sidebar.text_input)


# --------------------------------------------------------------------------------------
# The library refuses a viewer, and refuses before it changes anything
# --------------------------------------------------------------------------------------


@pytest.fixture
def stocked(hosted, tmp_path, tiny_dataset):
    store = MeasurementStore(tmp_path / "data" / "measurements.sqlite3", seed=False)
    from model.auth.access import LOCAL_ADMIN

    store.add(PreparedUpload(tiny_dataset.subset(np.arange(8)), None, ("first.csv",), "first"), user=LOCAL_ADMIN)
    return store


def _viewer_calls(models_dir: Path, store: MeasurementStore, dataset, tmp_path: Path):
    version = ModelRegistry(models_dir).champion_version()
    prepared = PreparedUpload(dataset.subset(np.arange(8, 12)), None, ("more.csv",), "more")
    jobs_dir = tmp_path / "jobs"
    return {
        "upload measurements": lambda user: store.add(prepared, user=user),
        "exclude a measurement": lambda user: store.exclude([1], user=user, reason="suspect"),
        "include a measurement": lambda user: store.include([1], user=user),
        "train a challenger": lambda user: retrain.start_challenger(dataset, user=user, models_dir=models_dir, jobs_dir=jobs_dir),
        "cancel a training job": lambda user: retrain.cancel_job("job-1", user=user, jobs_dir=jobs_dir),
        "promote": lambda user: retrain.promote_challenger(version, user=user, models_dir=models_dir),
        "roll back": lambda user: retrain.rollback(version, user=user, models_dir=models_dir),
        "discard a challenger": lambda user: retrain.discard_challenger(version, user=user, models_dir=models_dir),
        "promote in the registry": lambda user: ModelRegistry(models_dir).promote(version, user=user),
        "start a search": lambda user: search.start_search_job(dataset, user=user, models_dir=models_dir),
        "promote through the door": lambda user: promotion.promote(version, user=user, confirm=True, models_dir=models_dir),
        "roll back through the door": lambda user: promotion.promote(version, user=user, confirm=True, action="rollback", models_dir=models_dir),
        "start any job in the queue": lambda user: job_queue.start_job("training", print, (), user=user, jobs_dir=jobs_dir),
        "cancel any job in the queue": lambda user: job_queue.cancel_job("job-1", user=user, jobs_dir=jobs_dir),
    }


@pytest.mark.parametrize("user", [VIEWER, User("signed-in customer", "viewer"), None], ids=["anonymous viewer", "named viewer", "no user"])
def test_every_admin_function_refuses_a_viewer_before_changing_anything(hosted, stocked, tiny_dataset, tmp_path, user):
    models_dir = hosted
    before = {
        "store": stocked.version(),
        "pointer": (models_dir / registry.POINTER_FILE).read_bytes(),
        "promotions": (models_dir / registry.PROMOTIONS_FILE).read_bytes(),
        "versions": sorted(p.name for p in models_dir.iterdir()),
    }
    calls = _viewer_calls(models_dir, stocked, tiny_dataset, tmp_path)
    for action, call in calls.items():
        with pytest.raises(PermissionDenied, match=r"cannot .*: this needs an admin"):
            call(user)
    after = {
        "store": stocked.version(),
        "pointer": (models_dir / registry.POINTER_FILE).read_bytes(),
        "promotions": (models_dir / registry.PROMOTIONS_FILE).read_bytes(),
        "versions": sorted(p.name for p in models_dir.iterdir()),
    }
    assert after == before
    assert not (tmp_path / "jobs").exists() or not any((tmp_path / "jobs").iterdir())
    assert len(calls) == 14


# --------------------------------------------------------------------------------------
# Secure by default: no sign-in configured is admin only on a loopback server
# --------------------------------------------------------------------------------------

from model.auth.access import LOCAL_ADMIN, AttemptLimiter, is_loopback_address, user_without_sign_in  # noqa: E402


@pytest.mark.parametrize(
    "address, loopback",
    [("127.0.0.1", True), ("127.8.9.10", True), ("::1", True), ("[::1]", True), ("localhost", True),
     ("", False), (None, False), ("0.0.0.0", False), ("::", False), ("192.0.2.10", False), ("lab-server", False)],
)
def test_only_a_literal_loopback_bind_address_counts_as_loopback(address, loopback):
    assert is_loopback_address(address) is loopback
    assert user_without_sign_in(address) == (LOCAL_ADMIN if loopback else VIEWER)


def test_a_request_through_a_proxy_is_never_the_local_admin():
    assert user_without_sign_in("127.0.0.1", forwarded=True) == VIEWER


@pytest.fixture
def bind_address():
    """Set Streamlit's ``server.address`` for an AppTest (same process), and put it back."""
    import streamlit as st

    before = st.get_option("server.address")
    yield lambda address: st.config.set_option("server.address", address)
    st.config.set_option("server.address", before)


def test_no_secrets_on_a_reachable_address_makes_every_visitor_a_viewer(hosted, bind_address):
    bind_address("0.0.0.0")
    at = AppTest.from_file(str(APP), default_timeout=APP_TIMEOUT_S).run()  # no secrets at all
    assert not at.exception, at.exception
    sidebar = _all_text(at.sidebar)
    assert "You are a viewer" in sidebar and "python3 -m model.auth.passwords" in sidebar and "secrets.toml" in sidebar
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        at.switch_page(str(PAGES / "retrain.py"))


def test_no_secrets_on_loopback_is_the_local_admin(hosted, bind_address):
    bind_address("127.0.0.1")
    at = AppTest.from_file(str(APP), default_timeout=APP_TIMEOUT_S).run()
    assert not at.exception, at.exception
    assert "Local single user: you are admin" in _all_text(at.sidebar)
    at.switch_page(str(PAGES / "retrain.py")).run()
    assert not at.exception, at.exception


# --------------------------------------------------------------------------------------
# Password attempts are rate-limited, per client address and for the admin account, and logged
# --------------------------------------------------------------------------------------


def test_the_limiter_allows_five_a_minute_per_key_and_holds_every_key():
    now = [1000.0]
    limiter = AttemptLimiter(max_attempts=5, window_s=60.0, clock=lambda: now[0])
    for _ in range(5):
        assert limiter.try_attempt("session:a", "address:1") == 0.0
    assert limiter.try_attempt("session:a", "address:1") == pytest.approx(60.0)
    # A new session from the same address is still held by the address.
    assert limiter.try_attempt("session:b", "address:1") > 0
    # Another address is not.
    assert limiter.try_attempt("session:c", "address:2") == 0.0
    now[0] += 59.0
    assert limiter.try_attempt("session:a", "address:1") == pytest.approx(1.0)
    now[0] += 1.0
    assert limiter.try_attempt("session:a", "address:1") == 0.0


def _try_password(at: AppTest, password: str) -> AppTest:
    at.sidebar.text_input(key="auth_password").input(password)
    return at.sidebar.button[0].click().run()


@pytest.fixture
def fresh_limiter(monkeypatch):
    """A new sign-in attempt limiter for this test (the server's is one per process)."""
    from dashboard import auth

    limiter = AttemptLimiter(auth.SIGN_IN_ATTEMPTS_PER_MINUTE, 60.0, limits=auth._LIMITER.limits)
    monkeypatch.setattr(auth, "_LIMITER", limiter)
    return limiter


def test_password_attempts_are_limited_per_address_and_logged_without_the_password(hosted, caplog, monkeypatch, fresh_limiter):
    from dashboard import auth

    caplog.set_level(logging.INFO, logger="huecast.access")
    # AppTest has no request, so the client address is set here.
    monkeypatch.setattr(auth, "_client_address", lambda: "198.51.100.7")
    at = _app().run()
    for attempt in range(5):
        _try_password(at, f"wrong guess {attempt}")
        assert "not the admin password" in _all_text(at.sidebar)
    _try_password(at, PASSWORD)  # the right password, but the sixth attempt within the minute
    assert "Too many sign-in attempts" in _all_text(at.sidebar)
    assert "Not signed in: you can" in _all_text(at.sidebar)
    # A fresh session from the same address is held too.
    fresh = _try_password(_app().run(), PASSWORD)
    assert "Too many sign-in attempts" in _all_text(fresh.sidebar)
    failed = [record for record in caplog.records if record.getMessage().startswith("Failed admin sign-in")]
    assert len(failed) == 5 and all("198.51.100.7" in record.getMessage() for record in failed)
    assert not [part for part in SECRET_PARTS if part in caplog.text]
    assert "wrong guess" not in caplog.text
    # Another address may still sign in.
    monkeypatch.setattr(auth, "_client_address", lambda: "192.0.2.1")
    other = _try_password(_app().run(), PASSWORD)
    assert "Signed in as lab lead (admin)." in _all_text(other.sidebar)


# --------------------------------------------------------------------------------------
# API keys: only hashes in secrets; a command makes them; admin only with an admin key
# --------------------------------------------------------------------------------------

from model.auth import api_keys  # noqa: E402


def test_the_api_key_command_prints_a_key_once_and_only_its_hash_for_secrets(capsys):
    assert api_keys.main(["--name", "lims", "--role", "admin"]) == 0
    out = capsys.readouterr().out
    key = re.search(r"\b(hck_[A-Za-z0-9_-]{43})\b", out).group(1)
    entry = out[out.index("[[api.keys]]"):]
    assert key not in entry and f'hash = "{api_keys.hash_key(key)}"' in entry and 'role = "admin"' in entry
    import tomllib

    keys = api_keys.ApiKeys.from_secrets(tomllib.loads(entry.replace("[[api.keys]]", "[[keys]]")))
    assert keys.user_for(key) == User("api key lims", "admin")
    assert keys.user_for(key + "x") is None and keys.user_for(None) is None


def test_api_access_open_or_keyed_and_admin_only_with_an_admin_key():
    viewer_key, admin_key = api_keys.new_key(), api_keys.new_key()
    entries = [{"name": "lims", "role": "viewer", "hash": api_keys.hash_key(viewer_key)},
               {"name": "lead", "role": "admin", "hash": api_keys.hash_key(admin_key)}]
    open_reads = api_keys.ApiKeys.from_secrets({"keys": entries})
    keyed_reads = api_keys.ApiKeys.from_secrets({"keys": entries, "read_access": "key"})
    assert open_reads.authorize(None, admin=False) is None
    with pytest.raises(api_keys.ApiAccessError) as refused:
        keyed_reads.authorize(None, admin=False)
    assert refused.value.status == 401
    assert keyed_reads.authorize(viewer_key, admin=False).name == "api key lims"
    with pytest.raises(api_keys.ApiAccessError) as refused:
        open_reads.authorize(api_keys.new_key(), admin=False)  # an unknown key is refused even where reads are open
    assert refused.value.status == 401
    for keys in (open_reads, keyed_reads):
        with pytest.raises(api_keys.ApiAccessError) as refused:
            keys.authorize(None, admin=True)
        assert refused.value.status == 401
        with pytest.raises(api_keys.ApiAccessError) as refused:
            keys.authorize(viewer_key, admin=True)
        assert refused.value.status == 403
        assert keys.authorize(admin_key, admin=True).is_admin
    # No keys at all: reads open, admin never.
    with pytest.raises(api_keys.ApiAccessError):
        api_keys.ApiKeys.from_secrets(None).authorize(None, admin=True)


@pytest.mark.parametrize(
    "section, words",
    [
        ({"read_access": "sometimes"}, "read_access='sometimes'"),
        ({"keys": [{"name": "x", "role": "owner", "hash": "sha256$" + "0" * 64}]}, "role='owner'"),
        ({"keys": [{"name": "x", "hash": "md5$abc"}]}, "'x': hash is not"),
        ({"keys": [{"name": "x", "hash": "sha256$" + "0" * 63}]}, "'x': hash is not"),
    ],
)
def test_malformed_key_settings_name_the_field_and_never_echo_the_hash(section, words):
    with pytest.raises(ValueError) as error:
        api_keys.ApiKeys.from_secrets(section)
    assert words in str(error.value)
    assert "0" * 63 not in str(error.value) and "md5$abc" not in str(error.value)


def test_the_password_command_refuses_a_short_password_and_says_what_a_missing_second_entry_is(monkeypatch, capsys):
    import getpass

    from model.auth import passwords

    def typed(*entries):
        answers = iter(entries)

        def ask(prompt=""):
            try:
                return next(answers)
            except StopIteration:
                raise EOFError from None

        monkeypatch.setattr(getpass, "getpass", ask)

    typed("short", "short")
    assert passwords.main([]) == 1 and "The password has 5 characters; use at least 12" in capsys.readouterr().err
    typed("a long enough phrase")
    assert passwords.main([]) == 1 and "not given a second time" in capsys.readouterr().err
    typed("a long enough phrase", "a long enough phrase")
    assert passwords.main([]) == 0
    line = [text for text in capsys.readouterr().out.splitlines() if text.startswith("admin_password_hash")][0]
    assert passwords.verify_password("a long enough phrase", line.split('"')[1])
