"""The HTTP layer: parse, route to an arm, call the model, shape the response.

``create_app(settings, name, traffic)`` loads the arms (see :mod:`deployment`) in the
app's lifespan (never at import), watches their aliases in the background, and serves:

- ``GET /``: the try-it page;
- ``POST /invocations``: MLflow's scoring protocol, answered as ``mlflow models serve``
  answers (``{"predictions": [...]}``);
- ``POST /predict``: records in; per record the label and probabilities (or value, or
  ``predicted_tags``), with the model name, version and arm;
- ``POST /explain``: one record in; each input column's SHAP contribution;
- ``POST /feedback``: true labels for logged predictions, by request id;
- ``GET /dashboard``: traffic, latency, alerts, live performance and drift;
- ``GET /health``, ``/ready``, ``/version``, ``/metrics`` (Prometheus).

Errors are ``{"error": {"code", "message", "field"}}`` with a 4xx status for anything
the client can fix; each response carries ``X-Request-ID``, ``X-Model-Version`` (the
version that answered) and ``X-Model-Arm``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections import Counter
from collections.abc import Callable
from contextlib import asynccontextmanager

import numpy as np
import orjson
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.background import BackgroundTask
from starlette.exceptions import HTTPException as StarletteHTTPException

from champion.errors import ChampionError, RequestError
from champion.monitoring.dashboard import render_dashboard
from champion.monitoring.log import LogOptions, PredictionLog, Scored, parse_labels
from champion.monitoring.performance import performance_over_time
from champion.project.spec import MonitoringSpec
from champion.serving.deployment import (
    CHAMPION,
    FAILED,
    RELOADED,
    SHADOW,
    UNREACHABLE,
    Deployment,
    ModelSlot,
    Traffic,
)
from champion.serving.envelope import Envelope
from champion.serving.metrics import ServerMetrics
from champion.serving.model import ServedModel, load_served_model
from champion.serving.page import render_page
from champion.serving.protocol import Rows, parse_invocations, parse_json, parse_records
from champion.serving.watch import ServerMonitor
from champion.settings import Settings

log = logging.getLogger("champion.serving")

MAX_BODY_BYTES = 10 * 1024 * 1024
MAX_ROWS = 10_000
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
    deployment: Deployment | None = None,
    loader: Callable[..., ServedModel] = load_served_model,
    logging_options: LogOptions | None = None,
    monitoring: MonitoringSpec | None = None,
    monitor_interval: float = MONITOR_INTERVAL,
) -> FastAPI:
    """The serving app for model ``name`` on the store of ``settings``.

    Args:
        traffic: the arms and how requests are shared (default: the champion alias only).
        reload_interval: seconds between alias checks; 0 turns hot reload off.
        deployment: arms loaded already (a parent process loads once, then forks
            workers that share the memory); loaded in the lifespan when None.
        loader: loads one version (see :func:`load_served_model`; e.g. with
            ``inference="sklearn"``).
        logging_options: the prediction log (at ``settings.prediction_log``); default on.
        monitoring: drift, performance and alert policy (the project file's section).
        monitor_interval: seconds between background monitoring runs (drift and live
            metrics to /metrics, alerts); 0: only when /dashboard asks.
    """
    traffic = traffic or Traffic()
    logging_options = logging_options or LogOptions()
    metrics = ServerMetrics()
    state: dict = {}

    def record_arms(current: Deployment) -> None:
        for slot in current.slots.values():
            model = slot.model
            metrics.serving(name, model.version, slot.reference, slot.arm, model.inference_path)

    async def watch(current: Deployment) -> None:
        while True:
            await asyncio.sleep(reload_interval)
            # Loading is slow and blocking: off the event loop, so requests keep flowing.
            outcomes = await asyncio.to_thread(current.refresh)
            for arm, outcome in outcomes.items():
                if outcome == RELOADED:
                    metrics.reloads.labels(arm).inc()
                elif outcome == FAILED:
                    metrics.failed_reloads.labels(arm).inc()
                elif outcome == UNREACHABLE:
                    metrics.unreachable.inc()
            record_arms(current)

    async def monitor_loop(monitor: ServerMonitor) -> None:
        while True:
            await asyncio.sleep(monitor_interval)
            with contextlib.suppress(Exception):  # counted and logged; try again later
                await refresh_report(monitor)

    async def refresh_report(monitor: ServerMonitor):
        try:
            report = await asyncio.to_thread(monitor.refresh)
        except Exception as e:  # monitoring must never take serving down
            metrics.monitor_runs.labels("failed").inc()
            log.warning("monitoring run failed: %s", e)
            raise
        metrics.monitor_runs.labels("ok").inc()
        return report

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        current = deployment or Deployment.load(settings, name, traffic, loader=loader)
        if logging_options.enabled:
            state["log"] = PredictionLog(
                settings.prediction_log,
                flush_interval=logging_options.flush_interval,
                max_buffered=logging_options.max_buffered,
                retention_days=logging_options.retention_days,
            ).start()
        state["deployment"] = current
        record_arms(current)
        watcher = asyncio.create_task(watch(current)) if reload_interval > 0 else None
        monitor_task = None
        if "log" in state:
            state["monitor"] = ServerMonitor(
                settings, name, monitoring or MonitoringSpec(), metrics
            )
            if monitor_interval > 0:
                monitor_task = asyncio.create_task(monitor_loop(state["monitor"]))
        yield
        for task in (watcher, monitor_task):
            if task is not None:
                task.cancel()
        await asyncio.to_thread(current.wait_idle)
        if "monitor" in state:
            await asyncio.to_thread(state["monitor"].close)
        if "log" in state:
            state["log"].close()  # on SIGTERM too: uvicorn runs the lifespan's end
        state.clear()

    def record(request: Request, arm: str, model: ServedModel, inputs, outputs) -> None:
        """Hand one request's predictions to the log's buffer (no I/O here)."""
        prediction_log = state.get("log")
        if prediction_log is None:
            return
        started = request.state.started
        prediction_log.record(
            Scored(
                request_id=request.state.request_id,
                ts=started[0],
                model=name,
                version=model.version,
                arm=arm,
                inputs=inputs,
                outputs=outputs,
                latency_ms=(time.perf_counter() - started[1]) * 1000,
            )
        )

    app = FastAPI(title=f"champion: {name}@{traffic.alias}", lifespan=lifespan)

    def live() -> Deployment:
        current = state.get("deployment")
        if current is None:
            raise RequestError("no model is loaded yet", status=503)
        return current

    def answering(request: Request) -> tuple[ModelSlot, ServedModel]:
        """The arm for this request and its model, taken once: a swap during the
        request does not change the model that answers it."""
        request.state.started = (time.time(), time.perf_counter())
        slot = live().route(request.headers.get(traffic.route_header))
        model = slot.model
        request.state.answered = (model.version, slot.arm)
        return slot, model

    @app.exception_handler(ChampionError)
    async def champion_error(request: Request, error: ChampionError):
        return _error(error)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException):
        body = {"error": {"code": "http_error", "message": str(error.detail), "field": None}}
        return JSONResponse(body, status_code=error.status_code)

    def rows_checked(rows: Rows) -> Rows:
        if rows.count > max_rows:
            raise RequestError(
                f"{rows.count} rows is over the limit of {max_rows}", field="body", status=413
            )
        if rows.count == 0:
            raise RequestError("no rows to score", field="body")
        return rows

    def shadow_task(request: Request, rows: Rows, answered) -> BackgroundTask | None:
        """Score the shadow arm after the response is sent; never returned."""
        shadow = live().shadow
        if shadow is None:
            return None

        def score() -> None:
            model = shadow.model
            try:
                inputs = model.prepare(rows)
                predictions = model.predict(inputs)
            except Exception as e:  # a shadow's failure must never touch the client
                log.warning("shadow version %s failed: %s", model.version, e)
                return
            _count(metrics, model, "shadow", predictions)
            record(request, SHADOW, model, inputs, model.outputs(predictions))
            agree = np.asarray(predictions).tolist() == np.asarray(answered).tolist()
            metrics.shadow_agreement.labels(str(agree).lower()).inc()
            log.info("shadow version %s scored %d rows", model.version, rows.count)

        return BackgroundTask(score)

    # The two scoring routes are plain Starlette routes: they read the raw request, so
    # FastAPI's per-call dependency solving would only add time (about 15% of a call).
    async def invocations(request: Request):
        slot, model = answering(request)
        body = await request.body()
        rows = rows_checked(
            parse_invocations(body, request.headers.get("content-type"), model.features.columns)
        )
        inputs = model.prepare(rows)
        predictions = model.predict(inputs)
        _count(metrics, model, slot.arm, predictions)
        record(request, slot.arm, model, inputs, model.outputs(predictions))
        return Response(
            orjson.dumps({"predictions": predictions.tolist()}),
            media_type="application/json",
            background=shadow_task(request, rows, predictions),
        )

    async def predict(request: Request):
        slot, model = answering(request)
        rows = rows_checked(parse_records(await request.body()))
        inputs = model.prepare(rows)
        predictions = model.predict(inputs)
        answers = model.describe(inputs, predictions)
        _count(metrics, model, slot.arm, predictions)
        record(request, slot.arm, model, inputs, answers)
        body = {
            "model": model.name,
            "version": model.version,
            "alias": model.alias,
            "arm": slot.arm,
            "request_id": request.state.request_id,
            "predictions": answers,
        }
        return Response(
            orjson.dumps(body),
            media_type="application/json",
            background=shadow_task(request, rows, predictions),
        )

    app.add_route("/invocations", invocations, methods=["POST"])
    app.add_route("/predict", predict, methods=["POST"])

    @app.post("/explain")
    async def explain(request: Request):
        slot, model = answering(request)
        rows = parse_records(await request.body())
        if rows.count != 1:
            raise RequestError(f"/explain takes one record; got {rows.count}", field="body")
        body = {
            "model": model.name,
            "version": model.version,
            "arm": slot.arm,
            "request_id": request.state.request_id,
            **model.explain(rows)[0],
        }
        return Response(orjson.dumps(body), media_type="application/json")

    @app.post("/feedback")
    async def feedback(request: Request):
        """True labels for logged predictions: ``{"request_id", "label", "row"}``, a list
        of them, or ``{"feedback": [...]}``."""
        prediction_log = state.get("log")
        if prediction_log is None:
            raise RequestError("this server keeps no prediction log (--no-log)", status=409)
        labels = parse_labels(parse_json(await request.body()), live().champion.model.task)
        stored = await asyncio.to_thread(prediction_log.add_feedback, labels)
        return {"stored": stored}

    @app.get("/dashboard", response_class=HTMLResponse)
    async def dashboard():
        """Models and traffic, latency, alerts, live performance over time and drift per
        feature; from the background report, or a fresh one when it is older than the
        monitoring interval."""
        monitor = state.get("monitor")
        if monitor is None:
            raise RequestError("this server keeps no prediction log (--no-log)", status=409)
        report = monitor.report
        stale = report is None or time.time() - report.created_at > max(monitor_interval, 5)
        if stale:
            try:
                report = await refresh_report(monitor)
            except ChampionError:
                raise
            except Exception as e:
                raise RequestError(f"the monitoring report failed: {e}", status=503) from None
        alerts = await asyncio.to_thread(monitor.store.events, name)
        timeline = performance_over_time(
            report.window,
            report.task,
            report.primary_metric,
            positive_class=report.positive_class,
        )
        arms = (await version())["arms"]
        return HTMLResponse(render_dashboard(report, arms, alerts[:20], timeline))

    @app.get("/", response_class=HTMLResponse)
    async def page():
        return HTMLResponse(render_page(live().champion.model))

    @app.get("/health")
    async def health():
        # The pid tells workers apart (``--workers N``): which one answered.
        return {"status": "ok", "pid": os.getpid()}

    @app.get("/ready")
    async def ready():
        if "deployment" not in state:
            return JSONResponse({"ready": False}, status_code=503)
        return {"ready": True, "model": name, "version": live().champion.model.version}

    @app.get("/version")
    async def version():
        current = live()
        champion = current.champion.model
        arms = []
        for slot in current.slots.values():
            share = _share(slot.arm, traffic)
            arms.append(
                {
                    "arm": slot.arm,
                    "reference": slot.reference,
                    "version": slot.model.version,
                    "run_id": slot.model.run_id,
                    "inference_path": slot.model.inference_path,
                    "inference_note": slot.model.compile_note,
                    "traffic_percent": share,
                    "reload": slot.status.as_dict(),
                }
            )
        return {
            "model": champion.name,
            "version": champion.version,
            "alias": champion.alias,
            "run_id": champion.run_id,
            "task": champion.task,
            "inference_path": champion.inference_path,
            "reload_interval_s": reload_interval,
            "route_header": traffic.route_header,
            "arms": arms,
        }

    @app.get("/metrics")
    async def prometheus():
        return Response(metrics.render(), media_type="text/plain; version=0.0.4")

    def default_answer() -> tuple[str, str] | None:
        current = state.get("deployment")
        return (current.champion.model.version, CHAMPION) if current else None

    app.add_middleware(
        Envelope,
        metrics=metrics,
        max_body_bytes=max_body_bytes,
        default_answer=default_answer,
        endpoints={route.path for route in app.routes},
    )
    return app


def _share(arm: str, traffic: Traffic) -> float:
    if arm == "shadow":
        return 0.0
    if traffic.canary is None:
        return 100.0
    return traffic.canary_percent if arm == "canary" else 100.0 - traffic.canary_percent


def _count(metrics: ServerMetrics, model: ServedModel, arm: str, predictions) -> None:
    if model.task in ("regression", "multilabel"):
        label = "value" if model.task == "regression" else "tags"
        metrics.predictions.labels(model.version, arm, label).inc(len(predictions))
        return
    # Counter, not np.unique: a request holds few rows, and np.unique's sort costs more.
    for label, count in Counter(map(str, np.asarray(predictions).tolist())).items():
        metrics.predictions.labels(model.version, arm, label).inc(count)


def _error(error: ChampionError) -> JSONResponse:
    return JSONResponse(error.to_dict(), status_code=error.http_status)
