"""Alerts: rules on monitoring signals that raise events, stored, logged and sent on.

A rule (:class:`AlertRule`, the project file's ``monitoring.alerts.rules``) watches one
signal of a served model and says where it turns bad. The signals are measured
elsewhere (drift report, live metrics, the prediction log) and handed over as a mapping
of signal key → value; :class:`Alerter` turns them into :class:`AlertEvent` objects::

    signal key          value (measured over a window of logged predictions)   fires when
    drift_share         share of features that drifted, in [0, 1]              >= threshold
    metric_drop:<m>     how much worse live metric <m> is than the version's   >= threshold
                        holdout value, in the metric's units (positive = worse,
                        whichever way the metric points), e.g. metric_drop:f1
    prediction_rate     share of scored rows with a positive prediction        <= threshold
                        (binary) or at least one tag (multilabel), in [0, 1]
    error_rate          share of requests answered with a server error (5xx)   >= threshold
    p99_latency_ms      99th percentile of the scoring latency, milliseconds   >= threshold

``prediction_rate`` is the one signal that fires on a fall: it catches a model that
quietly stops saying yes ("the share of questions that get any tag falls") while
nothing errs and nothing is slow. It is a share of rows, not a traffic volume (requests
per minute). A window with no rows has no rate: its measurer passes ``None`` (not
measured), so a quiet night does not look like a model that stopped predicting.

What happens to an event, in order: it is logged on the ``champion.alerts`` logger
(WARNING for ``warning``, ERROR for ``critical``), POSTed as JSON
(:meth:`AlertEvent.as_dict`) to the webhook if one is set (``timeout_s`` per attempt,
one retry), and stored in the ``alerts`` table next to the prediction log
(:class:`AlertStore`), delivered or not. Nothing about delivery ever raises.

De-duplication and cool-down: a rule fires for a model at most once per
``cooldown_s``, counted from the last time it fired (delivered or not; the store is the
only state, so this holds across restarts). A value that stays crossed fires again
once the cool-down has passed, as a reminder, like Prometheus Alertmanager's
``repeat_interval``: an alert that goes silent while the problem persists is an alert
that gets forgotten. A value that recovers and crosses again within the cool-down
(flapping) does not fire again; after the cool-down it does. There is no "resolved"
notification.

Example::

    spec = AlertsSpec(webhook="https://hooks.example.com/champion")
    with AlertStore("sqlite:///predictions.db") as store:
        events = Alerter(spec, store).process(
            {"drift_share": 0.62, "error_rate": 0.0, "p99_latency_ms": 41.0},
            model="pokemon_legendary",
            version="3",
        )
    # one drift_share event (0.62 >= 0.5); the next hour's calls stay quiet

May import: :mod:`champion.monitoring.store`, :mod:`champion.project.spec`.
"""

from __future__ import annotations

import http.client
import json
import logging
import math
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from urllib.parse import urlsplit

import sqlalchemy as sa

from champion.monitoring.store import alerts_table, open_database
from champion.project.spec import FALLING, AlertRule, AlertsSpec

log = logging.getLogger("champion.alerts")

RETRY_DELAY = 0.5


# -- events and their evaluation -----------------------------------------------------------


@dataclass(frozen=True)
class AlertEvent:
    """A rule that fired.

    Attributes:
        rule: the rule's name.
        signal: the signal key (``metric_drop:f1`` for a metric drop).
        severity: ``warning`` or ``critical``.
        value: the measured value that crossed ``threshold``.
        model, version: the model it fired for (``version`` None: several versions).
        message: one line for a human.
        fired_at: seconds since the epoch.
    """

    rule: str
    signal: str
    severity: str
    value: float
    threshold: float
    model: str
    version: str | None
    message: str
    fired_at: float

    def as_dict(self) -> dict:
        """The event as JSON-ready data: exactly the webhook's body."""
        return asdict(self)


@dataclass(frozen=True)
class AlertRecord:
    """A stored event and how its delivery went (``delivered`` is False without a
    webhook, with ``delivery_error`` None)."""

    id: int
    event: AlertEvent
    delivered: bool
    delivery_error: str | None


def evaluate(
    signals: Mapping[str, float | None],
    rules: Iterable[AlertRule],
    model: str,
    version: str | None,
    now: float,
) -> list[AlertEvent]:
    """The rules that ``signals`` cross, as events (in the order of ``rules``).

    Args:
        signals: signal key (:func:`signal_key`) → measured value. A key that is
            missing, None, NaN or infinite was not measured and fires nothing.
        now: the events' ``fired_at``.

    No de-duplication here; :meth:`Alerter.process` applies it.
    """
    events = []
    for rule in rules:
        raw = signals.get(rule.key)
        # Infinity is no measurement either (and not JSON): it only comes from a
        # division by an empty window.
        if raw is None or not math.isfinite(value := float(raw)):
            continue
        falling = rule.signal in FALLING
        if not (value <= rule.threshold if falling else value >= rule.threshold):
            continue
        events.append(
            AlertEvent(
                rule=rule.name,
                signal=rule.key,
                severity=rule.severity,
                value=value,
                threshold=rule.threshold,
                model=model,
                version=version,
                message=_message(rule, value, model, version, falling),
                fired_at=now,
            )
        )
    return events


def _message(rule: AlertRule, value: float, model: str, version: str | None, falling: bool) -> str:
    what = f"live {rule.metric} dropped by" if rule.signal == "metric_drop" else rule.signal
    where = "at or below" if falling else "at or above"
    of = f"{model} version {version}" if version is not None else model
    return f"{of}: {what} {value:g}, {where} the threshold {rule.threshold:g} (rule {rule.name})"


# -- the store ------------------------------------------------------------------------------


class AlertStore:
    """The ``alerts`` table in the database at ``url`` (a SQLAlchemy URL; the
    prediction log's, so one database holds what was predicted and what was raised).
    The engine and the table are :mod:`champion.monitoring.store`'s.

    Raises:
        sqlalchemy.exc.SQLAlchemyError: from any method, when the database fails.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = open_database(url)

    def record(self, event: AlertEvent, delivered: bool, error: str | None = None) -> int:
        """Store ``event`` and how its delivery went. Returns the row's id."""
        row = event.as_dict() | {"delivered": delivered, "delivery_error": error}
        with self.engine.begin() as connection:
            result = connection.execute(alerts_table.insert().values(**row))
        return result.inserted_primary_key[0]

    def last_fired(self, rule: str, model: str) -> float | None:
        """When ``rule`` last fired for ``model`` (seconds since the epoch), or None."""
        c = alerts_table.c
        query = sa.select(sa.func.max(c.fired_at)).where((c.rule == rule) & (c.model == model))
        with self.engine.connect() as connection:
            return connection.execute(query).scalar_one()

    def history(self, model: str | None = None, since: float | None = None) -> list[AlertRecord]:
        """Stored events with their delivery, newest first; only ``model``'s, only
        those fired at or after ``since``, when given."""
        c = alerts_table.c
        query = sa.select(alerts_table).order_by(c.fired_at.desc(), c.id.desc())
        if model is not None:
            query = query.where(c.model == model)
        if since is not None:
            query = query.where(c.fired_at >= since)
        with self.engine.connect() as connection:
            rows = connection.execute(query).all()
        return [
            AlertRecord(
                id=r.id,
                event=AlertEvent(
                    rule=r.rule,
                    signal=r.signal,
                    severity=r.severity,
                    value=r.value,
                    threshold=r.threshold,
                    model=r.model,
                    version=r.version,
                    message=r.message,
                    fired_at=r.fired_at,
                ),
                delivered=bool(r.delivered),
                delivery_error=r.delivery_error,
            )
            for r in rows
        ]

    def events(self, model: str | None = None, since: float | None = None) -> list[AlertEvent]:
        """Stored events, newest first (see :meth:`history` for the filters)."""
        return [record.event for record in self.history(model, since)]

    def close(self) -> None:
        """Close the database connections."""
        self.engine.dispose()

    def __enter__(self) -> AlertStore:
        return self

    def __exit__(self, *_exc) -> None:
        self.close()


# -- the alerter ----------------------------------------------------------------------------


class Alerter:
    """Applies ``spec`` to measured signals: evaluates, de-duplicates, logs, delivers,
    stores.

    Run one alerter per store at a time (the monitor's job): the cool-down check and
    the write that ends it are atomic within this object (a lock), not across
    processes, so two processes evaluating the same model at the same moment could
    both fire.

    Args:
        spec: the rules, webhook, cool-down and timeout.
        store: where events are stored and the cool-down is read from.
        logger: where events and failed deliveries are logged.
        retry_delay: seconds before the one retry of a failed delivery.
    """

    def __init__(
        self,
        spec: AlertsSpec,
        store: AlertStore,
        *,
        logger: logging.Logger = log,
        retry_delay: float = RETRY_DELAY,
    ) -> None:
        self.spec = spec
        self.store = store
        self.logger = logger
        self.retry_delay = retry_delay
        self._lock = threading.Lock()

    def process(
        self,
        signals: Mapping[str, float | None],
        model: str,
        version: str | None,
        now: float | None = None,
    ) -> list[AlertEvent]:
        """Fire the rules ``signals`` cross for ``model``, except those that fired for
        it less than ``cooldown_s`` before ``now`` (default: the current time): the
        spec's rules through :func:`evaluate`, then :meth:`fire`.

        Returns:
            the events that fired (not those held back by the cool-down).
        Raises:
            sqlalchemy.exc.SQLAlchemyError: the store cannot be read or written.
        """
        now = time.time() if now is None else now
        return self.fire(evaluate(signals, self.spec.rules, model, version, now), model, now)

    def fire(self, crossed: Iterable[AlertEvent], model: str, now: float) -> list[AlertEvent]:
        """Fire ``crossed`` (events :func:`evaluate` made for ``model`` at ``now``),
        except those whose rule fired for ``model`` less than ``cooldown_s`` before.

        Each event that fires is logged, POSTed to the webhook (if any) and stored,
        in that order; a delivery that fails is logged at ERROR and stored with
        ``delivered=False`` and the error, and never raised.

        Returns:
            the events that fired (not those held back by the cool-down).
        Raises:
            sqlalchemy.exc.SQLAlchemyError: the store cannot be read or written.
        """
        fired = []
        with self._lock:
            for event in crossed:
                last = self.store.last_fired(event.rule, model)
                if last is not None and now - last < self.spec.cooldown_s:
                    self.logger.debug(
                        "alert %s for %s held back: fired %.0f s ago, cool-down %g s",
                        event.rule,
                        model,
                        now - last,
                        self.spec.cooldown_s,
                    )
                    continue
                level = logging.ERROR if event.severity == "critical" else logging.WARNING
                self.logger.log(
                    level,
                    "alert %s: %s",
                    event.rule,
                    event.message,
                    extra={"alert": event.as_dict()},
                )
                delivered, error = self._deliver(event)
                self.store.record(event, delivered, error)
                fired.append(event)
        return fired

    def _deliver(self, event: AlertEvent) -> tuple[bool, str | None]:
        """POST the event to the webhook: (delivered, error). Retries once after a
        failure, except when the receiver refused the request (4xx): sending the same
        body again would be refused again."""
        if self.spec.webhook is None:
            return False, None
        body = json.dumps(event.as_dict()).encode()
        error = None
        for attempt in range(2):
            if attempt:
                time.sleep(self.retry_delay)
            try:
                _post(self.spec.webhook, body, self.spec.timeout_s)
                return True, None
            except urllib.error.HTTPError as e:
                error = f"HTTP {e.code} {e.reason}"
                e.close()
                if 400 <= e.code < 500:
                    break
            except (OSError, http.client.HTTPException) as e:
                # URLError (refused, no such host), timeouts and resets are OSErrors;
                # a garbled answer is an HTTPException.
                reason = getattr(e, "reason", None) or e
                error = f"{type(e).__name__}: {reason}"
        # Only the host: a webhook's path often carries its secret (Slack, Teams).
        host = urlsplit(self.spec.webhook).netloc.rpartition("@")[2]
        self.logger.error(
            "alert %s: delivery to the webhook at %s failed: %s", event.rule, host, error
        )
        return False, error


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    # urllib would follow a 301/302 of a POST as a GET without the body, and call that
    # delivered; a redirect is reported as the failure it is instead.
    def redirect_request(self, *_args, **_kwargs):
        return None


_opener = urllib.request.build_opener(_NoRedirect)


def _post(url: str, body: bytes, timeout: float) -> None:
    """POST ``body`` as JSON. Raises HTTPError for any answer but 2xx, else OSError."""
    request = urllib.request.Request(
        url,
        data=body,
        method="POST",
        headers={"Content-Type": "application/json", "User-Agent": "champion-alerts"},
    )
    with _opener.open(request, timeout=timeout) as response:
        response.read()  # let the receiver finish before the connection closes
