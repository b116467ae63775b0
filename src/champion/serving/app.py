"""The HTTP layer: parse a request, call the data plane or the lifecycle, shape the
response. Nothing here scores, loads, logs or monitors.

``create_app(settings, name, traffic)`` wires a :class:`~champion.serving.scoring.DataPlane`
(scoring, counting, logging, the shadow) and a :class:`~champion.serving.lifecycle.Lifecycle`
(start-up, shutdown, hot reload, background monitoring) to these routes:

- ``GET /``: the try-it page;
- ``POST /invocations``: MLflow's scoring protocol, answered as ``mlflow models serve``
  answers (``{"predictions": [...]}``);
- ``POST /predict``: records in; per record the label and probabilities (or value, or
  ``predicted_tags``), with the model name, version and arm;
- ``POST /explain``: one record in; each input column's SHAP contribution;
- ``POST /feedback``: true labels for logged predictions, by request id;
- ``GET /dashboard``: traffic, latency, alerts, live performance and drift;
- ``GET /health``, ``/ready``, ``/version``, ``/metrics`` (Prometheus);
- ``GET /openapi.json``: the OpenAPI document, written for the model served
  (:mod:`champion.serving.openapi`).

Large work never runs on the event loop, so ``/health`` and small requests keep their
milliseconds while it runs: a scoring body over ``SMALL_BODY`` bytes is parsed and
scored in a small pool of threads, and so is every explanation and the pages' rendering.
A one-row body stays on the loop, where a thread hop would cost more than the prediction.

Errors are ``{"error": {"code", "message", "field"}}`` with the status of the
:mod:`champion.errors` leaf raised (4xx for anything the client can fix, 503 while no
model can answer); a 405 names the allowed methods in ``Allow``. Each response
carries ``X-Request-ID``, and the scoring routes set ``X-Model-Version`` and
``X-Model-Arm`` to the version and arm that answered (the envelope adds the champion's
to every other response).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from functools import partial

import orjson
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from champion.errors import ChampionError
from champion.monitoring.dashboard import render_dashboard
from champion.monitoring.log import LabelSpace, LogOptions, parse_labels
from champion.project.categories import canonical_category
from champion.project.spec import CLASSIFICATION_TASKS, MonitoringSpec
from champion.serving.deployment import Deployment, Traffic
from champion.serving.envelope import (
    BODY_TIMEOUT,
    REQUEST_ID_HEADER,
    ClientGone,
    Envelope,
)
from champion.serving.lifecycle import Lifecycle
from champion.serving.metrics import ServerMetrics
from champion.serving.model import ServedModel, load_served_model
from champion.serving.openapi import document
from champion.serving.page import render_page
from champion.serving.protocol import (
    Limits,
    invocations_answer,
    parse_invocations,
    parse_json,
    parse_records,
)
from champion.serving.scoring import DataPlane, Route
from champion.settings import Settings

_REQUEST_ID = REQUEST_ID_HEADER.encode()
log = logging.getLogger("champion.serving")
MAX_BODY_BYTES = 10 * 1024 * 1024
MAX_ROWS = 10_000
MAX_COLUMNS = 1_000
MAX_CELLS = 1_000_000
# Bodies up to this size are scored on the event loop: a 100-row dataframe_split body is
# about 3 KB and takes a millisecond or two; past it, a thread.
SMALL_BODY = 8 * 1024
# Threads for large requests, explanations and pages. Few: they share the GIL with the
# event loop, and each more thread is one more turn the loop waits for.
WORK_THREADS = 2
RELOAD_INTERVAL = 30.0
MONITOR_INTERVAL = 60.0


def create_app(
    settings: Settings,
    name: str,
    traffic: Traffic | None = None,
    *,
    reload_interval: float = RELOAD_INTERVAL,
    max_body_bytes: int = MAX_BODY_BYTES,
    max_rows: int = MAX_ROWS,
    max_columns: int = MAX_COLUMNS,
    max_cells: int = MAX_CELLS,
    body_timeout: float = BODY_TIMEOUT,
    deployment: Deployment | None = None,
    loader: Callable[..., ServedModel] = load_served_model,
    logging_options: LogOptions | None = None,
    monitoring: MonitoringSpec | None = None,
    monitor_interval: float = MONITOR_INTERVAL,
    metrics_dir: str | None = None,
) -> FastAPI:
    """The serving app for model ``name`` on the store of ``settings``.

    Args:
        traffic: the arms and how requests are shared (default: the champion alias only).
        reload_interval: seconds between alias checks; 0 turns hot reload off.
        max_body_bytes, max_rows, max_columns, max_cells: larger bodies, or tables
            with more rows, columns or values (see :class:`Limits`), get a 413.
        body_timeout: seconds a body may go without a byte arriving before a 408.
        deployment: arms loaded already (a parent process loads once, then forks
            workers that share the memory); loaded in the lifespan when None.
        loader: loads one version (see :func:`load_served_model`; e.g. with
            ``inference="sklearn"``).
        logging_options: the prediction log (at ``settings.prediction_log``); default on.
        monitoring: drift, performance and alert policy (the project file's section).
        monitor_interval: seconds between background monitoring runs (drift and live
            metrics to /metrics, alerts); 0: only when /dashboard asks.
        metrics_dir: the folder worker processes share their metrics in (see
            :func:`champion.serving.runner.run`); None for a single process.
    """
    traffic = traffic or Traffic()
    metrics = ServerMetrics(multiprocess_dir=metrics_dir)
    plane = DataPlane(name, traffic, metrics, max_rows=max_rows)
    limits = Limits(rows=max_rows, columns=max_columns, cells=max_cells)
    pool = ThreadPoolExecutor(WORK_THREADS, thread_name_prefix="champion-work")

    async def off_loop(work: Callable, *args):
        """``work(*args)`` in the pool, the event loop free meanwhile."""
        return await asyncio.get_running_loop().run_in_executor(pool, partial(work, *args))

    lifecycle = Lifecycle(
        settings,
        name,
        plane,
        metrics,
        deployment=deployment,
        loader=loader,
        logging_options=logging_options or LogOptions(),
        monitoring=monitoring or MonitoringSpec(),
        reload_interval=reload_interval,
        monitor_interval=monitor_interval,
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        await lifecycle.start()
        # What start-up built (modules, the model: some 400,000 objects) will live as
        # long as the server: out of the collector's sight. Otherwise every full
        # collection walks it, and one set off by a monitoring run in a thread stops
        # the event loop too (a second, measured on /dashboard with a 50,000-row log).
        gc.collect()
        gc.freeze()
        yield
        await lifecycle.stop()
        pool.shutdown(wait=False)

    app = FastAPI(title=f"champion: {name}@{traffic.alias}", lifespan=lifespan)
    # FastAPI cannot describe routes that read raw bodies: the document is written for
    # the champion arm's columns and classes (and follows it across hot reloads).
    app.openapi = lambda: document(plane.live().champion.model, title=app.title, max_rows=max_rows)
    # For tools that open the request path up (benchmarks/profile_serving.py); the
    # routes themselves use the plane they close over.
    app.state.plane = plane

    @app.exception_handler(ChampionError)
    async def champion_error(request: Request, error: ChampionError):
        return _error_response(error)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException):
        body = {"error": {"code": "http_error", "message": str(error.detail), "field": None}}
        # The router's 405 carries ``Allow`` (RFC 9110 requires it): keep its headers.
        return JSONResponse(body, status_code=error.status_code, headers=error.headers)

    def route_of(request: Request) -> Route:
        return plane.route(request.headers.get(traffic.route_header))

    # The two scoring routes are plain ASGI endpoints (:class:`ScoringEndpoint`), and
    # the envelope calls them directly for a POST, past the router and Starlette's
    # exception middleware: for a one-row prediction, that machinery and a Request and
    # Response object each would cost more than the model.
    def score_invocations(route, body, content_type, request_id, started):
        rows = parse_invocations(body, content_type, route.model.features.columns, limits)
        answer = plane.score(route, rows, request_id=request_id, started=started)
        return answer, invocations_answer(answer.predictions)

    def score_records(route, body, content_type, request_id, started):
        rows = parse_records(body, limits)
        answer = plane.score(route, rows, request_id=request_id, started=started, describe=True)
        payload = {
            "model": answer.model.name,
            "version": answer.model.version,
            "alias": answer.model.alias,
            "arm": answer.arm,
            "request_id": request_id,
            "predictions": answer.answers,
        }
        return answer, orjson.dumps(payload)

    scoring = {
        "/invocations": ScoringEndpoint(plane, score_invocations, off_loop),
        "/predict": ScoringEndpoint(plane, score_records, off_loop),
    }
    for path, endpoint in scoring.items():
        # Routed too: the router answers other methods (405 with Allow), and a POST
        # that reaches it (an app without the envelope) is served the same way.
        app.add_route(path, endpoint, methods=["POST"])

    @app.post("/explain")
    async def explain(request: Request):
        route = route_of(request)
        try:
            body = await request.body()
            # SHAP takes from milliseconds to seconds: never on the loop.
            explanation = await off_loop(explain_records, route, body)
        except ChampionError as error:
            return _error_response(error, route)
        body = {
            "model": route.model.name,
            "version": route.model.version,
            "arm": route.slot.arm,
            "request_id": _request_id(request),
            **explanation,
        }
        return Response(
            orjson.dumps(body), media_type="application/json", headers=_answered_by(route)
        )

    def explain_records(route: Route, body: bytes) -> dict:
        return plane.explain(route, parse_records(body, limits))

    @app.post("/feedback")
    async def feedback(request: Request):
        """True labels for logged predictions: ``{"request_id", "label", "row"}``, a list
        of them, or ``{"feedback": [...], "replace": false}`` (see
        :func:`~champion.monitoring.log.parse_labels`); each label is checked against
        the champion's classes or tags. 404 for a request never logged, 409 for a row
        labelled differently before (unless ``replace``), 503 while the log cannot be
        written."""
        prediction_log = plane.require_log()
        space = label_space(plane.live().champion.model)
        labels = parse_labels(parse_json(await request.body()), space)
        stored = await asyncio.to_thread(prediction_log.add_feedback, labels)
        return {"stored": stored}

    @app.get("/dashboard", response_class=HTMLResponse)
    async def dashboard():
        """Models and traffic, latency, alerts, live performance over time and drift per
        feature; from the background report, or a fresh one when it is stale."""
        view = await lifecycle.monitoring_view()
        arms = plane.describe(reload_interval)["arms"]
        # Rendering a big log's report takes seconds: off the loop.
        html = await off_loop(render_dashboard, view.report, arms, view.alerts, view.timeline)
        return HTMLResponse(html)

    @app.get("/", response_class=HTMLResponse)
    async def page():
        return HTMLResponse(await off_loop(render_page, plane.live().champion.model))

    @app.get("/health")
    async def health():
        # The pid tells workers apart (``--workers N``): which one answered.
        return {"status": "ok", "pid": os.getpid()}

    @app.get("/ready")
    async def ready():
        if plane.deployment is None:
            return JSONResponse({"ready": False}, status_code=503)
        return {"ready": True, "model": name, "version": plane.live().champion.model.version}

    @app.get("/version")
    async def version():
        return plane.describe(reload_interval)

    @app.get("/metrics")
    async def prometheus():
        return Response(metrics.render(), media_type="text/plain; version=0.0.4")

    app.add_middleware(
        Envelope,
        metrics=metrics,
        max_body_bytes=max_body_bytes,
        default_answer=plane.default_answer,
        endpoints={route.path for route in app.routes},
        body_timeout=body_timeout,
        shortcuts=scoring,
    )
    return app


class ScoringEndpoint:
    """A scoring route as a plain ASGI app: read the body, score it (on the loop, or in
    the pool past ``SMALL_BODY`` bytes), answer, then run the shadow's work.

    Args:
        plane: routes the request to an arm (by the route header).
        score: ``(route, body, content_type, request_id, started) -> (answer, payload)``.
        off_loop: runs a call in the pool.

    The envelope has given the request exactly one ``X-Request-ID`` and limits its
    body (413, 408, a hang-up); a :class:`ChampionError` is answered here as JSON with
    its status and the arm it was routed to; anything else (a bug) is logged and
    answered as a JSON 500, so the client still gets the request id to report it.
    """

    def __init__(self, plane: DataPlane, score: Callable, off_loop: Callable) -> None:
        self.plane = plane
        self.score = score
        self.off_loop = off_loop
        self._route_header = plane.traffic.route_header.lower().encode("latin-1")

    async def __call__(self, scope, receive, send) -> None:
        started = (time.time(), time.perf_counter())
        # The first of repeated headers wins, as in Starlette's ``Request.headers``.
        headers = dict(reversed(scope["headers"]))
        route = None
        try:
            key = headers.get(self._route_header)
            route = self.plane.route(None if key is None else key.decode("latin-1"))
            body = await _read_body(receive)
            content_type = headers.get(b"content-type")
            args = (
                route,
                body,
                None if content_type is None else content_type.decode("latin-1"),
                _request_id_of(headers),
                started,
            )
            if len(body) <= SMALL_BODY:
                answer, payload = self.score(*args)
            else:
                answer, payload = await self.off_loop(self.score, *args)
        except ChampionError as error:
            await _error_response(error, route)(scope, receive, send)
            return
        except ClientGone:
            raise  # the envelope counts the hang-up; nobody is listening
        except Exception:  # a bug: still JSON, with the request id and the arm routed to
            log.exception("scoring request %s failed", _request_id_of(headers))
            await _error_response(ChampionError("internal error while scoring"), route)(
                scope, receive, send
            )
            return
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-length", str(len(payload)).encode()),
                    (b"content-type", b"application/json"),
                    (b"x-model-version", answer.model.version.encode()),
                    (b"x-model-arm", answer.arm.encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": payload})
        if answer.shadow is not None:  # after the answer, as a background task
            await run_in_threadpool(answer.shadow)


def _request_id_of(headers: dict[bytes, bytes]) -> str:
    """The request's id: the envelope always sets one; without the envelope (an app
    built bare, in tests), a new one."""
    given = headers.get(_REQUEST_ID)
    return os.urandom(16).hex() if given is None else given.decode("latin-1")


async def _read_body(receive) -> bytes:
    """The whole request body (the envelope stops it at the limits)."""
    chunks = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


def _request_id(request: Request) -> str:
    """The request's id: the client's ``X-Request-ID``, or the one the envelope gave it."""
    return request.headers[REQUEST_ID_HEADER]


def label_space(model: ServedModel) -> LabelSpace:
    """The labels ``model`` can be given: its classes (as the log spells them) or its
    tags."""
    classes = model.classes if model.task in CLASSIFICATION_TASKS else []
    return LabelSpace(model.task, tuple(canonical_category(c) for c in classes), tuple(model.tags))


def _answered_by(route: Route) -> dict[str, str]:
    """The headers that name the version and arm a request was routed to."""
    return {"X-Model-Version": route.model.version, "X-Model-Arm": route.slot.arm}


def _error_response(error: ChampionError, route: Route | None = None) -> JSONResponse:
    """The JSON error with its status; after routing, with the arm that would have
    answered (a canary's bad request is the canary's)."""
    headers = _answered_by(route) if route is not None else None
    return JSONResponse(error.to_dict(), status_code=error.http_status, headers=headers)
