"""The try-it page at ``GET /``: one self-contained HTML document for a served model.

The form is generated from the model's inputs and its training profile (ranges,
categories, vocabulary); example buttons come from the project's ``examples``. The
page's own script calls ``POST /predict`` and then ``POST /explain`` for the same
record, and shows the answer (label and probability, value, or tags) with a bar chart
of the SHAP contributions. Models with a text input predict as the user types.

This module is the page's view model: it computes what the page shows (the sentence,
the fields and their hints, the examples, the data for the script) and renders
``templates/page.html``, which inlines ``static/page.css`` and ``static/page.js`` (see
:mod:`champion.templating`). Nothing is loaded from elsewhere (the page works on a
machine with no internet), and every model-derived string is escaped by Jinja2's
autoescape in markup and by its ``tojson`` filter in the ``<script
type="application/json">`` block.

Imports from champion: :mod:`champion.templating`, :mod:`champion.project.categories`
and :mod:`champion.serving.model`.

Elements the tests (and anyone scripting the page) rely on: one form field per input
column with ``id`` and ``name`` equal to the column name; ``#result-label``,
``#result-probability`` (``data-value``: the predicted class's probability),
``#result-positive``, ``#result-threshold`` (``data-value``: the decision threshold,
``data-crossed``; a ``.threshold-line`` on the probability's meter),
``#decision-threshold`` (the sentence under the title, ``data-value``),
``#probabilities``, ``#result-value``, ``#tags`` (``.tag`` chips),
``#result-version`` (``data-version``), ``#explanation`` (``.bar-row`` rows with
``data-column`` and ``data-value``), ``#explanation-note`` and ``#error``
(``data-field``, ``data-code``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

from champion.project.categories import MISSING, canonical_category
from champion.serving.model import ServedModel
from champion.templating import environment

TOP_CONTRIBUTIONS = 10
HINT_WORDS = 8


@dataclass(frozen=True)
class Field:
    """One form field as ``templates/page.html`` draws it.

    Attributes:
        name: the input column (the element's ``id`` and ``name``).
        kind: numeric, categorical, ordinal or text (the ``data-kind``).
        widget: ``numeric``, ``select``, ``textarea`` or ``free_text`` (a categorical
            column with no profile: the model encodes any text).
        hint_id: the id of the hint under the field.
        hint: the hint's text (select and textarea).
        options: (value, text) per choice of a select, in order.
        low, high: a numeric column's training range as attribute values (``repr`` of
            the float: exact), or None when the profile lacks it.
        low_text, high_text: the same, short, for people.
        median_text: a numeric column's training median, short ("" when unknown).
    """

    name: str
    kind: str
    widget: str
    hint_id: str
    hint: str = ""
    options: tuple[tuple[str, str], ...] = ()
    low: str | None = None
    high: str | None = None
    low_text: str = ""
    high_text: str = ""
    median_text: str = ""


def render_page(model: ServedModel) -> str:
    """The HTML of the try-it page for ``model``."""
    columns = model.features.columns
    live = bool(model.features.text)
    rows = model.profile.get("rows")
    return (
        environment("champion.serving")
        .get_template("page.html")
        .render(
            title=f"{model.name} — try the model",
            name=model.name,
            alias=model.alias,
            version=model.version,
            task=model.task,
            sentence=_sentence(model),
            threshold=model.decision_threshold,
            threshold_line=_threshold_line(model),
            trained_on=f" Trained on {rows:,} rows." if isinstance(rows, int) else "",
            examples=[
                example.get("name", f"example {index + 1}")
                for index, example in enumerate(model.examples)
            ],
            fields=[_field(model, column, index) for index, column in enumerate(columns)],
            button_hint=(
                "Predictions update as you type."
                if live
                else "Press Predict (or Enter) to ask the model."
            ),
            placeholder=_placeholder(model),
            data=_jsonable(
                {
                    "name": model.name,
                    "version": model.version,
                    "alias": model.alias,
                    "task": model.task,
                    "positive_class": _text_or_none(model.positive_class),
                    "decision_threshold": model.decision_threshold,
                    "columns": [{"name": c, "kind": model.features.kind_of(c)} for c in columns],
                    "examples": model.examples,
                    "live": live,
                    "top": TOP_CONTRIBUTIONS,
                }
            ),
        )
    )


def _text_or_none(value) -> str | None:
    return None if value is None else canonical_category(value)


def _number(value: float) -> str:
    """A short, readable number for hints: six significant digits."""
    return format(float(value), ".6g")


def _sentence(model: ServedModel) -> str:
    """One sentence saying what the model predicts."""
    classes = [canonical_category(c) for c in model.classes]
    if model.task == "binary" and len(classes) == 2:
        positive = _text_or_none(model.positive_class) or classes[-1]
        other = next((c for c in classes if c != positive), classes[0])
        return (
            f"Fill in the inputs and the model says whether it is {positive} or {other}, "
            f"and how likely {positive} is."
        )
    if model.task in ("binary", "multiclass") and classes:
        shown = ", ".join(classes[:6]) + (", …" if len(classes) > 6 else "")
        return (
            f"Fill in the inputs and the model says which of {len(classes)} classes it is "
            f"({shown}), with the probability of each."
        )
    if model.task == "regression":
        return "Fill in the inputs and the model predicts a number."
    if model.task == "multilabel":
        tags = ", ".join(model.tags[:8]) + (", …" if len(model.tags) > 8 else "")
        start = "Type some text" if model.features.text else "Fill in the inputs"
        suffix = f" (from {tags})" if tags else ""
        return f"{start} and the model suggests tags{suffix}, as you type."
    return "Fill in the inputs and ask the model."


def _threshold_line(model: ServedModel) -> str:
    """The line the probability must cross, in words ("" without a threshold)."""
    if model.decision_threshold is None:
        return ""
    positive = _text_or_none(model.positive_class)
    return (
        f"The model says {positive} when the probability of {positive} is at least "
        f"{model.decision_threshold:.1%} (its decision threshold)."
    )


def _placeholder(model: ServedModel) -> str:
    if model.features.text:
        return "Start typing and the prediction appears here."
    if model.examples:
        return "Pick an example or fill in the form, then press Predict."
    return "Fill in the form, then press Predict."


def _field(model: ServedModel, column: str, index: int) -> Field:
    kind = model.features.kind_of(column)
    summary = (model.profile.get("features") or {}).get(column) or {}
    hint_id = f"hint-{index}"
    if kind == "numeric":
        return _numeric(column, hint_id, summary)
    if kind == "text":
        return _textarea(column, hint_id, summary)
    if kind == "ordinal":
        categories = [canonical_category(c) for c in model.features.ordinal[column]]
        hint = "ordered: " + " < ".join(categories) if categories else ""
        options = tuple((c, c) for c in categories)
        return Field(column, "ordinal", "select", hint_id, hint, options)
    frequencies = summary.get("frequencies") or {}
    missing = summary.get("missing_label", MISSING)
    ranked = sorted(
        ((str(c), float(f)) for c, f in frequencies.items() if c != missing),
        key=lambda item: -item[1],
    )
    if not ranked:  # no profile (an older model): free text, the model encodes it
        return Field(column, "categorical", "free_text", hint_id)
    options = tuple((c, f"{c} · {_share(f)}") for c, f in ranked)
    return Field(column, "categorical", "select", hint_id, "most frequent first", options)


def _share(fraction: float) -> str:
    percent = fraction * 100
    return f"{percent:.0f}%" if percent >= 1 else "<1%"


def _numeric(column: str, hint_id: str, summary: dict) -> Field:
    low, high = summary.get("min"), summary.get("max")
    median = (summary.get("quantiles") or {}).get("0.5")
    bounded = _finite(low) and _finite(high)
    return Field(
        column,
        "numeric",
        "numeric",
        hint_id,
        low=repr(float(low)) if bounded else None,
        high=repr(float(high)) if bounded else None,
        low_text=_number(low) if bounded else "",
        high_text=_number(high) if bounded else "",
        median_text=_number(median) if _finite(median) else "",
    )


def _textarea(column: str, hint_id: str, summary: dict) -> Field:
    vocabulary = summary.get("vocabulary") or {}
    words = [w for w in vocabulary if w not in ENGLISH_STOP_WORDS][:HINT_WORDS]
    hint = f"common words in training: {', '.join(words)}" if words else "free text"
    return Field(column, "text", "textarea", hint_id, hint)


def _finite(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _jsonable(value):
    """``value`` with NaN and infinities as None (JSON has neither)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value
