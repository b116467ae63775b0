"""Compare runs, register versions, promote through the gate, roll back, list models.

Vocabulary (MLflow deprecated stages for aliases): alias ``champion`` is Production,
alias ``challenger`` is Staging. A champion that is replaced or rolled back keeps tags
``archived=true``, ``archived_at`` and ``archived_reason``. The registered model's tag
``champion.history`` lists the versions that were champion, oldest first, so a
rollback knows where to go. Every gate decision and rollback is an MLflow run (tag
``champion.role`` = ``gate`` or ``rollback``) in the model's experiment, with its
evidence, and is also written as tags on the versions involved.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime

import mlflow
import pandas as pd
from mlflow.entities.model_registry import ModelVersion

from champion import artifacts
from champion.errors import ChampionError, NotFoundError, PromotionRefused
from champion.project.features import FeatureSet, model_inputs
from champion.project.metrics import direction_of, evaluate, rank_key, row_scores
from champion.project.spec import CLASSIFICATION_TASKS, PromotionSpec
from champion.project.targets import encode_target
from champion.registry.gate import Decision, decide, mcnemar, paired_bootstrap
from champion.registry.tracking import (
    ROLE_TAG,
    client,
    ensure_experiment,
    translate_errors,
    use_tracking,
)
from champion.settings import Settings

CHAMPION = "champion"
CHALLENGER = "challenger"
HISTORY_TAG = "champion.history"


@dataclass(frozen=True)
class RunRow:
    """One candidate run as ``compare`` shows it."""

    run_id: str
    candidate: str
    started: str
    metrics: dict[str, float]
    metric: str
    model_uri: str
    data_digest: str


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


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def compare(settings: Settings, name: str, *, limit: int = 100) -> list[RunRow]:
    """The candidate runs of experiment ``name``, best first by their primary metric.

    Raises:
        NotFoundError: no experiment or no finished candidate run of that name.
    """
    mlflow_client = client(settings)
    with translate_errors():
        experiment = mlflow_client.get_experiment_by_name(name)
        if experiment is None:
            raise NotFoundError(
                f"no experiment '{name}' in {settings.tracking_uri}; run champion train first"
            )
        runs = mlflow_client.search_runs(
            [experiment.experiment_id],
            filter_string=f"tags.`{ROLE_TAG}` = 'candidate' and attributes.status = 'FINISHED'",
            max_results=limit,
        )
    if not runs:
        raise NotFoundError(
            f"experiment '{name}' has no finished candidate run; run champion train first"
        )
    metric = runs[0].data.tags.get("champion.primary_metric", "")
    direction = runs[0].data.tags.get("champion.direction", "maximize")

    def key(run):
        return (*rank_key(run.data.metrics.get(metric), direction), -run.info.start_time)

    rows = []
    for run in sorted(runs, key=key):
        rows.append(
            RunRow(
                run_id=run.info.run_id,
                candidate=run.data.tags.get("champion.candidate", run.info.run_name),
                started=datetime.fromtimestamp(run.info.start_time / 1000, UTC).isoformat(
                    timespec="seconds"
                ),
                metrics=dict(run.data.metrics),
                metric=metric,
                model_uri=run.data.tags.get("champion.model_uri", ""),
                data_digest=run.data.tags.get("champion.data_digest", ""),
            )
        )
    return rows


def register(
    settings: Settings, name: str, *, run_id: str | None = None, description: str | None = None
) -> ModelVersion:
    """Register a candidate run's model as a new version of ``name`` with alias
    ``challenger``: the given run, or the best by the primary metric.

    Raises:
        NotFoundError: the run does not exist or is not a candidate of ``name``.
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
    value = chosen.metrics.get(chosen.metric, float("nan"))
    mlflow_client = client(settings)
    with use_tracking(settings):
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
                "registered_at": _now(),
            },
        )
        mlflow_client.set_registered_model_alias(name, CHALLENGER, version.version)
        return mlflow_client.get_model_version(name, version.version)


def version_by_alias(settings: Settings, name: str, alias: str) -> ModelVersion | None:
    """The version behind ``alias``, or None if the model has no such alias.

    Raises:
        NotFoundError: there is no registered model ``name``.
    """
    mlflow_client = client(settings)
    with translate_errors():
        model = _registered_model(settings, name)
        if alias not in model.aliases:
            return None
        return mlflow_client.get_model_version(name, model.aliases[alias])


def _registered_model(settings: Settings, name: str):
    mlflow_client = client(settings)
    try:
        with translate_errors():
            return mlflow_client.get_registered_model(name)
    except NotFoundError:
        names = [m.name for m in mlflow_client.search_registered_models(max_results=50)]
        raise NotFoundError(
            f"no registered model '{name}'; registered models: {', '.join(names) or 'none'}"
        ) from None


def require_alias(settings: Settings, name: str, alias: str) -> ModelVersion:
    """The version behind ``alias``.

    Raises:
        NotFoundError: no model ``name``, or no such alias (naming the aliases it has).
    """
    version = version_by_alias(settings, name, alias)
    if version is None:
        aliases = ", ".join(_registered_model(settings, name).aliases) or "no aliases"
        raise NotFoundError(f"Model '{name}' has no alias '{alias}'; it has: {aliases}")
    return version


def promote(
    settings: Settings, name: str, policy: PromotionSpec | None = None, *, force: bool = False
) -> Decision:
    """Run the gate: score challenger and champion on the challenger's holdout and move
    alias ``champion`` if the challenger passes (or ``force``).

    Returns:
        the decision (promoted).
    Raises:
        NotFoundError: no model or no challenger.
        PromotionRefused: the gate said no; the evidence is on the exception. Recorded.
    """
    policy = policy or PromotionSpec()
    challenger = require_alias(settings, name, CHALLENGER)
    champion = version_by_alias(settings, name, CHAMPION)
    if champion is not None and str(champion.version) == str(challenger.version):
        raise ChampionError(f"version {challenger.version} of '{name}' is already the champion")
    with use_tracking(settings):
        evidence = _score_pair(settings, name, challenger, champion, policy)
        decision = evidence.pop("decision")
        promoted = decision.promote or force
        run_id = _record_gate(settings, name, challenger, champion, decision, evidence, force)
        mlflow_client = client(settings)
        outcome = "promoted" if decision.promote else ("forced" if force else "refused")
        for key, value in {
            "gate.decision": outcome,
            "gate.reason": decision.reason[:4000],
            "gate.run_id": run_id,
            "gate.date": _now(),
        }.items():
            mlflow_client.set_model_version_tag(name, challenger.version, key, value)
        if not promoted:
            raise PromotionRefused(
                f"'{name}' version {challenger.version} was not promoted: {decision.reason}",
                evidence=decision.to_dict() | evidence,
            )
        reason = f"replaced by version {challenger.version}: {decision.reason}"
        _move_champion(settings, name, str(challenger.version), champion, reason)
        history = [*_history(settings, name), str(challenger.version)]
        mlflow_client.set_registered_model_tag(name, HISTORY_TAG, json.dumps(history))
    return decision


def rollback(settings: Settings, name: str, *, reason: str = "manual rollback") -> ModelVersion:
    """Give alias ``champion`` back to the previous champion.

    Raises:
        NotFoundError: no model or no champion.
        ChampionError: there is no previous champion to return to.
    """
    current = require_alias(settings, name, CHAMPION)
    history = _history(settings, name)
    earlier = [v for v in history[:-1] if v != str(current.version)]
    if not earlier:
        raise ChampionError(
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
        _move_champion(
            settings, name, target, current, f"rolled back to version {target}: {reason}"
        )
        mlflow_client = client(settings)
        for key in ("archived", "archived_at", "archived_reason"):
            mlflow_client.delete_model_version_tag(name, target, key)
        mlflow_client.set_model_version_tag(name, target, "restored_at", _now())
        # History ends at the restored champion: a second rollback goes further back.
        remaining = history[: len(history) - history[::-1].index(target)]
        mlflow_client.set_registered_model_tag(name, HISTORY_TAG, json.dumps(remaining))
        return mlflow_client.get_model_version(name, target)


def _move_champion(
    settings: Settings, name: str, version: str, old: ModelVersion | None, reason: str
) -> None:
    mlflow_client = client(settings)
    mlflow_client.set_registered_model_alias(name, CHAMPION, version)
    current = mlflow_client.get_registered_model(name).aliases
    if str(current.get(CHALLENGER)) == str(version):
        mlflow_client.delete_registered_model_alias(name, CHALLENGER)
    if old is not None:
        for key, value in {
            "archived": "true",
            "archived_at": _now(),
            "archived_reason": reason[:4000],
        }.items():
            mlflow_client.set_model_version_tag(name, old.version, key, value)


def _history(settings: Settings, name: str) -> list[str]:
    tags = _registered_model(settings, name).tags
    try:
        return [str(v) for v in json.loads(tags.get(HISTORY_TAG, "[]"))]
    except json.JSONDecodeError:
        return []


def _score_pair(
    settings, name, challenger: ModelVersion, champion: ModelVersion | None, policy
) -> dict:
    """Score both versions on the challenger's holdout; return the evidence and decision."""
    meta = mlflow.models.get_model_info(f"models:/{name}/{challenger.version}").metadata["champion"]
    holdout = artifacts.load_holdout(challenger.run_id)
    task = meta["task"]
    target = encode_target(
        holdout,
        task,
        meta["target"],
        separator=meta.get("tag_separator", "|"),
        tags=meta.get("tags"),
        pos_label=meta.get("positive_class"),
    )
    rows = holdout[target.keep].reset_index(drop=True)
    scored = {"challenger": _score(name, challenger, rows, target, meta)}
    if champion is not None:
        scored["champion"] = _score(name, champion, rows, target, meta)
    metric = meta["primary_metric"]
    direction = meta.get("direction") or direction_of(metric)
    test = None
    if champion is not None:
        a, b = scored["challenger"]["row_scores"], scored["champion"]["row_scores"]
        test = (
            mcnemar(a == 1, b == 1)
            if task in CLASSIFICATION_TASKS
            else paired_bootstrap(a, b, policy.bootstrap_samples)
        )
    decision = decide(
        metric,
        direction,
        scored["challenger"]["metrics"].get(metric, float("nan")),
        scored["champion"]["metrics"].get(metric, float("nan")) if champion is not None else None,
        test,
        min_gain=policy.min_gain,
        alpha=policy.alpha,
    )
    return {
        "decision": decision,
        "holdout_rows": len(rows),
        "holdout_source_run": challenger.run_id,
        "challenger": {
            "version": str(challenger.version),
            "metrics": scored["challenger"]["metrics"],
        },
        "champion": None
        if champion is None
        else {"version": str(champion.version), "metrics": scored["champion"]["metrics"]},
    }


def _score(name: str, version: ModelVersion, rows: pd.DataFrame, target, meta: dict) -> dict:
    uri = f"models:/{name}/{version.version}"
    own = mlflow.models.get_model_info(uri).metadata["champion"]
    features = FeatureSet.from_dict(own["features"])
    missing = [c for c in features.columns if c not in rows.columns]
    if missing:
        raise ChampionError(
            f"version {version.version} needs columns {missing} "
            "that the challenger's holdout lacks; "
            "the two cannot be compared on the same rows"
        )
    model = mlflow.sklearn.load_model(uri)
    X = model_inputs(rows, features)
    y_pred = model.predict(X)
    proba = (
        model.predict_proba(X)
        if meta["task"] in CLASSIFICATION_TASKS and hasattr(model, "predict_proba")
        else None
    )
    metrics = evaluate(
        meta["task"], target.y, y_pred, proba, getattr(model, "classes_", None), target.pos_label
    )
    return {"metrics": metrics, "row_scores": row_scores(meta["task"], target.y, y_pred)}


def _record_gate(
    settings, name, challenger, champion, decision: Decision, evidence: dict, force: bool
) -> str:
    experiment_id = ensure_experiment(settings, name)
    champion_version = str(champion.version) if champion is not None else "none"
    tags = {
        ROLE_TAG: "gate",
        "model": name,
        "decision": "promote" if decision.promote else "refuse",
        "forced": str(force).lower(),
    }
    run_name = f"gate-v{challenger.version}-vs-v{champion_version}"
    with mlflow.start_run(experiment_id=experiment_id, run_name=run_name, tags=tags) as run:
        mlflow.log_params(
            {
                "challenger_version": challenger.version,
                "champion_version": champion_version,
                "metric": decision.metric,
                "min_gain": decision.min_gain,
                "alpha": decision.alpha,
                "test": decision.test.name if decision.test else "none",
            }
        )
        metrics = {f"challenger_{k}": v for k, v in evidence["challenger"]["metrics"].items()}
        if evidence["champion"]:
            metrics |= {f"champion_{k}": v for k, v in evidence["champion"]["metrics"].items()}
        if decision.test:
            metrics["p_worse"] = decision.test.p_worse
        mlflow.log_metrics({k: float(v) for k, v in metrics.items() if v is not None})
        mlflow.log_dict(decision.to_dict() | evidence, "gate_evidence.json")
    return run.info.run_id


def list_versions(settings: Settings, name: str | None = None) -> list[VersionRow]:
    """Every version of ``name`` (or of every model), newest first, with aliases,
    description, tags and the metrics of the run it came from."""
    mlflow_client = client(settings)
    with translate_errors():
        names = (
            [name]
            if name
            else [m.name for m in mlflow_client.search_registered_models(max_results=1000)]
        )
        rows = []
        for model_name in names:
            model = _registered_model(settings, model_name)
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
