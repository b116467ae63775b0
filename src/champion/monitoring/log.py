"""The prediction log: every prediction the server makes, and the true labels later.

One table of predictions (a row per request and arm: request id, time, model, version,
arm, the model inputs column by column, one output per input row, the latency) and one
of feedback (the true label of a request's row), on SQLite in WAL mode (the default, in the project
folder) or PostgreSQL, through SQLAlchemy Core. The tables and the engine are
:mod:`champion.monitoring.store`'s.

Writing stays off the request's path: :meth:`PredictionLog.record` appends the
request's arrays to a buffer and returns; a background thread turns them into rows and
writes them in one transaction every ``flush_interval`` seconds, or as soon as the
buffer is half full. The buffer holds at most ``max_buffered`` rows: when a request
would go past that (the writer cannot keep up), it writes the buffer itself first
(back-pressure instead of dropping). So a crash (``kill -9``) loses at most
``max_buffered`` rows, and :meth:`close` (on SIGTERM, through the server's shutdown)
writes everything.

May import: :mod:`champion.errors`, :mod:`champion.monitoring.store`,
:mod:`champion.project.categories`.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import orjson
import pandas as pd
import sqlalchemy as sa

from champion.errors import NotFoundError, RequestError
from champion.monitoring.store import feedback_table, open_database, predictions_table
from champion.project.categories import canonical_category

log = logging.getLogger("champion.monitoring")

FLUSH_INTERVAL = 0.5
MAX_BUFFERED = 10_000
PRUNE_EVERY = 3600.0


@dataclass(frozen=True)
class Scored:
    """One request's predictions by one arm, as the server has them (arrays, not rows).

    Attributes:
        inputs: model input column → one value per row (as the model saw them).
        outputs: one JSON-ready value per row (label, value or tag list).
    """

    request_id: str
    ts: float
    model: str
    version: str
    arm: str
    inputs: Mapping[str, np.ndarray]
    outputs: list
    latency_ms: float

    @property
    def rows(self) -> int:
        return len(self.outputs)


@dataclass(frozen=True)
class LogOptions:
    """How a server keeps its prediction log (``champion serve --log-...``).

    Attributes:
        enabled: log at all.
        flush_interval: seconds between background writes.
        max_buffered: rows held in memory at most: what a crash can lose.
        retention_days: predictions older than this are deleted (None: kept).
    """

    enabled: bool = True
    flush_interval: float = FLUSH_INTERVAL
    max_buffered: int = MAX_BUFFERED
    retention_days: float | None = None


@dataclass(frozen=True)
class Label:
    """A true label for row ``row`` of request ``request_id``."""

    request_id: str
    label: object
    row: int = 0


class PredictionLog:
    """The log at ``url`` (a SQLAlchemy URL). Call :meth:`start` to write in the
    background and :meth:`close` to stop and write what is left."""

    def __init__(
        self,
        url: str,
        *,
        flush_interval: float = FLUSH_INTERVAL,
        max_buffered: int = MAX_BUFFERED,
        retention_days: float | None = None,
    ) -> None:
        self.url = url
        self.flush_interval = flush_interval
        self.max_buffered = max_buffered
        self.retention_days = retention_days
        self.engine = open_database(url)
        self._buffer: list[Scored] = []
        self._buffered_rows = 0
        self._lock = threading.Lock()  # guards the buffer
        self._write_lock = threading.Lock()  # one writer at a time
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self.written = 0

    # -- writing ---------------------------------------------------------------------

    def record(self, scored: Scored) -> None:
        """Buffer one request's predictions; write the buffer first if it is full."""
        with self._lock:
            full = self._buffered_rows + scored.rows > self.max_buffered
        if full:
            self.flush()
        with self._lock:
            self._buffer.append(scored)
            self._buffered_rows += scored.rows
            half_full = self._buffered_rows >= self.max_buffered // 2
        if half_full:  # wake the writer early, so requests rarely write themselves
            self._wake.set()

    def flush(self) -> int:
        """Write everything buffered now, in one transaction. Returns the rows written."""
        with self._write_lock:
            with self._lock:
                batch, self._buffer, self._buffered_rows = self._buffer, [], 0
            if not batch:
                return 0
            with self.engine.begin() as connection:
                connection.execute(predictions_table.insert(), [_row_of(s) for s in batch])
            written = sum(scored.rows for scored in batch)
            self.written += written
            return written

    def start(self) -> PredictionLog:
        """Write in a background thread every ``flush_interval`` seconds."""
        self._thread = threading.Thread(target=self._run, name="prediction-log", daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop the background writer and write what is left."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join()
        self.flush()
        self.engine.dispose()

    def _run(self) -> None:
        last_prune = 0.0
        while not self._stop.is_set():
            self._wake.wait(self.flush_interval)
            self._wake.clear()
            try:
                self.flush()
                if self.retention_days and time.time() - last_prune > PRUNE_EVERY:
                    self.prune(self.retention_days)
                    last_prune = time.time()
            except Exception as e:  # a database hiccup must not kill the writer
                log.error("prediction log: writing failed, will retry: %s", e)

    def prune(self, older_than_days: float) -> int:
        """Delete predictions (and their feedback) older than ``older_than_days``."""
        cutoff = time.time() - older_than_days * 86400
        with self.engine.begin() as connection:
            old = sa.select(predictions_table.c.request_id).where(predictions_table.c.ts < cutoff)
            connection.execute(feedback_table.delete().where(feedback_table.c.request_id.in_(old)))
            result = connection.execute(
                predictions_table.delete().where(predictions_table.c.ts < cutoff)
            )
        return result.rowcount

    # -- feedback --------------------------------------------------------------------

    def add_feedback(self, labels: Iterable[Label]) -> int:
        """Join true labels to logged predictions; all or nothing.

        A label given again for the same row replaces the earlier one (so sending the
        same feedback twice changes nothing).

        Returns:
            the number of labels stored.
        Raises:
            NotFoundError: a request id (or row) was never logged; none is stored.
        """
        labels = list(labels)
        self.flush()  # a request answered a moment ago may still be in the buffer
        wanted = {(item.request_id, item.row) for item in labels}
        ids = sorted({request_id for request_id, _ in wanted})
        with self.engine.begin() as connection:
            rows_of: dict[str, int] = {}
            for chunk in _chunks(ids, 500):
                query = sa.select(predictions_table.c.request_id, predictions_table.c.rows).where(
                    predictions_table.c.request_id.in_(chunk)
                )
                for found in connection.execute(query):
                    rows_of[found.request_id] = max(rows_of.get(found.request_id, 0), found.rows)
            unknown = sorted((r, n) for r, n in wanted if n >= rows_of.get(r, 0))
            if unknown:
                shown = ", ".join(f"{r}" + (f" row {n}" if n else "") for r, n in unknown[:5])
                more = f" and {len(unknown) - 5} more" if len(unknown) > 5 else ""
                raise NotFoundError(f"no logged prediction for request id {shown}{more}")
            now = time.time()
            for item in labels:
                key = (feedback_table.c.request_id == item.request_id) & (
                    feedback_table.c.row == item.row
                )
                connection.execute(feedback_table.delete().where(key))
            connection.execute(
                feedback_table.insert(),
                [
                    {
                        "request_id": item.request_id,
                        "row": item.row,
                        "label": json.dumps(item.label),
                        "ts": now,
                    }
                    for item in {(i.request_id, i.row): i for i in labels}.values()
                ],
            )
        return len(wanted)

    # -- reading ---------------------------------------------------------------------

    def window(
        self,
        model: str,
        *,
        version: str | None = None,
        arm: str | None = None,
        since: float | None = None,
        last: int | None = None,
    ) -> pd.DataFrame:
        """Logged predictions of ``model``: its newest ``last`` rows (one per input row,
        however the rows were grouped into requests), only those logged at ``since`` or
        later, or both; oldest first, with their label where feedback arrived.

        Only the window is read. The newest requests are found newest first in the
        ``predictions_model_ts`` index (time, id and row count, no inputs), stopping as
        soon as they hold ``last`` rows; then the inputs and outputs of those requests
        alone are read, and their labels. So the rows read are bounded by the window,
        not by the size of the log, and building the frame is linear in its rows.
        "Newest" is by request time (``ts``), ties broken by the order of writing.

        Args:
            version, arm: only that version's (arm's) requests (filtered while
                scanning: cheap when most requests match).
            since: a Unix time; None: no time bound.
            last: rows; the oldest request may be cut (its newest rows kept). None: no
                row bound.

        Columns: request_id, row, ts, version, arm, latency_ms, output, label, and one
        column per model input.
        """
        self.flush()
        p = predictions_table.c
        scope = [p.model == model]
        if version is not None:
            scope.append(p.version == version)
        if arm is not None:
            scope.append(p.arm == arm)
        if since is not None:
            scope.append(p.ts >= since)
        query = sa.select(
            p.id, p.request_id, p.ts, p.version, p.arm, p.rows, p.latency_ms, p.inputs, p.outputs
        ).order_by(p.ts, p.id)
        with self.engine.connect() as connection:
            first = None if last is None else _first_of_window(connection, scope, last)
            if first is not None:
                query = query.where(p.ts >= first[0])
            requests = connection.execute(query.where(*scope)).all()
            if first is not None:  # requests of the first one's time written before it
                requests = [r for r in requests if (r.ts, r.id) >= first]
            labels = self._labels(connection, sorted({r.request_id for r in requests}))
        frame = _expand(requests, labels)
        return frame.iloc[-last:].reset_index(drop=True) if last is not None else frame

    @staticmethod
    def _labels(connection, request_ids: list[str]) -> dict[tuple[str, int], object]:
        f = feedback_table.c
        labels = {}
        for chunk in _chunks(request_ids, 500):
            query = sa.select(f.request_id, f.row, f.label).where(f.request_id.in_(chunk))
            for found in connection.execute(query):
                labels[found.request_id, found.row] = json.loads(found.label)
        return labels

    def count(self) -> int:
        """Rows logged (written, not counting the buffer)."""
        with self.engine.connect() as connection:
            total = sa.select(sa.func.coalesce(sa.func.sum(predictions_table.c.rows), 0))
            return int(connection.execute(total).scalar_one())

    def mark(self) -> tuple:
        """Where the log is now: the newest prediction's id and the newest label's time.

        It moves whenever a prediction or a label is written (not when old rows are
        pruned), so two equal marks mean nothing new was logged in between: a
        monitoring run would find what the last one found. Two index lookups,
        whatever the size of the log; the buffer is written first.
        """
        self.flush()
        newest = sa.select(
            sa.select(sa.func.max(predictions_table.c.id)).scalar_subquery(),
            sa.select(sa.func.max(feedback_table.c.ts)).scalar_subquery(),
        )
        with self.engine.connect() as connection:
            return tuple(connection.execute(newest).one())


def _first_of_window(connection: sa.Connection, scope: list, last: int) -> tuple[float, int] | None:
    """(ts, id) of the oldest request among the newest that hold ``last`` rows (None:
    no request), read from the ``predictions_model_ts`` index newest first.

    The scan stops at the request that fills the window: SQLite steps its cursor only
    as far as it is read; PostgreSQL returns at most ``last`` narrow rows (a request
    holds one row at least, so ``last`` requests always fill the window).
    """
    p = predictions_table.c
    newest = (
        sa.select(p.ts, p.id, p.rows).where(*scope).order_by(p.ts.desc(), p.id.desc()).limit(last)
    )
    first, held = None, 0
    result = connection.execute(newest)
    try:
        for request in result:
            first, held = (request.ts, request.id), held + request.rows
            if held >= last:
                break
    finally:
        result.close()
    return first


def normalize_label(label, task: str, where: str = "label"):
    """A label in the one form the log keeps for ``task``: a class as its canonical
    string (``true``, ``"True"`` and ``1.0``/``1`` agree), a finite number for
    regression, a sorted list of tags for multilabel (a string is split on ``|``).

    Raises:
        RequestError: (400) the label cannot be one for this task.
    """
    if task == "regression":
        if isinstance(label, bool) or not isinstance(label, int | float | str):
            raise RequestError(f"{where} must be a number; got {label!r}", field=where)
        try:
            value = float(label)
        except ValueError:
            raise RequestError(f"{where} must be a number; got {label!r}", field=where) from None
        if not math.isfinite(value):
            raise RequestError(f"{where} must be a finite number; got {label!r}", field=where)
        return value
    if task == "multilabel":
        tags = label.split("|") if isinstance(label, str) else label
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            raise RequestError(
                f"{where} must be a list of tags (or 'a|b'); got {label!r}", field=where
            )
        return sorted({t.strip() for t in tags if t.strip()})
    if isinstance(label, list | dict):
        raise RequestError(f"{where} must be a class label; got {label!r}", field=where)
    return canonical_category(label)


def parse_labels(payload, task: str) -> list[Label]:
    """Labels from a ``/feedback`` body: one object, a list, or ``{"feedback": [...]}``,
    each ``{"request_id", "label", "row" (default 0)}``, normalised for ``task``.

    Raises:
        RequestError: (400) naming the item and what is wrong with it.
    """
    if isinstance(payload, dict) and "feedback" in payload:
        payload = payload["feedback"]
    if isinstance(payload, dict):
        payload = [payload]
    if not isinstance(payload, list) or not payload:
        raise RequestError(
            'feedback must be {"request_id", "label"}, a non-empty list of them, or '
            '{"feedback": [...]}',
            field="body",
        )
    labels = []
    for index, item in enumerate(payload):
        where = f"feedback[{index}]"
        if not isinstance(item, dict):
            raise RequestError(f"{where} must be an object", field=where)
        request_id, row = item.get("request_id"), item.get("row", 0)
        if not isinstance(request_id, str) or not request_id:
            raise RequestError(f"{where}.request_id must be a non-empty string", field=where)
        if "label" not in item or item["label"] is None:
            raise RequestError(f"{where}.label is missing", field=where)
        if not isinstance(row, int) or isinstance(row, bool) or row < 0:
            raise RequestError(f"{where}.row must be a row number (0, 1, ...)", field=where)
        labels.append(Label(request_id, normalize_label(item["label"], task, where), row))
    return labels


def _row_of(scored: Scored) -> dict:
    return {
        "request_id": scored.request_id,
        "ts": scored.ts,
        "model": scored.model,
        "version": scored.version,
        "arm": scored.arm,
        "rows": scored.rows,
        "inputs": _dumps(dict(scored.inputs)),
        "outputs": _dumps(list(scored.outputs)),
        "latency_ms": scored.latency_ms,
    }


def _dumps(value) -> str:
    """JSON of NumPy arrays and plain values; NaN (a missing number) becomes null."""
    return orjson.dumps(value, default=_plain, option=orjson.OPT_SERIALIZE_NUMPY).decode()


def _plain(value):
    if isinstance(value, np.ndarray):  # object arrays (strings, None): orjson wants lists
        return value.tolist()
    raise TypeError(f"cannot log a {type(value).__name__}")


def _expand(requests, labels: dict) -> pd.DataFrame:
    """Logged requests as one DataFrame row per input row, oldest first; linear in the
    rows (each request's values are appended once, never copied again)."""
    counts = np.array([r.rows for r in requests], dtype=np.int64)
    total = int(counts.sum())
    starts = np.cumsum(counts) - counts
    frame = pd.DataFrame(
        {
            "request_id": np.repeat(np.array([r.request_id for r in requests], object), counts),
            "row": np.arange(total, dtype=np.int64) - np.repeat(starts, counts),
            "ts": np.repeat(np.array([r.ts for r in requests], float), counts),
            "version": np.repeat(np.array([r.version for r in requests], object), counts),
            "arm": np.repeat(np.array([r.arm for r in requests], object), counts),
            "latency_ms": np.repeat(np.array([r.latency_ms for r in requests], float), counts),
        }
    )
    outputs: list = []
    inputs: dict[str, list] = {}
    seen = 0
    for request in requests:
        outputs.extend(orjson.loads(request.outputs))
        for column, values in orjson.loads(request.inputs).items():
            if column not in inputs:  # a column new to this request: empty before it
                inputs[column] = [None] * seen
            inputs[column].extend(values)
        seen += request.rows
        for values in inputs.values():  # a column this request lacks: empty for it
            if len(values) < seen:
                values.extend([None] * (seen - len(values)))
    # Objects, not a pandas dtype: outputs are dicts and a missing label stays None.
    frame["output"] = pd.Series(outputs, dtype=object)
    frame["label"] = pd.Series(
        [labels.get(key) for key in zip(frame["request_id"], frame["row"], strict=True)]
        if labels
        else [None] * total,
        dtype=object,
    )
    return pd.concat([frame, pd.DataFrame(inputs, index=frame.index)], axis=1)


def _chunks(items: list, size: int):
    for start in range(0, len(items), size):
        yield items[start : start + size]
