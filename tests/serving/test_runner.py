"""The runner's listening socket, its claim on the port and its shared-metrics switch,
on real loopback sockets; and two real ``champion serve`` processes on one port.

Workers as subprocesses are covered in ``test_deployment.py``.
"""

from __future__ import annotations

import errno
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import pytest
from prometheus_client import values

from champion.errors import UsageError
from champion.serving import runner
from champion.serving.metrics import MULTIPROC_ENV, ServerMetrics
from champion.serving.runner import claim_port, listening_socket
from support.serving import free_port


def _accept_all(server: socket.socket, timeout: float = 0.5) -> list[socket.socket]:
    """Every connection waiting on ``server`` (none once nothing arrives for ``timeout``)."""
    accepted = []
    while select.select([server], [], [], timeout)[0]:
        conn, _ = server.accept()
        accepted.append(conn)
    return accepted


@pytest.mark.parametrize(
    ("host", "family"),
    [("127.0.0.1", socket.AF_INET), ("::1", socket.AF_INET6)],
    ids=["ipv4", "ipv6"],
)
def test_listening_socket_binds_the_port_with_reuseport_and_nodelay(host, family) -> None:
    port = free_port()
    with listening_socket(host, port) as sock:
        assert sock.family == family
        assert sock.type == socket.SOCK_STREAM
        assert sock.getsockname()[:2] == (host, port)
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT) == 1
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR) == 1
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN) == 1
        # A forked worker keeps it open across exec.
        assert sock.get_inheritable()


def test_accepted_connections_inherit_tcp_nodelay() -> None:
    # The reason the option is set on the listening socket: Linux copies it to each
    # connection accepted from it, so no response waits for a delayed ACK.
    port = free_port()
    with (
        listening_socket("127.0.0.1", port) as server,
        socket.create_connection(("127.0.0.1", port), timeout=5) as client,
    ):
        conn, address = server.accept()
        with conn:
            assert address == client.getsockname()
            assert conn.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
            client.sendall(b"ping")
            assert conn.recv(4) == b"ping"


def test_second_listening_socket_shares_the_port_and_the_kernel_spreads_connections() -> None:
    # What several workers do: each binds its own socket to the same port. SO_REUSEPORT
    # lets the second bind succeed, and the kernel hashes each new connection to one of
    # the two listeners, so both get some.
    port = free_port()
    with (
        listening_socket("127.0.0.1", port) as first,
        listening_socket("127.0.0.1", port) as second,
    ):
        assert first.getsockname() == second.getsockname() == ("127.0.0.1", port)
        clients = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(48)]
        try:
            to_first, to_second = _accept_all(first), _accept_all(second)
            assert len(to_first) + len(to_second) == len(clients)
            assert to_first and to_second  # all 48 on one listener: odds of 2**-47
            for conn in to_first + to_second:
                conn.close()
        finally:
            for client in clients:
                client.close()


def test_plain_socket_cannot_take_a_port_the_runner_listens_on() -> None:
    # Sharing needs SO_REUSEPORT on both sides: a socket without it is refused.
    port = free_port()
    with listening_socket("127.0.0.1", port), socket.socket() as intruder:
        with pytest.raises(OSError) as excinfo:
            intruder.bind(("127.0.0.1", port))
        assert excinfo.value.errno == errno.EADDRINUSE


def test_shared_metrics_switches_to_files_that_every_worker_adds_up(monkeypatch) -> None:
    # _shared_metrics writes the variable and prometheus_client's value class: put both back.
    monkeypatch.setenv(MULTIPROC_ENV, "")  # recorded, so the teardown restores it
    monkeypatch.delenv(MULTIPROC_ENV)
    monkeypatch.setattr(values, "ValueClass", values.ValueClass)
    folder = Path(runner._shared_metrics())
    try:
        assert folder.is_dir() and not any(folder.iterdir())
        assert folder.name.startswith("champion-metrics-")
        assert folder.parent == Path(tempfile.gettempdir())
        assert os.environ[MULTIPROC_ENV] == str(folder)

        worker = ServerMetrics(multiprocess_dir=str(folder))
        worker.requests.labels("predict", "200").inc(3)
        assert any(folder.glob("counter_*.db")), "the counter was not written to a file"
        # Another worker's registry sees the count through the files alone.
        text = ServerMetrics(multiprocess_dir=str(folder)).render().decode()
        assert 'champion_requests_total{endpoint="predict",status="200"} 3.0' in text
        # A single process's metrics are its own, whatever the files hold.
        assert 'status="200"} 3.0' not in ServerMetrics().render().decode()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_claim_port_refuses_a_port_another_process_listens_on() -> None:
    port = free_port()
    with socket.socket() as other:
        other.bind(("127.0.0.1", port))
        other.listen()
        with pytest.raises(UsageError, match=f"port {port} on 127.0.0.1 is in use") as excinfo:
            claim_port("127.0.0.1", port)
    assert excinfo.value.field == "--port"


def test_the_guard_lets_our_workers_in_and_keeps_everyone_else_out() -> None:
    port = free_port()
    with claim_port("127.0.0.1", port) as guard:
        assert guard.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN) == 0  # never accepts
        with listening_socket("127.0.0.1", port), listening_socket("127.0.0.1", port):
            pass  # two workers joined
        with pytest.raises(UsageError, match="in use by another process"):
            claim_port("127.0.0.1", port)  # a second champion serve, even with no worker up
        with socket.socket() as plain, pytest.raises(OSError) as excinfo:
            plain.bind(("127.0.0.1", port))
        assert excinfo.value.errno == errno.EADDRINUSE
    claim_port("127.0.0.1", port).close()  # free again once the guard is closed


def _serve(port: int, folder: Path, database: str, *extra: str) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    env["MLFLOW_TRACKING_URI"] = database
    command = [sys.executable, "-m", "champion", "serve", "wine", "--port", str(port)]
    return subprocess.Popen(
        [*command, "--no-log", "--reload-interval", "0", "--inference", "sklearn", *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=folder,
    )


@pytest.mark.integration
@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_second_champion_serve_on_the_same_port_refuses_to_start(
    wine_model, tmp_path, workers
) -> None:
    settings, _ = wine_model
    port = free_port()
    first = _serve(port, tmp_path, settings.tracking_uri, "--workers", workers)
    try:
        deadline = time.monotonic() + 90
        while True:
            assert first.poll() is None, first.communicate()[1]
            assert time.monotonic() < deadline, "the first server did not start"
            try:
                if httpx.get(f"http://127.0.0.1:{port}/ready").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        second = _serve(port, tmp_path, settings.tracking_uri, "--alias", "1")
        try:
            _, stderr = second.communicate(timeout=60)
        finally:
            if second.poll() is None:
                second.kill()
                second.wait()
        # Every new connection still reaches the first server's processes.
        answered = {httpx.get(f"http://127.0.0.1:{port}/health").json()["pid"] for _ in range(24)}
        ours = {pid for pid in answered if pid == first.pid or _parent_of(pid) == first.pid}
    finally:
        first.send_signal(signal.SIGTERM)
        first.wait(30)
    assert second.returncode == 2
    assert stderr.strip() == (
        f"UsageError: port {port} on 127.0.0.1 is in use by another process (another "
        "champion serve?); stop it or choose another --port"
    )
    assert ours == answered


def _parent_of(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as stat:
        return int(stat.read().rsplit(")", 1)[1].split()[1])
