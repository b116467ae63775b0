"""champion.registry.rollback: alias ``champion`` goes back to the previous champion, on
a real SQLite tracking store. One training (linear and majority on breast cancer) per
module: version 1 promoted, then version 2 forced over it; each test rolls back on its
own copy of that store."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from champion.errors import ConflictError, NotFoundError
from champion.registry.promote import promote
from champion.registry.register import register
from champion.registry.rollback import rollback
from champion.registry.tracking import ROLE_TAG, client
from champion.registry.versions import (
    HISTORY_TAG,
    champion_history,
    registered_model,
    require_alias,
)
from champion.settings import Settings
from champion.training.train import TrainingReport
from support.registry import TUMOURS, copy_of

pytestmark = pytest.mark.integration

NAME = TUMOURS


@pytest.fixture(scope="module")
def trained(tumours, tmp_path_factory):
    """(the store's file, the report): version 1 (the best run) was champion, version 2
    (majority) was forced over it and is champion now."""
    database, report = tumours
    folder = tmp_path_factory.mktemp("rollback")
    settings = copy_of(database, folder)
    register(settings, NAME, run_id=report.best.run_id)
    promote(settings, NAME)
    register(settings, NAME, run_id=_majority(report).run_id)
    promote(settings, NAME, force=True)
    return folder / "mlflow.db", report


@pytest.fixture
def store(trained, tmp_path: Path):
    """(settings on a copy of the store, report)."""
    database, report = trained
    return copy_of(database, tmp_path), report


def _majority(report: TrainingReport):
    return next(c for c in report.candidates if c.name == "majority")


def _rollback_runs(settings: Settings):
    experiment = client(settings).get_experiment_by_name(NAME)
    return client(settings).search_runs(
        [experiment.experiment_id], filter_string=f"tags.`{ROLE_TAG}` = 'rollback'"
    )


def test_the_store_starts_with_two_champions_in_turn(store):
    settings, _ = store

    assert str(require_alias(settings, NAME, "champion").version) == "2"
    assert champion_history(settings, NAME) == ["1", "2"]
    assert client(settings).get_model_version(NAME, "1").tags["archived"] == "true"


def test_rollback_gives_champion_back_to_the_previous_one(store):
    settings, report = store

    restored = rollback(settings, NAME, reason="f1 dropped in production")

    assert str(restored.version) == "1"
    assert restored.run_id == report.best.run_id
    assert {k: str(v) for k, v in registered_model(settings, NAME).aliases.items()} == {
        "champion": "1"
    }
    assert str(require_alias(settings, NAME, "champion").version) == "1"
    assert champion_history(settings, NAME) == ["1"]


def test_rollback_restores_one_version_and_archives_the_other(store):
    settings, _ = store
    before = datetime.now(UTC).replace(microsecond=0)

    restored = rollback(settings, NAME, reason="f1 dropped in production")

    after = datetime.now(UTC)
    assert {"archived", "archived_at", "archived_reason"}.isdisjoint(restored.tags)
    assert before <= datetime.fromisoformat(restored.tags["restored_at"]) <= after
    rolled_back = client(settings).get_model_version(NAME, "2").tags
    assert rolled_back["archived"] == "true"
    assert rolled_back["archived_reason"] == "rolled back to version 1: f1 dropped in production"
    assert before <= datetime.fromisoformat(rolled_back["archived_at"]) <= after


def test_rollback_is_recorded_as_a_run(store):
    settings, _ = store

    rollback(settings, NAME, reason="f1 dropped in production")

    (run,) = _rollback_runs(settings)
    assert run.info.status == "FINISHED"
    assert run.info.run_name == "rollback-v2-to-v1"
    assert run.data.tags["model"] == NAME
    assert run.data.params == {
        "from_version": "2",
        "to_version": "1",
        "reason": "f1 dropped in production",
    }


def test_rollback_without_a_reason_says_it_was_manual(store):
    settings, _ = store

    rollback(settings, NAME)

    tags = client(settings).get_model_version(NAME, "2").tags
    assert tags["archived_reason"] == "rolled back to version 1: manual rollback"
    (run,) = _rollback_runs(settings)
    assert run.data.params["reason"] == "manual rollback"


def test_a_second_rollback_goes_further_back(store):
    settings, report = store
    register(settings, NAME, run_id=report.best.run_id)
    promote(settings, NAME, force=True)
    assert champion_history(settings, NAME) == ["1", "2", "3"]

    first = rollback(settings, NAME, reason="first")
    second = rollback(settings, NAME, reason="second")

    assert (str(first.version), str(second.version)) == ("2", "1")
    assert str(require_alias(settings, NAME, "champion").version) == "1"
    assert champion_history(settings, NAME) == ["1"]
    assert sorted(r.info.run_name for r in _rollback_runs(settings)) == [
        "rollback-v2-to-v1",
        "rollback-v3-to-v2",
    ]


def test_rollback_with_no_earlier_champion_is_a_conflict(store):
    settings, _ = store
    rollback(settings, NAME)

    with pytest.raises(
        ConflictError,
        match=r"^'tumours' has no previous champion to roll back to \(champion history: \['1'\]\)$",
    ) as raised:
        rollback(settings, NAME)

    assert raised.value.http_status == 409
    assert str(require_alias(settings, NAME, "champion").version) == "1"
    assert len(_rollback_runs(settings)) == 1


@pytest.mark.parametrize(
    ("name", "history", "drop_champion", "error", "message"),
    [
        (
            NAME,
            None,
            False,
            ConflictError,
            r"^'tumours' has no previous champion to roll back to \(champion history: empty\)$",
        ),
        (
            NAME,
            ["2"],
            False,
            ConflictError,
            r"^'tumours' has no previous champion to roll back to \(champion history: \['2'\]\)$",
        ),
        (
            NAME,
            ["2", "2"],
            False,
            ConflictError,
            r"no previous champion to roll back to",
        ),
        (
            NAME,
            ["1", "2"],
            True,
            NotFoundError,
            r"^Model 'tumours' has no alias 'champion'; it has: no aliases$",
        ),
        (
            "mushrooms",
            ["1", "2"],
            False,
            NotFoundError,
            r"^no registered model 'mushrooms'; registered models: tumours$",
        ),
    ],
    ids=[
        "no-history",
        "only-the-current-champion",
        "only-the-current-champion-twice",
        "no-champion",
        "unknown-model",
    ],
)
def test_rollback_refuses_without_a_champion_to_return_to(
    store, name, history, drop_champion, error, message
):
    settings, _ = store
    mlflow_client = client(settings)
    if history is None:
        mlflow_client.delete_registered_model_tag(NAME, HISTORY_TAG)
    else:
        mlflow_client.set_registered_model_tag(NAME, HISTORY_TAG, json.dumps(history))
    if drop_champion:
        mlflow_client.delete_registered_model_alias(NAME, "champion")

    with pytest.raises(error, match=message):
        rollback(settings, name)

    assert _rollback_runs(settings) == []
    assert "archived" not in mlflow_client.get_model_version(NAME, "2").tags
