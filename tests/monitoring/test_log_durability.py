"""The log never loses an accepted prediction: on SQLite and PostgreSQL, a reused
request id gets a key of its own, a failed write is retried from the buffer, a batch
past the retry limit goes to the dead letter and ``champion log replay`` writes it;
and labels are checked, written in bounded batches and only replaced on purpose."""

from __future__ import annotations

import sqlite3
import threading
import time
from contextlib import contextmanager
from dataclasses import replace

import numpy as np
import pytest

from champion.cli import run
from champion.errors import ConflictError, RequestError, Unavailable
from champion.monitoring import deadletter, store
from champion.monitoring.log import (
    FEEDBACK_BATCH,
    Label,
    LabelSpace,
    PredictionLog,
    Scored,
    _row_of,
    parse_labels,
)
from champion.monitoring.store import create_engine
from support.tracking_server import create_postgres_database, to_libpq_url

pytestmark = pytest.mark.integration


def _scored(request_id: str, arm: str = "champion", rows: int = 1) -> Scored:
    return Scored(
        request_id=request_id,
        ts=time.time(),
        model="m",
        version="1",
        arm=arm,
        inputs={"hp": np.arange(rows, dtype=float)},
        outputs=[{"label": "a"}] * rows,
        latency_ms=1.0,
    )


def _keys(url: str) -> list[tuple[str, str]]:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            query = "SELECT request_id, arm FROM predictions ORDER BY id"
            return [tuple(r) for r in connection.exec_driver_sql(query)]
    finally:
        engine.dispose()


@contextmanager
def _table_hidden(url: str):
    """The predictions table renamed away (so every write fails, as on a database
    that refuses them), and back on exit."""
    engine = create_engine(url)
    try:
        with engine.begin() as connection:
            connection.exec_driver_sql("ALTER TABLE predictions RENAME TO hidden")
        yield
        with engine.begin() as connection:
            connection.exec_driver_sql("ALTER TABLE hidden RENAME TO predictions")
    finally:
        engine.dispose()


def test_a_reused_request_id_gets_a_key_that_keeps_it_and_no_row_is_lost(database_url):
    log = PredictionLog(database_url)
    for index in range(30):
        log.record(_scored(f"innocent-{index}"))
    first = _scored("reused")
    log.record(first)
    log.record(_scored("reused"))  # the same batch
    log.record(replace(first, arm="shadow"))  # the first request's shadow: the same key
    # Another request on the canary: a key of its own, since feedback names no arm.
    log.record(_scored("reused", arm="canary"))
    assert log.flush() == 34
    log.record(_scored("reused"))  # a later batch
    assert log.flush() == 1
    log.close()
    keys = _keys(database_url)
    assert len(keys) == 35
    assert [k for k in keys if k[0].startswith("reused")] == [
        ("reused", "champion"),
        ("reused~2", "champion"),
        ("reused", "shadow"),
        ("reused~3", "canary"),
        ("reused~4", "champion"),
    ]


def test_a_failed_write_keeps_its_batch_and_the_next_flush_writes_it(database_url):
    log = PredictionLog(database_url)
    with _table_hidden(database_url):
        for index in range(5):
            log.record(_scored(f"kept-{index}"))
        assert log.flush() == 0  # refused, not raised
        assert log.pending == 5
    assert log.flush() == 5
    log.close()
    assert len(_keys(database_url)) == 5
    assert not deadletter.pending(log.dead_letter)


def test_a_write_that_finds_the_database_locked_is_retried(tmp_path, monkeypatch):
    # SQLite answers "database is locked" after its busy timeout: shortened here.
    monkeypatch.setattr(store, "LOCK_WAIT_S", 0.2)
    path = tmp_path / "predictions.db"
    log = PredictionLog(f"sqlite:///{path}")
    log.record(_scored("locked"))
    holder = sqlite3.connect(path)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        assert log.flush() == 0
        assert log.pending == 1
    finally:
        holder.rollback()
        holder.close()
    assert log.flush() == 1
    log.close()
    assert _keys(f"sqlite:///{path}") == [("locked", "champion")]


def test_a_full_buffer_never_waits_for_a_locked_database_and_loses_nothing(tmp_path, monkeypatch):
    # Another process holds the write lock (a prune, a replay) past the busy timeout.
    path = tmp_path / "predictions.db"
    log = PredictionLog(f"sqlite:///{path}", max_buffered=4, flush_interval=0.05).start()
    holder = sqlite3.connect(path)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        slowest = 0.0
        for index in range(20):
            started = time.perf_counter()
            log.record(_scored(f"r{index}"))  # on the request's path: never waits
            slowest = max(slowest, time.perf_counter() - started)
        assert slowest < 1.0, slowest  # the busy timeout is 30 s
        assert log.pending <= 4
        assert log.dead_lettered == 20 - log.pending
    finally:
        holder.rollback()
        holder.close()
    log.close()
    monkeypatch.setenv("CHAMPION_PREDICTION_LOG", f"sqlite:///{path}")
    monkeypatch.chdir(tmp_path)
    assert run(["log", "replay"]) == 0
    assert sorted(k for k, _ in _keys(f"sqlite:///{path}")) == sorted(f"r{i}" for i in range(20))


def test_past_the_retry_limit_the_batch_goes_to_the_dead_letter_and_replay_writes_it_once(
    database_url, tmp_path, monkeypatch
):
    # Where ``champion log replay`` looks: beside a SQLite log, else in the project
    # folder (here: no project file, so the current folder).
    folder = deadletter.folder_for(database_url, tmp_path)
    log = PredictionLog(database_url, retry_limit=2, dead_letter=folder)
    log.record(_scored("done-before"))
    log.flush()
    with _table_hidden(database_url):
        log.record(_scored("late-0", rows=3))
        log.record(_scored("late-1"))
        assert log.flush() == 0 and log.pending == 4  # one failure: still buffered
        assert log.flush() == 0 and log.pending == 0  # two: on disk
        assert log.dead_lettered == 4
        log.record(_scored("at-close"))
        log.close()  # the database still refuses: this one goes there too
    assert len(deadletter.pending(folder)) == 2
    assert _keys(database_url) == [("done-before", "champion")]
    monkeypatch.setenv("CHAMPION_PREDICTION_LOG", database_url)
    monkeypatch.chdir(tmp_path)
    assert run(["log", "replay"]) == 0  # no -c: the current folder, no project file
    assert deadletter.pending(folder) == []
    assert sorted(_keys(database_url)) == [
        ("at-close", "champion"),
        ("done-before", "champion"),
        ("late-0", "champion"),
        ("late-1", "champion"),
    ]


def test_a_batch_replayed_twice_is_written_once(database_url, tmp_path):
    folder = tmp_path / "dead"
    log = PredictionLog(database_url, dead_letter=folder)
    batch = [_scored("twice"), _scored("twice")]  # a reused id inside the batch
    rows = [_row_of(s) for s in batch]
    deadletter.write(folder, rows)
    deadletter.write(folder, rows)  # as if a replay had stopped before removing it
    done = log.replay_dead_letter()
    log.close()
    assert (done.files, done.left) == (2, [])
    assert _keys(database_url) == [("twice", "champion"), ("twice~2", "champion")]


def test_feedback_for_a_prediction_still_waiting_for_its_write_is_a_503(database_url):
    log = PredictionLog(database_url)
    log.record(_scored("labelled-soon"))
    with (
        _table_hidden(database_url),
        pytest.raises(Unavailable, match="labelled-soon is not written to the log yet"),
    ):
        log.add_feedback([Label("labelled-soon", "a")])
    assert log.add_feedback([Label("labelled-soon", "a")]) == 1
    log.close()


def test_a_replaced_label_is_kept_in_the_history_and_the_same_label_changes_nothing(
    database_url,
):
    log = PredictionLog(database_url)
    log.record(_scored("r", rows=2))
    log.add_feedback([Label("r", "a", row=1)])
    log.add_feedback([Label("r", "a", row=1)])  # the same again: nothing to record
    with pytest.raises(ConflictError, match="request id r row 1 already has the label 'a'"):
        log.add_feedback([Label("r", "b", row=0), Label("r", "b", row=1)])
    assert log.window("m")["label"].tolist() == [None, "a"]  # none of the call stored
    log.add_feedback([Label("r", "b", row=1, replace=True)])
    history = log.label_history("r", row=1)
    log.close()
    assert [(h["label"], h["replaced_by"]) for h in history] == [("a", "b")]
    assert history[0]["ts"] <= history[0]["replaced_at"]


def test_bulk_feedback_is_written_in_batches_and_all_of_it_is_stored(database_url):
    labels = 2 * FEEDBACK_BATCH + 7
    log = PredictionLog(database_url)
    log.record(_scored("bulk", rows=labels))
    assert log.add_feedback([Label("bulk", "a", row=n) for n in range(labels)]) == labels
    window = log.window("m")
    log.close()
    assert (window["label"] == "a").sum() == labels


def test_a_bulk_call_never_holds_the_database_from_the_servers_writer(tmp_path):
    # Before: 150,000 labels were one transaction of 150,000 deletes (51 s), and the
    # server's writer waited for it (then failed, "database is locked"). 60,000 keep
    # this test short; benchmarks/feedback.py measures 150,000.
    url = f"sqlite:///{tmp_path / 'predictions.db'}"
    labels = 60_000
    log = PredictionLog(url, max_buffered=labels)
    log.record(_scored("bulk", rows=labels))
    log.flush()
    writer = PredictionLog(url)
    waits = []
    done = threading.Event()

    def write() -> None:
        while not done.is_set():
            writer.record(_scored(f"writer-{len(waits)}"))
            started = time.perf_counter()
            assert writer.flush() == 1
            waits.append(time.perf_counter() - started)
            time.sleep(0.02)

    thread = threading.Thread(target=write)
    thread.start()
    started = time.perf_counter()
    log.add_feedback([Label("bulk", "a", row=n) for n in range(labels)])
    took = time.perf_counter() - started
    done.set()
    thread.join()
    writer.close()
    log.close()
    assert len(waits) >= 5 and max(waits) < 1.0, (took, max(waits))
    assert took < 20


BINARY = LabelSpace("binary", ("False", "True"))
TAGS = LabelSpace("multilabel", tags=("fire", "flying", "water"))


@pytest.mark.parametrize(
    ("label", "space", "expected"),
    [
        ("true", BINARY, "True"),
        ("TRUE", BINARY, "True"),
        (True, BINARY, "True"),
        ("fire|flying", TAGS, ["fire", "flying"]),
        ({"label": ["fire", "ice"], "new_tags": ["ice"]}, TAGS, ["fire", "ice"]),
        ({"label": "fire|ice", "new_tags": "ice"}, TAGS, ["fire", "ice"]),
        ([], TAGS, []),
    ],
    ids=["lower-true", "upper-true", "bool", "known-tags", "new-tag", "new-tag-text", "no-tag"],
)
def test_a_label_takes_the_models_spelling(label, space, expected):
    item = label if isinstance(label, dict) else {"label": label}
    (parsed,) = parse_labels({"request_id": "r"} | item, space)
    assert parsed.label == expected


@pytest.mark.parametrize(
    ("item", "space", "match"),
    [
        (
            {"label": "banana"},
            BINARY,
            r"must be one of the model's classes: False, True; got 'banana'",
        ),
        ({"label": 42}, BINARY, "must be one of the model's classes"),
        ({"label": 3.5}, BINARY, "must be one of the model's classes"),
        ({"label": ""}, BINARY, "must be a class label"),
        ({"label": "fire|ice"}, TAGS, r"tag\(s\) 'ice' unknown to the model.*new_tags"),
        ({"label": "fire", "new_tags": ["ice"]}, BINARY, "only a multilabel model"),
        ({"label": "True", "replace": "yes"}, BINARY, r"replace must be true or false"),
        ({"label": "True", "row": 1.5}, BINARY, "row must be a row number"),
    ],
    ids=[
        "banana",
        "42",
        "3.5",
        "empty",
        "unknown-tag",
        "new-tags-binary",
        "replace-str",
        "row-1.5",
    ],
)
def test_a_label_that_does_not_fit_the_model_is_a_400_naming_what_is_allowed(item, space, match):
    with pytest.raises(RequestError, match=match) as raised:
        parse_labels({"request_id": "r"} | item, space)
    assert raised.value.http_status == 400


def test_one_row_given_two_labels_in_one_call_is_refused(tmp_path):
    log = PredictionLog(f"sqlite:///{tmp_path / 'p.db'}")
    log.record(_scored("r"))
    with pytest.raises(RequestError, match="given two labels in one call"):
        log.add_feedback([Label("r", "a"), Label("r", "b")])
    log.close()


def test_the_dead_letter_sits_beside_a_sqlite_log_else_in_the_project(tmp_path):
    assert (
        deadletter.folder_for(f"sqlite:///{tmp_path}/p.db", "/x") == tmp_path / "p.db.dead-letter"
    )
    assert str(deadletter.folder_for("postgresql://h/db", tmp_path)) == str(
        tmp_path / "predictions.dead-letter"
    )


def test_a_row_the_database_refuses_goes_alone_to_the_dead_letter(tmp_path):
    # PostgreSQL enforces the id column's 128 characters (SQLite does not): a client's
    # longer X-Request-ID must not hold back the batch it arrived in.
    url, drop = create_postgres_database()
    try:
        folder = tmp_path / "dead"
        log = PredictionLog(to_libpq_url(url), dead_letter=folder)
        log.record(_scored("before"))
        log.record(_scored("x" * 200))
        log.record(_scored("after"))
        assert log.flush() == 2
        assert log.pending == 0
        log.close()
        assert _keys(to_libpq_url(url)) == [("before", "champion"), ("after", "champion")]
        (kept,) = deadletter.pending(folder)
        assert [row["request_id"] for row in deadletter.read(kept)] == ["x" * 200]
    finally:
        drop()
