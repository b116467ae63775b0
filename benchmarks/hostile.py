"""Hostile bodies against ``champion serve``: does ``/health`` stay fast while they land?

What it measures
----------------
One ``champion serve`` (1 worker) on the Pokémon legendary example, set up as
``benchmarks/serve.py`` sets it up (the ``random_forest`` candidate, registered and
promoted). Each body from issue 9's findings is sent on its own while a second client
polls ``GET /health`` back to back over one keep-alive connection; for each body the
table gives the answer's status and time, and the worst ``/health`` latency seen while
the body was in flight. The bar: under 100 ms for every body.

The bodies:

- 10,000 ``/predict`` records, each with a key of its own (0.14 MB), and 15,000 of them
  (0.21 MB): a table of gaps as wide as it is long, unless refused before it is built;
- a CSV of 20,000 columns (0.17 MB) and a CSV whose row has one field too many (the
  values would shift: Mewtwo would not be legendary);
- the largest honest request: 10,000 rows of ``dataframe_split`` (about 0.3 MB);
- ``/explain`` for one record, and ``/dashboard``;
- a body that announces 100 bytes and sends 10 (how long it holds its connection);
- 300 clients that hang up mid-body (what ``/metrics`` counts: 499s, not 500s).

How to run
----------
::

    uv run python benchmarks/hostile.py                   # train, then send (~2 min)
    uv run python benchmarks/hostile.py --reuse /tmp/bench  # a model serve.py set up

It prints the Markdown table and writes it to ``benchmarks/results/hostile.md``; the
exit status is 1 when a body's worst ``/health`` latency is over the bar. The machine's
other load shows in the figures: run it on a quiet machine.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import shutil
import socket
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from serve import (
    RESULTS_DIR,
    free_port,
    make_server,
    request_body,
    set_up,
    start,
    stop,
    tracking_env,
    wait_ready,
)

BAR_MS = 100.0
HOST = "127.0.0.1"
MEWTWO = {
    "hp": 106,
    "attack": 110,
    "defense": 90,
    "special_attack": 154,
    "special_defense": 90,
    "speed": 130,
}


@dataclass
class Body:
    """One hostile request: what it is, and how to send it."""

    name: str
    path: str
    body: bytes
    content_type: str = "application/json"
    method: str = "POST"


def records_with_keys_of_their_own(count: int) -> bytes:
    """``count`` records, each with one key no other record has."""
    return json.dumps([{f"k{i}": i} for i in range(count)], separators=(",", ":")).encode()


def wide_csv(columns: int) -> bytes:
    """A CSV with ``columns`` columns and one row."""
    header = ",".join(f"c{i}" for i in range(columns))
    return f"{header}\n{','.join('1' for _ in range(columns))}\n".encode()


def shifted_csv() -> bytes:
    """Mewtwo's stats with one field too many at the end of its row (pandas takes the
    first field for an index, and every value moves one column left)."""
    names = list(MEWTWO)
    values = [str(MEWTWO[n]) for n in names]
    return f"{','.join(names)}\n{','.join([*values, '0'])}\n".encode()


def bodies() -> list[Body]:
    """The findings' bodies, in the order they are sent."""
    return [
        Body(
            "records, keys of their own, 10,000", "/predict", records_with_keys_of_their_own(10_000)
        ),
        Body(
            "records, keys of their own, 15,000", "/predict", records_with_keys_of_their_own(15_000)
        ),
        Body("CSV of 20,000 columns", "/invocations", wide_csv(20_000), "text/csv"),
        Body("CSV row with an extra field (Mewtwo)", "/invocations", shifted_csv(), "text/csv"),
        Body("dataframe_split, 10,000 rows", "/invocations", request_body(10_000).encode()),
        Body("explain one record", "/explain", json.dumps(MEWTWO).encode()),
        Body("dashboard", "/dashboard", b"", method="GET"),
    ]


# --------------------------------------------------------------------------- probes


class HealthPoller:
    """Polls ``GET /health`` back to back on one keep-alive connection; ``worst()`` is
    the slowest answer since the last ``reset()``, in ms (a poll still waiting counts
    for as long as it has waited)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self._lock = threading.Lock()
        self._worst = 0.0
        self._polls = 0
        self._since: float | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> HealthPoller:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(10)

    def reset(self) -> None:
        """Wait for a poll that started after the last body was answered (one stuck
        behind that body would count against the next), then forget the worst."""
        with self._lock:
            target = self._polls + (2 if self._since is not None else 1)
        while True:
            with self._lock:
                if self._polls >= target:
                    self._worst = 0.0
                    return
            time.sleep(0.001)

    def worst(self) -> float:
        with self._lock:
            waiting = 0.0 if self._since is None else time.perf_counter() - self._since
            return max(self._worst, waiting * 1000)

    def _run(self) -> None:
        connection = http.client.HTTPConnection(HOST, self.port, timeout=120)
        while not self._stop.is_set():
            with self._lock:
                self._since = time.perf_counter()
            connection.request("GET", "/health")
            connection.getresponse().read()
            elapsed = (time.perf_counter() - self._since) * 1000
            with self._lock:
                self._since = None
                self._polls += 1
                self._worst = max(self._worst, elapsed)
            time.sleep(0.002)  # a poll every few ms, not a busy loop on the server


def send(port: int, body: Body, timeout: float = 120) -> tuple[int, bytes, float]:
    """``body`` on a fresh connection: (status, answer, seconds)."""
    connection = http.client.HTTPConnection(HOST, port, timeout=timeout)
    started = time.perf_counter()
    headers = {"Content-Type": body.content_type} if body.method == "POST" else {}
    connection.request(body.method, body.path, body=body.body or None, headers=headers)
    answer = connection.getresponse()
    payload = answer.read()
    connection.close()
    return answer.status, payload, time.perf_counter() - started


def slow_body(port: int) -> tuple[str, float]:
    """A body that announces 100 bytes and sends 10: (what came back, seconds held)."""
    sock = socket.create_connection((HOST, port))
    sock.settimeout(120)
    started = time.perf_counter()
    sock.sendall(
        b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: 100\r\n\r\n" + b'{"hp": 100'
    )
    try:
        first = sock.recv(200).split(b"\r\n", 1)[0].decode(errors="replace") or "closed"
    except TimeoutError:
        first = "no answer in 120 s"
    sock.close()
    return first, time.perf_counter() - started


def hang_ups(port: int, count: int) -> None:
    """``count`` clients that announce a body, send half of it and hang up."""
    for _ in range(count):
        sock = socket.create_connection((HOST, port))
        sock.sendall(
            b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 100\r\n\r\n" + b'{"hp": 100'
        )
        sock.close()


def request_counts(port: int) -> dict[str, float]:
    """``champion_requests_total`` of ``/predict`` by status."""
    _, text, _ = send(port, Body("metrics", "/metrics", b"", method="GET"))
    counts: dict[str, float] = {}
    pattern = rb'champion_requests_total\{endpoint="/predict",status="(\d+)"\} ([0-9.e+]+)'
    for match in re.finditer(pattern, text):
        status = match.group(1).decode()
        counts[status] = counts.get(status, 0) + float(match.group(2))
    return counts


# --------------------------------------------------------------------------- report


def verdict(worst_ms: float) -> str:
    return "PASS" if worst_ms < BAR_MS else "FAIL"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reuse", type=Path, help="a folder benchmarks/serve.py set up")
    parser.add_argument("--hang-ups", type=int, default=300, help="clients that hang up (300)")
    parser.add_argument("--results", type=Path, default=RESULTS_DIR, help="where hostile.md goes")
    args = parser.parse_args(argv)
    if args.reuse:
        workdir, temporary = args.reuse.resolve(), False
        project = workdir / "champion.yaml"
    else:
        workdir, temporary = Path(tempfile.mkdtemp(prefix="champion-hostile-")), True
        project = set_up(workdir)
    port = free_port()
    server = make_server("champion", 1, port, project, tracking_env(workdir))
    log = workdir / "hostile-server.log"
    process = start(server, log)
    rows: list[list[str]] = []
    failed = False
    try:
        wait_ready(process, f"http://{HOST}:{port}/invocations", request_body(1), log)
        with HealthPoller(port) as poller:
            time.sleep(0.5)
            for body in bodies():
                poller.reset()
                status, answer, seconds = send(port, body)
                worst = poller.worst()
                failed |= worst >= BAR_MS
                note = answer[:90].decode(errors="replace").replace("|", "/").replace("\n", " ")
                size = f"{len(body.body) / 1e6:.2f} MB" if body.body else "–"
                rows.append(
                    [
                        body.name,
                        size,
                        f"{status}",
                        f"{seconds:.2f}",
                        f"{worst:.0f}",
                        verdict(worst),
                        note,
                    ]
                )
            poller.reset()
            first, held = slow_body(port)
            worst = poller.worst()
            failed |= worst >= BAR_MS
            rows.append(
                [
                    "announces 100 bytes, sends 10",
                    "0.00 MB",
                    first,
                    f"{held:.2f}",
                    f"{worst:.0f}",
                    verdict(worst),
                    "seconds = how long the connection was held",
                ]
            )
            before = request_counts(port)
            poller.reset()
            started = time.perf_counter()
            hang_ups(port, args.hang_ups)
            time.sleep(1)  # the server sees the last hang-ups
            worst = poller.worst()
            failed |= worst >= BAR_MS
            after = request_counts(port)
            delta = {s: after.get(s, 0) - before.get(s, 0) for s in after}
            counted = ", ".join(f"{s}: {n:.0f}" for s, n in sorted(delta.items()) if n) or "none"
            rows.append(
                [
                    f"{args.hang_ups} clients hang up mid-body",
                    "0.00 MB",
                    "–",
                    f"{time.perf_counter() - started:.2f}",
                    f"{worst:.0f}",
                    verdict(worst),
                    f"/predict counted by status: {counted}",
                ]
            )
    finally:
        stop(process)
        if temporary:
            shutil.rmtree(workdir, ignore_errors=True)
    lines = [
        f"# champion serve under hostile bodies ({time.strftime('%Y-%m-%d %H:%M')}, "
        f"load {os.getloadavg()[0]:.1f}, bar: worst /health < {BAR_MS:.0f} ms)",
        "",
        "| body | size | status | seconds | worst /health ms | verdict | answer |",
        "|---|---|---|---|---|---|---|",
        *("| " + " | ".join(row) + " |" for row in rows),
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    args.results.mkdir(parents=True, exist_ok=True)
    (args.results / "hostile.md").write_text(text)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
