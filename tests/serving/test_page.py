"""The try-it page at ``GET /`` in a real headless Chromium, against real servers of
models trained, registered and promoted in a real MLflow store: a binary model (breast
cancer, numeric and categorical inputs, named examples) and a multilabel text model
(short texts in, tags out)."""

from __future__ import annotations

import dataclasses
import json
import random
import re
from collections.abc import Iterator

import httpx
import pandas as pd
import pytest
from playwright.sync_api import Browser, Page, expect

from champion.serving.app import create_app
from champion.serving.model import load_served_model
from champion.serving.page import render_page
from champion.settings import Settings
from support.browser import chromium
from support.projects import promoted
from support.serving import running

pytestmark = pytest.mark.integration

TEXT_BODY_LIMIT = 4_000  # the text model's server refuses bodies over this many bytes
TOP = 10


# ---------------------------------------------------------------- browser


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


# ---------------------------------------------------------------- models and servers


@pytest.fixture(scope="module")
def cancer(tmp_path_factory, sqlite_template, breast_cancer_csv):
    """A promoted binary model with two named examples: (settings, examples)."""
    folder = tmp_path_factory.mktemp("page-cancer")
    frame = pd.read_csv(breast_cancer_csv)
    malignant = frame[frame["diagnosis"] == "malignant"].iloc[0].drop("diagnosis")
    benign = frame[(frame["diagnosis"] == "benign") & frame["clinic"].notna()].iloc[0]
    big = {k: (None if pd.isna(v) else v) for k, v in malignant.items()}
    # Left out: sent empty, the model imputes it.
    small = {k: v for k, v in benign.drop("diagnosis").items() if k != "mean radius"}
    examples = [
        {"name": "A large, irregular tumour", "values": big},
        {"name": "A small one (radius unknown)", "values": small},
    ]
    settings = promoted(
        folder,
        sqlite_template,
        f"""
name: cancer
data: {breast_cancer_csv}
target: diagnosis
task: binary
positive_class: malignant
candidates: [{{name: linear, estimator: linear}}]
examples: {json.dumps(examples)}
""",
    ).settings
    return settings, examples


@pytest.fixture(scope="module")
def cancer_url(cancer) -> Iterator[str]:
    settings, _ = cancer
    with running(create_app(settings, "cancer")) as url:
        yield url


@pytest.fixture(scope="module")
def cancer_model(cancer):
    settings, _ = cancer
    return load_served_model(settings, "cancer")


WORDS = {
    "fire": "fire flames burning blaze ember hot smoke lava scorching ash",
    "water": "water river ocean waves rain swimming lake splash tide wet",
    "grass": "grass leaves forest seeds flowers vines moss meadow roots green",
}
FILLER = ["a", "the", "small", "creature", "that", "lives", "near", "often", "with", "big"]


@pytest.fixture(scope="module")
def texts(tmp_path_factory):
    """A store with two promoted multilabel text models on the same short texts:
    ``texttags`` (linear: explained) and ``texttrees`` (a random forest over hundreds of
    TF-IDF features: no fast explainer). Returns (folder, the CSV's path)."""
    folder = tmp_path_factory.mktemp("page-tags")
    rng = random.Random(7)
    rows = []
    for tags, count in [
        (["fire"], 16),
        (["water"], 16),
        (["grass"], 16),
        (["fire", "water"], 6),
        (["water", "grass"], 6),
        (["grass", "fire"], 6),
    ]:
        for _ in range(count):
            words = [w for t in tags for w in rng.sample(WORDS[t].split(), 4)]
            words += rng.sample(FILLER, 3)
            rng.shuffle(words)
            rows.append(
                {
                    "description": " ".join(words),
                    "tag_1": tags[0],
                    "tag_2": tags[1] if len(tags) > 1 else None,
                }
            )
    path = folder / "texts.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return folder, path


def _text_model(folder, sqlite_template, texts_csv, name: str, candidate: str) -> Settings:
    return promoted(
        folder,
        sqlite_template,
        f"""
name: {name}
data: {texts_csv}
target: [tag_1, tag_2]
task: multilabel
features: {{text: [description]}}
candidates: [{candidate}]
""",
    ).settings


@pytest.fixture(scope="module")
def tags_url(tmp_path_factory, sqlite_template, texts) -> Iterator[str]:
    """The linear text model's server, with a small body limit."""
    _, texts_csv = texts
    folder = tmp_path_factory.mktemp("page-tags-linear")
    candidate = "{name: linear, estimator: linear, params: {C: 10.0, class_weight: balanced}}"
    settings = _text_model(folder, sqlite_template, texts_csv, "texttags", candidate)
    with running(create_app(settings, "texttags", max_body_bytes=TEXT_BODY_LIMIT)) as url:
        yield url


@pytest.fixture(scope="module")
def trees_url(tmp_path_factory, sqlite_template, texts) -> Iterator[str]:
    """The random-forest text model's server: /explain answers 422."""
    _, texts_csv = texts
    folder = tmp_path_factory.mktemp("page-tags-trees")
    candidate = "{name: forest, estimator: random_forest, params: {n_estimators: 30}}"
    settings = _text_model(folder, sqlite_template, texts_csv, "texttrees", candidate)
    with running(create_app(settings, "texttrees")) as url:
        yield url


# ---------------------------------------------------------------- helpers


def _record(model, values: dict) -> dict:
    """What the page sends for an example: every input column, left-out ones as null."""
    return {c: values.get(c) for c in model.features.columns}


def _post(url: str, path: str, record: dict) -> httpx.Response:
    return httpx.post(f"{url}/{path}", json=record, timeout=30)


def _open(page: Page, url: str) -> list[str]:
    """Load the page; return the list of URLs the page requests from now on."""
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.goto(url + "/")
    return requested


# ---------------------------------------------------------------- tests


def test_the_form_has_one_field_per_input_shaped_by_the_training_profile(
    page, cancer_url, cancer_model
):
    requested = _open(page, cancer_url)
    features = cancer_model.features
    profile = cancer_model.profile["features"]
    assert "cancer — try the model" in page.title()
    expect(page.locator("h1")).to_contain_text("cancer")
    expect(page.locator(".lede")).to_contain_text("malignant or benign")
    fields = page.locator("#try-form [name]")
    assert fields.count() == len(features.columns)
    assert [fields.nth(i).get_attribute("name") for i in range(fields.count())] == list(
        features.columns
    )
    assert features.numeric and features.categorical  # both kinds are on this page
    for column in features.numeric:
        field = page.locator(f'[id="{column}"]')
        assert field.evaluate("n => n.tagName + ':' + n.type") == "INPUT:number"
        assert field.get_attribute("name") == column
        summary = profile[column]
        assert float(field.get_attribute("min")) == summary["min"]
        assert float(field.get_attribute("max")) == summary["max"]
        assert float(field.get_attribute("placeholder")) == pytest.approx(
            summary["quantiles"]["0.5"], rel=1e-5
        )
        hint = page.locator(f'[id="{field.get_attribute("aria-describedby")}"] .range')
        expect(hint).to_have_text(f"training range {summary['min']:.6g}–{summary['max']:.6g}")
        label = page.locator(f'label[for="{column}"]')
        expect(label).to_have_text(column)
    for column in features.categorical:
        field = page.locator(f'[id="{column}"]')
        assert field.evaluate("n => n.tagName") == "SELECT"
        frequencies = profile[column]["frequencies"]
        categories = sorted(
            (c for c in frequencies if c != profile[column]["missing_label"]),
            key=lambda c: -frequencies[c],
        )
        assert len(categories) == 4  # north, south, east, west; gaps are "(missing)"
        values = field.locator("option").evaluate_all("os => os.map(o => o.value)")
        assert values == ["", *categories]
        expect(field.locator("option").first).to_have_text("(missing)")
    # Example buttons, one per example, named as in the project file.
    expect(page.locator("button.example")).to_have_text([e["name"] for e in cancer_model.examples])
    # Self-contained: the page asked for nothing after the document itself.
    assert requested == [cancer_url + "/"]


def test_an_example_fills_the_form_and_shows_the_servers_answer_and_why(
    page, cancer, cancer_url, cancer_model
):
    _, examples = cancer
    _open(page, cancer_url)
    positive = "malignant"
    labels = set()
    for index, example in enumerate(examples):
        button = page.locator("button.example").nth(index)
        with (
            page.expect_request(lambda r: r.url.endswith("/predict")) as sent,
            page.expect_response(lambda r: r.url.endswith("/explain")) as explained,
        ):
            button.click()
        record = _record(cancer_model, example["values"])
        assert sent.value.post_data_json == record
        assert explained.value.status == 200
        for column, value in record.items():
            shown = page.locator(f'[id="{column}"]').input_value()
            if value is None:
                assert shown == "", column
            elif column in cancer_model.features.numeric:
                assert float(shown) == value, column
            else:
                assert shown == str(value), column

        answer = _post(cancer_url, "predict", record).json()
        prediction = answer["predictions"][0]
        label = prediction["label"]
        labels.add(label)
        probability = prediction["probabilities"][label]
        expect(page.locator("#result-label")).to_have_text(label)
        shown = page.locator("#result-probability")
        assert float(shown.get_attribute("data-value")) == probability
        expect(shown).to_contain_text(f"{probability * 100:.1f}%")
        positive_p = prediction["probabilities"][positive]
        expect(page.locator("#result-positive")).to_have_text(
            f"probability of {positive}: {positive_p * 100:.1f}%"
        )
        version = page.locator("#result-version")
        expect(version).to_contain_text(f"model cancer version {answer['version']}")
        assert version.get_attribute("data-version") == answer["version"]
        expect(page.locator("#error")).to_be_hidden()

        why = _post(cancer_url, "explain", record).json()
        expected = [c for c, v in why["contributions"].items() if v != 0][:TOP]
        assert 2 <= len(expected) <= TOP
        bars = page.locator("#explanation .bar-row")
        expect(bars).to_have_count(len(expected))
        columns = bars.evaluate_all("rows => rows.map(r => r.dataset.column)")
        assert columns == expected
        values = bars.evaluate_all("rows => rows.map(r => Number(r.dataset.value))")
        assert values == [why["contributions"][c] for c in expected]
        # Colour by sign; each bar names its column and the value sent.
        signs = bars.evaluate_all("rows => rows.map(r => r.querySelector('.bar').className)")
        assert signs == ["bar pos" if why["contributions"][c] > 0 else "bar neg" for c in expected]
        first = expected[0]
        expect(bars.first.locator(".column")).to_have_text(first)
        value = record[first]
        shown = bars.first.locator(".value").text_content().removeprefix(" = ")
        if value is None:
            assert shown == "(missing)"
        elif first in cancer_model.features.numeric:
            assert float(shown) == pytest.approx(value, rel=1e-4)  # five digits at most
        else:
            assert shown == str(value)
        expect(page.locator("#explanation-legend")).to_contain_text(f"towards {positive}")
    assert labels == {"malignant", "benign"}  # the examples show both answers


def test_errors_from_the_server_and_the_network_are_shown(page, cancer_url, cancer_model):
    requested = _open(page, cancer_url)
    column = cancer_model.features.numeric[0]
    # Text the browser lets through to a number field is the server's to refuse.
    page.locator(f'[id="{column}"]').evaluate("n => { n.type = 'text'; n.value = 'abc'; }")
    page.click("#predict")
    record = {c: None for c in cancer_model.features.columns} | {column: "abc"}
    refused = _post(cancer_url, "predict", record)
    assert 400 <= refused.status_code < 500
    problem = refused.json()["error"]
    error = page.locator("#error")
    expect(error).to_be_visible()
    expect(page.locator("#error-message")).to_have_text(problem["message"])
    expect(page.locator("#error-field")).to_have_text(f"field: {problem['field']}")
    assert error.get_attribute("data-field") == column
    expect(page.locator(f'[id="{column}"]')).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#result-label")).to_have_count(0)

    # Back to a number: the error goes and an answer comes.
    page.locator(f'[id="{column}"]').evaluate("n => { n.value = '14'; n.type = 'number'; }")
    page.click("#predict")
    expect(page.locator("#result-label")).to_be_visible()
    expect(error).to_be_hidden()

    # Typed text a number field cannot read ("1e") is refused before any request.
    other = cancer_model.features.numeric[1]
    page.locator(f'[id="{other}"]').press_sequentially("1e")
    requests_before = len(requested)
    page.click("#predict")
    expect(page.locator("#error-message")).to_have_text(f"“{other}” is not a number")
    assert error.get_attribute("data-code") == "invalid_input"
    assert error.get_attribute("data-field") == other
    assert len(requested) == requests_before
    page.locator(f'[id="{other}"]').fill("")

    # The server cannot be reached.
    page.route("**/predict", lambda route: route.abort())
    page.click("#predict")
    expect(error).to_be_visible()
    expect(page.locator("#error-message")).to_contain_text("Could not reach the server")
    assert error.get_attribute("data-code") == "network"


def test_the_version_shown_is_the_one_that_answered(page, cancer_url, cancer_model):
    # With traffic split between versions, /predict may answer from another version than
    # the one the page was rendered for: the page shows the answer's own.
    def from_version_7(route):
        response = route.fetch()
        body = response.json() | {"version": "7"}
        route.fulfill(response=response, json=body)

    _open(page, cancer_url)
    assert cancer_model.version != "7"
    page.route("**/predict", from_version_7)
    page.locator("button.example").first.click()
    version = page.locator("#result-version")
    expect(version).to_contain_text("model cancer version 7")
    assert version.get_attribute("data-version") == "7"


def test_typing_text_suggests_tags_without_a_click(page, tags_url):
    requested = _open(page, tags_url)
    field = page.locator('[id="description"]')
    assert field.evaluate("n => n.tagName") == "TEXTAREA"
    assert page.locator("#try-form [name]").count() == 1
    expect(page.locator(".lede")).to_contain_text("suggests tags")
    text = "hot flames and burning lava near the river waves"
    field.press_sequentially(text, delay=15)
    answer = _post(tags_url, "predict", {"description": text}).json()
    tags = answer["predictions"][0]["predicted_tags"]
    assert "fire" in tags
    expect(page.locator("#tags .tag")).to_have_text(tags)
    expect(page.locator("#result-version")).to_contain_text(
        f"model texttags version {answer['version']}"
    )
    predicts = [u for u in requested if u.endswith("/predict")]
    assert 1 <= len(predicts) < len(text)  # debounced: not one request per key

    # Typing on changes the answer, still without a click.
    more = " with seeds leaves and green moss"
    field.press_sequentially(more, delay=15)
    later = _post(tags_url, "predict", {"description": text + more}).json()
    later_tags = later["predictions"][0]["predicted_tags"]
    assert later_tags != tags
    expect(page.locator("#tags .tag")).to_have_text(later_tags)

    # The one input's contribution to the top tag.
    why = _post(tags_url, "explain", {"description": text + more}).json()
    bar = page.locator("#explanation .bar-row")
    expect(bar).to_have_count(1)
    expect(bar.locator(".column")).to_have_text("description")
    assert float(bar.get_attribute("data-value")) == why["contributions"]["description"]
    expect(page.locator("#explanation-legend")).to_contain_text(
        f"towards {why['explained_output']}"
    )
    expect(page.locator("#error")).to_be_hidden()


def test_a_model_without_a_fast_explainer_says_so_instead_of_a_chart(page, trees_url):
    _open(page, trees_url)
    text = "splash of rain on the lake waves"
    page.locator('[id="description"]').fill(text)
    answer = _post(trees_url, "predict", {"description": text}).json()
    why = _post(trees_url, "explain", {"description": text})
    assert why.status_code == 422
    expect(page.locator("#result-version")).to_contain_text(
        f"model texttrees version {answer['version']}"
    )
    expect(page.locator("#tags .tag")).to_have_count(
        len(answer["predictions"][0]["predicted_tags"])
    )
    note = page.locator("#explanation-note")
    expect(note).to_have_text(why.json()["error"]["message"])
    assert note.get_attribute("data-status") == "422"
    expect(page.locator("#explanation .bar-row")).to_have_count(0)
    expect(page.locator("#error")).to_be_hidden()  # not an error: the answer stands


def test_a_text_too_long_for_the_server_shows_its_refusal(page, tags_url):
    _open(page, tags_url)
    text = "fire " * (TEXT_BODY_LIMIT // 4)
    page.locator('[id="description"]').fill(text)  # as a paste: one input event
    refused = _post(tags_url, "predict", {"description": text})
    assert refused.status_code == 413
    problem = refused.json()["error"]
    expect(page.locator("#error-message")).to_have_text(problem["message"])
    expect(page.locator("#error-field")).to_have_text("field: body")
    expect(page.locator("#tags")).to_have_count(0)


def test_model_derived_strings_are_escaped(page, cancer_model):
    hostile = "</script><script>window.pwned = 1</script><b>x</b>"
    column = cancer_model.features.categorical[0]
    profile = json.loads(json.dumps(cancer_model.profile))
    profile["features"][column]["frequencies"] = {hostile: 0.9, "ok": 0.1}
    model = dataclasses.replace(
        cancer_model,
        profile=profile,
        examples=[{"name": hostile, "values": {column: hostile}}],
    )
    page.set_content(render_page(model))
    assert page.evaluate("window.pwned") is None
    expect(page.locator("button.example")).to_have_text(hostile)
    options = page.locator(f'[id="{column}"] option')
    assert options.evaluate_all("os => os.map(o => o.value)") == ["", hostile, "ok"]
    assert page.locator("b").count() == 0
    # The example's data survived the trip through the page's JSON intact.
    assert page.evaluate("JSON.parse(document.getElementById('model-data').textContent)")[
        "examples"
    ] == [{"name": hostile, "values": {column: hostile}}]


def test_the_page_loads_nothing_from_elsewhere(cancer_model):
    html = render_page(cancer_model)
    # Every src/href/url() on the page is local: no scheme, no protocol-relative URL.
    assert re.findall(r"""(?:src|href)\s*=\s*["']?\s*(?:[a-z]+:)?//""", html, re.I) == []
    assert re.findall(r"""url\(\s*["']?\s*(?:[a-z]+:)?//""", html, re.I) == []
    assert "<link" not in html and "<script src" not in html
    # The CSS and the script are inlined from the package's static files.
    assert ".bar-row {" in html and '"use strict";' in html


def test_a_binary_answer_draws_the_line_the_probability_must_cross(
    page, cancer, cancer_url, cancer_model
):
    _, examples = cancer
    threshold = cancer_model.decision_threshold
    assert threshold is not None
    _open(page, cancer_url)
    expect(page.locator("#decision-threshold")).to_contain_text(f"at least {threshold:.1%}")
    for index, example in enumerate(examples):
        with page.expect_response(lambda r: r.url.endswith("/predict")):
            page.locator("button.example").nth(index).click()
        prediction = _post(cancer_url, "predict", _record(cancer_model, example["values"]))
        answer = prediction.json()["predictions"][0]
        positive = answer["probabilities"]["malignant"]
        box = page.locator("#result-threshold")
        expect(box).to_have_attribute("data-crossed", str(positive >= threshold).lower())
        assert float(box.get_attribute("data-value")) == threshold
        left = box.locator(".threshold-line").evaluate("n => n.style.left")
        # The browser keeps 6 significant digits of a style length.
        assert float(left.removesuffix("%")) == pytest.approx(threshold * 100, abs=1e-3)
        assert (answer["label"] == "malignant") == (positive >= threshold)
        expect(box).to_contain_text(f"says malignant from {threshold * 100:.1f}%")
