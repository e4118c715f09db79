"""While the champion is the synthetic demo, the pages say so plainly (AppTest), and Batch explains a lab's
recipe table instead of suggesting to rename the lab's colorants after the demo's."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from model.presentation.demo_notice import DEMO_NOTICE, RETRAIN_LINK_LABEL, demo_colorants_note
from model.registry.training_data import trained_on_demo
from model.serving import batch

APP_TIMEOUT_S = 60
#: Every page of dashboard/app.py's navigation (Retrain too: the local user is admin).
PAGES = ["predict.py", "batch.py", "formulate.py", "plan.py", "compare.py", "overview.py", "retrain.py"]


def _notices(at) -> list[str]:
    return [info.value for info in at.info if DEMO_NOTICE in info.value]


def test_trained_on_demo_reads_the_data_name_of_a_card():
    assert trained_on_demo({"name": "demo"}) and trained_on_demo({"name": "Synthetic demo"})
    assert not trained_on_demo({"name": "first"}) and not trained_on_demo({})


def test_every_page_says_in_its_main_area_that_the_demo_model_is_in_use_with_a_link_to_retrain(repo_root):
    at = AppTest.from_file(str(repo_root / "dashboard" / "app.py"), default_timeout=APP_TIMEOUT_S).run()
    for page in PAGES:
        if page != "predict.py":
            at.switch_page(f"app_pages/{page}").run()
        assert not at.exception, (page, at.exception)
        assert len(_notices(at)) == 1, page  # in the main area (at.info is the main area's; the sidebar's is at.sidebar.info)
        assert not [info for info in at.sidebar.info if DEMO_NOTICE in info.value]
        assert _retrain_links(at) == ["retrain"], page


def _retrain_links(at) -> list[str]:
    """Where the main area's links labelled RETRAIN_LINK_LABEL lead (their URL path)."""
    return [link.proto.page for link in at.main.get("page_link") if link.proto.label == RETRAIN_LINK_LABEL]


def test_a_viewer_is_linked_to_the_retrain_address_where_the_sign_in_gate_is(isolated_install, repo_root, tmp_path, monkeypatch):
    from model.auth.passwords import hash_password

    isolated_install.copy_shipped_models()
    monkeypatch.setenv("HUECAST_SECRETS_FILE", str(tmp_path / "no-secrets.toml"))
    at = AppTest.from_file(str(repo_root / "dashboard" / "app.py"), default_timeout=APP_TIMEOUT_S)
    at.secrets["auth"] = {"admin_password_hash": hash_password("not used here", iterations=1)}
    at.run()
    assert not at.exception, at.exception
    assert any(caption.value.startswith("Not signed in") for caption in at.sidebar.caption)  # a viewer: Retrain is the gate
    assert len(_notices(at)) == 1 and _retrain_links(at) == ["retrain"]


def test_no_demo_notice_for_a_model_trained_on_the_labs_measurements(tiny_install, open_dashboard):
    at = open_dashboard("batch.py", APP_TIMEOUT_S)
    assert not _notices(at) and not _retrain_links(at)
    at.switch_page("app_pages/predict.py").run()
    assert not at.exception and not _notices(at) and not _retrain_links(at)


def _upload(at, path):
    at.file_uploader(key="batch_upload").set_value((path.name, path.read_bytes(), "text/csv")).run()
    assert not at.exception, at.exception


def test_batch_explains_the_labs_recipe_table_on_the_demo_instead_of_suggesting_a_rename(real_data_dir, open_dashboard, shipped):
    model, _ = shipped
    at = open_dashboard("batch.py", APP_TIMEOUT_S)
    _upload(at, real_data_dir / "Concentrations.csv")
    problems = [frame.value for frame in at.dataframe if "problem" in frame.value.columns]
    assert problems and not any("rename it to" in text for text in problems[0]["problem"])  # was: rename 'BiVaO4 (%)' to 'BiVaYellow'
    notes = [info.value for info in at.info if info.value == demo_colorants_note(model.colorants_)]
    assert len(notes) == 1 and "not your lab's" in notes[0] and "Retrain" in notes[0]


def test_a_model_of_the_labs_own_colorants_still_suggests_a_rename(real_data_dir, tiny_install):
    # The tiny champion is trained on store data (not the demo): a close header may be a typo, so it is suggested.
    model = tiny_install["model"]
    with pytest.raises(batch.IngestError) as refused:
        batch.predict_csv((real_data_dir / "Concentrations.csv").read_bytes(), model, name="Concentrations.csv")
    assert any("rename it to 'BiVaYellow'" in problem.message for problem in refused.value.problems)
    assert batch.names_missing_colorants(refused.value, model.colorants_)
    with pytest.raises(batch.IngestError) as quiet:
        batch.predict_csv((real_data_dir / "Concentrations.csv").read_bytes(), model, name="Concentrations.csv", suggest_renames=False)
    assert not any("rename it to" in problem.message for problem in quiet.value.problems)
    assert any("'thickness_um'" in problem.message for problem in quiet.value.problems)  # what the file must still fix
