"""The decision threshold and the business value, end to end through training: tuned
on CV folds of the training rows, logged as a param, kept inside the model so that
``mlflow.pyfunc`` applies it, and the business value logged on the holdout."""

from __future__ import annotations

import mlflow
import numpy as np
import pytest

from champion.project.decision import without_threshold
from champion.project.spec import load_spec
from champion.registry.tracking import use_tracking
from champion.settings import Settings
from champion.training.train import prepare, train_project
from support.projects import POKEMON, sqlite_store, write_project

LEGENDARY = f"""
name: legendary_threshold
data: {POKEMON}/generation-*.csv
target: is_legendary
task: binary
features:
  numeric: [hp, attack, defense, special_attack, special_defense, speed]
candidates: [{{name: linear, estimator: linear}}]
"""


@pytest.fixture
def local(tmp_path, sqlite_template) -> Settings:
    return Settings.from_env(tmp_path, environ=sqlite_store(tmp_path, sqlite_template))


def _run(settings: Settings, run_id: str):
    return mlflow.MlflowClient(tracking_uri=settings.tracking_uri).get_run(run_id)


def _holdout(project):
    context = prepare(project)
    rows = context.split.test
    return context.inputs.iloc[rows], context.target.y[rows]


def test_business_values_tune_the_threshold_and_pyfunc_applies_it(tmp_path, local):
    # A legendary found is worth 50, a false alarm costs 1: saying yes must get cheaper.
    config = write_project(
        tmp_path, LEGENDARY + "business: {true_positive: 50, false_positive: -1}\n"
    )
    project = load_spec(config)

    report = train_project(project, local)

    run = _run(local, report.best.run_id)
    threshold = float(run.data.params["decision_threshold"])
    assert run.data.params["decision_threshold.objective"] == "business_value_per_row"
    assert 0 < threshold < 0.5
    with use_tracking(local):
        model = mlflow.pyfunc.load_model(report.best.model_uri)
        info = mlflow.models.get_model_info(report.best.model_uri)
    assert info.metadata["champion"]["decision_threshold"] == pytest.approx(threshold)
    X, y = _holdout(project)
    labels = np.asarray(model.predict(X))
    positive = report.best.pipeline.predict_proba(X)[
        :, list(report.best.pipeline.classes_).index(True)
    ]
    assert (labels == (positive >= threshold)).all()
    # The bare estimator (0.5) says yes less often: the threshold is really applied.
    bare = without_threshold(report.best.pipeline).predict(X)
    assert labels.sum() > bare.sum()
    # The logged business value is the holdout's, counted outcome by outcome.
    true_positives = int(np.sum(labels & y))
    false_positives = int(np.sum(labels & ~y.astype(bool)))
    assert run.data.metrics["business_value"] == 50 * true_positives - false_positives
    assert run.data.metrics["business_value_per_row"] == pytest.approx(
        (50 * true_positives - false_positives) / len(y)
    )


def test_threshold_one_half_turns_tuning_off(tmp_path, local):
    config = write_project(tmp_path, LEGENDARY + "threshold: 0.5\n")
    project = load_spec(config)

    report = train_project(project, local)

    run = _run(local, report.best.run_id)
    assert run.data.params["decision_threshold"] == "0.5"
    assert run.data.params["decision_threshold.objective"] == "fixed"
    assert "business_value" not in run.data.metrics
    X, _ = _holdout(project)
    pipeline = report.best.pipeline
    assert (pipeline.predict(X) == without_threshold(pipeline).predict(X)).all()


def test_the_primary_metric_tunes_the_threshold_without_a_business_section(tmp_path, local):
    config = write_project(tmp_path, LEGENDARY)

    report = train_project(load_spec(config), local)

    run = _run(local, report.best.run_id)
    assert run.data.params["decision_threshold.objective"] == "f1"
    cv_f1 = run.data.metrics["cv_f1_at_threshold"]
    assert 0 < cv_f1 <= 1
    assert 0 < float(run.data.params["decision_threshold"]) < 1


def test_the_tuners_fast_scores_equal_scikit_learns():
    from sklearn.metrics import accuracy_score, f1_score

    from champion.training.threshold import accuracy_fast, f1_fast

    rng = np.random.default_rng(3)
    for _ in range(50):
        truth = rng.choice(["yes", "no"], size=40, p=[0.2, 0.8])
        share = rng.uniform(0, 0.5)
        said = rng.choice(["yes", "no"], size=40, p=[share, 1 - share])
        expected = f1_score(truth, said, pos_label="yes", zero_division=0)
        assert f1_fast(truth, said, pos_label="yes") == pytest.approx(expected)
        assert accuracy_fast(truth, said) == pytest.approx(accuracy_score(truth, said))
    assert f1_fast(np.array(["no"] * 5), np.array(["no"] * 5), pos_label="yes") == 0.0


def test_tuning_rows_are_a_seeded_stratified_sample_above_the_bound():
    from champion.training.threshold import TUNING_ROWS, tuning_rows

    small = np.array([True] * 50 + [False] * 950)
    assert (tuning_rows(small, seed=1) == np.arange(len(small))).all()

    y = np.array([True] * 3_000 + [False] * 27_000)
    rows = tuning_rows(y, seed=1)

    assert len(rows) == TUNING_ROWS
    assert (np.diff(rows) > 0).all()  # sorted, no repeats
    assert y[rows].mean() == pytest.approx(0.1, abs=1e-3)  # the class shares are kept
    assert (rows == tuning_rows(y, seed=1)).all()
    assert not (rows == tuning_rows(y, seed=2)).all()


def test_above_the_bound_the_sample_tunes_and_every_training_row_fits(tmp_path, local, monkeypatch):
    from sklearn.base import clone

    from champion.training import threshold

    # The legendary data has about 1,000 training rows: a bound of 400 samples them.
    monkeypatch.setattr(threshold, "TUNING_ROWS", 400)
    project = load_spec(write_project(tmp_path, LEGENDARY))
    context = prepare(project)
    X_train, y_train = context.part(context.split.train)
    assert len(y_train) > 400

    report = train_project(project, local)

    run = _run(local, report.best.run_id)
    assert run.data.params["decision_threshold.objective"] == "f1"
    assert 0 < float(run.data.params["decision_threshold"]) < 1
    # The final model is the pipeline fitted on every training row, not the tuner's
    # refit on the sample: it equals a fresh fit on all of them.
    bare = without_threshold(report.best.pipeline)
    refit = clone(bare).fit(X_train, y_train)
    assert np.allclose(bare[-1].coef_, refit[-1].coef_)


def test_a_business_primary_metric_trains_a_model_without_importances(tmp_path, local):
    # hist_gradient_boosting has no feature_importances_: permutation importance scores
    # it by the primary metric, here the business value.
    config = write_project(
        tmp_path,
        LEGENDARY.replace(
            "{name: linear, estimator: linear}", "{name: hgb, estimator: hist_gradient_boosting}"
        )
        + "business: {true_positive: 50, false_positive: -1}\nmetric: business_value_per_row\n",
    )

    report = train_project(load_spec(config), local)

    run = _run(local, report.best.run_id)
    assert run.data.params["decision_threshold.objective"] == "business_value_per_row"
    assert "business_value_per_row" in run.data.metrics
    assert float(run.data.params["importance.rows"]) > 0


def test_a_class_too_rare_to_sample_by_is_not_enough_data_not_a_crash(tmp_path):
    import pandas as pd
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline

    from champion.training.threshold import TUNING_ROWS, fit_decided

    rng = np.random.default_rng(0)
    n = TUNING_ROWS + 5_000
    X = pd.DataFrame({"x": rng.normal(size=n)})
    y = np.zeros(n, dtype=bool)
    y[7] = True  # one row of the rare class: no stratified sample can hold it
    spec = load_spec(write_project(tmp_path, LEGENDARY)).spec

    fitted, decision = fit_decided(
        Pipeline([("model", LogisticRegression())]), X, y, X, spec=spec, metric="f1", pos_label=True
    )

    assert decision.threshold == 0.5 and decision.note.startswith("not enough data")
    assert fitted.predict(X.head(3)).shape == (3,)
