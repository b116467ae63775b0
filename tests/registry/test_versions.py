"""champion.registry.versions: aliases, the champion's history and the version list,
on a real SQLite tracking store. One training (linear and majority on breast cancer)
registered as versions 1 and 2 per module; each test works on its own copy."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from champion.errors import NotFoundError
from champion.registry.register import register
from champion.registry.tracking import client, use_tracking
from champion.registry.versions import (
    HISTORY_TAG,
    champion_history,
    list_versions,
    move_champion,
    registered_model,
    require_alias,
    tag_timestamp,
    version_by_alias,
)
from champion.settings import Settings
from support.registry import TUMOURS, copy_of

pytestmark = pytest.mark.integration

NAME = TUMOURS
ISO_UTC_SECONDS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00")


@pytest.fixture(scope="module")
def trained(tumours, tmp_path_factory):
    """(the store's file, the training report): version 1 is the best run, version 2
    the majority baseline and ``@challenger``; no champion yet."""
    database, report = tumours
    folder = tmp_path_factory.mktemp("versions")
    settings = copy_of(database, folder)
    register(settings, NAME, run_id=report.best.run_id)
    majority = next(c for c in report.candidates if c.name == "majority")
    register(settings, NAME, run_id=majority.run_id)
    return folder / "mlflow.db", report


@pytest.fixture
def store(trained, tmp_path: Path):
    """(settings on a copy of the registered store, report)."""
    database, report = trained
    return copy_of(database, tmp_path), report


def _aliases(settings: Settings) -> dict[str, str]:
    return {k: str(v) for k, v in registered_model(settings, NAME).aliases.items()}


def test_tag_timestamp_is_iso_utc_to_the_second():
    before = datetime.now(UTC).replace(microsecond=0)

    stamp = tag_timestamp()

    after = datetime.now(UTC)
    assert ISO_UTC_SECONDS.fullmatch(stamp), stamp
    parsed = datetime.fromisoformat(stamp)
    assert parsed.utcoffset() == timedelta(0)
    assert before <= parsed <= after


def test_registered_model_names_the_models_there_are(store):
    settings, _ = store

    with pytest.raises(
        NotFoundError, match=rf"^no registered model 'mushrooms'; registered models: {NAME}$"
    ) as raised:
        registered_model(settings, "mushrooms")

    assert raised.value.http_status == 404


def test_registered_model_on_an_empty_store_says_none(tmp_path: Path, sqlite_template):
    settings = copy_of(sqlite_template, tmp_path)

    with pytest.raises(
        NotFoundError, match=r"^no registered model 'tumours'; registered models: none$"
    ):
        registered_model(settings, NAME)


@pytest.mark.parametrize(
    ("name", "drop", "alias", "message"),
    [
        (NAME, [], "champion", f"Model '{NAME}' has no alias 'champion'; it has: challenger"),
        (
            NAME,
            ["challenger"],
            "champion",
            f"Model '{NAME}' has no alias 'champion'; it has: no aliases",
        ),
        (NAME, [], "Challenger", f"Model '{NAME}' has no alias 'Challenger'; it has: challenger"),
        (
            "mushrooms",
            [],
            "champion",
            f"no registered model 'mushrooms'; registered models: {NAME}",
        ),
    ],
    ids=["names-the-aliases", "no-aliases", "aliases-are-case-sensitive", "unknown-model"],
)
def test_require_alias_says_what_is_missing(store, name, drop, alias, message):
    settings, _ = store
    for gone in drop:
        client(settings).delete_registered_model_alias(NAME, gone)

    with pytest.raises(NotFoundError, match=f"^{re.escape(message)}$"):
        require_alias(settings, name, alias)


def test_require_alias_and_version_by_alias_resolve_the_alias(store):
    settings, _ = store

    challenger = require_alias(settings, NAME, "challenger")

    assert str(challenger.version) == "2"
    assert challenger.tags["candidate"] == "majority"
    assert str(version_by_alias(settings, NAME, "challenger").version) == "2"
    assert version_by_alias(settings, NAME, "champion") is None


def test_list_versions_gives_aliases_metrics_and_tags_newest_first(store):
    settings, report = store
    by_run = {c.run_id: c for c in report.candidates}

    rows = list_versions(settings, NAME)

    assert [r.version for r in rows] == ["2", "1"]
    assert {r.name for r in rows} == {NAME}
    assert rows[0].aliases == ["challenger"] and rows[1].aliases == []
    for row in rows:
        trained = by_run[row.run_id]
        assert row.tags["candidate"] == trained.name
        assert row.tags["primary_metric"] == "f1"
        assert row.metrics["f1"] == pytest.approx(trained.metrics["f1"])
        assert f"Candidate '{trained.name}'" in row.description
        assert "archived" not in row.tags


def test_list_versions_shows_the_archive_fields_and_every_alias(store):
    settings, _ = store
    first = client(settings).get_model_version(NAME, "1")
    client(settings).set_registered_model_alias(NAME, "shadow", "2")
    with use_tracking(settings):
        move_champion(settings, NAME, "1", None, "first champion")
        move_champion(settings, NAME, "2", first, "replaced by version 2: test")

    rows = {r.version: r for r in list_versions(settings, NAME)}

    assert rows["2"].aliases == ["champion", "shadow"]
    assert rows["1"].aliases == []
    assert rows["1"].tags["archived"] == "true"
    assert rows["1"].tags["archived_reason"] == "replaced by version 2: test"
    assert ISO_UTC_SECONDS.fullmatch(rows["1"].tags["archived_at"])
    assert "archived" not in rows["2"].tags


def test_list_versions_without_a_name_lists_every_model(store):
    settings, report = store
    mlflow_client = client(settings)
    with use_tracking(settings):
        mlflow_client.create_registered_model("copy")
        mlflow_client.create_model_version(
            "copy", source=report.best.model_uri, run_id=report.best.run_id
        )

    rows = list_versions(settings)

    assert sorted((r.name, r.version) for r in rows) == sorted(
        [(NAME, "1"), (NAME, "2"), ("copy", "1")]
    )
    copy = next(r for r in rows if r.name == "copy")
    assert copy.metrics["f1"] == pytest.approx(report.best.metrics["f1"])


def test_list_versions_of_an_unknown_model_is_not_found(store):
    settings, _ = store

    with pytest.raises(NotFoundError, match="no registered model 'mushrooms'"):
        list_versions(settings, "mushrooms")


def test_move_champion_takes_challenger_off_the_new_champion_only(store):
    settings, _ = store

    with use_tracking(settings):
        move_champion(settings, NAME, "1", None, "first champion")
    assert _aliases(settings) == {"champion": "1", "challenger": "2"}

    with use_tracking(settings):
        move_champion(settings, NAME, "2", client(settings).get_model_version(NAME, "1"), "why")
    assert _aliases(settings) == {"champion": "2"}


def test_move_champion_archives_the_replaced_champion_with_date_and_reason(store):
    settings, _ = store
    with use_tracking(settings):
        move_champion(settings, NAME, "1", None, "first champion")
    old = require_alias(settings, NAME, "champion")
    before = datetime.now(UTC).replace(microsecond=0)

    with use_tracking(settings):
        move_champion(settings, NAME, "2", old, "replaced by version 2: f1 0.9 vs 0.8")

    after = datetime.now(UTC)
    archived = client(settings).get_model_version(NAME, "1").tags
    assert archived["archived"] == "true"
    assert archived["archived_reason"] == "replaced by version 2: f1 0.9 vs 0.8"
    assert before <= datetime.fromisoformat(archived["archived_at"]) <= after
    assert "archived" not in client(settings).get_model_version(NAME, "2").tags


def test_move_champion_keeps_a_long_reason_within_the_tag_limit(store):
    settings, _ = store
    old = client(settings).get_model_version(NAME, "1")

    with use_tracking(settings):
        move_champion(settings, NAME, "2", old, "x" * 10_000)

    assert client(settings).get_model_version(NAME, "1").tags["archived_reason"] == "x" * 4000


@pytest.mark.parametrize(
    ("tag", "history"),
    [
        (None, []),
        (json.dumps(["1", "2"]), ["1", "2"]),
        (json.dumps([1, 3, 2]), ["1", "3", "2"]),
        ("not json", []),
    ],
    ids=["no-tag", "strings", "numbers-as-strings", "malformed"],
)
def test_champion_history_reads_the_model_tag_oldest_first(store, tag, history):
    settings, _ = store
    if tag is not None:
        client(settings).set_registered_model_tag(NAME, HISTORY_TAG, tag)

    assert champion_history(settings, NAME) == history


def test_move_champion_clears_the_archive_tags_of_a_version_that_serves_again(store):
    settings, _ = store
    mlflow_client = client(settings)
    with use_tracking(settings):
        move_champion(settings, NAME, "1", None, "first champion")
        move_champion(settings, NAME, "2", mlflow_client.get_model_version(NAME, "1"), "newer")
        move_champion(settings, NAME, "1", mlflow_client.get_model_version(NAME, "2"), "back")

    assert {"archived", "archived_at", "archived_reason"}.isdisjoint(
        mlflow_client.get_model_version(NAME, "1").tags
    )
    assert mlflow_client.get_model_version(NAME, "2").tags["archived"] == "true"
