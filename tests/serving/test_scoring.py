"""The data plane on its own, without HTTP: a real model trained, registered and
promoted in a real MLflow store, a real SQLite prediction log, real Prometheus metrics."""

from __future__ import annotations

import numpy as np
import pytest

from champion.errors import ConflictError, ModelUnavailable, RequestError
from champion.monitoring.log import PredictionLog
from champion.serving.deployment import Deployment, Traffic
from champion.serving.metrics import ServerMetrics
from champion.serving.protocol import Rows
from champion.serving.scoring import DataPlane, share_of

pytestmark = pytest.mark.integration

NAME = "wine"  # the name conftest.wine_model registers


@pytest.fixture
def model(wine_model):
    settings, rows = wine_model
    return settings, rows.head(6)


@pytest.fixture
def plane(model, tmp_path):
    """A data plane with the champion (also as shadow) and a SQLite log attached."""
    settings, _ = model
    traffic = Traffic(shadow="champion")
    plane = DataPlane(NAME, traffic, ServerMetrics(), max_rows=5)
    plane.deployment = Deployment.load(settings, NAME, traffic)
    plane.prediction_log = PredictionLog(f"sqlite:///{tmp_path / 'predictions.db'}")
    yield plane
    plane.prediction_log.close()


def _metric(plane: DataPlane, name: str, **labels) -> float:
    value = plane.metrics.registry.get_sample_value(name, labels)
    return value or 0.0


def test_nothing_scores_before_a_model_is_loaded():
    plane = DataPlane(NAME, Traffic(), ServerMetrics(), max_rows=5)
    with pytest.raises(ModelUnavailable, match="no model is loaded yet") as caught:
        plane.route()
    assert caught.value.http_status == 503
    assert caught.value.to_dict()["error"]["code"] == "model_unavailable"
    assert plane.default_answer() is None
    with pytest.raises(ConflictError, match="keeps no prediction log") as conflict:
        plane.require_log()
    assert conflict.value.http_status == 409


def test_a_scored_request_is_counted_and_logged_once(plane, model):
    _, rows = model
    answer = plane.score(plane.route(), Rows.from_frame(rows.head(3)), request_id="req-1")
    expected = plane.live().champion.model.pipeline.predict(rows.head(3))
    assert answer.predictions.tolist() == expected.tolist()
    assert answer.arm == "champion"
    assert answer.answers is None  # /invocations answers the predictions alone
    for label in set(expected):
        counted = _metric(
            plane, "champion_predictions_total", version="1", arm="champion", label=str(label)
        )
        assert counted == list(expected).count(label)
    window = plane.prediction_log.window(NAME)
    assert window["request_id"].tolist() == ["req-1"] * 3
    assert set(window["arm"]) == {"champion"}
    # The log was given the array; its writer made one output per row of it.
    assert window["output"].tolist() == [{"label": str(label)} for label in expected]


def test_describe_gives_probabilities_that_sum_to_one(plane, model):
    _, rows = model
    answer = plane.score(
        plane.route(), Rows.from_frame(rows.head(2)), request_id="req-2", describe=True
    )
    for row in answer.answers:
        assert sum(row["probabilities"].values()) == pytest.approx(1.0)
        assert max(row["probabilities"], key=row["probabilities"].get) == row["label"]


def test_the_shadow_runs_only_when_called_and_is_logged_under_its_arm(plane, model):
    _, rows = model
    answer = plane.score(plane.route(), Rows.from_frame(rows.head(2)), request_id="req-3")
    assert answer.shadow is not None
    assert set(plane.prediction_log.window(NAME)["arm"]) == {"champion"}
    answer.shadow()
    window = plane.prediction_log.window(NAME)
    assert window.groupby("arm").size().to_dict() == {"champion": 2, "shadow": 2}
    assert _metric(plane, "champion_shadow_comparisons_total", agree="true") == 1


@pytest.mark.parametrize(
    ("count", "status", "message"),
    [(6, 413, "6 rows is over the limit of 5"), (0, 400, "no rows to score")],
    ids=["too-many-rows", "no-rows"],
)
def test_row_counts_outside_the_limits_are_refused(plane, model, count, status, message):
    _, rows = model
    many = rows.sample(count, replace=True, random_state=0) if count else rows.head(0)
    with pytest.raises(RequestError, match=message) as caught:
        plane.score(plane.route(), Rows.from_frame(many), request_id="req-4")
    assert caught.value.http_status == status
    assert plane.prediction_log.window(NAME).empty


def test_explain_takes_exactly_one_record(plane, model):
    _, rows = model
    with pytest.raises(RequestError, match="/explain takes one record; got 2"):
        plane.explain(plane.route(), Rows.from_frame(rows.head(2)))
    explanation = plane.explain(plane.route(), Rows.from_frame(rows.head(1)))
    assert set(explanation["contributions"]) == set(rows.columns)


def test_describe_names_every_arm_and_its_share(plane):
    described = plane.describe(reload_interval=7)
    assert described["version"] == "1"
    assert described["reload_interval_s"] == 7
    assert {arm["arm"]: arm["traffic_percent"] for arm in described["arms"]} == {
        "champion": 100.0,
        "shadow": 0.0,
    }


@pytest.mark.parametrize(
    ("arm", "traffic", "share"),
    [
        ("champion", Traffic(), 100.0),
        ("champion", Traffic(canary="2", canary_percent=20), 80.0),
        ("canary", Traffic(canary="2", canary_percent=20), 20.0),
        ("shadow", Traffic(shadow="2"), 0.0),
    ],
    ids=["alone", "beside-a-canary", "canary", "shadow"],
)
def test_share_of_each_arm(arm, traffic, share):
    assert share_of(arm, traffic) == share
    assert np.isfinite(share)
