"""The prediction log: every prediction the server makes, and the true labels later.

One table of predictions (a row per request and arm: request id, time, model, version,
arm, the model inputs column by column, one output per input row, the latency) and one
of feedback (the true label of a request's row), on SQLite in WAL mode (the default, in the project
folder) or PostgreSQL, through SQLAlchemy Core. The tables and the engine are
:mod:`champion.monitoring.store`'s.

Writing stays off the request's path: :meth:`PredictionLog.record` appends the
request's arrays to a buffer and returns (its inputs column by column, its predictions
as one array: :class:`Outputs`; nothing per row); a background thread turns them into
rows and
writes them in one transaction every ``flush_interval`` seconds, or as soon as the
buffer is half full. The buffer holds at most ``max_buffered`` rows: when a request
would go past that (the writer cannot keep up), it writes the buffer itself first
(back-pressure instead of dropping). So a crash (``kill -9``) loses at most
``max_buffered`` rows, and :meth:`close` (on SIGTERM, through the server's shutdown)
writes everything.

An accepted prediction is never lost to a failed write:

- a batch stays in the buffer until a write of it succeeds; a failed write (the
  database is locked, unreachable, a table is missing) is retried at the next flush;
- after ``retry_limit`` failures in a row, when the buffer is full while writes fail,
  or at :meth:`close`, the batch goes to the dead letter
  (:mod:`champion.monitoring.deadletter`), a file that ``champion log replay`` writes
  to the database later. Every move is logged at WARNING or ERROR;
- a request id the log holds already for the same arm (a client that reuses its
  ``X-Request-ID``) is logged as ``ID~2``, ``ID~3``, ...: the client's id is kept and
  echoed, its retries are answered, and the unique key never fails a batch. Feedback
  for ``ID`` labels the first prediction; ``ID~2`` names the second. A row identical
  to one already written (same key, model and time: a retry whose commit did happen, a
  dead letter replayed twice) is skipped, so writes are idempotent.

May import: :mod:`champion.errors`, :mod:`champion.monitoring.store`,
:mod:`champion.monitoring.deadletter`, :mod:`champion.project.categories`.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import orjson
import pandas as pd
import sqlalchemy as sa

from champion.errors import ConflictError, NotFoundError, RequestError, Unavailable
from champion.monitoring import deadletter
from champion.monitoring.store import (
    feedback_history_table,
    feedback_table,
    open_database,
    predictions_table,
)
from champion.project.categories import canonical_category

log = logging.getLogger("champion.monitoring")

FLUSH_INTERVAL = 0.5
MAX_BUFFERED = 10_000
PRUNE_EVERY = 3600.0
# Failed writes of one batch in a row before it goes to the dead letter: with the
# default interval, about 2.5 s of retries (SQLite waits up to 30 s for a lock on
# each).
RETRY_LIMIT = 5
# Labels per feedback transaction: a bulk call never holds the database's write lock
# for long (SQLite has one for the whole file), so the server's log writer waits for
# one batch, not the whole call.
FEEDBACK_BATCH = 2_000
# Request ids per lookup query (``IN (...)``): few round trips, well under SQLite's
# limit of 32,766 parameters.
LOOKUP_BATCH = 5_000
# Reused ids whose next free suffix the writer remembers, at most.
MAX_REMEMBERED = 10_000
# The separator of a reused request id's suffix (``ID~2``).
REUSED = "~"


@dataclass(frozen=True)
class Outputs:
    """One request's predictions as the model gave them (one array, not a value per
    row): what the log stores for them is made by the writer, off the request's path.

    Attributes:
        task: binary, multiclass, regression or multilabel.
        predictions: labels (any dtype), values, or a rows × tags 0/1 matrix.
        tags: a multilabel model's tag names, in column order.
    """

    task: str
    predictions: np.ndarray
    tags: tuple[str, ...] = ()

    def __len__(self) -> int:
        return len(self.predictions)

    def rows(self) -> list[dict]:
        """Per row, the JSON-ready output: ``{"label"}``, ``{"value"}`` or
        ``{"predicted_tags"}``; NumPy scalars become Python values (``tolist``)."""
        if self.task == "regression":
            return [{"value": v} for v in np.asarray(self.predictions, dtype=float).tolist()]
        if self.task == "multilabel":
            on = np.asarray(self.predictions).astype(bool).tolist()
            return [
                {"predicted_tags": [t for t, is_on in zip(self.tags, row, strict=True) if is_on]}
                for row in on
            ]
        return [{"label": label} for label in np.asarray(self.predictions).tolist()]


@dataclass(frozen=True)
class Scored:
    """One request's predictions by one arm, as the server has them (arrays, not rows).

    Attributes:
        inputs: model input column → one value per row (as the model saw them).
        outputs: one JSON-ready value per row (label, value or tag list), or
            :class:`Outputs`, the predictions as one array, turned into those values
            by the writer.
    """

    request_id: str
    ts: float
    model: str
    version: str
    arm: str
    inputs: Mapping[str, np.ndarray]
    outputs: list | Outputs
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
    """A true label for row ``row`` of request ``request_id``; ``replace``: it may
    overwrite a different label stored earlier (which is kept in the history)."""

    request_id: str
    label: object
    row: int = 0
    replace: bool = False


@dataclass(frozen=True)
class LabelSpace:
    """The labels a model can be given: its task and what it knows.

    Attributes:
        task: binary, multiclass, regression or multilabel.
        classes: a classifier's classes, spelt as :func:`canonical_category` spells
            them; empty: not known (any class is taken).
        tags: a multilabel model's tag vocabulary; empty: not known (any tag).
    """

    task: str
    classes: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class Replayed:
    """What ``champion log replay`` did: dead-letter files written and removed, rows
    written, and the files left (their write failed again; the message says why)."""

    files: int
    rows: int
    left: list[str]


class PredictionLog:
    """The log at ``url`` (a SQLAlchemy URL). Call :meth:`start` to write in the
    background and :meth:`close` to stop and write what is left.

    Args:
        dead_letter: the folder for batches the database would not take (default:
            :func:`champion.monitoring.deadletter.folder_for` ``url``).
        retry_limit: failed writes of a batch in a row before it goes there.
    """

    def __init__(
        self,
        url: str,
        *,
        flush_interval: float = FLUSH_INTERVAL,
        max_buffered: int = MAX_BUFFERED,
        retention_days: float | None = None,
        dead_letter: Path | None = None,
        retry_limit: int = RETRY_LIMIT,
    ) -> None:
        self.url = url
        self.flush_interval = flush_interval
        self.max_buffered = max_buffered
        self.retention_days = retention_days
        self.dead_letter = dead_letter or deadletter.folder_for(url)
        self.retry_limit = retry_limit
        self.engine = open_database(url)
        self._buffer: list[Scored] = []
        self._buffered_rows = 0
        self._failures = 0  # failed writes in a row
        self._next_free: dict[str, int] = {}  # see _distinct_keys
        self._lock = threading.Lock()  # guards the buffer
        self._write_lock = threading.Lock()  # one writer at a time
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self.written = 0
        self.dead_lettered = 0

    # -- writing ---------------------------------------------------------------------

    def record(self, scored: Scored) -> None:
        """Buffer one request's predictions. When the buffer is full: with the
        background writer running, this request's rows go to the dead letter (a local
        file) at once; without it, the buffer is written first (and moved to the dead
        letter if that fails). Never raises for the database, and with the writer
        running never waits for it."""
        with self._lock:
            full = self._buffered_rows + scored.rows > self.max_buffered
        if full and self._thread is not None and self._thread.is_alive():
            # The writer is behind or failing (it is woken at half full): a write here
            # would wait on the request's path for a database that may be locked for
            # its whole busy timeout (30 s), so spill rather than wait.
            self._wake.set()
            self._spill(scored)
            return
        if full:
            self._flush(evict=True)
        with self._lock:
            self._buffer.append(scored)
            self._buffered_rows += scored.rows
            half_full = self._buffered_rows >= self.max_buffered // 2
        if half_full:  # wake the writer early, so requests rarely write themselves
            self._wake.set()

    def flush(self) -> int:
        """Write everything buffered now, in one transaction. Returns the rows written:
        0 when the write failed (the batch stays buffered for the next flush, or goes to
        the dead letter past ``retry_limit``). Never raises for the database."""
        return self._flush(evict=False)

    @property
    def pending(self) -> int:
        """Rows accepted and not yet written (buffered, or waiting for a retry)."""
        with self._lock:
            return self._buffered_rows

    def _flush(self, *, evict: bool) -> int:
        with self._write_lock:
            with self._lock:
                # A snapshot: the batch leaves the buffer only once it is written (or
                # dead-lettered); requests keep appending behind it meanwhile.
                batch = list(self._buffer)
            if not batch:
                return 0
            rows = sum(scored.rows for scored in batch)
            try:
                self._write([_row_of(s) for s in batch])
            except (sa.exc.DataError, sa.exc.IntegrityError) as e:
                # A row the database refuses (an id longer than the column), not the
                # database failing: write the others, and keep only the refused ones.
                log.warning("prediction log: a row was refused: %s", _first_line(e))
                return self._one_by_one(batch)
            except Exception as e:  # any failure: the batch is kept, nothing is lost
                self._failures += 1
                log.warning(
                    "prediction log: writing %d rows failed (%d in a row), kept for a retry: %s",
                    rows,
                    self._failures,
                    _first_line(e),
                )
                if evict or self._failures >= self.retry_limit:
                    self._to_dead_letter(batch, rows)
                return 0
            self._failures = 0
            self._forget(batch, rows)
            self.written += rows
            return rows

    def _one_by_one(self, batch: list[Scored]) -> int:
        """Write each request of ``batch`` alone; the ones refused go to the dead
        letter at once (retrying them cannot help), the others are written. If the
        database itself fails meanwhile, the rest stays buffered for the next flush."""
        written, refused, done = 0, [], len(batch)
        for index, scored in enumerate(batch):
            try:
                self._write([_row_of(scored)])
                written += scored.rows
            except (sa.exc.DataError, sa.exc.IntegrityError):
                refused.append(scored)
            except Exception:
                done = index
                break
        self._forget(batch[:done], sum(s.rows for s in batch[:done]))
        if refused:
            self._to_dead_letter(refused, sum(s.rows for s in refused), forget=False)
        self.written += written
        return written

    def _spill(self, scored: Scored) -> None:
        """One request's rows to the dead letter, never through the buffer (which the
        writer may be writing from); in memory over the bound if the disk fails too."""
        why = f"buffer full ({self.max_buffered} rows) while the writer is behind"
        if not self._keep_on_disk([scored], scored.rows, why):
            with self._lock:
                self._buffer.append(scored)
                self._buffered_rows += scored.rows

    def _to_dead_letter(self, batch: list[Scored], rows: int, *, forget: bool = True) -> None:
        """``batch`` (``rows`` rows) to the dead letter, then out of the buffer
        (``forget``); if the disk fails too, it stays buffered (put back when taken
        out already) rather than being lost."""
        if not self._keep_on_disk(batch, rows, "the database would not take them"):
            if not forget:  # out of the buffer already: put them back
                with self._lock:
                    self._buffer[:0] = batch
                    self._buffered_rows += rows
            return
        if forget:
            self._forget(batch, rows)
        self._failures = 0

    def _keep_on_disk(self, batch: list[Scored], rows: int, why: str) -> bool:
        """Write ``batch`` as one dead-letter file and say so; False (said too) when the
        disk refuses it, and the caller keeps it in memory over the bound."""
        try:
            path = deadletter.write(self.dead_letter, [_row_of(s) for s in batch])
        except OSError as e:
            log.error("prediction log: %d rows kept in memory, dead letter failed: %s", rows, e)
            return False
        with self._lock:
            self.dead_lettered += rows
        log.error(
            "prediction log: %s; %d rows moved to the dead letter %s; "
            "'champion log replay' writes them to the log",
            why,
            rows,
            path,
        )
        return True

    def _forget(self, batch: list[Scored], rows: int) -> None:
        """Drop ``batch`` (the buffer's head) from the buffer."""
        with self._lock:
            del self._buffer[: len(batch)]
            self._buffered_rows -= rows

    def _write(self, rows: list[dict]) -> int:
        """Insert ``rows`` in one transaction, reused ids given a distinct key and rows
        written already skipped; returns the rows inserted."""
        with self.engine.begin() as connection:
            fresh, learnt = _distinct_keys(connection, rows, self._next_free)
            if fresh:
                _insert(connection, fresh)
        # Learnt only once written: a retried batch checks its keys afresh.
        if len(self._next_free) > MAX_REMEMBERED:
            self._next_free.clear()
        self._next_free.update(learnt)
        return len(fresh)

    def replay_dead_letter(self) -> Replayed:
        """Write every batch in the dead letter to the log, removing each file once it
        is written (a batch written before is skipped row by row, so a replay can run
        twice). A batch whose write fails stays, named in ``left``."""
        files = rows = 0
        left = []
        for path in deadletter.pending(self.dead_letter):
            batch = deadletter.read(path)
            try:
                self._write(batch)
            except Exception as e:
                left.append(f"{path.name}: {_first_line(e)}")
                continue
            path.unlink()
            files += 1
            rows += sum(row["rows"] for row in batch)
        return Replayed(files, rows, left)

    def start(self) -> PredictionLog:
        """Write in a background thread every ``flush_interval`` seconds."""
        self._thread = threading.Thread(target=self._run, name="prediction-log", daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop the background writer and write what is left; what the database does
        not take then goes to the dead letter."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join()
        self._flush(evict=True)
        self.engine.dispose()

    def _run(self) -> None:
        last_prune = 0.0
        while not self._stop.is_set():
            self._wake.wait(self.flush_interval)
            self._wake.clear()
            self.flush()
            try:
                if self.retention_days and time.time() - last_prune > PRUNE_EVERY:
                    self.prune(self.retention_days)
                    last_prune = time.time()
            except Exception as e:  # a database hiccup must not kill the writer
                log.error("prediction log: pruning failed, will retry: %s", e)

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
        """Join true labels to logged predictions.

        Every label is checked before any is written: a request id (or row) never
        logged, or a different label for a row that has one already (unless the label
        says ``replace``), refuses the whole call. Then the labels are written in
        transactions of :data:`FEEDBACK_BATCH`, so a bulk call never holds the
        database for long. The same label again changes nothing; a replaced label is
        kept in ``feedback_history`` with its time and its replacement.

        Returns:
            the number of labels given (unchanged ones included).
        Raises:
            RequestError: one row is given two different labels in the call.
            NotFoundError: a request id (or row) was never logged; none is stored.
            ConflictError: a row has a different label and ``replace`` was not asked
                (naming the request id); none is stored. Also when another sender
                labels the same row while this call writes (labels written up to
                then stay).
            Unavailable: the database cannot be read or written now, or a request
                is still waiting for its write to the log: try again.
        """
        wanted = _one_per_row(labels)
        self.flush()  # a request answered a moment ago may still be in the buffer
        self._refuse_unwritten({request_id for request_id, _ in wanted})
        try:
            stored = self._stored_labels(wanted)
            new, replaced = _changes(wanted, stored)
            now = time.time()
            for chunk in _chunks(new, FEEDBACK_BATCH):
                with self.engine.begin() as connection:
                    connection.execute(feedback_table.insert(), [_label_row(i, now) for i in chunk])
            for chunk in _chunks(replaced, FEEDBACK_BATCH):
                with self.engine.begin() as connection:
                    _replace(connection, [(i, stored[i.request_id, i.row]) for i in chunk], now)
        except sa.exc.IntegrityError:
            raise ConflictError(
                "another sender labelled some of these rows meanwhile; send the labels "
                "again to see which",
                field="feedback",
            ) from None
        except sa.exc.SQLAlchemyError as e:  # locked, unreachable: the client may retry
            raise Unavailable(f"the prediction log cannot be used now: {_first_line(e)}") from e
        return len(wanted)

    def _refuse_unwritten(self, request_ids: set[str]) -> None:
        """A label for a request whose prediction is still waiting for its write (the
        database refused it, it will be retried) would be refused as never logged: say
        to try again instead."""
        with self._lock:
            waiting = {s.request_id for s in self._buffer} & request_ids
        if waiting:
            raise Unavailable(
                f"the prediction of request id {sorted(waiting)[0]} is not written to the "
                "log yet (the database refused it; it is retried): try again shortly"
            )

    def _stored_labels(self, wanted: dict) -> dict[tuple[str, int], tuple[str, float]]:
        """The labels stored for the rows of ``wanted`` (JSON text and time), after
        checking every row was logged.

        Raises:
            NotFoundError: naming the request ids (and rows) never logged.
        """
        ids = sorted({request_id for request_id, _ in wanted})
        rows_of: dict[str, int] = {}
        stored = {}
        p, f = predictions_table.c, feedback_table.c
        with self.engine.connect() as connection:
            for chunk in _chunks(ids, LOOKUP_BATCH):
                query = sa.select(p.request_id, sa.func.max(p.rows).label("rows"))
                query = query.where(p.request_id.in_(chunk)).group_by(p.request_id)
                rows_of.update({r.request_id: r.rows for r in connection.execute(query)})
                query = sa.select(f.request_id, f.row, f.label, f.ts).where(f.request_id.in_(chunk))
                for r in connection.execute(query):
                    if (r.request_id, r.row) in wanted:
                        stored[r.request_id, r.row] = (r.label, r.ts)
        unknown = sorted((r, n) for r, n in wanted if n >= rows_of.get(r, 0))
        if unknown:
            shown = ", ".join(f"{r}" + (f" row {n}" if n else "") for r, n in unknown[:5])
            more = f" and {len(unknown) - 5} more" if len(unknown) > 5 else ""
            raise NotFoundError(f"no logged prediction for request id {shown}{more}")
        return stored

    def label_history(self, request_id: str, row: int = 0) -> list[dict]:
        """The labels replaced for one row, oldest first: ``{"label", "ts",
        "replaced_by", "replaced_at"}``."""
        h = feedback_history_table.c
        query = (
            sa.select(h.label, h.ts, h.replaced_by, h.replaced_at)
            .where((h.request_id == request_id) & (h.row == row))
            .order_by(h.id)
        )
        with self.engine.connect() as connection:
            return [
                {
                    "label": json.loads(r.label),
                    "ts": r.ts,
                    "replaced_by": json.loads(r.replaced_by),
                    "replaced_at": r.replaced_at,
                }
                for r in connection.execute(query)
            ]

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
                try:
                    labels[found.request_id, found.row] = json.loads(found.label)
                except (TypeError, ValueError):  # written by hand or a foreign tool
                    log.warning(
                        "prediction log: the label of %s row %s is not JSON; skipped",
                        found.request_id,
                        found.row,
                    )
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


def normalize_label(label, space: LabelSpace | str, where: str = "label", new_tags=()):
    """A label in the one form the log keeps, checked against what the model knows:

    - a class (binary, multiclass) as its canonical string (``true``, ``"True"`` and
      ``1.0``/``1`` agree), one of ``space.classes``: spelt exactly, or the one class
      that differs only in case (``"true"`` is ``"True"``);
    - a finite number for regression;
    - a sorted list of tags for multilabel (a string is split on ``|``), each one of
      ``space.tags`` or named in ``new_tags`` (tags the model does not know yet, added
      on purpose).

    ``space`` may be just the task, when what the model knows is not at hand.

    Raises:
        RequestError: (400) the label cannot be one for this model; for a class, the
            message lists the allowed classes.
    """
    if isinstance(space, str):
        space = LabelSpace(space)
    if space.task == "regression":
        return _number(label, where)
    if space.task == "multilabel":
        return _tags(label, space, where, new_tags)
    return _class(label, space, where)


def _number(label, where: str) -> float:
    if isinstance(label, bool) or not isinstance(label, int | float | str):
        raise RequestError(f"{where} must be a number; got {label!r}", field=where)
    try:
        value = float(label)
    except ValueError:
        raise RequestError(f"{where} must be a number; got {label!r}", field=where) from None
    if not math.isfinite(value):
        raise RequestError(f"{where} must be a finite number; got {label!r}", field=where)
    return value


def _tags(label, space: LabelSpace, where: str, new_tags) -> list[str]:
    tags = label.split("|") if isinstance(label, str) else label
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise RequestError(f"{where} must be a list of tags (or 'a|b'); got {label!r}", field=where)
    tags = sorted({t.strip() for t in tags if t.strip()})
    unknown = [t for t in tags if t not in space.tags and t not in new_tags]
    if space.tags and unknown:
        raise RequestError(
            f"{where}: tag(s) {', '.join(map(repr, unknown))} unknown to the model; its tags "
            f"are: {', '.join(space.tags)}. To add a new tag on purpose, list it in "
            '"new_tags" too',
            field=where,
        )
    return tags


def _class(label, space: LabelSpace, where: str) -> str:
    if isinstance(label, list | dict) or label is None or label == "":
        raise RequestError(f"{where} must be a class label; got {label!r}", field=where)
    value = canonical_category(label)
    if not space.classes or value in space.classes:
        return value
    same = [c for c in space.classes if c.casefold() == value.casefold()]
    if len(same) == 1:
        return same[0]
    raise RequestError(
        f"{where} must be one of the model's classes: {', '.join(space.classes)}; got {label!r}",
        field=where,
    )


def parse_labels(payload, space: LabelSpace | str) -> list[Label]:
    """Labels from a ``/feedback`` body, normalised and checked for ``space`` (see
    :func:`normalize_label`).

    The body is one object, a list, or ``{"feedback": [...], "replace": false}``; each
    item is ``{"request_id", "label", "row" (default 0), "replace" (default: the
    body's, else false), "new_tags" (multilabel: tags unknown to the model, added on
    purpose)}``.

    Raises:
        RequestError: (400) naming the item and what is wrong with it.
    """
    replace_all = False
    if isinstance(payload, dict) and "feedback" in payload:
        replace_all = _flag(payload.get("replace", False), "replace")
        payload = payload["feedback"]
    if isinstance(payload, dict):
        payload = [payload]
    if not isinstance(payload, list) or not payload:
        raise RequestError(
            'feedback must be {"request_id", "label"}, a non-empty list of them, or '
            '{"feedback": [...]}',
            field="body",
        )
    space = LabelSpace(space) if isinstance(space, str) else space
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
        # 2.0 is the integer 2 to JSON (and to JSON Schema); 1.5 or -1 is no row.
        if isinstance(row, float) and row.is_integer():
            row = int(row)
        if not isinstance(row, int) or isinstance(row, bool) or row < 0:
            raise RequestError(f"{where}.row must be a row number (0, 1, ...)", field=where)
        new_tags = _new_tags(item.get("new_tags", []), space, f"{where}.new_tags")
        label = normalize_label(item["label"], space, where, new_tags)
        replace = _flag(item.get("replace", replace_all), f"{where}.replace")
        labels.append(Label(request_id, label, row, replace))
    return labels


def _flag(value, where: str) -> bool:
    if not isinstance(value, bool):
        raise RequestError(f"{where} must be true or false; got {value!r}", field=where)
    return value


def _new_tags(value, space: LabelSpace, where: str) -> list[str]:
    if value == []:
        return []
    if space.task != "multilabel":
        raise RequestError(f"{where}: only a multilabel model takes new tags", field=where)
    tags = value.split("|") if isinstance(value, str) else value
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise RequestError(f"{where} must be a list of tags (or 'a|b'); got {value!r}", field=where)
    return [t.strip() for t in tags if t.strip()]


def _one_per_row(labels: Iterable[Label]) -> dict[tuple[str, int], Label]:
    """The labels by row; a row given twice must be given the same label."""
    wanted: dict[tuple[str, int], Label] = {}
    for item in labels:
        key = (item.request_id, item.row)
        earlier = wanted.get(key)
        if earlier is not None and earlier.label != item.label:
            raise RequestError(
                f"request id {item.request_id} row {item.row} is given two labels in one "
                f"call: {earlier.label!r} and {item.label!r}",
                field="feedback",
            )
        wanted[key] = item
    return wanted


def _changes(wanted: dict, stored: dict) -> tuple[list[Label], list[Label]]:
    """The labels to insert and to replace; one already stored is neither.

    Raises:
        ConflictError: a row has a different label and the new one does not say
            ``replace``; naming the request ids.
    """
    new, replaced, refused = [], [], []
    for key, item in wanted.items():
        if key not in stored:
            new.append(item)
        elif json.loads(stored[key][0]) != item.label:
            (replaced if item.replace else refused).append((item, json.loads(stored[key][0])))
    if refused:
        item, old = refused[0]
        row = f" row {item.row}" if item.row else ""
        more = f" (and {len(refused) - 1} more)" if len(refused) > 1 else ""
        raise ConflictError(
            f"request id {item.request_id}{row} already has the label {old!r}, not "
            f'{item.label!r}{more}; send "replace": true to change it (the old label is '
            "kept in the history)",
            field="replace",
        )
    return new, [item for item, _ in replaced]


def _label_row(item: Label, now: float) -> dict:
    return {
        "request_id": item.request_id,
        "row": item.row,
        "label": json.dumps(item.label),
        "ts": now,
    }


def _replace(connection: sa.Connection, pairs: list[tuple[Label, tuple[str, float]]], now) -> None:
    """Overwrite labels, keeping each old one (with its time) in the history."""
    connection.execute(
        feedback_history_table.insert(),
        [
            {
                "request_id": item.request_id,
                "row": item.row,
                "label": old,
                "ts": old_ts,
                "replaced_by": json.dumps(item.label),
                "replaced_at": now,
            }
            for item, (old, old_ts) in pairs
        ],
    )
    f = feedback_table.c
    update = (
        feedback_table.update()
        .where((f.request_id == sa.bindparam("key_id")) & (f.row == sa.bindparam("key_row")))
        .values(label=sa.bindparam("new_label"), ts=sa.bindparam("new_ts"))
    )
    connection.execute(
        update,
        [
            {
                "key_id": item.request_id,
                "key_row": item.row,
                "new_label": json.dumps(item.label),
                "new_ts": now,
            }
            for item, _ in pairs
        ],
    )


def _distinct_keys(
    connection: sa.Connection, rows: list[dict], next_free: dict[str, int]
) -> tuple[list[dict], dict[str, int]]:
    """``rows`` to insert, each under a request id the log gives no other request: a
    reused id becomes ``ID~2``, ``ID~3``, ...; a row written already (same key, arm,
    model and time) is left out. Reads only; the insert's unique key catches a race
    with another process, and the write is retried.

    A request is its client's id and its time: the arms of one request (the champion or
    the canary, and the shadow) share one key, and a key is never shared by two
    requests whatever their arms, since feedback names a key, not an arm.

    ``next_free``: id → the suffix to try first, learnt from earlier writes, so that a
    client that sends one id all day costs one lookup a row, not one per earlier reuse.
    Returns the rows and what ``next_free`` learns once they are written.
    """
    p = predictions_table.c
    owner: dict[str, float] = {}  # key → the time of the request that has it
    taken_arms: set[tuple[str, str]] = set()  # (key, arm)
    looked: set[str] = set()
    learnt: dict[str, int] = {}

    def look(ids: set[str]) -> None:
        for chunk in _chunks(sorted(ids - looked), LOOKUP_BATCH):
            query = sa.select(p.request_id, p.arm, p.ts).where(p.request_id.in_(chunk))
            for found in connection.execute(query):
                owner.setdefault(found.request_id, found.ts)
                taken_arms.add((found.request_id, found.arm))
            looked.update(chunk)

    look({row["request_id"] for row in rows})
    written = _written_at(connection, rows)
    at_time: dict[float, list[str]] = {}  # the keys logged (or given here) at a time
    for (_, _, ts), keys in written.items():
        at_time.setdefault(ts, []).extend(keys)

    def keeps(key: str, base: str) -> bool:
        """``key`` is ``base`` or ``base`` with a reuse suffix."""
        suffix = key[len(base) + 1 :]
        return key == base or (key.startswith(base + REUSED) and suffix.isdigit())

    fresh, reused = [], 0
    for row in rows:
        base, arm = row["request_id"], row["arm"]
        if any(keeps(key, base) for key in written.get((arm, row["model"], row["ts"]), ())):
            continue  # this very row is written already
        # Another arm of this request (same id, same time) has a key: share it.
        shared = [k for k in at_time.get(row["ts"], ()) if keeps(k, base)]
        if shared and (shared[0], arm) not in taken_arms:
            taken_arms.add((shared[0], arm))
            fresh.append(row if shared[0] == base else {**row, "request_id": shared[0]})
            continue
        n = max(learnt.get(base, 1), next_free.get(base, 1))
        while True:
            key = base if n == 1 else f"{base}{REUSED}{n}"
            if key not in looked:  # a reused id: look its next candidates up at once
                look({base if m == 1 else f"{base}{REUSED}{m}" for m in range(n, n + 16)})
            free = key not in owner or (owner[key] == row["ts"] and (key, arm) not in taken_arms)
            if free:
                owner[key] = row["ts"]
                taken_arms.add((key, arm))
                at_time.setdefault(row["ts"], []).append(key)
                fresh.append(row if n == 1 else {**row, "request_id": key})
                learnt[base] = n  # the next request with this id starts looking here
                reused += n > 1
                break
            n += 1
    if reused:
        log.warning("prediction log: %d reused request id(s) logged as ID%sN", reused, REUSED)
    return fresh, {k: n for k, n in learnt.items() if n > 1}


# The columns a logged request fills, in the order of the driver-level INSERT.
_COLUMNS = (
    "request_id",
    "ts",
    "model",
    "version",
    "arm",
    "rows",
    "inputs",
    "outputs",
    "latency_ms",
)


def _insert(connection: sa.Connection, rows: list[dict]) -> None:
    """Insert ``rows`` (dicts of :data:`_COLUMNS`): on SQLite with the driver's
    ``executemany``, elsewhere through SQLAlchemy.

    On SQLite through the driver, not ``predictions_table.insert()``: SQLAlchemy
    processes every row's parameters in Python, which cost the writer (a thread sharing
    the server's cores and its GIL) a quarter of its time, more than the insert itself.
    Elsewhere SQLAlchemy it is: psycopg2's own ``executemany`` sends one statement per
    row (a round trip each), where SQLAlchemy batches them into multi-row INSERTs.
    """
    if connection.dialect.name != "sqlite":
        connection.execute(predictions_table.insert(), rows)
        return
    sql = (
        f"INSERT INTO {predictions_table.name} ({', '.join(_COLUMNS)}) "
        f"VALUES ({', '.join('?' * len(_COLUMNS))})"
    )
    connection.exec_driver_sql(sql, [tuple(row[c] for c in _COLUMNS) for row in rows])


def _written_at(connection: sa.Connection, rows: list[dict]) -> dict[tuple, list[str]]:
    """The keys logged at the times of ``rows``, by (arm, model, time): a row of
    ``rows`` found there under its id (or a suffixed one) is written already."""
    p = predictions_table.c
    written: dict[tuple, list[str]] = {}
    for chunk in _chunks(sorted({row["ts"] for row in rows}), LOOKUP_BATCH):
        query = sa.select(p.request_id, p.arm, p.model, p.ts).where(p.ts.in_(chunk))
        for found in connection.execute(query):
            written.setdefault((found.arm, found.model, found.ts), []).append(found.request_id)
    return written


def _first_line(error: Exception) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0]


def _row_of(scored: Scored) -> dict:
    return {
        "request_id": scored.request_id,
        "ts": scored.ts,
        "model": scored.model,
        "version": scored.version,
        "arm": scored.arm,
        "rows": scored.rows,
        "inputs": _dumps(dict(scored.inputs)),
        "outputs": _dumps(
            scored.outputs.rows() if isinstance(scored.outputs, Outputs) else list(scored.outputs)
        ),
        "latency_ms": scored.latency_ms,
    }


def _dumps(value) -> str:
    """JSON of NumPy arrays and plain values; NaN (a missing number) becomes null."""
    return orjson.dumps(value, default=_plain, option=orjson.OPT_SERIALIZE_NUMPY).decode()


def _plain(value):
    if isinstance(value, np.ndarray):  # object arrays (strings, None): orjson wants lists
        return value.tolist()
    raise TypeError(f"cannot log a {type(value).__name__}")


def _readable(requests) -> tuple[list, list[tuple[list, dict]]]:
    """The requests whose stored inputs and outputs can be read (JSON, one value per
    row), with them parsed; any other is skipped with a warning, never an error: one
    bad row must not stop monitoring."""
    kept, parsed = [], []
    for request in requests:
        try:
            outputs, inputs = orjson.loads(request.outputs), orjson.loads(request.inputs)
        except (TypeError, orjson.JSONDecodeError):
            outputs, inputs = None, None
        fits = (
            isinstance(outputs, list)
            and len(outputs) == request.rows
            and isinstance(inputs, dict)
            and all(isinstance(v, list) and len(v) == request.rows for v in inputs.values())
        )
        if not fits:
            log.warning(
                "prediction log: request %s (arm %s) cannot be read; skipped",
                request.request_id,
                request.arm,
            )
            continue
        kept.append(request)
        parsed.append((outputs, inputs))
    return kept, parsed


def _expand(requests, labels: dict) -> pd.DataFrame:
    """Logged requests as one DataFrame row per input row, oldest first; linear in the
    rows (each request's values are appended once, never copied again)."""
    requests, parsed = _readable(requests)
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
    for request, (request_outputs, request_inputs) in zip(requests, parsed, strict=True):
        outputs.extend(request_outputs)
        for column, values in request_inputs.items():
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
