"""Access: a viewer reaches no admin action, through the pages or the library; secrets never leak.

Roles come from Streamlit secrets (``[auth] admin_password_hash``, see dashboard/common.py).
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

from model.io import PreparedUpload
from model.ops import jobs, registry, retrain, search
from model.ops.access import VIEWER, PermissionDenied, User
from model.ops.passwords import hash_password
from model.ops.store import MeasurementStore

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
    return sorted(path for path in PAGES.glob("*.py") if path.name != "retrain.py")


def test_a_viewer_reaches_no_admin_control_on_any_page_and_sees_no_secret(hosted, caplog):
    caplog.set_level(logging.DEBUG)
    at = _app().run()
    assert not at.exception, at.exception
    assert "Signed in as viewer (viewer)." in _all_text(at.sidebar)
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
    from model.ops.access import LOCAL_ADMIN

    store.add(PreparedUpload(tiny_dataset.subset(np.arange(8)), None, ("first.csv",), "first"), user=LOCAL_ADMIN)
    return store


def _viewer_calls(models_dir: Path, store: MeasurementStore, dataset, tmp_path: Path):
    version = registry.champion_version(models_dir)
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
        "promote in the registry": lambda user: registry.promote(version, models_dir, user=user),
        "start a search": lambda user: search.start_search_job(dataset, user=user, models_dir=models_dir),
        "promote a searched configuration": lambda user: search.start_promotion_job(tmp_path, "baseline", dataset, user=user, models_dir=models_dir),
        "promote a configuration now": lambda user: search.promote_configuration(None, "baseline", dataset, user=user, models_dir=models_dir),
        "start any job in the queue": lambda user: jobs.start_job("training", print, (), user=user, jobs_dir=jobs_dir),
        "cancel any job in the queue": lambda user: jobs.cancel_job("job-1", user=user, jobs_dir=jobs_dir),
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
