"""Test helpers: a throwaway PostgreSQL database and a real ``mlflow server`` subprocess.

Typical use in a fixture::

    db_url, drop_db = create_postgres_database()
    try:
        with MlflowServer(db_url, tmp_dir) as server:
            yield server  # server.url == "http://127.0.0.1:<port>"
    finally:
        drop_db()
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from types import TracebackType
from urllib.parse import urlsplit, urlunsplit

import psycopg2
from psycopg2 import sql

DEFAULT_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/test"


def to_libpq_url(url: str) -> str:
    """Strip a SQLAlchemy driver suffix (``postgresql+psycopg2://`` -> ``postgresql://``).

    The result is accepted by ``psycopg2.connect`` and ``psql``.
    """
    parts = urlsplit(url)
    return urlunsplit(parts._replace(scheme=parts.scheme.split("+", 1)[0]))


def to_sqlalchemy_url(url: str) -> str:
    """Pin the psycopg2 driver: ``postgresql://`` -> ``postgresql+psycopg2://``.

    SQLAlchemy 2.1 maps a bare ``postgresql://`` to psycopg 3, which this project does not
    install, so MLflow's server must be given the explicit driver.
    """
    parts = urlsplit(to_libpq_url(url))
    return urlunsplit(parts._replace(scheme=f"{parts.scheme}+psycopg2"))


def _with_database(url: str, database: str) -> str:
    """Return ``url`` with its path (the database name) replaced by ``database``."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{database}"))


def create_postgres_database(
    admin_url: str = DEFAULT_ADMIN_URL,
) -> tuple[str, Callable[[], None]]:
    """Create a fresh, uniquely named PostgreSQL database.

    ``admin_url`` (libpq form, or SQLAlchemy form with a ``+driver``) must point at an existing
    database on the server, as a role allowed to ``CREATE DATABASE``. The new database is named
    ``champion_test_<32 hex chars>`` and lives on the same server, owned by the same role.

    Returns ``(url, drop)``. ``url`` is the SQLAlchemy URL of the new database with the driver
    pinned, e.g. ``postgresql+psycopg2://postgres@127.0.0.1:5432/champion_test_…``: pass it
    as-is to ``mlflow server --backend-store-uri``, and through :func:`to_libpq_url` before
    ``psycopg2.connect``. ``drop()`` terminates every other connection to the database and
    drops it; it is idempotent.
    """
    admin_url = to_libpq_url(admin_url)
    name = f"champion_test_{uuid.uuid4().hex}"
    conn = psycopg2.connect(admin_url)
    try:
        conn.autocommit = True  # CREATE/DROP DATABASE cannot run inside a transaction
        with conn.cursor() as cur:
            cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    finally:
        conn.close()

    def drop() -> None:
        conn = psycopg2.connect(admin_url)
        try:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE datname = %s AND pid <> pg_backend_pid()",
                    (name,),
                )
                cur.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))
        finally:
            conn.close()

    return to_sqlalchemy_url(_with_database(admin_url, name)), drop


def find_free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port that was free a moment ago (bind to port 0 and release it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class MlflowServerError(RuntimeError):
    """The ``mlflow server`` process died or did not become healthy in time."""


class MlflowServer:
    """A real ``mlflow server`` subprocess (uvicorn, one worker) on 127.0.0.1.

    Contract:

    * ``start()`` launches ``python -m mlflow server`` with the current interpreter (same venv),
      ``--backend-store-uri backend_store_uri`` (a SQLAlchemy URL; a bare ``postgresql://`` is
      rewritten to ``postgresql+psycopg2://``), ``--serve-artifacts`` and
      ``--artifacts-destination <workdir>/artifacts``, on a free port, in its own process group,
      and returns only once ``GET /health`` answers 200. If the process exits or
      ``startup_timeout`` seconds pass first, the process group is killed and
      :class:`MlflowServerError` is raised with the tail of the server log.
    * All server output (stdout and stderr) goes to ``<workdir>/mlflow-server.log``.
    * The child environment is ``os.environ`` minus every ``MLFLOW_*`` variable (so no ambient
      tracking URI, experiment, run or server setting leaks in), plus ``extra_env``.
    * ``job_execution=False`` (default) sets ``MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false``: with a
      SQL backend MLflow would otherwise also spawn a job runner and seven huey consumers (for
      GenAI jobs this project does not use), which slows startup a lot on a small machine.
    * ``stop()`` sends SIGTERM to the process group, then SIGKILL after ``stop_timeout`` seconds.
      It is idempotent. The context-manager form calls ``start()``/``stop()``.
    * ``url`` (``http://127.0.0.1:<port>``) is the tracking URI to hand to ``MlflowClient``;
      ``startup_seconds`` records how long ``start()`` took.
    """

    host = "127.0.0.1"

    def __init__(
        self,
        backend_store_uri: str,
        workdir: str | os.PathLike[str],
        *,
        startup_timeout: float = 120.0,
        stop_timeout: float = 15.0,
        job_execution: bool = False,
        extra_env: Mapping[str, str] | None = None,
    ) -> None:
        if urlsplit(backend_store_uri).scheme == "postgresql":
            backend_store_uri = to_sqlalchemy_url(backend_store_uri)
        self.backend_store_uri = backend_store_uri
        self.workdir = Path(workdir)
        self.artifacts_dir = self.workdir / "artifacts"
        self.log_path = self.workdir / "mlflow-server.log"
        self.startup_timeout = startup_timeout
        self.stop_timeout = stop_timeout
        self.job_execution = job_execution
        self.extra_env = dict(extra_env or {})
        self.port: int | None = None
        self.startup_seconds: float | None = None
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """Base URL of the running server, e.g. ``http://127.0.0.1:54321``."""
        if self.port is None:
            raise MlflowServerError("MlflowServer has not been started")
        return f"http://{self.host}:{self.port}"

    def _child_env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
        env["PYTHONUNBUFFERED"] = "1"
        env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] = "true" if self.job_execution else "false"
        env.update(self.extra_env)
        return env

    def log_tail(self, max_chars: int = 4000) -> str:
        """Return the last ``max_chars`` characters of the server log ('' if none yet)."""
        try:
            return self.log_path.read_text(errors="replace")[-max_chars:]
        except FileNotFoundError:
            return ""

    def start(self) -> MlflowServer:
        """Launch the server and block until ``GET /health`` returns 200; return ``self``."""
        if self._proc is not None:
            raise MlflowServerError("MlflowServer is already started")
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.artifacts_dir.mkdir(parents=True, exist_ok=True)
        self.port = find_free_port(self.host)
        cmd = [
            sys.executable,
            "-m",
            "mlflow",
            "server",
            "--backend-store-uri",
            self.backend_store_uri,
            "--serve-artifacts",
            "--artifacts-destination",
            str(self.artifacts_dir.resolve()),
            "--host",
            self.host,
            "--port",
            str(self.port),
            "--workers",
            "1",
        ]
        started = time.monotonic()
        with open(self.log_path, "ab") as log:
            self._proc = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self._child_env(),
                cwd=self.workdir,
                start_new_session=True,  # own process group, so stop() reaches uvicorn too
            )
        try:
            self._wait_healthy(started)
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - started
        return self

    def _wait_healthy(self, started: float) -> None:
        assert self._proc is not None
        health = f"{self.url}/health"
        while True:
            code = self._proc.poll()
            if code is not None:
                raise MlflowServerError(
                    f"mlflow server exited with code {code} before becoming healthy; "
                    f"log tail ({self.log_path}):\n{self.log_tail()}"
                )
            try:
                with urllib.request.urlopen(health, timeout=2) as resp:
                    if resp.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() - started > self.startup_timeout:
                raise MlflowServerError(
                    f"mlflow server not healthy at {health} after {self.startup_timeout:.0f}s; "
                    f"log tail ({self.log_path}):\n{self.log_tail()}"
                )
            time.sleep(0.25)

    @staticmethod
    def _signal_group(pgid: int, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError):  # the whole group is already gone
            os.killpg(pgid, sig)

    def stop(self) -> None:
        """Terminate the server's process group: SIGTERM, then SIGKILL after a timeout."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        # start_new_session=True made the CLI process the leader: its pid is the group id.
        self._signal_group(proc.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=self.stop_timeout)
        # Always sweep the group: uvicorn workers or the job runner may outlive the CLI parent.
        self._signal_group(proc.pid, signal.SIGKILL)
        proc.wait(timeout=self.stop_timeout)

    def __enter__(self) -> MlflowServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
