"""Settings: the only place that reads champion's configuration from the environment.

The CLI builds one :class:`Settings` at the edge and passes it down; tests pass
``environ={...}`` instead of patching globals.

Two third-party libraries are configured only through variables of their own, and
champion touches those where it uses the library, nowhere else:
``registry/tracking.py`` puts back the ``MLFLOW_*_URI`` variables that MLflow's setters
write, and turns MLflow's artifact progress bar off unless the user chose otherwise;
``serving/runner.py`` sets prometheus_client's ``PROMETHEUS_MULTIPROC_DIR`` for its
worker processes.

Environment variables:
    MLFLOW_TRACKING_URI   where runs and the registry live; by default a SQLite file
                          ``mlflow.db`` in the project folder.
    MLFLOW_REGISTRY_URI   a separate registry store, if any (default: the tracking store).
    CHAMPION_ARTIFACTS    where a local store keeps artifacts (default ``mlartifacts/``
                          in the project folder). Ignored for an HTTP tracking server,
                          which decides itself (``--serve-artifacts``).
    CHAMPION_PREDICTION_LOG  the prediction log (a SQLAlchemy URL, e.g.
                          ``postgresql://user@host/db``); by default a SQLite file
                          ``predictions.db`` in the project folder, so serving,
                          feedback and monitoring run from one folder find one log.
    CHAMPION_SEARCH_STORAGE  the Optuna storage (a SQLAlchemy URL, e.g.
                          ``postgresql+psycopg2://user@host/optuna``) that several
                          ``champion train`` processes share a search through; it wins
                          over the project file's ``search.storage``. Unset: the
                          project file decides (by default, one process, in memory).
    CHAMPION_CACHE        where champion keeps files it can rebuild (the empty, migrated
                          SQLite store a new local store is copied from); default
                          ``$XDG_CACHE_HOME/champion``, else ``~/.cache/champion``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Settings:
    """Where champion keeps its state.

    Attributes:
        project_dir: the folder of the project file; relative paths resolve against it.
        tracking_uri: the MLflow tracking URI.
        registry_uri: the MLflow registry URI (usually the tracking URI).
        artifact_root: artifact location for new experiments on a local store, or None
            to let the tracking server decide.
        prediction_log: the SQLAlchemy URL of the prediction log.
        search_storage: the shared Optuna storage from the environment, or None.
        cache_dir: where rebuildable files live, or None (no ``HOME`` or cache
            variable in the environment): then nothing is cached.
    """

    project_dir: Path
    tracking_uri: str
    registry_uri: str
    artifact_root: str | None
    prediction_log: str
    search_storage: str | None = None
    cache_dir: Path | None = None

    @classmethod
    def from_env(
        cls, project_dir: Path | str = ".", environ: Mapping[str, str] | None = None
    ) -> Settings:
        """Build settings for ``project_dir`` from ``environ`` (default: ``os.environ``)."""
        env = os.environ if environ is None else environ
        project = Path(project_dir).resolve()
        tracking = env.get("MLFLOW_TRACKING_URI") or f"sqlite:///{project / 'mlflow.db'}"
        registry = env.get("MLFLOW_REGISTRY_URI") or tracking
        artifact_root: str | None = None
        if not tracking.startswith(("http://", "https://", "databricks")):
            artifact_root = Path(env.get("CHAMPION_ARTIFACTS") or project / "mlartifacts")
            artifact_root = artifact_root.resolve().as_uri()
        log = env.get("CHAMPION_PREDICTION_LOG") or f"sqlite:///{project / 'predictions.db'}"
        search = env.get("CHAMPION_SEARCH_STORAGE") or None
        cache = env.get("CHAMPION_CACHE")
        if not cache and env.get("XDG_CACHE_HOME"):
            cache = Path(env["XDG_CACHE_HOME"]) / "champion"
        if not cache and env.get("HOME"):
            cache = Path(env["HOME"]) / ".cache" / "champion"
        return cls(
            project, tracking, registry, artifact_root, log, search, Path(cache) if cache else None
        )


def database_url(url: str) -> str:
    """A SQLAlchemy URL with a bare ``postgresql://`` (or ``postgres://``) pinned to
    psycopg2: SQLAlchemy 2.1 maps it to psycopg 3, which champion does not install.
    Every database champion opens (the prediction log, a shared search) goes through it.
    """
    if url.startswith(("postgresql://", "postgres://")):
        return "postgresql+psycopg2://" + url.split("://", 1)[1]
    return url
