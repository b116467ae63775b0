"""The HTTP layer: parse, call the model, shape the response. Nothing else.

``create_app(settings, name, alias)`` loads ``models:/name@alias`` in the app's
lifespan (never at import) and serves:

- ``POST /invocations``: MLflow's scoring protocol, answered as ``mlflow models serve``
  answers (``{"predictions": [...]}``);
- ``POST /predict``: records in; per record the label and probabilities (or value, or
  ``predicted_tags``), with the model name and version;
- ``POST /explain``: one record in; each input column's SHAP contribution;
- ``GET /health``, ``/ready``, ``/version``, ``/metrics`` (Prometheus).

Errors are ``{"error": {"code", "message", "field"}}`` with a 4xx status for anything
the client can fix; each response carries ``X-Request-ID`` and ``X-Model-Version``.
"""

from __future__ import annotations

import time
import uuid
from contextlib import asynccontextmanager

import numpy as np
import orjson
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from champion.errors import ChampionError, RequestError
from champion.serving.metrics import ServerMetrics
from champion.serving.model import ServedModel, load_served_model
from champion.serving.protocol import parse_invocations, parse_records
from champion.settings import Settings

MAX_BODY_BYTES = 10 * 1024 * 1024
MAX_ROWS = 10_000


def create_app(
    settings: Settings,
    name: str,
    alias: str = "champion",
    *,
    max_body_bytes: int = MAX_BODY_BYTES,
    max_rows: int = MAX_ROWS,
) -> FastAPI:
    """The serving app for ``models:/name@alias`` on the store of ``settings``."""
    metrics = ServerMetrics()
    state: dict[str, ServedModel] = {}

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        model = load_served_model(settings, name, alias)
        state["model"] = model
        metrics.model_info.labels(model.name, model.version, alias, "sklearn").set(1)
        yield
        state.clear()

    app = FastAPI(title=f"champion: {name}@{alias}", lifespan=lifespan)

    def current() -> ServedModel:
        model = state.get("model")
        if model is None:
            raise RequestError("no model is loaded yet", status=503)
        return model

    @app.middleware("http")
    async def envelope(request: Request, call_next):
        started = time.perf_counter()
        request_id = request.headers.get("x-request-id") or uuid.uuid4().hex
        request.state.request_id = request_id
        length = request.headers.get("content-length")
        if length and length.isdigit() and int(length) > max_body_bytes:
            response = _error(
                RequestError(
                    f"the body is {int(length)} bytes; the limit is {max_body_bytes}",
                    field="body",
                    status=413,
                )
            )
        else:
            try:
                response = await call_next(request)
            except ChampionError as e:  # raised outside a route's own handling
                response = _error(e)
        response.headers["X-Request-ID"] = request_id
        if "model" in state:
            response.headers["X-Model-Version"] = state["model"].version
        endpoint = request.url.path
        metrics.requests.labels(endpoint, str(response.status_code)).inc()
        metrics.latency.labels(endpoint).observe(time.perf_counter() - started)
        return response

    @app.exception_handler(ChampionError)
    async def champion_error(request: Request, error: ChampionError):
        return _error(error)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException):
        body = {"error": {"code": "http_error", "message": str(error.detail), "field": None}}
        return JSONResponse(body, status_code=error.status_code)

    def rows_checked(frame):
        if len(frame) > max_rows:
            raise RequestError(
                f"{len(frame)} rows is over the limit of {max_rows}", field="body", status=413
            )
        if len(frame) == 0:
            raise RequestError("no rows to score", field="body")
        return frame

    @app.post("/invocations")
    async def invocations(request: Request):
        model = current()
        body = await request.body()
        frame = rows_checked(
            parse_invocations(body, request.headers.get("content-type"), model.features.columns)
        )
        predictions = model.predict(model.prepare(frame))
        _count(metrics, model, predictions)
        return Response(
            orjson.dumps({"predictions": np.asarray(predictions).tolist()}),
            media_type="application/json",
        )

    @app.post("/predict")
    async def predict(request: Request):
        model = current()
        frame = rows_checked(parse_records(await request.body()))
        answers = model.describe(frame)
        for answer in answers:
            metrics.predictions.labels(model.version, str(answer.get("label", "value"))).inc()
        body = {
            "model": model.name,
            "version": model.version,
            "alias": model.alias,
            "request_id": request.state.request_id,
            "predictions": answers,
        }
        return Response(orjson.dumps(body), media_type="application/json")

    @app.post("/explain")
    async def explain(request: Request):
        model = current()
        frame = parse_records(await request.body())
        if len(frame) != 1:
            raise RequestError(f"/explain takes one record; got {len(frame)}", field="body")
        body = {
            "model": model.name,
            "version": model.version,
            "request_id": request.state.request_id,
            **model.explain(frame)[0],
        }
        return Response(orjson.dumps(body), media_type="application/json")

    @app.get("/health")
    async def health():
        return {"status": "ok"}

    @app.get("/ready")
    async def ready():
        if "model" not in state:
            return JSONResponse({"ready": False}, status_code=503)
        return {"ready": True, "model": name, "version": state["model"].version}

    @app.get("/version")
    async def version():
        model = current()
        return {
            "model": model.name,
            "version": model.version,
            "alias": model.alias,
            "run_id": model.run_id,
            "task": model.task,
            "inference_path": "sklearn",
        }

    @app.get("/metrics")
    async def prometheus():
        return Response(metrics.render(), media_type="text/plain; version=0.0.4")

    return app


def _count(metrics: ServerMetrics, model: ServedModel, predictions) -> None:
    if model.task in ("regression", "multilabel"):
        metrics.predictions.labels(
            model.version, "value" if model.task == "regression" else "tags"
        ).inc(len(predictions))
        return
    labels, counts = np.unique(np.asarray(predictions).astype(str), return_counts=True)
    for label, count in zip(labels, counts, strict=True):
        metrics.predictions.labels(model.version, label).inc(int(count))


def _error(error: ChampionError) -> JSONResponse:
    return JSONResponse(error.to_dict(), status_code=error.http_status)
