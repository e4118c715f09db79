"""The old system's routes beside ``/api/v1``, retraining over the API, and CORS for browser clients.

Thin wiring, as :mod:`dashboard.api`, whose key check, body reading, champion, lanes and
path scrubbing these routes share; the translation is :mod:`model.serving.legacy` and the
retraining :mod:`model.serving.retrain_api`. ``dashboard/app.py`` puts :data:`ROUTES`
before ``api.ROUTES`` (whose last route answers every other ``/api/...`` with a JSON 404)
and wraps the app in :class:`ApiCORSMiddleware` with :func:`model.core.settings.cors_origins`.

The old routes answer errors as ``{"detail": "..."}`` (400 for bad input); the ``/api/v1``
routes here answer as the rest of ``/api/v1``. The old ``GET /`` is the dashboard's own
page, which answers 200 as the old front end checks.
"""

from __future__ import annotations

import threading

import anyio
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from dashboard import api as v1
from dashboard import readiness

__all__ = ["ROUTES", "ApiCORSMiddleware", "CORS_HEADERS", "CORS_METHODS"]

#: What a cross-origin page may send: the API's methods, and the headers that carry a key and JSON.
CORS_METHODS = ("GET", "POST")
CORS_HEADERS = ("Authorization", "X-API-Key", "Content-Type")
#: How long (seconds) a browser may keep a preflight's answer.
CORS_MAX_AGE_S = 600


class ApiCORSMiddleware:
    """Starlette's :class:`~starlette.middleware.cors.CORSMiddleware` for ``/api/`` paths only.

    Pages on the allowed origins may call the API from a browser (preflight ``OPTIONS``
    included); any other origin's preflight gets 400 and no response carries the
    ``Access-Control-Allow-Origin`` its page would need. Keys travel in a header, never a
    cookie, so credentials are not allowed. The dashboard's own routes keep Streamlit's
    rules (``server.enableCORS``), which this does not touch.
    """

    def __init__(self, app, allow_origins=()) -> None:
        self.app = app
        self.cors = CORSMiddleware(app, allow_origins=list(allow_origins), allow_methods=list(CORS_METHODS),
                                   allow_headers=list(CORS_HEADERS), allow_credentials=False, max_age=CORS_MAX_AGE_S)

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/api/"):
            await self.cors(scope, receive, send)
        else:
            await self.app(scope, receive, send)


# --------------------------------------------------------------------------------------
# The old contract's answers and errors
# --------------------------------------------------------------------------------------


def _legacy_endpoint(handler):
    """As :func:`dashboard.api._endpoint`, with errors in the old shape ``{"detail": ...}``."""

    async def endpoint(request: Request) -> Response:
        v1._send_without_delay(request)
        if not readiness.light_done.is_set():
            await anyio.to_thread.run_sync(readiness.wait_for_light_imports)
        from model.serving import api, legacy

        try:
            return await handler(request)
        except api.ApiError as error:
            status, body = legacy.error_body(error)
            response = v1._json({"detail": v1.without_paths(body["detail"])}, status)
            if getattr(error, "retry_after_s", None) is not None:
                response.headers["Retry-After"] = str(error.retry_after_s)
            return response
        except Exception:
            v1._LOG.exception("API error on %s", request.url.path)
            return v1._json({"detail": "The server could not answer this request; its log says why."}, 500)

    endpoint.__name__ = handler.__name__
    return endpoint


def _aliases() -> dict[str, str]:
    """``[api.aliases]`` from the settings; a malformed table is the operator's mistake (500, said)."""
    from model.core import settings
    from model.serving import api

    try:
        return settings.colorant_aliases()
    except ValueError as error:
        raise api.ApiError(500, f"The server's alias settings are malformed: {error}") from None


def _answer(function: str, payload, should_stop=None) -> bytes:
    """In a worker thread: ``legacy.<function>(payload, model, card, aliases)`` with the champion taken once."""
    from model.serving import api, legacy

    model, card = v1._champion(full_model=False)
    compute = getattr(legacy, function)
    aliases = _aliases()
    answer = compute(payload, model, card, aliases) if should_stop is None else compute(payload, model, card, aliases, should_stop=should_stop)
    return api.to_json_bytes(answer)


def _described(function: str) -> bytes:
    """In a worker thread: ``legacy.status`` or ``legacy.reagents`` of the champion."""
    from model.serving import api, legacy

    model, card = v1._champion(full_model=False)
    if function == "status":
        return api.to_json_bytes(legacy.status(model, card, _aliases(), v1._serving_status()[0]))
    return api.to_json_bytes(legacy.reagents(model, card, _aliases()))


@_legacy_endpoint
async def status(request: Request) -> Response:
    v1._authorize(request, admin=False)
    return Response(await anyio.to_thread.run_sync(_described, "status"), media_type="application/json")


@_legacy_endpoint
async def reagents(request: Request) -> Response:
    v1._authorize(request, admin=False)
    return Response(await anyio.to_thread.run_sync(_described, "reagents"), media_type="application/json")


async def _predicted(request: Request, function: str) -> Response:
    """A predict or batch_predict in the lane ``/api/v1/predict`` would give the same number of recipes."""
    v1._authorize(request, admin=False)
    payload = await v1._payload(request)
    lane = v1._lane(payload)  # a list (a batch) counts its recipes; an object is one recipe
    if lane is None:
        return Response(await v1._in_background(_answer, function, payload), media_type="application/json")
    return Response(await anyio.to_thread.run_sync(_answer, function, payload, limiter=lane), media_type="application/json")


@_legacy_endpoint
async def predict(request: Request) -> Response:
    return await _predicted(request, "predict")


@_legacy_endpoint
async def batch_predict(request: Request) -> Response:
    return await _predicted(request, "batch_predict")


@_legacy_endpoint
async def inverse_predict(request: Request) -> Response:
    """In the heavy lane of ``/api/v1/formulate``: 429 with ``Retry-After`` when it is full; stops when the client leaves."""
    from model.serving import api

    v1._authorize(request, admin=False)
    payload = await v1._payload(request)
    if not v1._claim_heavy_lane():
        raise v1._retry_later(api.ApiError(
            429, f"The server is computing as many formulations as it can ({v1.HEAVY_REQUESTS_AT_ONCE} at a time); "
            f"retry in {v1.HEAVY_RETRY_AFTER_S} s (the Retry-After header)."), v1.HEAVY_RETRY_AFTER_S)
    try:
        stop = threading.Event()
        failure = None
        async with anyio.create_task_group() as watchers:
            watchers.start_soon(v1._stop_when_client_leaves, request, stop)
            try:
                answer = await v1._in_background(_answer, "inverse_predict", payload, v1._should_stop(stop))
            except Exception as error:  # outside the task group, so it is not wrapped in an ExceptionGroup
                failure = error
            finally:
                stop.set()
                watchers.cancel_scope.cancel()
    finally:
        v1._leave_heavy_lane()
    if failure is not None:
        raise failure
    return Response(answer, media_type="application/json")


# --------------------------------------------------------------------------------------
# Retraining: POST /api/retrain (old shape), POST /api/v1/retrain, GET /api/v1/jobs/{id},
# POST /api/v1/measurements
# --------------------------------------------------------------------------------------


async def _start_retrain(request: Request) -> tuple[str, tuple[str, ...]]:
    """Admin key only; the body, if any, must be empty or ``{}`` (nothing is configurable here)."""
    from model.serving import api, retrain_api

    user = v1._authorize(request, admin=True)
    body = await v1._body(request)
    if body.strip():
        payload = api.parse_body(body)
        if payload != {}:
            raise api.ApiError(422, "A retrain request takes no fields (send no body, or {}); the challenger trains on the stored measurements "
                               "with the champion's configuration. A search and other settings are on the Retrain page.")
    await anyio.to_thread.run_sync(readiness.wait_for_heavy_imports)  # training imports scikit-learn
    return await anyio.to_thread.run_sync(retrain_api.start_retrain, user)


@_legacy_endpoint
async def retrain(request: Request) -> Response:
    from model.serving import legacy

    job_id, colorants = await _start_retrain(request)
    return v1._json(legacy.retrain_started(job_id, colorants, _aliases()))


@v1._endpoint
async def retrain_v1(request: Request) -> Response:
    from model.serving import retrain_api

    job_id, _ = await _start_retrain(request)
    return v1._json({"job_id": job_id, "status_url": f"{v1.PREFIX}/jobs/{job_id}", "decision": retrain_api.DECISION}, 202)


@v1._endpoint
async def job(request: Request) -> Response:
    """A job's progress and, for a finished challenger, its comparison with the champion (admin key)."""
    from model.serving import retrain_api

    v1._authorize(request, admin=True)
    return v1._json(await anyio.to_thread.run_sync(retrain_api.job_report, request.path_params["job_id"]))


@v1._endpoint
async def measurements(request: Request) -> Response:
    """Admin key: review measurement files as the Retrain page does, and store them when ``commit`` is true."""
    from model.serving import retrain_api

    user = v1._authorize(request, admin=True)
    payload = await v1._payload(request)
    await anyio.to_thread.run_sync(readiness.wait_for_heavy_imports)
    return v1._json(await v1._in_background(retrain_api.upload_measurements, payload, user))


_OLD = [
    ("/api/status", status, "GET"),
    ("/api/reagents", reagents, "GET"),
    ("/api/predict", predict, "POST"),
    ("/api/batch_predict", batch_predict, "POST"),
    ("/api/inverse_predict", inverse_predict, "POST"),
    ("/api/retrain", retrain, "POST"),
    (f"{v1.PREFIX}/retrain", retrain_v1, "POST"),
    (f"{v1.PREFIX}/jobs/{{job_id}}", job, "GET"),
    (f"{v1.PREFIX}/measurements", measurements, "POST"),
]
_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
v1.ALSO_SERVED.extend(f"{method} {path}" for path, _, method in _OLD if f"{method} {path}" not in v1.ALSO_SERVED)


def _wrong_method(method: str, old_shape: bool):
    """A handler answering 405 naming ``method``, the one the route takes (else the /api catch-all would say 404)."""

    async def wrong_method(request: Request) -> Response:
        from model.serving import api

        raise api.ApiError(405, f"{request.method} is not allowed on {request.url.path}; use {method}.")

    return (_legacy_endpoint if old_shape else v1._endpoint)(wrong_method)


# Each also answers with a trailing slash, as the /api/v1 routes do, and 405 for another method.
ROUTES = [
    route
    for path, handler, method in _OLD
    for spelling in (path, f"{path}/")
    for route in (
        Route(spelling, handler, methods=[method]),
        Route(spelling, _wrong_method(method, not path.startswith(v1.PREFIX)),
              methods=[other for other in _METHODS if other != method and not (method == "GET" and other == "HEAD")]),
    )
]
