"""Fit every candidate of a project, one MLflow run each.

:func:`train_project` is the library call behind ``champion train``. Each candidate's
run logs its parameters, holdout metrics, fit time, the dataset as a run input, the
model (skops, with signature and input example), plots, feature importance, SHAP
values and the reference profile of the training data. A candidate with a search
space runs an Optuna study first (:mod:`champion.training.search`), one nested run per
trial.

Candidates run side by side in worker processes (:mod:`champion.training.parallel`),
``jobs`` at a time: one per core by default, ``training.jobs`` in the project file or
``champion train --jobs N``; ``jobs: 1`` runs them one after the other in this process.
Each worker fits with ``cores ÷ jobs`` threads. What explains a model is bounded by a
sample that does not grow with the data (``SHAP_ROWS``, ``IMPORTANCE_ROWS``) and SHAP
also by a share of the fit's own time (see :func:`_write_shap`).
"""

from __future__ import annotations

import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
from joblib import parallel_config
from mlflow.exceptions import MlflowException
from sklearn.pipeline import Pipeline
from sklearn.utils._param_validation import InvalidParameterError
from threadpoolctl import threadpool_limits

import champion
from champion import artifacts
from champion.errors import SpecError
from champion.project import business as business_values
from champion.project.candidates import default_candidates, make_estimator
from champion.project.categories import canonical_category
from champion.project.data import Table, load_table
from champion.project.decision import threshold_of, without_threshold
from champion.project.features import FeatureSet, build_preprocessor, model_inputs, resolve_features
from champion.project.metrics import DEFAULT_PRIMARY, METRICS_BY_TASK, evaluate
from champion.project.profile import build_profile
from champion.project.ranking import direction_of, rank_key
from champion.project.spec import CLASSIFICATION_TASKS, CandidateSpec, Project
from champion.project.splits import Split, make_split
from champion.project.targets import Target, prepare_target
from champion.registry.liveness import close_dead_runs, heartbeat, liveness_tags
from champion.registry.modelio import log_pipeline
from champion.registry.tracking import (
    PROJECT_TAG,
    ROLE_TAG,
    client,
    ensure_experiment,
    quiet_mlflow,
    use_tracking,
)
from champion.settings import Settings
from champion.training import explain, parallel, plots, threshold
from champion.training.progress import (
    CandidateProgress,
    Progress,
    ProgressEvent,
    ignore,
    steps_of,
)
from champion.training.search import StudyStorage, check_storage, search, study_storage

SHAP_ROWS = 50
IMPORTANCE_ROWS = 1_000  # holdout rows shuffled by permutation importance, at most
SHAP_BUDGET_SHARE = 0.5  # of the fit's time, for SHAP values (never more than the fit)
SHAP_MIN_BUDGET_S = 1.0  # SHAP's budget when the fit was quicker than twice this
DEFAULT_EXAMPLES = 3
_DATASET_ATTEMPTS = 3


@dataclass(frozen=True)
class CandidateResult:
    """One trained candidate: its run, its holdout metrics and its logged model."""

    name: str
    run_id: str
    metrics: dict[str, float]
    model_uri: str
    params: dict = field(default_factory=dict)
    # The fitted pipeline (from a worker, pickled back: the same object as logged).
    pipeline: Pipeline | None = field(default=None, repr=False, compare=False)
    started: int = 0  # the run's start time (ms): what breaks a tie in the ranking


@dataclass(frozen=True)
class TrainingReport:
    """Every candidate of one ``train`` call, best first by the primary metric."""

    experiment_id: str
    metric: str
    direction: str
    candidates: list[CandidateResult]

    @property
    def best(self) -> CandidateResult:
        return self.candidates[0]


@dataclass
class _Context:
    """What every candidate of one training call shares."""

    project: Project
    table: Table
    features: FeatureSet
    inputs: pd.DataFrame
    target: Target
    split: Split
    metric: str
    direction: str
    search_storage: StudyStorage | None = None  # set by train_project
    dataset_inputs: list | None = None  # MLflow's description of the data, made once

    @property
    def spec(self):
        return self.project.spec

    def part(self, positions):
        return self.inputs.iloc[positions], self.target.y[positions]

    def fold_metrics(
        self, candidate: CandidateSpec, params: dict, fit_rows, score_rows
    ) -> dict[str, float]:
        """Fit ``candidate`` with ``params`` on ``fit_rows`` and score it on
        ``score_rows`` (positions within the training rows): one CV fold of a search."""
        X_train, y_train = self.part(self.split.train)
        pipeline = build_pipeline(self, candidate, params)
        _fit(pipeline, X_train.iloc[fit_rows], y_train[fit_rows], candidate)
        predicted = _predict(self, pipeline, X_train.iloc[score_rows])
        return _evaluate(self, pipeline, y_train[score_rows], predicted)


def primary_metric(project: Project) -> tuple[str, str]:
    """The primary metric and its direction, checked against the task's metrics."""
    spec = project.spec
    metric = spec.metric or DEFAULT_PRIMARY[spec.task]
    allowed = METRICS_BY_TASK[spec.task] + (business_values.METRICS if spec.business else ())
    if metric not in allowed:
        raise SpecError(
            f"metric: '{metric}' is not a {spec.task} metric; choose one of {', '.join(allowed)}",
            field="metric",
        )
    return metric, spec.direction or direction_of(metric)


def prepare(project: Project) -> _Context:
    """Load the data, resolve features and target, cut the holdout. No tracking yet."""
    spec = project.spec
    metric, direction = primary_metric(project)
    table = load_table(project)
    target = prepare_target(table.frame, spec)
    frame = table.frame[target.keep].reset_index(drop=True)
    features = resolve_features(frame, spec.features, spec.target_columns)
    inputs = model_inputs(frame, features)
    labels = None if spec.task in ("regression", "multilabel") else pd.Series(target.y)
    split = make_split(frame, labels, spec.split, spec.task, spec.seed)
    build_preprocessor(features, spec.preprocessing)  # its errors now, before any run
    if spec.business and spec.task == "multiclass":
        business_values.check_classes(spec.business, pd.unique(target.y))
    _check_examples(spec.examples, features)
    table = Table(frame, table.source, table.files, table.filter, table.digest)
    return _Context(project, table, features, inputs, target, split, metric, direction)


def candidates_of(project: Project, n_rows: int) -> list[CandidateSpec]:
    """The project's candidates, or the task's defaults; each checked to construct."""
    spec = project.spec
    chosen = spec.candidates or default_candidates(spec.task, n_rows)
    for candidate in chosen:
        make_estimator(candidate, spec.task, spec.seed)
    return chosen


def train_project(
    project: Project,
    settings: Settings,
    *,
    only: list[str] | None = None,
    progress: Progress | None = None,
    jobs: int | None = None,
) -> TrainingReport:
    """Fit every candidate (or those named in ``only``) and log one run each.

    Args:
        jobs: candidates trained at once, in worker processes; default
            ``training.jobs`` of the project file, else one per core. 1 trains them
            one after the other in this process. As with any multiprocessing code, a
            script that calls this with workers keeps its top level under
            ``if __name__ == "__main__":`` (a worker imports the main module).
        progress: called with each :class:`~champion.training.progress.ProgressEvent`
            (in this process, also for candidates trained by workers).

    Raises:
        SpecError, DataError: before any run starts, for anything in the project file
            or the data that cannot work.
    """
    parallel.warm_up_for(project, only=only, jobs=jobs)  # overlaps with reading the data
    jobs = jobs or project.spec.training.jobs
    context = prepare(project)
    candidates = candidates_of(project, len(context.inputs))
    if only:
        unknown = sorted(set(only) - {c.name for c in candidates})
        if unknown:
            raise SpecError(
                f"--only: no candidate named {unknown}; candidates are: "
                f"{', '.join(c.name for c in candidates)}",
                field="only",
            )
        candidates = [c for c in candidates if c.name in only]
    context.search_storage = study_storage(project.spec, settings)
    if context.search_storage and any(c.search for c in candidates):
        check_storage(context.search_storage)  # before anything is written to the store
    progress = progress or ignore
    jobs = min(jobs or parallel.default_jobs(len(candidates)), len(candidates))
    for candidate in candidates:
        progress(ProgressEvent(candidate.name, "queued", 0, steps_of(_trials(candidate))))
    with use_tracking(settings):
        experiment_id = ensure_experiment(settings, project.spec.name)
        # Runs an earlier, killed train left RUNNING are closed before new ones start.
        close_dead_runs(settings, experiment_id, by="train")
    context.dataset_inputs = dataset_inputs(context)  # once, not in every worker
    threads = max(1, parallel.cores() // jobs)
    shared = (context, experiment_id, settings, threads)
    results = parallel.run(train_candidate, shared, candidates, jobs=jobs, progress=progress)
    # Ties go to the newer run, as ``champion compare`` ranks them (registry/compare.py).
    ranked = sorted(
        results,
        key=lambda r: (*rank_key(r.metrics.get(context.metric), context.direction), -r.started),
    )
    return TrainingReport(experiment_id, context.metric, context.direction, ranked)


def train_candidate(shared: tuple, candidate: CandidateSpec, emit: Progress) -> CandidateResult:
    """Train one candidate and log its run: the unit of work of :func:`train_project`,
    in this process or a worker. ``shared`` is ``(context, experiment_id, settings,
    threads)``; ``threads`` caps the fit's threads (joblib's for
    forests, OpenMP's and BLAS's for the rest), so parallel workers share the cores
    instead of fighting over them."""
    context, experiment_id, settings, threads = shared
    quiet_mlflow()  # a worker process starts with MLflow's INFO chatter on
    reporter = CandidateProgress(candidate.name, _trials(candidate), emit)
    with (
        use_tracking(settings),
        parallel_config(n_jobs=threads),
        threadpool_limits(limits=threads),
    ):
        result = _train_candidate(context, candidate, experiment_id, reporter, client(settings))
    reporter.finish()
    return result


def _trials(candidate: CandidateSpec) -> int:
    return candidate.search.trials if candidate.search is not None else 0


def build_pipeline(
    context: _Context, candidate: CandidateSpec, params: dict | None = None
) -> Pipeline:
    """Preprocessing and estimator in one Pipeline: the whole model, nothing outside."""
    spec = context.spec
    return Pipeline(
        [
            ("preprocess", build_preprocessor(context.features, spec.preprocessing)),
            ("model", make_estimator(candidate, spec.task, spec.seed, params)),
        ]
    )


def _train_candidate(
    context: _Context,
    candidate: CandidateSpec,
    experiment_id: str,
    progress: CandidateProgress,
    mlflow_client,
) -> CandidateResult:
    spec = context.spec
    tags = {
        ROLE_TAG: "candidate",
        PROJECT_TAG: spec.name,
        "champion.candidate": candidate.name,
        "champion.task": spec.task,
        "champion.primary_metric": context.metric,
        "champion.direction": context.direction,
        "champion.data_digest": context.table.digest,
        "mlflow.note.content": spec.description,  # MLflow's run description
    }
    # Who runs it, and a heartbeat while it runs: if this process dies, the next
    # command can tell the run is dead and mark it FAILED (registry/liveness.py).
    tags |= liveness_tags()
    with (
        mlflow.start_run(experiment_id=experiment_id, run_name=candidate.name, tags=tags) as run,
        heartbeat(mlflow_client, run.info.run_id),
    ):
        params = dict(candidate.params)
        if candidate.search is not None:
            params |= search(context, candidate, experiment_id, progress)
        pipeline = build_pipeline(context, candidate, params)
        X_train, y_train = context.part(context.split.train)
        X_test, y_test = context.part(context.split.test)
        progress.begin("fit")
        started = time.perf_counter()
        pipeline = _fit_decided(context, pipeline, X_train, y_train, candidate)
        fit_time = time.perf_counter() - started
        progress.begin("evaluate")
        predicted = _predict(context, pipeline, X_test)  # once, for metrics and plots
        metrics = _evaluate(context, pipeline, y_test, predicted)
        mlflow.log_params(_params_to_log(context, candidate, pipeline))
        mlflow.log_metrics(metrics | {"fit_time_s": fit_time})
        _log_datasets(context, run.info.run_id, mlflow_client)
        progress.begin("explain")
        with tempfile.TemporaryDirectory() as tmp:
            _write_artifacts(
                context, pipeline, X_train, X_test, y_test, predicted, Path(tmp), fit_time
            )
            progress.begin("log")
            mlflow.log_artifacts(tmp)
        model_uri = log_pipeline(pipeline, X_train, _model_metadata(context, candidate, pipeline))
        mlflow.set_tag("champion.model_uri", model_uri)
    return CandidateResult(
        candidate.name, run.info.run_id, metrics, model_uri, params, pipeline, run.info.start_time
    )


def _fit(pipeline: Pipeline, X, y, candidate: CandidateSpec) -> None:
    try:
        pipeline.fit(X, y)
    except InvalidParameterError as e:
        raise SpecError(
            f"candidates.{candidate.name}.params: {e}", field=f"candidates.{candidate.name}"
        ) from None


def _fit_decided(context: _Context, pipeline: Pipeline, X, y, candidate: CandidateSpec):
    """Fit; a binary model also gets its decision threshold (tuned on CV folds of the
    training rows: :mod:`champion.training.threshold`), logged as the run's param
    ``decision_threshold``. Returns the fitted pipeline."""
    spec = context.spec
    if spec.task != "binary":
        _fit(pipeline, X, y, candidate)
        return pipeline
    try:
        fitted, decision = threshold.fit_decided(
            pipeline,
            X,
            y,
            context.table.frame.iloc[context.split.train],
            spec=spec,
            metric=context.metric,
            pos_label=context.target.pos_label,
        )
    except InvalidParameterError as e:
        raise SpecError(
            f"candidates.{candidate.name}.params: {e}", field=f"candidates.{candidate.name}"
        ) from None
    mlflow.log_params(
        {
            "decision_threshold": "none" if decision.threshold is None else decision.threshold,
            "decision_threshold.objective": decision.objective,
        }
    )
    if decision.cv_score is not None:
        mlflow.log_metric(f"cv_{decision.objective}_at_threshold", decision.cv_score)
    if decision.note:
        mlflow.set_tag("champion.threshold", decision.note)
    return fitted


@dataclass(frozen=True)
class _Predicted:
    """A pipeline's answers for some rows: labels or values, and class probabilities
    (classification with ``predict_proba``; else None)."""

    labels: np.ndarray
    proba: np.ndarray | None


def _predict(context: _Context, pipeline: Pipeline, X) -> _Predicted:
    proba = None
    if context.spec.task in CLASSIFICATION_TASKS and hasattr(pipeline, "predict_proba"):
        proba = pipeline.predict_proba(X)
    return _Predicted(pipeline.predict(X), proba)


def _evaluate(context: _Context, pipeline: Pipeline, y, predicted: _Predicted) -> dict[str, float]:
    classes = getattr(pipeline, "classes_", None)
    return evaluate(
        context.spec.task,
        y,
        predicted.labels,
        predicted.proba,
        classes,
        context.target.pos_label,
        business=context.spec.business,
    )


def _params_to_log(context: _Context, candidate: CandidateSpec, pipeline: Pipeline) -> dict:
    spec = context.spec
    estimator = without_threshold(pipeline)[-1]  # the threshold is a param of its own
    model_params = estimator.get_params(deep=False)
    params = {f"model.{k}": _short(v) for k, v in model_params.items()}
    params |= {
        "candidate": candidate.name,
        "estimator": f"{type(estimator).__module__}.{type(estimator).__name__}",
        "task": spec.task,
        "target": ",".join(spec.target_columns),
        "split": context.split.description,
        "seed": spec.seed,
        "rows.train": len(context.split.train),
        "rows.holdout": len(context.split.test),
        "data.filter": spec.data.filter or "",
        "features.numeric": ",".join(context.features.numeric),
        "features.categorical": ",".join(context.features.categorical),
        "features.ordinal": ",".join(context.features.ordinal),
        "features.text": ",".join(context.features.text),
    }
    for key, value in _flatten(spec.preprocessing.model_dump(), "preprocessing").items():
        params[key] = value
    if context.target.pos_label is not None:
        params["positive_class"] = context.target.pos_label
    return {k: _short(v) for k, v in params.items()}


def _flatten(value, prefix: str) -> dict:
    if isinstance(value, dict):
        out = {}
        for key, inner in value.items():
            out |= _flatten(inner, f"{prefix}.{key}")
        return out
    return {prefix: value}


def _short(value) -> str:
    text = str(value)
    return text if len(text) <= 500 else text[:497] + "..."


def _log_datasets(context: _Context, run_id: str, mlflow_client) -> None:
    """The data as run inputs: the training rows and the holdout, with source and digest.

    The inputs are described once per training call (MLflow infers a schema and hashes
    the rows: seconds on a large table) and the same description is logged by each run.
    """
    if context.dataset_inputs is None:
        context.dataset_inputs = dataset_inputs(context)
    for attempt in range(_DATASET_ATTEMPTS):
        try:
            mlflow_client.log_inputs(run_id, datasets=context.dataset_inputs)
            return
        except MlflowException:
            # Workers that start together both find the dataset missing from the
            # experiment and both add it; the store refuses the second (a unique key).
            # Tried again, the dataset is there and the run is only linked to it.
            if attempt == _DATASET_ATTEMPTS - 1:
                raise
            time.sleep(0.2 * (attempt + 1))


def dataset_inputs(context: _Context) -> list:
    """The MLflow dataset inputs of a run: training rows and holdout, each tagged with
    its role (MLflow's ``mlflow.data.context``), the data filter and the split."""
    from mlflow.entities import DatasetInput, InputTag
    from mlflow.utils.mlflow_tags import MLFLOW_DATASET_CONTEXT

    spec = context.spec
    frame = context.table.frame
    targets = spec.target_columns[0] if len(spec.target_columns) == 1 else None
    tags = {"filter": spec.data.filter or "", "split": context.split.description}
    inputs = []
    with warnings.catch_warnings():
        # A path or glob reads as more than one kind of source to MLflow (it is local),
        # and its schema hint about integer columns concerns the raw file, not the model.
        warnings.simplefilter("ignore", UserWarning)
        for rows, role in ((context.split.train, "training"), (context.split.test, "evaluation")):
            dataset = mlflow.data.from_pandas(
                frame.iloc[rows],
                source=context.table.source,
                name=f"{spec.name}-{role}",
                targets=targets,
            )
            input_tags = [InputTag(key=k, value=v) for k, v in tags.items()]
            input_tags.append(InputTag(key=MLFLOW_DATASET_CONTEXT, value=role))
            # What mlflow.log_input does with a dataset, done here once for every run.
            inputs.append(DatasetInput(dataset=dataset._to_mlflow_entity(), tags=input_tags))
    return inputs


def _write_artifacts(
    context: _Context,
    pipeline: Pipeline,
    X_train,
    X_test,
    y_test,
    predicted: _Predicted,
    folder: Path,
    fit_time: float,
) -> None:
    """Write a run's artifacts into ``folder``; ``predicted`` is the pipeline's answer
    for ``X_test`` (made once, for the metrics too)."""
    spec = context.spec
    task = spec.task
    (folder / artifacts.PLOTS).mkdir()
    y_pred = predicted.labels
    if task in CLASSIFICATION_TASKS:
        labels = list(pipeline.classes_)
        _save(
            plots.confusion_matrix(y_test, y_pred, labels),
            folder / artifacts.PLOTS / "confusion_matrix.png",
        )
        if predicted.proba is not None:
            figure = plots.roc_curve(y_test, predicted.proba, labels, context.target.pos_label)
            _save(figure, folder / artifacts.PLOTS / "roc_curve.png")
    elif task == "regression":
        _save(plots.residuals(y_test, y_pred), folder / artifacts.PLOTS / "residuals.png")
    importance = explain.native_importance(pipeline)
    if importance is None:
        # Shuffling costs a prediction of every row per column and repeat: a sample
        # that does not grow with the data ranks the columns as well.
        rows = _sample_positions(len(X_test), IMPORTANCE_ROWS, spec.seed)
        importance = explain.permutation_importances(
            pipeline, X_test.iloc[rows], y_test[rows], _scorer(context), spec.seed
        )
        mlflow.log_param("importance.rows", len(rows))
    importance.to_csv(folder / artifacts.FEATURE_IMPORTANCE, index=False)
    _save(plots.feature_importance(importance), folder / artifacts.PLOTS / "feature_importance.png")
    _write_shap(context, pipeline, X_train, X_test, folder, fit_time)
    profile = build_profile(X_train, context.features, pipeline.predict(X_train))
    artifacts.write_profile(folder, profile)
    holdout = context.table.frame.iloc[context.split.test]
    artifacts.write_holdout(folder, holdout)
    artifacts.write_features(folder, _features_doc(context))
    examples = example_inputs(context, holdout)
    artifacts.write_examples(folder, examples)


def _check_examples(examples, features: FeatureSet) -> None:
    for index, example in enumerate(examples):
        unknown = sorted(set(example.values) - set(features.columns))
        if unknown:
            raise SpecError(
                f"examples[{index}] ('{example.name}'): {unknown} are not model inputs; "
                f"inputs are: {', '.join(features.columns)}",
                field=f"examples[{index}].values",
            )


def example_inputs(context: _Context, holdout: pd.DataFrame) -> list[dict]:
    """The named inputs a client can try: the project's ``examples``, or else the first
    holdout row of each class (the first rows for other tasks), named by a ``name``
    column when the data has one.

    Returns:
        ``[{"name": str, "values": {column: value or None}}]``, JSON-ready.
    """
    columns = context.features.columns
    if context.spec.examples:
        return [
            {"name": e.name, "values": {c: e.values.get(c) for c in columns}}
            for e in context.spec.examples
        ]
    rows = holdout
    if context.spec.task in CLASSIFICATION_TASKS:
        target = context.spec.target_columns[0]
        rows = holdout.drop_duplicates(subset=[target])
    rows = rows.head(DEFAULT_EXAMPLES)
    clean = rows[columns].astype(object).where(rows[columns].notna(), None)
    names = rows["name"] if "name" in rows else [f"holdout row {i + 1}" for i in range(len(rows))]
    return [
        {"name": str(name), "values": values}
        for name, values in zip(names, clean.to_dict("records"), strict=True)
    ]


def _write_shap(
    context: _Context, pipeline: Pipeline, X_train, X_test, folder: Path, fit_time: float
) -> None:
    """SHAP values of at most ``SHAP_ROWS`` holdout rows against as many training rows,
    within a budget: half the fit's time, or ``SHAP_MIN_BUDGET_S`` if that is less.

    A row's cost grows with the model (a forest fitted on more rows has longer tree
    paths; a model-agnostic explainer predicts thousands of rows per row explained), so
    :func:`explain.shap_values_within` measures it and explains fewer rows when the
    budget runs out, or none (tag ``champion.shap`` says why). Param ``shap.rows`` is
    the count explained; the tag says why it is short of ``SHAP_ROWS``.
    """
    seed = context.spec.seed
    rows = X_test.sample(min(SHAP_ROWS, len(X_test)), random_state=seed)
    background = X_train.sample(min(SHAP_ROWS, len(X_train)), random_state=seed)
    budget = max(SHAP_BUDGET_SHARE * fit_time, SHAP_MIN_BUDGET_S)
    try:
        result = explain.shap_values_within(
            pipeline,
            rows,
            background,
            context.spec.task,
            budget,
            context.target.pos_label,
            tags=context.target.tags,
        )
    except explain.NoFastExplainer as e:
        mlflow.set_tag("champion.shap", f"skipped: {e}")
        mlflow.log_param("shap.rows", 0)
        return
    if len(result) < len(rows):
        mlflow.set_tag(
            "champion.shap",
            f"{len(result)} rows, not {len(rows)}: the explanation's budget is "
            f"{budget:.1f} s (half the fit's time, at least {SHAP_MIN_BUDGET_S:.0f} s)",
        )
    mlflow.log_param("shap.rows", len(result))
    values = result.by_source()
    values.insert(0, "explained_output", result.outputs)
    values.insert(1, "base_value", result.base_values)
    values.index = rows.index[: len(result)]
    values.to_csv(folder / artifacts.SHAP_VALUES, index_label="row")
    figure = plots.shap_summary(result.values, result.data, result.names)
    _save(figure, folder / artifacts.PLOTS / "shap_summary.png")


def _sample_positions(n: int, at_most: int, seed: int) -> np.ndarray:
    """Positions of ``at_most`` of ``n`` rows, drawn with ``seed`` (all, in order, if fewer)."""
    if n <= at_most:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=at_most, replace=False))


_PROBABILITY_METRICS = frozenset({"roc_auc", "roc_auc_ovr", "log_loss"})


def _scorer(context: _Context):
    """A scikit-learn scorer for the primary metric (greater is better), computed the
    way the holdout metrics are, so the positive class and averaging agree. Called once
    per column and repeat: the probabilities (and the metrics built on them) only when
    the primary metric needs them."""
    sign = 1.0 if context.direction == "maximize" else -1.0
    task, metric = context.spec.task, context.metric

    def score(estimator, X, y) -> float:
        proba = None
        if metric in _PROBABILITY_METRICS and hasattr(estimator, "predict_proba"):
            proba = estimator.predict_proba(X)
        classes = getattr(estimator, "classes_", None)
        values = evaluate(
            task,
            y,
            estimator.predict(X),
            proba,
            classes,
            context.target.pos_label,
            business=context.spec.business,
        )
        return sign * values[metric]

    return score


def _features_doc(context: _Context) -> dict:
    features = context.features
    return {
        "numeric": features.numeric,
        "categorical": features.categorical,
        "ordinal": features.ordinal,
        "text": features.text,
        "dropped": features.dropped,
    }


def _model_metadata(context: _Context, candidate: CandidateSpec, pipeline: Pipeline) -> dict:
    """What a server needs to describe the model, stored in the MLmodel file (the
    classes too, so that ``champion feedback`` can check labels without loading the
    pipeline)."""
    spec = context.spec
    pos = context.target.pos_label
    classes = pipeline.classes_ if spec.task in CLASSIFICATION_TASKS else []
    return {
        "champion": {
            "version": champion.__version__,
            "project": spec.name,
            "candidate": candidate.name,
            "task": spec.task,
            "target": spec.target_columns,
            "positive_class": pos.item() if hasattr(pos, "item") else pos,
            "tags": context.target.tags,
            "classes": [canonical_category(c) for c in classes],
            "tag_separator": spec.tag_separator,
            "features": _features_doc(context),
            "primary_metric": context.metric,
            "direction": context.direction,
            "decision_threshold": threshold_of(pipeline),
            "business": spec.business,
        }
    }


def _save(figure, path: Path) -> None:
    figure.savefig(path, dpi=110, bbox_inches="tight")
