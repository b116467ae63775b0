"""Wall time of ``champion train`` beside a plain MLflow autolog script, per table size.

What it measures
----------------
For each size (2,000, 20,000 and 200,000 rows; 1,000,000 with ``--million``) one
synthetic binary table is written to CSV: ten numeric columns ``x0``..``x9``, two
categorical ones (``colour``, 5 levels; ``city``, 40 levels) and a target ``y`` from a
noisy logistic model of some of them (about a third of the rows positive). Then three
processes run, one after the other, each on its own fresh SQLite tracking store
(``sqlite:///…/mlflow.db``, a file that does not exist yet), each timed from process
start to exit; ``--repeat`` rounds of the three (default 3), interleaved so that load
from elsewhere hits them alike, and the median of each is reported:

``champion``  ``champion train`` on a four-line project file (name, data, target,
              task): the default candidates (linear, random forest, histogram gradient
              boosting, and an SVM up to 10,000 rows), everything each run logs today
              (params, holdout metrics, datasets, plots, importance, SHAP, profile,
              holdout, the model);
``plain``     a script that fits the same pipelines (champion's own ``build_pipeline``
              for each default candidate, on the same training rows) with
              ``mlflow.sklearn.autolog()``, one run each, serially: what a data
              scientist writes by hand;
``bare``      the same fits with no MLflow at all; the sum of the fit times is the
              floor (no tracking system can beat it), shown beside the others.

The ratio ``champion ÷ plain`` is reported per size. The bar (issue 11): at most
**1.0×** at every size up to 200,000 rows; the goal **0.5×**.

How to run
----------
::

    uv run python benchmarks/train.py                    # 2k, 20k, 200k (~30 min)
    uv run python benchmarks/train.py --sizes 2000 20000 # a shared machine: small sizes
    uv run python benchmarks/train.py --million          # adds 1,000,000 rows
    uv run python benchmarks/train.py --jobs 1           # champion without parallel fits
    uv run python benchmarks/train.py --repeat 1         # one round: quicker, noisier

It prints a table; the same results go to ``benchmarks/results/train.md`` (Markdown)
and ``benchmarks/results/train.json`` (raw); the exit status is 1 when the bar is
missed at a size up to 200,000 rows. Work files stay in ``--workdir`` if given (else a
temporary folder, removed at the end). The load average at the start and the end is in
the report: figures from a loaded machine are only indicative.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd

BENCH_DIR = Path(__file__).resolve().parent
RESULTS_DIR = BENCH_DIR / "results"
CHAMPION = Path(sys.executable).parent / "champion"
BAR, GOAL, BAR_MAX_ROWS = 1.0, 0.5, 200_000

PROJECT = """name: synthetic
data: data.csv
target: y
task: binary
"""

# The plain script: champion's default pipelines, fitted under MLflow's autolog. It
# imports champion only to build the very same pipelines and training rows.
PLAIN = textwrap.dedent(
    """
    import sys, time
    import mlflow
    from champion.project.spec import load_spec
    from champion.training.train import build_pipeline, candidates_of, prepare

    folder = sys.argv[1]
    mlflow.set_tracking_uri(f"sqlite:///{folder}/mlflow.db")
    mlflow.set_experiment("synthetic")
    mlflow.sklearn.autolog()
    project = load_spec(f"{folder}/champion.yaml")
    context = prepare(project)
    X, y = context.part(context.split.train)
    for candidate in candidates_of(project, len(context.inputs)):
        with mlflow.start_run(run_name=candidate.name):
            build_pipeline(context, candidate).fit(X, y)
    """
)

# The floor: the same fits, no tracking; prints the fit time of each candidate.
BARE = textwrap.dedent(
    """
    import json, sys, time
    from champion.project.spec import load_spec
    from champion.training.train import build_pipeline, candidates_of, prepare

    project = load_spec(f"{sys.argv[1]}/champion.yaml")
    context = prepare(project)
    X, y = context.part(context.split.train)
    fits = {}
    for candidate in candidates_of(project, len(context.inputs)):
        started = time.perf_counter()
        build_pipeline(context, candidate).fit(X, y)
        fits[candidate.name] = time.perf_counter() - started
    print(json.dumps(fits))
    """
)


def synthetic(rows: int, seed: int = 0) -> pd.DataFrame:
    """A binary table: 10 numbers, 2 categories, a logistic target with noise."""
    rng = np.random.default_rng(seed)
    numbers = rng.normal(size=(rows, 10))
    frame = pd.DataFrame(numbers, columns=[f"x{i}" for i in range(10)])
    frame["x3"] = np.exp(frame["x3"])  # one skewed column, as real data has
    colours = np.array(["red", "green", "blue", "amber", "violet"])
    frame["colour"] = colours[rng.integers(0, 5, size=rows)]
    frame["city"] = [f"city{k}" for k in rng.integers(0, 40, size=rows)]
    effect = np.where(frame["colour"] == "red", 1.0, 0.0) - 0.3 * (frame["city"] == "city7")
    margin = (
        1.2 * numbers[:, 0]
        - 0.8 * numbers[:, 1]
        + 0.5 * numbers[:, 2] * numbers[:, 4]
        + effect
        - 0.9
        + rng.normal(scale=1.0, size=rows)
    )
    frame["y"] = (margin > 0).astype(int)
    return frame


def timed(args: list[str], log: Path, env: dict[str, str]) -> tuple[float, str]:
    """Run ``args`` to completion; wall seconds from start to exit, and its stdout."""
    started = time.perf_counter()
    done = subprocess.run(args, capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - started
    log.write_text(done.stdout + "\n--- stderr ---\n" + done.stderr)
    if done.returncode != 0:
        sys.exit(f"{' '.join(map(str, args[:3]))} failed ({done.returncode}); see {log}")
    return seconds, done.stdout


def fresh(folder: Path, data: Path) -> Path:
    """A project folder with the four-line project file and the data, no store yet."""
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    (folder / "champion.yaml").write_text(PROJECT)
    (folder / "data.csv").symlink_to(data)
    return folder


def measure(rows: int, workdir: Path, jobs: int | None, repeat: int) -> dict:
    """``repeat`` rounds of bare, plain, champion (interleaved, so a burst of load from
    elsewhere hits all three alike); the median of each, and every time measured."""
    data = workdir / f"data-{rows}.csv"
    if not data.exists():
        synthetic(rows).to_csv(data, index=False)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "CHAMPION_"))}
    env["PYTHONUNBUFFERED"] = "1"
    (workdir / "plain.py").write_text(PLAIN)
    (workdir / "bare.py").write_text(BARE)
    times: dict[str, list[float]] = {"bare": [], "plain": [], "champion": []}
    fits: list[dict[str, float]] = []
    for _ in range(repeat):
        folder = fresh(workdir / f"bare-{rows}", data)
        seconds, out = timed([sys.executable, workdir / "bare.py", folder], folder / "log.txt", env)
        times["bare"].append(seconds)
        fits.append(json.loads(out.strip().splitlines()[-1]))

        folder = fresh(workdir / f"plain-{rows}", data)
        command = [sys.executable, workdir / "plain.py", folder]
        times["plain"].append(timed(command, folder / "log.txt", env)[0])

        folder = fresh(workdir / f"champion-{rows}", data)
        command = [str(CHAMPION), "train", "-c", str(folder / "champion.yaml")]
        if jobs is not None:
            command += ["--jobs", str(jobs)]
        times["champion"].append(timed(command, folder / "log.txt", env)[0])
    median = {k: statistics.median(v) for k, v in times.items()}
    fit_median = {name: statistics.median(f[name] for f in fits) for name in fits[0]}
    return {
        "rows": rows,
        "candidates": list(fit_median),
        "fit_s": {k: round(v, 3) for k, v in fit_median.items()},
        "fit_total_s": round(sum(fit_median.values()), 2),
        "bare_s": round(median["bare"], 2),
        "plain_s": round(median["plain"], 2),
        "champion_s": round(median["champion"], 2),
        "ratio": round(median["champion"] / median["plain"], 3),
        "all_s": {k: [round(x, 2) for x in v] for k, v in times.items()},
    }


def machine(load_at_start: float) -> dict:
    return {
        "cpus": os.cpu_count(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "load_at_start": round(load_at_start, 2),
        "load_at_end": round(os.getloadavg()[0], 2),
    }


def versions() -> dict:
    found = {}
    for package in ("champion", "mlflow", "scikit-learn", "shap", "pandas"):
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            found[package] = None
    return found


def verdict(results: list[dict]) -> tuple[bool, bool]:
    """(bar met, goal met) over the sizes up to ``BAR_MAX_ROWS``."""
    judged = [r["ratio"] for r in results if r["rows"] <= BAR_MAX_ROWS]
    return all(r <= BAR for r in judged), all(r <= GOAL for r in judged)


def markdown(report: dict) -> str:
    m, v = report["machine"], report["versions"]
    lines = [
        "# Training: `champion train` vs a plain MLflow autolog script",
        "",
        f"- Date: {report['date']}",
        f"- Machine: {m['cpus']} CPUs, Linux {m['kernel']}, Python {m['python']}; "
        f"load average {m['load_at_start']} at the start, {m['load_at_end']} at the end",
        f"- Versions: mlflow {v['mlflow']}, scikit-learn {v['scikit-learn']}, shap {v['shap']}",
        "- Each process on a fresh SQLite store, timed from process start to exit; "
        f"median of {report['repeat']} interleaved rounds (bare, plain, champion); "
        f"champion jobs: {report['jobs'] or 'default'}",
        "",
        "| rows | candidates | bare fits s | bare process s | plain autolog s "
        "| champion s | champion ÷ plain |",
        "|---:|---|---:|---:|---:|---:|---:|",
    ]
    for r in report["results"]:
        lines.append(
            f"| {r['rows']:,} | {', '.join(r['candidates'])} | {r['fit_total_s']:.1f} "
            f"| {r['bare_s']:.1f} | {r['plain_s']:.1f} | {r['champion_s']:.1f} "
            f"| {r['ratio']:.2f}× |"
        )
    bar, goal = report["bar_met"], report["goal_met"]
    lines += [
        "",
        f"Bar: champion ≤ {BAR:.1f}× plain at every size up to {BAR_MAX_ROWS:,} rows: "
        f"**{'PASS' if bar else 'FAIL'}**; goal ≤ {GOAL}×: **{'met' if goal else 'not met'}**",
        "",
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[2_000, 20_000, 200_000])
    parser.add_argument("--million", action="store_true", help="add 1,000,000 rows")
    parser.add_argument("--jobs", type=int, default=None, help="champion train --jobs")
    parser.add_argument(
        "--repeat", type=int, default=3, help="rounds per size; medians are reported"
    )
    parser.add_argument("--workdir", type=Path, default=None, help="keep work files here")
    args = parser.parse_args()
    load = os.getloadavg()[0]
    sizes = args.sizes + ([1_000_000] if args.million else [])
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="champion-bench-train-"))
    workdir.mkdir(parents=True, exist_ok=True)
    results = []
    try:
        for rows in sizes:
            results.append(measure(rows, workdir, args.jobs, args.repeat))
            r = results[-1]
            print(
                f"{rows:>9,} rows: bare fits {r['fit_total_s']:.1f} s, plain {r['plain_s']:.1f} s,"
                f" champion {r['champion_s']:.1f} s ({r['ratio']:.2f}×)",
                flush=True,
            )
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    bar, goal = verdict(results)
    report = {
        "date": dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(),
        "machine": machine(load),
        "versions": versions(),
        "jobs": args.jobs,
        "repeat": args.repeat,
        "results": results,
        "bar_met": bar,
        "goal_met": goal,
    }
    RESULTS_DIR.mkdir(exist_ok=True)
    (RESULTS_DIR / "train.json").write_text(json.dumps(report, indent=2) + "\n")
    text = markdown(report)
    (RESULTS_DIR / "train.md").write_text(text)
    print(text)
    return 0 if bar else 1


if __name__ == "__main__":
    sys.exit(main())
