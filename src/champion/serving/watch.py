"""The server's own monitoring: every ``monitor_interval`` seconds, off the event loop,
build the monitoring report from the prediction log, publish it as Prometheus gauges
(drift per feature, live metrics per version and arm, the prediction rate, alert
states) and run the alert rules, with the server's error rate as one more signal: one
:func:`~champion.monitoring.run.run_monitoring` call per run, so the rules are evaluated
once, and the rules crossed drive both the events and the ``alert_active`` gauges.

Requests never wait for it: the app reads the last report, and the gauges are values
set in the background.

An idle server does no monitoring work: a run first reads the log's mark (the newest
prediction's id and the newest label's time: two index lookups) and this process's
count of 5xx answers, and when neither moved since the last run it keeps the last
report instead of building the same one again (no MLflow call, no window read). The
alert rules still see the last run's signals (a local evaluation), as Prometheus
evaluates on a clock and not on data: a pending alert's ``for_s`` runs out, and a
firing one reminds once per cool-down. The error rate, measured on no new answers, is
left out: an unmeasured rule neither fires nor resolves. Answers that
log nothing and fail nothing (health probes, ``/metrics`` scrapes) are not news; they
are still counted in the error rate of the next real run. The report stays as it
was meanwhile: a time-bounded window is not shortened while nothing arrives, and a
champion alias moved with no traffic since is reported once predictions arrive.
"""

from __future__ import annotations

import logging
import math
import threading
import time

from champion.monitoring.alerts import Alerter, AlertEvent, AlertStore, Measured, evaluate
from champion.monitoring.log import PredictionLog
from champion.monitoring.monitor import MonitorReport
from champion.monitoring.run import run_monitoring
from champion.project.spec import MonitoringSpec
from champion.serving.metrics import ServerMetrics
from champion.settings import Settings

log = logging.getLogger("champion.serving")


class ServerMonitor:
    """Builds and publishes the monitoring report of model ``name``."""

    def __init__(
        self, settings: Settings, name: str, policy: MonitoringSpec, metrics: ServerMetrics
    ) -> None:
        self.settings = settings
        self.name = name
        self.policy = policy
        self.metrics = metrics
        self.store = AlertStore(settings.prediction_log)
        self.alerter = Alerter(policy.alerts, self.store)
        self.report: MonitorReport | None = None
        self._counts = (metrics.answered, metrics.server_errors)
        self._running = threading.Lock()  # one run at a time; close() waits for it
        self._references: dict = {}  # version → its profile and holdout, downloaded once
        self._log = PredictionLog(settings.prediction_log)  # read for its mark only
        self._seen: tuple | None = None  # what the last completed run saw
        self._signals: dict = {}  # the last run's signals, for the rules when idle

    def refresh(self) -> MonitorReport:
        """One monitoring run (blocking: call it in a thread), or the last report
        unchanged when nothing was logged and no 5xx answered since the run that built it
        (the module docstring says why). Errors propagate; the caller counts them and
        keeps serving."""
        with self._running:
            return self._refresh()

    def _refresh(self) -> MonitorReport:
        counts = (self.metrics.answered, self.metrics.server_errors)
        # Read before the run: what arrives during it makes the next run a real one.
        seen = (self._log.mark(), counts[1])
        if self.report is not None and seen == self._seen:
            at = time.time()
            signals = {k: v for k, v in self._signals.items() if k != "error_rate"}
            version = self.report.version
            crossed = evaluate(signals, self.policy.alerts.rules, self.name, version, at)
            fired = self.alerter.fire(crossed, self.name, at, signals=signals, version=version)
            self._account(crossed, fired)
            return self.report
        run = run_monitoring(
            self.settings,
            self.name,
            self.policy,
            self.alerter,
            signals={"error_rate": self._error_rate(counts)},
            references=self._references,
        )
        # Only a run that got this far consumes the answers it measured: after a failed
        # run, the next one still sees them.
        self._counts = counts
        self._account(run.crossed, run.fired)
        self._publish(run.report, run.signals)
        self.report, self._seen, self._signals = run.report, seen, dict(run.signals)
        return run.report

    def _account(self, crossed: list[AlertEvent], fired: list[AlertEvent]) -> None:
        """The alert counters and gauges after the rules were evaluated."""
        for event in fired:
            if event.status == "firing":  # a resolved event is no new alert
                self.metrics.alerts.labels(event.rule, event.severity).inc()
        active = {event.rule for event in crossed}
        for rule in self.policy.alerts.rules:
            self.metrics.alert_active.labels(rule.name, rule.severity).set(rule.name in active)

    def close(self) -> None:
        """Wait for a run in progress (a thread cannot be cancelled, and a run that
        outlived the server would still be using MLflow and the store), then close."""
        with self._running:
            self.store.close()
            self._log.close()

    def _error_rate(self, counts: tuple[int, int]) -> float | None:
        """Share of this process's answers since the last completed run that were 5xx,
        given ``counts`` = (answered, 5xx) now."""
        answered, errors = counts
        before_answered, before_errors = self._counts
        if answered == before_answered:
            return None
        answers = answered - before_answered
        return Measured((errors - before_errors) / answers, answers)

    def _publish(self, report: MonitorReport, signals: dict) -> None:
        metrics = self.metrics
        for feature in report.drift.features:
            metrics.drift_score.labels(feature.feature, feature.test).set(feature.score)
            metrics.feature_drifted.labels(feature.feature).set(feature.drifted)
        verdicts = [(f.feature, f.verdict) for f in report.drift.features]
        for feature, verdict in [*verdicts, ("dataset", report.drift.verdict)]:
            for state in ("drift", "ok", "not enough data"):
                metrics.drift_verdict.labels(feature, state).set(verdict == state)
        metrics.drift_share.set(report.drift.share_drifted)
        for perf in report.performance:
            for metric, value in perf.metrics.items():
                if value is not None and math.isfinite(value):
                    metrics.live_metric.labels(perf.version, perf.arm, metric).set(value)
        rate = signals.get("prediction_rate")
        if rate is not None:
            metrics.prediction_rate.set(rate)
