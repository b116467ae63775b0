"""One monitoring run against prediction logs of 10k, 100k and 1M rows, and what a
served request feels while the server monitors.

What it measures
----------------
The Pokémon legendary model (its ``linear`` candidate), trained, registered and
promoted in a work folder. For each log size (``--sizes``, default 10,000, 100,000 and
1,000,000 rows) a fresh SQLite prediction log is filled directly in bulk (one
``executemany``, as the server's writer would have written it over time): requests of
30 rows each (``--rows-per-request``), Pokémon stats as inputs, one request every
0.1 s up to now. The monitoring window is the project file's default,
``monitoring.drift.window.rows: 10000``. Then:

``window``     ``PredictionLog.window(last=10000)`` in this process: the read and the
               frame building alone, what grew with the log before.
``monitor``    ``champion monitor -c champion.yaml --no-log-run`` in a child process:
               wall time and peak resident memory (the child's ``ru_maxrss``, from
               ``wait4``): the whole command, from start-up to the HTML report.
``serve``      ``champion serve --monitor-interval 1`` (one worker) on the same log:
               ``idle CPU`` is the server's CPU time over ``--idle`` seconds with no
               request (after its first monitoring run), as a share of one core, and
               the runs it counted then; then ``--load`` seconds of sequential
               one-row ``POST /invocations`` requests, 20 a second: every request is
               logged, so the server runs its monitoring every second over the
               window while they are answered; their p50 and p99 latency, and the
               runs counted meanwhile. ``dashboard`` is one ``GET /dashboard``.

Before this benchmark's change (issue 10), 10,000 requests of 30 rows took 14 s to
read as a window, ``champion monitor`` on 225k logged rows took 44 s and 611 MB,
``/dashboard`` 7 to 29 s, and an idle server with ``--monitor-interval 5`` half a core.
The goal, checked at the end (PASS/FAIL, exit status 1 on a FAIL): a monitoring run on
the largest log within 2x the time of the smallest (its cost follows the window, not
the log), and an idle server under 5% of a core.

How to run
----------
::

    uv run python benchmarks/monitor.py                       # ~4 min
    uv run python benchmarks/monitor.py --sizes 10000 100000  # quicker
    uv run python benchmarks/monitor.py --workdir /tmp/mon    # keep the store and logs

Results go to ``benchmarks/results/monitor.md``. Figures from a loaded machine (the
load average is in the report) are only indicative.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np
import orjson
import pandas as pd

from champion.monitoring.log import PredictionLog

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data" / "pokemon"
RESULTS = ROOT / "benchmarks" / "results" / "monitor.md"
BIN = Path(sys.executable).parent
MODEL_NAME = "pokemon_legendary"
STATS = ["hp", "attack", "defense", "special_attack", "special_defense", "speed"]
MONITOR_GOAL = 2.0  # the largest log's run within this factor of the smallest's
IDLE_GOAL = 0.05  # of one core

PROJECT = """\
name: {name}
data:
  path: {data}/generation-*.csv
target: is_legendary
task: binary
features:
  numeric: {stats}
split:
  method: group
  column: species_id
metric: f1
candidates:
  - {{name: linear, estimator: linear}}
"""


def environment(workdir: Path, log: Path | None = None) -> dict[str, str]:
    """The children's environment: the work folder's store and, when given, log."""
    env = os.environ.copy()
    for name in ("MLFLOW_REGISTRY_URI", "CHAMPION_ARTIFACTS", "CHAMPION_PREDICTION_LOG"):
        env.pop(name, None)
    env["MLFLOW_TRACKING_URI"] = f"sqlite:///{workdir / 'mlflow.db'}"
    if log is not None:
        env["CHAMPION_PREDICTION_LOG"] = f"sqlite:///{log}"
    env["NO_COLOR"] = "1"
    return env


def champion(*args: str, env: dict[str, str]) -> str:
    done = subprocess.run([str(BIN / "champion"), *args], env=env, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"champion {' '.join(args)} failed:\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
    return done.stdout


def set_up(workdir: Path) -> Path:
    """Train, register and promote the model; return the project file."""
    project = workdir / "champion.yaml"
    if (workdir / "mlflow.db").exists():
        return project
    project.write_text(PROJECT.format(name=MODEL_NAME, data=DATA, stats=json.dumps(STATS)))
    env = environment(workdir)
    print(f"Training and promoting {MODEL_NAME} in {workdir}", flush=True)
    c = ("-c", str(project))
    champion("train", *c, env=env)
    champion("register", *c, "--best", env=env)
    champion("promote", *c, env=env)
    return project


def fill_log(path: Path, rows: int, per_request: int) -> None:
    """``rows`` logged rows in requests of ``per_request``, one request each 0.1 s up
    to now, written in one transaction."""
    PredictionLog(f"sqlite:///{path}").close()  # the schema, through the migrations
    frame = pd.concat(pd.read_csv(p) for p in sorted(DATA.glob("generation-*.csv")))
    stats = frame[STATS].to_numpy(dtype=float)
    requests = -(-rows // per_request)
    now = time.time()
    rng = np.random.default_rng(0)
    outputs = orjson.dumps([{"label": "False"}] * per_request).decode()
    batch = []
    for index in range(requests):
        n = min(per_request, rows - index * per_request)
        picked = stats[rng.integers(0, len(stats), n)]
        inputs = orjson.dumps({s: picked[:, i].tolist() for i, s in enumerate(STATS)}).decode()
        out = outputs if n == per_request else orjson.dumps([{"label": "False"}] * n).decode()
        ts = now - (requests - index) * 0.1
        batch.append((f"b{index}", ts, MODEL_NAME, "1", "champion", n, inputs, out, 1.0))
    with sqlite3.connect(path) as db:
        db.executemany(
            "INSERT INTO predictions (request_id, ts, model, version, arm, rows, inputs,"
            " outputs, latency_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            batch,
        )


def read_window(log: Path) -> float:
    """Seconds to read the default window (the best of three)."""
    reader = PredictionLog(f"sqlite:///{log}")
    try:
        best = float("inf")
        for _ in range(3):
            start = time.perf_counter()
            assert len(reader.window(MODEL_NAME, last=10_000)) == 10_000
            best = min(best, time.perf_counter() - start)
    finally:
        reader.close()
    return best


def monitor_once(workdir: Path, project: Path, log: Path) -> tuple[float, float]:
    """``champion monitor`` once: (seconds, peak MB)."""
    args = [str(BIN / "champion"), "monitor", "-c", str(project), "--no-log-run"]
    args += ["--html", str(workdir / "report.html")]
    start = time.perf_counter()
    child = subprocess.Popen(
        args, env=environment(workdir, log), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - start
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode not in (0, 1):  # 1: an alarm, a verdict like any other
        sys.exit(f"champion monitor failed: {child.stderr.read()[-3000:]}")
    return seconds, usage.ru_maxrss / 1024


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url: str, timeout: float = 120) -> str:
    with urllib.request.urlopen(url, timeout=timeout) as answer:
        return answer.read().decode()


def post(url: str, body: bytes) -> None:
    request = urllib.request.Request(url, body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as answer:
        answer.read()


def runs(url: str) -> dict[str, float]:
    """champion_monitor_runs_total by outcome."""
    found = {}
    for line in get(f"{url}/metrics").splitlines():
        if line.startswith("champion_monitor_runs_total{"):
            outcome = line.split('outcome="')[1].split('"')[0]
            found[outcome] = float(line.rsplit(" ", 1)[1])
    return found


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextlib.contextmanager
def serving(workdir: Path, project: Path, log: Path):
    port = free_port()
    args = [str(BIN / "champion"), "serve", "-c", str(project), "--port", str(port)]
    args += ["--workers", "1", "--monitor-interval", "1", "--reload-interval", "0"]
    out = (workdir / f"serve-{log.stem}.log").open("w")
    server = subprocess.Popen(args, env=environment(workdir, log), stdout=out, stderr=out)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            with contextlib.suppress(OSError):
                get(f"{url}/ready", timeout=2)
                break
            if time.monotonic() > deadline or server.poll() is not None:
                sys.exit(f"champion serve did not start: see {out.name}")
            time.sleep(0.2)
        yield server, url
    finally:
        server.terminate()
        server.wait(30)
        out.close()


def measure_server(workdir: Path, project: Path, log: Path, idle_s: float, load_s: float):
    body = orjson.dumps(
        {"dataframe_split": {"columns": STATS, "data": [[80.0, 82, 83, 100, 100, 80]]}}
    )
    with serving(workdir, project, log) as (server, url):
        deadline = time.monotonic() + 300
        while runs(url).get("ok", 0) < 1:  # the first run, over the window as logged
            if time.monotonic() > deadline:
                sys.exit("the server's first monitoring run did not finish")
            time.sleep(0.2)
        before, cpu = runs(url), cpu_seconds(server.pid)
        time.sleep(idle_s)
        idle_cpu = (cpu_seconds(server.pid) - cpu) / idle_s
        idle_runs = runs(url)
        latencies = []
        end = time.monotonic() + load_s
        while time.monotonic() < end:
            start = time.perf_counter()
            post(f"{url}/invocations", body)
            latencies.append((time.perf_counter() - start) * 1000)
            time.sleep(max(0.0, 0.05 - latencies[-1] / 1000))
        loaded_runs = runs(url)
        start = time.perf_counter()
        get(f"{url}/dashboard")
        dashboard = time.perf_counter() - start
    p50, p99 = np.percentile(latencies, [50, 99])
    return {
        "idle_cpu": idle_cpu,
        "idle_ok": idle_runs.get("ok", 0) - before.get("ok", 0),
        "idle_skipped": idle_runs.get("idle", 0) - before.get("idle", 0),
        "load_ok": loaded_runs.get("ok", 0) - idle_runs.get("ok", 0),
        "requests": len(latencies),
        "p50": p50,
        "p99": p99,
        "dashboard": dashboard,
    }


def report(results: list[dict], load: tuple[float, float], per_request: int) -> tuple[str, bool]:
    smallest, largest = results[0], results[-1]
    ratio = largest["monitor_s"] / smallest["monitor_s"]
    idle = max(r["idle_cpu"] for r in results)
    passed = ratio <= MONITOR_GOAL and idle <= IDLE_GOAL
    lines = [
        "# One monitoring run against the size of the prediction log",
        "",
        f"- Date: {dt.datetime.now(dt.UTC).isoformat(timespec='seconds')}",
        f"- Machine: {os.cpu_count()} CPUs, {platform.platform()}, Python "
        f"{platform.python_version()}; load average {load[0]:.2f} at the start, "
        f"{load[1]:.2f} at the end",
        f"- Log: SQLite, requests of {per_request} rows; window: the last 10,000 rows "
        "(monitoring.drift.window.rows)",
        "",
        "| logged rows | window s | `champion monitor` s | peak MB | idle server CPU | idle runs "
        "(done / skipped) | runs under load | requests | p50 ms | p99 ms | /dashboard s |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r['rows']:,} | {r['window_s']:.3f} | {r['monitor_s']:.2f} | {r['peak_mb']:.0f} | "
            f"{r['idle_cpu']:.1%} | {r['idle_ok']:.0f} / {r['idle_skipped']:.0f} | "
            f"{r['load_ok']:.0f} | {r['requests']} | {r['p50']:.2f} | {r['p99']:.2f} | "
            f"{r['dashboard']:.2f} |"
        )
    verdict = "PASS" if passed else "FAIL"
    lines += [
        "",
        f"Goal: the largest log's run within {MONITOR_GOAL}× the smallest's "
        f"({ratio:.2f}×), an idle server under {IDLE_GOAL:.0%} of a core "
        f"({idle:.1%}): **{verdict}**",
        "",
    ]
    return "\n".join(lines), passed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--rows-per-request", type=int, default=30)
    parser.add_argument("--idle", type=float, default=10.0, help="seconds of idle server")
    parser.add_argument("--load", type=float, default=10.0, help="seconds of requests")
    parser.add_argument("--workdir", type=Path)
    args = parser.parse_args()
    load_start = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="champion-monitor-bench-") as scratch:
        workdir = args.workdir or Path(scratch)
        workdir.mkdir(parents=True, exist_ok=True)
        project = set_up(workdir)
        results = []
        for size in args.sizes:
            log = workdir / f"log-{size}.db"
            log.unlink(missing_ok=True)
            for suffix in ("-wal", "-shm"):
                Path(f"{log}{suffix}").unlink(missing_ok=True)
            print(f"{size:,} rows: filling the log", flush=True)
            fill_log(log, size, args.rows_per_request)
            window_s = read_window(log)
            seconds, peak = monitor_once(workdir, project, log)
            print(f"  champion monitor: {seconds:.2f} s, {peak:.0f} MB", flush=True)
            served = measure_server(workdir, project, log, args.idle, args.load)
            print(f"  server: {served}", flush=True)
            results.append(
                {"rows": size, "window_s": window_s, "monitor_s": seconds, "peak_mb": peak} | served
            )
    text, passed = report(results, (load_start, os.getloadavg()[0]), args.rows_per_request)
    RESULTS.write_text(text, encoding="utf-8")
    print(text)
    print(f"median p99 {statistics.median(r['p99'] for r in results):.2f} ms")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
