"""The JSON API's Starlette routes under ``/api/v1``, and the lifespan that starts the warm start.

Thin wiring only: read the body (capped), check the key, take the champion from the
dashboard's own cache (:func:`dashboard.champion.served`, so pages and API serve
one model object), call :mod:`model.serving.api`, write JSON. ``dashboard/app.py`` hands
:data:`ROUTES` and :func:`lifespan` to ``st.App``.

Work that takes CPU runs in worker threads, so the event loop that also carries every
browser session's websocket is never blocked by it: small predictions one at a time in the
quick lane (:func:`_lane`); batches, large bodies and formulations in nicer background
threads (:func:`_in_background`). Heavy requests (formulation) have room for
:data:`HEAVY_REQUESTS_AT_ONCE`: one more gets 429 with ``Retry-After`` at once, never a
queue, and one stops as soon as its client has gone (:func:`_heavy`).

Importing this module is cheap on purpose: ``model`` is imported by the warm start
(:mod:`dashboard.warm_start`), in a thread the lifespan starts. The server therefore
answers at once, and a browser loads the app's JavaScript while the champion loads.
Predictions come from the champion's serving snapshot (:func:`dashboard.champion.served`)
as soon as the warm start's first phase is done; functions in ``_NEEDS_FULL_MODEL`` wait for the full model.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import re
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

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
_bad_keys = None  # an AttemptLimiter, made on first use (model.auth.access is imported lazily)
_lock = threading.Lock()  # guards _bad_keys, _heavy_running and _background
#: A predict request of at most this many recipes queues in the quick lane (see :func:`_lane`).
QUICK_LANE_RECIPES = 100
_quick_lane = None  # an anyio.CapacityLimiter(1), made on first use inside the server's one event loop
#: Heavy requests (formulate; a plan route would join them) computed at once; one more gets
#: 429. One on a 2-core machine: Python computes in one thread at a time, and 8 formulations
#: side by side raised a single prediction's p99 from 31 ms to 810 ms (``bench/api_load.py --hostile``).
HEAVY_REQUESTS_AT_ONCE = 1
#: The ``Retry-After`` (seconds) of a heavy request refused because its lane is full: about one formulation.
HEAVY_RETRY_AFTER_S = 5
#: How often (seconds) the event loop asks whether the client of a running heavy request has gone.
DISCONNECT_POLL_S = 0.1
#: The longest (seconds) a heavy request pauses, between two steps of its work, while small
#: predictions wait or run (:func:`_yield_to_quick_lane`); then it takes its next step anyway.
HEAVY_YIELD_S = 0.05
_heavy_running = 0  # heavy requests computing now, guarded by _lock
#: Seconds between two log lines about unknown API keys from one address (the count in between is summed).
REFUSED_KEY_LOG_EVERY_S = 60.0
#: A body of more bytes is parsed in a background thread, not on the event loop: a 4 MB body
#: takes 130–340 ms to parse, which on the event loop would hold up every other request.
PARSE_ON_LOOP_BYTES = 64 * 1024
#: Background threads (:func:`_in_background`): batches, large bodies and heavy requests.
BACKGROUND_THREADS = 8
#: How much nicer than the server the background threads run (Linux: niceness is per thread).
BACKGROUND_NICENESS = 10
_background = None  # a ThreadPoolExecutor, made on first use


def _bad_key_limiter():
    global _bad_keys
    with _lock:
        if _bad_keys is None:
            from model.auth.access import AttemptLimiter

            _bad_keys = AttemptLimiter(max_attempts=BAD_KEYS_PER_MINUTE, window_s=60.0)
        return _bad_keys


def _json(value, status: int = 200) -> Response:
    from model.serving import api

    return Response(api.to_json_bytes(value), status_code=status, media_type="application/json")


def _error(error) -> Response:
    body = error.to_dict()
    body["error"]["message"] = without_paths(body["error"]["message"])
    retry_after_s = getattr(error, "retry_after_s", None)
    response = _json(body, error.status)
    if retry_after_s is not None:
        response.headers["Retry-After"] = str(retry_after_s)
    return response


def _api_keys():
    from model.auth.api_keys import ApiKeys

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
    from model.auth.api_keys import ApiAccessError
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
            _refused_keys.refused(address, request.url.path)
            if wait_s:
                raise _retry_later(api.ApiError(429, f"Too many unknown API keys from this address; wait {wait_s:.0f} s."), wait_s) from None
        raise api.ApiError(error.status, error.message) from None


class RefusedKeyLog:
    """Log refused API keys as a summary: an address's first refusal at once, then at most one
    line per address every ``every_s`` seconds (with its next refusal) giving the count since.

    A line per refusal was 400 lines a second during a flood of unknown keys (each gets 429).
    Addresses with nothing left to report are forgotten, so many addresses cannot grow this without end.
    """

    def __init__(self, every_s: float = REFUSED_KEY_LOG_EVERY_S, clock=time.monotonic) -> None:
        self.every_s = every_s
        self.clock = clock
        self._lock = threading.Lock()
        self._seen: dict[str, tuple[float, int]] = {}  # address -> (when its last line was written, refused since)

    def refused(self, address: str, path: str) -> None:
        now = self.clock()
        with self._lock:
            logged_at, since = self._seen.get(address, (None, 0))
            if logged_at is not None and now - logged_at < self.every_s:
                self._seen[address] = (logged_at, since + 1)
                return
            if len(self._seen) > 1000:  # forget addresses with nothing unreported that are older than a minute
                self._seen = {key: value for key, value in self._seen.items() if value[1] or now - value[0] < self.every_s}
            self._seen[address] = (now, 0)
        if logged_at is None:
            _LOG.warning("Refused an unknown API key from address %s for %s.", address, path)
        else:
            _LOG.warning("Refused %d unknown API keys from address %s in the last %.0f s (the last for %s).", since + 1, address, now - logged_at, path)


_refused_keys = RefusedKeyLog()


def _retry_later(error, retry_after_s: float):
    """``error`` (an :class:`api.ApiError`, 429 or 503) with the ``Retry-After`` its response will carry."""
    error.retry_after_s = max(1, round(retry_after_s))
    return error


#: An absolute path in a message: POSIX (``/srv/huecast/models/...``, not an API route) or Windows.
_ABSOLUTE_PATH = re.compile(r"(?<![\w.~/%-])(?:/(?!api/)[^\s'\"(),;/]+/[^\s'\"(),;]*|[A-Za-z]:\\[^\s'\"(),;]*)")


def without_paths(message: str) -> str:
    """``message`` with every absolute server path replaced by what it is: error bodies never
    show where the server keeps its files (the server's log does)."""
    if "/" not in message and "\\" not in message:  # most messages: nothing to look for
        return message
    from model.core import settings

    for spelling, name in _folder_names(str(settings.models_dir()), str(settings.data_dir())):
        message = message.replace(spelling, name)
    return _ABSOLUTE_PATH.sub(lambda found: "a server path" + ("." if found.group().endswith(".") else ""), message)


@functools.lru_cache(maxsize=8)
def _folder_names(models_dir: str, data_dir: str) -> tuple[tuple[str, str], ...]:
    """Each spelling of the models and data folders (as set, and resolved: a file-system call, so once), longest first."""
    spellings = {}
    for folder, name in ((models_dir, "the models folder"), (data_dir, "the data folder")):
        for spelling in (folder, str(Path(folder).resolve())):
            if len(spelling) > 1:
                spellings[spelling] = name
    return tuple(sorted(spellings.items(), key=lambda item: -len(item[0])))


async def _body(request: Request) -> bytes:
    """The request body, refused with 415 when it is not sent as JSON (:func:`model.serving.api.check_content_type`)
    and with 413 as soon as it passes :data:`model.serving.api.MAX_BODY_BYTES`."""
    from model.serving import api

    api.check_content_type(request.headers.get("content-type", ""))
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


async def _payload(request: Request):
    """The request's parsed JSON body (:func:`_body`, then ``api.parse_body``; a large one in a worker thread)."""
    from model.serving import api

    body = await _body(request)
    if len(body) <= PARSE_ON_LOOP_BYTES:
        return api.parse_body(body)
    return await _in_background(api.parse_body, body)


def _nicer_thread() -> None:
    """Make the calling thread :data:`BACKGROUND_NICENESS` nicer (Linux only: elsewhere it would be the whole process)."""
    if sys.platform.startswith("linux"):
        thread_id = threading.get_native_id()
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, thread_id, min(19, os.getpriority(os.PRIO_PROCESS, thread_id) + BACKGROUND_NICENESS))


async def _in_background(function, *args):
    """``function(*args)`` in a background thread, at a lower priority than the quick lane and the event loop.

    A 10,000-recipe batch computes for about a second, mostly in numpy, which lets go of the
    interpreter; the operating system then shared the core evenly with the quick lane, and
    single predictions took twice as long while batches ran (``bench/api_load.py --hostile
    --attacks large --server-cpus 1``: 42 and 100 requests/s, niceness 0 and 10). Niceness is
    never undone, so these threads are a pool of their own (:data:`BACKGROUND_THREADS`), not anyio's.
    """
    global _background
    with _lock:
        if _background is None:
            _background = ThreadPoolExecutor(BACKGROUND_THREADS, thread_name_prefix="huecast-api-background", initializer=_nicer_thread)
    return await asyncio.wrap_future(_background.submit(function, *args))


def _champion(full_model: bool = True):
    """``(model, card)``: the full champion, or with ``full_model=False`` what predicts (its serving snapshot)."""
    from dashboard import champion
    from model.registry import registry
    from model.serving import api

    try:
        return champion.served(full=full_model)
    except FileNotFoundError as error:
        _LOG.error("No champion model can be served: %s", error)
        raise api.ApiError(
            503, "No champion model is promoted on this server. An admin trains and promotes one "
            "(python -m model train --data data/demo --promote), or points HUECAST_MODELS_DIR at a models folder that has one."
        ) from None
    except registry.IntegrityError as error:
        _LOG.error("No champion model can be served: %s", error)
        raise api.ApiError(
            503, f"No champion model can be served: {without_paths(str(error))} An admin rolls back to an earlier "
            "version or promotes another (the Retrain page, or POST /api/v1/model/promote); the server log names the files."
        ) from None


#: The API functions that need the full model; the others answer from the serving snapshot.
_NEEDS_FULL_MODEL: set[str] = set()  # formulate runs on the serving snapshot too


def _answer(function, payload, should_stop=None) -> bytes:
    """In a worker thread: take the champion once (loading it after a promotion happens here, off the
    event loop) and answer with that one model, whatever is promoted meanwhile. A heavy function
    gets ``should_stop`` (see :func:`_heavy`)."""
    from model.serving import api

    model, card = _champion(full_model=function in _NEEDS_FULL_MODEL)
    compute = getattr(api, function)
    answer = compute(payload, model, card) if should_stop is None else compute(payload, model, card, should_stop=should_stop)
    return api.to_json_bytes(answer)


def _claim_heavy_lane() -> bool:
    global _heavy_running
    with _lock:
        if _heavy_running >= HEAVY_REQUESTS_AT_ONCE:
            return False
        _heavy_running += 1
        return True


def _leave_heavy_lane() -> None:
    global _heavy_running
    with _lock:
        _heavy_running -= 1


def _yield_to_quick_lane() -> None:
    """In a heavy request's thread, between two steps of its work: pause while the quick lane is busy.

    Python runs one thread at a time; a formulation beside a prediction takes the interpreter
    from it for 5 ms (``sys.getswitchinterval``) whenever the prediction lets go of it (numpy),
    so each prediction took several turns longer. Paused while a prediction waits or runs, at
    most :data:`HEAVY_YIELD_S` each time, a formulation is slowed, never starved.
    """
    lane = _quick_lane
    if lane is None:
        return
    until = time.monotonic() + HEAVY_YIELD_S
    while (lane.borrowed_tokens or lane.statistics().tasks_waiting) and time.monotonic() < until:
        time.sleep(0.001)


def _should_stop(stop: threading.Event):
    """The ``should_stop`` of a heavy request: True once ``stop`` is set; first gives way to predictions."""

    def should_stop() -> bool:
        _yield_to_quick_lane()
        return stop.is_set()

    return should_stop


async def _stop_when_client_leaves(request: Request, stop: threading.Event) -> None:
    """Set ``stop`` once the client has closed its connection (polled, from the event loop)."""
    while not stop.is_set():
        if await request.is_disconnected():
            _LOG.info("The client of %s left before its answer; its work stops.", request.url.path)
            stop.set()
            return
        await anyio.sleep(DISCONNECT_POLL_S)


async def _heavy(request: Request, function: str) -> Response:
    """Answer a heavy request with ``api.<function>(payload, model, card, should_stop=...)``.

    At most :data:`HEAVY_REQUESTS_AT_ONCE` run at a time; one more gets 429 with
    ``Retry-After`` at once (its body read and parsed first, so a slow sender holds no
    place). ``should_stop`` turns true once the client has gone, and the function then ends
    early (``api.formulate`` also stops itself after ``api.FORMULATE_TIME_LIMIT_S``). Its
    worker thread keeps the lane until it has ended, so work never piles up behind a client that left.
    """
    from model.serving import api

    _authorize(request, admin=False)
    payload = await _payload(request)
    if not _claim_heavy_lane():
        raise _retry_later(api.ApiError(
            429, f"The server is computing as many {function} requests as it can ({HEAVY_REQUESTS_AT_ONCE} at a time); "
            f"retry in {HEAVY_RETRY_AFTER_S} s (the Retry-After header)."), HEAVY_RETRY_AFTER_S)
    try:
        stop = threading.Event()
        failure = None
        async with anyio.create_task_group() as watchers:
            watchers.start_soon(_stop_when_client_leaves, request, stop)
            try:
                answer = await _in_background(_answer, function, payload, _should_stop(stop))
            except Exception as error:  # raised here, outside the task group, so it is not wrapped in an ExceptionGroup
                failure = error
            finally:
                stop.set()
                watchers.cancel_scope.cancel()
    finally:
        _leave_heavy_lane()
    if failure is not None:
        raise failure
    return Response(answer, media_type="application/json")


def _lane(payload) -> anyio.CapacityLimiter | None:
    """The worker lane of a predict request: small ones one at a time, in arrival order; None for a batch.

    Python computes in one thread at a time (the GIL), on the one core the server may be
    pinned to. Eight single-recipe predictions run side by side in eight threads each take
    about eight times as long, plus the switching between them, so all of them finish late;
    taken one at a time, in arrival order, the throughput is the same and each one ends as
    early as it can (``bench/api_load.py --clients 8 --seconds 10``, runs alternated on a busy
    machine: p99 69 and 55 ms one at a time, 78 and 68 ms side by side). Requests of more
    than :data:`QUICK_LANE_RECIPES` recipes go to the background threads (None; see
    :func:`_in_background`), side by side, so a 10,000-recipe batch never holds up the quick
    lane and batches keep their throughput. The event loop (HTTP, the browsers' websockets)
    is never in a lane.
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
        # Until the warm start has imported ``model``, an import here would hold the event loop;
        # once it has, no worker thread is needed to find that out (a flood of refusals would pay for one each).
        if not readiness.light_done.is_set():
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


def _serving_status() -> tuple[str, str | None]:
    from dashboard import champion

    return champion.serving_status()


@_endpoint
async def health(request: Request) -> Response:
    """``"ok"``, or ``"degraded"`` (still 200) with a ``reason`` while a fallback serves."""
    from model.serving import api

    _authorize(request, admin=False)
    model, card = await anyio.to_thread.run_sync(_champion, False)
    status, reason = await anyio.to_thread.run_sync(_serving_status)
    body = api.health(card)
    if status != "ok":
        body = body | {"status": status, "reason": without_paths(reason or "")}
    return _json(body)


@_endpoint
async def model_card(request: Request) -> Response:
    from model.serving import api

    _authorize(request, admin=False)
    model, card = await anyio.to_thread.run_sync(_champion)
    return _json(api.model_card(model, card))


@_endpoint
async def predict(request: Request) -> Response:
    _authorize(request, admin=False)
    payload = await _payload(request)
    lane = _lane(payload)
    if lane is None:  # a batch
        return Response(await _in_background(_answer, "predict", payload), media_type="application/json")
    return Response(await anyio.to_thread.run_sync(_answer, "predict", payload, limiter=lane), media_type="application/json")


@_endpoint
async def formulate(request: Request) -> Response:
    return await _heavy(request, "formulate")


#: The fields ``POST /api/v1/model/promote`` takes; any other is refused with 422.
PROMOTE_FIELDS = ("version", "confirm", "override_reason")


@_endpoint
async def promote(request: Request) -> Response:
    """Admin only, through the one door to the champion (:func:`model.registry.promotion.promote`).

    ``{"version": "..."}`` alone answers 422 with the ``verdict`` (the version against the
    champion on the same data and folds) and asks for ``"confirm": true``; a version that
    predicts worse also needs ``"override_reason"`` (409 without it), which the promotions
    log keeps with the key's user. 200: ``{"champion", "verdict", "override_reason"}``.
    """
    from model.auth.access import require_admin
    from model.core.files import StorageError
    from model.registry import registry
    from model.serving import api

    user = _authorize(request, admin=True)
    payload = await _payload(request)
    version = payload.get("version") if isinstance(payload, dict) else None
    if not isinstance(version, str) or not version:
        raise api.ApiError(422, "'version' is missing; expected the version to promote, as GET /api/v1/model names it.", "version")
    api._refuse_unknown(payload, PROMOTE_FIELDS, "", "a field of a promotion")
    confirm, reason = payload.get("confirm", False), payload.get("override_reason")
    if not isinstance(confirm, bool):
        raise api.ApiError(422, f"'confirm' must be true or false; got {confirm!r}.", "confirm")
    if reason is not None and not isinstance(reason, str):
        raise api.ApiError(422, "'override_reason' must be a string: why the model serves although it scored worse.", "override_reason")
    try:
        registry.check_version_name(version)  # before any path is made of it
    except registry.VersionNameError as error:
        raise api.ApiError(422, f"version: {error}", "version") from None
    require_admin(user, "promote a model")
    await anyio.to_thread.run_sync(readiness.wait_for_heavy_imports)  # promote loads the full model to check it
    from model.registry import promotion

    try:
        verdict = await anyio.to_thread.run_sync(lambda: promotion.promote(version, user=user, confirm=confirm, override_reason=reason))
    except promotion.PromotionRefused as refusal:
        _LOG.info("Promotion of %s refused: %s", version, refusal)  # the error names the field to change; the verdict is there to read
        error = {"status": refusal.status, "message": without_paths(str(refusal)), "field": refusal.field}
        return _json({"error": error, "verdict": refusal.verdict.to_dict()}, refusal.status)
    except (FileNotFoundError, registry.IntegrityError, ValueError) as error:
        _LOG.warning("Promotion of %s refused: %s", version, error)
        raise api.ApiError(422, f"version {version!r} cannot be promoted: {without_paths(str(error))}", "version") from None
    except StorageError as error:  # the pointer or the promotions log could not be written; the message names the setting
        _LOG.error("Promotion of %s failed: %s", version, error)
        raise api.ApiError(503, f"version {version!r} was not promoted: {without_paths(str(error))}") from None
    except OSError as error:
        _LOG.error("Promotion of %s failed: %s", version, error)
        raise api.ApiError(503, f"version {version!r} was not promoted: the server cannot write to its models folder "
                           f"({error.strerror or type(error).__name__}). An admin makes that folder writable for the server's user, then promotes again.") from None
    return _json({"champion": version, "verdict": verdict.to_dict(), "override_reason": (reason or "").strip() or None})


_ENDPOINTS = [
    (f"{PREFIX}/health", health, "GET"),
    (f"{PREFIX}/model", model_card, "GET"),
    (f"{PREFIX}/predict", predict, "POST"),
    (f"{PREFIX}/formulate", formulate, "POST"),
    (f"{PREFIX}/model/promote", promote, "POST"),
]


#: ``"METHOD /path"`` of the /api routes served by ``dashboard/legacy_api.py``, named in a 404.
ALSO_SERVED: list[str] = []


@_endpoint
async def elsewhere(request: Request) -> Response:
    """Anything else under /api: a JSON 404 or 405, not the dashboard's HTML page."""
    from model.serving import api

    methods = [method for path, _, method in _ENDPOINTS if path == request.url.path.rstrip("/")]
    if methods:
        raise api.ApiError(405, f"{request.method} is not allowed on {request.url.path}; use {', '.join(methods)}.")
    known = ", ".join([*(f"{method} {path}" for path, _, method in _ENDPOINTS), *ALSO_SERVED])
    raise api.ApiError(404, f"There is no {request.url.path}; the API has {known}.")


# Each endpoint also answers with a trailing slash (POST /api/v1/predict/): a client's URL joining
# adds one easily, and a redirect would make some clients repeat a POST as a GET.
ROUTES = [Route(route, handler, methods=[method]) for path, handler, method in _ENDPOINTS for route in (path, f"{path}/")] + [
    Route(path, elsewhere, methods=["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]) for path in ("/api", "/api/{rest:path}")
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
