"""The server's monitoring run: one run_monitoring call per refresh, so each crossed
rule fires one event per run and the same crossing sets the alert_active gauges."""

from __future__ import annotations

import dataclasses

import pytest

from champion.monitoring.log import Label, PredictionLog
from champion.serving.metrics import ServerMetrics
from champion.serving.watch import ServerMonitor
from support.monitoring import legendary, log_generation, webhook


@pytest.fixture(scope="module")
def model(tmp_path_factory, sqlite_template):
    return legendary(tmp_path_factory.mktemp("legendary"), sqlite_template)


def _sample(metrics: ServerMetrics, name: str, rule: str, severity: str) -> float | None:
    return metrics.registry.get_sample_value(name, {"rule": rule, "severity": severity})


def test_each_run_fires_one_event_per_crossed_rule_and_sets_the_gauges(model, tmp_path):
    settings = dataclasses.replace(
        model.settings, prediction_log=f"sqlite:///{tmp_path / 'predictions.db'}"
    )
    log_generation(settings.prediction_log, 9)
    metrics = ServerMetrics()
    with webhook() as hook:
        policy = model.project.spec.monitoring
        alerts = policy.alerts.model_copy(update={"webhook": hook.url, "cooldown_s": 0})
        policy = policy.model_copy(update={"alerts": alerts})
        monitor = ServerMonitor(settings, "legendary", policy, metrics)
        try:
            metrics.answered, metrics.server_errors = 10, 5  # half failed, of only ten
            report = monitor.refresh()
            first = [body["rule"] for body in hook.bodies]
            metrics.answered, metrics.server_errors = 210, 105  # 100 of 200 more failed
            log_generation(settings.prediction_log, 8)  # rows logged: the monitor runs
            monitor.refresh()
            metrics.answered = 410  # 200 more answers, no new error
            log_generation(settings.prediction_log, 7)
            monitor.refresh()
            stored = [event.rule for event in monitor.store.events()]
        finally:
            monitor.close()

    assert monitor.report is not None and monitor.report.created_at >= report.created_at
    assert report.version == "1"
    assert first == ["quiet"]  # an error rate on ten answers is not enough data
    assert [(body["rule"], body["status"]) for body in hook.bodies] == [
        ("quiet", "firing"),
        ("quiet", "firing"),
        ("errors", "firing"),
        ("quiet", "firing"),
        ("errors", "resolved"),
    ]
    assert sorted(stored) == ["errors", "errors", "quiet", "quiet", "quiet"]
    assert _sample(metrics, "champion_alerts_total", "quiet", "warning") == 3
    assert _sample(metrics, "champion_alerts_total", "errors", "critical") == 1  # not resolved
    assert _sample(metrics, "champion_alert_active", "quiet", "warning") == 1
    assert _sample(metrics, "champion_alert_active", "errors", "critical") == 0
    assert _sample(metrics, "champion_alert_active", "slow", "warning") == 0
    assert metrics.registry.get_sample_value("champion_prediction_rate") == 0
    verdicts = {
        state: metrics.registry.get_sample_value(
            "champion_drift_verdict", {"feature": "dataset", "verdict": state}
        )
        for state in ("drift", "ok", "not enough data")
    }
    assert verdicts == {s: float(s == report.drift.verdict) for s in verdicts}
    assert report.drift.verdict != "not enough data"


def test_without_answers_the_error_rate_is_not_measured(model, tmp_path):
    settings = dataclasses.replace(
        model.settings, prediction_log=f"sqlite:///{tmp_path / 'predictions.db'}"
    )
    log_generation(settings.prediction_log, 9)
    metrics = ServerMetrics()
    monitor = ServerMonitor(settings, "legendary", model.project.spec.monitoring, metrics)
    try:
        monitor.refresh()
        stored = [event.rule for event in monitor.store.events()]
    finally:
        monitor.close()
    assert stored == ["quiet"]
    assert _sample(metrics, "champion_alert_active", "errors", "critical") == 0


def test_an_idle_server_does_no_monitoring_work(model, tmp_path):
    settings = dataclasses.replace(
        model.settings, prediction_log=f"sqlite:///{tmp_path / 'predictions.db'}"
    )
    log_generation(settings.prediction_log, 9)
    metrics = ServerMetrics()
    with webhook() as hook:
        policy = model.project.spec.monitoring
        alerts = policy.alerts.model_copy(update={"webhook": hook.url, "cooldown_s": 0})
        policy = policy.model_copy(update={"alerts": alerts})
        monitor = ServerMonitor(settings, "legendary", policy, metrics)
        log = PredictionLog(settings.prediction_log)
        try:
            first = monitor.refresh()
            idle = [monitor.refresh() for _ in range(3)]  # nothing logged, nothing answered
            fired_while_idle = len(hook.bodies)
            log.add_feedback([Label("g9-0", "False")])
            labelled = monitor.refresh()
            metrics.answered += 5  # health probes and scrapes: nothing new
            probed = monitor.refresh()
            metrics.answered += 100  # a burst of 5xx: news, on enough answers to judge
            metrics.server_errors += 100
            answered = monitor.refresh()
            log_generation(settings.prediction_log, 8)
            logged = monitor.refresh()
        finally:
            log.close()
            monitor.close()

    # Each idle refresh kept the report (no run), but the rules saw its signals again:
    # the firing rule reminded on each (the cool-down is 0), as on a clock.
    assert all(report is first for report in idle)
    assert fired_while_idle == 4
    assert labelled is not first and probed is labelled
    assert answered is not labelled and logged is not answered
    # quiet: the first run, 3 idle reminders, the labelled run, the probed (idle)
    # refresh and the 5xx run, which also fires errors; then the logged run. The error
    # rate, unmeasured while idle and after, never fires again.
    rules = [body["rule"] for body in hook.bodies]
    assert rules == ["quiet"] * 7 + ["errors", "quiet"]
