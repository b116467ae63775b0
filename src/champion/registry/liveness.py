"""Runs that outlive their process: tell a dead run from a live one, and close it.

A candidate run is RUNNING while ``champion train`` fits it. A process killed in the
middle (SIGKILL, out of memory, a closed laptop) never ends it, and MLflow would show
it RUNNING, with no model, forever. So each run champion starts says who runs it and
that they still do:

======================  ===========================================================
tag                     value
======================  ===========================================================
``champion.host``       the host name of the process that started the run
``champion.pid``        that process's id
``champion.heartbeat``  seconds since the epoch, refreshed every ``HEARTBEAT``
                        seconds by a background thread while the run is open
======================  ===========================================================

A RUNNING run is **dead** when it was started on this host and its process is gone
(known at once), or when its heartbeat is older than ``STALE`` seconds (ten missed
beats: a run from another host, or a pid that another process has taken since). The
two together because each misses what the other sees: a pid answers at once, but only
on its own host, and a reused pid looks alive; a heartbeat works from any host, but
only after a wait. A run with neither tag (logged by hand or by another tool) is left
alone: nothing says whether it is alive.

:func:`close_dead_runs` marks each dead run FAILED, with tag
``champion.failure_reason`` saying why, so the MLflow UI tells the truth. ``champion
train`` calls it before its first run, and ``compare`` (hence ``register``) before
ranking.

May import: ``champion.errors``, ``champion.settings``, ``champion.registry.tracking``.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress

from mlflow.tracking import MlflowClient

from champion.registry.tracking import client, translate_errors
from champion.settings import Settings

HOST_TAG = "champion.host"
PID_TAG = "champion.pid"
HEARTBEAT_TAG = "champion.heartbeat"
REASON_TAG = "champion.failure_reason"
HEARTBEAT = 60.0
STALE = 600.0


def liveness_tags() -> dict[str, str]:
    """The tags that let a later command tell whether this process's run is alive."""
    return {
        HOST_TAG: socket.gethostname(),
        PID_TAG: str(os.getpid()),
        HEARTBEAT_TAG: f"{time.time():.0f}",
    }


@contextmanager
def keep_refreshing(every: float, refresh: Callable[[], object]) -> Iterator[None]:
    """Call ``refresh`` every ``every`` seconds in a background thread for the block,
    and stop (waiting for a call in progress) when it ends. A failed call is skipped:
    what is refreshed (a run's heartbeat, a lock's ticket) outlives several misses."""
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(every):
            with suppress(Exception):
                refresh()

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def heartbeat(mlflow_client: MlflowClient, run_id: str, every: float = HEARTBEAT):
    """Refresh ``run_id``'s heartbeat tag every ``every`` seconds for the block (a
    missed beat is one of ten before the run looks dead)."""
    return keep_refreshing(
        every, lambda: mlflow_client.set_tag(run_id, HEARTBEAT_TAG, f"{time.time():.0f}")
    )


def why_dead(tags: dict[str, str], *, now: float | None = None, stale: float = STALE) -> str | None:
    """Why a RUNNING run with these tags is dead, or None if it may be alive."""
    now = time.time() if now is None else now
    host, pid, beat = tags.get(HOST_TAG), tags.get(PID_TAG), tags.get(HEARTBEAT_TAG)
    if host == socket.gethostname() and pid and pid.isdigit() and not _alive(int(pid)):
        return f"process {pid} on {host} that ran it is gone"
    if beat and beat.replace(".", "", 1).isdigit() and now - float(beat) > stale:
        return (
            f"no heartbeat from process {pid or '?'} on {host or '?'} "
            f"for {now - float(beat):.0f}s (more than {stale:.0f}s)"
        )
    return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # signal 0: no signal, only the check that the process exists
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, and belongs to someone else
        return True
    return True


def close_dead_runs(settings: Settings, experiment_id: str, *, by: str) -> list[str]:
    """Mark every dead RUNNING run of ``experiment_id`` FAILED, tagged with the reason
    and ``by`` (the command that noticed); return their ids."""
    mlflow_client = client(settings)
    closed = []
    with translate_errors():
        runs = mlflow_client.search_runs(
            [experiment_id], filter_string="attributes.status = 'RUNNING'", max_results=1000
        )
        for run in runs:
            reason = why_dead(run.data.tags)
            if reason is None:
                continue
            mlflow_client.set_tag(
                run.info.run_id, REASON_TAG, f"{reason}; marked FAILED by champion {by}"
            )
            beat = run.data.tags.get(HEARTBEAT_TAG, "")
            # It ended, as far as anyone can know, at its last heartbeat.
            end = int(float(beat) * 1000) if beat.replace(".", "", 1).isdigit() else None
            end = max(end, run.info.start_time) if end is not None else None
            mlflow_client.set_terminated(run.info.run_id, "FAILED", end_time=end)
            closed.append(run.info.run_id)
    return closed
