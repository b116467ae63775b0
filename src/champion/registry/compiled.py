"""A version's ONNX graph, compiled once when it is registered, and read back by servers.

:func:`compile_for_registration` loads a candidate run's model (after the trust check
of :mod:`champion.registry.trust`), compiles it with :mod:`champion.onnx.compile`,
verifies it on the run's whole holdout, and logs the graph and its plan to the run
(``onnx/<digest>/``, :mod:`champion.onnx.artifact`). What it found becomes the
version's tags, written when the version is created:

===============================  ========================================================
tag                              value
===============================  ========================================================
``champion.onnx``                ``compiled`` or ``not_compilable``
``champion.onnx.path``           the run-relative folder of ``model.onnx`` and
                                 ``plan.json``
``champion.onnx.sha256``         ``model.onnx``'s SHA-256 digest
``champion.onnx.plan_sha256``    ``plan.json``'s SHA-256 digest
``champion.onnx.rows_checked``   rows the graph and the pipeline answered alike on
``champion.onnx.max_proba_diff`` the largest probability difference (classifiers)
``champion.onnx.max_value_diff`` the largest value difference (regression)
``champion.onnx.reason``         why it does not compile (served by scikit-learn)
===============================  ========================================================

:func:`load_compiled` is the server's half: download the two files and check both
digests, never importing skl2onnx or onnx. A version registered before compiling at
registration has none of these tags (:attr:`OnnxRecord.status` is None) and is compiled
when a server loads it.

Imports: MLflow at the top; the model loader, the project and the compiler only inside
:func:`compile_for_registration` (``champion models`` imports the registry and must not
pay for scikit-learn).
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import mlflow
from mlflow.tracking import MlflowClient

from champion import artifacts
from champion.errors import ModelUnavailable, NotFoundError

if TYPE_CHECKING:
    from champion.onnx.runtime import CompiledModel

log = logging.getLogger("champion.registry")

TAG = "champion.onnx"
PATH_TAG = "champion.onnx.path"
MODEL_DIGEST_TAG = "champion.onnx.sha256"
PLAN_DIGEST_TAG = "champion.onnx.plan_sha256"
ROWS_TAG = "champion.onnx.rows_checked"
PROBA_DIFF_TAG = "champion.onnx.max_proba_diff"
VALUE_DIFF_TAG = "champion.onnx.max_value_diff"
REASON_TAG = "champion.onnx.reason"
COMPILED, NOT_COMPILABLE = "compiled", "not_compilable"
ARTIFACT_FOLDER = "onnx"
REASON_LIMIT = 500  # a tag value is short; the reason's start says what failed


@dataclass(frozen=True)
class OnnxRecord:
    """What a version's tags say about its compiled graph (see the module's table).

    ``status`` is ``compiled``, ``not_compilable``, or None for a version registered
    before graphs were compiled at registration.
    """

    status: str | None = None
    path: str | None = None
    model_sha256: str | None = None
    plan_sha256: str | None = None
    rows_checked: int | None = None
    max_proba_diff: float | None = None
    max_value_diff: float | None = None
    reason: str | None = None

    @classmethod
    def from_tags(cls, tags: dict[str, str]) -> OnnxRecord:
        """The record in a version's ``tags``; malformed numbers read as None."""
        return cls(
            status=tags.get(TAG),
            path=tags.get(PATH_TAG),
            model_sha256=tags.get(MODEL_DIGEST_TAG),
            plan_sha256=tags.get(PLAN_DIGEST_TAG),
            rows_checked=_number(tags.get(ROWS_TAG), int),
            max_proba_diff=_number(tags.get(PROBA_DIFF_TAG), float),
            max_value_diff=_number(tags.get(VALUE_DIFF_TAG), float),
            reason=tags.get(REASON_TAG),
        )

    def tags(self) -> dict[str, str]:
        """The record as version tags (fields that are None are left out)."""
        values = {
            TAG: self.status,
            PATH_TAG: self.path,
            MODEL_DIGEST_TAG: self.model_sha256,
            PLAN_DIGEST_TAG: self.plan_sha256,
            ROWS_TAG: self.rows_checked,
            PROBA_DIFF_TAG: self.max_proba_diff,
            VALUE_DIFF_TAG: self.max_value_diff,
            REASON_TAG: self.reason,
        }
        return {k: _text(v) for k, v in values.items() if v is not None}

    def summary(self) -> str:
        """One line for people: ``compiled, verified at registration on ...``, ``not
        compilable (served by scikit-learn): <reason>``, or ``not compiled at
        registration``."""
        if self.status == COMPILED:
            return f"compiled, {self.evidence()}"
        if self.status == NOT_COMPILABLE:
            return f"not compilable (served by scikit-learn): {self.reason}"
        return "not compiled at registration"

    def evidence(self) -> str:
        """What was verified, in words: ``verified at registration on 121 rows (largest
        probability difference 2.2e-16)``."""
        text = f"verified at registration on {self.rows_checked} rows"
        if self.max_proba_diff is not None:
            return text + f" (largest probability difference {self.max_proba_diff:.2g})"
        if self.max_value_diff is not None:
            return text + f" (largest value difference {self.max_value_diff:.2g})"
        return text


def compile_for_registration(client: MlflowClient, run_id: str, model_uri: str) -> OnnxRecord:
    """Compile the model ``model_uri`` of run ``run_id`` and log the graph to the run.

    Must run inside :func:`~champion.registry.tracking.use_tracking`. Verified on the
    run's whole holdout (``holdout.csv``), plus the edge rows the compiler adds.

    Returns:
        the record to tag the version with: ``compiled`` with the files' folder, digests
        and evidence, or ``not_compilable`` with the reason (the model has no converter,
        answers differently, is not champion's, or fails the trust check: a server
        refuses that one anyway, with its own message).
    Raises:
        TrackingError: the store cannot be reached or refuses the artifact.
    """
    from champion.onnx import artifact
    from champion.onnx.compile import NotCompilable, compile_verified
    from champion.project.decision import without_threshold
    from champion.project.features import FeatureSet, model_inputs
    from champion.registry.modelio import download_model, load_pipeline

    with tempfile.TemporaryDirectory() as tmp:
        try:
            local = download_model(model_uri, tmp)
            meta = (mlflow.models.Model.load(local).metadata or {}).get("champion")
            if meta is None:
                return _refused("the model has no champion metadata (not trained by champion)")
            pipeline = load_pipeline(local, model_uri)
            holdout = artifacts.load_holdout(run_id)
        except (ModelUnavailable, NotFoundError) as e:
            return _refused(str(e))
        features = FeatureSet.from_dict(meta["features"])
        try:
            # The graph gives probabilities; a binary model's threshold step is applied
            # to them by the server (champion.project.decision.labels_at), not compiled.
            compiled, verification = compile_verified(
                without_threshold(pipeline), features, meta["task"], model_inputs(holdout, features)
            )
        except NotCompilable as e:
            return _refused(str(e))
        folder = Path(tmp) / "compiled"
        digests = artifact.save(compiled, folder)
        path = f"{ARTIFACT_FOLDER}/{digests.model[:16]}"
        client.log_artifacts(run_id, str(folder), path)
    return OnnxRecord(
        status=COMPILED,
        path=path,
        model_sha256=digests.model,
        plan_sha256=digests.plan,
        rows_checked=verification.rows,
        max_proba_diff=verification.max_proba_diff,
        max_value_diff=verification.max_value_diff,
    )


def load_compiled(record: OnnxRecord, run_id: str) -> CompiledModel:
    """The graph ``record`` names, downloaded from run ``run_id`` and checked against
    both digests. Must run inside :func:`~champion.registry.tracking.use_tracking`.

    Raises:
        champion.onnx.artifact.BadArtifact: a file is missing or its digest differs
            (do not trust it: compile again).
        NotFoundError, TrackingError: the download failed.
    """
    from champion.onnx import artifact

    if record.status != COMPILED or not (record.path and record.model_sha256):
        raise artifact.BadArtifact(f"the version's tags name no compiled graph: {record}")
    digests = artifact.Digests(model=record.model_sha256, plan=record.plan_sha256 or "")
    with tempfile.TemporaryDirectory() as tmp:
        local = mlflow.artifacts.download_artifacts(f"runs:/{run_id}/{record.path}", dst_path=tmp)
        return artifact.load(Path(local), digests)


def _refused(reason: str) -> OnnxRecord:
    reason = " ".join(reason.split())
    if len(reason) > REASON_LIMIT:
        reason = reason[: REASON_LIMIT - 1] + "…"
    log.info("not compiled to ONNX (served by scikit-learn): %s", reason)
    return OnnxRecord(status=NOT_COMPILABLE, reason=reason)


def _number(text: str | None, kind):
    try:
        return None if text is None else kind(text)
    except ValueError:
        return None


def _text(value) -> str:
    return f"{value:.6g}" if isinstance(value, float) else str(value)
