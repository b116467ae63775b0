"""Run one function per candidate, in worker processes or in this one, with progress.

:func:`run` calls ``function(shared, item, emit)`` for each item and returns the
results in the order of the items. With ``jobs > 1`` the calls run in a pool of
``jobs`` worker processes, and the events each call sends to ``emit`` travel back
over a queue to the caller's ``progress`` (called in this process's main thread).

Why processes and not threads: a fit holds the GIL in much of scikit-learn's Python
code, and MLflow's fluent API (``mlflow.start_run``) keeps one active run per
process; a process per candidate gives each run its own MLflow state, so parallel runs
cannot log into each other.

Why ``forkserver``: a worker forked from a clean server process that has already
imported the training code starts in milliseconds, with none of this process's
threads (heartbeats, MLflow's async loggers) or open database connections. The server
is started by :func:`warm_up` before the data is read, so its imports overlap with
the parent's own work.

``function`` must be importable by name (a module-level function), ``shared`` and the
items picklable: ``shared`` is sent once per worker, each item once.

May import: ``champion.training.progress`` only (the caller passes the function).
"""

from __future__ import annotations

import atexit
import contextlib
import multiprocessing
import os
import queue as queues
import signal
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from multiprocessing import forkserver
from typing import Any

from champion.errors import WorkerDied
from champion.training.progress import Progress, ProgressEvent

# Imported once by the fork server, so no worker pays for them: the training code, and
# what it imports only when first used (shap and numba to explain, MLflow's SQL store
# and its scikit-learn flavor): seconds per worker otherwise.
PRELOAD = [
    "champion.training.train",
    "shap",
    "mlflow.sklearn",
    "mlflow.store.tracking.sqlalchemy_store",
]
_POLL_S = 0.1

_stop_registered = False

# In a worker process: what the pool's initializer received.
_shared: Any = None
_events: Any = None


def cores() -> int:
    """The cores this process may run on (its affinity, not the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def default_jobs(candidates: int) -> int:
    """One worker per core, never more than there are candidates."""
    return max(1, min(cores(), candidates))


def warm_up() -> None:
    """Start the fork server and its imports now, in the background (idempotent)."""
    global _stop_registered
    _context()
    forkserver.ensure_running()
    if not _stop_registered:
        atexit.register(_stop_fork_server)
        _stop_registered = True


def _stop_fork_server() -> None:
    """End the fork server at once when this process ends.

    Left alone, it notices its parent is gone and then finalizes its interpreter, which
    holds scikit-learn, MLflow and numba: a second or two during which it still holds
    our stdout and stderr, so whoever reads them (a pipe, a CI log, a benchmark) waits
    for it. It has nothing to flush: its workers are done when the pool is.
    """
    pid = getattr(forkserver._forkserver, "_forkserver_pid", None)  # no public handle
    if pid is not None:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGTERM)  # it does not handle it: it just ends


def warm_up_for(project, *, only: Sequence[str] | None = None, jobs: int | None = None) -> None:
    """:func:`warm_up` if training ``project`` will use workers: ``jobs`` (else the
    project's ``training.jobs``) is not 1, there are two cores or more, and two
    candidates or more (the defaults are three or four). Knowable before the data is
    read, so the CLI calls it before it imports the training code itself: the two
    imports then run side by side."""
    jobs = jobs or project.spec.training.jobs
    expected = len(only or project.spec.candidates or [None] * 3)
    if jobs != 1 and expected > 1 and cores() > 1:
        warm_up()


def _context():
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(PRELOAD)
    return context


def run(
    function: Callable[[Any, Any, Progress], Any],
    shared: Any,
    items: Sequence[Any],
    *,
    jobs: int,
    progress: Progress,
) -> list[Any]:
    """``[function(shared, item, emit) for item in items]``, in ``jobs`` processes.

    An exception raised by a call is raised here (the first in item order), after the
    calls already running have finished; calls not yet started are cancelled.
    """
    if jobs <= 1 or len(items) <= 1:
        return [function(shared, item, progress) for item in items]
    warm_up()  # idempotent: the fork server runs, and is stopped when this process ends
    context = _context()
    events = context.Queue()
    with ProcessPoolExecutor(
        max_workers=min(jobs, len(items)),
        mp_context=context,
        initializer=_start_worker,
        initargs=(shared, events),
    ) as pool:
        futures = [pool.submit(_call, function, item) for item in items]
        pending: set[Future] = set(futures)
        while pending:
            _drain(events, progress, block=True)
            finished, pending = wait(pending, timeout=0, return_when=FIRST_COMPLETED)
            if any(f.exception() is not None for f in finished):
                for future in pending:
                    future.cancel()
                wait(pending)
                break
        _drain(events, progress, block=False)
    try:
        return [future.result() for future in futures]
    except BrokenProcessPool:
        raise WorkerDied(
            f"a training worker process ended without an answer (killed by the system? "
            f"out of memory?) while training {', '.join(map(_name_of, items))}; "
            f"try fewer at once: --jobs 1"
        ) from None


def _drain(events, progress: Progress, *, block: bool) -> None:
    """Hand every queued event to ``progress``; wait up to a poll interval for the
    first one when ``block``."""
    try:
        event: ProgressEvent = events.get(timeout=_POLL_S) if block else events.get_nowait()
        while True:
            progress(event)
            event = events.get_nowait()
    except queues.Empty:
        return


def _name_of(item: Any) -> str:
    return str(getattr(item, "name", item))


def _start_worker(shared: Any, events) -> None:
    global _shared, _events
    _shared, _events = shared, events


def _call(function: Callable[[Any, Any, Progress], Any], item: Any) -> Any:
    return function(_shared, item, _events.put)
