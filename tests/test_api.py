"""The JSON API under /api/v1, against a running ``streamlit run dashboard/app.py``, with urllib.

One server per module (keys configured, reads keyed) on loopback, and one on 0.0.0.0 with
no secrets at all (secure by default). Both serve a copy of the shipped models.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from dashboard.server import running_dashboard, wait_until_healthy
from model.auth.api_keys import hash_key, new_key
from model.serving.api import MAX_BODY_BYTES, MAX_RECIPES

pytestmark = pytest.mark.slow

REPO_ROOT = Path(__file__).resolve().parents[1]
VIEWER_KEY, ADMIN_KEY = new_key(), new_key()


def call(
    url: str, path: str, body=None, *, key: str | None = None, raw: bytes | None = None, method: str | None = None,
    content_type: str | None = "application/json",
):
    """``(status, parsed JSON)`` of one request; a 4xx/5xx is returned, not raised."""
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    headers = {"Content-Type": content_type} if content_type else {}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    request = urllib.request.Request(url + path, data=data, headers=headers, method=method or ("POST" if data is not None else "GET"))
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        content = error.read()
        try:
            return error.code, json.loads(content)
        except ValueError:
            return error.code, content.decode(errors="replace")


@pytest.fixture(scope="module")
def keyed_server(tmp_path_factory):
    root = tmp_path_factory.mktemp("api")
    models_dir = root / "models"
    shutil.copytree(REPO_ROOT / "trained_models", models_dir)
    secrets = root / "secrets.toml"
    secrets.write_text(
        '[api]\nread_access = "key"\n\n'
        f'[[api.keys]]\nname = "lims"\nrole = "viewer"\nhash = "{hash_key(VIEWER_KEY)}"\n\n'
        f'[[api.keys]]\nname = "lab lead"\nrole = "admin"\nhash = "{hash_key(ADMIN_KEY)}"\n'
    )
    log_path = root / "server.log"
    env = {"HUECAST_MODELS_DIR": str(models_dir), "HUECAST_DATA_DIR": str(root / "data")}
    with running_dashboard(log_path, env, secrets_file=secrets) as (url, process):
        wait_until_healthy(url)
        yield {"url": url, "models_dir": models_dir, "log": log_path, "root": root}


@pytest.fixture(scope="module")
def shipped_model():
    from model.registry.registry import ModelRegistry

    return ModelRegistry(REPO_ROOT / "trained_models").load_champion()


def random_recipes(model, n: int, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    trained = model.training_range_
    frame = pd.DataFrame({c: rng.uniform(0, trained.maximum[c], n).round(4) for c in model.colorants_})
    frame["thickness_um"] = rng.choice([trained.minimum["thickness_um"], trained.maximum["thickness_um"], 10.37], n)
    frame.insert(0, "name", [f"recipe {i}" for i in range(n)])
    return frame


# --------------------------------------------------------------------------------------
# The numbers are the CLI's
# --------------------------------------------------------------------------------------


def test_predict_gives_exactly_the_numbers_of_the_cli(keyed_server, shipped_model, tmp_path):
    from model.io.safe_csv import write_csv
    from model.serving.batch import predict_csv

    model, card = shipped_model
    recipes = random_recipes(model, 200)
    source, output = tmp_path / "recipes.csv", tmp_path / "predicted.csv"
    recipes.to_csv(source, index=False)  # 4 decimals: every CSV parser reads the doubles the API gets
    cli = subprocess.run(
        [sys.executable, "-m", "model", "predict", "--model", str(REPO_ROOT / "trained_models" / card.version), "--input", str(source), "--output", str(output)],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=300,
    )
    assert cli.returncode == 0, cli.stderr

    status, body = call(keyed_server["url"], "/api/v1/predict", {"recipes": recipes.to_dict(orient="records")}, key=VIEWER_KEY)
    assert status == 200, body
    assert body["model_version"] == card.version and body["n_predicted"] == 200 and body["errors"] == []
    served = pd.DataFrame(body["predictions"])
    assert served.pop("row").tolist() == list(range(200))
    # The CLI's file, byte for byte, when the API's answer is written by the CLI's own writer.
    write_csv(served, tmp_path / "served.csv")
    assert (tmp_path / "served.csv").read_bytes() == output.read_bytes()
    # And every double exactly as the CLI's code path (predict_csv) computes it, before any rounding to text.
    expected = predict_csv(source, model, name="recipes.csv", max_rows=None).table
    assert list(served.columns) == list(expected.columns)
    for column in expected.columns:
        if pd.api.types.is_float_dtype(expected[column]):
            np.testing.assert_array_equal(served[column].to_numpy(dtype=float), expected[column].to_numpy(), err_msg=column)
        else:
            assert served[column].tolist() == expected[column].tolist(), column


# --------------------------------------------------------------------------------------
# Health, model card, bad input: 4xx naming the field, never a traceback
# --------------------------------------------------------------------------------------


def test_health_and_model_card(keyed_server, shipped_model):
    model, card = shipped_model
    status, body = call(keyed_server["url"], "/api/v1/health", key=VIEWER_KEY)
    assert (status, body["status"], body["model_version"]) == (200, "ok", card.version)
    status, body = call(keyed_server["url"], "/api/v1/model", key=VIEWER_KEY)
    assert status == 200 and body["version"] == card.version
    assert [c["name"] for c in body["colorants"]] == list(model.colorants_)
    assert body["colorants"][0]["trained_max"] == model.training_range_.maximum[model.colorants_[0]]
    assert body["thickness_um"]["trained_min"] == model.training_range_.minimum["thickness_um"]
    assert "delta_e00_mean_headline" in body["metrics"] and body["data"]["n_recipes"] == card.dataset["n_recipes"]


def test_bad_rows_are_named_by_row_and_field_and_the_good_rows_still_predicted(keyed_server, shipped_model):
    model, _ = shipped_model
    good = random_recipes(model, 2).drop(columns="name").to_dict(orient="records")
    first = model.colorants_[0]
    recipes = [
        good[0],
        {**good[1], "thickness_um": -3},
        {**good[1], first: "lots"},
        {k: v for k, v in good[1].items() if k != first},
        {**good[1], first: 99.0, model.colorants_[1]: 5.0},
        "not a recipe",
        {**good[1], first: "12.5%"},
    ]
    status, body = call(keyed_server["url"], "/api/v1/predict", {"recipes": recipes}, key=VIEWER_KEY)
    assert status == 200, body
    assert [p["row"] for p in body["predictions"]] == [0, 6]
    assert body["predictions"][1][first] == 12.5
    fields = {(e["row"], e["field"]) for e in body["errors"]}
    assert fields == {(1, "recipes[1].thickness_um"), (2, f"recipes[2].{first}"), (3, f"recipes[3].{first}"), (4, "recipes[4]"), (5, "recipes[5]")}
    messages = {e["row"]: e["message"] for e in body["errors"]}
    assert "above 0 and below 1000, got -3" in messages[1]
    assert "got 'lots'" in messages[2] and "missing" in messages[3] and "add up to" in messages[4]


@pytest.mark.parametrize(
    "payload, raw, status, field, words",
    [
        (None, b"{not json", 400, None, "not JSON"),
        ({"recipe": []}, None, 422, "recipes", "'recipes' is missing"),
        ({"recipes": {"a": 1}}, None, 422, "recipes", "expected a list"),
        ({"recipes": []}, None, 422, "recipes", "empty"),
        ({"recipes": [{"thickness_um": 0}]}, None, 422, "recipes[0]", "No recipe could be predicted"),
        ({"recipes": [{}] * (MAX_RECIPES + 1)}, None, 413, "recipes", "at most 10,000"),
    ],
    ids=["not json", "no recipes", "recipes not a list", "empty", "every row bad", "too many recipes"],
)
def test_bad_requests_get_a_4xx_naming_the_field(keyed_server, payload, raw, status, field, words):
    got, body = call(keyed_server["url"], "/api/v1/predict", payload, raw=raw, key=VIEWER_KEY)
    assert got == status, body
    assert words in body["error"]["message"]
    if field:
        assert body["error"]["field"].startswith(field)
    assert "Traceback" not in json.dumps(body)


@pytest.mark.parametrize(
    "content_type, status",
    [("text/plain", 415), ("application/x-www-form-urlencoded", 415), ("multipart/form-data; boundary=x", 415),
     ("application/json; charset=utf-8", 200), ("application/vnd.api+json", 200)],
)
def test_a_body_must_be_sent_as_json(keyed_server, content_type, status, shipped_model):
    # A page on any origin may POST text/plain or a form without a CORS preflight; JSON needs one.
    model, _ = shipped_model
    recipe = {**{name: 0.0 for name in model.colorants_}, "thickness_um": 8.0}
    got, body = call(keyed_server["url"], "/api/v1/predict", {"recipes": [recipe]}, key=VIEWER_KEY, content_type=content_type)
    assert got == status, body
    if status == 415:
        assert "expected JSON with the header Content-Type: application/json" in body["error"]["message"]


def test_a_body_without_a_content_type_is_read_as_json(keyed_server, shipped_model):
    # As the old system's server (FastAPI) read it. urllib would add a form type, so the request is made by hand.
    import http.client
    from urllib.parse import urlparse

    model, _ = shipped_model
    where = urlparse(keyed_server["url"])
    body = json.dumps({"recipes": [{**{name: 0.0 for name in model.colorants_}, "thickness_um": 8.0}]}).encode()
    connection = http.client.HTTPConnection(where.hostname, where.port, timeout=30)
    connection.putrequest("POST", "/api/v1/predict", skip_accept_encoding=True)
    connection.putheader("Authorization", f"Bearer {VIEWER_KEY}")
    connection.putheader("Content-Length", str(len(body)))
    connection.endheaders(body)
    answer = connection.getresponse()
    assert answer.status == 200, answer.read()
    connection.close()


def test_a_body_over_the_cap_gets_413_before_it_is_read(keyed_server):
    import http.client
    from urllib.parse import urlparse

    where = urlparse(keyed_server["url"])
    connection = http.client.HTTPConnection(where.hostname, where.port, timeout=30)
    # Headers only, as a client that waits for "100 Continue" sends them: the server answers
    # from Content-Length alone and never reads the 4 MiB + 1 bytes.
    connection.putrequest("POST", "/api/v1/predict")
    connection.putheader("Content-Type", "application/json")
    connection.putheader("Authorization", f"Bearer {VIEWER_KEY}")
    connection.putheader("Content-Length", str(MAX_BODY_BYTES + 1))
    connection.endheaders()
    answer = connection.getresponse()
    body = json.loads(answer.read())
    connection.close()
    assert answer.status == 413 and f"at most {MAX_BODY_BYTES:,}" in body["error"]["message"]


def test_the_routes_carry_the_api_version():
    from dashboard.api import PREFIX, ROUTES
    from model.serving.api import API_VERSION

    assert PREFIX == f"/api/{API_VERSION}"
    assert {route.path for route in ROUTES} >= {f"{PREFIX}/health", f"{PREFIX}/model", f"{PREFIX}/predict", f"{PREFIX}/formulate"}


def test_wrong_method_and_unknown_path(keyed_server):
    assert call(keyed_server["url"], "/api/v1/predict", key=VIEWER_KEY)[0] == 405
    status, body = call(keyed_server["url"], "/api/v1/nothing-here", key=VIEWER_KEY)
    assert status == 404
    # The 404 names every route under /api, the retraining routes and the old system's included.
    for route in ("POST /api/v1/predict", "POST /api/v1/retrain", "GET /api/v1/jobs/{job_id}", "POST /api/v1/measurements", "POST /api/inverse_predict"):
        assert route in body["error"]["message"], body
    status, body = call(keyed_server["url"], "/api", key=VIEWER_KEY)  # not the dashboard's page
    assert status == 404 and isinstance(body, dict) and body["error"]["status"] == 404


def test_a_misnamed_field_is_answered_with_the_field_it_most_likely_means(keyed_server):
    status, body = call(keyed_server["url"], "/api/v1/model/promote", {"version": "v", "confirm": True, "reason": "x"}, key=ADMIN_KEY)
    assert status == 422 and "Did you mean 'override_reason'?" in body["error"]["message"], body


def test_formulate_returns_candidates_and_names_bad_fields(keyed_server, shipped_model):
    model, card = shipped_model
    url = keyed_server["url"]
    status, body = call(url, "/api/v1/formulate", {"target": {"hex": "#9fc24a"}, "constraints": {"max_total": 20}, "n_candidates": 2}, key=VIEWER_KEY)
    assert status == 200, body
    assert body["model_version"] == card.version and 1 <= len(body["candidates"]) <= 2 and body["explanation"]
    best = body["candidates"][0]
    assert best["rank"] == 1 and sum(best[c] for c in model.colorants_) <= 20 + 1e-6 and best["delta_e00"] >= 0
    bad = [
        ({"target": {"hex": "#zzzzzz"}}, "target.hex"),
        ({"target": {"Lab": [50, 0]}}, "target.Lab"),
        ({"target": {}}, "target"),
        ({"target": {"hex": "#9fc24a"}, "constraints": {"colorants": ["Unobtainium"]}}, "constraints.colorants"),
        ({"target": {"hex": "#9fc24a"}, "constraints": {"maximum": {model.colorants_[0]: -1}}}, f"constraints.maximum.{model.colorants_[0]}"),
        ({"target": {"hex": "#9fc24a"}, "n_candidates": 0}, "n_candidates"),
    ]
    for payload, field in bad:
        status, body = call(url, "/api/v1/formulate", payload, key=VIEWER_KEY)
        assert status == 422 and body["error"]["field"] == field, (payload, body)


# --------------------------------------------------------------------------------------
# API keys: reads keyed as configured; admin only with an admin key; keys never logged
# --------------------------------------------------------------------------------------


def test_keys_reads_need_a_key_here_and_admin_needs_an_admin_key(keyed_server, tiny_dataset, quick_model):
    from model.registry.registry import ModelRegistry

    url = keyed_server["url"]
    assert call(url, "/api/v1/health")[0] == 401
    assert call(url, "/api/v1/health", key=VIEWER_KEY)[0] == 200
    assert call(url, "/api/v1/model", key=ADMIN_KEY)[0] == 200

    challenger = ModelRegistry(keyed_server["models_dir"]).save_model(clone(quick_model).fit(tiny_dataset), metrics={}, dataset_info={"name": "tiny"})
    assert call(url, "/api/v1/model/promote", {"version": challenger.version})[0] == 401
    status, body = call(url, "/api/v1/model/promote", {"version": challenger.version}, key=VIEWER_KEY)
    assert status == 403 and "viewer key" in body["error"]["message"]
    assert call(url, "/api/v1/model/promote", {"version": "../../etc"}, key=ADMIN_KEY)[0] == 422
    assert call(url, "/api/v1/health", key=VIEWER_KEY)[1]["model_version"] != challenger.version
    # The one door: the verdict first (a model that names neither data nor colorants is not comparable), then
    # "confirm": true, then a written reason, which the promotions log keeps with the key's user.
    status, body = call(url, "/api/v1/model/promote", {"version": challenger.version}, key=ADMIN_KEY)
    assert (status, body["error"]["field"], body["verdict"]["outcome"]) == (422, "confirm", "not comparable"), body
    status, body = call(url, "/api/v1/model/promote", {"version": challenger.version, "confirm": True}, key=ADMIN_KEY)
    assert (status, body["error"]["field"]) == (409, "override_reason"), body
    reason = "a tiny model for this test"
    status, body = call(url, "/api/v1/model/promote", {"version": challenger.version, "confirm": True, "override_reason": reason}, key=ADMIN_KEY)
    assert (status, body["champion"], body["override_reason"], body["verdict"]["needs_override"]) == (200, challenger.version, reason, True), body
    assert ModelRegistry(keyed_server["models_dir"]).promotion_history()[-1] | {"at": None} == {
        "at": None, "action": "promote", "version": challenger.version, "previous": body["verdict"]["champion_version"], "user": "api key lab lead",
        "verdict": "not comparable", "verdict_sentence": body["verdict"]["sentence"], "confirmed": True, "override_reason": reason,
    }
    # The API takes the promotion up at once (the same pointer-keyed cache as the pages).
    assert call(url, "/api/v1/health", key=VIEWER_KEY)[1]["model_version"] == challenger.version
    status, body = call(url, "/api/v1/model", key=VIEWER_KEY)
    assert [c["name"] for c in body["colorants"]] == list(tiny_dataset.colorants)


def test_unknown_keys_are_refused_then_rate_limited_and_never_logged(keyed_server):
    url = keyed_server["url"]
    wrong = [new_key() for _ in range(6)]
    statuses = [call(url, "/api/v1/health", key=key)[0] for key in wrong]
    assert statuses == [401] * 5 + [429]
    log = keyed_server["log"].read_text()
    # A summary, not a line per refusal: the first at once, then a count at most once a minute.
    assert log.count("Refused an unknown API key from address 127.0.0.1") == 1
    assert "unknown API keys from address" not in log
    for secret in (*wrong, VIEWER_KEY, ADMIN_KEY, hash_key(VIEWER_KEY), hash_key(ADMIN_KEY)):
        assert secret not in log
    assert "Traceback" not in log


# --------------------------------------------------------------------------------------
# Secure by default: bound to every interface, no secrets: open reads, no admin anywhere
# --------------------------------------------------------------------------------------


def test_a_server_on_a_reachable_address_without_secrets_has_no_admin(tmp_path):
    models_dir = tmp_path / "models"
    shutil.copytree(REPO_ROOT / "trained_models", models_dir)
    empty_secrets = tmp_path / "no-secrets.toml"
    empty_secrets.write_text("")
    env = {"HUECAST_MODELS_DIR": str(models_dir), "HUECAST_DATA_DIR": str(tmp_path / "data")}
    # Bound to 0.0.0.0, but every request here goes to 127.0.0.1.
    with running_dashboard(tmp_path / "server.log", env, address="0.0.0.0", secrets_file=empty_secrets) as (url, _):
        wait_until_healthy(url)
        assert call(url, "/api/v1/health")[0] == 200  # reads are open by default
        version = call(url, "/api/v1/health")[1]["model_version"]
        status, body = call(url, "/api/v1/model/promote", {"version": version})
        assert status == 401 and "admin API key" in body["error"]["message"]
        page = _page_text(url)
    assert "You are a viewer" in page and "python3 -m model.auth.passwords" in page
    # No admin can sign in here, so no page offers a way to Retrain (the demo notice says who retrains instead).
    assert "Retrain" not in page and "An admin retrains it" in page


def _page_text(url: str) -> str:
    """The sidebar and page text in headless Chromium (the role decided by the real server)."""
    from tests._browser import launch_chromium, open_app, playwright_or_skip

    sync_api = playwright_or_skip()
    with sync_api.sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        try:
            page = browser.new_page()
            open_app(sync_api, page, url)
            page.get_by_text("You are a viewer").wait_for(timeout=60_000)
            # The shipped champion is the demo model: its notice is the last thing the page writes.
            page.get_by_text("This is the demo model").wait_for(timeout=60_000)
            return page.inner_text("body")
        finally:
            browser.close()


def test_a_kept_alive_api_connection_answers_without_the_delayed_ack_stall(keyed_server):
    """Nagle's algorithm is off on API connections: no 40 ms wait for the client's delayed ACK.

    The threshold is far above the 1 ms the health route takes and far below the 40 ms of
    a delayed ACK, so load on the machine does not decide it."""
    import http.client
    import statistics
    import time
    from urllib.parse import urlparse

    where = urlparse(keyed_server["url"])
    connection = http.client.HTTPConnection(where.hostname, where.port, timeout=30)
    seconds = []
    for _ in range(25):
        started = time.perf_counter()
        connection.request("GET", "/api/v1/health", headers={"Authorization": f"Bearer {VIEWER_KEY}"})
        answer = connection.getresponse()
        answer.read()
        seconds.append(time.perf_counter() - started)
        assert answer.status == 200
    connection.close()
    # Nagle's algorithm with the client's delayed ACK costs about 40 ms per response; 1–2 ms
    # without it. The bound sits between the two, so it checks TCP_NODELAY, not a speed goal.
    assert statistics.median(seconds[5:]) < 0.035, f"median {1000 * statistics.median(seconds[5:]):.1f} ms on one kept-alive connection"


def test_predictions_carry_fluorescence_null_without_a_head_and_ct_s_with_one(tiny_dataset, glowing_dataset, quick_model):
    """The handler the server calls, with a champion trained without readings and one trained with them."""
    from model.serving import api

    card = type("Card", (), {"version": "glowing"})()
    dark = clone(quick_model).fit(tiny_dataset)  # no fluorescence readings: no head
    answer = json.loads(api.to_json_bytes(api.predict({"recipes": random_recipes(dark, 3).to_dict(orient="records")}, dark, card)))
    assert not dark.has_fluorescence and [row["fluorescence_cts"] for row in answer["predictions"]] == [None, None, None]
    glowing = clone(quick_model).fit(glowing_dataset)
    recipes = [{"FluoYellow": 12.0, "BiVaYellow": 2.0, "PhthaloGreen": 0.5, "thickness_um": 10.0}, {"FluoYellow": 0, "BiVaYellow": 2.0, "PhthaloGreen": 0.5, "thickness_um": 8.0}]
    answer = json.loads(api.to_json_bytes(api.predict({"recipes": recipes}, glowing, card)))
    expected = glowing.predict(pd.DataFrame(recipes)).fluorescence_cts
    assert [row["fluorescence_cts"] for row in answer["predictions"]] == pytest.approx(expected.tolist()) and expected[1] == 0.0
    formulated = json.loads(api.to_json_bytes(api.formulate(
        {"target": {"Lab": [85, -5, 60]}, "constraints": {"min_fluorescence_cts": 3000}, "n_candidates": 2}, glowing, card
    )))
    assert formulated["fluorescence_met"] is True and all(c["fluorescence_cts"] >= 3000 for c in formulated["candidates"])
    with pytest.raises(api.ApiError, match="min_fluorescence_cts"):
        api.formulate({"target": {"Lab": [85, -5, 60]}, "constraints": {"min_fluorescence_cts": -1}}, glowing, card)


def test_small_predict_requests_share_one_lane_and_batches_do_not(monkeypatch):
    """Single recipes are answered one at a time, in arrival order (see dashboard.api._lane); batches keep the shared pool."""
    import anyio

    from dashboard import api as routes

    monkeypatch.setattr(routes, "_quick_lane", None)  # a lane of this test's own event loop

    async def lanes():
        small = routes._lane({"recipes": [{}] * routes.QUICK_LANE_RECIPES})
        return small, routes._lane([{}]), routes._lane({"recipes": "not a list"}), routes._lane({"recipes": [{}] * (routes.QUICK_LANE_RECIPES + 1)})

    small, bare_list, malformed, batch = anyio.run(lanes)
    assert small is bare_list is malformed and small.total_tokens == 1
    assert batch is None
