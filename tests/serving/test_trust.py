"""Only trusted formats load: a registered version whose payload would run code when
deserialized is refused by ``champion serve`` at start-up and on hot reload, with the
reason, and its code never runs. A real MLflow store, real ``champion serve`` processes
and a real uvicorn server over HTTP."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import httpx
import pytest
from mlflow import MlflowClient

from champion.registry.tracking import use_tracking
from champion.serving.app import create_app
from support.projects import REPO, promoted
from support.serving import free_port, running
from support.untrusted import register_untrusted

pytestmark = pytest.mark.integration

NAME = "vintages"


@pytest.fixture(scope="module")
def model(tmp_path_factory, sqlite_template, wine_csv):
    """A promoted champion (version 1) and the rows it scores."""
    trained = promoted(
        tmp_path_factory.mktemp("trust"),
        sqlite_template,
        f"""
name: {NAME}
data: {wine_csv}
target: cultivar
task: multiclass
candidates: [{{name: linear, estimator: linear}}]
""",
    )
    columns = list(trained.report.best.pipeline.feature_names_in_)
    return trained, [dict.fromkeys(columns, 1.0)]


def _move_champion(settings, version: str) -> None:
    with use_tracking(settings):
        MlflowClient().set_registered_model_alias(NAME, "champion", version)


@pytest.mark.parametrize("serialization", ["cloudpickle", "pickle"])
def test_a_pickled_version_is_refused_on_hot_reload_and_its_code_never_runs(
    model, tmp_path, serialization
):
    trained, rows = model
    settings = trained.settings
    marker = tmp_path / "payload-ran"
    version = register_untrusted(settings, NAME, "1", marker, serialization=serialization)
    try:
        with running(create_app(settings, NAME, reload_interval=0.2)) as url:
            _move_champion(settings, version)
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                status = httpx.get(f"{url}/version").json()
                if status["arms"][0]["reload"]["failed_version"]:
                    break
                time.sleep(0.1)
            answer = httpx.post(f"{url}/predict", json=rows)
    finally:
        _move_champion(settings, "1")
    assert not marker.exists(), "the payload's code ran"
    reload = status["arms"][0]["reload"]
    assert reload["failed_version"] == version
    assert f"serialized with {serialization}" in reload["error"]
    assert "champion loads only skops" in reload["error"]
    assert status["version"] == "1"
    assert answer.status_code == 200 and answer.json()["version"] == "1"


def test_a_pickled_champion_stops_champion_serve_before_its_code_runs(model, tmp_path):
    trained, _ = model
    marker = tmp_path / "payload-ran"
    version = register_untrusted(trained.settings, NAME, "1", marker)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    env["MLFLOW_TRACKING_URI"] = trained.settings.tracking_uri
    command = [sys.executable, "-m", "champion", "serve", "-c", str(trained.config), "--no-log"]
    result = subprocess.run(
        [*command, "--alias", version, "--port", str(free_port())],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=120,
    )
    assert not marker.exists(), "the payload's code ran"
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(f"ModelUnavailable: models:/{NAME}/{version} is not loaded: ")
    assert "serialized with cloudpickle" in line


def test_a_skops_version_that_trusts_a_foreign_type_is_refused(model, tmp_path):
    trained, _ = model
    settings = trained.settings
    version = register_untrusted(
        settings,
        NAME,
        "1",
        tmp_path / "unused",
        serialization="skops",
        also_trusted=["posix.system", "builtins.eval"],
    )
    with running(create_app(settings, NAME, reload_interval=0.2)) as url:
        try:
            _move_champion(settings, version)
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                status = httpx.get(f"{url}/version").json()
                if status["arms"][0]["reload"]["failed_version"]:
                    break
                time.sleep(0.1)
        finally:
            _move_champion(settings, "1")
    error = status["arms"][0]["reload"]["error"]
    assert "types champion cannot vouch for: ['posix.system', 'builtins.eval']" in error
    assert status["version"] == "1"
