"""``champion monitor``: drift and live performance of the served model, in one report.

:func:`build_report` reads a window of the prediction log, compares the champion
version's rows with that version's training profile (:mod:`drift`) and scores the
labelled rows of every version and arm (:mod:`performance`). :func:`log_report`
records it as an MLflow run (``champion.role=monitor``) in the model's experiment.
The verdict is the policy's: drift when the share of drifted features reaches
``monitoring.drift.share_of_drifted_features`` or the domain classifier detects a joint
shift (``multivariate_alarm``); a degradation when the primary metric
is worse than on the holdout by more than ``monitoring.performance.max_drop`` on at
least ``min_labelled`` labelled rows.
"""

from __future__ import annotations

import json
import math
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd

from champion import artifacts
from champion.monitoring.alerts import Measured
from champion.monitoring.drift import DriftReport, compute_drift
from champion.monitoring.log import PredictionLog
from champion.monitoring.performance import LivePerformance, live_performance, usable_rows
from champion.project import business as business_values
from champion.project.categories import canonical_category
from champion.project.features import FeatureSet, model_inputs
from champion.project.spec import MonitoringSpec
from champion.registry.tracking import (
    ROLE_TAG,
    client,
    ensure_experiment,
    translate_errors,
    use_tracking,
)
from champion.registry.versions import require_alias
from champion.settings import Settings

MONITOR_ROLE = "monitor"
MAX_SKIPPED_SHOWN = 20  # reasons kept in the report; the count is always exact


@dataclass
class MonitorReport:
    """What ``champion monitor`` found.

    Attributes:
        version: the champion version the drift is measured for.
        drift: that version's rows against its training profile.
        performance: per version and arm, on the labelled rows.
        primary_metric: the metric the degradation verdict watches.
        degraded: (version, arm, drop) where the primary metric dropped past the policy.
        traffic: rows in the window per (arm, version).
        window: the champion version's rows the drift was measured on (for the plots).
        profile: the reference profile (for the HTML plots).
        skipped: one line per stored row (or label) that could not be used and was
            left out, so one bad row never fails a run.
    """

    model: str
    version: str
    task: str
    drift: DriftReport
    performance: list[LivePerformance]
    primary_metric: str
    max_drop: float
    min_labelled: int
    positive_class: object = None
    business: dict | None = None
    traffic: dict[tuple[str, str], int] = field(default_factory=dict)
    degraded: list[tuple[str, str, float]] = field(default_factory=list)
    multivariate_alarm: bool = True
    created_at: float = field(default_factory=time.time)
    window: pd.DataFrame | None = field(default=None, repr=False)
    profile: dict = field(default_factory=dict, repr=False)
    features: FeatureSet | None = field(default=None, repr=False)
    skipped: list[str] = field(default_factory=list)

    @property
    def drifted(self) -> bool:
        """Enough features drifted, or (by policy) the domain classifier tells live rows
        from training rows."""
        joint = self.drift.multivariate is not None and self.drift.multivariate.drifted
        return self.drift.drifted or (self.multivariate_alarm and joint)

    @property
    def alarm(self) -> bool:
        """Drift or a degradation crossed the policy: ``champion monitor`` exits 1."""
        return self.drifted or bool(self.degraded)

    def as_dict(self) -> dict:
        return {
            "model": self.model,
            "version": self.version,
            "task": self.task,
            "created_at": self.created_at,
            "alarm": self.alarm,
            "drifted": self.drifted,
            "drift": self.drift.as_dict(),
            "performance": [p.as_dict() for p in self.performance],
            "primary_metric": self.primary_metric,
            "max_drop": self.max_drop,
            "degraded": [{"version": v, "arm": a, "drop": d} for v, a, d in self.degraded],
            "skipped_rows": len(self.skipped),
            "skipped": self.skipped[:MAX_SKIPPED_SHOWN],
        }


@dataclass(frozen=True)
class Reference:
    """What a version is compared with: its metadata, training profile and holdout."""

    meta: dict
    profile: dict
    features: FeatureSet
    holdout_inputs: pd.DataFrame


def load_reference(settings: Settings, name: str, version: str, run_id: str) -> Reference:
    """Download version ``version``'s metadata, profile and holdout (once per version:
    they never change, so a caller that reports repeatedly keeps them)."""
    with use_tracking(settings), translate_errors():
        meta = mlflow.models.get_model_info(f"models:/{name}/{version}").metadata["champion"]
        profile = artifacts.load_profile(run_id)
        holdout_rows = artifacts.load_holdout(run_id)
    features = FeatureSet.from_dict(meta["features"])
    return Reference(meta, profile, features, model_inputs(holdout_rows, features))


def build_report(
    settings: Settings,
    name: str,
    policy: MonitoringSpec,
    references: dict[str, Reference] | None = None,
) -> MonitorReport:
    """Drift and performance of model ``name`` over the policy's window of the log.

    Args:
        references: version → its :class:`Reference`, filled as versions are met
            (the server keeps one between runs); None: download afresh.

    Raises:
        NotFoundError: no such model or no champion alias.
    """
    champion = require_alias(settings, name, "champion")
    version = str(champion.version)
    references = {} if references is None else references
    if version not in references:
        references[version] = load_reference(settings, name, version, champion.run_id)
    reference = references[version]
    meta, profile, features = reference.meta, reference.profile, reference.features
    # Drift is the champion's answered rows: the window's rows are counted among them
    # alone (a shadow or canary sharing the traffic must not shrink it). Live
    # performance is per version and arm, over all of the log's recent rows.
    everyone, champions = _windows(settings, name, policy, version)
    window, skipped = usable_rows(everyone, meta["task"])
    mine, skipped_mine = usable_rows(champions, meta["task"])
    # An empty window is a verdict too ("no rows"), never an error or a NaN.
    drift = compute_drift(
        profile,
        {c: _column(mine, c, features) for c in features.columns},
        features,
        policy.drift,
        predictions=_predictions(mine, meta["task"]),
        reference_rows=reference.holdout_inputs,
    )
    holdout = _holdout_metrics(settings, name, set(window["version"]) | {version})
    performance = live_performance(
        window,
        meta["task"],
        positive_class=meta.get("positive_class"),
        tags=meta.get("tags"),
        holdout=holdout,
        min_labelled=policy.performance.min_labelled,
        business=meta.get("business"),
    )
    primary = meta.get("primary_metric") or "f1"
    # A total business value grows with the rows: its drop is judged per row.
    judged = business_values.PER_ROW if primary in business_values.SIZE_DEPENDENT else primary
    limits = policy.performance
    degraded = [
        (p.version, p.arm, p.drops[judged])
        for p in performance
        if judged in p.drops
        and p.labelled >= limits.min_labelled
        and p.drops[judged] > limits.max_drop
    ]
    return MonitorReport(
        model=name,
        version=version,
        task=meta["task"],
        drift=drift,
        performance=performance,
        primary_metric=primary,
        max_drop=limits.max_drop,
        min_labelled=limits.min_labelled,
        positive_class=meta.get("positive_class"),
        business=meta.get("business"),
        traffic={
            (str(a), str(v)): int(n)
            for (a, v), n in window.groupby(["arm", "version"]).size().items()
        },
        degraded=degraded,
        multivariate_alarm=policy.drift.multivariate_alarm,
        window=mine,
        profile=profile,
        features=features,
        skipped=list(dict.fromkeys([*skipped, *skipped_mine])),
    )


def signals_of(report: MonitorReport) -> dict[str, float | None]:
    """The alert signals a report measures (see :mod:`champion.monitoring.alerts`), each
    a :class:`~champion.monitoring.alerts.Measured` with its sample (rows, or labelled
    rows for a metric drop); None where the window cannot tell (no rows, a drift
    verdict of "not enough data"). ``error_rate`` is the server's to measure: only
    answered requests reach the log."""
    window = report.window
    rows = 0 if window is None else len(window)
    drift = report.drift
    judged = drift.enough_data or (
        drift.multivariate is not None and drift.multivariate.enough_data
        and drift.multivariate.test != "none"
    )  # fmt: skip
    signals: dict[str, float | None] = {
        "dataset_drift": Measured(float(report.drifted), rows) if judged else None,
        "drift_share": Measured(drift.share_drifted, rows) if drift.enough_data else None,
        "p99_latency_ms": Measured(float(np.percentile(window["latency_ms"], 99)), rows)
        if rows
        else None,
        "prediction_rate": None,
    }
    if rows:
        rate = _prediction_rate(window, report.task, report.positive_class)
        signals["prediction_rate"] = None if rate is None else Measured(rate, rows)
    for perf in report.performance:
        mine = perf.version == report.version and perf.arm == "champion"
        if mine and perf.labelled >= report.min_labelled:
            signals |= {
                f"metric_drop:{m}": Measured(d, perf.labelled) for m, d in perf.drops.items()
            }
    return signals


def _prediction_rate(window: pd.DataFrame, task: str, positive_class) -> float | None:
    """Share of rows predicted positive (binary) or with any tag (multilabel)."""
    outputs = list(window["output"])
    if task == "multilabel":
        return float(np.mean([bool(o.get("predicted_tags")) for o in outputs]))
    if task == "binary" and positive_class is not None:
        positive = canonical_category(positive_class)
        return float(np.mean([canonical_category(o.get("label")) == positive for o in outputs]))
    return None


def log_report(settings: Settings, report: MonitorReport, html: str) -> str:
    """Record ``report`` as an MLflow run in the model's experiment; returns its id."""
    experiment_id = ensure_experiment(settings, report.model)
    with use_tracking(settings), translate_errors(), tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "monitor_report.html").write_text(html, encoding="utf-8")
        (folder / "monitor_report.json").write_text(json.dumps(report.as_dict(), indent=1))
        run = client(settings).create_run(
            experiment_id,
            run_name=f"monitor-v{report.version}",
            tags={
                ROLE_TAG: MONITOR_ROLE,
                "champion.version": report.version,
                "monitor.alarm": str(report.alarm).lower(),
            },
        )
        metrics = {
            "drift_share": report.drift.share_drifted,
            "rows_current": float(report.drift.rows_current),
        }
        for feature in report.drift.features:
            metrics[f"drift_score.{_key(feature.feature)}"] = feature.score
        for perf in report.performance:
            for metric, value in perf.metrics.items():
                metrics[f"live.v{perf.version}.{perf.arm}.{metric}"] = value
        tracking = client(settings)
        for key, value in metrics.items():
            if value is not None and np.isfinite(value):
                tracking.log_metric(run.info.run_id, key, float(value))
        tracking.log_artifacts(run.info.run_id, str(folder))
        tracking.set_terminated(run.info.run_id)
    return run.info.run_id


def _windows(
    settings: Settings, name: str, policy: MonitoringSpec, version: str
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The policy's window of ``name``'s log (its last rows within its hours), twice
    from one open log: over every version and arm, and over ``version``'s champion
    arm alone."""
    window = policy.drift.window
    since = time.time() - window.hours * 3600 if window.hours else None
    log = PredictionLog(settings.prediction_log)
    try:
        return (
            log.window(name, since=since, last=window.rows),
            log.window(name, version=version, arm="champion", since=since, last=window.rows),
        )
    finally:
        log.close()


def _column(rows: pd.DataFrame, column: str, features: FeatureSet) -> np.ndarray:
    if column not in rows:
        return (
            np.full(len(rows), np.nan)
            if column in features.numeric
            else np.full(len(rows), None, dtype=object)
        )
    if column in features.numeric:
        return pd.to_numeric(rows[column], errors="coerce").to_numpy(dtype=float)
    values = rows[column].astype(object)
    # A stored value that is no scalar (a list, an object) is no category: missing.
    return np.array([v if _scalar(v) else None for v in values], dtype=object)


def _scalar(value) -> bool:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return False
    return isinstance(value, str | int | float | bool | np.generic)


def _predictions(rows: pd.DataFrame, task: str) -> np.ndarray | None:
    key = {"regression": "value", "multilabel": "predicted_tags"}.get(task, "label")
    values = [output.get(key) for output in rows["output"]]
    if task == "regression":
        return np.asarray(values, dtype=float)  # usable_rows made them numbers or NaN
    if task == "multilabel":
        return np.asarray(values, dtype=object)
    return np.asarray([v if _scalar(v) else None for v in values], dtype=object)


def _holdout_metrics(settings: Settings, name: str, versions: set) -> dict:
    """version → the holdout metrics its training run logged."""
    tracking = client(settings)
    found = {}
    with translate_errors():
        for version in sorted(versions):
            model_version = tracking.get_model_version(name, str(version))
            if model_version.run_id:
                found[str(version)] = dict(tracking.get_run(model_version.run_id).data.metrics)
    return found


def _key(name: str) -> str:
    """An MLflow metric key from a column name (letters, digits, _ - . / and spaces)."""
    return "".join(ch if ch.isalnum() or ch in "_-./ " else "_" for ch in name)
