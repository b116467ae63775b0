"""The ``champion`` command: parse, build settings, call one library function, print.

Every command reads the project file given with ``-c`` (default ``champion.yaml`` in
the current folder) where it needs one; a file named with ``-c`` that does not exist is
an error (``SpecError``, exit 2), while the default may be absent. The tracking store comes from
``MLFLOW_TRACKING_URI`` or defaults to ``mlflow.db`` beside the project file. A
:class:`~champion.errors.ChampionError` is printed as ``Name: message`` on stderr with
its exit code (1 for a refused promotion, 2 otherwise), never as a traceback; so is a
usage error (an unknown command or option, a missing argument), as ``UsageError:
message (see 'champion COMMAND --help')`` with exit 2.

Each command imports what it needs inside its body: ``--help``, ``models``,
``compare``, ``rollback`` and ``feedback`` never import scikit-learn, skops, SHAP or
``champion.training`` (``tests/test_cli_imports.py`` checks it), so they answer in
about the time MLflow's client takes.
"""

from __future__ import annotations

import gc
import json
import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

# What Typer's parser raises: the classes of the click it bundles, not click's own.
from typer._click.exceptions import NoArgsIsHelpError
from typer._click.exceptions import UsageError as ClickUsageError

from champion.errors import ChampionError, PromotionRefused, SpecError, Unavailable
from champion.project.spec import MonitoringSpec, Project, load_spec
from champion.settings import Settings

app = typer.Typer(
    name="champion",
    help="Train, compare, register and promote models on MLflow, from one project file.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()
errors = Console(stderr=True)


def _given_config(ctx: typer.Context, param: typer.CallbackParam, value: Path | None):
    """A project file named with ``-c`` must exist. Only the default ``champion.yaml``
    may be absent (the commands that can, then work from the current folder)."""
    given = ctx.get_parameter_source(param.name).name != "DEFAULT"
    if given and value is not None and not value.is_file():
        raise SpecError(
            f"project file '{value}' (given with -c) does not exist or is not a file",
            field="config",
        )
    return value


ConfigOption = Annotated[
    Path,
    typer.Option(
        "--config",
        "-c",
        help="The project file (champion.yaml).",
        show_default=True,
        callback=_given_config,
    ),
]
ModelArgument = Annotated[
    str | None,
    typer.Argument(help="Registered model name; default: the project file's name."),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]


class Inference(StrEnum):
    """How ``champion serve`` computes predictions."""

    auto = "auto"
    onnx = "onnx"
    sklearn = "sklearn"


def _project(config: Path) -> Project:
    return load_spec(config)


def _settings_for(config: Path) -> Settings:
    """Settings rooted at the project file's folder (or here, without a project file)."""
    folder = config.parent if config.is_file() else Path.cwd()
    return Settings.from_env(folder)


def _model_name(model: str | None, config: Path) -> str:
    return model if model else _project(config).spec.name


@app.command()
def train(
    config: ConfigOption = Path("champion.yaml"),
    only: Annotated[
        list[str] | None, typer.Option("--only", help="Train only this candidate (repeatable).")
    ] = None,
    jobs: Annotated[
        int | None,
        typer.Option(
            "--jobs",
            min=1,
            help="Candidates trained at once, one process each (default: training.jobs, "
            "else one per core; 1: one after the other).",
        ),
    ] = None,
) -> None:
    """Fit every candidate of the project, one MLflow run each, and rank them."""
    project = _project(config)
    settings = _settings_for(config)
    from champion.training.parallel import warm_up_for

    warm_up_for(project, only=only, jobs=jobs)  # workers import while this process does
    from champion.training.train import train_project

    _quiet()
    with _training_progress() as report:
        report_ = train_project(project, settings, only=only, progress=report, jobs=jobs)
    table = Table(
        title=f"{project.spec.name}: candidates by {report_.metric} ({report_.direction})"
    )
    table.add_column("rank")
    table.add_column("candidate")
    table.add_column(report_.metric, justify="right")
    table.add_column("run id")
    for rank, result in enumerate(report_.candidates, 1):
        table.add_row(
            str(rank), result.name, _fmt(result.metrics.get(report_.metric)), result.run_id
        )
    console.print(table)
    console.print(f"Tracking store: {settings.tracking_uri}")
    console.print("Next: [bold]champion register --best[/] then [bold]champion promote[/]")


@app.command()
def compare(
    config: ConfigOption = Path("champion.yaml"),
    model: Annotated[
        str | None, typer.Option(help="Experiment name; default: the project's.")
    ] = None,
    as_json: JsonOption = False,
    limit: Annotated[int, typer.Option(min=1, help="How many runs at most.")] = 20,
) -> None:
    """Rank the candidate runs by the primary metric, with the other metrics beside."""
    name = _model_name(model, config)
    from champion.registry.compare import compare as compare_runs

    _quiet()
    rows = compare_runs(_settings_for(config), name, limit=limit)
    if as_json:
        print(json.dumps([row.__dict__ for row in rows], indent=2))
        return
    metric = rows[0].metric
    others = sorted(
        {k for r in rows for k in r.metrics if k != metric and not k.startswith("best_cv")}
    )
    table = Table(title=f"{name}: runs by {metric}")
    for column in ("rank", "candidate", metric, *others, "run id", "started"):
        table.add_column(column, justify="right" if column in (metric, *others) else "left")
    for rank, row in enumerate(rows, 1):
        values = [_fmt(row.metrics.get(k)) for k in (metric, *others)]
        table.add_row(str(rank), row.candidate, *values, row.run_id[:12], row.started)
    console.print(table)


@app.command()
def register(
    config: ConfigOption = Path("champion.yaml"),
    best: Annotated[bool, typer.Option("--best", help="Register the best run (default).")] = False,
    run: Annotated[str | None, typer.Option("--run", help="Register this run id.")] = None,
    model: Annotated[str | None, typer.Option(help="Model name; default: the project's.")] = None,
    description: Annotated[str | None, typer.Option(help="Version description.")] = None,
) -> None:
    """Register a candidate as a new model version with alias 'challenger'."""
    if best and run:
        raise typer.BadParameter("give --best or --run, not both")
    name = _model_name(model, config)
    from champion.registry.compiled import OnnxRecord
    from champion.registry.register import register as register_version

    _quiet()
    version = register_version(_settings_for(config), name, run_id=run, description=description)
    console.print(f"Registered [bold]{name}[/] version [bold]{version.version}[/] as challenger")
    console.print(version.description)
    console.print(f"ONNX: {OnnxRecord.from_tags(version.tags).summary()}", highlight=False)
    print(version.version)


@app.command()
def promote(
    model: ModelArgument = None,
    config: ConfigOption = Path("champion.yaml"),
    force: Annotated[
        bool, typer.Option("--force", help="Promote even if the gate refuses (recorded).")
    ] = False,
) -> None:
    """The gate: score challenger and champion on the same holdout; promote or refuse.

    Exits 1 when the gate refuses, printing the evidence.
    """
    policy = _project(config).spec.promotion if config.is_file() else None
    name = _model_name(model, config)
    from champion.registry.promote import promote as run_gate

    _quiet()
    try:
        decision = run_gate(_settings_for(config), name, policy, force=force)
    except PromotionRefused as refused:
        _print_evidence(refused.evidence)
        raise
    forced = " (forced)" if force and not decision.promote else ""
    console.print(f"[green]Promoted[/] {name}@champion{forced}: {decision.reason}")


@app.command()
def rollback(
    model: ModelArgument = None,
    config: ConfigOption = Path("champion.yaml"),
    reason: Annotated[str, typer.Option(help="Why; recorded on the versions.")] = "manual rollback",
) -> None:
    """Give alias 'champion' back to the previous champion."""
    name = _model_name(model, config)
    from champion.registry.rollback import rollback as do_rollback

    _quiet()
    version = do_rollback(_settings_for(config), name, reason=reason)
    console.print(f"{name}@champion is version [bold]{version.version}[/] again")


@app.command()
def models(
    model: ModelArgument = None,
    config: ConfigOption = Path("champion.yaml"),
    as_json: JsonOption = False,
) -> None:
    """List registered versions: aliases, description and key metrics."""
    name = model or (_project(config).spec.name if config.is_file() else None)
    from champion.registry.versions import list_versions

    _quiet()
    rows = list_versions(_settings_for(config), name)
    if as_json:
        print(json.dumps([row.__dict__ for row in rows], indent=2))
        return
    table = Table(title="Registered models")
    for column in ("model", "version", "aliases", "primary metric", "archived", "description"):
        table.add_column(column, overflow="fold")
    for row in rows:
        metric = row.tags.get("primary_metric", "")
        shown = f"{metric}={_fmt(row.metrics.get(metric))}" if metric else ""
        archived = row.tags.get("archived_reason", "") if row.tags.get("archived") == "true" else ""
        table.add_row(
            row.name, row.version, ", ".join(row.aliases), shown, archived, row.description
        )
    console.print(table)


@app.command()
def serve(
    model: ModelArgument = None,
    config: ConfigOption = Path("champion.yaml"),
    alias: Annotated[
        str, typer.Option(help="The alias (or version number) the champion arm serves.")
    ] = "champion",
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8000,
    workers: Annotated[
        int,
        typer.Option(min=1, max=64, help="Worker processes; they share one loaded model (fork)."),
    ] = 1,
    canary: Annotated[
        str | None,
        typer.Option(
            help="VERSION:PERCENT, e.g. 3:10 or challenger:10: that version or alias "
            "answers PERCENT of requests."
        ),
    ] = None,
    shadow: Annotated[
        str | None,
        typer.Option(help="A version or alias scored on every request, never returned."),
    ] = None,
    reload_interval: Annotated[
        float,
        typer.Option(
            min=0,
            help="Seconds between checks of the aliases; a moved alias is "
            "loaded, checked and swapped in. 0 turns it off.",
        ),
    ] = 30.0,
    route_header: Annotated[
        str, typer.Option(help="Request header whose value keeps a client on one arm.")
    ] = "X-Client-Key",
    log: Annotated[
        bool, typer.Option("--log/--no-log", help="Keep the prediction log (see --help below).")
    ] = True,
    log_flush_interval: Annotated[
        float, typer.Option(min=0.01, help="Seconds between writes of the prediction log.")
    ] = 0.5,
    log_max_buffered: Annotated[
        int,
        typer.Option(min=1, help="Rows the log holds in memory at most: what a crash can lose."),
    ] = 10_000,
    log_retention_days: Annotated[
        float | None,
        typer.Option(min=0, help="Delete logged predictions older than this; default: keep."),
    ] = None,
    monitor_interval: Annotated[
        float,
        typer.Option(
            min=0,
            help="Seconds between background monitoring runs (drift and live "
            "metrics on /metrics, alerts, /dashboard); 0: only when /dashboard is opened.",
        ),
    ] = 60.0,
    inference: Annotated[
        Inference,
        typer.Option(
            help="auto: ONNX when the pipeline compiles and matches it on the holdout, "
            "else scikit-learn; onnx: refuse to start without it; sklearn: never compile."
        ),
    ] = Inference.auto,
) -> None:
    """Serve models:/MODEL@ALIAS over HTTP: /invocations (MLflow's protocol), /predict,
    /explain, /feedback, the try-it page at /, /version and Prometheus /metrics.

    Every prediction goes to the prediction log (CHAMPION_PREDICTION_LOG, default
    predictions.db beside the project file)."""
    # Start-up builds over half a million objects that live as long as the server
    # (modules, the model); the collector would walk them again and again on the way
    # (15% of the start). Off until the arms are loaded: preload freezes them and turns
    # it back on.
    gc.disable()
    try:
        # skops works out its trusted types when imported by searching every loaded module
        # for each NumPy and SciPy ufunc: imported before MLflow's thousand modules, it
        # costs half a second less (of CPU) than after them.
        import skops.io  # noqa: F401

        name = _model_name(model, config)
        settings = _settings_for(config)
        from champion.serving.deployment import Traffic

        canary_reference, percent = Traffic.parse_canary(canary) if canary else (None, 0.0)
        traffic = Traffic(alias, canary_reference, percent, shadow, route_header)
        _quiet()
        from champion.monitoring.log import LogOptions

        logging_options = LogOptions(log, log_flush_interval, log_max_buffered, log_retention_days)
        monitoring = _project(config).spec.monitoring if config.is_file() else None
        _serve(
            settings,
            name,
            traffic,
            host,
            port,
            workers,
            reload_interval,
            inference.value,
            logging_options,
            monitoring,
            monitor_interval,
        )
    finally:
        gc.enable()  # already on once the arms are loaded; here for an early error


def _serve(
    settings,
    name: str,
    traffic,
    host: str,
    port: int,
    workers: int,
    interval: float,
    inference: str,
    logging_options=None,
    monitoring=None,
    monitor_interval: float = 60.0,
) -> None:
    """Check every arm resolves (a clear error now, not in a worker), then serve."""
    from functools import partial

    from champion.serving.app import create_app
    from champion.serving.deployment import Deployment
    from champion.serving.model import load_served_model, resolve_version
    from champion.serving.runner import run as run_server

    loader = partial(load_served_model, inference=inference)

    arms = {"champion": traffic.alias, "canary": traffic.canary, "shadow": traffic.shadow}
    for arm, reference in arms.items():
        if reference is not None:
            version = resolve_version(settings, name, reference)
            console.print(f"{arm}: {name}@{reference} → version {version}")
    if traffic.canary:
        console.print(f"canary answers {traffic.canary_percent:g}% of requests")
    url = f"http://{host}:{port}"
    console.print(
        f"Serving on {url} ({workers} worker(s)); try-it page: {url}/, dashboard: {url}/dashboard"
    )

    def build_app(deployment, worker: int, metrics_dir: str | None):
        return create_app(
            settings,
            name,
            traffic,
            reload_interval=interval,
            deployment=deployment,
            loader=loader,
            logging_options=logging_options,
            monitoring=monitoring,
            # One worker monitors for all: the report reads the shared log, and one
            # alerter keeps the cool-down honest.
            monitor_interval=monitor_interval if worker == 0 else 0,
            metrics_dir=metrics_dir,
        )

    def preload():
        deployment = Deployment.load(settings, name, traffic, loader=loader)
        if not gc.isenabled():  # off since `serve` began (see there)
            # What start-up built lives as long as the server: frozen as it is (with
            # the few thousand objects of import-time garbage) rather than walked by a
            # full collection first, which costs a third of a second.
            gc.freeze()
            gc.enable()
        if workers > 1:
            # Warmed once in the parent, SHAP's pages are shared by every worker it
            # forks; one process warms in the background once it answers /ready.
            deployment.warm_explanations()
        return deployment

    run_server(build_app, preload, host, port, workers)


@app.command()
def feedback(
    file: Annotated[
        Path, typer.Argument(help="CSV with columns request_id and label (and row, if any).")
    ],
    model: ModelArgument = None,
    config: ConfigOption = Path("champion.yaml"),
    replace: Annotated[
        bool,
        typer.Option(
            "--replace",
            help="Relabel rows that have a different label already (the old one is kept "
            "in the history); without it, such a row stops the whole file.",
        ),
    ] = False,
) -> None:
    """Join true labels to logged predictions, by request id (the X-Request-ID of each
    answer). Each label must be one of the champion's classes (or tags; a column
    new_tags names tags added on purpose). Sending the same file twice changes nothing;
    an unknown request id, or a different label for a labelled row without --replace,
    stops the whole file with its name."""
    name = _model_name(model, config)
    settings = _settings_for(config)
    from champion.monitoring.feedback import labels_from_csv, store_labels

    _quiet()
    labels = labels_from_csv(file, settings, name, replace=replace)
    stored = store_labels(settings, labels)
    console.print(f"Stored {stored} label(s) for {name} in {settings.prediction_log}")


log_app = typer.Typer(
    help="The prediction log: write back what the database would not take.",
    no_args_is_help=True,
)
app.add_typer(log_app, name="log")


@log_app.command("replay")
def log_replay(config: ConfigOption = Path("champion.yaml")) -> None:
    """Write the dead letter (batches of predictions the log's database refused, kept
    on disk by the server) to the prediction log, and remove each file once written.
    Safe to run twice: a row written already is skipped."""
    settings = _settings_for(config)
    from champion.errors import Unavailable
    from champion.monitoring import deadletter
    from champion.monitoring.log import PredictionLog

    _quiet()
    folder = deadletter.folder_for(settings.prediction_log, settings.project_dir)
    prediction_log = PredictionLog(settings.prediction_log, dead_letter=folder)
    try:
        done = prediction_log.replay_dead_letter()
    finally:
        prediction_log.close()
    console.print(f"Replayed {done.files} batch(es), {done.rows} row(s), from {folder}")
    if done.left:
        raise Unavailable(
            f"{len(done.left)} batch(es) left in {folder}, the log refused them: {done.left[0]}"
        )


@app.command()
def monitor(
    model: ModelArgument = None,
    config: ConfigOption = Path("champion.yaml"),
    html: Annotated[
        Path | None,
        typer.Option(
            help="Where to write the HTML report; default: monitor_report.html "
            "beside the project file."
        ),
    ] = None,
    as_json: JsonOption = False,
    log_run: Annotated[
        bool, typer.Option("--log-run/--no-log-run", help="Record the report as an MLflow run.")
    ] = True,
    last: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Look at the last N logged rows (overrides the project "
            "file's monitoring.drift.window).",
        ),
    ] = None,
) -> None:
    """Drift of the logged inputs against the training profile, and live performance
    on the labelled predictions. Exits 1 when drift or a degradation crosses the
    project file's monitoring policy, 0 otherwise, so a scheduler can act on it."""
    policy = _project(config).spec.monitoring if config.is_file() else MonitoringSpec()
    if last is not None:
        window = policy.drift.window.model_copy(update={"rows": last, "hours": None})
        policy = policy.model_copy(
            update={"drift": policy.drift.model_copy(update={"window": window})}
        )
    name = _model_name(model, config)
    settings = _settings_for(config)
    from champion.monitoring.alerts import Alerter, AlertStore
    from champion.monitoring.monitor import log_report
    from champion.monitoring.report import render_html
    from champion.monitoring.run import run_monitoring

    _quiet()
    try:
        with AlertStore(settings.prediction_log) as store:
            monitoring_run = run_monitoring(settings, name, policy, Alerter(policy.alerts, store))
        report, fired = monitoring_run.report, monitoring_run.fired
        page = render_html(report)
        target = html or settings.project_dir / "monitor_report.html"
        target.write_text(page, encoding="utf-8")
        run_id = log_report(settings, report, page) if log_run else None
    except ChampionError:
        raise
    except Exception as e:
        # Exit 1 means drift to a scheduler: a failure must never read as one.
        logging.getLogger("champion.monitoring").debug("monitoring failed", exc_info=True)
        # One line: SQLAlchemy, for one, appends a "Background on this error" line.
        first = (str(e).strip().splitlines() or [""])[0]
        raise Unavailable(f"monitoring failed: {type(e).__name__}: {first}") from e
    if as_json:
        print(json.dumps(report.as_dict(), indent=2))
    else:
        _print_monitor(report, target, run_id)
        for event in fired:
            console.print(f"[yellow]alert[/] {event.rule} ({event.severity}): {event.message}")
    if report.alarm:
        raise typer.Exit(1)


def _print_monitor(report, html_path: Path, run_id: str | None) -> None:
    drift = report.drift
    table = Table(
        title=f"Drift of {report.model} v{report.version}: "
        f"{drift.rows_current} logged rows vs {drift.rows_reference} training rows"
    )
    for column in ("feature", "test", "score", "threshold", "p (adjusted)", "verdict"):
        table.add_column(column)
    shown = [*drift.features, *(f for f in (drift.prediction, drift.multivariate) if f)]
    colours = {"drift": "red", "ok": "green", "not enough data": "yellow"}
    for item in shown:
        verdict = f"[{colours[item.verdict]}]{item.verdict}[/]"
        if not item.enough_data:
            verdict += f" ({item.sample} of {item.min_sample})"
        table.add_row(
            item.feature,
            item.test,
            _fmt(item.score),
            _fmt(item.threshold),
            _fmt(item.adjusted_pvalue),
            verdict,
        )
    console.print(table)
    perf = Table(
        title=f"Live performance (labelled predictions; {report.primary_metric} "
        f"may drop at most {report.max_drop:g})"
    )
    for column in ("version", "arm", "rows", "labelled", report.primary_metric, "holdout", "drop"):
        perf.add_column(column)
    for item in report.performance:
        metric = report.primary_metric
        perf.add_row(
            item.version,
            item.arm,
            str(item.rows),
            str(item.labelled),
            _fmt(item.metrics.get(metric)),
            _fmt(item.holdout.get(metric)),
            _fmt(item.drops.get(metric)),
        )
    console.print(perf)
    if drift.enough_data:
        share = f"{len(drift.drifted_features)} of {drift.features_judged} features drifted"
    else:
        share = (
            f"drift: not enough data ({drift.rows_current} rows, each feature needs "
            f"{drift.min_rows})"
        )
    if drift.multivariate is not None and drift.multivariate.drifted:
        share += f", joint drift (domain classifier AUC {drift.multivariate.score:.2f})"
    state = "[red]ALARM[/]" if report.alarm else "[green]OK[/]"
    degraded = ", ".join(f"v{v} ({a}) -{d:.3f}" for v, a, d in report.degraded) or "none"
    console.print(f"{state}: {share}; degraded: {degraded}")
    if report.skipped:
        console.print(
            f"[yellow]{len(report.skipped)} stored row(s) or label(s) skipped[/]: "
            + "; ".join(report.skipped[:3])
            + (" …" if len(report.skipped) > 3 else ""),
            markup=True,
            highlight=False,
        )
    console.print(f"HTML report: {html_path}" + (f"; MLflow run {run_id}" if run_id else ""))


@app.command()
def demo(
    no_serve: Annotated[
        bool, typer.Option("--no-serve", help="Stop after promotion instead of serving.")
    ] = False,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            "-c",
            help="Project file; default: the legendary example.",
            callback=_given_config,
        ),
    ] = None,
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to serve on.")] = 8000,
) -> None:
    """The whole loop on the Pokémon legendary example: train, compare, register,
    promote, then serve the champion (Ctrl-C stops the server)."""
    from champion.demo import DEFAULT_EXAMPLE, curl_example, example_rows, run_demo

    config = config or DEFAULT_EXAMPLE
    project = _project(config)
    settings = _settings_for(config)
    _quiet()
    run_demo(project, settings, console=console, progress=_progress)
    if no_serve:
        return
    from champion.serving.deployment import Traffic

    url = f"http://127.0.0.1:{port}"
    columns, rows = example_rows(settings, project.spec.name)
    console.print(f"\n[bold]Serving[/] {project.spec.name}@champion (Ctrl-C to stop)")
    console.print(f"Try it in a browser: {url}/")
    console.print("or from a shell:", soft_wrap=True)
    print(curl_example(url, columns, rows), flush=True)
    _serve(
        settings,
        project.spec.name,
        Traffic(),
        "127.0.0.1",
        port,
        1,
        30.0,
        "auto",
        None,
        project.spec.monitoring,
    )


def _quiet() -> None:
    """Silence MLflow's INFO chatter; only once MLflow is needed (importing it is slow,
    and a mistyped project file should be reported at once)."""
    from champion.registry.tracking import quiet_mlflow

    quiet_mlflow()


@contextmanager
def _training_progress() -> Iterator[Callable]:
    """The training progress callback: bars on a terminal, one line per step elsewhere
    (a pipe or a CI log, where a redrawn bar would be noise or nothing)."""
    from champion.training.progress import Bars, Lines

    if not console.is_terminal:
        yield Lines(lambda line: console.print(line, highlight=False, markup=False))
        return
    with _progress() as bars:
        yield Bars(bars)


def _progress() -> Progress:
    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )


def _fmt(value) -> str:
    return "-" if value is None else f"{value:.4f}"


def _print_evidence(evidence: dict) -> None:
    table = Table(title="Gate evidence")
    table.add_column("")
    table.add_column("challenger", justify="right")
    table.add_column("champion", justify="right")
    challenger = (evidence.get("challenger") or {}).get("metrics", {})
    champion = (evidence.get("champion") or {}).get("metrics", {})
    for metric in challenger:
        table.add_row(metric, _fmt(challenger.get(metric)), _fmt(champion.get(metric)))
    console.print(table)
    test = evidence.get("test")
    if test:
        console.print(
            f"{test['name']}: p(challenger worse) = {test['p_worse']:.4f} {test['detail']}"
        )


def run(argv: list[str] | None = None) -> int:
    """Run one command line and return its exit code; champion's errors and usage errors
    (an unknown command or option, a missing argument) become one line on stderr
    (``Name: message``, exit 2), never a traceback."""
    try:
        # Without standalone mode, Typer hands back typer.Exit's code instead of exiting.
        code = app(args=argv, standalone_mode=False, prog_name="champion")
    except ChampionError as e:
        errors.print(f"[red]{type(e).__name__}[/]: {e.message}", highlight=False, soft_wrap=True)
        return e.exit_code
    except typer.TyperException as e:
        return _usage_error(e)
    except (typer.Abort, KeyboardInterrupt):
        errors.print("Aborted.")
        return 130
    return code if isinstance(code, int) else 0


def _usage_error(error: typer.TyperException) -> int:
    """Print a parsing error as one line and return its exit code (2 for usage errors).

    Typer ships its own copy of click (``typer._click``): its parser raises that copy's
    exceptions, which derive from ``typer.TyperException``, not from click's.
    """
    if not isinstance(error, ClickUsageError):  # e.g. a file option that cannot be opened
        errors.print(f"{type(error).__name__}: {error.format_message()}", markup=False)
        return error.exit_code
    # ``champion`` alone: the help text is the message, shown as click shows it.
    if isinstance(error, NoArgsIsHelpError):
        error.show()
        return error.exit_code
    message = " ".join(error.format_message().split())  # click's suggestions: same line
    hint = f" (see '{error.ctx.command_path} --help')" if error.ctx is not None else ""
    errors.print(f"UsageError: {message}{hint}", markup=False, highlight=False, soft_wrap=True)
    return error.exit_code


def main() -> None:
    """Console-script entry point."""
    sys.exit(run())
