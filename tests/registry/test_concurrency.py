"""Registry writers racing on one model end in a state one of them alone could have
produced: exactly one ``champion``, a history that ends at it, no serving version
tagged archived, and a gate that compared against the champion it replaced.

Each race runs on a real store twice: a SQLite file (a copy of the session's
training) and a PostgreSQL-backed ``mlflow server`` over HTTP (a training of its own).
The racers are threads released together by a barrier; each is a whole library call
(``promote``, ``rollback``, ``register``), as two ``champion`` commands would make."""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from champion.errors import ChampionError
from champion.project.spec import load_spec
from champion.registry.promote import promote
from champion.registry.register import register
from champion.registry.rollback import rollback
from champion.registry.tracking import client
from champion.registry.versions import CHAMPION, HISTORY_TAG
from champion.settings import Settings
from champion.training.train import train_project
from support.projects import write_project
from support.registry import TUMOURS, TUMOURS_DESCRIPTION, TUMOURS_PROJECT, copy_of

pytestmark = pytest.mark.integration


@pytest.fixture(params=["sqlite", "server"])
def trained(request, tmp_path: Path, unique_name):
    """(settings, model name, run id of the best candidate) on a trained project,
    nothing registered."""
    if request.param == "sqlite":
        database, report = request.getfixturevalue("tumours")
        return copy_of(database, tmp_path), TUMOURS, report.best.run_id
    server, _ = request.getfixturevalue("mlflow_server")
    settings = Settings.from_env(tmp_path, environ={"MLFLOW_TRACKING_URI": server.url})
    data = request.getfixturevalue("breast_cancer_csv")
    text = TUMOURS_PROJECT.format(description=TUMOURS_DESCRIPTION, data=data)
    text = text.replace("name: tumours", f"name: {unique_name}", 1)
    report = train_project(load_spec(write_project(tmp_path, text)), settings, only=["linear"])
    return settings, unique_name, report.best.run_id


def race(*calls: Callable[[], object]) -> list[object]:
    """Run ``calls`` at once in threads; each one's result or ChampionError, in order."""
    start = threading.Barrier(len(calls))
    outcomes: list[object] = [None] * len(calls)

    def racer(index: int, call: Callable[[], object]) -> None:
        start.wait()
        try:
            outcomes[index] = call()
        except ChampionError as e:
            outcomes[index] = e

    threads = [threading.Thread(target=racer, args=pair) for pair in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


def assert_consistent(settings: Settings, name: str) -> list[str]:
    """The registry's invariants; returns the champion history."""
    mlflow_client = client(settings)
    model = mlflow_client.get_registered_model(name)
    history = json.loads(model.tags[HISTORY_TAG])
    champion = str(model.aliases[CHAMPION])
    assert history[-1] == champion, f"history {history} does not end at champion {champion}"
    assert all(a != b for a, b in itertools.pairwise(history)), f"history {history}"
    tags = {str(v.version): v.tags for v in mlflow_client.search_model_versions(f"name = '{name}'")}
    assert tags[champion].get("archived") != "true", f"champion {champion} is tagged archived"
    for earlier in set(history[:-1]) - {champion}:
        assert tags[earlier].get("archived") == "true", f"{earlier} lost its archive tag"
    if len(history) > 1 and "gate.run_id" in tags[champion]:
        gate = mlflow_client.get_run(tags[champion]["gate.run_id"])
        # The gate compared against the champion it replaced, read under the lock.
        assert gate.data.params["champion_version"] == history[-2]
    return history


def test_two_forced_promotes_of_one_challenger(trained):
    settings, name, run_id = trained
    register(settings, name, run_id=run_id)
    promote(settings, name)
    register(settings, name, run_id=run_id)
    outcomes = race(
        lambda: promote(settings, name, force=True), lambda: promote(settings, name, force=True)
    )
    assert sum(not isinstance(o, ChampionError) for o in outcomes) == 1, outcomes
    assert assert_consistent(settings, name) == ["1", "2"]


def test_two_promotes_of_different_challengers(trained):
    settings, name, run_id = trained
    register(settings, name, run_id=run_id)
    promote(settings, name)
    register(settings, name, run_id=run_id)

    def register_then_promote():
        register(settings, name, run_id=run_id)
        return promote(settings, name, force=True)

    outcomes = race(lambda: promote(settings, name, force=True), register_then_promote)
    # Version 3 was gated against whichever champion was there when it got the lock.
    history = assert_consistent(settings, name)
    assert history[-1] == "3" and history in (["1", "2", "3"], ["1", "3"]), (history, outcomes)


def test_promote_and_rollback_at_once(trained):
    settings, name, run_id = trained
    for _ in range(2):
        register(settings, name, run_id=run_id)
        promote(settings, name, force=True)
    register(settings, name, run_id=run_id)
    outcomes = race(lambda: promote(settings, name, force=True), lambda: rollback(settings, name))
    history = assert_consistent(settings, name)
    # Promote then rollback: back to 2. Rollback then promote: 3 over 1.
    assert history in (["1", "2"], ["1", "3"]), (history, outcomes)
