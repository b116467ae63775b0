"""Registered versions and their aliases: list them, resolve an alias, move the champion.

Vocabulary (MLflow deprecated stages for aliases): alias ``champion`` is Production,
alias ``challenger`` is Staging. A champion that is replaced or rolled back keeps tags
``archived=true``, ``archived_at`` and ``archived_reason``. The registered model's tag
``champion.history`` lists the versions that were champion, oldest first, so a
rollback knows where to go.

This is what ``champion models``, serving and monitoring need from the registry, so it
imports MLflow's client and nothing that computes: no scikit-learn.

May import: ``champion.errors``, ``champion.settings``, ``champion.registry.tracking``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime

from mlflow.entities.model_registry import ModelVersion, RegisteredModel

from champion.errors import NotFoundError
from champion.registry.tracking import client, translate_errors
from champion.settings import Settings

CHAMPION = "champion"
CHALLENGER = "challenger"
HISTORY_TAG = "champion.history"
ARCHIVE_TAGS = ("archived", "archived_at", "archived_reason")
# Marks the registered model that holds a model's lock tickets (``registry.lock``):
# it is no model, so listings leave it out.
LOCK_TAG = "champion.lock"


@dataclass(frozen=True)
class VersionRow:
    """One registered version as ``models`` shows it."""

    name: str
    version: str
    aliases: list[str]
    description: str
    run_id: str
    metrics: dict[str, float]
    tags: dict[str, str] = field(default_factory=dict)


def tag_timestamp() -> str:
    """The current UTC time as the registry's tags record it."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def registered_model(settings: Settings, name: str) -> RegisteredModel:
    """The registered model ``name``.

    Raises:
        NotFoundError: there is no such model (naming the models there are).
    """
    mlflow_client = client(settings)
    try:
        with translate_errors():
            return mlflow_client.get_registered_model(name)
    except NotFoundError:
        names = [
            m.name
            for m in mlflow_client.search_registered_models(max_results=50)
            if LOCK_TAG not in m.tags
        ]
        raise NotFoundError(
            f"no registered model '{name}'; registered models: {', '.join(names) or 'none'}"
        ) from None


def version_by_alias(settings: Settings, name: str, alias: str) -> ModelVersion | None:
    """The version behind ``alias``, or None if the model has no such alias.

    Raises:
        NotFoundError: there is no registered model ``name``.
    """
    mlflow_client = client(settings)
    with translate_errors():
        model = registered_model(settings, name)
        if alias not in model.aliases:
            return None
        return mlflow_client.get_model_version(name, model.aliases[alias])


def require_alias(settings: Settings, name: str, alias: str) -> ModelVersion:
    """The version behind ``alias``.

    Raises:
        NotFoundError: no model ``name``, or no such alias (naming the aliases it has).
    """
    version = version_by_alias(settings, name, alias)
    if version is None:
        aliases = ", ".join(registered_model(settings, name).aliases) or "no aliases"
        raise NotFoundError(f"Model '{name}' has no alias '{alias}'; it has: {aliases}")
    return version


def champion_history(settings: Settings, name: str) -> list[str]:
    """The versions that were champion of ``name``, oldest first (tag ``champion.history``)."""
    tags = registered_model(settings, name).tags
    try:
        return [str(v) for v in json.loads(tags.get(HISTORY_TAG, "[]"))]
    except json.JSONDecodeError:
        return []


def move_champion(
    settings: Settings, name: str, version: str, old: ModelVersion | None, reason: str
) -> None:
    """Point alias ``champion`` at ``version`` (taking ``challenger`` off it), clear
    the archive tags it kept from an earlier reign, and mark the ``old`` champion
    archived with ``reason``. Call inside ``use_tracking`` and ``registry_lock``."""
    mlflow_client = client(settings)
    mlflow_client.set_registered_model_alias(name, CHAMPION, version)
    # A version that serves is never archived: re-promoting an old one clears its tags.
    kept = mlflow_client.get_model_version(name, version).tags
    for key in ARCHIVE_TAGS:
        if key in kept:
            mlflow_client.delete_model_version_tag(name, version, key)
    current = mlflow_client.get_registered_model(name).aliases
    if str(current.get(CHALLENGER)) == str(version):
        mlflow_client.delete_registered_model_alias(name, CHALLENGER)
    if old is not None:
        for key, value in {
            "archived": "true",
            "archived_at": tag_timestamp(),
            "archived_reason": reason[:4000],
        }.items():
            mlflow_client.set_model_version_tag(name, old.version, key, value)


def list_versions(settings: Settings, name: str | None = None) -> list[VersionRow]:
    """Every version of ``name`` (or of every model), newest first, with aliases,
    description, tags and the metrics of the run it came from."""
    mlflow_client = client(settings)
    with translate_errors():
        # Search results carry each model's aliases: no second fetch per model.
        models = (
            [registered_model(settings, name)]
            if name
            else [
                m
                for m in mlflow_client.search_registered_models(max_results=1000)
                if LOCK_TAG not in m.tags
            ]
        )
        rows = []
        for model in models:
            model_name = model.name
            by_version: dict[str, list[str]] = {}
            for alias, version in model.aliases.items():
                by_version.setdefault(str(version), []).append(alias)
            versions = mlflow_client.search_model_versions(f"name = '{model_name}'")
            for version in sorted(versions, key=lambda v: int(v.version), reverse=True):
                metrics = {}
                if version.run_id:
                    try:
                        metrics = dict(mlflow_client.get_run(version.run_id).data.metrics)
                    except Exception:  # a deleted run keeps its version; show no metrics
                        metrics = {}
                rows.append(
                    VersionRow(
                        model_name,
                        str(version.version),
                        sorted(by_version.get(str(version.version), [])),
                        version.description or "",
                        version.run_id or "",
                        metrics,
                        dict(version.tags),
                    )
                )
    return rows
