"""The edge between champion and MLflow: which store, which experiment, which errors.

Everything that talks to MLflow goes through :func:`use_tracking` (which points the
fluent API at the configured store for the duration of a block and then restores it)
or :func:`client`. MLflow's exceptions are translated into champion's here, so the
rest of the code never sees a traceback from the store. Both start a new local SQLite
store from a migrated template (``sqlite_template``), not from MLflow's migrations.
"""

from __future__ import annotations

import logging
import os
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

import mlflow
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from champion.errors import NotFoundError, TrackingError
from champion.registry.sqlite_template import seed_new_store
from champion.settings import Settings

_URI_VARIABLES = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")
_FLUENT_STATE = threading.RLock()  # guards MLflow's global URIs and their variables
ROLE_TAG = "champion.role"
PROJECT_TAG = "champion.project"


def quiet_mlflow() -> None:
    """Keep MLflow's and the database migrations' INFO chatter off the user's terminal.

    Call after importing mlflow: its import configures its loggers at INFO.
    """
    import mlflow  # noqa: F401

    for name in ("mlflow", "alembic", "optuna", "shap", "skops"):
        logging.getLogger(name).setLevel(logging.WARNING)
    # uv's venvs have no pip; MLflow warns on every model that it cannot see pip's version.
    logging.getLogger("mlflow.utils.environment").setLevel(logging.ERROR)
    # A tqdm bar on stderr for each artifact download (promote, serve) is noise in a
    # CLI; MLflow reads only this variable. A user who sets it keeps their choice.
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    # MLflow's own type-hint inference warns about its internal Any hints.
    warnings.filterwarnings("ignore", message=".*Any type hint is inferred", category=UserWarning)


@contextmanager
def use_tracking(settings: Settings) -> Iterator[None]:
    """Point MLflow's fluent API at ``settings`` for the block; restore it after.

    MLflow's setters also write ``MLFLOW_TRACKING_URI``/``MLFLOW_REGISTRY_URI`` into
    ``os.environ`` (for subprocesses). They are put back exactly as they were, so
    settings built later still see the user's environment, not this block's. The
    state is process-wide, so one block runs at a time: a server's reload and
    monitoring threads take turns.
    """
    seed_new_store(settings)
    with _FLUENT_STATE:
        saved_environment = {name: os.environ.get(name) for name in _URI_VARIABLES}
        previous = mlflow.get_tracking_uri(), mlflow.get_registry_uri()
        mlflow.set_tracking_uri(settings.tracking_uri)
        mlflow.set_registry_uri(settings.registry_uri)
        try:
            with translate_errors():
                yield
        finally:
            mlflow.set_tracking_uri(previous[0])
            mlflow.set_registry_uri(previous[1])
            for name, value in saved_environment.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value


def client(settings: Settings) -> MlflowClient:
    """A client bound to the configured tracking and registry stores."""
    seed_new_store(settings)
    return MlflowClient(tracking_uri=settings.tracking_uri, registry_uri=settings.registry_uri)


def ensure_experiment(settings: Settings, name: str) -> str:
    """The id of experiment ``name``, created (with the local artifact root) if absent."""
    mlflow_client = client(settings)
    with translate_errors():
        experiment = mlflow_client.get_experiment_by_name(name)
        if experiment is not None:
            if experiment.lifecycle_stage == "deleted":
                mlflow_client.restore_experiment(experiment.experiment_id)
            return experiment.experiment_id
        return mlflow_client.create_experiment(
            name, artifact_location=_artifacts_for(settings, name)
        )


def _artifacts_for(settings: Settings, name: str) -> str | None:
    return f"{settings.artifact_root}/{name}" if settings.artifact_root else None


@contextmanager
def translate_errors() -> Iterator[None]:
    """Re-raise MLflow's and the network's errors as champion errors."""
    try:
        yield
    except MlflowException as e:
        message = str(e.message if hasattr(e, "message") else e).splitlines()[0]
        if e.error_code in ("RESOURCE_DOES_NOT_EXIST", "NOT_FOUND"):
            raise NotFoundError(message) from e
        raise TrackingError(f"the tracking store said: {message}") from e
    except (ConnectionError, OSError) as e:
        if isinstance(e, FileNotFoundError | PermissionError):
            raise
        raise TrackingError(f"cannot reach the tracking store: {e}") from e
