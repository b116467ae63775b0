"""Alerts: rules on monitoring signals that raise events, stored, logged and sent on.

A rule (:class:`AlertRule`, the project file's ``monitoring.alerts.rules``) watches one
signal of a served model and says where it turns bad. The signals are measured
elsewhere (drift report, live metrics, the prediction log) and handed over as a mapping
of signal key → value; :class:`Alerter` turns them into :class:`AlertEvent` objects::

    signal key          value (measured over a window of logged predictions)   fires when
    dataset_drift       1 when the drift report's dataset verdict is drift,    >= threshold
                        0 when it is not (None: not enough data)
    drift_share         share of the judged features that drifted, in [0, 1]   >= threshold
    metric_drop:<m>     how much worse live metric <m> is than the version's   >= threshold
                        holdout value, in the metric's units (positive = worse,
                        whichever way the metric points), e.g. metric_drop:f1,
                        or metric_drop:business_value_per_row (what a
                        mistake costs, with a ``business:`` section)
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

Sample size: a value is a :class:`Measured` when its measurer knows how many
observations it rests on (rows, labelled rows, answered requests). A rule judges it
only on at least ``rule.minimum`` of them; below, the value is "not enough data": the
rule neither fires nor resolves, whatever the number.

The life of an alert, per rule and model, like Prometheus's (the store is the only
state, so it holds across restarts and across ``champion monitor`` runs)::

    inactive --crosses--> pending --crossed on every run for for_s--> firing
    inactive --crosses, for_s = 0---------------------------------> firing
    firing --measured on enough data, no longer crosses--> resolved (= inactive)

- **firing**: logged, POSTed and stored with ``status="firing"``. While the value stays
  crossed, it fires again every ``cooldown_s`` as a reminder (Alertmanager's
  ``repeat_interval``: an alert that goes silent while the problem persists gets
  forgotten).
- **resolved**: a firing alert whose value is measured on enough data and no longer
  crosses sends one event with ``status="resolved"`` (logged at INFO, POSTed, stored),
  so a receiver can close what it opened. A value not measured (None, too small a
  sample) resolves nothing.
- **pending**: with ``for_s > 0`` a first crossing is stored as ``pending`` and sent
  nowhere; the rule fires once the value has stayed crossed on every evaluation for
  ``for_s`` seconds. A measured value that clears first ends it (``cleared``, stored
  only): flapping that never lasts ``for_s`` never fires.

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
from dataclasses import asdict, dataclass, replace
from urllib.parse import urlsplit

import sqlalchemy as sa

from champion.monitoring.store import alerts_table, open_database
from champion.project.spec import FALLING, AlertRule, AlertsSpec

FIRING, RESOLVED, PENDING, CLEARED = "firing", "resolved", "pending", "cleared"
#: What a receiver is sent and :meth:`AlertStore.history` returns by default.
NOTIFIED = (FIRING, RESOLVED)

log = logging.getLogger("champion.alerts")

RETRY_DELAY = 0.5


class Measured(float):
    """A signal's value that knows its sample: ``Measured(0.62, sample=1200)`` is a
    float everywhere (gauges, JSON, comparisons) and ``.sample`` is the number of
    observations behind it. A plain float's sample is not known, and is taken as
    enough."""

    sample: int | None

    def __new__(cls, value: float, sample: int | None = None) -> Measured:
        measured = super().__new__(cls, value)
        measured.sample = sample
        return measured

    def __reduce__(self):
        return (Measured, (float(self), self.sample))


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
        status: ``firing`` or ``resolved`` (what a webhook receiver opens or closes;
            the store also keeps ``pending`` and ``cleared``).
        sample: the observations ``value`` rests on (None: not known).
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
    status: str = FIRING
    sample: int | None = None

    def as_dict(self) -> dict:
        """The event as JSON-ready data: exactly the webhook's body."""
        return asdict(self) | {"value": float(self.value)}


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
            missing, None, NaN or infinite was not measured and fires nothing; nor
            does a :class:`Measured` value on fewer than ``rule.minimum`` observations.
        now: the events' ``fired_at``.

    No de-duplication here; :meth:`Alerter.process` applies it.
    """
    events = []
    for rule in rules:
        value = judged(signals, rule)
        if value is None or not crosses(rule, value):
            continue
        sample = getattr(signals.get(rule.key), "sample", None)
        events.append(_event(rule, value, sample, model, version, now))
    return events


def judged(signals: Mapping[str, float | None], rule: AlertRule) -> float | None:
    """``rule``'s value in ``signals`` when it can be judged: measured, finite, and on
    at least ``rule.minimum`` observations when its sample is known; else None."""
    raw = signals.get(rule.key)
    # Infinity is no measurement either (and not JSON): it only comes from a division
    # by an empty window.
    if raw is None or not math.isfinite(value := float(raw)):
        return None
    sample = getattr(raw, "sample", None)
    if sample is not None and sample < rule.minimum:
        return None
    return value


def crosses(rule: AlertRule, value: float) -> bool:
    """``value`` is on the bad side of ``rule.threshold``."""
    return value <= rule.threshold if rule.signal in FALLING else value >= rule.threshold


def _event(
    rule: AlertRule,
    value: float,
    sample: int | None,
    model: str,
    version: str | None,
    now: float,
    status: str = FIRING,
) -> AlertEvent:
    """``rule``'s event for ``model`` at ``value``, with the message its status says:
    the threshold crossed, or (resolved, cleared) no longer crossed."""
    of = f"{model} version {version}" if version is not None else model
    if status in (RESOLVED, CLEARED):
        message = (
            f"{of}: resolved, {rule.key} {value:g} no longer crosses "
            f"the threshold {rule.threshold:g} (rule {rule.name})"
        )
    else:
        what = f"live {rule.metric} dropped by" if rule.signal == "metric_drop" else rule.signal
        where = "at or below" if rule.signal in FALLING else "at or above"
        message = (
            f"{of}: {what} {value:g}, {where} the threshold {rule.threshold:g} (rule {rule.name})"
        )
    return AlertEvent(
        rule=rule.name,
        signal=rule.key,
        severity=rule.severity,
        value=value,
        threshold=rule.threshold,
        model=model,
        version=version,
        message=message,
        fired_at=now,
        status=status,
        sample=sample,
    )


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
        """Store ``event`` (any status) and how its delivery went. Returns the row's id."""
        row = event.as_dict() | {"delivered": delivered, "delivery_error": error}
        with self.engine.begin() as connection:
            result = connection.execute(alerts_table.insert().values(**row))
        return result.inserted_primary_key[0]

    def last_fired(self, rule: str, model: str) -> float | None:
        """When ``rule`` last fired for ``model`` (seconds since the epoch), or None."""
        c = alerts_table.c
        query = sa.select(sa.func.max(c.fired_at)).where(
            (c.rule == rule) & (c.model == model) & (c.status == FIRING)
        )
        with self.engine.connect() as connection:
            return connection.execute(query).scalar_one()

    def state(self, rule: str, model: str) -> tuple[str, float] | None:
        """The latest row of ``rule`` for ``model`` as (status, fired_at), or None: the
        alert is firing, pending since then, or inactive (resolved, cleared, never)."""
        c = alerts_table.c
        query = (
            sa.select(c.status, c.fired_at)
            .where((c.rule == rule) & (c.model == model))
            .order_by(c.fired_at.desc(), c.id.desc())
            .limit(1)
        )
        with self.engine.connect() as connection:
            row = connection.execute(query).first()
        return None if row is None else (row.status, row.fired_at)

    def history(
        self,
        model: str | None = None,
        since: float | None = None,
        statuses: Iterable[str] = NOTIFIED,
    ) -> list[AlertRecord]:
        """Stored events with their delivery, newest first; only ``model``'s, only
        those fired at or after ``since``, only of ``statuses`` (default: firing and
        resolved, what receivers get)."""
        c = alerts_table.c
        query = sa.select(alerts_table).order_by(c.fired_at.desc(), c.id.desc())
        query = query.where(c.status.in_(list(statuses)))
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
                    status=r.status,
                    sample=r.sample,
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
        """Evaluate the spec's rules on ``signals`` for ``model`` at ``now`` (default:
        the current time) through :func:`evaluate`, then :meth:`fire` what crosses and
        resolve what cleared.

        Returns:
            the events sent: firing ones (new, or reminders) and resolved ones.
        Raises:
            sqlalchemy.exc.SQLAlchemyError: the store cannot be read or written.
        """
        now = time.time() if now is None else now
        crossed = evaluate(signals, self.spec.rules, model, version, now)
        return self.fire(crossed, model, now, signals=signals, version=version)

    def fire(
        self,
        crossed: Iterable[AlertEvent],
        model: str,
        now: float,
        *,
        signals: Mapping[str, float | None] | None = None,
        version: str | None = None,
    ) -> list[AlertEvent]:
        """Move each rule's alert for ``model`` along its life (see the module
        docstring): ``crossed`` (events :func:`evaluate` made at ``now``) fire, wait
        out ``for_s`` or the cool-down; the spec's other rules whose value in
        ``signals`` is judged (measured, on enough data) and does not cross resolve
        (firing) or clear (pending). Without ``signals`` nothing resolves.

        Each event sent is logged, POSTed to the webhook (if any) and stored, in that
        order; a delivery that fails is logged at ERROR and stored with
        ``delivered=False`` and the error, and never raised.

        Returns:
            the events sent (firing and resolved), in the order of the rules.
        Raises:
            sqlalchemy.exc.SQLAlchemyError: the store cannot be read or written.
        """
        rules = {rule.name: rule for rule in self.spec.rules}
        crossed = list(crossed)
        sent = []
        with self._lock:
            for event in crossed:
                rule = rules.get(event.rule)
                outcome = self._crossed(event, rule.for_s if rule else 0.0, model, now)
                if outcome is not None:
                    sent.append(outcome)
            if signals is None:
                return sent
            still = {event.rule for event in crossed}
            for rule in self.spec.rules:
                value = judged(signals, rule)
                if rule.name in still or value is None:
                    continue  # crossing, or not enough data: neither resolves
                sample = getattr(signals.get(rule.key), "sample", None)
                outcome = self._cleared(rule, value, sample, model, version, now)
                if outcome is not None:
                    sent.append(outcome)
        return sent

    def _crossed(self, event: AlertEvent, for_s: float, model: str, now: float):
        state = self.store.state(event.rule, model)
        status, since = state if state is not None else (None, now)
        if status == FIRING and now - since < self.spec.cooldown_s:
            self.logger.debug(
                "alert %s for %s held back: fired %.0f s ago, cool-down %g s",
                event.rule,
                model,
                now - since,
                self.spec.cooldown_s,
            )
            return None
        if status != FIRING and for_s > 0:
            if status != PENDING:
                self.store.record(replace(event, status=PENDING), delivered=False)
                return None
            if now - since < for_s:
                return None  # still pending: not yet crossed for for_s
        return self._send(event)

    def _cleared(
        self,
        rule: AlertRule,
        value: float,
        sample: int | None,
        model: str,
        version: str | None,
        now: float,
    ) -> AlertEvent | None:
        state = self.store.state(rule.name, model)
        status = None if state is None else state[0]
        if status not in (FIRING, PENDING):
            return None
        cleared = RESOLVED if status == FIRING else CLEARED
        event = _event(rule, value, sample, model, version, now, cleared)
        if status == PENDING:
            self.store.record(event, delivered=False)  # never sent: nothing to close
            return None
        return self._send(event)

    def _send(self, event: AlertEvent) -> AlertEvent:
        """Log, deliver and store ``event``; returns it."""
        if event.status == RESOLVED:
            level = logging.INFO
        else:
            level = logging.ERROR if event.severity == "critical" else logging.WARNING
        self.logger.log(
            level, "alert %s: %s", event.rule, event.message, extra={"alert": event.as_dict()}
        )
        delivered, error = self._deliver(event)
        self.store.record(event, delivered, error)
        return event

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
