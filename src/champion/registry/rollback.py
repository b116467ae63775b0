"""Give alias ``champion`` back to the previous champion: ``champion rollback``.

A rollback is an MLflow run (tag ``champion.role`` = ``rollback``) in the model's
experiment; the restored version loses its ``archived`` tags and gains
``restored_at``, and the champion history is cut back to it.

May import: ``champion.errors``, ``champion.settings``, ``champion.registry.lock``,
``champion.registry.tracking``,
``champion.registry.versions``.
"""

from __future__ import annotations

import json

import mlflow
from mlflow.entities.model_registry import ModelVersion

from champion.errors import ConflictError
from champion.registry.lock import registry_lock
from champion.registry.tracking import ROLE_TAG, client, ensure_experiment, use_tracking
from champion.registry.versions import (
    CHAMPION,
    HISTORY_TAG,
    champion_history,
    move_champion,
    registered_model,
    require_alias,
    tag_timestamp,
)
from champion.settings import Settings


def rollback(settings: Settings, name: str, *, reason: str = "manual rollback") -> ModelVersion:
    """Give alias ``champion`` back to the previous champion.

    Raises:
        NotFoundError: no model or no champion.
        ConflictError: there is no previous champion to return to.
    """
    registered_model(settings, name)  # no lock for a model that does not exist
    # Read the champion and the history under the lock: a promote that ends meanwhile
    # would otherwise be undone without its archive tag.
    with registry_lock(settings, name, purpose="rollback"):
        current = require_alias(settings, name, CHAMPION)
        history = champion_history(settings, name)
        earlier = [v for v in history[:-1] if v != str(current.version)]
        if not earlier:
            raise ConflictError(
                f"'{name}' has no previous champion to roll back to "
                f"(champion history: {history or 'empty'})"
            )
        target = earlier[-1]
        with use_tracking(settings):
            experiment_id = ensure_experiment(settings, name)
            tags = {ROLE_TAG: "rollback", "model": name}
            with mlflow.start_run(
                experiment_id=experiment_id,
                run_name=f"rollback-v{current.version}-to-v{target}",
                tags=tags,
            ):
                mlflow.log_params(
                    {"from_version": current.version, "to_version": target, "reason": reason[:500]}
                )
            move_champion(
                settings, name, target, current, f"rolled back to version {target}: {reason}"
            )
            mlflow_client = client(settings)
            mlflow_client.set_model_version_tag(name, target, "restored_at", tag_timestamp())
            # History ends at the restored champion: a second rollback goes further back.
            remaining = history[: len(history) - history[::-1].index(target)]
            mlflow_client.set_registered_model_tag(name, HISTORY_TAG, json.dumps(remaining))
            return mlflow_client.get_model_version(name, target)
