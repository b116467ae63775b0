"""Register a candidate run's model as a new version with alias ``challenger``, its
ONNX graph compiled and verified once, here (:mod:`champion.registry.compiled`).

May import: ``champion.errors``, ``champion.settings``, ``champion.registry.tracking``,
``champion.registry.compare``, ``champion.registry.lock``, ``champion.registry.versions``,
``champion.registry.compiled``.
"""

from __future__ import annotations

from mlflow.entities.model_registry import ModelVersion

from champion.errors import NotFoundError
from champion.registry.compare import compare
from champion.registry.compiled import compile_for_registration
from champion.registry.lock import registry_lock
from champion.registry.tracking import client, translate_errors, use_tracking
from champion.registry.versions import CHALLENGER, tag_timestamp
from champion.settings import Settings


def register(
    settings: Settings, name: str, *, run_id: str | None = None, description: str | None = None
) -> ModelVersion:
    """Register a candidate run's model as a new version of ``name`` with alias
    ``challenger``: the given run, or the best by the primary metric.

    The model is compiled to ONNX and verified on the run's holdout first; the graph is
    logged to the run and the version is created with tags saying where it is, its
    digests and the evidence, or why it does not compile (``champion.onnx.*``, see
    :mod:`champion.registry.compiled`), so a server never compiles it again.

    Raises:
        NotFoundError: the run does not exist, is not a candidate of ``name``, or
            logged no model.
    """
    rows = compare(settings, name)
    if run_id is None:
        chosen = rows[0]
    else:
        matches = [r for r in rows if r.run_id == run_id]
        if not matches:
            raise NotFoundError(
                f"run '{run_id}' is not a finished candidate of '{name}'; "
                f"candidates: {', '.join(r.run_id[:12] + ' ' + r.candidate for r in rows[:10])}"
            )
        chosen = matches[0]
    if not chosen.model_uri:
        # MLflow would register an empty source as a READY version nothing can load.
        raise NotFoundError(
            f"run '{chosen.run_id}' of '{name}' logged no model "
            f"(candidate '{chosen.candidate}' has no tag champion.model_uri); train it again"
        )
    value = chosen.metrics.get(chosen.metric, float("nan"))
    mlflow_client = client(settings)
    # Compiling takes a second or more: before the lock, which promote waits on. The
    # graph's folder is named by its digest, so two registrations of one run agree.
    with use_tracking(settings), translate_errors():
        onnx = compile_for_registration(mlflow_client, chosen.run_id, chosen.model_uri)
    # Under the lock (taken before the store's fluent state, which promote takes inside
    # it): a promote moving ``champion`` takes ``challenger`` off the version it
    # promotes, and must not take it off this one instead.
    with registry_lock(settings, name, purpose="register"), use_tracking(settings):
        run = mlflow_client.get_run(chosen.run_id)
        inputs = run.inputs.dataset_inputs if run.inputs else []
        data = (
            ", ".join(f"{d.dataset.name} (digest {d.dataset.digest})" for d in inputs) or "unknown"
        )
        project_description = run.data.tags.get("mlflow.note.content", "")
        text = description or (
            f"Candidate '{chosen.candidate}' (run {chosen.run_id}): "
            f"{chosen.metric} = {value:.4f} on the "
            f"holdout. Data: {data}; filter: {run.data.params.get('data.filter') or 'none'}; "
            f"split: {run.data.params.get('split', '?')}."
        )
        if not mlflow_client.search_registered_models(filter_string=f"name = '{name}'"):
            mlflow_client.create_registered_model(name, description=project_description)
        # The client, not mlflow.register_model: the same call without its prints.
        version = mlflow_client.create_model_version(
            name,
            source=chosen.model_uri,
            run_id=chosen.run_id,
            model_id=chosen.model_uri.removeprefix("models:/"),
            description=text,
            tags={
                "candidate": chosen.candidate,
                "primary_metric": chosen.metric,
                chosen.metric: f"{value:.6f}",
                "data_digest": chosen.data_digest,
                "registered_at": tag_timestamp(),
                **onnx.tags(),
            },
        )
        mlflow_client.set_registered_model_alias(name, CHALLENGER, version.version)
        return mlflow_client.get_model_version(name, version.version)
