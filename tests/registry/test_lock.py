"""registry.lock on a real store, twice (a SQLite file and a PostgreSQL-backed
``mlflow server``): holders take turns, a dead holder's ticket expires, a live one is
waited for, and the lock's own registered model never shows as a model."""

from __future__ import annotations

import itertools
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from champion.errors import ConflictError
from champion.registry.lock import lock_name, registry_lock
from champion.registry.tracking import client
from champion.registry.versions import list_versions

pytestmark = pytest.mark.integration


def test_holders_take_turns(settings, unique_name):
    spans: list[tuple[float, float]] = []
    start = threading.Barrier(3)

    def hold() -> None:
        start.wait()
        with registry_lock(settings, unique_name, purpose="test"):
            entered = time.monotonic()
            time.sleep(0.5)
            spans.append((entered, time.monotonic()))

    threads = [threading.Thread(target=hold) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    spans.sort()
    assert len(spans) == 3
    for (_, left), (right, _) in itertools.pairwise(spans):
        assert left <= right, f"two holders at once: {spans}"
    # Every ticket was given back: the next caller gets the lock at once.
    tickets = client(settings).search_model_versions(f"name = '{lock_name(unique_name)}'")
    assert tickets == []


def _holder(settings, name: str, then: str) -> subprocess.Popen:
    """A process that takes the lock (ttl 2 s), says 'held', then ``then``."""
    code = textwrap.dedent(f"""
        import os, time
        from champion.registry.lock import registry_lock
        from champion.settings import Settings
        settings = Settings.from_env({str(settings.project_dir)!r},
            environ={{"MLFLOW_TRACKING_URI": {settings.tracking_uri!r}}})
        with registry_lock(settings, {name!r}, purpose="holder", ttl=2):
            print("held", flush=True)
            {then}
    """)
    process = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "held"
    return process


def test_a_dead_holders_ticket_expires(settings, unique_name):
    # os._exit leaves the block as a SIGKILL would: no release, no more touches.
    _holder(settings, unique_name, "os._exit(0)").wait()
    started = time.monotonic()
    with registry_lock(settings, unique_name, ttl=2, wait=30):
        waited = time.monotonic() - started
    assert 1.0 < waited < 15, waited  # waited for the ttl, not for the deadline


def test_a_live_holder_is_waited_for_then_named(settings, unique_name):
    holder = _holder(settings, unique_name, "time.sleep(60)")
    try:
        with (
            pytest.raises(ConflictError, match=rf"being changed by holder by pid {holder.pid}"),
            registry_lock(settings, unique_name, ttl=2, wait=5),
        ):
            pass  # pragma: no cover - the lock is never granted
    finally:
        holder.kill()
        holder.wait()


def test_the_lock_is_not_a_model(settings, unique_name):
    with registry_lock(settings, unique_name):
        names = {row.name for row in list_versions(settings)}
    assert lock_name(unique_name) not in names
