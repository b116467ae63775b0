"""Throughput, latency and memory of ``champion serve`` beside ``mlflow models serve``.

What it measures
----------------
One model, one machine, one run. The model is the Pokémon legendary example
(``examples/pokemon-legendary``: six numeric stats -> ``is_legendary``) trained with its
``random_forest`` candidate only, a 100-tree forest behind champion's preprocessing
pipeline: the expensive case for MLflow's pyfunc server. Three servers answer
``POST /invocations`` for it, each started alone on a free loopback port (the others
stopped, so they never share the CPU):

``mlflow``    ``mlflow models serve -m models:/pokemon_legendary@champion --env-manager
              local -w N`` (uvicorn, N workers);
``hello``     ``benchmarks/hello_app.py``: FastAPI reading the body and answering a
              constant, under uvicorn with uvloop and httptools and N workers: the
              ceiling of the stack;
``champion``  ``champion serve -c champion.yaml --workers N``.

wrk drives each with an MLflow ``dataframe_split`` body of 1 row and of 100 rows (the
six stat columns of ``data/pokemon``), over 1 connection (``-t1``) and 32 connections
(``-t2``), for ``--duration`` seconds after a discarded warm-up. A Lua script counts the
non-2xx answers; a run with any error or socket error fails its row. Memory is the
resident set summed over each server's whole process tree (launcher, supervisor,
workers; PSS beside it, which does not count shared pages twice), once the server is
ready and again after its load; champion's is also taken with 1 worker.

Start-up and reload, measured apart from the load runs (each server alone again):

* **start-up to ready**: from starting the command to the first 200 of its readiness
  URL, polled every 20 ms, with 1 worker, ``--startup-runs`` times (the median
  counts): champion's ``GET /ready``, MLflow's ``GET /ping`` (its model is loaded before
  it answers), hello's ``POST /invocations``;
* **reload to serving** (champion, 1 worker, ``--reload-interval`` seconds between alias
  checks): from moving ``@champion`` to another version with the MLflow client to the
  first ``POST /invocations`` answered by that version (its ``X-Model-Version``),
  ``--reloads`` times, back and forth between two versions. It includes the wait for the
  next alias check (half the interval on average). A second version is registered with
  ``champion register`` when the store has only one.

Versions are registered with ``champion register``, which compiles the ONNX graph once
and logs it with the version (tags ``champion.onnx.*``); the model line of the report
says whether the served version has it (a ``--reuse`` folder set up before that change
has not, and its server compiles at start-up).

The acceptance criteria, checked at the end (PASS/FAIL):

* champion >= 10x the requests/s of MLflow for 1-row requests, at 1 and at 32 connections;
* champion's p99 at 32 connections (1 row) <= 1/10 of MLflow's;
* champion >= 3x MLflow's requests/s for 100-row requests, and the serving-speed
  issue's bar: >= 20x;
* goal beyond: champion >= half the hello-world app's requests/s (1 row);
* champion's start-up to ready (1 worker, median) <= 3 s.

How to run
----------
::

    uv run python benchmarks/serve.py                      # train, then benchmark (~5 min)
    uv run python benchmarks/serve.py --duration 5 --workers 2
    uv run python benchmarks/serve.py --workdir /tmp/bench  # keep the trained model
    uv run python benchmarks/serve.py --reuse /tmp/bench    # skip training next time

It needs ``wrk`` (``apt-get install wrk``) and prints a Rich table; the same results go
to ``benchmarks/results/serve.md`` (Markdown) and ``benchmarks/results/serve.json``
(raw); the exit status is 1 when an acceptance criterion fails. The servers' logs stay
in the work folder (``--workdir``; a temporary one is removed at the end). Figures from
a loaded machine (tests running beside; the load average is in the report) are only
indicative, and wrk always shares the cores with the server it drives.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import csv
import datetime as dt
import glob
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

import yaml
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = Path(__file__).resolve().parent
RESULTS_DIR = BENCH_DIR / "results"
EXAMPLE = ROOT / "examples" / "pokemon-legendary" / "champion.yaml"
DATA_GLOB = str(ROOT / "data" / "pokemon" / "generation-*.csv")
MODEL_NAME = "pokemon_legendary"
ALIAS = "champion"
CANDIDATE = "random_forest"
FEATURES = ["hp", "attack", "defense", "special_attack", "special_defense", "speed"]
SERVER_ORDER = ["mlflow", "hello", "champion"]
# The venv's own scripts: going through `uv run` would add a uv process to each
# server's process tree (and to its memory).
BIN = Path(sys.executable).parent

# Wide enough for the results table when the output goes to a file or a pipe.
console = Console() if sys.stdout.isatty() else Console(width=180)


# ---------------------------------------------------------------------------- set-up


def tracking_env(workdir: Path) -> dict[str, str]:
    """The environment for every child: the work folder's store and nothing inherited
    that could point champion or MLflow at another store or artifact folder."""
    env = os.environ.copy()
    for name in ("MLFLOW_REGISTRY_URI", "CHAMPION_ARTIFACTS"):
        env.pop(name, None)
    env["MLFLOW_TRACKING_URI"] = f"sqlite:///{workdir / 'mlflow.db'}"
    # Plain, wide output from Typer/Rich in the children: their help text is parsed.
    env["COLUMNS"] = "200"
    env["NO_COLOR"] = "1"
    return env


def write_project(workdir: Path) -> Path:
    """Copy the legendary project file into ``workdir`` with its data path absolute
    (it is relative to the example's folder)."""
    spec = yaml.safe_load(EXAMPLE.read_text())
    relative = spec["data"]["path"]
    spec["data"]["path"] = os.path.normpath(EXAMPLE.parent / relative)
    project = workdir / "champion.yaml"
    project.write_text(yaml.safe_dump(spec, sort_keys=False, allow_unicode=True))
    return project


def run_step(args: list[str], env: dict[str, str], what: str) -> None:
    """Run one champion command; stop the benchmark with its output if it fails."""
    started = time.monotonic()
    done = subprocess.run(args, env=env, capture_output=True, text=True, cwd=ROOT)
    if done.returncode != 0:
        console.print(f"[red]{what} failed[/] ({' '.join(args)}):")
        console.print(done.stdout[-3000:], done.stderr[-3000:], markup=False)
        sys.exit(1)
    console.print(f"  {what}: {time.monotonic() - started:.0f} s")


def set_up(workdir: Path) -> Path:
    """Train the random forest, register it and promote it to ``@champion``."""
    workdir.mkdir(parents=True, exist_ok=True)
    project = write_project(workdir)
    env = tracking_env(workdir)
    champion = str(BIN / "champion")
    console.print(f"Setting up the model in {workdir}")
    run_step([champion, "train", "-c", str(project), "--only", CANDIDATE], env, "train")
    run_step([champion, "register", "-c", str(project), "--best"], env, "register")
    run_step([champion, "promote", "-c", str(project)], env, "promote")
    return project


def describe_model(workdir: Path) -> dict:
    """Which model is served: version, run and estimator, read from the registry."""
    from mlflow import MlflowClient  # slow import, only once the set-up is done

    client = MlflowClient(f"sqlite:///{workdir / 'mlflow.db'}")
    version = client.get_model_version_by_alias(MODEL_NAME, ALIAS)
    params = client.get_run(version.run_id).data.params
    estimator = params.get("estimator", "?").rsplit(".", 1)[-1]
    trees = params.get("model.n_estimators")
    summary = f"{MODEL_NAME} v{version.version}: {params.get('candidate', '?')} ({estimator}"
    summary += f", {trees} trees)" if trees else ")"
    onnx = version.tags.get("champion.onnx")
    summary += {
        "compiled": "; ONNX graph compiled at registration",
        "not_compilable": "; not compilable (found at registration)",
    }.get(onnx, "; registered before compile-at-registration: compiled at start-up")
    return {
        "name": MODEL_NAME,
        "version": version.version,
        "run_id": version.run_id,
        "candidate": params.get("candidate"),
        "estimator": params.get("estimator"),
        "n_estimators": trees,
        "onnx": onnx,
        "summary": summary,
    }


# ----------------------------------------------------------------------- the bodies


def stat_rows(count: int) -> list[list[float]]:
    """The first ``count`` complete rows of the six stat columns of data/pokemon."""
    rows: list[list[float]] = []
    for path in sorted(glob.glob(DATA_GLOB)):
        with open(path, newline="", encoding="utf-8") as handle:
            for record in csv.DictReader(handle):
                values = [record.get(column, "") for column in FEATURES]
                if all(values):
                    rows.append([_number(v) for v in values])
                    if len(rows) == count:
                        return rows
    if not rows:
        sys.exit(f"no rows with {FEATURES} in {DATA_GLOB}")
    # Fewer rows than asked: repeat them (the body size is what matters).
    return [rows[i % len(rows)] for i in range(count)]


def _number(text: str) -> float:
    value = float(text)
    return int(value) if value.is_integer() else value


def request_body(rows: int) -> str:
    """An MLflow scoring request: ``dataframe_split`` with ``rows`` rows."""
    split = {"columns": FEATURES, "data": stat_rows(rows)}
    return json.dumps({"dataframe_split": split}, separators=(",", ":"))


LUA_TEMPLATE = """\
-- Generated by benchmarks/serve.py: POST one scoring body, count non-2xx answers.
wrk.method = "POST"
wrk.body = [==[BODY]==]
wrk.headers["Content-Type"] = "application/json"

-- Each wrk thread runs its own Lua state: the counts live there, and done() (in the
-- main state) sums them through the thread objects kept by setup().
local threads = {}
function setup(thread) table.insert(threads, thread) end

non2xx = 0
first_error = ""
function response(status, headers, body)
  if status < 200 or status > 299 then
    non2xx = non2xx + 1
    if first_error == "" then first_error = status .. " " .. string.sub(body or "", 1, 200) end
  end
end

function done(summary, latency, requests)
  local bad, sample = 0, ""
  for _, thread in ipairs(threads) do
    bad = bad + thread:get("non2xx")
    if sample == "" then sample = thread:get("first_error") end
  end
  io.write(string.format("BENCH non2xx=%d\\n", bad))
  if sample ~= "" then io.write("BENCH first_error=" .. sample .. "\\n") end
end
"""


def write_lua(folder: Path, rows: int, body: str) -> Path:
    """The wrk script posting ``body``."""
    path = folder / f"post-{rows}-rows.lua"
    path.write_text(LUA_TEMPLATE.replace("BODY", body))
    return path


# -------------------------------------------------------------------------- servers


@dataclass
class Server:
    """How to start one server under test."""

    name: str  # mlflow, hello, champion
    workers: int
    command: list[str]
    env: dict[str, str]
    label: str = ""
    notes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.label = self.label or self.name


def free_port() -> int:
    """A port nobody listens on now (the kernel's choice)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def champion_has_workers(env: dict[str, str]) -> bool:
    """Whether this champion's ``serve`` takes ``--workers`` (it is being added)."""
    helptext = subprocess.run(
        [str(BIN / "champion"), "serve", "--help"], env=env, capture_output=True, text=True
    ).stdout
    return "--workers" in helptext


def make_server(name: str, workers: int, port: int, project: Path, env: dict) -> Server:
    """The command line of server ``name`` on ``port`` with ``workers`` workers."""
    host = "127.0.0.1"
    if name == "mlflow":
        # -w is handed to uvicorn as --workers; MLflow's uvicorn keeps its defaults
        # (uvloop, httptools, and an access log line per request: that is its cost).
        command = [
            str(BIN / "mlflow"),
            "models",
            "serve",
            "-m",
            f"models:/{MODEL_NAME}@{ALIAS}",
            "--env-manager",
            "local",
            "-h",
            host,
            "-p",
            str(port),
            "-w",
            str(workers),
        ]
        return Server(name, workers, command, env)
    if name == "hello":
        command = [
            str(BIN / "uvicorn"),
            "hello_app:app",
            "--app-dir",
            str(BENCH_DIR),
            "--host",
            host,
            "--port",
            str(port),
            "--workers",
            str(workers),
            "--loop",
            "uvloop",
            "--http",
            "httptools",
            "--log-level",
            "warning",
            "--no-access-log",
        ]
        return Server(name, workers, command, env)
    if name == "champion":
        # A fresh prediction log for every start: appending to one that earlier runs
        # filled (a gigabyte after a few) would make each run slower than the last.
        log_dir = tempfile.mkdtemp(prefix="champion-bench-log-")
        atexit.register(shutil.rmtree, log_dir, ignore_errors=True)
        env = {**env, "CHAMPION_PREDICTION_LOG": f"sqlite:///{log_dir}/predictions.db"}
        command = [
            str(BIN / "champion"),
            "serve",
            "-c",
            str(project),
            "--host",
            host,
            "--port",
            str(port),
        ]
        if workers > 1:
            command += ["--workers", str(workers)]
        label = "champion" if workers > 1 else "champion (1 worker)"
        return Server(name, workers, command, env, label=label)
    raise ValueError(f"unknown server {name!r}")


def start(server: Server, log: Path) -> subprocess.Popen:
    """Start ``server`` in its own session, so that stopping it reaches every process
    it forks (MLflow execs uvicorn from a shell; uvicorn spawns its workers)."""
    with log.open("w") as handle:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(
            server.command,
            env=server.env,
            cwd=ROOT,
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def stop(process: subprocess.Popen) -> None:
    """SIGTERM the server's process group, then SIGKILL what is left after 20 s."""
    if process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        except ProcessLookupError:
            pass
    # Workers can outlive a supervisor that died first: clear the group.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)


def post(url: str, body: str, timeout: float = 30) -> tuple[int, bytes]:
    """One scoring request: (status, body)."""
    request = urllib.request.Request(
        url, data=body.encode(), method="POST", headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def wait_ready(
    process: subprocess.Popen, url: str, body: str, log: Path, timeout: float = 240
) -> float:
    """Poll ``POST url`` until it answers 200; the seconds it took. A server that exits
    or answers errors instead stops the benchmark with the end of its log."""
    started = time.monotonic()
    last = ""
    while time.monotonic() - started < timeout:
        if process.poll() is not None:
            fail(f"server exited with {process.returncode} before it was ready", log)
        try:
            status, answer = post(url, body, timeout=10)
            if status == 200:
                return time.monotonic() - started
            last = f"HTTP {status}: {answer[:300]!r}"
        except (OSError, urllib.error.URLError) as error:
            last = str(error)
        time.sleep(0.5)
    fail(f"server not ready after {timeout:.0f} s (last: {last})", log)
    raise AssertionError  # unreachable


def server_version(port: int) -> dict | None:
    """champion's ``GET /version`` (model, version, inference path), if it answers."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/version", timeout=10) as answer:
            return json.loads(answer.read())
    except (OSError, ValueError):
        return None


def fail(message: str, log: Path) -> None:
    """Stop the benchmark, showing why and the end of the server's log."""
    console.print(f"[red]{message}[/]; end of {log}:")
    console.print("".join(log.read_text(errors="replace").splitlines(True)[-40:]), markup=False)
    raise SystemExit(1)


# ------------------------------------------------------------------- process facts


def process_tree(root: int) -> list[int]:
    """``root`` and all its descendants, from the parent ids in /proc/*/stat."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        # The command name (field 2) may hold spaces: fields after its ')' are safe.
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(parent, []).append(int(entry))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(children.get(pid, []))
    return tree


def _kib(path: str, key: str) -> int:
    """A ``key: N kB`` line of a /proc file, in KiB (0 if the process is gone)."""
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def tree_memory(root: int) -> dict:
    """RSS and PSS summed over the process tree of ``root``, in MiB. RSS counts pages
    shared between processes once per process; PSS splits them."""
    pids = process_tree(root)
    rss = sum(_kib(f"/proc/{pid}/status", "VmRSS") for pid in pids)
    pss = sum(_kib(f"/proc/{pid}/smaps_rollup", "Pss") for pid in pids)
    return {
        "processes": len(pids),
        "rss_mb": round(rss / 1024, 1),
        "pss_mb": round(pss / 1024, 1) if pss else None,
    }


def cpu_seconds(pids: list[int]) -> dict[int, float]:
    """User + system CPU seconds used so far by each of ``pids``."""
    tick = os.sysconf("SC_CLK_TCK")
    used = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        used[pid] = (int(fields[11]) + int(fields[12])) / tick  # utime, stime
    return used


def connections_by_process(pids: list[int], port: int) -> tuple[dict[int, int], int]:
    """How many established connections to ``port`` each of ``pids`` holds (which
    worker the kernel handed wrk's keep-alive connections to), and how many no process
    holds: completed by the kernel but still waiting in a listen queue, unaccepted."""
    established, waiting = set(), 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            local_port = int(fields[1].rsplit(":", 1)[1], 16)
            if local_port == port and fields[3] == "01":  # 01: ESTABLISHED
                if fields[9] == "0":  # no inode yet: not accept()ed
                    waiting += 1
                else:
                    established.add(fields[9])
    counts = {}
    for pid in pids:
        try:
            links = [os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")]
        except OSError:
            continue
        count = sum(
            1 for link in links if link.startswith("socket:[") and link[8:-1] in established
        )
        if count:
            counts[pid] = count
    return counts, waiting


# ------------------------------------------------------------------------------ wrk


UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3, "h": 3600e3}


def to_ms(text: str) -> float:
    """A wrk duration (``812.00us``, ``1.23ms``, ``2.01s``, ``1.00m``) in milliseconds."""
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", text)
    if not match:
        raise ValueError(f"unexpected wrk duration {text!r}")
    return float(match.group(1)) * UNITS[match.group(2)]


def parse_wrk(output: str) -> dict:
    """Requests/s, p50 and p99 (ms), request and error counts from ``wrk --latency``."""

    def find(pattern: str) -> re.Match | None:
        return re.search(pattern, output, re.MULTILINE)

    rps = find(r"^Requests/sec:\s+([\d.]+)")
    p50 = find(r"^\s+50%\s+(\S+)")
    p99 = find(r"^\s+99%\s+(\S+)")
    total = find(r"^\s+(\d+) requests in")
    if not (rps and p50 and p99 and total):
        raise ValueError(f"cannot parse wrk output:\n{output}")
    sockets = find(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")
    non2xx = find(r"^BENCH non2xx=(\d+)")
    first_error = find(r"^BENCH first_error=(.*)$")
    return {
        "rps": float(rps.group(1)),
        "p50_ms": to_ms(p50.group(1)),
        "p99_ms": to_ms(p99.group(1)),
        "requests": int(total.group(1)),
        "non2xx": int(non2xx.group(1)) if non2xx else None,
        "socket_errors": sum(int(n) for n in sockets.groups()) if sockets else 0,
        "first_error": first_error.group(1) if first_error else None,
    }


def wrk_command(url: str, lua: Path, connections: int, threads: int, seconds: float) -> list:
    """wrk with latency percentiles; a 30 s timeout so that a slow server's answers are
    counted as (long) latencies rather than dropped as timeouts."""
    return [
        "wrk",
        f"-t{min(threads, connections)}",
        f"-c{connections}",
        f"-d{seconds:g}s",
        "--timeout",
        "30s",
        "--latency",
        "-s",
        str(lua),
        url,
    ]


def run_wrk(
    url: str,
    lua: Path,
    connections: int,
    threads: int,
    seconds: float,
    server_pid: int | None = None,
    port: int | None = None,
) -> dict:
    """One wrk run, parsed; with ``server_pid`` also how the load spread over the
    server's processes (connections held mid-run, CPU used)."""
    pids = process_tree(server_pid) if server_pid else []
    cpu_before = cpu_seconds(pids)
    wrk = subprocess.Popen(
        wrk_command(url, lua, connections, threads, seconds),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    spread, waiting = {}, 0
    if pids and port:
        time.sleep(min(1.0, seconds / 2))  # connections are all open by then
        spread, waiting = connections_by_process(pids, port)
    out, err = wrk.communicate()
    if wrk.returncode != 0:
        raise RuntimeError(f"wrk failed ({wrk.returncode}): {err or out}")
    result = parse_wrk(out)
    if pids:
        cpu_after = cpu_seconds(pids)
        result["cpu_pct_by_process"] = {
            str(pid): round(100 * (cpu_after[pid] - cpu_before.get(pid, 0)) / seconds)
            for pid in cpu_after
            if cpu_after[pid] - cpu_before.get(pid, 0) > 0.01 * seconds
        }
        result["connections_by_process"] = {str(pid): n for pid, n in spread.items()}
        result["connections_not_accepted"] = waiting
    return result


def wrk_version() -> str:
    """``4.1.0`` from ``wrk -v`` (``wrk 4.1.0 [epoll] Copyright ...``; it exits 1)."""
    done = subprocess.run(["wrk", "-v"], capture_output=True, text=True)
    match = re.search(r"wrk\s+(\S+)", done.stdout + done.stderr)
    return match.group(1) if match else "?"


# ------------------------------------------------------------------------ the runs


def benchmark(
    server: Server, port: int, args, bodies: dict[int, str], luas: dict[int, Path], logs: Path
) -> tuple[list[dict], dict]:
    """Start ``server``, load it with every (rows, connections), stop it.

    Returns the rows of results and facts about the server (start-up time, memory,
    the predictions it gave for each body).
    """
    url = f"http://127.0.0.1:{port}/invocations"
    log = logs / f"{server.label.replace(' ', '-')}.log"
    console.print(f"[bold]{server.label}[/] ({server.workers} worker(s)) on port {port}")
    process = start(server, log)
    results = []
    try:
        ready_s = wait_ready(process, url, bodies[min(bodies)], log)
        answers = {rows: json.loads(post(url, body)[1]) for rows, body in bodies.items()}
        about = server_version(port) if server.name == "champion" else None
        idle = tree_memory(process.pid)
        console.print(
            f"  ready in {ready_s:.1f} s; {idle['processes']} processes, "
            f"RSS {idle['rss_mb']:.0f} MiB"
        )
        for rows in args.rows:
            for connections in args.connections:
                # Warm-up: lazy imports, caches, connection set-up; discarded.
                run_wrk(url, luas[rows], connections, args.threads, args.warmup)
                result = run_wrk(
                    url,
                    luas[rows],
                    connections,
                    args.threads,
                    args.duration,
                    server_pid=process.pid,
                    port=port,
                )
                result.update(
                    server=server.name,
                    label=server.label,
                    workers=server.workers,
                    rows=rows,
                    connections=connections,
                    threads=min(args.threads, connections),
                    duration_s=args.duration,
                )
                result["errors"] = (result["non2xx"] or 0) + result["socket_errors"]
                result["ok"] = result["errors"] == 0 and result["non2xx"] is not None
                results.append(result)
                console.print(
                    f"  {rows:>3} rows, {connections:>2} conn: "
                    f"{result['rps']:9.1f} req/s  p50 {result['p50_ms']:8.2f} ms  "
                    f"p99 {result['p99_ms']:8.2f} ms  errors {result['errors']}"
                )
                if result["first_error"]:
                    console.print(f"    first error: {result['first_error']}", markup=False)
        loaded = tree_memory(process.pid)
    finally:
        stop(process)
    facts = {
        "label": server.label,
        "server": server.name,
        "workers": server.workers,
        "command": server.command,
        "ready_s": round(ready_s, 1),
        "memory_idle": idle,
        "memory_loaded": loaded,
        "predictions": answers,
        "version_endpoint": about,
        "notes": server.notes,
        "log": str(log),
    }
    return results, facts


def memory_only(
    server: Server, port: int, args, bodies: dict[int, str], luas: dict[int, Path], logs: Path
) -> dict:
    """Memory of a server that is not benchmarked (champion with 1 worker): after a
    warm-up load with each body at the largest connection count."""
    url = f"http://127.0.0.1:{port}/invocations"
    log = logs / f"{server.label.replace(' ', '-')}.log"
    console.print(f"[bold]{server.label}[/]: memory only, port {port}")
    process = start(server, log)
    try:
        ready_s = wait_ready(process, url, bodies[min(bodies)], log)
        idle = tree_memory(process.pid)
        for rows in args.rows:
            run_wrk(url, luas[rows], max(args.connections), args.threads, args.warmup)
        loaded = tree_memory(process.pid)
    finally:
        stop(process)
    return {
        "label": server.label,
        "server": server.name,
        "workers": server.workers,
        "command": server.command,
        "ready_s": round(ready_s, 1),
        "memory_idle": idle,
        "memory_loaded": loaded,
        "notes": ["memory only: warm-up load, not benchmarked"],
        "log": str(log),
    }


# ------------------------------------------------------------ start-up and reload

# What says "ready" for each server: (method, path).
READY_URLS = {
    "champion": ("GET", "/ready"),
    "mlflow": ("GET", "/ping"),
    "hello": ("POST", "/invocations"),
}
POLL_S = 0.02  # readiness polls: fine enough to resolve a tenth of a second
STARTUP_BOUND_S = 3.0


def answers(method: str, url: str, body: str) -> tuple[int, dict]:
    """(status, headers with lower-case names) of one request; (0, {}) when nothing
    answers yet."""
    data = body.encode() if method == "POST" else None
    request = urllib.request.Request(
        url, data=data, method=method, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            answer.read()
            return answer.status, {k.lower(): v for k, v in answer.headers.items()}
    except urllib.error.HTTPError as error:
        return error.code, {k.lower(): v for k, v in error.headers.items()}
    except (OSError, urllib.error.URLError):
        return 0, {}


def time_to_ready(server: Server, port: int, body: str, log: Path, timeout: float = 240) -> float:
    """Seconds from starting ``server`` to the first 200 of its readiness URL; the
    server is stopped after."""
    method, path = READY_URLS[server.name]
    url = f"http://127.0.0.1:{port}{path}"
    started = time.monotonic()
    process = start(server, log)
    try:
        while time.monotonic() - started < timeout:
            if process.poll() is not None:
                fail(f"server exited with {process.returncode} before it was ready", log)
            if answers(method, url, body)[0] == 200:
                return time.monotonic() - started
            time.sleep(POLL_S)
        fail(f"server not ready after {timeout:.0f} s", log)
    finally:
        stop(process)
    raise AssertionError  # unreachable


def measure_startup(args, project: Path, env: dict, body: str, logs: Path) -> list[dict]:
    """Start-up to ready of each server with 1 worker, ``args.startup_runs`` times."""
    rows: list[dict] = []
    if args.startup_runs == 0:
        return rows
    for name in [s for s in SERVER_ORDER if s in args.servers]:
        times = []
        for run_number in range(args.startup_runs):
            port = free_port()
            server = make_server(name, 1, port, project, env)
            log = logs / f"startup-{name}-{run_number}.log"
            times.append(time_to_ready(server, port, body, log))
        load = os.getloadavg()[0]
        method, path = READY_URLS[name]
        rows.append(
            {
                "server": name,
                "label": f"{name} (1 worker)",
                "ready_url": f"{method} {path}",
                "runs_s": [round(t, 2) for t in times],
                "median_s": round(statistics.median(times), 2),
                "min_s": round(min(times), 2),
                "max_s": round(max(times), 2),
                "load": round(load, 2),
            }
        )
        console.print(
            f"  start-up {name}: median {rows[-1]['median_s']:.2f} s "
            f"(runs {', '.join(f'{t:.2f}' for t in times)}; load {load:.1f})"
        )
    return rows


def second_version(client, project: Path, env: dict) -> tuple[str, str]:
    """(the champion's version, another version), registering one if there is none."""
    champion = client.get_model_version_by_alias(MODEL_NAME, ALIAS).version
    others = [
        v.version
        for v in client.search_model_versions(f"name = '{MODEL_NAME}'")
        if v.version != champion
    ]
    if not others:
        run_step(
            [str(BIN / "champion"), "register", "-c", str(project), "--best"],
            env,
            "register a second version",
        )
        return second_version(client, project, env)
    return str(champion), str(max(others, key=int))


def measure_reload(args, project: Path, workdir: Path, env: dict, body: str, logs: Path) -> dict:
    """Seconds from moving ``@champion`` to the first answer of the new version, with
    champion (1 worker) checking the alias every ``args.reload_interval`` seconds."""
    from mlflow import MlflowClient

    client = MlflowClient(f"sqlite:///{workdir / 'mlflow.db'}")
    original, other = second_version(client, project, env)
    port = free_port()
    server = make_server("champion", 1, port, project, env)
    server.command += ["--reload-interval", f"{args.reload_interval:g}"]
    url = f"http://127.0.0.1:{port}/invocations"
    log = logs / "reload-champion.log"
    process = start(server, log)
    times = []
    try:
        wait_ready(process, url, body, log)
        for move in range(args.reloads):
            target = other if move % 2 == 0 else original
            moved = time.monotonic()
            client.set_registered_model_alias(MODEL_NAME, ALIAS, target)
            while True:
                if process.poll() is not None:
                    fail("server exited during the reload runs", log)
                if time.monotonic() - moved > 120:
                    fail(f"version {target} never answered after the alias moved", log)
                status, headers = answers("POST", url, body)
                if status == 200 and headers.get("x-model-version") == target:
                    break
                time.sleep(POLL_S)
            times.append(time.monotonic() - moved)
    finally:
        stop(process)
        client.set_registered_model_alias(MODEL_NAME, ALIAS, original)
    load = os.getloadavg()[0]
    result = {
        "interval_s": args.reload_interval,
        "versions": [original, other],
        "runs_s": [round(t, 2) for t in times],
        "median_s": round(statistics.median(times), 2),
        "min_s": round(min(times), 2),
        "max_s": round(max(times), 2),
        "load": round(load, 2),
    }
    console.print(
        f"  reload to serving: median {result['median_s']:.2f} s with a "
        f"{args.reload_interval:g} s interval (runs {', '.join(f'{t:.2f}' for t in times)}; "
        f"load {load:.1f})"
    )
    return result


STARTUP_COLUMNS = ["server", "ready when", "median s", "min s", "max s", "runs", "load avg"]


def startup_cells(row: dict) -> list[str]:
    """One row of the start-up table."""
    return [
        row["label"],
        row["ready_url"] + " answers 200",
        f"{row['median_s']:.2f}",
        f"{row['min_s']:.2f}",
        f"{row['max_s']:.2f}",
        str(len(row["runs_s"])),
        f"{row['load']:.1f}",
    ]


def reload_cells(reload: dict) -> list[str]:
    """The reload row, in the start-up table's columns."""
    return [
        f"champion reload (interval {reload['interval_s']:g} s)",
        "POST /invocations answered by the new version",
        f"{reload['median_s']:.2f}",
        f"{reload['min_s']:.2f}",
        f"{reload['max_s']:.2f}",
        str(len(reload["runs_s"])),
        f"{reload['load']:.1f}",
    ]


STARTUP_NOTE = (
    "Start-up: from starting the command to the first 200 of its readiness URL (polled "
    "every 20 ms), 1 worker. Reload: from moving @champion to the first answer of the "
    "new version; it includes the wait for the next alias check."
)


def startup_criterion(startup: list[dict]) -> dict:
    """champion's median start-up to ready (1 worker) against the bound."""
    ours = next((row for row in startup if row["server"] == "champion"), None)
    value = ours["median_s"] if ours else None
    verdict = "n/a" if value is None else "PASS" if value <= STARTUP_BOUND_S else "FAIL"
    return {
        "criterion": "champion start-up to ready (1 worker, median)",
        "value": value,
        "bound": f"<= {STARTUP_BOUND_S:g} s",
        "verdict": verdict,
        "goal": False,
    }


# ------------------------------------------------------------------ the verdicts


def lookup(results: list[dict], server: str, rows: int, connections: int) -> dict | None:
    """The result of ``server`` at (rows, connections), if it was measured."""
    for result in results:
        if (result["server"], result["rows"], result["connections"]) == (server, rows, connections):
            return result
    return None


def add_ratios(results: list[dict]) -> None:
    """On champion's rows: req/s over MLflow's and over hello's, p99 over MLflow's."""
    for result in results:
        if result["server"] != "champion":
            continue
        mlflow = lookup(results, "mlflow", result["rows"], result["connections"])
        hello = lookup(results, "hello", result["rows"], result["connections"])
        result["x_mlflow_rps"] = _ratio(result["rps"], mlflow and mlflow["rps"])
        result["x_hello_rps"] = _ratio(result["rps"], hello and hello["rps"])
        result["p99_over_mlflow"] = _ratio(result["p99_ms"], mlflow and mlflow["p99_ms"])


def _ratio(a: float, b: float | None) -> float | None:
    return round(a / b, 3) if b else None


def criteria(results: list[dict], args) -> list[dict]:
    """Each acceptance criterion (and the goal beyond) as PASS, FAIL or n/a, with the
    figures it was judged on. A row with errors fails every criterion using it."""
    checks = []

    def check(
        name: str,
        rows: int,
        connections: int,
        key: str,
        op: str,
        bound: float,
        against: str,
        goal: bool = False,
    ) -> None:
        ours = lookup(results, "champion", rows, connections)
        theirs = lookup(results, against, rows, connections)
        if rows not in args.rows or connections not in args.connections or not ours or not theirs:
            verdict, value = "n/a", None
        else:
            value = ours.get(key)
            met = value is not None and (value >= bound if op == ">=" else value <= bound)
            verdict = "PASS" if met and ours["ok"] and theirs["ok"] else "FAIL"
            if met and not (ours["ok"] and theirs["ok"]):
                name += " (errors)"
        checks.append(
            {
                "criterion": name,
                "value": value,
                "bound": f"{op} {bound:g}",
                "verdict": verdict,
                "goal": goal,
            }
        )

    for connections in (1, 32):
        check(
            f"1 row, {connections} conn: champion req/s >= 10x MLflow's",
            1,
            connections,
            "x_mlflow_rps",
            ">=",
            10,
            "mlflow",
        )
    check(
        "1 row, 32 conn: champion p99 <= 1/10 of MLflow's",
        1,
        32,
        "p99_over_mlflow",
        "<=",
        0.1,
        "mlflow",
    )
    for connections in (1, 32):
        check(
            f"100 rows, {connections} conn: champion req/s >= 3x MLflow's",
            100,
            connections,
            "x_mlflow_rps",
            ">=",
            3,
            "mlflow",
        )
    for connections in (1, 32):
        # The serving-speed issue's bar: a batch at the speed of the model.
        check(
            f"100 rows, {connections} conn: champion req/s >= 20x MLflow's",
            100,
            connections,
            "x_mlflow_rps",
            ">=",
            20,
            "mlflow",
        )
    for connections in (1, 32):
        check(
            f"goal: 1 row, {connections} conn: champion req/s >= 1/2 of hello's",
            1,
            connections,
            "x_hello_rps",
            ">=",
            0.5,
            "hello",
            goal=True,
        )
    return checks


# ----------------------------------------------------------------------- reporting


def machine(load_at_start: float) -> dict:
    """CPU count and model, kernel, Python, and the load average (1 min) at the start
    and now: other work on the machine shows there, and skews the figures."""
    model = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "load_at_start": round(load_at_start, 2),
        "load_at_end": round(os.getloadavg()[0], 2),
    }


def versions() -> dict:
    """Versions of the packages that make up the servers, and of wrk."""
    found = {}
    for package in (
        "champion",
        "mlflow",
        "uvicorn",
        "fastapi",
        "starlette",
        "uvloop",
        "httptools",
        "scikit-learn",
        "pandas",
        "orjson",
    ):
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            found[package] = None
    found["wrk"] = wrk_version()
    return found


def _fmt(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{value:,.{digits}f}"


def _times(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}×"


def _spread(result: dict) -> str:
    """Connections and CPU % per busy process, e.g. ``20+12 conn; 97+64% cpu``, and
    connections nobody accepted (``9 unaccepted``)."""
    conns = result.get("connections_by_process") or {}
    cpu = result.get("cpu_pct_by_process") or {}
    waiting = result.get("connections_not_accepted") or 0
    parts = []
    if len(cpu) > 1 or len(conns) > 1:  # one process: nothing to spread
        if conns:
            parts.append("+".join(map(str, sorted(conns.values(), reverse=True))) + " conn")
        if cpu:
            parts.append("+".join(map(str, sorted(cpu.values(), reverse=True))) + "% cpu")
    if waiting:
        parts.append(f"{waiting} unaccepted")
    return "; ".join(parts)


# The three ratios are on champion's rows: its req/s over MLflow's and over hello's, its
# p99 over MLflow's, at the same rows and connections.
RESULT_COLUMNS = [
    "server",
    "workers",
    "rows",
    "conns",
    "req/s",
    "p50 ms",
    "p99 ms",
    "errors",
    "req/s ÷ mlflow",
    "req/s ÷ hello",
    "p99 ÷ mlflow p99",
    "load spread",
]


RATIOS_NOTE = (
    "Ratios, on champion's rows: its req/s over MLflow's and over hello's, its "
    "p99 over MLflow's, at the same rows and connections."
)
SPREAD_NOTE = (
    "Load spread, when more than one process worked: established connections "
    "each server process held mid-run, and the CPU each used (% of one core); "
    "'unaccepted': connections established by the kernel that no process had accepted."
)


def result_cells(result: dict) -> list[str]:
    """One table row of a result."""
    errors = str(result["errors"]) if result["non2xx"] is not None else "? (no count)"
    return [
        result["label"],
        str(result["workers"]),
        str(result["rows"]),
        str(result["connections"]),
        _fmt(result["rps"]),
        _fmt(result["p50_ms"], 2),
        _fmt(result["p99_ms"], 2),
        errors,
        _times(result.get("x_mlflow_rps")),
        _times(result.get("x_hello_rps")),
        _fmt(result.get("p99_over_mlflow"), 3),
        _spread(result),
    ]


def memory_cells(facts: dict) -> list[str]:
    """One row of the memory table."""
    idle, loaded = facts["memory_idle"], facts["memory_loaded"]
    return [
        facts["label"],
        str(facts["workers"]),
        str(loaded["processes"]),
        _fmt(idle["rss_mb"], 0),
        _fmt(loaded["rss_mb"], 0),
        _fmt(loaded["pss_mb"], 0),
        f"{facts['ready_s']:.1f}",
    ]


MEMORY_COLUMNS = [
    "server",
    "workers",
    "processes",
    "RSS ready MiB",
    "RSS after load MiB",
    "PSS after load MiB",
    "start-up s",
]


def sort_key(result: dict) -> tuple:
    return (result["rows"], result["connections"], SERVER_ORDER.index(result["server"]))


def header_lines(report: dict) -> list[str]:
    """Date, machine, versions, model, settings: what the figures depend on."""
    m, v, s = report["machine"], report["versions"], report["settings"]
    agree = report["predictions_agree"]
    return [
        f"Date: {report['date']}",
        f"Machine: {m['cpus']} CPUs, {m['cpu_model']}, Linux {m['kernel']}, Python {m['python']}; "
        f"load average {m['load_at_start']} at the start, {m['load_at_end']} at the end",
        "Versions: " + ", ".join(f"{k} {val}" for k, val in v.items() if val),
        f"Model: {report['model']['summary']}, run {report['model']['run_id']}",
        f"Load: wrk over loopback, {s['duration']:g} s per run after a {s['warmup']:g} s "
        f"warm-up, threads = min(connections, {s['threads']}); bodies: MLflow "
        f"dataframe_split of {', '.join(map(str, s['rows']))} rows",
        f"Workers: {s['workers']} for every server"
        + (
            ""
            if s["champion_workers"] == s["workers"]
            else f" except champion: {s['champion_workers']} (its serve has no --workers yet)"
        ),
        f"champion's inference path: {report['champion_inference_path'] or '?'}",
        "Same predictions from champion and MLflow: "
        + ("yes" if agree else "NO" if agree is False else "not compared"),
    ]


def print_report(report: dict) -> None:
    """The results as Rich tables on the console."""
    for line in header_lines(report):
        console.print(line, highlight=False)
    table = Table(title="POST /invocations")
    for column in RESULT_COLUMNS:
        table.add_column(column, justify="left" if column in ("server", "load spread") else "right")
    previous = None
    for result in report["results"]:
        if previous and (previous["rows"], previous["connections"]) != (
            result["rows"],
            result["connections"],
        ):
            table.add_section()
        style = None if result["ok"] else "red"
        table.add_row(*result_cells(result), style=style)
        previous = result
    console.print(table)
    console.print(RATIOS_NOTE, SPREAD_NOTE, sep="\n", highlight=False)
    memory = Table(title="Memory (summed over the process tree)")
    for column in MEMORY_COLUMNS:
        memory.add_column(column, justify="left" if column == "server" else "right")
    for facts in report["servers"]:
        memory.add_row(*memory_cells(facts))
    console.print(memory)
    if report.get("startup") or report.get("reload"):
        table = Table(title="Start-up and reload")
        for column in STARTUP_COLUMNS:
            table.add_column(
                column, justify="left" if column in ("server", "ready when") else "right"
            )
        for row in report.get("startup") or []:
            table.add_row(*startup_cells(row))
        if report.get("reload"):
            table.add_row(*reload_cells(report["reload"]))
        console.print(table)
        console.print(STARTUP_NOTE, highlight=False)
    for check in report["criteria"]:
        colour = {"PASS": "green", "FAIL": "red"}.get(check["verdict"], "yellow")
        value = "–" if check["value"] is None else f"{check['value']:.3g}"
        console.print(
            f"[{colour}]{check['verdict']:4}[/] {check['criterion']} "
            f"(measured {value}, needs {check['bound']})",
            highlight=False,
        )


def markdown(report: dict) -> str:
    """The same report as Markdown, for benchmarks/results/serve.md."""

    def table(columns: list[str], rows: list[list[str]]) -> list[str]:
        lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
        lines += [
            "| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows
        ]
        return lines

    out = ["# champion serve vs mlflow models serve", ""]
    out += [f"- {line}" for line in header_lines(report)]
    out += ["", "## POST /invocations", ""]
    out += table(RESULT_COLUMNS, [result_cells(r) for r in report["results"]])
    out += ["", RATIOS_NOTE, "", SPREAD_NOTE, "", "## Memory", ""]
    out += table(MEMORY_COLUMNS, [memory_cells(f) for f in report["servers"]])
    out += [
        "",
        "RSS counts pages shared between processes once per process; PSS shares them "
        "out. The tree includes launchers and supervisors (MLflow's CLI process stays "
        "alive as the parent of its uvicorn).",
    ]
    if report.get("startup") or report.get("reload"):
        rows = [startup_cells(row) for row in report.get("startup") or []]
        if report.get("reload"):
            rows.append(reload_cells(report["reload"]))
        out += ["", "## Start-up and reload", ""]
        out += table(STARTUP_COLUMNS, rows)
        out += ["", STARTUP_NOTE]
    out += ["", "## Criteria", ""]
    for check in report["criteria"]:
        value = "–" if check["value"] is None else f"{check['value']:.3g}"
        out.append(
            f"- **{check['verdict']}** {check['criterion']} "
            f"(measured {value}, needs {check['bound']})"
        )
    out += ["", "Commands:", ""]
    out += [f"- {f['label']}: `{' '.join(f['command'])}`" for f in report["servers"]]
    out += ["", f"Reproduce: `{report['settings']['command']}`", ""]
    return "\n".join(out)


# ----------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    # Whole seconds: wrk refuses fractions ("0.5s").
    parser.add_argument("--duration", type=int, default=10, help="seconds per run (10)")
    parser.add_argument(
        "--warmup", type=int, default=2, help="seconds of discarded warm-up before each run (2)"
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=2,
        help="workers of every server (2); champion is also measured with 1 for memory",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=2,
        help="wrk threads at most (2: one per core of the reference machine)",
    )
    parser.add_argument("--connections", default="1,32", help="comma-separated (1,32)")
    parser.add_argument("--rows", default="1,100", help="rows per request, comma-separated")
    parser.add_argument(
        "--servers", default=",".join(SERVER_ORDER), help="which of mlflow,hello,champion to run"
    )
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--workdir", type=Path, help="set the model up here, and keep it")
    where.add_argument(
        "--reuse", type=Path, help="a folder a previous --workdir set up: skip training"
    )
    parser.add_argument(
        "--results", type=Path, default=RESULTS_DIR, help="where serve.md and serve.json go"
    )
    parser.add_argument(
        "--startup-runs",
        type=int,
        default=3,
        help="start-ups to ready per server, 1 worker (3; 0 skips them)",
    )
    parser.add_argument(
        "--reloads", type=int, default=4, help="alias moves to time champion's reload (4; 0 skips)"
    )
    parser.add_argument(
        "--reload-interval",
        type=float,
        default=1.0,
        help="champion's --reload-interval during the reload runs, seconds (1)",
    )
    args = parser.parse_args(argv)
    args.connections = [int(c) for c in args.connections.split(",")]
    args.rows = [int(r) for r in args.rows.split(",")]
    args.servers = [s.strip() for s in args.servers.split(",") if s.strip()]
    unknown = set(args.servers) - set(SERVER_ORDER)
    if unknown:
        parser.error(f"unknown servers {sorted(unknown)}; choose from {SERVER_ORDER}")
    if min(args.workers, args.duration, args.warmup, *args.connections, *args.rows) < 1:
        parser.error("--workers, --duration, --warmup, --connections and --rows must be >= 1")
    if min(args.startup_runs, args.reloads) < 0 or args.reload_interval <= 0:
        parser.error("--startup-runs and --reloads must be >= 0, --reload-interval > 0")
    args.command = "uv run python benchmarks/serve.py " + " ".join(
        argv if argv is not None else sys.argv[1:]
    )
    return args


def prepare_workdir(args) -> tuple[Path, Path, bool]:
    """(work folder, project file, whether to delete the folder at the end)."""
    if args.reuse:
        workdir = args.reuse.resolve()
        project = workdir / "champion.yaml"
        if not project.is_file() or not (workdir / "mlflow.db").is_file():
            sys.exit(
                f"--reuse {workdir}: no champion.yaml and mlflow.db there "
                "(set one up with --workdir)"
            )
        console.print(f"Reusing the model set up in {workdir}")
        return workdir, project, False
    if args.workdir:
        workdir = args.workdir.resolve()
        return workdir, set_up(workdir), False
    workdir = Path(tempfile.mkdtemp(prefix="champion-bench-"))
    return workdir, set_up(workdir), True


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not shutil.which("wrk"):
        sys.exit(
            "wrk is not installed: `apt-get install -y wrk` (Debian/Ubuntu) or "
            "`brew install wrk`, then run again."
        )
    for script in ("champion", "mlflow", "uvicorn"):
        if not (BIN / script).exists():
            sys.exit(f"{BIN / script} not found: run with `uv run python benchmarks/serve.py`")
    started = time.monotonic()
    workdir, project, temporary = prepare_workdir(args)
    try:
        return run(args, workdir, project, started)
    finally:
        if temporary:
            shutil.rmtree(workdir, ignore_errors=True)


def run(args, workdir: Path, project: Path, started: float) -> int:
    """Benchmark every server, then report."""
    load_at_start = os.getloadavg()[0]
    env = tracking_env(workdir)
    model = describe_model(workdir)
    console.print(f"Model: {model['summary']}")
    bodies = {rows: request_body(rows) for rows in args.rows}
    scratch = workdir / "bench"
    scratch.mkdir(exist_ok=True)
    luas = {rows: write_lua(scratch, rows, body) for rows, body in bodies.items()}
    champion_workers = args.workers
    if "champion" in args.servers and args.workers > 1 and not champion_has_workers(env):
        console.print(
            f"[yellow]champion serve has no --workers option yet: champion runs "
            f"with 1 worker, the others with {args.workers}[/]"
        )
        champion_workers = 1

    results, servers = [], []
    for name in [s for s in SERVER_ORDER if s in args.servers]:
        workers = champion_workers if name == "champion" else args.workers
        port = free_port()
        server = make_server(name, workers, port, project, env)
        rows, facts = benchmark(server, port, args, bodies, luas, scratch)
        results += rows
        servers.append(facts)
    if "champion" in args.servers and champion_workers > 1:
        port = free_port()
        servers.append(
            memory_only(
                make_server("champion", 1, port, project, env), port, args, bodies, luas, scratch
            )
        )

    console.print("[bold]Start-up and reload[/]")
    startup = measure_startup(args, project, env, bodies[min(bodies)], scratch)
    reload = None
    if "champion" in args.servers and args.reloads > 0:
        reload = measure_reload(args, project, workdir, env, bodies[min(bodies)], scratch)

    results.sort(key=sort_key)
    add_ratios(results)
    answers = {f["server"]: f.get("predictions") for f in servers if f.get("predictions")}
    agree = (
        answers["champion"] == answers["mlflow"] if {"champion", "mlflow"} <= set(answers) else None
    )
    report = {
        "date": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "machine": machine(load_at_start),
        "versions": versions(),
        "model": model,
        "settings": {
            "duration": args.duration,
            "warmup": args.warmup,
            "workers": args.workers,
            "champion_workers": champion_workers,
            "threads": args.threads,
            "connections": args.connections,
            "rows": args.rows,
            "servers": args.servers,
            "command": args.command,
            "workdir": str(workdir),
        },
        "predictions_agree": agree,
        "champion_inference_path": next(
            (
                (f.get("version_endpoint") or {}).get("inference_path")
                for f in servers
                if f["server"] == "champion" and f.get("version_endpoint")
            ),
            None,
        ),
        "results": results,
        "servers": servers,
        "startup": startup,
        "reload": reload,
        "criteria": criteria(results, args) + ([startup_criterion(startup)] if startup else []),
        "elapsed_s": round(time.monotonic() - started),
    }
    console.print()
    print_report(report)
    args.results.mkdir(parents=True, exist_ok=True)
    (args.results / "serve.md").write_text(markdown(report))
    (args.results / "serve.json").write_text(json.dumps(report, indent=2, default=str) + "\n")
    console.print(
        f"Written {args.results / 'serve.md'} and {args.results / 'serve.json'} "
        f"({report['elapsed_s']} s in all)"
    )
    failed = [c for c in report["criteria"] if c["verdict"] == "FAIL" and not c["goal"]]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
