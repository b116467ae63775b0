"""``champion demo``: the loop on the Pokémon legendary example, end to end.

Train every candidate, show the ranking, register the best as challenger, run the
promotion gate, and say where to look; the command then serves the champion and
prints a ready-to-paste ``curl`` (unless ``--no-serve``). Run twice, the second challenger meets the
first champion at the gate, which may refuse it: that is the gate working, and the
demo says so rather than failing.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from rich.console import Console
from rich.progress import Progress

from champion.errors import PromotionRefused
from champion.project.spec import Project
from champion.registry.compare import compare
from champion.registry.promote import promote
from champion.registry.register import register
from champion.registry.versions import list_versions
from champion.settings import Settings
from champion.training.progress import Bars
from champion.training.train import train_project

# From a clone, the example sits two folders above the package (src/champion).
_REPO = Path(__file__).resolve().parents[2]
DEFAULT_EXAMPLE = (
    Path("examples/pokemon-legendary/champion.yaml")
    if Path("examples/pokemon-legendary/champion.yaml").is_file()
    else _REPO / "examples" / "pokemon-legendary" / "champion.yaml"
)


def run_demo(
    project: Project, settings: Settings, *, console: Console, progress: Callable[[], Progress]
) -> str:
    """Run train → compare → register → promote; return the champion's version."""
    name = project.spec.name
    console.rule(f"[bold]champion demo[/]: {name}")
    console.print(f"Project file: {project.source}\nTracking store: {settings.tracking_uri}\n")
    with progress() as bar:
        report_ = train_project(project, settings, progress=Bars(bar))
    console.print(f"[bold]1. Trained[/] {len(report_.candidates)} candidates")
    for row in compare(settings, name, limit=len(report_.candidates)):
        if row.run_id in {c.run_id for c in report_.candidates}:
            metrics = ", ".join(
                f"{k}={v:.3f}" for k, v in sorted(row.metrics.items()) if k != "fit_time_s"
            )
            console.print(f"   {row.candidate:<24} {metrics}")
    best = report_.best
    version = register(settings, name, run_id=best.run_id)
    console.print(
        f"[bold]2. Registered[/] the best, '{best.name}' ({report_.metric}="
        f"{best.metrics[report_.metric]:.3f}), as {name} version {version.version} "
        "(alias challenger)"
    )
    try:
        decision = promote(settings, name, project.spec.promotion)
        console.print(
            f"[bold]3. Promoted[/] version {version.version} to champion: {decision.reason}"
        )
    except PromotionRefused as refused:
        console.print(f"[bold]3. The gate refused[/] version {version.version}: {refused.message}")
        console.print("   The current champion keeps serving; force with: champion promote --force")
    champion = next(r for r in list_versions(settings, name) if "champion" in r.aliases)
    console.print("\n[bold]Where to look[/]")
    console.print(f"   Model:      models:/{name}@champion (version {champion.version})")
    console.print(f"   Registry:   champion models -c {project.source}")
    console.print(f"   MLflow UI:  mlflow ui --backend-store-uri {settings.tracking_uri}")
    console.print(
        "   In Python:  mlflow.pyfunc.load_model('models:/" + name + "@champion') "
        f"with MLFLOW_TRACKING_URI={settings.tracking_uri}"
    )
    return champion.version


def curl_example(base_url: str, columns: list[str], rows: list[list]) -> str:
    """A ready-to-paste ``curl`` for ``/invocations`` in MLflow's dataframe_split format."""
    body = json.dumps({"dataframe_split": {"columns": columns, "data": rows}})
    return (
        f"curl -X POST -H 'Content-Type: application/json' --data '{body}' {base_url}/invocations"
    )


def example_rows(settings: Settings, name: str, n: int = 2) -> tuple[list[str], list[list]]:
    """The champion's input columns and ``n`` rows of its holdout, JSON-ready."""
    from champion.serving.model import load_served_model

    model = load_served_model(settings, name, inference="sklearn")  # no need to compile
    rows = model.background.head(n)  # holdout rows, already in the model's input types
    return model.features.columns, rows.astype(object).where(rows.notna(), None).to_numpy().tolist()
