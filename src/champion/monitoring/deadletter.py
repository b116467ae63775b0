"""The dead letter: prediction-log batches the database would not take, kept on disk
until ``champion log replay`` writes them.

:class:`~champion.monitoring.log.PredictionLog` retries a failed write on each of its
flushes and keeps the batch in memory meanwhile; a batch goes here only when it failed
``retry_limit`` times in a row, when the buffer is full while writes fail, or when the
log closes with the database still refusing. Nothing is dropped: what the database
would not take is on disk, one file per batch, until a replay writes it.

A file is JSON lines, one ``predictions`` row per line (the columns of
:data:`champion.monitoring.store.predictions_table` but ``id``), written under a
temporary name and renamed, so a reader never sees half a batch. The folder is
``<log file>.dead-letter`` beside a SQLite log, else ``predictions.dead-letter`` in the
project folder (a PostgreSQL log has no file to sit beside).

May import: nothing from champion.
"""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path

import orjson

SUFFIX = ".jsonl"


def folder_for(url: str, project_dir: Path | str = ".") -> Path:
    """The dead-letter folder of the log at ``url`` (see the module docstring)."""
    if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
        return Path(url.removeprefix("sqlite:///") + ".dead-letter")
    return Path(project_dir) / "predictions.dead-letter"


def write(folder: Path, rows: list[dict]) -> Path:
    """Keep ``rows`` as one new file in ``folder``; returns its path.

    Raises:
        OSError: the file cannot be written (the caller keeps the rows).
    """
    folder.mkdir(parents=True, exist_ok=True)
    name = f"{time.time_ns()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    partial = folder / f".{name}.partial"
    with partial.open("wb") as file:
        for row in rows:
            file.write(orjson.dumps(row) + b"\n")
        file.flush()
        os.fsync(file.fileno())
    final = folder / f"{name}{SUFFIX}"
    partial.rename(final)
    return final


def pending(folder: Path) -> list[Path]:
    """The batches waiting in ``folder``, oldest first."""
    return sorted(folder.glob(f"*{SUFFIX}")) if folder.is_dir() else []


def read(path: Path) -> list[dict]:
    """The rows of one batch."""
    return [orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip()]
