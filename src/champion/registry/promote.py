"""The promotion gate: score challenger and champion on the same holdout, then move
alias ``champion`` or refuse: ``champion promote``.

Every gate decision is an MLflow run (tag ``champion.role`` = ``gate``) in the model's
experiment, with its evidence, and is also written as ``gate.*`` tags on the
challenger. Scoring loads both models and computes metrics, so this is the one
registry module that imports scikit-learn (through ``champion.project``) and SciPy
(through ``champion.registry.gate``).

May import: ``champion.errors``, ``champion.settings``, ``champion.artifacts``,
``champion.project``, ``champion.registry.gate``, ``champion.registry.lock``,
``champion.registry.modelio`` (to load a version only in a trusted format),
``champion.registry.tracking``,
``champion.registry.versions``.
"""

from __future__ import annotations

import json

import mlflow
import pandas as pd
from mlflow.entities.model_registry import ModelVersion

from champion import artifacts
from champion.errors import ConflictError, DataError, PromotionRefused
from champion.project import business as business_values
from champion.project.decision import threshold_of
from champion.project.features import FeatureSet, model_inputs
from champion.project.metrics import evaluate, row_scores
from champion.project.ranking import direction_of
from champion.project.spec import CLASSIFICATION_TASKS, PromotionSpec
from champion.project.targets import encode_target
from champion.registry.gate import Decision, decide, mcnemar, paired_bootstrap
from champion.registry.lock import registry_lock
from champion.registry.modelio import load_version
from champion.registry.tracking import ROLE_TAG, client, ensure_experiment, use_tracking
from champion.registry.versions import (
    CHALLENGER,
    CHAMPION,
    HISTORY_TAG,
    champion_history,
    move_champion,
    registered_model,
    require_alias,
    tag_timestamp,
    version_by_alias,
)
from champion.settings import Settings


def promote(
    settings: Settings, name: str, policy: PromotionSpec | None = None, *, force: bool = False
) -> Decision:
    """Run the gate: score challenger and champion on the challenger's holdout and move
    alias ``champion`` if the challenger passes (or ``force``).

    Returns:
        the decision (promoted).
    Raises:
        NotFoundError: no model or no challenger.
        ConflictError: the challenger is already the champion.
        DataError: the champion needs columns the challenger's holdout lacks.
        ModelUnavailable: a version is not in a format champion loads (skops, trusted
            types in the allow-list); nothing of it was deserialized.
        PromotionRefused: the gate said no; the evidence is on the exception. Recorded.
    """
    policy = policy or PromotionSpec()
    registered_model(settings, name)  # no lock for a model that does not exist
    # Read the challenger and the champion under the lock: the gate compares against
    # the champion that the move below replaces, not one another promote replaced.
    with registry_lock(settings, name, purpose="promote"):
        challenger = require_alias(settings, name, CHALLENGER)
        champion = version_by_alias(settings, name, CHAMPION)
        if champion is not None and str(champion.version) == str(challenger.version):
            raise ConflictError(f"version {challenger.version} of '{name}' is already the champion")
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
                "gate.date": tag_timestamp(),
            }.items():
                mlflow_client.set_model_version_tag(name, challenger.version, key, value)
            if not promoted:
                raise PromotionRefused(
                    f"'{name}' version {challenger.version} was not promoted: {decision.reason}",
                    evidence=decision.to_dict() | evidence,
                )
            reason = f"replaced by version {challenger.version}: {decision.reason}"
            move_champion(settings, name, str(challenger.version), champion, reason)
            history = [*champion_history(settings, name), str(challenger.version)]
            mlflow_client.set_registered_model_tag(name, HISTORY_TAG, json.dumps(history))
        return decision


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
        # Judged by business value, a row's score is its value, not whether it is right.
        test = (
            mcnemar(a == 1, b == 1)
            if task in CLASSIFICATION_TASKS and metric not in business_values.METRICS
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
        rows=len(rows),
        min_rows=policy.min_holdout_rows,
    )
    return {
        "decision": decision,
        "holdout_rows": len(rows),
        "holdout_source_run": challenger.run_id,
        "challenger": {
            "version": str(challenger.version),
            "metrics": scored["challenger"]["metrics"],
            "decision_threshold": scored["challenger"]["decision_threshold"],
        },
        "champion": None
        if champion is None
        else {
            "version": str(champion.version),
            "metrics": scored["champion"]["metrics"],
            "decision_threshold": scored["champion"]["decision_threshold"],
        },
    }


def _score(name: str, version: ModelVersion, rows: pd.DataFrame, target, meta: dict) -> dict:
    uri = f"models:/{name}/{version.version}"
    own = mlflow.models.get_model_info(uri).metadata["champion"]
    features = FeatureSet.from_dict(own["features"])
    missing = [c for c in features.columns if c not in rows.columns]
    if missing:
        raise DataError(
            f"version {version.version} needs columns {missing} "
            "that the challenger's holdout lacks; "
            "the two cannot be compared on the same rows"
        )
    model = load_version(uri)  # refuses a format that could run code when loaded
    X = model_inputs(rows, features)
    y_pred = model.predict(X)
    proba = (
        model.predict_proba(X)
        if meta["task"] in CLASSIFICATION_TASKS and hasattr(model, "predict_proba")
        else None
    )
    # The challenger's business values score both models: one measure for the pair.
    # The labels are the model's own predict, so each version's threshold applies.
    business = meta.get("business")
    metrics = evaluate(
        meta["task"],
        target.y,
        y_pred,
        proba,
        getattr(model, "classes_", None),
        target.pos_label,
        business=business,
    )
    if business and meta.get("primary_metric") in business_values.METRICS:
        scores = business_values.row_values(
            meta["task"], business, target.y, y_pred, target.pos_label
        )
    else:
        scores = row_scores(meta["task"], target.y, y_pred)
    return {"metrics": metrics, "row_scores": scores, "decision_threshold": threshold_of(model)}


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
