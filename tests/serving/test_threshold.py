"""A served binary model decides at its threshold, over HTTP, on both inference paths:
the label is the positive class exactly when its probability is at least the
threshold; ``/version`` and the page show the threshold."""

from __future__ import annotations

import functools

import httpx
import pandas as pd
import pytest

from champion.serving.app import create_app
from champion.serving.model import load_served_model
from champion.training.train import prepare
from support.projects import POKEMON, promoted
from support.serving import running

pytestmark = pytest.mark.integration

THRESHOLD = 0.2  # far from 0.5, so many rows fall between the two


@pytest.fixture(scope="module")
def legendary(tmp_path_factory, sqlite_template):
    """A promoted legendary model deciding at 0.2: (settings, every row's inputs)."""
    model = promoted(
        tmp_path_factory.mktemp("threshold"),
        sqlite_template,
        f"""
name: legendary_served
data: {POKEMON}/generation-*.csv
target: is_legendary
task: binary
features:
  numeric: [hp, attack, defense, special_attack, special_defense, speed]
candidates: [{{name: linear, estimator: linear}}]
threshold: {THRESHOLD}
""",
    )
    context = prepare(model.project)
    return model.settings, context.inputs


@pytest.mark.parametrize("inference", ["onnx", "sklearn"])
def test_the_served_label_is_probability_at_or_above_the_threshold(legendary, inference):
    settings, inputs = legendary
    loader = functools.partial(load_served_model, inference=inference)
    records = inputs.astype(object).where(inputs.notna(), None).to_dict("records")

    with running(create_app(settings, "legendary_served", loader=loader)) as url:
        version = httpx.get(f"{url}/version").json()
        answer = httpx.post(f"{url}/predict", json=records, timeout=60)

    assert version["inference_path"] == inference
    if inference == "onnx":  # the graph of the bare estimator was compiled at registration
        assert "verified at registration" in version["arms"][0]["inference_note"], version
    assert version["decision_threshold"] == THRESHOLD
    assert version["arms"][0]["decision_threshold"] == THRESHOLD
    assert answer.status_code == 200, answer.text
    predictions = answer.json()["predictions"]
    assert len(predictions) == len(records) > 500
    positive = pd.Series([p["probabilities"]["True"] for p in predictions])
    labels = pd.Series([p["label"] for p in predictions])
    assert (labels == (positive >= THRESHOLD)).all()
    # The rule is exercised where it differs from the estimator's own 0.5.
    assert ((positive >= THRESHOLD) & (positive < 0.5)).sum() >= 5


def test_the_page_states_the_line_the_probability_must_cross(legendary):
    settings, _ = legendary

    with running(create_app(settings, "legendary_served")) as url:
        html = httpx.get(f"{url}/").text

    assert 'id="decision-threshold" data-value="0.2"' in html
    assert "The model says True when the probability of True is at least 20.0%" in html
