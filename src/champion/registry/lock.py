"""One writer at a time on a registered model: ``with registry_lock(settings, name): ...``.

``promote``, ``rollback`` and ``register`` (its alias move) read the registry and then
write it. Two of them at once would each act on what they read before the other wrote:
two champions gated against the same old one, a history ``["1", "2", "2"]``, an
archived tag lost. Under the lock each one reads and writes as if it ran alone.

The lock must work wherever the registry is: a SQLite file, or a ``mlflow server`` over
HTTP whose database champion never sees. So it is built from the one atomic operation
MLflow's API offers on every store: creating a model version, which numbers versions
1, 2, 3... with no two alike (a unique key in the store's database).

How it works:

* The lock of model ``NAME`` is a registered model of its own, ``NAME.lock`` (tag
  ``champion.lock`` = ``NAME``; ``champion models`` hides it).
* Each caller takes a *ticket*: a new version of ``NAME.lock``, tagged with the host
  and pid that took it. It holds the lock when no lower ticket is left; it gives the
  lock up by deleting its ticket.
* A ticket is kept alive by a background thread that touches it (updates its
  description) every ``ttl / 4`` seconds; the store stamps each touch with its own
  clock. A ticket not touched for ``ttl`` seconds belongs to a process that died (a
  killed ``champion promote``): waiters skip it and delete it. Its age is measured on
  the store's clock, against the waiter's own latest touch, so two machines' clocks
  never need to agree.
* A caller that has not got the lock after ``wait`` seconds gives up with a
  :class:`~champion.errors.ConflictError` naming the holder.

A process stalled for longer than ``ttl`` (not dead, but not touching its ticket) loses
its claim; ``ttl`` is a minute so that only a frozen process comes near it.

May import: ``champion.errors``, ``champion.settings``, ``champion.registry.tracking``,
``champion.registry.versions``, ``champion.registry.liveness`` (its keep-alive thread).
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress

from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from champion.errors import ConflictError
from champion.registry.liveness import keep_refreshing
from champion.registry.tracking import client, translate_errors
from champion.registry.versions import LOCK_TAG
from champion.settings import Settings

LOCK_SUFFIX = ".lock"
DEFAULT_TTL = 60.0
DEFAULT_WAIT = 600.0
# A model version's source must look like a URI the server accepts; nothing loads it.
_SOURCE = "champion-lock:/ticket"


def lock_name(name: str) -> str:
    """The registered model that holds ``name``'s lock tickets."""
    return f"{name}{LOCK_SUFFIX}"


@contextmanager
def registry_lock(
    settings: Settings,
    name: str,
    *,
    purpose: str = "",
    ttl: float = DEFAULT_TTL,
    wait: float = DEFAULT_WAIT,
    poll: float = 0.2,
) -> Iterator[None]:
    """Hold the lock of registered model ``name`` for the block.

    Args:
        purpose: what the holder is doing (``promote``, ``rollback``), shown to waiters.
        ttl: seconds after which an untouched ticket counts as its holder's death.
        wait: seconds to wait for the lock before giving up.
        poll: seconds between two looks at the tickets while waiting.

    Raises:
        ConflictError: the lock was still held by someone else after ``wait`` seconds.
        TrackingError: the store failed a request.
    """
    ticket = _Ticket(client(settings), lock_name(name), purpose, ttl)
    with translate_errors():
        ticket.take()
    try:
        # Touched while waiting and holding (a missed touch is retried; the ttl allows
        # three), and no longer once the block ends, before the ticket is given up.
        with keep_refreshing(ticket.interval, ticket.touch):
            with translate_errors():
                ticket.wait_turn(name, wait, poll)
            yield
    finally:
        ticket.release()


class _Ticket:
    """One caller's place in the queue of ``lock``."""

    def __init__(self, mlflow_client: MlflowClient, lock: str, purpose: str, ttl: float):
        self.client = mlflow_client
        self.lock = lock
        self.purpose = purpose
        self.ttl_ms = ttl * 1000
        self.interval = ttl / 4
        self.version: int | None = None
        # The store's clock at our latest touch, and ours at the same moment: "now" on
        # the store's clock is the first plus the time elapsed on ours since the second.
        self._touched = (0, 0.0)

    def take(self) -> None:
        """Create the lock model if needed and take a ticket."""
        try:
            self.client.create_registered_model(
                self.lock,
                tags={LOCK_TAG: self.lock.removesuffix(LOCK_SUFFIX)},
                description="champion's lock: one registry writer at a time. Not a model.",
            )
        except MlflowException as e:
            if e.error_code != "RESOURCE_ALREADY_EXISTS":
                raise
        holder = f"{self.purpose or 'champion'} by pid {os.getpid()} on {socket.gethostname()}"
        version = self.client.create_model_version(
            self.lock, _SOURCE, tags={"holder": holder}, description=holder
        )
        self.version = int(version.version)
        self._touched = (version.last_updated_timestamp, time.monotonic())

    def touch(self) -> None:
        """Tell waiters that this ticket's process is alive."""
        before = time.monotonic()
        version = self.client.update_model_version(
            self.lock, str(self.version), description=f"alive at {before:.1f}"
        )
        self._touched = (version.last_updated_timestamp, before)

    def store_now(self) -> float:
        """An estimate of the store's clock now, in milliseconds."""
        stamp, at = self._touched
        return stamp + (time.monotonic() - at) * 1000

    def wait_turn(self, name: str, wait: float, poll: float) -> None:
        """Return when no live ticket is ahead of ours; raise ConflictError after ``wait``."""
        deadline = time.monotonic() + wait
        while True:
            ahead = self._live_tickets_ahead()
            if not ahead:
                return
            if time.monotonic() >= deadline:
                holder = ahead[0].tags.get("holder", "another process")
                raise ConflictError(
                    f"'{name}' is being changed by {holder} (lock ticket {ahead[0].version}); "
                    f"waited {wait:.0f}s. Try again when it has finished"
                )
            time.sleep(poll)

    def _live_tickets_ahead(self) -> list[ModelVersion]:
        versions = self.client.search_model_versions(f"name = '{self.lock}'")
        ahead = sorted(
            (v for v in versions if int(v.version) < self.version), key=lambda v: int(v.version)
        )
        now = self.store_now()
        live = []
        for version in ahead:
            if now - version.last_updated_timestamp > self.ttl_ms:
                # Its process died holding or awaiting the lock: clear it for everyone.
                with suppress(MlflowException):
                    self.client.delete_model_version(self.lock, version.version)
            else:
                live.append(version)
        return live

    def release(self) -> None:
        """Delete the ticket: the next ticket holds the lock."""
        if self.version is not None:
            with suppress(MlflowException):  # already cleared as expired: nothing to give up
                self.client.delete_model_version(self.lock, str(self.version))
