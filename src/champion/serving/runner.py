"""Run the serving app on uvicorn: one process, or several workers sharing one model.

Two traps of ``uvicorn --workers N`` are avoided here:

- **Nagle.** Responses are small; with ``TCP_NODELAY`` off, a keep-alive client waits
  for the delayed ACK (about 40 ms) on every request. The option is set on the listening
  socket, and Linux hands it down to every connection accepted from it.
- **One worker takes every connection.** With one shared listening socket, the first
  worker to wake accepts most connections while the others idle. Each worker here
  binds its own socket with ``SO_REUSEPORT``, and the kernel spreads new connections
  evenly across them.

``SO_REUSEPORT`` would also let a second ``champion serve`` (same user, same port)
start silently and take half the traffic. So before anything else, :func:`claim_port`
refuses a port another process listens on, and then holds a *guard*: a socket bound to
the port with ``SO_REUSEPORT`` but without ``SO_REUSEADDR``, never listening. Linux lets
our workers' ``SO_REUSEPORT`` sockets join it, but refuses the probe of any later
``champion serve`` (and any plain ``bind``), so the port stays ours until the server
exits. Only two servers probing in the same instant could both pass.

Memory: the parent loads the model once and forks the workers, which share its pages
copy-on-write (``gc.freeze`` keeps the garbage collector from touching, and so copying,
them). Only what each worker builds after the fork is its own.

Metrics: the workers share them through prometheus_client's multiprocess mode (see
:mod:`champion.serving.metrics`), so ``/metrics`` counts the whole server.
"""

from __future__ import annotations

import contextlib
import errno
import gc
import logging
import os
import shutil
import signal
import socket
import sys
import tempfile
from collections.abc import Callable

import uvicorn
from prometheus_client import multiprocess, values

from champion.errors import UsageError
from champion.serving.metrics import MULTIPROC_ENV

log = logging.getLogger("champion.serving")


def listening_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host:port`` with SO_REUSEPORT and TCP_NODELAY set."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # inherited on accept
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def claim_port(host: str, port: int) -> socket.socket:
    """Check nothing listens on ``host:port`` and hold it: return the guard socket (see
    the module's docstring), to keep open for the server's life.

    Raises:
        UsageError: another process listens on the port, or holds it (exit 2).
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # The probe: SO_REUSEADDR so connections of an earlier server in TIME_WAIT do not
    # count, no SO_REUSEPORT so any listener (or guard) on the port does.
    probe = socket.socket(family, socket.SOCK_STREAM)
    probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    guard = socket.socket(family, socket.SOCK_STREAM)
    guard.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        with probe:
            probe.bind((host, port))
        guard.bind((host, port))
    except OSError as e:
        guard.close()
        if e.errno == errno.EADDRINUSE:
            message = (
                f"port {port} on {host} is in use by another process (another champion "
                "serve?); stop it or choose another --port"
            )
        else:
            message = f"cannot listen on {host}:{port}: {e.strerror}"
        raise UsageError(message, field="--port") from None
    return guard


def serve_app(app, sock: socket.socket) -> None:
    """Run ``app`` on uvicorn (uvloop, httptools) on an already bound ``sock``."""
    config = uvicorn.Config(
        app,
        loop="uvloop",
        http="httptools",
        log_level="warning",
        access_log=False,  # one log line per request costs more than the prediction
        timeout_graceful_shutdown=10,
    )
    uvicorn.Server(config).run(sockets=[sock])


def run(
    build_app: Callable[[object | None, int, str | None], object],
    preload: Callable[[], object],
    host: str,
    port: int,
    workers: int = 1,
) -> int:
    """Serve until SIGINT/SIGTERM.

    Args:
        build_app: ``build_app(deployment, worker, metrics_dir)`` → the ASGI app;
            ``deployment`` is the preloaded arms; ``worker`` numbers the workers from 0 (work
            that one process should do for all, like monitoring, goes to worker 0);
            ``metrics_dir`` is the folder the workers share their metrics in (None for
            a single process).
        preload: loads the arms (in the parent, before forking workers), once the port
            is claimed; its errors (a version refused, say) propagate before anything
            listens.
        workers: worker processes.

    Returns:
        the exit status.
    Raises:
        UsageError: the port is taken (:func:`claim_port`).
        ChampionError: from ``preload``.
    """
    guard = claim_port(host, port)
    try:
        return _run(build_app, preload, host, port, workers)
    finally:
        guard.close()


def _run(build_app, preload, host: str, port: int, workers: int) -> int:
    if workers <= 1:
        serve_app(build_app(preload(), 0, None), listening_socket(host, port))
        return 0
    metrics_dir = _shared_metrics()
    deployment = preload()
    gc.collect()
    gc.freeze()  # the loaded model stays in pages the workers share
    children: dict[int, int] = {}  # pid → worker number
    stopping = False

    def spawn(number: int) -> None:
        pid = os.fork()
        if pid == 0:
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            _forget_parent_connections()
            try:
                serve_app(build_app(deployment, number, metrics_dir), listening_socket(host, port))
            finally:
                os._exit(0)
        children[pid] = number

    def stop(signum, frame) -> None:
        nonlocal stopping
        stopping = True
        for pid in list(children):
            _signal(pid, signal.SIGTERM)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    for number in range(workers):
        spawn(number)
    while children:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            break
        number = children.pop(pid, None)
        multiprocess.mark_process_dead(pid)  # its live gauges no longer count
        if number is not None and not stopping:
            log.error("worker %d (pid %d) exited with %s; starting a new one", number, pid, status)
            spawn(number)
    shutil.rmtree(metrics_dir, ignore_errors=True)
    return 0


def _shared_metrics() -> str:
    """Switch prometheus_client to multiprocess mode: each worker writes its values to
    files in a fresh folder, and any worker's ``/metrics`` adds them up. The value class
    is chosen when prometheus_client is imported, so it is chosen again here."""
    folder = tempfile.mkdtemp(prefix="champion-metrics-")
    # prometheus_client is configured by this variable alone (and its workers inherit it).
    os.environ[MULTIPROC_ENV] = folder
    values.ValueClass = values.get_value_class()
    return folder


def _signal(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):  # it exited already
        os.kill(pid, signum)


def _forget_parent_connections() -> None:
    """Database connections pooled before the fork belong to the parent: a worker that
    used them would interleave its queries with the parent's on one socket. SQLAlchemy's
    fork recipe: drop the pool without closing the parent's connections."""
    for module in (
        "mlflow.store.tracking.sqlalchemy_store",
        "mlflow.store.model_registry.sqlalchemy_store",
    ):
        store = sys.modules.get(module)
        if store is None:
            continue
        for engine in list(store.SqlAlchemyStore._engine_map.values()):
            engine.dispose(close=False)
