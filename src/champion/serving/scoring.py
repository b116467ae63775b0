"""The data plane: every scoring request goes route → prepare → predict → count → log →
shadow here, once, whichever endpoint it came through.

:class:`DataPlane` owns inference and what follows it (Prometheus counts, the prediction
log, the shadow arm); the HTTP layer only parses bodies into :class:`Rows`, calls
:meth:`DataPlane.score` and shapes the :class:`Answer` it gets back. Like MLServer's
``DataPlane``, it never imports the web framework.

The arms it answers with (:class:`~champion.serving.deployment.Deployment`) and the
prediction log are attached by the server's lifecycle (:mod:`lifecycle`) at start-up and
taken away at shutdown; before that, every call raises :class:`ModelUnavailable` (503).
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from champion.errors import ConflictError, ModelUnavailable, RequestError
from champion.monitoring.log import Outputs, PredictionLog, Scored
from champion.serving.deployment import CHAMPION, SHADOW, Deployment, ModelSlot, Traffic
from champion.serving.inputs import Inputs
from champion.serving.metrics import ServerMetrics
from champion.serving.model import ServedModel
from champion.serving.protocol import Rows

log = logging.getLogger("champion.serving")


class Route(NamedTuple):
    """The arm a request was routed to and its model, taken once: a hot reload during
    the request does not change the model that answers it."""

    slot: ModelSlot
    model: ServedModel


class Answer(NamedTuple):
    """One request's answer and who gave it.

    Attributes:
        model: the version that answered (taken once: a hot reload during the request
            does not change it).
        arm: ``champion`` or ``canary``.
        predictions: labels, values, or rows of 0/1 per tag.
        answers: per row, the friendly answer (``describe=True``); else None, as the
            predictions are the whole answer (``/invocations``).
        shadow: work to run after the response is sent (the shadow arm), or None.
    """

    model: ServedModel
    arm: str
    predictions: np.ndarray
    answers: list[dict] | None
    shadow: Callable[[], None] | None


class DataPlane:
    """Scoring, counting and logging for the arms of one server.

    Args:
        name: the registered model's name (what the log records).
        traffic: how requests are shared between arms (its ``route_header``).
        metrics: where predictions are counted.
        max_rows: more rows in one request is a 413.
    """

    def __init__(
        self, name: str, traffic: Traffic, metrics: ServerMetrics, *, max_rows: int
    ) -> None:
        self.name = name
        self.traffic = traffic
        self.metrics = metrics
        self.max_rows = max_rows
        self.deployment: Deployment | None = None
        self.prediction_log: PredictionLog | None = None

    def live(self) -> Deployment:
        """The loaded arms.

        Raises:
            ModelUnavailable: no model is loaded yet (the server is starting).
        """
        if self.deployment is None:
            raise ModelUnavailable("no model is loaded yet")
        return self.deployment

    def route(self, route_key: str | None = None) -> Route:
        """The arm for a request whose route header is ``route_key`` (None: no header),
        and its model.

        Raises:
            ModelUnavailable: no model is loaded yet.
        """
        slot = self.live().route(route_key)
        return Route(slot, slot.model)

    def require_log(self) -> PredictionLog:
        """The prediction log.

        Raises:
            ConflictError: the server keeps none (``--no-log``).
        """
        if self.prediction_log is None:
            raise ConflictError("this server keeps no prediction log (--no-log)")
        return self.prediction_log

    def default_answer(self) -> tuple[str, str] | None:
        """``(version, arm)`` for responses no scoring call answered (the page, errors
        before routing), or None before a model loads."""
        current = self.deployment
        return (current.champion.model.version, CHAMPION) if current else None

    def score(
        self,
        route: Route,
        rows: Rows,
        *,
        request_id: str,
        describe: bool = False,
        started: tuple[float, float] | None = None,
    ) -> Answer:
        """Score ``rows`` with the arm the request was routed to (:meth:`route`); count
        and log them; and return the answer with the shadow's work to run after the
        response.

        Args:
            request_id: the request's id (the log's key for feedback).
            describe: per-row friendly answers (label and probabilities, value, or
                tags) rather than the bare outputs.
            started: ``(time.time(), time.perf_counter())`` when the request arrived,
                so the logged latency includes reading the body; now when None.

        Raises:
            RequestError: no rows, too many rows (413), or rows the model cannot take.
        """
        started = started or (time.time(), time.perf_counter())
        slot, model = route
        self._check_count(rows)
        inputs = model.prepare(rows)
        predictions = model.predict(inputs)
        # Without ``describe``, no value per row is made here: the log gets the array and
        # its writer makes the rows (off the request's path; see Outputs).
        answers = model.describe(inputs, predictions) if describe else None
        self._count(model, slot.arm, predictions)
        self._record(
            request_id, started, slot.arm, model, inputs, answers or _columns(model, predictions)
        )
        shadow = self._shadow_work(rows, request_id, started, predictions)
        return Answer(model, slot.arm, predictions, answers, shadow)

    def explain(self, route: Route, rows: Rows) -> dict:
        """One record's SHAP contributions from the arm the request was routed to.

        Raises:
            RequestError: not exactly one record, or a value the model cannot take.
            NotExplainable: no explainer answers in time (422).
        """
        if rows.count != 1:
            raise RequestError(f"/explain takes one record; got {rows.count}", field="body")
        return route.model.explain(rows)[0]

    def _check_count(self, rows: Rows) -> None:
        if rows.count > self.max_rows:
            raise RequestError(
                f"{rows.count} rows is over the limit of {self.max_rows}", field="body", status=413
            )
        if rows.count == 0:
            raise RequestError("no rows to score", field="body")

    def _count(self, model: ServedModel, arm: str, predictions) -> None:
        if model.task in ("regression", "multilabel"):
            label = "value" if model.task == "regression" else "tags"
            self.metrics.count_predictions(model.version, arm, label, len(predictions))
            return
        # Counter, not np.unique: a request holds few rows, and np.unique's sort costs more;
        # the labels are spelt as text once per class, not once per row.
        for label, count in Counter(np.asarray(predictions).tolist()).items():
            self.metrics.count_predictions(model.version, arm, str(label), count)

    def _record(
        self,
        request_id: str,
        started: tuple[float, float],
        arm: str,
        model: ServedModel,
        inputs: Inputs,
        outputs: list[dict] | Outputs,
    ) -> None:
        """Hand one request's predictions to the log's buffer (no I/O here)."""
        # Read once: the shadow runs in a thread, and shutdown may take the log away.
        prediction_log = self.prediction_log
        if prediction_log is None:
            return
        prediction_log.record(
            Scored(
                request_id=request_id,
                ts=started[0],
                model=self.name,
                version=model.version,
                arm=arm,
                inputs=inputs,
                outputs=outputs,
                latency_ms=(time.perf_counter() - started[1]) * 1000,
            )
        )

    def _shadow_work(
        self, rows: Rows, request_id: str, started: tuple[float, float], answered
    ) -> Callable[[], None] | None:
        """Scoring the shadow arm, to run after the response is sent; never returned."""
        shadow = self.live().shadow
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
            self._count(model, SHADOW, predictions)
            self._record(request_id, started, SHADOW, model, inputs, _columns(model, predictions))
            agree = np.asarray(predictions).tolist() == np.asarray(answered).tolist()
            self.metrics.shadow_agreement.labels(str(agree).lower()).inc()
            log.info("shadow version %s scored %d rows", model.version, rows.count)

        return score

    def describe(self, reload_interval: float) -> dict:
        """What ``/version`` answers: the champion, and per arm its reference, version,
        inference path, decision threshold (binary; else None), traffic share and last
        reload."""
        current = self.live()
        champion = current.champion.model
        arms = [
            {
                "arm": slot.arm,
                "reference": slot.reference,
                "version": slot.model.version,
                "run_id": slot.model.run_id,
                "inference_path": slot.model.inference_path,
                "inference_note": slot.model.compile_note,
                "decision_threshold": slot.model.decision_threshold,
                "traffic_percent": share_of(slot.arm, self.traffic),
                "reload": slot.status.as_dict(),
            }
            for slot in current.slots.values()
        ]
        return {
            "model": champion.name,
            "version": champion.version,
            "alias": champion.alias,
            "run_id": champion.run_id,
            "task": champion.task,
            "inference_path": champion.inference_path,
            "decision_threshold": champion.decision_threshold,
            "reload_interval_s": reload_interval,
            "route_header": self.traffic.route_header,
            "arms": arms,
        }


def _columns(model: ServedModel, predictions: np.ndarray) -> Outputs:
    """``predictions`` as the log takes them: one array, made into rows by its writer."""
    return Outputs(model.task, predictions, tuple(model.tags))


def share_of(arm: str, traffic: Traffic) -> float:
    """The percentage of requests ``arm`` answers (the shadow answers none)."""
    if arm == SHADOW:
        return 0.0
    if traffic.canary is None:
        return 100.0
    return traffic.canary_percent if arm == "canary" else 100.0 - traffic.canary_percent
