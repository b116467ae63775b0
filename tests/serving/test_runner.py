"""The runner's listening socket and its shared-metrics switch, on real loopback sockets.

Workers as subprocesses are covered in ``test_deployment.py``; here, one socket at a time.
"""

from __future__ import annotations

import errno
import os
import select
import shutil
import socket
import tempfile
from pathlib import Path

import pytest
from prometheus_client import values

from champion.serving import runner
from champion.serving.metrics import MULTIPROC_ENV, ServerMetrics
from champion.serving.runner import listening_socket
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
