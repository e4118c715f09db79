"""One door to the champion (issue 23): every route passes model.registry.promotion.promote.

Each route (the ops functions, Retrain's Promote, rollback, POST /api/v1/model/promote and
``python -m model train --promote``) refuses a challenger that predicts worse than the
champion until it is confirmed and a reason is written, and the reason goes into the
promotions log with the user. Compare never promotes; a rollback offers only former
champions scored on the same colorants and data; a retrain does not cross-validate a
champion of other colorants. Models are tiny and saved directly, so every test but the
CLI's (three quick trainings) and the retrain worker's (one, in-process) is sub-second.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest
from sklearn.base import clone
from streamlit.testing.v1 import AppTest

from model.auth.access import LOCAL_ADMIN, User
from model.jobs import retrain
from model.registry import promotion, registry
from model.registry.registry import ModelRegistry
from model.registry.comparison import Comparison, write_comparison

REPO_ROOT = Path(__file__).resolve().parents[1]
APP = str(REPO_ROOT / "dashboard" / "app.py")
LEAD = User("lab lead", "admin")
DEMO_INFO = {"name": "demo", "fingerprint": "d" * 64, "n_samples": 105, "n_recipes": 51, "colorants": ["FluoYellow", "BiVaYellow", "PearlBlue", "CarbonBlack"]}


def _comparison(champion: str, challenger: str, champion_error: float, challenger_error: float, n_recipes: int = 16) -> Comparison:
    """A same-folds comparison as a challenger job saves it (mean ΔE00 of each side)."""
    summary = pd.DataFrame(
        {"metric": ["mean ΔE00", "p95 ΔE00", "spectral MAE (reflectance 0–1)"], "champion": [champion_error, 2.0, 0.01],
         "challenger": [challenger_error, 2.0, 0.01], "better": ["champion", "equal", "equal"]}
    ).set_index("metric")
    per_recipe = pd.DataFrame({"recipe_id": [f"R{i}" for i in range(n_recipes)], "champion_delta_e00": champion_error,
                               "challenger_delta_e00": challenger_error, "difference": champion_error - challenger_error, "winner": "champion"})
    return Comparison(champion, challenger, "leave-recipe-out on the new dataset, the same folds for both", summary, per_recipe)


@pytest.fixture
def door(isolated_install, tiny_evaluated):
    """A champion ``v1`` (mean ΔE00 1.03) and a challenger ``v2`` of the same data that scored 1.21 on the same folds."""
    root = isolated_install.models_dir
    model, info = tiny_evaluated.model, tiny_evaluated.info
    ModelRegistry(root).save_model(model, metrics={"delta_e00_mean_headline": 1.03}, dataset_info=info, version="v1")
    ModelRegistry(root).promote("v1", user=LOCAL_ADMIN)
    ModelRegistry(root).save_model(model, metrics={"delta_e00_mean_headline": 1.21}, dataset_info=info, version="v2")
    return root


def _log(root) -> list[dict]:
    return ModelRegistry(root).promotion_history()


# ---- the door itself ---------------------------------------------------------------------


def test_a_losing_challenger_is_refused_until_confirmed_with_a_reason_which_is_logged_with_the_user(door):
    verdict = promotion.verdict("v2", models_dir=door)
    assert (verdict.outcome, verdict.tone, verdict.needs_override) == ("worse", "warning", True)
    assert verdict.sentence.startswith("The champion v1 predicts 15 % closer than v2: mean ΔE00 1.03 against 1.21 on the same 16 recipes and folds.")
    before = _log(door)
    with pytest.raises(promotion.PromotionRefused) as refused:
        retrain.promote_challenger("v2", user=LEAD, models_dir=door)
    assert (refused.value.field, refused.value.status, refused.value.verdict) == ("confirm", 422, verdict)
    for blank in (None, "", "   "):
        with pytest.raises(promotion.PromotionRefused, match="needs a written reason") as refused:
            retrain.promote_challenger("v2", user=LEAD, confirm=True, override_reason=blank, models_dir=door)
        assert (refused.value.field, refused.value.status) == ("override_reason", 409)
    with pytest.raises(promotion.PromotionRefused, match="at most 2,000") as refused:  # a reason, not a document in the log
        retrain.promote_challenger("v2", user=LEAD, confirm=True, override_reason="x" * (promotion.MAX_REASON_CHARS + 1), models_dir=door)
    assert refused.value.field == "override_reason"
    assert ModelRegistry(door).champion_version() == "v1" and _log(door) == before

    retrain.promote_challenger("v2", user=LEAD, confirm=True, override_reason=" the champion's data had a bad batch ", models_dir=door)
    assert ModelRegistry(door).champion_version() == "v2"
    entry = _log(door)[-1]
    assert {key: entry[key] for key in ("action", "version", "previous", "user", "verdict", "override_reason", "confirmed")} == {
        "action": "promote", "version": "v2", "previous": "v1", "user": "lab lead", "verdict": "worse",
        "override_reason": "the champion's data had a bad batch", "confirmed": True,
    }
    assert entry["verdict_sentence"] == verdict.sentence


def test_a_better_challenger_needs_only_confirmation_and_is_good_news(door, tiny_evaluated):
    ModelRegistry(door).save_model(tiny_evaluated.model, metrics={"delta_e00_mean_headline": 0.9}, dataset_info=tiny_evaluated.info, version="v3")
    verdict = promotion.verdict("v3", models_dir=door)
    assert (verdict.outcome, verdict.tone, verdict.needs_override) == ("better", "success", False)
    assert verdict.sentence.startswith("v3 predicts 13 % closer than the champion v1: mean ΔE00 0.90 against 1.03")
    with pytest.raises(promotion.PromotionRefused, match="confirm"):
        promotion.promote("v3", user=LEAD, models_dir=door)
    promotion.promote("v3", user=LEAD, confirm=True, models_dir=door)
    assert ModelRegistry(door).champion_version() == "v3" and "override_reason" not in _log(door)[-1]


def test_the_first_promotion_needs_no_comparison_and_says_so(isolated_install, tiny_evaluated):
    root = isolated_install.models_dir
    ModelRegistry(root).save_model(tiny_evaluated.model, metrics={}, dataset_info={}, version="v1")
    verdict = promotion.verdict("v1")
    assert (verdict.outcome, verdict.tone, verdict.needs_override) == ("first", "info", False)
    assert "There is no champion yet, so there is nothing to compare with" in verdict.sentence
    promotion.promote("v1", user=LEAD, confirm=True)
    assert ModelRegistry(root).champion_version() == "v1" and _log(root)[-1]["verdict"] == "first"


def test_a_saved_same_folds_comparison_is_read_in_either_direction(door):
    # The challenger job's comparison beside v2 (it says v2 wins) outranks the cards' figures.
    write_comparison(door / "v2", _comparison("v1", "v2", champion_error=1.20, challenger_error=1.00))
    assert promotion.verdict("v2", models_dir=door).outcome == "better"
    retrain.promote_challenger("v2", user=LEAD, confirm=True, models_dir=door)
    # Rolling back to v1 reads the same comparison the other way round: v1 is the worse one now.
    back = promotion.verdict("v1", action="rollback", models_dir=door)
    assert (back.outcome, back.version_delta_e00, back.champion_delta_e00) == ("worse", 1.20, 1.00)
    with pytest.raises(promotion.PromotionRefused, match="written reason"):
        retrain.rollback("v1", user=LEAD, confirm=True, models_dir=door)
    retrain.rollback("v1", user=LEAD, confirm=True, override_reason="v2 misbehaves on the new batch", models_dir=door)
    assert ModelRegistry(door).champion_version() == "v1"
    assert (_log(door)[-1]["action"], _log(door)[-1]["override_reason"]) == ("rollback", "v2 misbehaves on the new batch")


def test_nothing_but_the_door_moves_the_champion_pointer():
    """Every way a model starts serving goes through model.registry.promotion: nothing else calls ModelRegistry.promote."""
    callers = [
        str(path.relative_to(REPO_ROOT))
        for folder in ("model", "dashboard")
        for path in (REPO_ROOT / folder).rglob("*.py")
        # Any .promote( call but the door's own (promotion.promote): the registry's method, on any object.
        if re.search(r"(?<!\bpromotion)\.promote\(", path.read_text(encoding="utf-8"))
    ]
    assert callers == ["model/registry/promotion.py"], callers


# ---- the API route -----------------------------------------------------------------------


@pytest.fixture
def admin_key(monkeypatch):
    from dashboard import api as routes
    from model.auth.api_keys import ApiKeys, hash_key, new_key

    key = new_key()
    keys = ApiKeys.from_secrets({"keys": [{"name": "lead", "role": "admin", "hash": hash_key(key)}]})
    monkeypatch.setattr(routes, "_api_keys", lambda: keys)
    return {"Authorization": f"Bearer {key}"}


def test_the_api_answers_with_the_verdict_and_needs_confirm_and_a_reason_for_a_losing_challenger(door, admin_key):
    from test_api_server import request

    def promote(**body):
        answer = request("POST", "/api/v1/model/promote", {"version": "v2", **body}, admin_key)
        return answer.status, answer.json()

    status, body = promote()
    assert (status, body["error"]["field"], body["verdict"]["outcome"], body["verdict"]["tone"]) == (422, "confirm", "worse", "warning")
    assert body["verdict"]["sentence"].startswith("The champion v1 predicts 15 % closer than v2")
    status, body = promote(confirm=True)
    assert (status, body["error"]["field"]) == (409, "override_reason") and "written reason" in body["error"]["message"]
    status, body = promote(confirm="yes")
    assert (status, body["error"]["field"]) == (422, "confirm")
    status, body = promote(confirm=True, reason="typo")
    assert (status, body["error"]["field"]) == (422, "reason") and "override_reason" in body["error"]["message"]
    assert ModelRegistry(door).champion_version() == "v1"

    status, body = promote(confirm=True, override_reason="needed for the customer's trial")
    assert (status, body["champion"], body["override_reason"]) == (200, "v2", "needed for the customer's trial")
    entry = _log(door)[-1]
    assert (entry["version"], entry["user"], entry["override_reason"], entry["verdict"]) == ("v2", "api key lead", "needed for the customer's trial", "worse")


# ---- the command line --------------------------------------------------------------------


def test_cli_train_promote_prints_the_verdict_and_needs_yes_and_a_reason_for_a_worse_model(door, tiny_dataset, tmp_path, monkeypatch, capsys):
    from model.__main__ import main as cli

    data = tmp_path / "tiny.csv"
    tiny_dataset.to_tidy_csv(data)

    def config(seed: int) -> str:
        """Another seed for each run: two identical models saved in the same second would share a version name."""
        path = tmp_path / f"config-{seed}.json"
        path.write_text(json.dumps({"kind": "FormulationModel", "hidden_layer_sizes": [8], "max_iter": 150, "n_ensemble": 1, "alpha": 0.1, "random_state": seed}))
        return str(path)

    scored = []

    def champion_scores_better(result, version, *, models_dir=None, n_splits, seeds, **kwargs):
        # The champion's cross-validation is not what this test is about: a comparison that says it predicts better.
        scored.append((version, n_splits, tuple(seeds)))
        write_comparison(Path(models_dir) / version, _comparison("v1", version, champion_error=1.03, challenger_error=1.21))

    monkeypatch.setattr(retrain, "score_against_champion", champion_scores_better)
    def train(seed: int) -> list[str]:
        return ["train", "--data", str(data), "--config", config(seed), "--folds", "2", "--seeds", "0", "--out", str(door), "--promote"]

    assert cli(train(1)) == 1
    out, err = capsys.readouterr()
    assert "Verdict: The champion v1 predicts 15 % closer than" in out and "Not promoted: run it with --yes" in err
    assert ModelRegistry(door).champion_version() == "v1" and len(scored) == 1 and scored[0][1:] == (2, (0,))
    assert cli([*train(2), "--yes"]) == 1
    assert "add --override-reason" in capsys.readouterr().err and ModelRegistry(door).champion_version() == "v1"
    assert cli([*train(3), "--yes", "--override-reason", "trying the new default"]) == 0
    promoted = ModelRegistry(door).champion_version()
    assert promoted == scored[-1][0] and f"Promoted {promoted} to champion." in capsys.readouterr().out
    entry = _log(door)[-1]
    assert (entry["user"], entry["override_reason"], entry["verdict"]) == (LOCAL_ADMIN.name, "trying the new default", "worse")


# ---- the Retrain page: Promote and rollback -------------------------------------------------


def _waiting_challenger(version: str, champion: str, comparison: Comparison | None) -> str:
    """A finished training job whose challenger ``version`` waits for a decision (no worker needed)."""
    from model.core import settings

    job_id = "20261201-100000-aaaaaa"
    folder = settings.data_dir() / "jobs" / job_id
    folder.mkdir(parents=True)
    status = {"job_id": job_id, "kind": "training", "state": "done", "fraction": 1.0, "message": f"Challenger {version} is trained and scored.",
              "started_by": "lab lead", "started_at": "2026-12-01T10:00:00+00:00", "updated_at": "2026-12-01T10:05:00+00:00",
              "pid": None, "output": version, "details": {"champion_version": champion, "store_version": None}}
    (folder / "status.json").write_text(json.dumps(status), encoding="utf-8")
    if comparison is not None:
        write_comparison(folder, comparison)
        write_comparison(ModelRegistry().root / version, comparison)
    return job_id


def _retrain_page() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60).run()
    at.switch_page(str(Path(APP).parent / "app_pages" / "retrain.py")).run()
    assert not at.exception, at.exception
    return at


def test_retrain_promote_shows_the_verdict_first_and_needs_confirmation_and_a_reason(door):
    _waiting_challenger("v2", "v1", _comparison("v1", "v2", champion_error=1.03, challenger_error=1.21))
    at = _retrain_page()
    verdict = promotion.verdict("v2")
    assert verdict.sentence in [w.value for w in at.warning]  # in a warning's colour, never a success box
    assert not [s for s in at.success if "v2" in s.value]
    assert at.button(key="retrain_promote").disabled
    at.checkbox(key="retrain_promote_confirm").check().run()
    assert at.button(key="retrain_promote").disabled  # a worse model also needs a reason
    assert ModelRegistry(door).champion_version() == "v1"
    at.text_area(key="retrain_promote_reason").input("a customer asked for this version").run()
    assert not at.button(key="retrain_promote").disabled
    at.button(key="retrain_promote").click().run()
    assert not at.exception, at.exception
    assert ModelRegistry(door).champion_version() == "v2"
    assert (_log(door)[-1]["override_reason"], _log(door)[-1]["user"]) == ("a customer asked for this version", LOCAL_ADMIN.name)


@pytest.fixture
def history(door, tiny_evaluated):
    """Served in order: demo (other colorants), v0 and v1 (the tiny data); v-never was saved but never served."""
    model, info = tiny_evaluated.model, tiny_evaluated.info
    for version, metrics, dataset_info in (("demo", 0.48, DEMO_INFO), ("v0", 1.1, info), ("v-never", 0.5, info)):
        ModelRegistry(door).save_model(model, metrics={"delta_e00_mean_headline": metrics}, dataset_info=dataset_info, version=version)
    for version in ("demo", "v0", "v1"):
        ModelRegistry(door).promote(version, user=LOCAL_ADMIN)
    return door


def test_rollback_offers_no_incompatible_or_never_served_model(history):
    options = {verdict.version: verdict for verdict in promotion.rollback_options(history)}
    assert set(options) == {"v0", "demo"}  # v2 and v-never never served: not even listed
    assert options["v0"].refusal is None and options["v0"].outcome == "worse"
    assert "trained on the synthetic demo: other colorants" in options["demo"].refusal
    for version, match in (("v-never", "never served"), ("demo", "other colorants"), ("v2", "never served")):
        with pytest.raises(promotion.PromotionRefused, match=match) as refused:
            retrain.rollback(version, user=LEAD, confirm=True, override_reason="try", models_dir=history)
        assert refused.value.field == "version"
    assert ModelRegistry(history).champion_version() == "v1"
    table = retrain.model_history(history).set_index("version")["comparable"]
    assert table["demo"].startswith("no: trained on the synthetic demo: other colorants") and table["v0"] == "yes" and table["v1"] == ""


def test_the_history_gives_same_folds_figures_where_the_cards_were_scored_with_other_folds(history, tiny_evaluated):
    # Review: a former champion's own 3 × 1 CV (1.15) beside the champion's 5 × 3 (1.03), marked "comparable: yes",
    # read as a 10 % gain while both scored 1.03 on the same folds.
    import pandas as pd

    from model.registry.comparison import Comparison, write_comparison

    card = ModelRegistry(history).save_model(
        tiny_evaluated.model, metrics={"delta_e00_mean_headline": 1.15}, dataset_info=tiny_evaluated.info,
        notes={"evaluation": "3 folds × seeds [0]"}, version="v-3x1",
    )
    summary = pd.DataFrame([{"metric": "mean ΔE00", "champion": 1.03, "challenger": 1.031, "better": "champion"}]).set_index("metric")
    per_recipe = pd.DataFrame({"recipe_id": ["R0"], "champion_delta_e00": [1.03], "challenger_delta_e00": [1.031]})
    write_comparison(history / card.version, Comparison("v1", card.version, "the same folds", summary, per_recipe))
    table = retrain.model_history(history).set_index("version")["comparable"]
    assert table["v-3x1"] == "yes, on the same folds: 1.03 against the champion's 1.03 ΔE00 (the figures here are each model's own folds)"
    assert table["v0"] == "yes"  # the same folds as the champion's own: the table's figures compare as they are


def test_the_retrain_page_offers_rollback_only_to_comparable_former_champions_and_asks_to_confirm(history):
    at = _retrain_page()
    assert at.selectbox(key="retrain_rollback_version").options == ["v0"]
    assert any("demo is not comparable with the champion v1: trained on the synthetic demo: other colorants" in c.value for c in at.caption)
    assert not [b for b in at.button if b.key and b.key.startswith("retrain_rollback_")]  # no one-click buttons
    assert at.button(key="retrain_rollback").disabled  # not confirmed (and the door would refuse it too)
    at.checkbox(key="retrain_rollback_confirm").check().run()
    at.text_area(key="retrain_rollback_reason").input("v1 drifts on the new batch").run()
    at.button(key="retrain_rollback").click().run()
    assert not at.exception, at.exception
    assert ModelRegistry(history).champion_version() == "v0" and _log(history)[-1]["action"] == "rollback"


# ---- Compare hands over; it never promotes ---------------------------------------------------


def test_compare_trains_a_configuration_as_a_challenger_and_never_promotes(isolated_install, monkeypatch, tiny_evaluated):
    import shutil

    from model.jobs.search_result import list_search_runs, load_search

    root = isolated_install.copy_shipped_models()
    champion = ModelRegistry(root).champion_version()
    started = []

    def start_challenger(dataset, *, user, model, store, store_version, notes):
        started.append((model.config(), notes))
        ModelRegistry(root).save_model(tiny_evaluated.model, metrics={}, dataset_info=tiny_evaluated.info, version="trained-1")
        _waiting_challenger("trained-1", champion, None)
        return "20261201-100000-aaaaaa"

    monkeypatch.setattr(retrain, "start_challenger", start_challenger)
    at = AppTest.from_file(APP, default_timeout=60).run()
    at.switch_page("app_pages/compare.py").run()
    assert not at.exception, at.exception
    keys = {button.key for button in at.button}
    assert "compare_challenger" in keys and "compare_promote" not in keys
    at.button(key="compare_challenger").click().run()
    assert not at.exception, at.exception
    result = load_search(list_search_runs(root)[0])
    choice = at.selectbox(key="compare_challenger_candidate").value
    assert started == [(result.model(choice).config(), {"search_run": result.run_id, "search_candidate": choice})]
    assert ModelRegistry(root).champion_version() == champion  # handed over, not promoted
    assert any(promotion.verdict("trained-1").sentence == element.value for kind in ("warning", "info", "success") for element in getattr(at, kind))
    assert [link.label for link in at.get("page_link") if "trained-1" in link.label] == ["Promote or discard trained-1 on the Retrain page"]
    shutil.rmtree(root / "trained-1")


# ---- a retrain does not cross-validate a champion of other colorants -------------------------


def _run_worker_in_process(isolated_install, dataset, model, monkeypatch, tmp_path) -> tuple[list, registry.ModelCard]:
    """Build the plan start_challenger would, run its worker here (not spawned), and spy on the champion's comparison."""
    from model.registry import comparison

    monkeypatch.setenv("HUECAST_RETRAIN_CV", "2x1")
    compared, cross_validated = [], []
    real_compare, real_cv = retrain.compare_on_same_folds, comparison.cross_validate
    monkeypatch.setattr(retrain, "compare_on_same_folds", lambda *args, **kwargs: compared.append(kwargs.get("champion_version")) or real_compare(*args, **kwargs))
    monkeypatch.setattr(comparison, "cross_validate", lambda *args, **kwargs: cross_validated.append(args[1]) or real_cv(*args, **kwargs))
    plan = retrain._challenger_plan(
        dataset, user=LEAD, model=model, store=None, store_version=None, models_root=isolated_install.models_dir,
        n_splits=None, seeds=None, fresh_search=False, notes=None,
    )
    assert (plan.n_splits, plan.seeds) == (2, (0,))
    job_dir = tmp_path / "job"
    job_dir.mkdir()
    _, version = retrain._train_challenger_job(job_dir, lambda fraction, message: None, plan)
    return compared + cross_validated, ModelRegistry(isolated_install.models_dir).read_card(version)


def test_a_champion_of_other_colorants_is_not_cross_validated_in_a_retrain(isolated_install, glowing_dataset, tiny_dataset, quick_model, monkeypatch, tmp_path):
    # The champion was trained on FluoYellow, BiVaYellow and PhthaloGreen; the new data has other colorants.
    champion_info = {"name": "glowing", "fingerprint": glowing_dataset.fingerprint(), "colorants": list(glowing_dataset.colorants)}
    assert set(glowing_dataset.colorants) != set(tiny_dataset.colorants)
    champion = ModelRegistry(isolated_install.models_dir).save_model(clone(quick_model).fit(glowing_dataset), metrics={}, dataset_info=champion_info)
    ModelRegistry(isolated_install.models_dir).promote(champion.version, user=LOCAL_ADMIN)
    calls, card = _run_worker_in_process(isolated_install, tiny_dataset, clone(quick_model), monkeypatch, tmp_path)
    assert calls == []  # neither the comparison nor any cross-validation of the champion
    assert "other colorants" in card.notes["compared_with"]["not_compared"]
    assert not (isolated_install.models_dir / card.version / "comparison.json").exists()
    verdict = promotion.verdict(card.version)
    assert verdict.outcome == "not comparable" and "other colorants" in verdict.sentence


def test_a_champion_of_the_same_colorants_is_compared_on_the_same_folds(tiny_install, tiny_dataset, monkeypatch, tmp_path, isolated_install):
    calls, card = _run_worker_in_process(isolated_install, tiny_dataset, None, monkeypatch, tmp_path)
    assert calls[0] == tiny_install["card"].version and len(calls) == 2  # compared, the champion cross-validated once
    assert (isolated_install.models_dir / card.version / "comparison.json").is_file()
    assert promotion.verdict(card.version).outcome in ("better", "same", "worse")


# ---- Overview and the report: "was" only against the same data -----------------------------


def test_the_previous_champion_is_compared_only_on_the_same_data(isolated_install, tiny_evaluated):
    from model.registry import review

    root = isolated_install.models_dir
    model, info = tiny_evaluated.model, tiny_evaluated.info
    metrics = {"delta_e00_mean_headline": 1.0, "delta_e00_median_headline": 0.83}
    ModelRegistry(root).save_model(model, metrics={**metrics, "delta_e00_median_headline": 0.39}, dataset_info=DEMO_INFO, version="demo")
    ModelRegistry(root).save_model(model, metrics=metrics, dataset_info=info, version="real")
    other_data = {**info, "fingerprint": "e" * 64, "name": "other upload"}
    ModelRegistry(root).save_model(model, metrics={**metrics, "delta_e00_median_headline": 0.7}, dataset_info=other_data, version="older")
    for version in ("demo", "real"):
        ModelRegistry(root).promote(version, user=LOCAL_ADMIN)
    sentence = review.previous_champion_comparison(ModelRegistry(root).read_card("real"), root)
    assert not re.search(r"was \d", sentence) and "0.39" not in sentence and "trained on the synthetic demo: other colorants" in sentence
    # Same colorants, other data, never scored on the same folds: named, not compared.
    ModelRegistry(root).promote("older", user=LOCAL_ADMIN)
    ModelRegistry(root).promote("real", user=LOCAL_ADMIN)
    sentence = review.previous_champion_comparison(ModelRegistry(root).read_card("real"), root)
    assert not re.search(r"was \d", sentence) and "never scored on the same recipes" in sentence
    # With the comparison made when "real" was trained (the same folds), the figures stand side by side.
    write_comparison(root / "real", _comparison("older", "real", champion_error=1.2, challenger_error=1.0, n_recipes=16))
    sentence = review.previous_champion_comparison(ModelRegistry(root).read_card("real"), root)
    assert "on the same 16 recipes and folds it has a lower mean colour error (1.00 ΔE00, was 1.20)" in sentence
