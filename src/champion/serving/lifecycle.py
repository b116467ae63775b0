"""The server's lifecycle: start-up, shutdown, and the two background loops.

:class:`Lifecycle` loads the arms (unless a parent process loaded them before forking
workers), opens the prediction log, and hands both to the :class:`DataPlane`; then it
runs the reload loop (every ``reload_interval`` seconds: has an alias moved?) and the
monitoring loop (every ``monitor_interval`` seconds: drift, live metrics and alerts to
``/metrics``; a run with nothing new logged since the last is skipped and counted as
``idle``, see :mod:`champion.serving.watch`). At shutdown it stops the loops, waits
for a reload or a monitoring run in progress (a thread cannot be cancelled, and must
not outlive the server), and writes the log's buffer (on SIGTERM too: uvicorn runs the
lifespan's end).

Explanations are warmed once the server is up (in a thread, after ``/ready`` answers:
the SHAP import and the first explainer would otherwise fall on the first ``/explain``),
and again for each version a reload swaps in; a ``/explain`` that comes first does the
same work itself. A parent that forks workers warms before forking instead
(``Deployment.explanations_warm``), so the workers share those pages.

Blocking work (loading a version, building a report) runs in threads, so requests keep
flowing; monitoring failures are counted and logged, never raised into serving.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from champion.errors import ChampionError, Unavailable
from champion.monitoring import deadletter
from champion.monitoring.alerts import AlertEvent
from champion.monitoring.log import LogOptions, PredictionLog
from champion.monitoring.monitor import MonitorReport
from champion.monitoring.performance import performance_over_time
from champion.project.spec import MonitoringSpec
from champion.serving.deployment import (
    FAILED,
    RELOADED,
    UNREACHABLE,
    Deployment,
    warm_explanations,
)
from champion.serving.metrics import ServerMetrics
from champion.serving.model import ServedModel
from champion.serving.scoring import DataPlane
from champion.serving.watch import ServerMonitor
from champion.settings import Settings

log = logging.getLogger("champion.serving")


@dataclass(frozen=True)
class MonitoringView:
    """What the dashboard shows besides the arms: the report, recent alerts and the
    primary metric over time."""

    report: MonitorReport
    alerts: list[AlertEvent]
    timeline: list[dict]


class Lifecycle:
    """Starts and stops one server's model, log and background loops.

    Args:
        settings, name: the store and the registered model.
        plane: the data plane the loaded arms and the log are handed to.
        metrics: where reloads and monitoring runs are counted.
        deployment: arms loaded already (a parent process loads once, then forks
            workers that share the memory); loaded at start-up when None.
        loader: loads one version (see :func:`~champion.serving.model.load_served_model`).
        logging_options: the prediction log (at ``settings.prediction_log``).
        monitoring: drift, performance and alert policy (the project file's section).
        reload_interval: seconds between alias checks; 0 turns hot reload off.
        monitor_interval: seconds between monitoring runs; 0: only when asked.
    """

    def __init__(
        self,
        settings: Settings,
        name: str,
        plane: DataPlane,
        metrics: ServerMetrics,
        *,
        deployment: Deployment | None,
        loader: Callable[..., ServedModel],
        logging_options: LogOptions,
        monitoring: MonitoringSpec,
        reload_interval: float,
        monitor_interval: float,
    ) -> None:
        self.settings = settings
        self.name = name
        self.plane = plane
        self.metrics = metrics
        self._preloaded = deployment
        self._loader = loader
        self._logging = logging_options
        self._policy = monitoring
        self.reload_interval = reload_interval
        self.monitor_interval = monitor_interval
        self.monitor: ServerMonitor | None = None
        self._tasks: list[asyncio.Task] = []

    async def start(self) -> None:
        """Load the arms (if not preloaded), open the log, start the loops.

        Raises:
            NotFoundError, ModelUnavailable: an arm cannot be loaded (the server does
                not start).
        """
        current = self._preloaded or Deployment.load(
            self.settings, self.name, self.plane.traffic, loader=self._loader
        )
        if self._logging.enabled:
            self.plane.prediction_log = PredictionLog(
                self.settings.prediction_log,
                flush_interval=self._logging.flush_interval,
                max_buffered=self._logging.max_buffered,
                retention_days=self._logging.retention_days,
                dead_letter=deadletter.folder_for(
                    self.settings.prediction_log, self.settings.project_dir
                ),
            ).start()
            self.monitor = ServerMonitor(self.settings, self.name, self._policy, self.metrics)
        self.plane.deployment = current
        self._record_arms(current)
        if not current.explanations_warm:
            # After start-up, not during it: /ready answers first, and the SHAP import
            # and first explainer (a second or more) happen in a thread meanwhile.
            self._tasks.append(asyncio.create_task(asyncio.to_thread(current.warm_explanations)))
        if self.reload_interval > 0:
            self._tasks.append(asyncio.create_task(self._reload_loop(current)))
        if self.monitor is not None and self.monitor_interval > 0:
            self._tasks.append(asyncio.create_task(self._monitor_loop(self.monitor)))

    async def stop(self) -> None:
        """Stop the loops, wait for work in progress, write the log's buffer."""
        for task in self._tasks:
            task.cancel()
        self._tasks.clear()
        current = self.plane.deployment
        if current is not None:
            await asyncio.to_thread(current.wait_idle)
        if self.monitor is not None:
            await asyncio.to_thread(self.monitor.close)
        if self.plane.prediction_log is not None:
            self.plane.prediction_log.close()
        self.plane.prediction_log = None
        self.plane.deployment = None
        self.monitor = None

    async def monitoring_view(self) -> MonitoringView:
        """The last monitoring report, or a fresh one when it is older than the
        monitoring interval (at least 5 s), with recent alerts and the timeline.

        Raises:
            ConflictError: (409) the server keeps no prediction log.
            Unavailable: the monitoring run failed.
        """
        monitor = self._require_monitor()
        report = monitor.report
        if report is None or time.time() - report.created_at > max(self.monitor_interval, 5):
            try:
                report = await self.refresh_report(monitor)
            except ChampionError:
                raise
            except Exception as e:
                raise Unavailable(f"the monitoring report failed: {e}") from None
        alerts = await asyncio.to_thread(monitor.store.events, self.name)
        # Seconds on a big log: off the event loop, like the report itself.
        timeline = await asyncio.to_thread(
            performance_over_time,
            report.window,
            report.task,
            report.primary_metric,
            positive_class=report.positive_class,
            business=report.business,
        )
        return MonitoringView(report, alerts[:20], timeline)

    async def refresh_report(self, monitor: ServerMonitor) -> MonitorReport:
        """One monitoring run in a thread, counted as ``ok``, ``failed`` or ``idle``
        (nothing new since the last run: the last report is kept)."""
        last = monitor.report
        try:
            report = await asyncio.to_thread(monitor.refresh)
        except Exception as e:  # monitoring must never take serving down
            self.metrics.monitor_runs.labels("failed").inc()
            log.warning("monitoring run failed: %s", e)
            raise
        self.metrics.monitor_runs.labels("idle" if report is last else "ok").inc()
        return report

    def _require_monitor(self) -> ServerMonitor:
        self.plane.require_log()  # no log, no monitor: the same 409
        return self.monitor

    def _record_arms(self, current: Deployment) -> None:
        for slot in current.slots.values():
            model = slot.model
            self.metrics.serving(
                self.name, model.version, slot.reference, slot.arm, model.inference_path
            )

    async def _reload_loop(self, current: Deployment) -> None:
        while True:
            await asyncio.sleep(self.reload_interval)
            # Loading is slow and blocking: off the event loop, so requests keep flowing.
            outcomes = await asyncio.to_thread(current.refresh)
            for arm, outcome in outcomes.items():
                if outcome == RELOADED:
                    self.metrics.reloads.labels(arm).inc()
                    # The new version serves already; its first explanation is warmed now.
                    await asyncio.to_thread(warm_explanations, current.slots[arm].model, arm)
                elif outcome == FAILED:
                    self.metrics.failed_reloads.labels(arm).inc()
                elif outcome == UNREACHABLE:
                    self.metrics.unreachable.inc()
            self._record_arms(current)

    async def _monitor_loop(self, monitor: ServerMonitor) -> None:
        while True:
            await asyncio.sleep(self.monitor_interval)
            with contextlib.suppress(Exception):  # counted and logged; try again later
                await self.refresh_report(monitor)
