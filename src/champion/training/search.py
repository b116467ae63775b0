"""The Optuna search over a candidate's space: one study, each trial a nested MLflow run.

:func:`search` scores each trial by cross-validation on the training rows only (the
holdout stays unseen until the candidate's final fit) and returns the best parameters.
Where the study lives decides who takes part:

==================  ============================  =====================================
storage             study                         trials nest under
==================  ============================  =====================================
none (default)      in memory, this process       the candidate's run
``search.storage``  in the shared database, named the study's parent run, one for all
or the variable     ``PROJECT.CANDIDATE.FINGER``  processes (``champion.role=search``,
``CHAMPION_SEAR-``  (``load_if_exists``), so      tag ``champion.study`` = the name)
``CH_STORAGE``      every ``champion train
                    --only CANDIDATE`` on the
                    same problem joins it
==================  ============================  =====================================

The fingerprint in a shared study's name is a hash of what makes two searches one: the
data's digest, the candidate's estimator, fixed parameters and space, the features,
preprocessing, split, seed and primary metric. A process on other data or another
space starts a study of its own rather than mixing CV scores that do not compare. The
trial count is not part of it: ``trials`` is how many trials *this* process runs, so
two processes with ``trials: 10`` make a study of 20.

**Which run is the parent** (processes must agree without talking to each other): the
database decides. Each process tries to *create* the study; the database's unique
study name lets exactly one succeed. That process creates the parent run in MLflow and
records its id in the study's user attribute ``mlflow_parent_run_id``; every other
process loads the study and waits (up to ``PARENT_WAIT`` seconds) for the attribute.
Tags and start times in MLflow could not decide it: two processes can both search,
both find nothing and both create, and clocks on two machines disagree.

A process that searches alone, or creates a shared study, seeds its sampler with the
project's seed, so a search by one process repeats; a process that joins a study draws
unseeded, or it would draw the creator's first trials again. TPE learns from every
process's trials through the storage. A trial whose process died is marked failed by
the next process after Optuna's heartbeat grace period.

**Pruning** (``search.pruner: median``, the default): after each CV fold the trial
reports its running mean score (``trial.report``); Optuna's ``MedianPruner`` stops it
when that is worse than the median of earlier trials at the same fold. A pruned trial is
PRUNED in the study, and its MLflow run ends KILLED with tag ``champion.trial_state`` =
``pruned`` and the folds it ran. ``search.pruner: none`` runs every fold.
"""

from __future__ import annotations

import hashlib
import json
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import mlflow
import numpy as np
import pandas as pd
from mlflow.entities import Metric, Param, RunTag
from mlflow.exceptions import MlflowException

from champion.errors import SpecError
from champion.project.candidates import suggest_params
from champion.project.spec import CLASSIFICATION_TASKS, CandidateSpec, ProjectSpec
from champion.project.splits import cv_folds
from champion.registry.liveness import heartbeat, liveness_tags
from champion.registry.tracking import PROJECT_TAG, ROLE_TAG
from champion.settings import Settings, database_url

if TYPE_CHECKING:
    import optuna

STUDY_TAG = "champion.study"
SEARCH_RUN_TAG = "champion.search_run_id"
TRIAL_STATE_TAG = "champion.trial_state"
PARENT_ATTR = "mlflow_parent_run_id"
PARENT_WAIT = 120.0
# Optuna marks a trial failed when its process has not beaten for the grace period.
HEARTBEAT_S = 30
GRACE_S = 120
CONNECT_TIMEOUT_S = 10
CREATE_ATTEMPTS = 5


@dataclass(frozen=True)
class StudyStorage:
    """A shared Optuna storage and the key it was given by (named in every error)."""

    url: str
    key: str

    @property
    def shown(self) -> str:
        """The URL without its password, for messages."""
        from sqlalchemy.engine import make_url

        try:
            return make_url(self.url).render_as_string(hide_password=True)
        except Exception:
            return "the URL given"


class SearchContext(Protocol):
    """What a search needs of a training call (``training.train._Context`` is one)."""

    spec: ProjectSpec
    table: Any  # .frame (all rows) and .digest (of the data)
    split: Any  # .train (positions of the training rows)
    metric: str
    direction: str
    search_storage: StudyStorage | None

    def part(self, positions) -> tuple[pd.DataFrame, Any]: ...

    def fold_metrics(
        self, candidate: CandidateSpec, params: dict, fit_rows, score_rows
    ) -> dict[str, float]: ...


Progress = Callable[[str, int, int], None]


def study_storage(spec: ProjectSpec, settings: Settings) -> StudyStorage | None:
    """The shared storage: ``CHAMPION_SEARCH_STORAGE`` if set, else ``search.storage``,
    with a bare ``postgresql://`` pinned to psycopg2 (SQLAlchemy 2.1 would ask for
    psycopg 3, which champion does not install)."""
    if settings.search_storage:
        url, key = settings.search_storage, "CHAMPION_SEARCH_STORAGE"
    elif spec.search.storage:
        url, key = spec.search.storage, "search.storage"
    else:
        return None
    return StudyStorage(database_url(url), key)


def check_storage(storage: StudyStorage) -> None:
    """Connect once (creating Optuna's tables if the database is empty), so that an
    unreachable storage stops ``train`` before it writes anything to the tracking store.

    Raises:
        SpecError: naming ``storage.key``: not a database URL, no driver for it, or
            the database cannot be reached.
    """
    _rdb(storage)


def _rdb(storage: StudyStorage):
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError

    engine_kwargs: dict[str, Any] = {"pool_pre_ping": True}
    if storage.url.startswith("postgresql"):
        # A host that drops packets would otherwise hang ``train`` for minutes.
        engine_kwargs["connect_args"] = {"connect_timeout": CONNECT_TIMEOUT_S}
    try:
        return _create_rdb(storage.url, engine_kwargs)
    except (ArgumentError, NoSuchModuleError, ValueError) as e:
        raise SpecError(
            f"{storage.key}: {storage.shown!r} is not a database URL Optuna can use "
            f"({_first_line(e)}); e.g. postgresql+psycopg2://user@host/optuna",
            field=storage.key,
        ) from None
    except SQLAlchemyError as e:
        raise SpecError(
            f"{storage.key}: cannot reach the search storage {storage.shown}: "
            f"{_first_line(getattr(e, 'orig', None) or e)}",
            field=storage.key,
        ) from None


def _create_rdb(url: str, engine_kwargs: dict[str, Any]):
    import optuna
    from sqlalchemy.exc import IntegrityError, ProgrammingError

    attempt = 0
    while True:
        try:
            with warnings.catch_warnings():
                # The heartbeat is "experimental" since Optuna 2.9; the notice is noise.
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                return optuna.storages.RDBStorage(
                    url,
                    engine_kwargs=engine_kwargs,
                    heartbeat_interval=HEARTBEAT_S,
                    grace_period=GRACE_S,
                )
        except (IntegrityError, ProgrammingError):
            # Processes that start together on an empty database all create Optuna's
            # tables; PostgreSQL lets one win and fails the others on its catalog. Once
            # the winner is done the tables exist, and a retry only reads them.
            attempt += 1
            if attempt == CREATE_ATTEMPTS:
                raise
            time.sleep(0.5 * attempt)


def _first_line(error: object) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def study_name(context: SearchContext, candidate: CandidateSpec) -> str:
    """``PROJECT.CANDIDATE.FINGERPRINT``: the same for every process on the same problem."""
    spec = context.spec
    problem = {
        "data": context.table.digest,
        "estimator": candidate.estimator,
        "params": candidate.params,
        "class_weight": candidate.class_weight,
        "business": spec.business,  # the fold metrics include the business values
        "threshold": spec.threshold,
        "space": candidate.search.space if candidate.search else {},
        "task": spec.task,
        "target": spec.target_columns,
        "features": spec.features.model_dump(mode="json"),
        "preprocessing": spec.preprocessing.model_dump(mode="json"),
        "split": spec.split.model_dump(mode="json"),
        "seed": spec.seed,
        "metric": [context.metric, context.direction],
    }
    blob = json.dumps(problem, sort_keys=True, default=str).encode()
    return f"{spec.name}.{candidate.name}.{hashlib.sha256(blob).hexdigest()[:12]}"


def search(
    context: SearchContext,
    candidate: CandidateSpec,
    experiment_id: str,
    progress: Progress,
) -> dict:
    """Run ``candidate.search.trials`` trials and return the best parameters of the study
    (all processes' trials, in a shared one; ``context.search_storage`` says whether it
    is shared). Called inside the candidate's active run, on which it logs
    ``best_cv_<metric>`` and, when shared, tags: the study's name, its parent run, the
    best trial's number and how many of the study's trials had ended when it chose.

    Raises:
        SpecError: a trial's parameters do not fit the estimator; no trial of the study
            completed; the shared study's parent run is not in this tracking store.
    """
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    spec = context.spec
    plan = candidate.search
    storage = context.search_storage
    tracking = mlflow.MlflowClient()
    pruner = _pruner(spec)
    if storage is None:
        study = optuna.create_study(
            direction=context.direction,
            sampler=optuna.samplers.TPESampler(seed=spec.seed),
            pruner=pruner,
        )
        parent_id = mlflow.active_run().info.run_id
    else:
        name = study_name(context, candidate)
        study, parent_id = _join_study(
            storage, name, context, candidate, experiment_id, pruner, tracking
        )
        mlflow.set_tags({STUDY_TAG: name, SEARCH_RUN_TAG: parent_id})
        tracking.update_run(parent_id, status="RUNNING")
    folds = _folds(context)
    done = 0

    def objective(trial: optuna.Trial) -> float:
        nonlocal done
        try:
            return _trial(trial, context, candidate, folds, experiment_id, parent_id, tracking)
        finally:
            done += 1
            progress(f"{candidate.name} trial {done}/{plan.trials}", -1, plan.trials)

    study.optimize(objective, n_trials=plan.trials)
    best = _best(study, candidate)
    metric_name = f"best_cv_{context.metric}"
    mlflow.log_metric(metric_name, best.value)
    if storage is not None:
        states = optuna.trial.TrialState
        ended = (states.COMPLETE, states.PRUNED, states.FAIL)
        finished = len(study.get_trials(deepcopy=False, states=ended))
        tracking.log_metric(parent_id, metric_name, best.value, step=finished)
        tracking.set_tag(parent_id, "champion.best_trial", str(best.number))
        tracking.set_terminated(parent_id, "FINISHED")
        # Which of the study's trials this candidate's parameters come from, and how many
        # had ended when it chose: the last process to finish has seen them all.
        mlflow.set_tags({"champion.best_trial": best.number, "champion.study_trials": finished})
    return dict(best.params)


def _pruner(spec: ProjectSpec):
    import optuna

    if spec.search.pruner == "none":
        return optuna.pruners.NopPruner()
    return optuna.pruners.MedianPruner(
        n_startup_trials=spec.search.startup_trials, n_warmup_steps=spec.search.warmup_folds
    )


def _folds(context: SearchContext) -> list:
    spec = context.spec
    train_rows = context.split.train
    frame_train = context.table.frame.iloc[train_rows]
    y_train = context.part(train_rows)[1]
    labels = y_train if spec.task in CLASSIFICATION_TASKS else None
    return cv_folds(spec.task, spec.split, frame_train, labels, spec.seed)


def _trial(trial, context, candidate, folds, experiment_id, parent_id, tracking) -> float:
    """One trial: CV fold by fold, reporting the running score so the pruner can stop it,
    logged as one run under ``parent_id``."""
    import optuna

    params = dict(candidate.params) | suggest_params(trial, candidate.search)
    key = f"cv_{context.metric}"
    run = tracking.create_run(
        experiment_id,
        run_name=f"{candidate.name}-trial-{trial.number}",
        tags={
            ROLE_TAG: "trial",
            PROJECT_TAG: context.spec.name,
            "champion.candidate": candidate.name,
            "champion.trial": str(trial.number),
            "mlflow.parentRunId": parent_id,
        }
        | liveness_tags(),
    )
    run_id = run.info.run_id
    scores: list[float] = []
    running: list[Metric] = []
    state, status = "complete", "FINISHED"
    try:
        # A long trial beats like a candidate run, so another process's ``train`` on
        # another host does not take it for dead (registry/liveness.py).
        with heartbeat(tracking, run_id):
            for step, (fit_rows, score_rows) in enumerate(folds):
                metrics = context.fold_metrics(candidate, params, fit_rows, score_rows)
                scores.append(metrics.get(context.metric, np.nan))
                if np.all(np.isnan(scores)):
                    continue
                score = float(np.nanmean(scores))
                running.append(Metric(key, score, int(time.time() * 1000), step))
                trial.report(score, step)
                if step < len(folds) - 1 and trial.should_prune():
                    state, status = "pruned", "KILLED"
                    raise optuna.TrialPruned(f"fold {step + 1} of {len(folds)}: {score:.4g}")
        return running[-1].value if running else float("nan")
    except optuna.TrialPruned:
        raise
    except BaseException:
        state, status = "failed", "FAILED"
        raise
    finally:
        tracking.log_batch(
            run_id,
            metrics=running,
            params=[Param(f"model.{k}", _short(v)) for k, v in params.items()],
            tags=[
                RunTag(TRIAL_STATE_TAG, state),
                RunTag("champion.folds_run", str(len(scores))),
            ],
        )
        tracking.set_terminated(run_id, status)


def _short(value) -> str:
    text = str(value)
    return text if len(text) <= 500 else text[:497] + "..."


def _best(study, candidate: CandidateSpec):
    try:
        return study.best_trial
    except ValueError:
        counts = {}
        for trial in study.get_trials(deepcopy=False):
            counts[trial.state.name.lower()] = counts.get(trial.state.name.lower(), 0) + 1
        raise SpecError(
            f"candidates.{candidate.name}.search: no trial completed "
            f"({', '.join(f'{n} {s}' for s, n in sorted(counts.items())) or 'none ran'}); "
            "the primary metric may be undefined on these folds",
            field=f"candidates.{candidate.name}.search",
        ) from None


def _join_study(storage, name, context, candidate, experiment_id, pruner, tracking):
    """Create or load the shared study and agree on its parent run (see the module
    docstring): the process whose ``create_study`` created it makes the parent."""
    import optuna

    rdb = _rdb(storage)
    options = {"storage": rdb, "study_name": name, "direction": context.direction, "pruner": pruner}
    try:
        sampler = optuna.samplers.TPESampler(seed=context.spec.seed)
        study = optuna.create_study(**options, sampler=sampler, load_if_exists=False)
    except optuna.exceptions.DuplicatedStudyError:
        # Unseeded: a joiner seeded like the creator would draw the creator's trials again.
        sampler = optuna.samplers.TPESampler()
        study = optuna.create_study(**options, sampler=sampler, load_if_exists=True)
        return study, _wait_for_parent(study, storage, experiment_id, tracking)
    run = tracking.create_run(
        experiment_id,
        run_name=f"{candidate.name}-search",
        tags={
            ROLE_TAG: "search",
            PROJECT_TAG: context.spec.name,
            "champion.candidate": candidate.name,
            STUDY_TAG: name,
            "mlflow.note.content": (
                f"Optuna study '{name}': every process's trials of candidate "
                f"'{candidate.name}' nest under this run."
            ),
        },
    )
    study.set_user_attr(PARENT_ATTR, run.info.run_id)
    study.set_user_attr("experiment_id", experiment_id)
    return study, run.info.run_id


def _wait_for_parent(study, storage, experiment_id, tracking) -> str:
    deadline = time.monotonic() + PARENT_WAIT
    while (parent_id := study.user_attrs.get(PARENT_ATTR)) is None:
        if time.monotonic() > deadline:
            raise SpecError(
                f"{storage.key}: study '{study.study_name}' has no MLflow parent run after "
                f"{PARENT_WAIT:.0f}s; the process that created it may have died. Delete the "
                f"study (optuna delete-study --study-name {study.study_name} --storage ...) "
                "and train again",
                field=storage.key,
            )
        time.sleep(0.5)
    try:
        run = tracking.get_run(parent_id)
    except MlflowException:
        run = None
    if run is None or run.info.experiment_id != experiment_id:
        raise SpecError(
            f"{storage.key}: study '{study.study_name}' logs its trials under MLflow run "
            f"{parent_id}, which is not in experiment {experiment_id} of this tracking "
            "store; every process of one study must use the same tracking store "
            "(MLFLOW_TRACKING_URI)",
            field=storage.key,
        )
    return parent_id
