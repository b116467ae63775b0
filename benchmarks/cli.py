"""Start-up time of ``champion models`` beside a bare ``MlflowClient`` listing.

What it measures
----------------
One SQLite tracking store, built once in the work folder: the Pokémon legendary
project (``examples/pokemon-legendary``) trained with two quick candidates (logistic
regression and a majority-class dummy), then three versions registered (the first
promoted to ``@champion``, the last two left as ``@challenger`` in turn). Two commands
list that model's versions, each in a fresh Python process, as a user would type them:

``bare``      ``python -c <LISTING>``: an ``MlflowClient`` on the store,
              ``get_registered_model`` (for the aliases) and ``search_model_versions``,
              one line printed per version. What listing costs with MLflow alone.
``champion``  ``champion models -c champion.yaml``: the same listing, plus the metrics
              of each version's run, drawn as a table.

The two run alternately (hyperfine-style: one discarded warm-up each, then ``--runs``
rounds of bare, champion), so a change of load on the machine falls on both; the
figure is the median wall-clock time of each, and their ratio. A failed run stops the
benchmark. The goal, checked at the end (PASS/FAIL): ``champion models`` takes at most
1.2x the bare listing. Import time dominates both; a command that imported
scikit-learn, skops, SHAP or the training code to list versions would miss it.

How to run
----------
::

    uv run python benchmarks/cli.py                       # build the store, then time (~1 min)
    uv run python benchmarks/cli.py --runs 10
    uv run python benchmarks/cli.py --workdir /tmp/bench  # keep the store
    uv run python benchmarks/cli.py --reuse /tmp/bench    # skip building it next time

The results go to ``benchmarks/results/cli.md``; the exit status is 1 when the goal is
missed. Figures from a loaded machine (the load average is in the report) are only
indicative.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from importlib.metadata import version
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "pokemon-legendary" / "champion.yaml"
RESULTS = ROOT / "benchmarks" / "results" / "cli.md"
BIN = Path(sys.executable).parent
MODEL_NAME = "pokemon_legendary"
GOAL = 1.2

PROJECT = """\
name: {name}
data:
  path: {data}
target: is_legendary
task: binary
features:
  numeric: [hp, attack, defense, special_attack, special_defense, speed]
split:
  method: group
  column: species_id
metric: f1
candidates:
  - {{name: linear, estimator: linear}}
  - name: majority
    estimator: sklearn.dummy.DummyClassifier
    params: {{strategy: most_frequent}}
"""

# The baseline: what listing a model's versions costs with MLflow and nothing else.
LISTING = """\
import sys
from mlflow import MlflowClient

client = MlflowClient(tracking_uri=sys.argv[1])
model = client.get_registered_model(sys.argv[2])
aliases = {}
for alias, number in model.aliases.items():
    aliases.setdefault(str(number), []).append(alias)
for v in client.search_model_versions(f"name = '{sys.argv[2]}'"):
    print(v.name, v.version, ",".join(aliases.get(str(v.version), [])), v.description)
"""


def tracking_env(workdir: Path) -> dict[str, str]:
    """The environment for every child: the work folder's store, nothing inherited that
    could point champion or MLflow elsewhere, and plain wide output."""
    env = os.environ.copy()
    for name in ("MLFLOW_REGISTRY_URI", "CHAMPION_ARTIFACTS", "CHAMPION_PREDICTION_LOG"):
        env.pop(name, None)
    env["MLFLOW_TRACKING_URI"] = f"sqlite:///{workdir / 'mlflow.db'}"
    env["COLUMNS"] = "200"
    env["NO_COLOR"] = "1"
    return env


def champion(*args: str, env: dict[str, str]) -> str:
    """Run one champion command; stop the benchmark with its output if it fails."""
    done = subprocess.run(
        [str(BIN / "champion"), *args], env=env, capture_output=True, text=True, cwd=ROOT
    )
    if done.returncode != 0:
        sys.exit(f"champion {' '.join(args)} failed:\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
    return done.stdout


def set_up(workdir: Path) -> Path:
    """Train both candidates and register three versions; return the project file."""
    workdir.mkdir(parents=True, exist_ok=True)
    data = (EXAMPLE.parent / "../../data/pokemon/generation-*.csv").resolve()
    project = workdir / "champion.yaml"
    project.write_text(PROJECT.format(name=MODEL_NAME, data=data))
    env = tracking_env(workdir)
    print(f"Setting up the store in {workdir}", flush=True)
    c = ("-c", str(project))
    champion("train", *c, env=env)
    champion("register", *c, "--best", env=env)
    champion("promote", *c, env=env)
    # Two more versions: the store a user lists after a few rounds of training.
    runs = json.loads(champion("compare", *c, "--json", env=env))
    for run in reversed(runs):
        champion("register", *c, "--run", run["run_id"], env=env)
    return project


def time_once(args: list[str], env: dict[str, str]) -> float:
    """Wall-clock seconds of one fresh process running ``args``; it must succeed."""
    started = time.perf_counter()
    done = subprocess.run(args, env=env, capture_output=True, text=True, cwd=ROOT)
    elapsed = time.perf_counter() - started
    if done.returncode != 0 or MODEL_NAME not in done.stdout:
        sys.exit(f"{' '.join(args[:3])} failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    return elapsed


def measure(workdir: Path, project: Path, runs: int) -> dict[str, list[float]]:
    """Alternate the two commands ``runs`` times after one warm-up each."""
    env = tracking_env(workdir)
    commands = {
        "bare": [sys.executable, "-c", LISTING, env["MLFLOW_TRACKING_URI"], MODEL_NAME],
        "champion": [str(BIN / "champion"), "models", "-c", str(project)],
    }
    for args in commands.values():  # warm-up: the OS's file cache, not the measure
        time_once(args, env)
    times: dict[str, list[float]] = {name: [] for name in commands}
    for round_ in range(1, runs + 1):
        for name, args in commands.items():
            times[name].append(time_once(args, env))
        print(f"  round {round_}: " + ", ".join(f"{n} {t[-1]:.2f} s" for n, t in times.items()))
    return times


def report(times: dict[str, list[float]], load: tuple[float, float]) -> tuple[str, bool]:
    """The Markdown report and whether the goal is met."""
    bare = statistics.median(times["bare"])
    ours = statistics.median(times["champion"])
    ratio = ours / bare
    passed = ratio <= GOAL
    rows = [
        ("bare `MlflowClient` listing", times["bare"], bare, 1.0),
        ("`champion models`", times["champion"], ours, ratio),
    ]
    lines = [
        "# CLI start-up: `champion models` vs a bare MlflowClient listing",
        "",
        f"- Date: {dt.datetime.now(dt.UTC).isoformat(timespec='seconds')}",
        f"- Machine: {os.cpu_count()} CPUs, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}; load average {load[0]:.2f} at the start, "
        f"{load[1]:.2f} at the end",
        f"- Versions: mlflow {version('mlflow')}, typer {version('typer')}",
        f"- Store: one SQLite file, model `{MODEL_NAME}` with 3 versions (see the script's "
        "docstring); each command a fresh process, alternating, after one warm-up each",
        "",
        "| command | runs | median s | min s | max s | ÷ bare |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for label, values, median, share in rows:
        lines.append(
            f"| {label} | {len(values)} | {median:.2f} | {min(values):.2f} | "
            f"{max(values):.2f} | {share:.2f}× |"
        )
    verdict = "PASS" if passed else "FAIL"
    lines += ["", f"Goal: `champion models` ≤ {GOAL}× the bare listing: **{verdict}**", ""]
    return "\n".join(lines), passed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="Timed rounds (default 5).")
    parser.add_argument("--workdir", type=Path, help="Build the store here and keep it.")
    parser.add_argument("--reuse", type=Path, help="A work folder from an earlier run.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="champion-cli-bench-") as scratch:
        if args.reuse:
            workdir, project = args.reuse, args.reuse / "champion.yaml"
        else:
            workdir = args.workdir or Path(scratch)
            project = set_up(workdir)
        start_load = os.getloadavg()[0]
        times = measure(workdir, project, args.runs)
        text, passed = report(times, (start_load, os.getloadavg()[0]))
    RESULTS.write_text(text)
    print(text)
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
