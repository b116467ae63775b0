"""One monitoring run is one call: the report, the rules evaluated once on its signals
and the caller's, each crossed rule stored once and POSTed once to a real webhook."""

from __future__ import annotations

import dataclasses

import pytest

from champion.monitoring.alerts import Alerter, AlertStore
from champion.monitoring.run import run_monitoring
from support.monitoring import log_generation, webhook

T0 = 1_750_000_000.0


@pytest.fixture
def logged(model, tmp_path):
    """The model's settings with a prediction log of its own holding generation 9."""
    settings = dataclasses.replace(
        model.settings, prediction_log=f"sqlite:///{tmp_path / 'predictions.db'}"
    )
    rows = log_generation(settings.prediction_log, 9)
    return settings, rows


def _policy(model, url: str, cooldown_s: float = 3600):
    policy = model.project.spec.monitoring
    alerts = policy.alerts.model_copy(update={"webhook": url, "cooldown_s": cooldown_s})
    return policy.model_copy(update={"alerts": alerts})


def test_one_run_stores_and_posts_each_crossed_rule_once(model, logged):
    settings, rows = logged
    with webhook() as hook, AlertStore(settings.prediction_log) as store:
        policy = _policy(model, hook.url)
        run = run_monitoring(
            settings,
            "legendary",
            policy,
            Alerter(policy.alerts, store),
            signals={"error_rate": 0.5},
            now=T0,
        )
        stored = store.events()

    assert run.report.version == "1"
    assert run.report.drift.rows_current == rows
    assert run.signals["error_rate"] == 0.5
    assert run.signals["prediction_rate"] == 0.0  # every logged row said "False"
    assert [e.rule for e in run.crossed] == ["quiet", "errors"]
    assert run.fired == run.crossed
    assert {e.fired_at for e in run.fired} == {T0}
    # Stored newest first (same time: by id, descending); posted in order.
    assert stored == run.fired[::-1]
    assert hook.bodies == [e.as_dict() for e in run.fired]


def test_within_the_cooldown_a_run_still_crosses_but_fires_nothing(model, logged):
    settings, _ = logged
    with webhook() as hook, AlertStore(settings.prediction_log) as store:
        policy = _policy(model, hook.url)
        alerter = Alerter(policy.alerts, store)
        first = run_monitoring(settings, "legendary", policy, alerter, now=T0)
        second = run_monitoring(settings, "legendary", policy, alerter, now=T0 + 60)
        stored = store.events()

    assert [e.rule for e in first.fired] == ["quiet"]
    assert [e.rule for e in second.crossed] == ["quiet"]
    assert second.fired == []
    assert stored == first.fired
    assert len(hook.bodies) == 1


def test_a_signal_the_caller_could_not_measure_fires_nothing(model, logged):
    settings, _ = logged
    with AlertStore(settings.prediction_log) as store:
        policy = _policy(model, url=None)
        run = run_monitoring(
            settings,
            "legendary",
            policy,
            Alerter(policy.alerts, store),
            signals={"error_rate": None},
        )
    assert run.signals["error_rate"] is None
    assert [e.rule for e in run.crossed] == ["quiet"]
