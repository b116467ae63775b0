"""Prometheus metrics of one server: requests, latency, predictions, the models, reloads.

With several worker processes (``champion serve --workers N``) the runner switches
prometheus_client to multiprocess mode (which that library reads only from the
variable ``PROMETHEUS_MULTIPROC_DIR``) and hands the folder to each worker's
:class:`ServerMetrics`: every worker writes its values to files there, and ``/metrics``
from any worker adds up all of them, so a scrape sees the server, not one worker.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

# Labelled series remembered at most (see ``_series``).
MAX_SERIES = 10_000

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class ServerMetrics:
    """The metrics, on a registry of their own (several apps may live in one process).

    Args:
        multiprocess_dir: the folder the workers of one server share (see
            :func:`champion.serving.runner.run`), or None for a single process.
    """

    def __init__(self, multiprocess_dir: str | None = None) -> None:
        self.multiprocess_dir = multiprocess_dir
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "champion_requests_total",
            "HTTP requests by endpoint and status.",
            ["endpoint", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "champion_request_latency_seconds",
            "Time to answer a request, by endpoint.",
            ["endpoint"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.predictions = Counter(
            "champion_predictions_total",
            "Predictions made, by model version, arm (champion, canary, shadow) and class.",
            ["version", "arm", "label"],
            registry=self.registry,
        )
        self.model_info = Gauge(
            "champion_model_info",
            "The model version each arm serves (value 1; 0 once replaced), with its "
            "inference path.",
            ["model", "version", "alias", "arm", "path"],
            registry=self.registry,
            multiprocess_mode="livemax",  # 1 while any live worker serves it
        )
        self.reloads = Counter(
            "champion_reloads_total",
            "Versions loaded and swapped in because an alias moved, by arm.",
            ["arm"],
            registry=self.registry,
        )
        self.failed_reloads = Counter(
            "champion_reload_failures_total",
            "New versions refused (failed to load or to check), by arm.",
            ["arm"],
            registry=self.registry,
        )
        self.unreachable = Counter(
            "champion_tracking_unreachable_total",
            "Alias checks that could not reach the tracking store.",
            registry=self.registry,
        )
        self.shadow_agreement = Counter(
            "champion_shadow_comparisons_total",
            "Shadow predictions compared with the answered ones, by whether they agree.",
            ["agree"],
            registry=self.registry,
        )
        # Monitoring, refreshed by one worker in the background: "livemostrecent" keeps
        # the value that worker set last, whichever worker answers the scrape.
        latest = {"registry": self.registry, "multiprocess_mode": "livemostrecent"}
        self.drift_score = Gauge(
            "champion_drift_score",
            "Score of the test that decided each feature's drift (see "
            "champion_feature_drifted for the verdict).",
            ["feature", "test"],
            **latest,
        )
        self.feature_drifted = Gauge(
            "champion_feature_drifted",
            "1 when the feature drifted in the last monitoring run, else 0.",
            ["feature"],
            **latest,
        )
        self.drift_verdict = Gauge(
            "champion_drift_verdict",
            "1 for each feature's verdict in the last run (drift, ok, or not enough data: "
            "too small a sample, never drift), 0 for the others; feature 'dataset' is the "
            "window's verdict.",
            ["feature", "verdict"],
            **latest,
        )
        self.drift_share = Gauge(
            "champion_drift_share", "Share of features drifted in the last run.", **latest
        )
        self.live_metric = Gauge(
            "champion_live_metric",
            "Metrics of labelled predictions over the window, by version and arm.",
            ["version", "arm", "metric"],
            **latest,
        )
        self.prediction_rate = Gauge(
            "champion_prediction_rate",
            "Share of rows predicted positive (binary) or with any tag (multilabel).",
            **latest,
        )
        self.alert_active = Gauge(
            "champion_alert_active",
            "1 while a rule's signal is past its threshold (last monitoring run), else 0.",
            ["rule", "severity"],
            **latest,
        )
        self.alerts = Counter(
            "champion_alerts_total",
            "Alert events fired (after de-duplication), by rule and severity.",
            ["rule", "severity"],
            registry=self.registry,
        )
        self.monitor_runs = Counter(
            "champion_monitor_runs_total",
            "Background monitoring runs, by outcome (ok, failed, idle: nothing new, skipped).",
            ["outcome"],
            registry=self.registry,
        )
        self._info_labels: dict[str, tuple] = {}
        # Each labelled series once: ``labels()`` checks and locks on every call, which
        # costs more than the increment itself on the one-row path.
        self._series: dict[tuple, object] = {}
        # Plain counts of this process's answers, for the error-rate alert signal.
        self.answered = 0
        self.server_errors = 0

    def count_request(self, endpoint: str, status: int, seconds: float | None) -> None:
        """Count one request by ``endpoint`` and ``status``; and its latency unless
        ``seconds`` is None (a request never answered)."""
        key = ("requests", endpoint, status)
        series = self._series.get(key)
        if series is None:
            series = self._series[key] = self.requests.labels(endpoint, str(status))
        series.inc()
        if seconds is not None:
            key = ("latency", endpoint)
            series = self._series.get(key)
            if series is None:
                series = self._series[key] = self.latency.labels(endpoint)
            series.observe(seconds)

    def count_predictions(self, version: str, arm: str, label: str, count: int) -> None:
        """Count ``count`` predictions of ``label`` by ``version`` on ``arm``."""
        key = ("predictions", version, arm, label)
        series = self._series.get(key)
        if series is None:
            if len(self._series) > MAX_SERIES:  # labels of many versions: start afresh
                self._series.clear()
            series = self._series[key] = self.predictions.labels(version, arm, label)
        series.inc(count)

    def serving(self, model: str, version: str, alias: str, arm: str, path: str) -> None:
        """Record what ``arm`` serves now; what it served before drops to 0 (removing a
        series is not possible across processes)."""
        labels = (model, version, alias, arm, path)
        previous = self._info_labels.get(arm)
        if previous is not None and previous != labels:
            self.model_info.labels(*previous).set(0)
        self.model_info.labels(*labels).set(1)
        self._info_labels[arm] = labels

    def render(self) -> bytes:
        """The exposition text for ``GET /metrics``: this process's metrics, or every
        worker's added up in multiprocess mode."""
        if self.multiprocess_dir:
            registry = CollectorRegistry()
            MultiProcessCollector(registry, path=self.multiprocess_dir)
            return generate_latest(registry)
        return generate_latest(self.registry)
