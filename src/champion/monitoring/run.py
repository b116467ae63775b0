"""One monitoring run of a served model, as one call: what ``champion monitor`` and the
server's background monitoring both do.

:func:`run_monitoring` does, in order::

    build the report      drift and live performance over the policy's window (monitor)
    measure the signals   the report's, plus those the caller measured (the server's
                          error_rate), the caller's winning on a shared key
    evaluate the rules    once: every rule the signals cross now is in ``crossed``
    fire                  pending, cool-down, log, webhook, store; resolve what
                          cleared (Alerter.fire): ``fired``

and returns it all as a :class:`MonitoringRun`, for the caller to print (the CLI) or
publish as gauges (the server). Rendering the HTML report and recording the run in
MLflow stay with the CLI: the server does neither on every run.

Example::

    with AlertStore(settings.prediction_log) as store:
        run = run_monitoring(settings, "legendary", policy, Alerter(policy.alerts, store))
    run.report.alarm, [event.rule for event in run.fired]

May import: :mod:`champion.monitoring.alerts`, :mod:`champion.monitoring.monitor`,
:mod:`champion.project.spec`, :mod:`champion.settings`.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass

from champion.monitoring.alerts import Alerter, AlertEvent, evaluate
from champion.monitoring.monitor import MonitorReport, Reference, build_report, signals_of
from champion.project.spec import MonitoringSpec
from champion.settings import Settings


@dataclass(frozen=True)
class MonitoringRun:
    """What one monitoring run found and did.

    Attributes:
        report: drift and live performance of the champion version.
        signals: signal key → value the rules were evaluated on (None: not measured).
        crossed: an event for every rule the signals cross, cool-down or not (what
            is wrong now: the server's ``alert_active`` gauges).
        fired: the events that were logged, delivered and stored: those of
            ``crossed`` not held back (by the cool-down or a rule's ``for_s``), and
            ``status="resolved"`` ones for alerts that cleared.
        at: when the rules were evaluated (the events' ``fired_at``).
    """

    report: MonitorReport
    signals: dict[str, float | None]
    crossed: list[AlertEvent]
    fired: list[AlertEvent]
    at: float


def run_monitoring(
    settings: Settings,
    name: str,
    policy: MonitoringSpec,
    alerter: Alerter,
    *,
    signals: Mapping[str, float | None] | None = None,
    references: dict[str, Reference] | None = None,
    now: float | None = None,
) -> MonitoringRun:
    """Build model ``name``'s report over ``policy``'s window, evaluate ``alerter``'s
    rules once on its signals and ``signals``, and fire what crosses.

    Args:
        alerter: whose rules are evaluated and whose store and webhook get the events
            (a long-lived one in the server, so its lock spans runs).
        signals: extra signals the caller measured, e.g. ``{"error_rate": 0.02}``.
        references: passed to :func:`~champion.monitoring.monitor.build_report`
            (the server keeps one across runs, so a version's profile is downloaded
            once).
        now: the events' time (default: the current time).

    Raises:
        NotFoundError: no such model or no champion alias.
        sqlalchemy.exc.SQLAlchemyError: the log or the alert store failed.
    """
    report = build_report(settings, name, policy, references)
    measured = signals_of(report) | dict(signals or {})
    at = time.time() if now is None else now
    crossed = evaluate(measured, alerter.spec.rules, name, report.version, at)
    fired = alerter.fire(crossed, name, at, signals=measured, version=report.version)
    return MonitoringRun(report=report, signals=measured, crossed=crossed, fired=fired, at=at)
