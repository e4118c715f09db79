"""The JSON API's Starlette routes under ``/api/v1``, and the server's warm start.

Thin wiring only: read the body (capped), check the key, take the champion from the
dashboard's own cache (:func:`dashboard.common.served_champion`, so pages and API serve
one model object), call :mod:`model.serving.api`, write JSON. ``dashboard/app.py`` hands
:data:`ROUTES` and :func:`lifespan` to ``st.App``.

Work that takes CPU (prediction, formulation) runs in a worker thread, so the event loop
that also carries every browser session's websocket is never blocked by it.

Importing this module is cheap on purpose: ``model`` (scikit-learn and pandas: about
1.5 s) is imported by the warm start, in a thread the lifespan starts. The
server therefore answers at once, and a browser loads the app's JavaScript while the
champion loads; its first page run then finds the champion in the cache.
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import logging
import sys
import threading
import time

import anyio
import streamlit as st
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

__all__ = ["ROUTES", "lifespan", "warm_start", "wait_for_warm_imports", "PREFIX"]

#: Must name ``model.serving.api.API_VERSION`` (tests/test_api.py checks it); written out so
#: that importing this module does not import ``model``.
PREFIX = "/api/v1"
_LOG = logging.getLogger("huecast.api")
# The API and the warm start read Streamlit's caches outside a page run, which Streamlit
# reports as "missing ScriptRunContext" on every call; that is expected here.
logging.getLogger("streamlit.runtime.scriptrunner_utils.script_run_context").setLevel(logging.ERROR)
#: Unknown API keys allowed per client address in any minute before it gets 429.
BAD_KEYS_PER_MINUTE = 5
_bad_keys = None  # an AttemptLimiter, made on first use (model.ops.access is imported lazily)
_lock = threading.Lock()  # guards _bad_keys and _warm_thread
#: A predict request of at most this many recipes queues in the quick lane (see :func:`_lane`).
QUICK_LANE_RECIPES = 100
_quick_lane = None  # an anyio.CapacityLimiter(1), made on first use inside the server's one event loop


def _bad_key_limiter():
    global _bad_keys
    with _lock:
        if _bad_keys is None:
            from model.ops.access import AttemptLimiter

            _bad_keys = AttemptLimiter(max_attempts=BAD_KEYS_PER_MINUTE, window_s=60.0)
        return _bad_keys


def _json(value, status: int = 200) -> Response:
    from model.serving import api

    return Response(api.to_json_bytes(value), status_code=status, media_type="application/json")


def _error(error) -> Response:
    return _json(error.to_dict(), error.status)


def _api_keys():
    from model.ops.api_keys import ApiKeys

    try:
        section = st.secrets.get("api")
    except Exception:  # no secrets file: no keys, open reads
        section = None
    return ApiKeys.from_secrets(section)


def _presented_key(request: Request) -> str | None:
    authorization = request.headers.get("authorization", "")
    if authorization.lower().startswith("bearer "):
        return authorization[7:].strip()
    return request.headers.get("x-api-key")


def _authorize(request: Request, *, admin: bool):
    """The request's user (None: anonymous, allowed), or raise :class:`api.ApiError` 401/403/429."""
    from model.ops.api_keys import ApiAccessError
    from model.serving import api

    address = request.client.host if request.client else "unknown"
    presented = _presented_key(request)
    try:
        return _api_keys().authorize(presented, admin=admin)
    except ValueError as error:  # malformed [api] secrets: the operator's mistake, said without the hash
        raise api.ApiError(500, f"The server's API key settings are malformed: {error}") from None
    except ApiAccessError as error:
        if presented and error.status == 401:  # an unknown key: count it against the address, log it without the key
            wait_s = _bad_key_limiter().try_attempt(f"address:{address}")
            _LOG.warning("Refused an unknown API key from address %s for %s.", address, request.url.path)
            if wait_s:
                raise api.ApiError(429, f"Too many unknown API keys from this address; wait {wait_s:.0f} s.") from None
        raise api.ApiError(error.status, error.message) from None


async def _body(request: Request) -> bytes:
    """The request body, refused with 413 as soon as it passes :data:`model.serving.api.MAX_BODY_BYTES`."""
    from model.serving import api

    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > api.MAX_BODY_BYTES:
        raise api.ApiError(413, f"The request body has {int(declared):,} bytes; expected at most {api.MAX_BODY_BYTES:,}. Send fewer recipes per request.")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > api.MAX_BODY_BYTES:
            raise api.ApiError(413, f"The request body is over {api.MAX_BODY_BYTES:,} bytes. Send fewer recipes per request.")
        chunks.append(chunk)
    return b"".join(chunks)


def _champion():
    from dashboard import common
    from model.ops import registry
    from model.serving import api

    try:
        return common.served_champion()
    except (FileNotFoundError, registry.IntegrityError) as error:
        raise api.ApiError(503, f"No champion model can be served: {error}") from None


def _answer(function, payload) -> bytes:
    """In a worker thread: take the champion once (loading it after a promotion happens here, off the
    event loop) and answer with that one model, whatever is promoted meanwhile."""
    from model.serving import api

    model, card = _champion()
    return api.to_json_bytes(getattr(api, function)(payload, model, card))


def _lane(payload) -> anyio.CapacityLimiter | None:
    """The worker lane of a predict request: small ones one at a time, in arrival order; None for a batch.

    Python computes in one thread at a time (the GIL), on the one core the server may be
    pinned to. Eight single-recipe predictions run side by side in eight threads each take
    about eight times as long, plus the switching between them, so all of them finish late;
    taken one at a time, in arrival order, the throughput is the same and each one ends as
    early as it can (``bench/api_load.py --clients 8 --seconds 10``, runs alternated on a busy
    machine: p99 69 and 55 ms one at a time, 78 and 68 ms side by side). Requests of more
    than :data:`QUICK_LANE_RECIPES` recipes keep anyio's shared worker threads (None), side
    by side, so a 10,000-recipe batch never holds up the quick lane and batches keep their
    throughput. The event loop (HTTP, the browsers' websockets) is never in a lane.
    """
    global _quick_lane
    recipes = payload.get("recipes") if isinstance(payload, dict) else payload
    if isinstance(recipes, list) and len(recipes) > QUICK_LANE_RECIPES:
        return None
    if _quick_lane is None:  # only the event loop's thread gets here, so no lock is needed
        _quick_lane = anyio.CapacityLimiter(1)
    return _quick_lane


def _endpoint(handler):
    """Turn :class:`api.ApiError` into its JSON response, and anything else into a 500 without a traceback."""

    async def endpoint(request: Request) -> Response:
        _send_without_delay(request)
        if _warm_thread is not None and _warm_thread.is_alive():
            # Until the warm start has imported ``model``, an import here would hold the event loop.
            await anyio.to_thread.run_sync(_warm_thread.join)
        from model.serving import api

        try:
            return await handler(request)
        except api.ApiError as error:
            return _error(error)
        except Exception:
            _LOG.exception("API error on %s", request.url.path)
            return _error(api.ApiError(500, "The server could not answer this request; its log says why."))

    endpoint.__name__ = handler.__name__
    return endpoint


@_endpoint
async def health(request: Request) -> Response:
    from model.serving import api

    _authorize(request, admin=False)
    model, card = await anyio.to_thread.run_sync(_champion)
    return _json(api.health(card))


@_endpoint
async def model_card(request: Request) -> Response:
    from model.serving import api

    _authorize(request, admin=False)
    model, card = await anyio.to_thread.run_sync(_champion)
    return _json(api.model_card(model, card))


@_endpoint
async def predict(request: Request) -> Response:
    from model.serving import api

    _authorize(request, admin=False)
    payload = api.parse_body(await _body(request))
    return Response(await anyio.to_thread.run_sync(_answer, "predict", payload, limiter=_lane(payload)), media_type="application/json")


@_endpoint
async def formulate(request: Request) -> Response:
    from model.serving import api

    _authorize(request, admin=False)
    payload = api.parse_body(await _body(request))
    return Response(await anyio.to_thread.run_sync(_answer, "formulate", payload), media_type="application/json")


@_endpoint
async def promote(request: Request) -> Response:
    """Admin only: ``{"version": "..."}`` becomes the champion (the registry checks it first)."""
    from model.ops import registry
    from model.ops.access import require_admin
    from model.serving import api

    user = _authorize(request, admin=True)
    payload = api.parse_body(await _body(request))
    version = payload.get("version") if isinstance(payload, dict) else None
    if not isinstance(version, str) or not version:
        raise api.ApiError(422, "'version' is missing; expected the version to promote, as GET /api/v1/model names it.", "version")
    require_admin(user, "promote a model")
    try:
        await anyio.to_thread.run_sync(lambda: registry.promote(version, user=user))
    except (FileNotFoundError, registry.IntegrityError, ValueError) as error:
        raise api.ApiError(422, f"version {version!r} cannot be promoted: {error}", "version") from None
    return _json({"champion": version})


_ENDPOINTS = [
    (f"{PREFIX}/health", health, "GET"),
    (f"{PREFIX}/model", model_card, "GET"),
    (f"{PREFIX}/predict", predict, "POST"),
    (f"{PREFIX}/formulate", formulate, "POST"),
    (f"{PREFIX}/model/promote", promote, "POST"),
]


@_endpoint
async def elsewhere(request: Request) -> Response:
    """Anything else under /api: a JSON 404 or 405, not the dashboard's HTML page."""
    from model.serving import api

    methods = [method for path, _, method in _ENDPOINTS if path == request.url.path.rstrip("/")]
    if methods:
        raise api.ApiError(405, f"{request.method} is not allowed on {request.url.path}; use {', '.join(methods)}.")
    known = ", ".join(f"{method} {path}" for path, _, method in _ENDPOINTS)
    raise api.ApiError(404, f"There is no {request.url.path}; the API has {known}.")


ROUTES = [Route(path, handler, methods=[method]) for path, handler, method in _ENDPOINTS] + [
    Route("/api/{rest:path}", elsewhere, methods=["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]),
]


def warm_start() -> float:
    """Import what the pages import and load the champion (and its training samples) into the cache.

    Returns the seconds it took. Nothing here may stop the server: a missing champion is
    the pages' to explain.
    """
    start = time.perf_counter()
    _check_for_a_repl_while_it_is_cheap()
    # Importing makes millions of objects and almost no garbage, yet the cyclic collector keeps
    # scanning them: paused, the imports take about a fifth less CPU (1.9 → 1.5 s). Frozen
    # afterwards, these long-lived objects stay out of every later collection, whose pauses
    # would otherwise land on API requests.
    gc.disable()
    try:
        try:
            _import_what_the_pages_import()
        finally:
            _pages_may_import.set()  # even after a failure: the page then shows it
        from dashboard import common
        from model.serving import api

        try:
            served, card = common.served_champion()
            api.predict({"recipes": [common.explore.default_recipe(served)]}, served, card)  # first-call costs
            common.training_samples(card)
        except Exception as error:  # the page shows it to the user; the log gets it here
            _LOG.warning("Warm start could not load the champion: %s", error)
    finally:
        gc.enable()
        gc.freeze()
    return time.perf_counter() - start


def _check_for_a_repl_while_it_is_cheap() -> None:
    """Let Streamlit make its once-per-process "is this a Python REPL?" check now.

    Streamlit makes that check on the first element a process draws
    (``DeltaGenerator._enqueue`` → ``streamlit.env_util.is_repl``), through
    ``inspect.stack()``, which reads the source of every frame and looks up the file of
    every loaded module. Left to the first page run, deep in Streamlit's script runner and
    with scikit-learn, SciPy and pandas loaded, it took 0.15 s (the sidebar's first
    ``st.markdown``, timed in the server over 4 starts); here, from a short stack before
    those imports, about 0.03 s. Outside a page run ``st.empty()`` draws nothing.
    """
    st.empty()


#: What the pages and the API import (scikit-learn and pandas come with them), for the warm start.
_PAGE_MODULES = ("dashboard.common", "dashboard.state", "model.serving.api", "model.presentation.figures",
                 "model.presentation.swatches", "model.io.safe_csv", "model.formulation")


def _import_what_the_pages_import() -> None:
    for name in _PAGE_MODULES:
        importlib.import_module(name)


#: Set once the warm start has imported what the pages import (see :func:`wait_for_warm_imports`).
_pages_may_import = threading.Event()


def wait_for_warm_imports(timeout_s: float = 120.0) -> None:
    """Return once the warm start's imports are done (at once when no warm start runs: AppTest, a test).

    A page run that imported ``model`` while the warm start's thread was importing it could
    fail: two threads importing scikit-learn from different entry points deadlock on its
    circular imports, and Python breaks the deadlock with "cannot import name 'clone' from
    partially initialized module 'sklearn.base'" (seen in ``bench/dashboard_speed.py``).
    So the first page run waits here, in ``dashboard/app.py``, before it imports anything.
    """
    thread = _warm_thread
    if thread is not None and thread.is_alive():
        _pages_may_import.wait(timeout_s)


_warm_thread: threading.Thread | None = None


def _warm_in_background() -> None:
    seconds = warm_start()
    print(f"Huecast warm start: {seconds:.2f} s (champion, training samples and the pages' imports loaded)", file=sys.stderr, flush=True)


def _send_without_delay(request: Request) -> None:
    """Turn Nagle's algorithm off on this API request's connection.

    Streamlit 1.67 binds its socket as ``socket.socket(family)``, whose protocol number is 0,
    and asyncio only disables Nagle on sockets whose protocol is IPPROTO_TCP. uvicorn writes
    a response's head and body separately, so on a kept-alive connection the body waited
    for the client's delayed ACK: about 40 ms per request. Only API connections are changed:
    turned off for every connection (on the listening socket), the browser's first page took
    about 1 s longer to draw (`bench/dashboard_speed.py --startup-only`, 5 runs each). The
    socket is reached through uvicorn's request cycle; if that is not there, nothing happens.
    """
    import socket

    cycle = getattr(request.receive, "__self__", None)
    transport = getattr(cycle, "transport", None)
    connection = transport.get_extra_info("socket") if transport is not None else None
    if connection is not None and connection.family in (socket.AF_INET, socket.AF_INET6):
        try:
            connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass


@contextlib.asynccontextmanager
async def lifespan(app):
    """``st.App`` lifespan: start the warm start, and serve at once.

    The warm start runs in its own thread while the server answers: a browser fetches the
    app's JavaScript meanwhile (in its own process, on the other core), and the first page
    run or API call that needs the champion waits for the cache to be filled, not longer.
    """
    start_warm_start()
    yield {}


def start_warm_start() -> None:
    """Start :func:`warm_start` in a thread, once per process (the lifespan calls it; so may the
    module that builds ``st.App``, to begin while Streamlit itself is still starting)."""
    global _warm_thread
    with _lock:
        if _warm_thread is None:
            _warm_thread = threading.Thread(target=_warm_in_background, name="huecast-warm-start", daemon=True)
            _warm_thread.start()
