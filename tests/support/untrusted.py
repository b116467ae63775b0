"""Registered versions that must never load: payloads that run code when deserialized.

Each is logged into the run of a real champion version, with that version's champion
metadata and input example, so the only thing wrong with it is its format: without the
check, a loader reads its metadata, then unpickles it, and the payload runs.
"""

from __future__ import annotations

from pathlib import Path

import mlflow
from mlflow import MlflowClient

from champion.registry.tracking import use_tracking
from champion.settings import Settings


class Payload:
    """Unpickling it creates ``marker``: proof that the model's code ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def register_untrusted(
    settings: Settings,
    name: str,
    like: str,
    marker: Path,
    *,
    serialization: str = "cloudpickle",
    also_trusted: list[str] | None = None,
) -> str:
    """Register, as a new version of ``name``, a :class:`Payload` logged with MLflow's
    sklearn flavour in ``serialization`` (``pickle``, ``cloudpickle``), in the run of
    version ``like`` and with its metadata. Or, for ``skops``, version ``like``'s own
    pipeline, whose MLmodel also trusts ``also_trusted``. Returns the new version."""
    with use_tracking(settings):
        mlflow_client = MlflowClient()
        source = mlflow_client.get_model_version(name, like)
        info = mlflow.models.get_model_info(f"models:/{name}/{like}")
        example = mlflow.models.Model.load(f"models:/{name}/{like}").load_input_example(
            mlflow.artifacts.download_artifacts(f"models:/{name}/{like}")
        )
        model = Payload(marker)
        kwargs = {}
        if serialization == "skops":
            # A real pipeline in a skops file, with more trusted types than it needs.
            model = mlflow.sklearn.load_model(f"models:/{name}/{like}")
            own = info.flavors["sklearn"]["skops_trusted_types"]
            kwargs["skops_trusted_types"] = [*own, *(also_trusted or [])]
        with mlflow.start_run(run_id=source.run_id):
            logged = mlflow.sklearn.log_model(
                model,
                name=f"untrusted-{serialization}",
                serialization_format=serialization,
                metadata=info.metadata,
                input_example=example,
                pip_requirements=[],
                **kwargs,
            )
        version = mlflow_client.create_model_version(name, logged.model_uri, source.run_id)
    assert not marker.exists(), "logging the payload must not have run it"
    return str(version.version)
