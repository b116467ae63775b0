"""Serving a version compiled at registration: the graph is downloaded and checked by
digest, never compiled again (skl2onnx is not even imported); a version registered
before compiling at registration is compiled at load; a graph whose file does not match
its digest is not used; a version that did not compile is served by scikit-learn
without another try; and ``/explain`` answers at once after ``/ready``.

One diabetes project on a SQLite store, trained once for the module: version 1 is its
linear model (compiled at registration), 2 its KernelRidge (no converter), 3 the linear
model registered as before this change (no ``champion.onnx`` tags)."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from champion.errors import ModelUnavailable
from champion.onnx import artifact
from champion.registry.compare import compare
from champion.registry.compiled import PATH_TAG, OnnxRecord
from champion.registry.register import register
from champion.registry.tracking import client, use_tracking
from champion.serving.model import load_served_model
from support.projects import promoted, sqlite_store, write_project
from support.serving import free_port

pytestmark = pytest.mark.integration

NAME = "sugar"
PROJECT = """
name: sugar
data: {data}
target: target
task: regression
candidates:
  - {{name: linear, estimator: linear}}
  - name: kernel
    estimator: sklearn.kernel_ridge.KernelRidge
"""

# Loads one version in a fresh interpreter; prints how it serves, whether the compiler
# was imported, and whether its predictions equal the pipeline's on the holdout rows.
PROBE = """
import json, sys
from pathlib import Path
import numpy as np
from champion.serving.model import load_served_model
from champion.serving.protocol import Rows
from champion.settings import Settings

model = load_served_model(Settings.from_env(Path(sys.argv[1])), sys.argv[2], version=sys.argv[3])
rows = model.background
got = np.asarray(model.predict(model.prepare(Rows.from_frame(rows))))
print(json.dumps({
    "path": model.inference_path,
    "note": model.compile_note,
    "compiler": sorted(m for m in ("skl2onnx", "onnx") if m in sys.modules),
    "same": bool(np.allclose(got, model.pipeline.predict(rows), rtol=1e-9, atol=1e-12)),
}))
"""


@pytest.fixture(scope="module")
def project(tmp_path_factory, sqlite_template, diabetes_csv):
    """(settings, project file, version numbers by role) of the module's store."""
    folder = tmp_path_factory.mktemp("sugar")
    trained = promoted(folder, sqlite_template, PROJECT.format(data=diabetes_csv))
    settings = trained.settings
    runs = {row.candidate: row for row in compare(settings, NAME)}
    mlflow_client = client(settings)
    by_candidate = {
        v.tags["candidate"]: v.version
        for v in mlflow_client.search_model_versions(f"name = '{NAME}'")
    }
    for candidate in ("linear", "kernel"):  # promoted() registered the better one
        if candidate not in by_candidate:
            version = register(settings, NAME, run_id=runs[candidate].run_id)
            by_candidate[candidate] = version.version
    # As `register` did before compiling at registration: no champion.onnx tags.
    linear = runs["linear"]
    with use_tracking(settings):  # MLflow resolves the source through the fluent store
        old = mlflow_client.create_model_version(
            NAME,
            source=linear.model_uri,
            run_id=linear.run_id,
            model_id=linear.model_uri.removeprefix("models:/"),
            tags={"candidate": "linear"},
        )
    versions = {"linear": by_candidate["linear"], "kernel": by_candidate["kernel"]}
    versions["old"] = old.version
    return settings, trained.config, versions


def _probe(settings, version: str) -> dict:
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "CHAMPION_"))}
    environ["MLFLOW_TRACKING_URI"] = settings.tracking_uri
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(settings.project_dir), NAME, str(version)],
        capture_output=True,
        text=True,
        env=environ,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_registered_version_serves_its_graph_without_the_compiler(project):
    settings, _, versions = project

    served = _probe(settings, versions["linear"])

    assert served["path"] == "onnx"
    assert served["note"].startswith("ONNX, verified at registration on ")
    assert served["compiler"] == []
    assert served["same"]


def test_a_version_registered_before_is_compiled_at_load(project):
    settings, _, versions = project

    served = _probe(settings, versions["old"])

    assert served["path"] == "onnx"
    assert "compiled at load" in served["note"]
    assert served["compiler"] == ["onnx", "skl2onnx"]  # what the probe would have seen
    assert served["same"]


def test_a_version_that_did_not_compile_serves_through_scikit_learn_without_retrying(project):
    settings, _, versions = project

    served = _probe(settings, versions["kernel"])

    assert served["path"] == "sklearn"
    assert "no ONNX converter for KernelRidge" in served["note"]
    assert "found at registration" in served["note"]
    assert served["compiler"] == []
    assert served["same"]


def test_a_version_that_did_not_compile_is_refused_when_onnx_is_required(project):
    settings, _, versions = project

    with pytest.raises(ModelUnavailable, match=r"cannot be served by ONNX: no ONNX converter"):
        load_served_model(settings, NAME, version=versions["kernel"], inference="onnx")


def test_a_graph_whose_digest_differs_is_not_used(project, tmp_path, caplog):
    settings, _, versions = project
    mlflow_client = client(settings)
    original = mlflow_client.get_model_version(NAME, versions["linear"])
    record = OnnxRecord.from_tags(original.tags)
    # The same files, one byte of the graph changed, logged where a version points.
    with use_tracking(settings):
        compiled_folder = Path(
            mlflow_client.download_artifacts(original.run_id, record.path, str(tmp_path))
        )
    graph = bytearray((compiled_folder / artifact.MODEL).read_bytes())
    graph[len(graph) // 2] ^= 0xFF
    (compiled_folder / artifact.MODEL).write_bytes(bytes(graph))
    with use_tracking(settings):
        mlflow_client.log_artifacts(original.run_id, str(compiled_folder), "onnx/tampered")
        tampered = mlflow_client.create_model_version(
            NAME,
            source=original.source,
            run_id=original.run_id,
            model_id=original.source.removeprefix("models:/"),
            tags={**original.tags, PATH_TAG: "onnx/tampered"},
        )

    with caplog.at_level(logging.WARNING, logger="champion.serving"):
        model = load_served_model(settings, NAME, version=tampered.version)

    assert "model.onnx has digest" in caplog.text and "is not used" in caplog.text
    assert model.inference_path == "onnx"
    assert "compiled at load" in model.compile_note
    assert model.compiled.onnx_bytes != bytes(graph)


def test_the_first_explanation_answers_right_after_ready(project, tmp_path):
    settings, config, _ = project
    port = free_port()
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "CHAMPION_"))}
    environ |= sqlite_store(tmp_path, Path(settings.tracking_uri.removeprefix("sqlite:///")))
    environ["CHAMPION_PREDICTION_LOG"] = f"sqlite:///{tmp_path / 'predictions.db'}"
    copy = write_project(tmp_path, config.read_text())
    server = subprocess.Popen(
        [sys.executable, "-m", "champion", "serve", "-c", str(copy), "--port", str(port)],
        env=environ,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180  # a bound on waiting, not a measurement
        while True:
            assert server.poll() is None, server.stderr.read().decode()[-3000:]
            assert time.monotonic() < deadline, "the server never answered /ready"
            try:
                if httpx.get(f"{url}/ready", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        record = {"age": 50, "sex": 1, "bmi": 25.0, "bp": 90, "s1": 180, "s2": 100}
        record |= {"s3": 50, "s4": 4, "s5": 4.5, "s6": 90}

        first = httpx.post(f"{url}/explain", json=record, timeout=120)
        second = httpx.post(f"{url}/explain", json=record, timeout=120)
    finally:
        server.terminate()
        server.wait(30)

    assert first.status_code == 200, first.text
    body = first.json()
    assert set(body["contributions"]) == set(record)
    assert second.json()["contributions"] == body["contributions"]
