"""The JSON API's Starlette routes under ``/api/v1``, and the lifespan that starts the warm start.

Thin wiring only: read the body (capped), check the key, take the champion from the
dashboard's own cache (:func:`dashboard.common.served_champion`, so pages and API serve
one model object), call :mod:`model.serving.api`, write JSON. ``dashboard/app.py`` hands
:data:`ROUTES` and :func:`lifespan` to ``st.App``.

Work that takes CPU (prediction, formulation) runs in a worker thread, so the event loop
that also carries every browser session's websocket is never blocked by it.

Importing this module is cheap on purpose: ``model`` is imported by the warm start
(:mod:`dashboard.warm_start`), in a thread the lifespan starts. The server therefore
answers at once, and a browser loads the app's JavaScript while the champion loads.
Predictions come from the champion's serving snapshot (:func:`dashboard.common.served_predictor`)
as soon as the warm start's first phase is done; formulation waits for the full model.
"""

from __future__ import annotations

import contextlib
import logging
import threading

import anyio
import streamlit as st
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from dashboard import readiness, warm_start

__all__ = ["ROUTES", "lifespan", "PREFIX"]

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
_lock = threading.Lock()  # guards _bad_keys
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


def _champion(full_model: bool = True):
    """``(model, card)``: the full champion, or with ``full_model=False`` what predicts (its serving snapshot)."""
    from dashboard import common
    from model.ops import registry
    from model.serving import api

    try:
        return common.served_champion() if full_model else common.served_predictor()
    except (FileNotFoundError, registry.IntegrityError) as error:
        raise api.ApiError(503, f"No champion model can be served: {error}") from None


#: The API functions that need the full model; the others answer from the serving snapshot.
_NEEDS_FULL_MODEL = {"formulate"}


def _answer(function, payload) -> bytes:
    """In a worker thread: take the champion once (loading it after a promotion happens here, off the
    event loop) and answer with that one model, whatever is promoted meanwhile."""
    from model.serving import api

    model, card = _champion(full_model=function in _NEEDS_FULL_MODEL)
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
        # Until the warm start has imported ``model``, an import here would hold the event loop.
        await anyio.to_thread.run_sync(readiness.wait_for_light_imports)
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
    model, card = await anyio.to_thread.run_sync(_champion, False)
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
    await anyio.to_thread.run_sync(readiness.wait_for_heavy_imports)  # promote loads the full model to check it
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
    warm_start.start()
    yield {}
