"""The monitoring window of the prediction log (PredictionLog.window): counted in rows,
read from an index so that its cost is bounded by the window and not by the log, built
in time linear in its rows; and the log's mark, which says whether anything is new.

The database's work is measured, not timed: SQLite's progress handler counts the
virtual-machine instructions each query runs, which grow with the rows it reads."""

from __future__ import annotations

import gc
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import pytest
import sqlalchemy as sa

from champion.monitoring.log import Label, PredictionLog, Scored

T0 = 1_750_000_000.0
TICK = 100  # VM instructions per progress-handler call


def _fill(log: PredictionLog, requests: int, rows: int = 30, start: int = 0) -> None:
    """``requests`` requests of ``rows`` rows each, one second apart."""
    for index in range(start, start + requests):
        log.record(
            Scored(
                request_id=f"r{index}",
                ts=T0 + index,
                model="m",
                version="1",
                arm="champion",
                inputs={
                    "hp": np.arange(rows, dtype=float) + index,
                    "colour": np.array(["red"] * rows, dtype=object),
                },
                outputs=[{"label": "True"}] * rows,
                latency_ms=1.0,
            )
        )
    log.flush()


@dataclass
class Work:
    steps: int = 0  # hundreds of SQLite VM instructions
    queries: int = 0


@contextmanager
def counted(log: PredictionLog) -> Iterator[Work]:
    """The database work done by ``log`` inside the block (SQLite only)."""
    work = Work()

    def tick() -> int:
        work.steps += 1
        return 0  # 0: go on

    def on_connect(dbapi_connection, _record) -> None:
        dbapi_connection.set_progress_handler(tick, TICK)

    def on_execute(*_args) -> None:
        work.queries += 1

    log.engine.dispose()  # connections opened from now on are counted
    sa.event.listen(log.engine, "connect", on_connect)
    sa.event.listen(log.engine, "before_cursor_execute", on_execute)
    try:
        yield work
    finally:
        sa.event.remove(log.engine, "before_cursor_execute", on_execute)
        sa.event.remove(log.engine, "connect", on_connect)
        log.engine.dispose()


def _work_of_window(tmp_path, requests: int, **window) -> tuple[Work, int]:
    log = PredictionLog(f"sqlite:///{tmp_path / f'{requests}.db'}")
    try:
        _fill(log, requests, start=1000 - requests)  # both logs end at the same time
        with counted(log) as work:
            rows = len(log.window("m", **window))
    finally:
        log.close()
    return work, rows


@pytest.mark.parametrize(
    "window", [{"last": 90}, {"since": T0 + 997}, {"last": 60, "since": T0 + 997}], ids=str
)
def test_reading_a_window_costs_the_same_in_a_small_log_and_a_large_one(tmp_path, window):
    # Three requests of 30 rows make the window; the large log holds 1,000 such.
    small, small_rows = _work_of_window(tmp_path, 3, **window)
    large, large_rows = _work_of_window(tmp_path, 1000, **window)
    assert large_rows == small_rows == window.get("last", 90)
    assert large.queries == small.queries <= 3  # window, payload, labels
    # Counted in rows: the 90 rows of the last three requests, never the last 90 requests.
    assert large.steps <= small.steps * 1.5 + 20


def test_the_window_holds_the_newest_rows_and_cuts_the_oldest_request(database_url):
    log = PredictionLog(database_url)
    _fill(log, 10, rows=30)
    log.add_feedback([Label("r9", "False", row=29), Label("r8", "False", row=15)])
    window = log.window("m", last=45)
    since = log.window("m", since=T0 + 8, last=1000)
    both = log.window("m", since=T0 + 8, last=10)
    log.close()
    assert window["request_id"].tolist() == ["r8"] * 15 + ["r9"] * 30
    assert window["row"].tolist() == list(range(15, 30)) + list(range(30))
    assert window["hp"].tolist() == [8.0 + n for n in range(15, 30)] + [9.0 + n for n in range(30)]
    assert window["label"].tolist() == ["False"] + [None] * 43 + ["False"]
    assert len(since) == 60 and set(since["request_id"]) == {"r8", "r9"}
    assert both["row"].tolist() == list(range(20, 30))


def test_requests_logged_at_the_same_time_are_cut_in_the_order_they_were_written(tmp_path):
    log = PredictionLog(f"sqlite:///{tmp_path / 'p.db'}")
    for index in range(5):
        log.record(
            Scored(f"same{index}", T0, "m", "1", "champion", {"hp": np.ones(2)}, [{}] * 2, 1.0)
        )
    window = log.window("m", last=3)
    log.close()
    assert window["request_id"].tolist() == ["same3", "same4", "same4"]


def _seconds_to_read(log: PredictionLog) -> float:
    """CPU seconds of this process to read the window (the best of five): what the
    other test worker does on the shared cores changes wall time, not this."""
    best = float("inf")
    # The collector off while timing: its full passes cost more the more objects the
    # test process holds (other tests' fixtures), which is no cost of the window; the
    # server freezes its heap for the same reason (serving/app.py).
    gc.collect()
    gc.disable()
    try:
        for _ in range(5):
            start = time.process_time()
            log.window("m")
            best = min(best, time.process_time() - start)
    finally:
        gc.enable()
    return best


def test_building_the_window_is_linear_in_its_rows(tmp_path):
    # Many columns and one row per request: where building used to cost the square of
    # the rows (each request copied every column's values so far), four times the rows
    # took fifteen times as long; now about four.
    def log_of(requests: int) -> PredictionLog:
        log = PredictionLog(f"sqlite:///{tmp_path / f'{requests}.db'}")
        for index in range(requests):
            inputs = {f"c{c}": np.array([float(index)]) for c in range(30)}
            log.record(Scored(f"r{index}", T0 + index, "m", "1", "champion", inputs, [{}], 1.0))
        log.flush()
        return log

    small, large = log_of(2000), log_of(8000)
    try:
        ratio = _seconds_to_read(large) / _seconds_to_read(small)
        assert len(large.window("m")) == 8000
    finally:
        small.close()
        large.close()
    assert ratio < 8


def test_the_mark_moves_with_each_prediction_and_label_only(database_url):
    log = PredictionLog(database_url)
    empty = log.mark()
    _fill(log, 2, rows=1)
    logged = log.mark()
    log.window("m")
    unchanged = log.mark()
    log.add_feedback([Label("r0", "True")])
    labelled = log.mark()
    log.add_feedback([Label("r0", "False", replace=True)])  # a correction is news too
    corrected = log.mark()
    log.close()
    assert empty == (None, None)
    assert logged != empty and unchanged == logged
    assert labelled != logged and corrected != labelled


def test_a_stored_row_or_label_that_cannot_be_read_is_skipped_not_fatal(database_url, caplog):
    log = PredictionLog(database_url)
    _fill(log, 3, rows=2)
    log.add_feedback([Label("r0", "True")])
    # Rows written by hand or by another tool, past the checks the server makes.
    from champion.monitoring.store import feedback_table, predictions_table

    with log.engine.begin() as connection:
        bad = {"ts": T0 + 10, "model": "m", "version": "1", "arm": "champion", "latency_ms": 1.0}
        connection.execute(
            predictions_table.insert(),
            [
                {**bad, "request_id": "not-json", "rows": 1, "inputs": "{", "outputs": "[]"},
                {
                    **bad,
                    "request_id": "short",
                    "rows": 2,
                    "inputs": '{"hp": [1]}',
                    "outputs": "[1]",
                },
            ],
        )
        connection.execute(
            feedback_table.update().where(feedback_table.c.request_id == "r0"),
            {"label": "not json"},
        )
    window = log.window("m")
    log.close()
    assert window["request_id"].tolist() == ["r0", "r0", "r1", "r1", "r2", "r2"]
    assert window["label"].isna().all()  # the unreadable label is dropped, not fatal
    warnings = " ".join(r.getMessage() for r in caplog.records)
    assert "not-json" in warnings and "short" in warnings and "label of r0" in warnings
