"""The project file (``champion.yaml``) as typed, validated models.

Only ``name``, ``data``, ``target`` and ``task`` are required; every other key has a
default that trains well on a tidy CSV. An unknown key is an error naming the keys
that are allowed there. :func:`load_spec` is the one way to read a project file.

Example::

    name: pokemon_legendary
    data:
      path: ../../data/pokemon/generation-*.csv
      filter: generation <= 6
    target: is_legendary
    task: binary
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from champion.errors import SpecError
from champion.project import business as business_values

Task = Literal["binary", "multiclass", "regression", "multilabel"]
CLASSIFICATION_TASKS = ("binary", "multiclass")

_MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")


class _Strict(BaseModel):
    """Base for every section: unknown keys are errors, values are checked on assignment."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class DataSpec(_Strict):
    """Where the rows come from.

    ``path`` is a CSV file or a glob of CSV files (relative to the project file);
    ``filter`` is an optional pandas query such as ``generation <= 6``.
    """

    path: str
    filter: str | None = None


class FeaturesSpec(_Strict):
    """Feature columns by kind. Kinds left empty are inferred from the data's dtypes;
    identifier-like columns (unique per row, or named ``id``/``*_id``) are left out."""

    numeric: list[str] | None = None
    categorical: list[str] | None = None
    ordinal: dict[str, list[Any]] = Field(default_factory=dict)
    text: list[str] | None = None
    exclude: list[str] = Field(default_factory=list)


class CapOutliers(_Strict):
    """Clip numeric values to training quantiles (learned in ``fit``)."""

    lower: float = Field(0.01, ge=0, lt=0.5)
    upper: float = Field(0.99, gt=0.5, le=1)


class TextSpec(_Strict):
    """TF-IDF settings for text columns."""

    max_features: int = Field(2000, gt=0)
    ngram_max: int = Field(2, ge=1, le=3)
    min_df: int = Field(1, ge=1)


class PreprocessingSpec(_Strict):
    """Steps placed inside the model's scikit-learn Pipeline, so serving cannot skew.

    Numeric columns: impute, cap outliers, log-transform skewed columns, scale.
    Categorical columns: missing becomes its own category, labels rarer than
    ``rare_min_frequency`` are grouped, then one-hot (or ordinal) encoding.
    Text columns: TF-IDF."""

    impute_numeric: Literal["median", "mean", "most_frequent"] = "median"
    cap_outliers: CapOutliers | None = Field(default_factory=CapOutliers)
    log_transform: Literal["auto", "none"] | list[str] = "auto"
    skew_threshold: float = Field(1.0, gt=0)
    rare_min_frequency: float = Field(0.01, ge=0, lt=1)
    encoding: Literal["onehot", "ordinal"] = "onehot"
    scaling: Literal["standard", "robust", "minmax", "none"] = "standard"
    text: TextSpec = Field(default_factory=TextSpec)


class SearchSpec(_Strict):
    """An Optuna search: ``space`` maps a parameter to a distribution, e.g.
    ``{type: int, low: 2, high: 12}``, ``{type: float, low: 0.01, high: 1, log: true}``
    or ``{type: categorical, choices: [a, b]}``."""

    trials: int = Field(10, gt=0, le=1000)
    space: dict[str, dict[str, Any]]

    @field_validator("space")
    @classmethod
    def _check_space(cls, space: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        for param, dist in space.items():
            kind = dist.get("type")
            if kind in ("int", "float"):
                if "low" not in dist or "high" not in dist or dist["low"] >= dist["high"]:
                    raise ValueError(f"'{param}': {kind} needs low < high")
            elif kind == "categorical":
                if not dist.get("choices"):
                    raise ValueError(f"'{param}': categorical needs a non-empty 'choices' list")
            else:
                raise ValueError(
                    f"'{param}': type must be one of int, float, categorical; got {kind!r}"
                )
        return space


class StudySpec(_Strict):
    """How every candidate's Optuna search runs (``search`` at the top of the project
    file; a candidate's own ``search`` says what to search).

    Attributes:
        storage: a SQLAlchemy URL (``postgresql+psycopg2://user@host/optuna``,
            ``sqlite:///study.db``) where a study is shared, so that several ``champion
            train --only NAME`` processes, on one machine or many, search one candidate
            together; ``CHAMPION_SEARCH_STORAGE`` wins over it. None: each process
            searches alone, in memory.
        pruner: ``median`` stops a trial after a CV fold whose running score is worse
            than the median of earlier trials at that fold (Optuna's ``MedianPruner``);
            ``none`` runs every fold of every trial.
        startup_trials: trials that run to the end before any is pruned.
        warmup_folds: the first folds of every trial, which never prune it.
    """

    storage: str | None = None
    pruner: Literal["median", "none"] = "median"
    startup_trials: int = Field(5, ge=0)
    warmup_folds: int = Field(1, ge=0)

    @field_validator("storage")
    @classmethod
    def _check_storage(cls, storage: str | None) -> str | None:
        if storage is not None and "://" not in storage:
            raise ValueError(
                "must be a database URL such as postgresql+psycopg2://user@host/optuna "
                "or sqlite:///study.db"
            )
        return storage


class CandidateSpec(_Strict):
    """One candidate model: a built-in name (see ``champion.project.candidates.BUILTIN``) or an
    import path such as ``sklearn.neighbors.KNeighborsClassifier``."""

    name: str
    estimator: str
    params: dict[str, Any] = Field(default_factory=dict)
    search: SearchSpec | None = None
    # ``balanced`` weighs each class by the inverse of its frequency (a rare positive
    # class counts as much as the common one); ``none`` turns off a built-in's default.
    class_weight: Literal["balanced", "none"] | None = None


class SplitSpec(_Strict):
    """How the holdout is cut.

    ``random``; ``stratified`` (classification default); ``group`` keeps every value of
    ``column`` on one side (e.g. ``species_id``, so forms of one species never leak);
    ``ordered`` holds out the last values of ``column`` (e.g. the last ``last``
    generations, or enough trailing values to reach ``test_size``).
    """

    method: Literal["auto", "random", "stratified", "group", "ordered"] = "auto"
    test_size: float = Field(0.2, gt=0, lt=1)
    column: str | None = None
    last: int | None = Field(None, ge=1)

    @model_validator(mode="after")
    def _column_when_needed(self) -> SplitSpec:
        if self.method in ("group", "ordered") and not self.column:
            raise ValueError(f"split method '{self.method}' needs 'column'")
        return self


class TrainingSpec(_Strict):
    """How ``champion train`` uses the machine: ``jobs`` candidates are trained at
    once, each in its own process (default: one per core; 1 trains them one after the
    other). ``champion train --jobs N`` overrides it."""

    jobs: int | None = Field(None, ge=1, le=256)


class PromotionSpec(_Strict):
    """The promotion gate: the challenger must beat the champion's primary metric by at
    least ``min_gain`` on the same holdout, and a paired test at level ``alpha`` must
    not show it worse. With fewer than ``min_holdout_rows`` holdout rows the verdict is
    "not enough data" (refused; ``--force`` overrides)."""

    min_gain: float = 0.0
    alpha: float = Field(0.05, gt=0, lt=1)
    bootstrap_samples: int = Field(1000, ge=100, le=100_000)
    min_holdout_rows: int = Field(30, ge=1)


class ExampleSpec(_Strict):
    """A named input the try-it page offers as a button, e.g. Mewtwo's six stats.
    Columns left out are sent empty (the model imputes them)."""

    name: str
    values: dict[str, Any]


#: The smallest window a column is judged on (values present), and the domain
#: classifier's smallest sample per side: below them false alarms outnumber findings.
#: Measured by benchmarks/false_alarms.py (see the README's "Monitoring you can trust").
MIN_ROWS = 30
DOMAIN_MIN_ROWS = 100


class DriftWindowSpec(_Strict):
    """Which logged rows a drift report compares with the training profile: the last
    ``rows`` rows, only those of the last ``hours`` hours, or both (whichever is fewer).
    Leave both null to compare everything logged."""

    rows: int | None = Field(10_000, ge=1)
    hours: float | None = Field(None, gt=0)


class DriftSpec(_Strict):
    """Drift tests, their thresholds, and when a window is big enough to judge (see
    :mod:`champion.monitoring.drift`).

    The per-column tests are Evidently's. ``auto`` picks a test by the reference size:
    up to ``small_reference`` values, Kolmogorov–Smirnov for numeric columns and
    chi-square (z-test for two values) for categorical ones, drift when the p-value is
    below ``ks_pvalue``/``chisquare_pvalue``; above it, the normalised Wasserstein
    distance (drift at ``wasserstein`` standard deviations) and the Jensen–Shannon
    distance (drift at ``jensenshannon``). Numeric columns with at most 5 distinct
    values are tested as categories. PSI is reported for every numeric column
    (``psi``: 0.1 is a moderate shift, 0.25 a significant one).

    Beyond Evidently's tests: ``unseen_share`` is the share of rows with a category
    training never saw; ``text_oov_share`` is how far the share of out-of-vocabulary
    words may rise above the training data's own; ``domain_auc`` is the ROC AUC above
    which a classifier telling training rows from live ones means the joint distribution
    moved.

    Sample size and multiple tests (what keeps false alarms at ``dataset_pvalue``,
    measured by ``benchmarks/false_alarms.py``): a column with fewer than ``min_rows``
    values in the window, and a domain classifier with fewer than ``domain_min_rows``
    rows per side, get the verdict "not enough data", never drift. Every column that
    is judged also gets a two-sample p-value (KS, or chi-square on the contingency
    table: the reference is a sample too), and so does the domain classifier; a
    distribution test's drift counts only when its p-value survives ``correction``
    (Benjamini–Hochberg by default, or Bonferroni) over all of them at
    ``dataset_pvalue``; ``none`` lets each test decide alone, as Evidently does.
    The dataset drifts when at least one feature drifts and at least
    ``share_of_drifted_features`` of the judged features do (0: one is enough), or
    (``multivariate_alarm``, off by default) when the domain classifier does; the
    classifier then joins the corrected family.
    """

    numeric_test: Literal["auto", "ks", "wasserstein", "psi"] = "auto"
    categorical_test: Literal["auto", "chisquare", "jensenshannon"] = "auto"
    small_reference: int = Field(1000, ge=1)
    ks_pvalue: float = Field(0.05, gt=0, lt=1)
    chisquare_pvalue: float = Field(0.05, gt=0, lt=1)
    wasserstein: float = Field(0.1, gt=0)
    jensenshannon: float = Field(0.1, gt=0, lt=1)
    psi: float = Field(0.1, gt=0)
    unseen_share: float = Field(0.05, gt=0, le=1)
    text_oov_share: float = Field(0.2, gt=0, le=1)
    domain_auc: float = Field(0.55, gt=0.5, lt=1)
    share_of_drifted_features: float = Field(0.0, ge=0, le=1)
    # The domain classifier sees joint shifts no single column shows, but rows that
    # repeat or nearly repeat (forms of one species, a holdout from another era) fool
    # it: on the examples' own unchanged data it alarmed in 50-100% of windows of 300
    # rows or more (benchmarks/false_alarms.py). Reported always; an alarm on request.
    multivariate_alarm: bool = False
    min_rows: int = Field(MIN_ROWS, ge=1)
    domain_min_rows: int = Field(DOMAIN_MIN_ROWS, ge=10)
    correction: Literal["benjamini-hochberg", "bonferroni", "none"] = "benjamini-hochberg"
    dataset_pvalue: float = Field(0.05, gt=0, lt=1)
    window: DriftWindowSpec = Field(default_factory=DriftWindowSpec)


class PerformanceSpec(_Strict):
    """When live performance counts as degraded (concept drift): the primary metric is
    worse than on the version's holdout by more than ``max_drop`` (in the metric's
    units), measured on at least ``min_labelled`` labelled predictions. With fewer, the
    version's verdict is "not enough data" and it is never degraded."""

    max_drop: float = Field(0.05, ge=0)
    min_labelled: int = Field(30, ge=1)


# -- monitoring.alerts (see champion.monitoring.alerts for what the signals mean) --

Signal = Literal[
    "dataset_drift", "drift_share", "metric_drop", "prediction_rate", "error_rate", "p99_latency_ms"
]
Severity = Literal["warning", "critical"]

#: Signals that fire when the value falls to the threshold; all others fire on a rise.
FALLING = frozenset({"prediction_rate"})
#: Signals whose value is a share, so whose threshold must lie in [0, 1].
SHARES = frozenset({"dataset_drift", "drift_share", "prediction_rate", "error_rate"})
#: The smallest sample each signal is judged on unless a rule says otherwise: rows of
#: the window (drift, prediction rate, latency), labelled rows (metric drop), answered
#: requests (error rate). Fewer: the signal is "not enough data" and neither fires nor
#: resolves. A p99 or a rate of rare events needs ~100 observations to mean anything;
#: a metric drop, PerformanceSpec.min_labelled's 30.
MIN_SAMPLE = {
    "dataset_drift": MIN_ROWS,
    "drift_share": MIN_ROWS,
    "metric_drop": 30,
    "prediction_rate": 100,
    "error_rate": 100,
    "p99_latency_ms": 100,
}

_RULE_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$"


class AlertRule(_Strict):
    """One rule: fire ``severity`` when ``signal`` crosses ``threshold``.

    Attributes:
        name: unique among the rules; de-duplication is per rule name and model.
        signal: what is watched (see the module docstring for each one's meaning).
        threshold: where it turns bad. ``drift_share``, ``error_rate``,
            ``p99_latency_ms`` and ``metric_drop`` fire at or above it,
            ``prediction_rate`` at or below it. Shares lie in [0, 1]; a threshold that
            every value crosses (0 for a rising share, 1 for ``prediction_rate``) is
            refused, as it would fire on every run.
        metric: for ``metric_drop`` only (and required there): the live metric, e.g.
            ``f1``; its signal key is ``metric_drop:f1``.
        severity: ``warning`` (logged at WARNING) or ``critical`` (at ERROR).
        min_sample: the fewest observations the signal must rest on (default per
            signal: :data:`MIN_SAMPLE`); below it the rule neither fires nor resolves.
        for_s: seconds the condition must hold, on every evaluation, before the rule
            fires (Prometheus's ``for:``); 0 fires on the first crossing.
    """

    name: str = Field(min_length=1, max_length=128, pattern=_RULE_NAME)
    signal: Signal
    threshold: float = Field(allow_inf_nan=False)
    metric: str | None = Field(None, min_length=1, max_length=128, validate_default=True)
    severity: Severity = "warning"
    min_sample: int | None = Field(None, ge=1)
    for_s: float = Field(0, ge=0, allow_inf_nan=False)

    @property
    def minimum(self) -> int:
        """``min_sample``, or the signal's default."""
        return self.min_sample if self.min_sample is not None else MIN_SAMPLE[self.signal]

    @field_validator("threshold")
    @classmethod
    def _check_threshold(cls, threshold: float, info: ValidationInfo) -> float:
        signal = info.data.get("signal")  # absent when the signal itself was invalid
        if signal in FALLING and not 0 <= threshold < 1:
            raise ValueError(f"{signal} is a share: the threshold must be in [0, 1)")
        if signal in SHARES and signal not in FALLING and not 0 < threshold <= 1:
            raise ValueError(f"{signal} is a share: the threshold must be in (0, 1]")
        if signal in ("p99_latency_ms", "metric_drop") and threshold <= 0:
            raise ValueError(f"{signal}: the threshold must be greater than 0")
        return threshold

    @field_validator("metric")
    @classmethod
    def _check_metric(cls, metric: str | None, info: ValidationInfo) -> str | None:
        signal = info.data.get("signal")
        if signal == "metric_drop" and metric is None:
            raise ValueError("signal metric_drop needs 'metric', the live metric to watch")
        if signal is not None and signal != "metric_drop" and metric is not None:
            raise ValueError(f"'metric' is only for signal metric_drop, not {signal}")
        return metric

    @property
    def key(self) -> str:
        """The key of this rule's value in the signals mapping."""
        return signal_key(self.signal, self.metric)


def _default_rules() -> list[AlertRule]:
    # Only signals every model has and whose bad region does not depend on the model:
    # a metric drop needs labels and a metric, and a prediction-rate floor depends on
    # the base rate, so those two are left for the project to state.
    return [
        # The dataset verdict (1 when it is drift), which holds its false alarms to 5%
        # (see DriftSpec). A warning: the inputs moved, which does not yet mean the
        # predictions got worse.
        AlertRule(name="dataset_drift", signal="dataset_drift", threshold=1.0),
        # One request in twenty failing is users being hurt now, not a trend.
        AlertRule(name="error_rate", signal="error_rate", threshold=0.05, severity="critical"),
        # A scikit-learn pipeline answers in milliseconds; a p99 of half a second means
        # overload or a stall somewhere (a lock, a cold cache), but answers still arrive.
        AlertRule(name="p99_latency", signal="p99_latency_ms", threshold=500),
    ]


class AlertsSpec(_Strict):
    """Alerting for a served model (``monitoring.alerts`` in the project file).

    Attributes:
        rules: what fires. The default watches the dataset drift verdict (warning), the
            error rate (>= 0.05, critical) and the p99 latency (>= 500 ms, warning);
            ``[]`` turns alerts off.
        webhook: an ``http://`` or ``https://`` URL each event is POSTed to as JSON; no
            webhook: events are only logged and stored.
        cooldown_s: seconds between reminders of an alert that is still firing
            (Alertmanager's ``repeat_interval``; 0: every evaluation that crosses).
        timeout_s: seconds the webhook has to answer, per attempt.
    """

    rules: list[AlertRule] = Field(default_factory=_default_rules)
    webhook: str | None = None
    cooldown_s: float = Field(3600, ge=0, allow_inf_nan=False)
    timeout_s: float = Field(5, gt=0, allow_inf_nan=False)

    @field_validator("rules")
    @classmethod
    def _unique_names(cls, rules: list[AlertRule]) -> list[AlertRule]:
        names = [rule.name for rule in rules]
        if len(set(names)) != len(names):
            raise ValueError(f"rule names must be unique; got {names}")
        return rules

    @field_validator("webhook")
    @classmethod
    def _check_webhook(cls, webhook: str | None) -> str | None:
        if webhook is None:
            return None
        parts = urlsplit(webhook)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(
                "must be an http:// or https:// URL with a host, "
                f"e.g. https://hooks.example.com/champion; got scheme {parts.scheme!r}"
            )
        return webhook


def signal_key(signal: str, metric: str | None = None) -> str:
    """The key a signal's value has in the mapping :func:`evaluate` reads:
    ``signal_key("metric_drop", "f1") == "metric_drop:f1"``, else the signal itself."""
    return f"{signal}:{metric}" if signal == "metric_drop" else signal


class MonitoringSpec(_Strict):
    """How the served model is watched."""

    drift: DriftSpec = Field(default_factory=DriftSpec)
    performance: PerformanceSpec = Field(default_factory=PerformanceSpec)
    alerts: AlertsSpec = Field(default_factory=AlertsSpec)


class ProjectSpec(_Strict):
    """A whole project file. See the README's "The project file" for every key."""

    name: str
    data: DataSpec
    target: str | list[str]
    task: Task
    description: str = ""
    positive_class: Any = None
    tag_separator: str = "|"
    features: FeaturesSpec = Field(default_factory=FeaturesSpec)
    preprocessing: PreprocessingSpec = Field(default_factory=PreprocessingSpec)
    candidates: list[CandidateSpec] | None = None
    metric: str | None = None
    direction: Literal["maximize", "minimize"] | None = None
    split: SplitSpec = Field(default_factory=SplitSpec)
    seed: int = 42
    training: TrainingSpec = Field(default_factory=TrainingSpec)
    promotion: PromotionSpec = Field(default_factory=PromotionSpec)
    examples: list[ExampleSpec] = Field(default_factory=list)
    monitoring: MonitoringSpec = Field(default_factory=MonitoringSpec)
    # Binary tasks: ``auto`` tunes the threshold on cross-validation of the training
    # rows (champion.training.threshold); a number in (0, 1) fixes it (0.5: no tuning).
    threshold: float | Literal["auto"] = "auto"
    # What a mistake costs (champion.project.business); validated per task below.
    business: dict[Any, Any] | None = None
    search: StudySpec = Field(default_factory=StudySpec)

    @field_validator("threshold", mode="before")
    @classmethod
    def _check_threshold(cls, threshold: Any) -> float | str:
        if threshold == "auto" and isinstance(threshold, str):
            return threshold
        if (
            isinstance(threshold, bool)
            or not isinstance(threshold, int | float)
            or not 0 < threshold < 1
        ):
            raise ValueError(f"must be 'auto' or a number in (0, 1); got {threshold!r}")
        return float(threshold)

    @model_validator(mode="after")
    def _check_decision(self) -> ProjectSpec:
        if self.threshold != "auto" and self.task != "binary":
            raise ValueError(
                f"threshold: only binary tasks have a decision threshold; task is {self.task}"
            )
        if self.business is not None:
            # Normalised in place (floats, canonical class names): what every consumer reads.
            object.__setattr__(self, "business", business_values.check(self.business, self.task))
        if self.metric in business_values.METRICS and self.business is None:
            raise ValueError(f"metric: '{self.metric}' needs a 'business:' section")
        for index, rule in enumerate(self.monitoring.alerts.rules):
            where = f"monitoring.alerts.rules.{index}.metric"
            if rule.metric in business_values.SIZE_DEPENDENT:
                raise ValueError(
                    f"{where}: a total has no drop (it grows with the rows); "
                    f"watch {business_values.PER_ROW}"
                )
            if rule.metric in business_values.METRICS and self.business is None:
                raise ValueError(f"{where}: '{rule.metric}' needs a 'business:' section")
        return self

    @field_validator("name")
    @classmethod
    def _check_name(cls, name: str) -> str:
        if not _MODEL_NAME.match(name):
            raise ValueError(
                "must start with a letter or digit and use only letters, digits, '_', '.', '-'"
            )
        return name

    @field_validator("data", mode="before")
    @classmethod
    def _data_shorthand(cls, data: Any) -> Any:
        return {"path": data} if isinstance(data, str) else data

    @model_validator(mode="after")
    def _check_target(self) -> ProjectSpec:
        if isinstance(self.target, list) and self.task != "multilabel":
            raise ValueError(
                f"target: a list of columns needs task 'multilabel', not '{self.task}'"
            )
        if isinstance(self.target, list) and not self.target:
            raise ValueError("target: the list of tag columns is empty")
        names = [c.name for c in self.candidates or []]
        if len(set(names)) != len(names):
            raise ValueError(f"candidates: names must be unique; got {names}")
        if self.candidates == []:
            raise ValueError("candidates: the list is empty; leave it out to use the defaults")
        return self

    @property
    def target_columns(self) -> list[str]:
        """The target as a list of columns (one unless multilabel with several)."""
        return self.target if isinstance(self.target, list) else [self.target]


def parse_spec(raw: Any, *, source: str = "champion.yaml", base_dir: Path | None = None):
    """Validate an already-parsed YAML document.

    Returns:
        A :class:`Project` (the spec plus the folder its relative paths resolve against).
    Raises:
        SpecError: naming the key at fault and what is allowed there.
    """
    if not isinstance(raw, dict):
        raise SpecError(
            f"{source}: the project file must be a mapping of keys "
            f"(name, data, target, task, ...); got {type(raw).__name__}"
        )
    try:
        spec = ProjectSpec.model_validate(raw)
    except ValidationError as e:
        raise _spec_error(e, source) from None
    return Project(spec=spec, base_dir=(base_dir or Path.cwd()).resolve(), source=source)


def load_spec(path: Path | str) -> Project:
    """Read and validate a project file.

    Raises:
        SpecError: the file is missing, is not valid YAML, or does not validate.
    """
    path = Path(path)
    if not path.is_file():
        raise SpecError(
            f"project file '{path}' does not exist; pass one with -c or run from a project "
            "folder (see examples/)",
            field=str(path),
        )
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise SpecError(f"{path}{where}: not valid YAML: {problem}", field=str(path)) from None
    except UnicodeDecodeError:
        raise SpecError(f"{path}: not a UTF-8 text file", field=str(path)) from None
    return parse_spec(raw, source=str(path), base_dir=path.parent)


class Project(BaseModel):
    """A validated spec and where it came from."""

    model_config = ConfigDict(frozen=True)

    spec: ProjectSpec
    base_dir: Path
    source: str = "champion.yaml"


def _spec_error(error: ValidationError, source: str) -> SpecError:
    """Turn pydantic's report into one line per problem that names the key."""
    problems: list[str | list] = []
    by_key: dict[str, list] = {}
    first_field = None
    for item in error.errors():
        loc = ".".join(str(p) for p in _key_path(item["loc"]))
        message = item["msg"].removeprefix("Value error, ")
        if not loc:
            # A check across keys; its message starts with the key at fault ("target: ...").
            key = _LEADING_KEY.match(message)
            first_field = first_field or (key.group(1) if key else None)
            problems.append(message)
            continue
        first_field = first_field or loc
        if item["type"] == "extra_forbidden":
            parent = _model_at(item["loc"][:-1])
            allowed = ", ".join(parent.model_fields) if parent else "?"
            problems.append(f"unknown key '{loc}'; allowed keys here: {allowed}")
        elif item["type"] == "missing":
            problems.append(f"missing required key '{loc}'")
        elif loc in by_key:
            # A value that fits no member of a union (``target: 5``): one error per member.
            by_key[loc][1].append(message[:1].lower() + message[1:])
        else:
            got = item.get("input")
            shown = "" if isinstance(got, dict | list) else f" (got {got!r})"
            by_key[loc] = [loc, [message], shown]
            problems.append(by_key[loc])
    lines = [p if isinstance(p, str) else f"'{p[0]}': {' or '.join(p[1])}{p[2]}" for p in problems]
    return SpecError(f"{source}: " + "; ".join(lines), field=first_field)


_LEADING_KEY = re.compile(r"^([A-Za-z_][\w.]*): ")
# The names pydantic gives union members in an error's location (``target.list[str]``).
_UNION_TAG = re.compile(r"^(str|int|float|bool|(list|dict|literal|function-\w+)\[.*\])$")


def _key_path(loc: tuple) -> tuple:
    """``loc`` without the union-member tags, so it reads as the key the user wrote."""
    return tuple(p for i, p in enumerate(loc) if i == 0 or not _UNION_TAG.match(str(p)))


def _model_at(loc: tuple) -> type[BaseModel] | None:
    """The spec model that owns the key at ``loc`` (to list its allowed keys)."""
    model: type[BaseModel] = ProjectSpec
    for part in loc:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(str(part))
        if field is None:
            return None
        inner = _first_model(field.annotation)
        if inner is None:
            return None
        model = inner
    return model


def _first_model(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()) or ():
        found = _first_model(arg)
        if found is not None:
            return found
    return None
