"""The Retrain page and sign-in, driven through AppTest with secrets set in the test.

Streamlit 1.67's AppTest can set a file uploader (``set_value``), so the upload goes
through the real widget. Everything runs against a tmp models directory (a tiny
champion) and a tmp store (HUECAST_MODELS_DIR, HUECAST_DATA_DIR).
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from model.ops import registry, retrain
from model.ops.passwords import hash_password

APP_TIMEOUT_S = 60
APP = str(Path(__file__).resolve().parents[1] / "dashboard" / "app.py")
PASSWORD = "correct horse battery staple"
# One PBKDF2 round keeps the test quick; the iteration count lives in the hash string.
PASSWORD_HASH = hash_password(PASSWORD, iterations=1)


@pytest.fixture
def hosted(tiny_install, monkeypatch, tiny_dataset):
    """The tmp install, plus the rest of the tiny dataset as a tidy CSV to upload."""
    # Quick challenger CV (3 folds x 1 seed): the test waits for it.
    monkeypatch.setenv("HUECAST_RETRAIN_CV", "3x1")
    new_rows = io.BytesIO()
    tiny_dataset.subset(np.arange(24, len(tiny_dataset))).to_tidy_csv(new_rows)
    return {**tiny_install, "champion": tiny_install["card"].version, "upload": new_rows.getvalue()}


def app_with_password_secrets() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=APP_TIMEOUT_S)
    at.secrets["auth"] = {"admin_password_hash": PASSWORD_HASH, "admin_name": "lab lead"}
    return at


def texts(at) -> str:
    return "\n".join(str(element.value) for kind in ("markdown", "caption", "info", "success", "error", "warning") for element in getattr(at, kind))


def test_viewer_sees_no_retrain_controls(hosted):
    at = app_with_password_secrets()
    at.run()
    assert not at.exception, at.exception
    assert "Signed in as viewer (viewer)." in texts(at.sidebar)
    # The page is not in a viewer's navigation at all …
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        at.switch_page(str(Path(APP).parent / "app_pages" / "retrain.py"))
    assert PASSWORD_HASH not in texts(at) + texts(at.sidebar)  # the secret is never shown
    # … and the page itself refuses a viewer who reaches it anyway: no upload, train or promote controls.
    page = AppTest.from_file(str(Path(APP).parent / "app_pages" / "retrain.py"), default_timeout=APP_TIMEOUT_S)
    page.secrets["auth"] = {"admin_password_hash": PASSWORD_HASH}
    page.run()
    assert not page.exception, page.exception
    assert "Retraining is for admins" in texts(page)
    assert not page.button and not page.get("file_uploader")


def test_wrong_password_stays_viewer(hosted):
    at = app_with_password_secrets()
    at.run()
    at.sidebar.text_input(key="auth_password").input("wrong")
    at.sidebar.button[0].click().run()
    assert "not the admin password" in texts(at.sidebar)
    assert "Signed in as viewer (viewer)." in texts(at.sidebar)


def test_no_secrets_means_local_admin(hosted):
    at = AppTest.from_file(APP, default_timeout=APP_TIMEOUT_S)
    at.run()
    assert not at.exception, at.exception
    assert "Local single user: you are admin" in texts(at.sidebar)


def test_admin_uploads_retrains_compares_promotes_and_rolls_back(hosted, tiny_dataset):
    at = app_with_password_secrets()
    at.run()
    at.sidebar.text_input(key="auth_password").input(PASSWORD)
    at.sidebar.button[0].click().run()
    assert "Signed in as lab lead (admin)." in texts(at.sidebar)
    at.switch_page(str(Path(APP).parent / "app_pages" / "retrain.py")).run()
    assert not at.exception, at.exception

    # 1-3: upload through the real file uploader, read the report, commit.
    at.get("file_uploader")[0].set_value(("new.csv", hosted["upload"], "text/csv"))
    at.run()
    assert not at.exception, at.exception
    assert {m.label: m.value for m in at.metric}["Measurements to store"] == "8"
    at.button(key="retrain_commit").click().run()
    assert "Stored 8 measurements" in texts(at)
    assert hosted["store"].counts()["n_included"] == len(tiny_dataset)
    at.button(key="retrain_commit").click().run()
    assert "Nothing added" in texts(at)

    # 4: train (the champion's tiny config; the worker is a separate process).
    at.button(key="retrain_train").click().run()
    job = at.session_state["retrain_job"]
    status = retrain.wait_for_job(job, timeout=240)
    assert status.state == "done", status.message
    at.run()
    assert not at.exception, at.exception

    # 5: the comparison is shown: summary table and per-recipe chart.
    assert "Leave-recipe-out on the new dataset (32 measurements of 16 recipes)" in texts(at)
    tables = [frame.value for frame in at.dataframe]
    assert any(list(table.index) == ["mean ΔE00", "p95 ΔE00", "spectral MAE (reflectance 0–1)"] for table in tables), tables
    assert at.get("plotly_chart"), "the per-recipe chart is missing"

    # 6: promote.
    challenger = status.challenger_version
    at.button(key="retrain_promote").click().run()
    assert not at.exception, at.exception
    assert registry.champion_version(hosted["models_dir"]) == challenger
    assert f"{challenger} is now the champion" in texts(at)
    card = registry.read_card(challenger, hosted["models_dir"])
    assert card.dataset["store_version"] == hosted["store"].version()

    # Rollback: one click restores the earlier version's predictions exactly.
    old = hosted["champion"]
    at.button(key=f"retrain_rollback_{old}").click().run()
    assert not at.exception, at.exception
    assert registry.champion_version(hosted["models_dir"]) == old
    restored, _ = registry.load_champion(hosted["models_dir"])
    np.testing.assert_array_equal(restored.predict(tiny_dataset.recipes).reflectance, hosted["model"].predict(tiny_dataset.recipes).reflectance)
    np.testing.assert_array_equal(restored.predict(tiny_dataset.recipes).Lab, hosted["model"].predict(tiny_dataset.recipes).Lab)
    assert [entry["action"] for entry in registry.promotion_history(hosted["models_dir"])][-2:] == ["promote", "rollback"]
