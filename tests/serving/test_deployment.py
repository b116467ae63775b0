"""Hot reload, canary, shadow and sticky routing, and worker processes, on real servers:
versions trained and registered in a real MLflow store, uvicorn on loopback, a real
``mlflow server`` that goes away, and ``champion serve --workers 2`` as a subprocess."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter

import httpx
import mlflow
import pytest
from mlflow import MlflowClient
from scipy.stats import binomtest
from sklearn.dummy import DummyClassifier

from champion.project.spec import load_spec
from champion.registry.promote import promote
from champion.registry.register import register
from champion.registry.tracking import use_tracking
from champion.serving.app import create_app
from champion.serving.deployment import Traffic, bucket
from champion.serving.model import load_served_model
from champion.settings import Settings
from champion.training.train import train_project
from support.projects import REPO, sqlite_store, write_project
from support.serving import free_port, running
from support.tracking_server import MlflowServer

pytestmark = pytest.mark.integration

NAME = "cancer"


@pytest.fixture(scope="module")
def versions(tmp_path_factory, sqlite_template, breast_cancer_csv):
    """Three versions of one model: 1 (linear, champion), 2 (forest, challenger) and 3,
    which is not a champion model at all (a plain MLflow sklearn model: loading it for
    serving fails). Returns (settings, project file, the rows to score)."""
    folder = tmp_path_factory.mktemp("deployment")
    settings = Settings.from_env(folder, environ=sqlite_store(folder, sqlite_template))
    config = write_project(
        folder,
        f"""
name: {NAME}
data: {breast_cancer_csv}
target: diagnosis
task: binary
positive_class: malignant
candidates:
  - {{name: linear, estimator: linear}}
  - {{name: forest, estimator: random_forest, params: {{n_estimators: 20}}}}
""",
    )
    report = train_project(load_spec(config), settings)
    by_name = {c.name: c for c in report.candidates}
    register(settings, NAME, run_id=by_name["linear"].run_id)
    promote(settings, NAME)
    register(settings, NAME, run_id=by_name["forest"].run_id)
    with use_tracking(settings):
        with mlflow.start_run() as run:
            info = mlflow.sklearn.log_model(DummyClassifier().fit([[0]], [0]), name="model")
        MlflowClient().create_model_version(NAME, info.model_uri, run.info.run_id)
    rows = [{c: None for c in by_name["linear"].pipeline.feature_names_in_}]
    return settings, config, rows


def _move_alias(settings: Settings, alias: str, version: str) -> None:
    with use_tracking(settings):
        MlflowClient().set_registered_model_alias(NAME, alias, version)


@pytest.fixture
def champion_is_1(versions):
    """Each test starts with version 1 as champion and 2 as challenger."""
    settings = versions[0]
    _move_alias(settings, "champion", "1")
    _move_alias(settings, "challenger", "2")
    yield
    _move_alias(settings, "champion", "1")


def _wait_for(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def _metric(text: str, prefix: str) -> float:
    for line in text.splitlines():
        if line.startswith(prefix):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_hot_reload_under_load_loses_no_request(versions, champion_is_1):
    settings, _, rows = versions
    interval = 0.5
    started = time.monotonic()
    load_served_model(settings, NAME, version="2")
    load_time = time.monotonic() - started
    results: list[tuple[float, float, int, str]] = []  # (sent, received, status, version)
    stop = threading.Event()

    def load(url: str) -> None:
        with httpx.Client(timeout=30) as client:
            while not stop.is_set():
                sent = time.monotonic()
                response = client.post(f"{url}/predict", json=rows)
                version = response.json().get("version") if response.status_code == 200 else ""
                results.append((sent, time.monotonic(), response.status_code, version))

    with running(create_app(settings, NAME, reload_interval=interval)) as url:
        clients = [threading.Thread(target=load, args=(url,)) for _ in range(3)]
        for thread in clients:
            thread.start()
        time.sleep(1.0)
        moved = time.monotonic()
        _move_alias(settings, "champion", "2")
        _wait_for(lambda: any(r[3] == "2" for r in results), 60, "version 2 to answer")
        time.sleep(1.0)
        stop.set()
        for thread in clients:
            thread.join()
        metrics = httpx.get(f"{url}/metrics").text
        status = httpx.get(f"{url}/version").json()

    assert len(results) > 20
    assert [r for r in results if r[2] != 200] == []
    first_new = min(r[1] for r in results if r[3] == "2")
    # The alias is seen within one interval, then the version loads (measured above;
    # the load competes with the load generator for the CPU, hence the factor and slack).
    assert first_new - moved <= interval + 2 * load_time + 2.0
    # After the swap every request is answered by the new version.
    assert {r[3] for r in results if r[0] > first_new} == {"2"}
    assert {r[3] for r in results if r[1] < moved} == {"1"}
    assert _metric(metrics, 'champion_reloads_total{arm="champion"}') == 1.0
    assert status["version"] == "2" and status["arms"][0]["reload"]["error"] is None


def test_a_version_that_fails_to_load_is_refused_and_the_old_one_serves(versions, champion_is_1):
    settings, _, rows = versions
    with running(create_app(settings, NAME, reload_interval=0.2)) as url:
        _move_alias(settings, "champion", "3")
        status = _wait_for(
            lambda: (
                (s := httpx.get(f"{url}/version").json())["arms"][0]["reload"]["failed_version"]
                and s
            ),
            30,
            "the reload of version 3 to fail",
        )
        answer = httpx.post(f"{url}/predict", json=rows)
        metrics = httpx.get(f"{url}/metrics").text
    reload = status["arms"][0]["reload"]
    assert reload["failed_version"] == "3"
    assert "not trained by champion" in reload["error"]
    assert status["version"] == "1"
    assert answer.status_code == 200 and answer.json()["version"] == "1"
    assert answer.headers["X-Model-Version"] == "1"
    assert _metric(metrics, 'champion_reload_failures_total{arm="champion"}') == 1.0
    assert _metric(metrics, 'champion_reloads_total{arm="champion"}') == 0.0


def test_an_unreachable_tracking_server_changes_nothing_but_the_status(
    versions, champion_is_1, tmp_path, monkeypatch
):
    settings, _, rows = versions
    # Fail fast instead of MLflow's default minutes of retries.
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "3")
    server = MlflowServer(settings.tracking_uri, tmp_path / "server").start()
    try:
        remote = Settings.from_env(tmp_path, environ={"MLFLOW_TRACKING_URI": server.url})
        with running(create_app(remote, NAME, reload_interval=0.2)) as url:
            assert httpx.get(f"{url}/version").json()["arms"][0]["reload"]["tracking"] == (
                "reachable"
            )
            server.stop()
            _wait_for(
                lambda: (
                    httpx.get(f"{url}/version").json()["arms"][0]["reload"]["tracking"]
                    == "unreachable"
                ),
                60,
                "the watcher to notice the tracking server is gone",
            )
            answer = httpx.post(f"{url}/predict", json=rows)
            metrics = httpx.get(f"{url}/metrics").text
    finally:
        server.stop()
    assert answer.status_code == 200 and answer.json()["version"] == "1"
    assert _metric(metrics, "champion_tracking_unreachable_total") >= 1.0


def test_the_canary_answers_its_share_of_requests(versions, champion_is_1):
    settings, _, rows = versions
    traffic = Traffic(canary="challenger", canary_percent=20)
    n = 600
    with running(create_app(settings, NAME, traffic, reload_interval=0)) as url:
        with httpx.Client() as client:
            answers = [client.post(f"{url}/predict", json=rows) for _ in range(n)]
        status = httpx.get(f"{url}/version").json()
    seen = Counter((a.json()["version"], a.json()["arm"]) for a in answers)
    assert set(seen) == {("1", "champion"), ("2", "canary")}
    assert all(a.headers["X-Model-Version"] == a.json()["version"] for a in answers)
    assert all(a.headers["X-Model-Arm"] == a.json()["arm"] for a in answers)
    # A two-sided binomial test: the share is 20% unless something is wrong (p < 0.001).
    assert binomtest(seen["2", "canary"], n, 0.20).pvalue > 0.001
    shares = {arm["arm"]: arm["traffic_percent"] for arm in status["arms"]}
    assert shares == {"champion": 80.0, "canary": 20.0}


def test_a_client_key_keeps_a_client_on_one_arm(versions, champion_is_1):
    settings, _, rows = versions
    traffic = Traffic(canary="2", canary_percent=30, route_header="X-User")
    keys = [f"user-{i}" for i in range(150)]
    app = create_app(settings, NAME, traffic, reload_interval=0)
    with running(app) as url, httpx.Client() as client:
        arms = {
            key: {
                client.post(f"{url}/predict", json=rows, headers={"X-User": key}).json()["arm"]
                for _ in range(3)
            }
            for key in keys
        }
    assert all(len(seen) == 1 for seen in arms.values())  # sticky
    on_canary = [key for key, seen in arms.items() if seen == {"canary"}]
    assert on_canary == [key for key in keys if bucket(key) < 30]
    assert binomtest(len(on_canary), len(keys), 0.30).pvalue > 0.001


def test_a_bad_request_routed_to_the_canary_is_the_canarys(versions, champion_is_1):
    settings = versions[0]
    traffic = Traffic(canary="2", canary_percent=30, route_header="X-User")
    on_canary = next(f"user-{i}" for i in range(100) if bucket(f"user-{i}") < 30)
    on_champion = next(f"user-{i}" for i in range(100) if bucket(f"user-{i}") >= 30)
    app = create_app(settings, NAME, traffic, reload_interval=0)
    with running(app) as url, httpx.Client() as client:
        answers = {
            key: client.post(
                f"{url}/predict", json=[{"no such column": 1}], headers={"X-User": key}
            )
            for key in (on_canary, on_champion)
        }
    assert {key: a.status_code for key, a in answers.items()} == {on_canary: 400, on_champion: 400}
    canary, champion = answers[on_canary], answers[on_champion]
    assert (canary.headers["X-Model-Version"], canary.headers["X-Model-Arm"]) == ("2", "canary")
    assert (champion.headers["X-Model-Version"], champion.headers["X-Model-Arm"]) == (
        "1",
        "champion",
    )
    assert canary.json()["error"]["code"] == "invalid_input"


def test_the_shadow_is_scored_and_never_answers(versions, champion_is_1):
    settings, _, rows = versions
    with running(
        create_app(settings, NAME, Traffic(shadow="challenger"), reload_interval=0)
    ) as url:
        answers = [httpx.post(f"{url}/invocations", json={"dataframe_records": rows * 4})]
        answers += [httpx.post(f"{url}/predict", json=rows) for _ in range(5)]

        def shadow_count() -> float:
            text = httpx.get(f"{url}/metrics").text
            return sum(
                float(line.rsplit(" ", 1)[1])
                for line in text.splitlines()
                if line.startswith("champion_predictions_total")
                and 'arm="shadow"' in line
                and 'version="2"' in line
            )

        _wait_for(lambda: shadow_count() == 9, 10, "9 shadow predictions")
        metrics = httpx.get(f"{url}/metrics").text
    assert all(a.status_code == 200 for a in answers)
    assert {a.headers["X-Model-Version"] for a in answers} == {"1"}
    assert {a.headers["X-Model-Arm"] for a in answers} == {"champion"}
    compared = sum(
        _metric(metrics, f'champion_shadow_comparisons_total{{agree="{v}"}}')
        for v in ("true", "false")
    )
    assert compared == 6


def test_workers_share_the_port_and_stop_together(versions, champion_is_1, tmp_path):
    settings, config, rows = versions
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    env["MLFLOW_TRACKING_URI"] = settings.tracking_uri
    log = (tmp_path / "serve.log").open("w")
    command = [sys.executable, "-m", "champion", "serve", "-c", str(config)]
    process = subprocess.Popen(
        [*command, "--port", str(port), "--workers", "2", "--reload-interval", "0"],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
        cwd=REPO,
    )
    url = f"http://127.0.0.1:{port}"
    try:

        def up():
            try:
                return httpx.get(f"{url}/ready").status_code == 200
            except httpx.TransportError:
                return process.poll() is not None  # stop waiting if it died

        _wait_for(up, 90, "champion serve --workers 2 to start")
        assert process.poll() is None, (tmp_path / "serve.log").read_text()
        workers = set()
        for _ in range(24):  # new connections: the kernel spreads them across workers
            with httpx.Client() as client:
                workers.add(client.get(f"{url}/health").json()["pid"])
                assert client.post(f"{url}/predict", json=rows).status_code == 200
        assert len(workers) == 2
        assert all(_parent_of(pid) == process.pid for pid in workers)
        # Whichever worker answers /metrics, it counts the whole server's requests.
        series = 'champion_requests_total{endpoint="/predict",status="200"}'
        for _ in range(4):
            with httpx.Client() as client:
                assert _metric(client.get(f"{url}/metrics").text, series) == 24.0
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(30)
    assert process.returncode == 0
    assert not any(_alive(pid) for pid in workers)


def _parent_of(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as stat:
        return int(stat.read().rsplit(")", 1)[1].split()[1])


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_serve_rejects_a_malformed_canary_before_loading_anything(versions):
    _, config, _ = versions
    result = subprocess.run(
        [sys.executable, "-m", "champion", "serve", "-c", str(config), "--canary", "2"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
    )
    assert result.returncode == 2
    assert "--canary must be VERSION:PERCENT" in result.stderr
    assert "Traceback" not in result.stderr
