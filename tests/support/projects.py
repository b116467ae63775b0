"""Projects on fresh tracking stores: where most tests start."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from champion.project.spec import Project, load_spec
from champion.registry.promote import promote
from champion.registry.register import register
from champion.settings import Settings
from champion.training.train import TrainingReport, train_project

REPO = Path(__file__).resolve().parents[2]
POKEMON = REPO / "data" / "pokemon"


def sqlite_store(folder: Path, template: Path) -> dict[str, str]:
    """The environment of a fresh SQLite tracking store in ``folder``."""
    path = folder / "mlflow.db"
    shutil.copyfile(template, path)
    return {"MLFLOW_TRACKING_URI": f"sqlite:///{path}"}


def write_project(folder: Path, text: str) -> Path:
    """Write ``champion.yaml`` into ``folder`` and return its path."""
    path = folder / "champion.yaml"
    path.write_text(text)
    return path


@dataclass(frozen=True)
class Promoted:
    """A model trained, registered and promoted by :func:`promoted`."""

    settings: Settings
    config: Path
    project: Project
    report: TrainingReport


def promoted(folder: Path, template: Path, project_text: str) -> Promoted:
    """A fresh SQLite store in ``folder``, the project written there and trained, its
    best candidate registered and promoted: where a serving test starts."""
    settings = Settings.from_env(folder, environ=sqlite_store(folder, template))
    config = write_project(folder, project_text)
    project = load_spec(config)
    report = train_project(project, settings)
    register(settings, project.spec.name)
    promote(settings, project.spec.name)
    return Promoted(settings, config, project, report)
