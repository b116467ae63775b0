"""champion.registry.register: a candidate run's model becomes a new version with alias
``challenger``, on a real SQLite tracking store. One training (linear and majority on
breast cancer) per module; each test registers on its own copy of that store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from champion.errors import NotFoundError
from champion.registry.compare import compare
from champion.registry.register import register
from champion.registry.tracking import client
from champion.registry.versions import registered_model
from champion.training.train import TrainingReport
from support.registry import TUMOURS, TUMOURS_DESCRIPTION, copy_of, log_run

pytestmark = pytest.mark.integration

NAME = TUMOURS
DESCRIPTION = TUMOURS_DESCRIPTION


@pytest.fixture(scope="module")
def trained(tumours, tmp_path_factory):
    """(the trained store's file, the training report, hand-logged run ids by name)."""
    database, report = tumours
    folder = tmp_path_factory.mktemp("register")
    mlflow_client = client(copy_of(database, folder))
    hand = {
        role: log_run(mlflow_client, report.experiment_id, role, f"{role}_run", {"f1": 0.0})
        for role in ("candidate", "gate")
    }
    return folder / "mlflow.db", report, hand


@pytest.fixture
def store(trained, tmp_path: Path):
    """(settings on a copy of the trained store, report, hand-logged run ids)."""
    database, report, hand = trained
    return copy_of(database, tmp_path), report, hand


def _candidate(report: TrainingReport, name: str):
    return next(c for c in report.candidates if c.name == name)


def test_register_takes_the_best_run_by_default(store):
    settings, report, _ = store
    best = compare(settings, NAME)[0]

    version = register(settings, NAME)

    assert best.run_id == report.best.run_id
    assert str(version.version) == "1"
    assert version.run_id == report.best.run_id
    assert version.aliases == ["challenger"]
    assert version.tags["candidate"] == report.best.name
    assert version.tags["primary_metric"] == "f1"
    assert float(version.tags["f1"]) == pytest.approx(report.best.metrics["f1"], abs=1e-6)
    assert version.tags["data_digest"] == best.data_digest != ""
    registered = datetime.fromisoformat(version.tags["registered_at"])
    assert abs(datetime.now(UTC) - registered) < timedelta(minutes=5)


def test_register_describes_the_version_by_default(store):
    settings, report, _ = store
    run = client(settings).get_run(report.best.run_id)
    digests = [d.dataset.digest for d in run.inputs.dataset_inputs]

    version = register(settings, NAME)

    text = version.description
    assert f"Candidate '{report.best.name}' (run {report.best.run_id})" in text
    assert f"f1 = {report.best.metrics['f1']:.4f}" in text
    assert digests and all(f"(digest {digest})" in text for digest in digests)
    assert "filter: none" in text
    assert f"split: {run.data.params['split']}" in text
    assert registered_model(settings, NAME).description == DESCRIPTION


def test_register_keeps_a_given_description(store):
    settings, _, _ = store

    version = register(settings, NAME, description="hand-picked for the spring release")

    assert version.description == "hand-picked for the spring release"


def test_register_takes_the_given_run(store):
    settings, report, _ = store
    majority = _candidate(report, "majority")
    assert majority.run_id != report.best.run_id

    version = register(settings, NAME, run_id=majority.run_id)

    assert version.run_id == majority.run_id
    assert version.tags["candidate"] == "majority"
    assert float(version.tags["f1"]) == pytest.approx(majority.metrics["f1"], abs=1e-6)


def test_register_moves_challenger_to_the_new_version(store):
    settings, report, _ = store
    first = register(settings, NAME)

    second = register(settings, NAME, run_id=_candidate(report, "majority").run_id)

    assert int(second.version) == int(first.version) + 1
    assert {k: str(v) for k, v in registered_model(settings, NAME).aliases.items()} == {
        "challenger": str(second.version)
    }
    earlier = client(settings).get_model_version(NAME, first.version)
    assert earlier.aliases == []


@pytest.mark.parametrize(
    ("name", "run", "message"),
    [
        (
            NAME,
            "0" * 32,
            f"run '{'0' * 32}' is not a finished candidate of '{NAME}'; candidates: "
            r"\w{12} linear, ",
        ),
        (NAME, "gate", f"run '{{run_id}}' is not a finished candidate of '{NAME}'"),
        (NAME, "candidate", f"run '{{run_id}}' of '{NAME}' logged no model"),
        ("mushrooms", None, "no experiment 'mushrooms' in sqlite:///"),
    ],
    ids=["unknown-run", "gate-run", "run-without-model", "unknown-experiment"],
)
def test_register_refuses_what_it_cannot_register(store, name, run, message):
    settings, _, hand = store
    run_id = hand.get(run, run)

    with pytest.raises(NotFoundError, match=message.replace("{run_id}", str(run_id))):
        register(settings, name, run_id=run_id)

    registered = client(settings).search_registered_models()
    assert registered == []
