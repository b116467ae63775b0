"""Drift report speed and memory: champion's ``compute_drift`` beside Evidently's
``DataDriftPreset``, on the same data in the same run.

What it measures
----------------
A reference set (``--reference-rows``, default 100,000) and a current window
(``--rows``, default 1,000,000) of 10 columns: 6 numeric and 4 categorical, generated
with a fixed seed. Four columns drift clearly (two numeric, two categorical: a mean
shift of half a standard deviation, a scale change, a new category taking 15% of rows,
frequencies reversed); six come from the same distribution on both sides, one of them
with 5% missing values, one integer-valued with ties. Both sets are written as plain
``.npy`` arrays in a work folder, and each tool runs in its own subprocess, so the peak
memory (the process's ``ru_maxrss``) is its own. Both load the same arrays into the
same memory: float64 with NaN, and object arrays of str or None in which each distinct
string is one Python object (what pandas' ``read_csv``/``read_parquet`` give).

``champion``   takes the window as the server logs it, a mapping of column arrays,
               builds the reference profile from the reference rows (timed apart: it
               happens once, at training time), then times ``compute_drift`` on the
               window. It also times a second report with the domain classifier
               (``reference_rows``), which Evidently's preset has no counterpart of.
``evidently``  puts the arrays in pandas DataFrames, then times ``Dataset.from_pandas``
               (with the same numeric and categorical columns declared) and
               ``Report([DataDriftPreset()], include_tests=True).run(current, reference)``,
               Evidently's default tests and thresholds. Its per-column verdict is the
               status of its "Value Drift for column" test.

The acceptance criteria, checked at the end (PASS/FAIL; the exit status is 1 on a FAIL):

* champion's report at least 30x faster than Evidently's;
* champion's peak memory less than half of Evidently's;
* the same drifted / not-drifted verdict for every column, and for the dataset.

Why Evidently has an environment of its own
-------------------------------------------
Evidently 0.7.23 (the newest) resolves beside this project's pins, but does not import
under pandas 3: it imports ``pandas.core.dtypes.common.infer_dtype_from_object``, which
pandas 3 removed. So it is not a dependency of the project (not even an optional
group); its side of the benchmark runs in a throwaway environment that uv builds and
caches on first use::

    uv run --no-project --python 3.11 --with evidently==0.7.23 --with "pandas<3" \\
        python benchmarks/drift.py --side evidently WORKDIR

NumPy, SciPy and scikit-learn resolve to the same versions as the project's, so the
two sides differ in pandas only (2.3 for Evidently, 3.x for champion). Evidently's
telemetry is turned off (``EVIDENTLY_DISABLE_TELEMETRY=1``).

How to run
----------
::

    uv run python benchmarks/drift.py                    # about a minute, most of it Evidently
    uv run python benchmarks/drift.py --rows 200000      # smaller, quicker
    uv run python benchmarks/drift.py --workdir /tmp/d   # keep the data and the raw results

It prints a Rich table and writes ``benchmarks/results/drift.md`` (only for the default
sizes, so a quick run does not overwrite the published figures). Figures from a loaded
machine are only indicative; the load average is in the report.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "drift.md"
EVIDENTLY = "evidently==0.7.23"
EVIDENTLY_ENV = ["--with", EVIDENTLY, "--with", "pandas<3"]
NUMERIC = ["n1_normal", "n2_exponential", "n3_gamma", "n4_uniform", "n5_poisson", "n6_missing"]
CATEGORICAL = ["c1_new_category", "c2_reversed", "c3_missing", "c4_many"]
DRIFTED = {"n1_normal", "n2_exponential", "c1_new_category", "c2_reversed"}
SEED = 7
DEFAULT_ROWS = 1_000_000
DEFAULT_REFERENCE_ROWS = 100_000
MIN_SPEEDUP = 30.0
MAX_MEMORY_RATIO = 0.5


# --------------------------------------------------------------------------- data


def generate(rows: int, reference_rows: int, folder: Path) -> None:
    """Write the reference and current sets (see the module docstring) as ``.npy`` files:
    one per numeric column (float64, NaN for missing), and per categorical column its
    codes (int32, -1 for missing) beside ``<set>.words.json`` (each column's categories).
    Plain arrays load into the same memory in both environments (no pickle, no Arrow)."""
    import numpy as np

    rng = np.random.default_rng(SEED)
    for name, n, drift in (("reference", reference_rows, False), ("current", rows, True)):
        words = {}
        for column, values in _columns(rng, n, drift=drift).items():
            if column in CATEGORICAL:
                words[column], values = values
            np.save(folder / f"{name}.{column}.npy", values)
        (folder / f"{name}.words.json").write_text(json.dumps(words))


def load(folder: Path, name: str) -> dict:
    """A set as ``{column: array}``: float64 with NaN, or object arrays of str or None in
    which each distinct string is one Python object."""
    import numpy as np

    words = json.loads((folder / f"{name}.words.json").read_text())
    data = {}
    for column in [*NUMERIC, *CATEGORICAL]:
        values = np.load(folder / f"{name}.{column}.npy")
        if column in CATEGORICAL:
            values = np.array([*words[column], None], dtype=object)[values]  # -1: None
        data[column] = values
    return data


def _columns(rng, n: int, *, drift: bool) -> dict:
    """Numeric columns as arrays; categorical ones as ``(categories, codes)``."""
    import numpy as np

    def categories(names, shares, size, missing=0.0):
        shares = np.asarray(shares, dtype=float)
        codes = rng.choice(len(names), size, p=shares / shares.sum()).astype(np.int32)
        codes[rng.random(size) < missing] = -1
        return list(names), codes

    n6 = rng.normal(0.0, 1.0, n)
    n6[rng.random(n) < 0.05] = np.nan
    c1_names = ["red", "green", "blue", "yellow", "black", "white"]
    c1_shares = [0.3, 0.2, 0.15, 0.15, 0.1, 0.1]
    if drift:  # a category training never saw takes 15% of the rows
        c1_names, c1_shares = [*c1_names, "purple"], [s * 0.85 for s in c1_shares] + [0.15]
    zipf = 1 / np.arange(1, 13)
    c2_shares = zipf[::-1] if drift else zipf  # the rarest category becomes the most frequent
    return {
        "n1_normal": rng.normal(55.0 if drift else 50.0, 10.0, n),
        "n2_exponential": rng.exponential(3.0 if drift else 2.0, n),
        "n3_gamma": rng.gamma(2.0, 3.0, n),
        "n4_uniform": rng.uniform(0.0, 100.0, n),
        "n5_poisson": rng.poisson(30.0, n).astype(float),
        "n6_missing": n6,
        "c1_new_category": categories(c1_names, c1_shares, n),
        "c2_reversed": categories([f"k{i:02d}" for i in range(12)], c2_shares, n),
        "c3_missing": categories(["yes", "no", "maybe"], [0.6, 0.3, 0.1], n, missing=0.03),
        "c4_many": categories([f"v{i:02d}" for i in range(50)], np.ones(50), n),
    }


# --------------------------------------------------------------------------- the two sides


def side_champion(folder: Path) -> dict:
    """Profile the reference, then time ``compute_drift`` on the window (this process)."""
    import pandas as pd

    from champion.monitoring.drift import compute_drift
    from champion.project.features import FeatureSet
    from champion.project.profile import build_profile
    from champion.project.spec import DriftSpec

    features = FeatureSet(numeric=NUMERIC, categorical=CATEGORICAL)
    reference = pd.DataFrame(load(folder, "reference"))
    current = load(folder, "current")  # as the server logs it: arrays per column
    loaded = _rss_mib()
    start = time.perf_counter()
    profile = build_profile(reference, features)
    profile_s = time.perf_counter() - start
    policy = DriftSpec()

    start = time.perf_counter()
    report = compute_drift(profile, current, features, policy)
    seconds = time.perf_counter() - start
    peak = _peak_mib()

    start = time.perf_counter()
    full = compute_drift(profile, current, features, policy, reference_rows=reference)
    with_domain_s = time.perf_counter() - start
    return {
        "tool": "champion",
        "seconds": seconds,
        "profile_seconds": profile_s,
        "profile_kib": len(json.dumps(profile)) / 1024,
        "with_domain_classifier_seconds": with_domain_s,
        "domain_auc": full.multivariate.score,
        "peak_mib": peak,
        "peak_with_domain_mib": _peak_mib(),
        "loaded_mib": loaded,
        "dataset_drift": report.drifted,
        "share_drifted": report.share_drifted,
        "columns": {
            f.feature: {
                "test": f.test,
                "score": f.score,
                "threshold": f.threshold,
                "drifted": f.drifted,
                "wasserstein_norm": f.stats.get("wasserstein_norm"),
                "jensenshannon": f.stats.get("jensenshannon"),
            }
            for f in report.features
        },
        "versions": _versions("numpy", "pandas", "scipy", "scikit-learn"),
    }


def side_evidently(folder: Path) -> dict:
    """Time Evidently's ``DataDriftPreset`` on the same files (this process)."""
    import pandas as pd
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    reference = pd.DataFrame(load(folder, "reference"))
    current = pd.DataFrame(load(folder, "current"))
    loaded = _rss_mib()
    definition = DataDefinition(numerical_columns=NUMERIC, categorical_columns=CATEGORICAL)
    start = time.perf_counter()
    snapshot = Report([DataDriftPreset()], include_tests=True).run(
        Dataset.from_pandas(current, data_definition=definition),
        Dataset.from_pandas(reference, data_definition=definition),
    )
    seconds = time.perf_counter() - start
    peak = _peak_mib()
    result = snapshot.dict()
    columns: dict[str, dict] = {}
    share, drift_share = None, 0.5
    for metric in result["metrics"]:
        params = metric["config"]
        if params["type"].endswith("ValueDrift"):
            columns[params["column"]] = {
                "method": params["method"],
                "threshold": params["threshold"],
                "score": metric["value"],
            }
        elif params["type"].endswith("DriftedColumnsCount"):
            share = metric["value"]["share"]
            drift_share = params["drift_share"]
    prefix = "Value Drift for column "
    for test in result["tests"]:
        if test["name"].startswith(prefix):
            columns[test["name"][len(prefix) :]]["drifted"] = test["status"] == "FAIL"
    return {
        "tool": "evidently",
        "seconds": seconds,
        "peak_mib": peak,
        "loaded_mib": loaded,
        "share_drifted": share,
        "dataset_drift": share is not None and share >= drift_share,
        "columns": columns,
        "versions": _versions("evidently", "numpy", "pandas", "scipy", "scikit-learn"),
    }


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _versions(*names: str) -> dict:
    from importlib import metadata

    return {name: metadata.version(name) for name in names}


# --------------------------------------------------------------------------- orchestration


def run_side(command: list[str], folder: Path, name: str, env: dict | None = None) -> dict:
    """Run one side in a subprocess; it writes ``<name>.json`` in ``folder``."""
    out = folder / f"{name}.json"
    out.unlink(missing_ok=True)
    completed = subprocess.run(
        [*command, str(Path(__file__).resolve()), "--side", name, str(folder)],
        env={**os.environ, **(env or {})},
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    if completed.returncode != 0 or not out.exists():
        sys.stderr.write(completed.stdout + completed.stderr)
        raise SystemExit(f"the {name} side failed (exit {completed.returncode})")
    return json.loads(out.read_text())


def compare(champion: dict, evidently: dict) -> tuple[list[dict], list[tuple[bool, str]]]:
    """Rows per column, and the criteria as ``(passed, text)``."""
    rows = []
    for column in [*NUMERIC, *CATEGORICAL]:
        ours, theirs = champion["columns"][column], evidently["columns"][column]
        rows.append(
            {
                "column": column,
                "kind": "numeric" if column in NUMERIC else "categorical",
                "made_to_drift": column in DRIFTED,
                "champion_test": ours["test"],
                "champion_score": ours["score"],
                "champion_drifted": ours["drifted"],
                "evidently_method": theirs["method"],
                "evidently_score": theirs["score"],
                "evidently_drifted": theirs["drifted"],
                "same": ours["drifted"] == theirs["drifted"],
            }
        )
    speedup = evidently["seconds"] / champion["seconds"]
    memory = champion["peak_mib"] / evidently["peak_mib"]
    same = sum(r["same"] for r in rows)
    criteria = [
        (
            speedup >= MIN_SPEEDUP,
            f"champion >= {MIN_SPEEDUP:.0f}x faster than Evidently "
            f"(measured {speedup:.1f}x: {champion['seconds']:.3f} s vs "
            f"{evidently['seconds']:.2f} s)",
        ),
        (
            memory < MAX_MEMORY_RATIO,
            f"champion's peak memory < 1/2 of Evidently's (measured {memory:.2f}: "
            f"{champion['peak_mib']:,.0f} MiB vs {evidently['peak_mib']:,.0f} MiB)",
        ),
        (
            same == len(rows),
            f"the same verdict for every column ({same} of {len(rows)} agree)",
        ),
        (
            champion["dataset_drift"] == evidently["dataset_drift"],
            f"the same dataset verdict (champion: {_drift_word(champion['dataset_drift'])}, "
            f"share {champion['share_drifted']:.2f}; Evidently: "
            f"{_drift_word(evidently['dataset_drift'])}, share {evidently['share_drifted']:.2f})",
        ),
    ]
    return rows, criteria


def _drift_word(drifted: bool) -> str:
    return "drift" if drifted else "no drift"


def print_report(champion: dict, evidently: dict, rows: list[dict], criteria) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    summary = Table(title="Drift report on the window")
    for header in ("tool", "report s", "peak RSS MiB", "RSS with data loaded MiB", "speed-up"):
        summary.add_column(header, justify="right" if header != "tool" else "left")
    speedup = evidently["seconds"] / champion["seconds"]
    summary.add_row(
        "Evidently DataDriftPreset",
        f"{evidently['seconds']:.2f}",
        f"{evidently['peak_mib']:,.0f}",
        f"{evidently['loaded_mib']:,.0f}",
        "1x",
    )
    summary.add_row(
        "champion compute_drift",
        f"{champion['seconds']:.3f}",
        f"{champion['peak_mib']:,.0f}",
        f"{champion['loaded_mib']:,.0f}",
        f"{speedup:.0f}x",
    )
    console.print(summary)
    columns = Table(title="Per column (score: p-value or distance; * = verdict differs)")
    for header in ("column", "made to drift", "champion test", "score", "drift",
                   "Evidently method", "score", "drift"):  # fmt: skip
        columns.add_column(header)
    for r in rows:
        columns.add_row(
            r["column"] + ("" if r["same"] else " *"),
            "yes" if r["made_to_drift"] else "no",
            r["champion_test"],
            f"{r['champion_score']:.4g}",
            "yes" if r["champion_drifted"] else "no",
            r["evidently_method"],
            f"{r['evidently_score']:.4g}",
            "yes" if r["evidently_drifted"] else "no",
        )
    console.print(columns)
    for passed, text in criteria:
        console.print(("[green]PASS[/green] " if passed else "[red]FAIL[/red] ") + text)


def markdown(champion: dict, evidently: dict, rows, criteria, args, load: tuple) -> str:
    """The results page (``benchmarks/results/drift.md``)."""
    speedup = evidently["seconds"] / champion["seconds"]
    memory = champion["peak_mib"] / evidently["peak_mib"]
    theirs = evidently["versions"]
    versions = ", ".join(
        [f"evidently {theirs['evidently']} (pandas {theirs['pandas']})"]
        + [f"{k} {v}" for k, v in champion["versions"].items()]
    )
    lines = [
        "# Drift report: champion vs Evidently",
        "",
        f"- Date: {dt.datetime.now(dt.UTC).isoformat(timespec='seconds')}",
        f"- Machine: {os.cpu_count()} CPUs, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}; load average {load[0]:.2f} at the start, "
        f"{load[1]:.2f} at the end",
        f"- Versions: {versions}",
        f"- Data: {args.reference_rows:,} reference rows, {args.rows:,} current rows; 6 numeric "
        "and 4 categorical columns, 4 made to drift (seeded; see the script's docstring)",
        f"- champion's reference profile: built in {champion['profile_seconds']:.2f} s "
        f"(at training time), {champion['profile_kib']:.0f} KiB of JSON",
        "",
        "| tool | report s | speed-up | peak RSS MiB | peak ÷ Evidently's | "
        "RSS with the data loaded MiB | peak − loaded MiB |",
        "|---|---:|---:|---:|---:|---:|---:|",
        f"| Evidently `DataDriftPreset` | {evidently['seconds']:.2f} | 1× | "
        f"{evidently['peak_mib']:,.0f} | 1 | {evidently['loaded_mib']:,.0f} | "
        f"{evidently['peak_mib'] - evidently['loaded_mib']:,.0f} |",
        f"| champion `compute_drift` | {champion['seconds']:.3f} | **{speedup:.0f}×** | "
        f"{champion['peak_mib']:,.0f} | **{memory:.2f}** | {champion['loaded_mib']:,.0f} | "
        f"{champion['peak_mib'] - champion['loaded_mib']:,.0f} |",
        "",
        "Peak RSS is each tool's whole process (Python, its libraries and the data); "
        "'loaded' is the process once the data is in memory, before the report, so the "
        "last column is what the report itself needed. "
        f"With the domain classifier (which Evidently's preset does not run), champion's "
        f"report takes {champion['with_domain_classifier_seconds']:.2f} s "
        f"(ROC AUC {champion['domain_auc']:.3f}, drift).",
        "",
        "| column | made to drift | champion test | champion score | champion drift | "
        "Evidently method | Evidently score | Evidently drift | same |",
        "|---|---|---|---:|---|---|---:|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['column']} | {'yes' if r['made_to_drift'] else 'no'} | {r['champion_test']} | "
            f"{r['champion_score']:.4g} | {'yes' if r['champion_drifted'] else 'no'} | "
            f"{r['evidently_method']} | {r['evidently_score']:.4g} | "
            f"{'yes' if r['evidently_drifted'] else 'no'} | {'yes' if r['same'] else '**no**'} |"
        )
    lines += [
        "",
        "Scores: the normalised Wasserstein distance (drift at 0.1) for numeric columns, the "
        "Jensen–Shannon distance (drift at 0.1) for categorical ones: Evidently's defaults "
        "for a reference of more than 1,000 rows, which champion follows. champion's "
        "Wasserstein distance is computed against the profile's sample of 5,000 training "
        "values, Evidently's against all reference rows: on the columns that did not move, "
        "that sample's own distance from the full reference (typically 0.01 to 0.03: the "
        "sampling error of 5,000 values) is most of champion's score. Its Jensen–Shannon "
        "distance uses the profile's exact category counts, so it equals Evidently's.",
        "",
        "## Criteria",
        "",
    ]
    lines += [f"- **{'PASS' if ok else 'FAIL'}** {text}" for ok, text in criteria]
    lines += [
        "",
        "Reproduce: `uv run python benchmarks/drift.py` (Evidently runs in its own "
        f"environment: `uv run --no-project --with {EVIDENTLY} --with 'pandas<3'`, "
        "because it does not import under pandas 3).",
        "",
    ]
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=DEFAULT_ROWS, help="current window rows")
    parser.add_argument("--reference-rows", type=int, default=DEFAULT_REFERENCE_ROWS)
    parser.add_argument("--workdir", type=Path, help="keep the data and raw results here")
    parser.add_argument(
        "--side", choices=["champion", "evidently"], help=argparse.SUPPRESS
    )  # internal: run one tool on the folder given
    parser.add_argument("folder", nargs="?", type=Path, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.side:
        result = (
            side_champion(args.folder) if args.side == "champion" else side_evidently(args.folder)
        )
        (args.folder / f"{args.side}.json").write_text(json.dumps(result, indent=1))
        return 0
    load_start = os.getloadavg()[0]
    folder = args.workdir or Path(tempfile.mkdtemp(prefix="drift-bench-"))
    folder.mkdir(parents=True, exist_ok=True)
    try:
        print(f"generating {args.reference_rows:,} reference and {args.rows:,} current rows")
        generate(args.rows, args.reference_rows, folder)
        print("champion: profile, then compute_drift ...")
        champion = run_side([sys.executable], folder, "champion")
        print(f"Evidently ({EVIDENTLY}, own environment): DataDriftPreset ...")
        uv = shutil.which("uv") or "uv"
        evidently = run_side(
            [uv, "run", "--quiet", "--no-project", "--python", "3.11", *EVIDENTLY_ENV, "python"],
            folder,
            "evidently",
            env={"EVIDENTLY_DISABLE_TELEMETRY": "1", "DO_NOT_TRACK": "1"},
        )
    finally:
        if args.workdir is None:
            shutil.rmtree(folder, ignore_errors=True)
    rows, criteria = compare(champion, evidently)
    print_report(champion, evidently, rows, criteria)
    if args.rows == DEFAULT_ROWS and args.reference_rows == DEFAULT_REFERENCE_ROWS:
        load = (load_start, os.getloadavg()[0])
        RESULTS.write_text(markdown(champion, evidently, rows, criteria, args, load))
        print(f"written: {RESULTS.relative_to(ROOT)}")
    return 0 if all(ok for ok, _ in criteria) else 1


if __name__ == "__main__":
    sys.exit(main())
