"""The server's lifecycle without HTTP: start-up hands the loaded arms and the log to
the data plane, shutdown writes the log and lets go of both. A real model in a real
MLflow store, a real SQLite prediction log."""

from __future__ import annotations

import asyncio

import pytest

from champion.errors import ConflictError, ModelUnavailable
from champion.monitoring.log import LogOptions, PredictionLog
from champion.project.spec import MonitoringSpec
from champion.serving.deployment import Traffic
from champion.serving.lifecycle import Lifecycle
from champion.serving.metrics import ServerMetrics
from champion.serving.model import load_served_model
from champion.serving.protocol import Rows
from champion.serving.scoring import DataPlane

pytestmark = pytest.mark.integration

NAME = "wine"  # the name conftest.wine_model registers


@pytest.fixture
def model(wine_model):
    settings, rows = wine_model
    return settings, rows.head(4)


def _lifecycle(settings, *, log: bool) -> Lifecycle:
    metrics = ServerMetrics()
    plane = DataPlane(NAME, Traffic(), metrics, max_rows=100)
    return Lifecycle(
        settings,
        NAME,
        plane,
        metrics,
        deployment=None,
        loader=load_served_model,
        # A writer that never wakes by itself: only shutdown can write the rows.
        logging_options=LogOptions(enabled=log, flush_interval=3600),
        monitoring=MonitoringSpec(),
        reload_interval=0,
        monitor_interval=0,
    )


def test_start_loads_the_champion_and_stop_writes_the_buffered_log(model):
    settings, rows = model
    lifecycle = _lifecycle(settings, log=True)

    async def serve_one_request() -> None:
        await lifecycle.start()
        assert lifecycle.plane.live().champion.model.version == "1"
        lifecycle.plane.score(
            lifecycle.plane.route(), Rows.from_frame(rows), request_id="before-stop"
        )
        assert lifecycle.plane.prediction_log.written == 0
        await lifecycle.stop()

    asyncio.run(serve_one_request())
    assert lifecycle.plane.deployment is None
    assert lifecycle.plane.prediction_log is None
    reopened = PredictionLog(settings.prediction_log)
    try:
        assert reopened.window(NAME)["request_id"].tolist() == ["before-stop"] * len(rows)
    finally:
        reopened.close()
    with pytest.raises(ModelUnavailable):
        lifecycle.plane.live()


def test_the_start_up_records_each_arm_in_the_metrics(model):
    settings, _ = model
    lifecycle = _lifecycle(settings, log=False)
    served = {}

    async def start_and_stop() -> None:
        await lifecycle.start()
        served["path"] = lifecycle.plane.live().champion.model.inference_path
        await lifecycle.stop()

    asyncio.run(start_and_stop())
    labels = {"model": NAME, "version": "1", "alias": "champion", "arm": "champion"}
    info = lifecycle.metrics.registry.get_sample_value(
        "champion_model_info", labels | {"path": served["path"]}
    )
    assert info == 1
    assert lifecycle.plane.default_answer() is None  # nothing answers after stop


def test_without_a_log_there_is_no_monitoring_view(model):
    settings, _ = model
    lifecycle = _lifecycle(settings, log=False)

    async def ask() -> None:
        await lifecycle.start()
        try:
            await lifecycle.monitoring_view()
        finally:
            await lifecycle.stop()

    with pytest.raises(ConflictError, match="keeps no prediction log") as caught:
        asyncio.run(ask())
    assert caught.value.http_status == 409


def test_start_returns_before_explanations_are_warmed_then_warms_them(model):
    settings, _ = model
    lifecycle = _lifecycle(settings, log=False)
    seen = {}

    async def start_then_wait() -> None:
        await lifecycle.start()
        deployment = lifecycle.plane.deployment
        seen["at_start"] = deployment.explanations_warm  # start does not wait for it
        await asyncio.gather(*lifecycle._tasks)
        seen["after"] = deployment.explanations_warm
        await lifecycle.stop()

    asyncio.run(start_then_wait())
    assert seen == {"at_start": False, "after": True}
