"""The API server under hostile load (dashboard/api.py): the heavy lane, bounded work, routes, errors, health.

Each test drives the real Starlette routes (:data:`dashboard.api.ROUTES`) as ASGI, in this
process, with a receive channel the test controls (so a client can "leave"), and without a
server process: sub-second each. Heavy work is held with blocking stubs and events, never sleeps.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
import time
import warnings
from pathlib import Path

import anyio
import pytest
from starlette.routing import Router

from dashboard import api as routes
from dashboard import champion
from model.auth.access import LOCAL_ADMIN
from model.auth.api_keys import ApiKeys, hash_key, new_key
from model.registry import registry
from model.registry.registry import ModelRegistry
from model.serving import api

#: Generous upper bound on any wait in these tests; reached only when the behaviour is broken.
STUCK_S = 30


class Client:
    """One request to :data:`dashboard.api.ROUTES` as ASGI; ``leave`` disconnects the client mid-request."""

    def __init__(self, method: str, path: str, body=None, headers: dict | None = None) -> None:
        self.body = b"" if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
        self.scope = {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method, "scheme": "http",
            "path": path, "raw_path": path.encode(), "root_path": "", "query_string": b"",
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(self.body)).encode())]
            + [(name.lower().encode(), value.encode()) for name, value in (headers or {}).items()],
            "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8501),
        }
        self.gone = anyio.Event()
        self.status: int | None = None
        self.headers: dict[str, str] = {}
        self.content = b""

    def leave(self) -> None:
        self.gone.set()

    async def run(self, app) -> Client:
        body_sent = False

        async def receive():
            nonlocal body_sent
            if not body_sent:
                body_sent = True
                return {"type": "http.request", "body": self.body, "more_body": False}
            if not self.gone.is_set():  # as uvicorn: a client gone is reported at once, without waiting
                await self.gone.wait()
            return {"type": "http.disconnect"}

        async def send(message):
            if message["type"] == "http.response.start":
                self.status = message["status"]
                self.headers = {name.decode().lower(): value.decode() for name, value in message["headers"]}
            elif message["type"] == "http.response.body":
                self.content += message.get("body", b"")

        await app(self.scope, receive, send)
        return self

    def json(self):
        return json.loads(self.content)


def request(method: str, path: str, body=None, headers: dict | None = None) -> Client:
    """One request, answered: the Client with its status, headers and content."""
    client = Client(method, path, body, headers)
    anyio.run(client.run, Router(routes=routes.ROUTES))
    return client


class HeldFormulation:
    """A stand-in for ``api.formulate`` that runs until the test releases it or ``should_stop`` turns true."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()
        self.stopped_by_should_stop = threading.Event()
        self.calls = 0

    def __call__(self, payload, model, card, *, should_stop=lambda: False):
        self.calls += 1
        self.entered.set()
        deadline = time.monotonic() + STUCK_S
        while not self.release.wait(0.005):
            if should_stop():
                self.stopped_by_should_stop.set()
                raise api.ApiError(503, "The formulation was stopped.")
            if time.monotonic() > deadline:
                raise AssertionError("the held formulation was neither released nor stopped")
        return {"held": True}


@pytest.fixture(autouse=True)
def open_reads(monkeypatch):
    """No API keys configured (whatever .streamlit/secrets.toml holds): reads are open."""
    monkeypatch.setattr(routes, "_api_keys", lambda: ApiKeys())


@pytest.fixture
def no_champion_needed(monkeypatch):
    """Routes answer without loading a model: the champion is a placeholder card."""
    card = type("Card", (), {"version": "stub"})()
    monkeypatch.setattr(routes, "_champion", lambda full_model=True: (object(), card))
    monkeypatch.setattr(routes, "_quick_lane", None)  # a lane of this test's own event loops


FORMULATE_BODY = {"target": {"hex": "#9fc24a"}}


# --------------------------------------------------------------------------------------
# The heavy lane: full means 429 with Retry-After at once; work ends when its client leaves
# --------------------------------------------------------------------------------------


def test_a_formulate_request_beyond_the_heavy_lane_gets_429_with_retry_after_at_once(monkeypatch, no_champion_needed):
    held = HeldFormulation()
    monkeypatch.setattr(api, "formulate", held)
    app = Router(routes=routes.ROUTES)

    async def scenario():
        first = Client("POST", "/api/v1/formulate", FORMULATE_BODY)
        async with anyio.create_task_group() as group:
            group.start_soon(first.run, app)
            await anyio.to_thread.run_sync(held.entered.wait, STUCK_S)
            assert held.entered.is_set()
            # The lane is full: the next ones are refused at once, never queued behind the first.
            refused = [await Client("POST", "/api/v1/formulate", FORMULATE_BODY).run(app) for _ in range(routes.HEAVY_REQUESTS_AT_ONCE + 2)]
            held.release.set()
        return first, refused

    first, refused = anyio.run(scenario)
    assert first.status == 200 and first.json() == {"held": True}
    assert held.calls == 1
    for answer in refused:
        assert answer.status == 429, answer.content
        assert int(answer.headers["retry-after"]) >= 1
        assert "retry in" in answer.json()["error"]["message"]
    # The lane is free again once the first has ended.
    held.release.set()
    assert request("POST", "/api/v1/formulate", FORMULATE_BODY).status == 200


def test_a_formulation_stops_when_its_client_leaves(monkeypatch, no_champion_needed):
    held = HeldFormulation()
    monkeypatch.setattr(api, "formulate", held)
    app = Router(routes=routes.ROUTES)

    async def scenario():
        client = Client("POST", "/api/v1/formulate", FORMULATE_BODY)
        async with anyio.create_task_group() as group:
            group.start_soon(client.run, app)
            await anyio.to_thread.run_sync(held.entered.wait, STUCK_S)
            client.leave()
        return client

    anyio.run(scenario)
    assert held.stopped_by_should_stop.is_set(), "the formulation went on after its client left"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="niceness is per thread on Linux only")
def test_batches_and_formulations_compute_in_nicer_threads_than_single_predictions(monkeypatch, no_champion_needed):
    niceness = {}

    def record(kind):
        niceness[kind] = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
        return {}

    monkeypatch.setattr(api, "predict", lambda payload, model, card: record(len(payload["recipes"])))
    monkeypatch.setattr(api, "formulate", lambda payload, model, card, should_stop: record("formulate"))
    batch = routes.QUICK_LANE_RECIPES + 1
    for body, path in (({"recipes": [{}]}, "predict"), ({"recipes": [{}] * batch}, "predict"), (FORMULATE_BODY, "formulate")):
        assert request("POST", f"/api/v1/{path}", body).status == 200
    assert niceness[batch] > niceness[1] and niceness["formulate"] > niceness[1], niceness


# --------------------------------------------------------------------------------------
# Routes and error bodies
# --------------------------------------------------------------------------------------


def test_a_trailing_slash_reaches_the_same_endpoint(monkeypatch, no_champion_needed):
    monkeypatch.setattr(api, "predict", lambda payload, model, card: {"predicted": len(payload["recipes"])})
    for path in ("/api/v1/predict/", "/api/v1/predict"):
        answer = request("POST", path, {"recipes": [{}]})
        assert (answer.status, answer.json()) == (200, {"predicted": 1}), (path, answer.content)
    assert request("GET", "/api/v1/health/").status == 200


@pytest.fixture
def admin_key(monkeypatch):
    key = new_key()
    keys = ApiKeys.from_secrets({"keys": [{"name": "lead", "role": "admin", "hash": hash_key(key)}]})
    monkeypatch.setattr(routes, "_api_keys", lambda: keys)
    return {"Authorization": f"Bearer {key}"}


def _paths_in(text: str, *folders: Path) -> list[str]:
    spellings = {str(folder) for folder in folders} | {str(folder.resolve()) for folder in folders} | {"/tmp/", "/root/", "/home/"}
    return [spelling for spelling in spellings if spelling in text]


def test_no_error_body_shows_an_absolute_server_path(isolated_install, shipped, admin_key):
    models_dir = isolated_install.models_dir
    # No champion yet: 503, saying what to do, not where the models live.
    answer = request("GET", "/api/v1/health")
    assert answer.status == 503 and "promote" in answer.json()["error"]["message"]
    assert not _paths_in(answer.content.decode(), models_dir, isolated_install.data_dir), answer.content
    # Versions that cannot be promoted: no card; an unreadable card.
    model, card = shipped
    ModelRegistry(models_dir).save_model(model, metrics=card.metrics, dataset_info=dict(card.dataset), version="v1-unreadable")
    (models_dir / "v1-unreadable" / registry.CARD_FILE).write_text("{not json", encoding="utf-8")
    (models_dir / "v2-no-card").mkdir()
    for version in ("v1-unreadable", "v2-no-card"):
        answer = request("POST", "/api/v1/model/promote", {"version": version}, admin_key)
        assert answer.status == 422, answer.content
        assert version in answer.json()["error"]["message"]
        assert not _paths_in(answer.content.decode(), models_dir), answer.content
    # A champion that fails its check with no earlier one to fall back on: 503, no path.
    (models_dir / registry.POINTER_FILE).write_text("v2-no-card\n", encoding="utf-8")
    answer = request("GET", "/api/v1/model")
    assert answer.status == 503 and "rolls back" in answer.json()["error"]["message"]
    assert not _paths_in(answer.content.decode(), models_dir), answer.content


@pytest.mark.parametrize("version", ["..", "../models", "v1/../../etc", "..\\v1", "/etc/passwd", "v1\\x", ".hidden", "v1 two", "v" * 129])
def test_a_version_name_outside_the_registry_pattern_is_refused_with_422(isolated_install, admin_key, monkeypatch, version):
    promoted = []
    monkeypatch.setattr(ModelRegistry, "promote", lambda *args, **kwargs: promoted.append(args))
    answer = request("POST", "/api/v1/model/promote", {"version": version}, admin_key)
    assert answer.status == 422 and answer.json()["error"]["field"] == "version", answer.content
    assert "not a model version name" in answer.json()["error"]["message"]
    assert promoted == []


# --------------------------------------------------------------------------------------
# Health says "degraded" while a fallback serves
# --------------------------------------------------------------------------------------


@pytest.fixture
def two_champions(isolated_install, shipped):
    """``v1-good`` then ``v2-champion`` promoted (the shipped model both times), caches cleared before and after."""
    model, card = shipped
    root = isolated_install.models_dir
    for version in ("v1-good", "v2-champion"):
        ModelRegistry(root).save_model(model, metrics=card.metrics, dataset_info=dict(card.dataset), version=version)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ModelRegistry(root).promote(version, user=LOCAL_ADMIN)
    champion.clear_champion_cache()
    yield root
    champion.clear_champion_cache()


def test_health_is_ok_for_a_sound_champion(two_champions):
    answer = request("GET", "/api/v1/health")
    assert answer.status == 200 and answer.json()["status"] == "ok" and "reason" not in answer.json()
    assert answer.json()["model_version"] == "v2-champion"


def test_health_is_degraded_while_the_last_good_champion_serves(two_champions):
    with open(two_champions / "v2-champion" / registry.MODEL_FILE, "ab") as handle:  # as tests/test_tampering.py tampers
        handle.write(b"\x00")
    answer = request("GET", "/api/v1/health")
    body = answer.json()
    assert answer.status == 200 and body["status"] == "degraded", body
    assert body["model_version"] == "v1-good"
    assert "v2-champion" in body["reason"] and "v1-good" in body["reason"] and "modified" in body["reason"]
    assert not _paths_in(answer.content.decode(), two_champions)


def test_health_is_degraded_while_the_full_model_serves_for_a_broken_snapshot(two_champions):
    snapshot = two_champions / "v2-champion" / registry.SERVING_FILE
    if not snapshot.is_file():
        pytest.skip("the shipped model kind has no serving snapshot")
    with open(snapshot, "ab") as handle:
        handle.write(b"\x00")
    body = request("GET", "/api/v1/health").json()
    assert body["status"] == "degraded" and body["model_version"] == "v2-champion", body
    assert "serving snapshot" in body["reason"]


# --------------------------------------------------------------------------------------
# Refused API keys: a summary in the log, not a line per request
# --------------------------------------------------------------------------------------


def test_refused_keys_are_logged_once_then_as_a_count_per_minute(monkeypatch, caplog, admin_key):
    now = [1000.0]
    monkeypatch.setattr(routes, "_refused_keys", routes.RefusedKeyLog(every_s=60.0, clock=lambda: now[0]))
    monkeypatch.setattr(routes, "_bad_keys", None)  # a fresh per-address limit
    wrong = {"Authorization": f"Bearer {new_key()}"}
    caplog.set_level(logging.WARNING, logger="huecast.api")

    def refusals() -> list[str]:
        return [record.getMessage() for record in caplog.records if "unknown API key" in record.getMessage()]

    statuses = [request("GET", "/api/v1/health", headers=wrong).status for _ in range(40)]
    assert statuses[:routes.BAD_KEYS_PER_MINUTE] == [401] * routes.BAD_KEYS_PER_MINUTE and set(statuses[routes.BAD_KEYS_PER_MINUTE:]) == {429}
    assert int(request("GET", "/api/v1/health", headers=wrong).headers["retry-after"]) >= 1
    assert refusals() == ["Refused an unknown API key from address 127.0.0.1 for /api/v1/health."]
    now[0] += 30.0
    request("GET", "/api/v1/health", headers=wrong)
    assert len(refusals()) == 1  # still within the minute
    now[0] += 31.0
    request("GET", "/api/v1/health", headers=wrong)
    assert refusals()[1:] == ["Refused 42 unknown API keys from address 127.0.0.1 in the last 61 s (the last for /api/v1/health)."]
    assert all(wrong["Authorization"][7:] not in record.getMessage() for record in caplog.records)
