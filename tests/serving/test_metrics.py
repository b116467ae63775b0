"""One server's Prometheus metrics, in a single process: what ``serving`` records,
what ``render`` exposes (read back with prometheus_client's own parser), and that two
``ServerMetrics`` in one process keep their values apart."""

from __future__ import annotations

import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families

from champion.serving.metrics import LATENCY_BUCKETS, ServerMetrics

# The names scrapes and dashboards rely on, with their Prometheus types.
FAMILIES = {
    "champion_requests": "counter",
    "champion_request_latency_seconds": "histogram",
    "champion_predictions": "counter",
    "champion_model_info": "gauge",
    "champion_reloads": "counter",
    "champion_reload_failures": "counter",
    "champion_tracking_unreachable": "counter",
    "champion_shadow_comparisons": "counter",
    "champion_drift_score": "gauge",
    "champion_feature_drifted": "gauge",
    "champion_drift_verdict": "gauge",
    "champion_drift_share": "gauge",
    "champion_live_metric": "gauge",
    "champion_prediction_rate": "gauge",
    "champion_alert_active": "gauge",
    "champion_alerts": "counter",
    "champion_monitor_runs": "counter",
}


def _families(metrics: ServerMetrics) -> dict:
    """The families by name, without the ``*_created`` timestamps the text format writes
    beside each counter (the parser reads those as families of their own)."""
    families = text_string_to_metric_families(metrics.render().decode())
    return {f.name: f for f in families if not f.name.endswith("_created")}


def _samples(metrics: ServerMetrics, sample_name: str) -> dict[tuple, float]:
    """``sample_name``'s values by their sorted label pairs."""
    found = {}
    for family in text_string_to_metric_families(metrics.render().decode()):
        for sample in family.samples:
            if sample.name == sample_name:
                found[tuple(sorted(sample.labels.items()))] = sample.value
    return found


def _info(metrics: ServerMetrics) -> dict[tuple, float]:
    """champion_model_info by (version, arm, path)."""
    return {
        (labels["version"], labels["arm"], labels["path"]): value
        for labels, value in (
            (dict(key), value) for key, value in _samples(metrics, "champion_model_info").items()
        )
    }


def test_render_is_prometheus_text_with_every_champion_metric():
    metrics = ServerMetrics()

    families = _families(metrics)

    assert {name: f.type for name, f in families.items()} == FAMILIES
    assert all(f.documentation for f in families.values())
    # Unlabelled series exist from the start, at 0.
    assert _samples(metrics, "champion_tracking_unreachable_total") == {(): 0.0}
    assert _samples(metrics, "champion_drift_share") == {(): 0.0}


def test_serving_sets_the_new_version_to_1_and_the_replaced_one_to_0():
    metrics = ServerMetrics()

    metrics.serving("legendary", "1", "champion", "champion", "sklearn")
    metrics.serving("legendary", "3", "challenger", "canary", "sklearn")
    assert _info(metrics) == {("1", "champion", "sklearn"): 1.0, ("3", "canary", "sklearn"): 1.0}

    metrics.serving("legendary", "2", "champion", "champion", "onnx")

    assert _info(metrics) == {
        ("1", "champion", "sklearn"): 0.0,
        ("2", "champion", "onnx"): 1.0,
        ("3", "canary", "sklearn"): 1.0,  # another arm's version is left alone
    }
    labels = dict(next(k for k, v in _samples(metrics, "champion_model_info").items() if v == 0.0))
    assert labels == {
        "model": "legendary",
        "version": "1",
        "alias": "champion",
        "arm": "champion",
        "path": "sklearn",
    }


@pytest.mark.parametrize(
    ("again", "expected"),
    [
        (("1", "sklearn"), {("1", "champion", "sklearn"): 1.0}),
        (("1", "onnx"), {("1", "champion", "sklearn"): 0.0, ("1", "champion", "onnx"): 1.0}),
    ],
    ids=["same-labels-stay-1", "new-path-replaces"],
)
def test_serving_again_replaces_only_what_changed(again, expected):
    metrics = ServerMetrics()
    metrics.serving("legendary", "1", "champion", "champion", "sklearn")

    version, path = again
    metrics.serving("legendary", version, "champion", "champion", path)

    assert _info(metrics) == expected


def test_counters_and_the_latency_histogram_render_what_was_recorded():
    metrics = ServerMetrics()
    latencies = np.array([0.0003, 0.0007, 0.004, 0.004, 0.03, 0.2, 3.0])
    for seconds in latencies:
        metrics.latency.labels("predict").observe(seconds)
    metrics.requests.labels("predict", "200").inc(5)
    metrics.requests.labels("predict", "400").inc()
    metrics.predictions.labels("1", "champion", "True").inc(2)

    requests = _samples(metrics, "champion_requests_total")
    assert requests == {
        (("endpoint", "predict"), ("status", "200")): 5.0,
        (("endpoint", "predict"), ("status", "400")): 1.0,
    }
    assert _samples(metrics, "champion_predictions_total") == {
        (("arm", "champion"), ("label", "True"), ("version", "1")): 2.0
    }
    buckets = {
        dict(key)["le"]: value
        for key, value in _samples(metrics, "champion_request_latency_seconds_bucket").items()
    }
    for bound in LATENCY_BUCKETS:
        assert buckets[str(bound)] == np.sum(latencies <= bound), bound
    assert buckets["+Inf"] == len(latencies)
    (total,) = _samples(metrics, "champion_request_latency_seconds_sum").values()
    assert total == pytest.approx(latencies.sum())


def test_two_server_metrics_in_one_process_keep_their_own_values():
    first, second = ServerMetrics(), ServerMetrics()

    first.requests.labels("predict", "200").inc(3)
    first.drift_share.set(0.5)
    first.serving("legendary", "1", "champion", "champion", "sklearn")
    second.requests.labels("predict", "200").inc()
    second.serving("legendary", "7", "champion", "champion", "onnx")

    key = (("endpoint", "predict"), ("status", "200"))
    assert _samples(first, "champion_requests_total") == {key: 3.0}
    assert _samples(second, "champion_requests_total") == {key: 1.0}
    assert _samples(first, "champion_drift_share") == {(): 0.5}
    assert _samples(second, "champion_drift_share") == {(): 0.0}
    # Each remembers only what it served itself: no version drops to 0 in either.
    assert _info(first) == {("1", "champion", "sklearn"): 1.0}
    assert _info(second) == {("7", "champion", "onnx"): 1.0}
