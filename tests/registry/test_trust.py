"""Which logged models champion deserializes: the MLmodel check, field by field, and the
promotion gate refusing a pickled challenger before any of it runs (real SQLite store,
real ``champion promote`` process)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from mlflow import MlflowClient

from champion.errors import ModelUnavailable
from champion.registry.promote import promote
from champion.registry.register import register
from champion.registry.tracking import use_tracking
from champion.registry.trust import trusted_payload
from support.registry import TUMOURS, copy_of
from support.untrusted import register_untrusted

PYFUNC = {"loader_module": "mlflow.sklearn", "model_path": "model.skops"}
SKOPS = {
    "serialization_format": "skops",
    "pickled_model": "model.skops",
    "skops_trusted_types": [
        "sklearn.pipeline.Pipeline",
        "champion.transformers.OutlierCapper",
        "champion.project.transformers.AsCategories",
        "numpy.dtype",
        "sklearn.tree._tree.Tree",
    ],
}


def test_a_skops_model_within_the_allow_list_passes():
    payload = trusted_payload({"sklearn": SKOPS, "python_function": PYFUNC}, "models:/m/1")
    assert payload.file == "model.skops"
    assert payload.types == SKOPS["skops_trusted_types"]


@pytest.mark.parametrize(
    ("flavors", "message"),
    [
        ({"python_function": {"loader_module": "mlflow.pyfunc.model"}}, "flavours are"),
        ({"sklearn": SKOPS, "pytorch": {}}, r"flavours are \['pytorch', 'sklearn'\]"),
        ({"sklearn": {**SKOPS, "serialization_format": "cloudpickle"}}, "with cloudpickle"),
        ({"sklearn": {**SKOPS, "serialization_format": "pickle"}}, "with pickle"),
        ({"sklearn": {k: v for k, v in SKOPS.items() if k != "serialization_format"}}, "pickle"),
        ({"sklearn": {**SKOPS, "pickled_model": "../../etc/x"}}, "not a file inside"),
        ({"sklearn": {**SKOPS, "pickled_model": "/etc/x"}}, "not a file inside"),
        ({"sklearn": {**SKOPS, "skops_trusted_types": "numpy.ndarray"}}, "not a list"),
        ({"sklearn": {**SKOPS, "skops_trusted_types": ["posix.system"]}}, r"\['posix.system'\]"),
        ({"sklearn": {**SKOPS, "skops_trusted_types": ["builtins.eval"]}}, r"\['builtins.eval'\]"),
        ({"sklearn": {**SKOPS, "skops_trusted_types": ["sklearnx.Evil"]}}, "sklearnx.Evil"),
        # Inside trusted packages, but a call the file would choose the arguments of:
        # runstring runs any source; memmap creates or truncates any file.
        ({"sklearn": {**SKOPS, "skops_trusted_types": ["numpy.testing.runstring"]}}, "runstring"),
        ({"sklearn": {**SKOPS, "skops_trusted_types": ["numpy.memmap"]}}, "numpy.memmap"),
        ({"sklearn": {**SKOPS, "skops_trusted_types": ["champion.cli.main"]}}, "champion.cli"),
        ({"sklearn": {**SKOPS, "skops_trusted_types": ["sklearn.nothing.Here"]}}, "nothing"),
        (
            {"sklearn": SKOPS, "python_function": {"loader_module": "mlflow.pyfunc.model"}},
            "loads through 'mlflow.pyfunc.model'",
        ),
    ],
    ids=[
        "pyfunc-only",
        "extra-flavour",
        "cloudpickle",
        "pickle",
        "pickle-by-default",
        "file-outside",
        "absolute-file",
        "types-not-a-list",
        "foreign-module",
        "builtin-function",
        "lookalike-module",
        "function-in-a-trusted-package",
        "class-that-acts-when-built",
        "champion-function",
        "no-such-class",
        "pickled-python-model",
    ],
)
def test_anything_else_is_refused_with_the_reason(flavors, message):
    with pytest.raises(ModelUnavailable, match=message) as excinfo:
        trusted_payload(flavors, "models:/m/2")
    assert excinfo.value.message.startswith("models:/m/2 is not loaded: ")
    assert excinfo.value.field == "MLmodel"


@pytest.mark.integration
def test_promote_refuses_a_pickled_challenger_before_its_code_runs(tumours, tmp_path):
    database, report = tumours
    settings = copy_of(database, tmp_path)
    register(settings, TUMOURS, run_id=report.best.run_id)
    promote(settings, TUMOURS)
    marker = tmp_path / "payload-ran"
    version = register_untrusted(settings, TUMOURS, "1", marker)
    with use_tracking(settings):
        MlflowClient().set_registered_model_alias(TUMOURS, "challenger", version)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    env["MLFLOW_TRACKING_URI"] = settings.tracking_uri
    result = subprocess.run(
        [sys.executable, "-m", "champion", "promote", TUMOURS],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )
    assert not marker.exists(), "the payload's code ran"
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    [line] = result.stderr.strip().splitlines()
    assert line == (
        f"ModelUnavailable: models:/{TUMOURS}/{version} is not loaded: its model is serialized "
        "with cloudpickle, which runs code when loaded; champion loads only skops"
    )
    with use_tracking(settings):
        assert str(MlflowClient().get_model_version_by_alias(TUMOURS, "champion").version) == "1"
