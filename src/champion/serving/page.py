"""The try-it page at ``GET /``: one self-contained HTML document for a served model.

The form is generated from the model's inputs and its training profile (ranges,
categories, vocabulary); example buttons come from the project's ``examples``. The
page's own script calls ``POST /predict`` and then ``POST /explain`` for the same
record, and shows the answer (label and probability, value, or tags) with a bar chart
of the SHAP contributions. Models with a text input predict as the user types.

Nothing is loaded from elsewhere (the page works on a machine with no internet), and
every model-derived string is escaped: ``html.escape`` in markup, and JSON with ``<``,
``>`` and ``&`` escaped inside the ``<script type="application/json">`` block.

Elements the tests (and anyone scripting the page) rely on: one form field per input
column with ``id`` and ``name`` equal to the column name; ``#result-label``,
``#result-probability`` (``data-value``: the predicted class's probability),
``#result-positive``, ``#probabilities``, ``#result-value``, ``#tags`` (``.tag`` chips),
``#result-version`` (``data-version``), ``#explanation`` (``.bar-row`` rows with
``data-column`` and ``data-value``), ``#explanation-note`` and ``#error``
(``data-field``, ``data-code``).
"""

from __future__ import annotations

import html
import json
import math

from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

from champion.project.transformers import MISSING, canonical_category
from champion.serving.model import ServedModel

TOP_CONTRIBUTIONS = 10
HINT_WORDS = 8


def render_page(model: ServedModel) -> str:
    """The HTML of the try-it page for ``model``."""
    columns = model.features.columns
    fields = "\n".join(_field(model, column, index) for index, column in enumerate(columns))
    examples = "".join(
        f'<button type="button" class="example" data-example="{index}">'
        f"{_e(example.get('name', f'example {index + 1}'))}</button>"
        for index, example in enumerate(model.examples)
    )
    examples_block = (
        f'<div class="examples" id="examples"><span class="examples-title">Try an example:</span>'
        f"{examples}</div>"
        if examples
        else ""
    )
    live = bool(model.features.text)
    data = {
        "name": model.name,
        "version": model.version,
        "alias": model.alias,
        "task": model.task,
        "positive_class": _text_or_none(model.positive_class),
        "columns": [{"name": c, "kind": model.features.kind_of(c)} for c in columns],
        "examples": model.examples,
        "live": live,
        "top": TOP_CONTRIBUTIONS,
    }
    title = f"{model.name} — try the model"
    rows = model.profile.get("rows")
    trained_on = f" Trained on {rows:,} rows." if isinstance(rows, int) else ""
    button_hint = (
        "Predictions update as you type." if live else "Press Predict (or Enter) to ask the model."
    )
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{_e(title)}</title>
<style>{_CSS}</style>
</head>
<body>
<header class="top">
  <div class="wrap">
    <p class="eyebrow">champion · <span id="served">{_e(model.name)}@{_e(model.alias)}</span>
      · version {_e(model.version)} · {_e(model.task)}</p>
    <h1>{_e(model.name)} <span class="dash">—</span> try the model</h1>
    <p class="lede">{_e(_sentence(model))}{_e(trained_on)}</p>
  </div>
</header>
<main class="wrap grid">
  <section class="card" aria-labelledby="inputs-title">
    <h2 id="inputs-title">Inputs</h2>
    {examples_block}
    <!-- novalidate: min/max on the number inputs come from the training profile and
         are a hint (spinner bounds, :out-of-range styling), not a rule. A value outside
         the training range is still a valid question for the model, so the browser
         must not block it; only text in a number field is refused, by the script. -->
    <form id="try-form" novalidate autocomplete="off">
      <div class="fields">
{fields}
      </div>
      <div class="actions">
        <button type="submit" id="predict" class="primary">Predict</button>
        <button type="button" id="clear" class="ghost">Clear</button>
        <span class="muted">{_e(button_hint)}</span>
      </div>
    </form>
  </section>
  <section class="card result-card" aria-live="polite" aria-labelledby="result-title">
    <h2 id="result-title">Prediction</h2>
    <div id="error" class="error" role="alert" hidden></div>
    <div id="result" class="result" data-state="idle">
      <p class="placeholder">{_e(_placeholder(model))}</p>
    </div>
    <div id="explanation-box" hidden>
      <h3 id="explanation-title">Why?</h3>
      <p id="explanation-legend" class="legend"></p>
      <div id="explanation" class="chart"></div>
      <p id="explanation-note" class="note" hidden></p>
    </div>
  </section>
</main>
<footer class="wrap muted small">Served by champion. Answers come from
<code>POST /predict</code> and <code>POST /explain</code> on this server.</footer>
<script type="application/json" id="model-data">{_script_json(data)}</script>
<script>{_JS}</script>
</body>
</html>
"""


def _e(value) -> str:
    return html.escape(str(value), quote=True)


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


def _placeholder(model: ServedModel) -> str:
    if model.features.text:
        return "Start typing and the prediction appears here."
    if model.examples:
        return "Pick an example or fill in the form, then press Predict."
    return "Fill in the form, then press Predict."


def _field(model: ServedModel, column: str, index: int) -> str:
    kind = model.features.kind_of(column)
    summary = (model.profile.get("features") or {}).get(column) or {}
    name = _e(column)
    hint_id = f"hint-{index}"
    label = f'<label for="{name}">{name}</label>'
    if kind == "numeric":
        return _numeric(name, label, hint_id, summary)
    if kind == "text":
        return _textarea(name, label, hint_id, summary)
    if kind == "ordinal":
        categories = [canonical_category(c) for c in model.features.ordinal[column]]
        options = [(c, c) for c in categories]
        hint = "ordered: " + " < ".join(categories) if categories else ""
        return _select(name, label, hint_id, "ordinal", options, hint)
    frequencies = summary.get("frequencies") or {}
    missing = summary.get("missing_label", MISSING)
    ranked = sorted(
        ((str(c), float(f)) for c, f in frequencies.items() if c != missing),
        key=lambda item: -item[1],
    )
    if not ranked:  # no profile (an older model): free text, the model encodes it
        return (
            f'<div class="field" data-kind="categorical">{label}'
            f'<input type="text" id="{name}" name="{name}" data-kind="categorical"></div>'
        )
    options = [(c, f"{c} · {_share(f)}") for c, f in ranked]
    return _select(name, label, hint_id, "categorical", options, "most frequent first")


def _share(fraction: float) -> str:
    percent = fraction * 100
    return f"{percent:.0f}%" if percent >= 1 else "<1%"


def _numeric(name: str, label: str, hint_id: str, summary: dict) -> str:
    low, high = summary.get("min"), summary.get("max")
    median = (summary.get("quantiles") or {}).get("0.5")
    attributes = ['step="any"']
    hints = []
    if _finite(low) and _finite(high):
        attributes += [
            f'min="{float(low)!r}"',
            f'max="{float(high)!r}"',
            f'data-min="{float(low)!r}"',
            f'data-max="{float(high)!r}"',
        ]
        hints.append(f'<span class="range">training range {_number(low)}–{_number(high)}</span>')
    if _finite(median):
        attributes.append(f'placeholder="{_number(median)}"')
        hints.append(f'<span class="median">median {_number(median)}</span>')
    hints.append('<span class="outside">outside the training range: the model extrapolates</span>')
    return (
        f'<div class="field" data-kind="numeric">{label}'
        f'<input type="number" id="{name}" name="{name}" inputmode="decimal" '
        f'data-kind="numeric" aria-describedby="{hint_id}" {" ".join(attributes)}>'
        f'<p class="hint" id="{hint_id}">{" · ".join(hints[:-1])}{hints[-1]}</p></div>'
    )


def _select(
    name: str, label: str, hint_id: str, kind: str, options: list[tuple[str, str]], hint: str
) -> str:
    items = "".join(f'<option value="{_e(v)}">{_e(text)}</option>' for v, text in options)
    return (
        f'<div class="field" data-kind="{kind}">{label}'
        f'<select id="{name}" name="{name}" data-kind="{kind}" aria-describedby="{hint_id}">'
        f'<option value="">(missing)</option>{items}</select>'
        f'<p class="hint" id="{hint_id}">{_e(hint)}</p></div>'
    )


def _textarea(name: str, label: str, hint_id: str, summary: dict) -> str:
    vocabulary = summary.get("vocabulary") or {}
    words = [w for w in vocabulary if w not in ENGLISH_STOP_WORDS][:HINT_WORDS]
    hint = f"common words in training: {', '.join(words)}" if words else "free text"
    return (
        f'<div class="field wide" data-kind="text">{label}'
        f'<textarea id="{name}" name="{name}" rows="4" data-kind="text" '
        f'aria-describedby="{hint_id}" placeholder="Type here…"></textarea>'
        f'<p class="hint" id="{hint_id}">{_e(hint)}</p></div>'
    )


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


def _script_json(value) -> str:
    """JSON safe inside a ``<script>`` element: no ``</script>``, no ``<!--``."""
    text = json.dumps(_jsonable(value), default=str, allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


_CSS = """
:root {
  --bg: #f4f5fb; --card: #fff; --ink: #1d2233; --muted: #636b83; --line: #e3e6f0;
  --accent: #4656d8; --accent-soft: #e9ebfd; --pos: #e8590c; --neg: #1c7ed6;
  --good: #2b8a3e; --bad: #c92a2a; --bad-soft: #fff0f0; --warn: #b7791f;
  font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
  color: var(--ink); background: var(--bg);
}
* { box-sizing: border-box; }
body { margin: 0; line-height: 1.45; }
.wrap { max-width: 1180px; margin: 0 auto; padding: 0 24px; }
.top { background: linear-gradient(120deg, #3442c4, #6a4fd8); color: #fff; padding: 28px 0 30px; }
.top h1 { margin: 4px 0 6px; font-size: 2rem; letter-spacing: -0.01em; word-break: break-word; }
.top .dash { opacity: 0.7; font-weight: 400; }
.eyebrow { margin: 0; opacity: 0.85; font-size: 0.9rem; }
.lede { margin: 0; font-size: 1.08rem; opacity: 0.95; max-width: 60em; }
.grid { display: grid; grid-template-columns: minmax(0, 1.25fr) minmax(0, 1fr); gap: 22px;
  margin-top: -14px; align-items: start; }
.card { background: var(--card); border-radius: 14px; padding: 20px 22px 22px;
  box-shadow: 0 1px 2px rgba(20, 25, 60, .06), 0 6px 24px rgba(20, 25, 60, .07); }
.result-card { position: sticky; top: 16px; }
@media (max-width: 860px) {
  .grid { grid-template-columns: 1fr; }
  .result-card { position: static; }
}
h2 { margin: 0 0 12px; font-size: 1.15rem; }
h3 { margin: 18px 0 4px; font-size: 1rem; }
.examples { display: flex; flex-wrap: wrap; gap: 8px; align-items: center; margin-bottom: 14px; }
.examples-title { color: var(--muted); font-size: 0.9rem; margin-right: 2px; }
button { font: inherit; cursor: pointer; border-radius: 9px; }
button.example { border: 1px solid #cfd4f6; background: var(--accent-soft); color: #2f3bb0;
  padding: 5px 12px; font-size: 0.92rem; }
button.example:hover { background: #dde1fc; }
.fields { display: grid; grid-template-columns: repeat(auto-fill, minmax(210px, 1fr));
  gap: 12px 16px; }
.field { display: flex; flex-direction: column; min-width: 0; }
.field.wide { grid-column: 1 / -1; }
.field label { font-weight: 600; font-size: 0.9rem; margin-bottom: 3px; word-break: break-word; }
input, select, textarea { font: inherit; border: 1px solid #cdd2e1; border-radius: 8px;
  padding: 7px 9px; background: #fff; color: var(--ink); width: 100%; }
textarea { resize: vertical; min-height: 90px; }
input:focus, select:focus, textarea:focus { outline: 2px solid var(--accent); outline-offset: 0;
  border-color: var(--accent); }
input:out-of-range { border-color: var(--warn); background: #fffaf0; }
.hint { margin: 3px 0 0; color: var(--muted); font-size: 0.78rem; }
.hint .outside { display: none; color: var(--warn); }
input:out-of-range + .hint .outside { display: block; }
[aria-invalid="true"] { border-color: var(--bad); background: var(--bad-soft); }
.actions { display: flex; gap: 10px; align-items: center; margin-top: 18px; flex-wrap: wrap; }
button.primary { background: var(--accent); color: #fff; border: 0; padding: 9px 22px;
  font-weight: 600; }
button.primary:hover { background: #3645c6; }
button.ghost { background: transparent; border: 1px solid #cdd2e1; padding: 8px 14px; }
.muted { color: var(--muted); }
.small { font-size: 0.85rem; padding-top: 18px; padding-bottom: 28px; }
.placeholder { color: var(--muted); margin: 6px 0; }
.result.busy { opacity: 0.55; transition: opacity .15s; }
.label-line { font-size: 0.9rem; color: var(--muted); margin: 0; }
.label { font-size: 2rem; font-weight: 700; margin: 0 0 2px; word-break: break-word; }
.big { font-size: 3rem; font-weight: 750; line-height: 1.05; letter-spacing: -0.02em; }
.big small { font-size: 1rem; font-weight: 500; color: var(--muted); letter-spacing: 0; }
.meter { height: 12px; border-radius: 6px; background: #edf0f7; overflow: hidden;
  margin: 8px 0 6px; }
.meter > div { height: 100%; background: var(--accent); border-radius: 6px; }
.sub { margin: 6px 0; }
.probs { list-style: none; padding: 0; margin: 12px 0 0; }
.probs li { display: grid; grid-template-columns: minmax(60px, 9em) 1fr 4.2em; gap: 8px;
  align-items: center; margin: 4px 0; font-size: 0.92rem; }
.probs li .name { overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.probs li .meter { margin: 0; height: 9px; }
.probs li.chosen .name { font-weight: 700; }
.probs li .pct { text-align: right; font-variant-numeric: tabular-nums; }
.tags { display: flex; flex-wrap: wrap; gap: 8px; margin: 8px 0 4px; min-height: 34px; }
.tag { background: var(--accent-soft); color: #2f3bb0; border: 1px solid #cfd4f6;
  border-radius: 999px; padding: 4px 14px; font-weight: 600; }
.version { margin: 14px 0 0; color: var(--muted); font-size: 0.85rem; }
.version code { background: #f0f1f7; padding: 1px 6px; border-radius: 5px; }
.error { border: 1px solid #f1b4b4; background: var(--bad-soft); color: #8a1c1c;
  border-radius: 10px; padding: 10px 12px; margin-bottom: 12px; }
.error .field-name { display: block; font-size: 0.85rem; margin-top: 3px; color: #a33; }
.legend { margin: 0 0 8px; color: var(--muted); font-size: 0.85rem; }
.legend .key { white-space: nowrap; margin-right: 10px; }
.legend .base { display: block; }
.swatch { display: inline-block; width: 10px; height: 10px; border-radius: 2px;
  margin-right: 5px; }
.chart { display: flex; flex-direction: column; gap: 5px; }
.bar-row { display: grid; grid-template-columns: minmax(0, 1.2fr) minmax(0, 1fr) 4.6em;
  gap: 8px; align-items: center; font-size: 0.85rem; }
.bar-label { overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.bar-label .value { color: var(--muted); }
.bar-track { position: relative; height: 14px; background: #f3f4f9; border-radius: 3px; }
.bar-track::before { content: ""; position: absolute; left: 50%; top: -2px; bottom: -2px;
  border-left: 1px solid #b9bfd3; }
.bar { position: absolute; top: 0; bottom: 0; border-radius: 3px; }
.bar.pos { left: 50%; background: var(--pos); }
.bar.neg { right: 50%; background: var(--neg); }
.bar-num { text-align: right; font-variant-numeric: tabular-nums; }
.note { color: var(--muted); background: #f6f7fb; border-radius: 8px; padding: 8px 10px;
  font-size: 0.88rem; }
"""

_JS = r"""
(function () {
  "use strict";
  var model = JSON.parse(document.getElementById("model-data").textContent);
  var form = document.getElementById("try-form");
  var result = document.getElementById("result");
  var errorBox = document.getElementById("error");
  var explanationBox = document.getElementById("explanation-box");
  var chart = document.getElementById("explanation");
  var note = document.getElementById("explanation-note");
  var legend = document.getElementById("explanation-legend");
  var latest = 0;      // the newest request; answers to older ones are dropped
  var timer = null;

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }
  function input(column) { return document.getElementById(column); }
  function percent(p) { return (p * 100).toFixed(1) + "%"; }
  function short(x) {
    if (typeof x !== "number") return String(x);
    if (x === 0) return "0";
    return String(Number(x.toPrecision(3)));
  }
  function signed(x) { return (x > 0 ? "+" : x < 0 ? "−" : "") + short(Math.abs(x)); }
  // The model's spelling of a category: 1, 1.0 and "1" are all "1"; True is "True".
  function canonical(v) {
    if (v === true) return "True";
    if (v === false) return "False";
    return String(v);
  }

  function FieldError(field, message) { this.field = field; this.message = message; }

  // The record /predict gets: one value per input column; empty fields are null.
  function readRecord() {
    var record = {};
    model.columns.forEach(function (c) {
      var node = input(c.name);
      if (c.kind === "numeric") {
        if (node.validity && node.validity.badInput) {
          throw new FieldError(c.name, "“" + c.name + "” is not a number");
        }
        var raw = node.value.trim();
        var n = Number(raw);
        // Text the browser let through goes to the server as is: it says what is wrong.
        record[c.name] = raw === "" ? null : (Number.isFinite(n) ? n : raw);
      } else {
        record[c.name] = node.value === "" ? null : node.value;
      }
    });
    return record;
  }

  function fill(values) {
    model.columns.forEach(function (c) {
      var node = input(c.name);
      var v = values ? values[c.name] : null;
      if (v === null || v === undefined) { node.value = ""; return; }
      if (node.tagName === "SELECT") {
        var s = canonical(v);
        var known = Array.prototype.some.call(node.options, function (o) { return o.value === s; });
        if (!known) node.appendChild(el("option", {value: s}, s + " (not seen in training)"));
        node.value = s;
      } else {
        node.value = typeof v === "string" || typeof v === "number" ? String(v)
          : JSON.stringify(v);
      }
    });
  }

  function clearError() {
    errorBox.hidden = true;
    errorBox.textContent = "";
    errorBox.removeAttribute("data-field");
    errorBox.removeAttribute("data-code");
    Array.prototype.forEach.call(form.querySelectorAll("[aria-invalid]"), function (n) {
      n.removeAttribute("aria-invalid");
    });
  }

  function showError(message, field, code) {
    errorBox.textContent = "";
    errorBox.appendChild(el("strong", {id: "error-message"}, message));
    if (field) {
      var where = el("span", {"class": "field-name", id: "error-field"}, "field: " + field);
      errorBox.appendChild(where);
      errorBox.setAttribute("data-field", field);
      var node = input(field);
      if (node && form.contains(node)) node.setAttribute("aria-invalid", "true");
    }
    errorBox.setAttribute("data-code", code || "error");
    errorBox.hidden = false;
    result.textContent = "";
    result.setAttribute("data-state", "error");
    explanationBox.hidden = true;
  }

  // POST a record; resolve to the JSON body, or reject with {message, field, code, status}.
  function post(path, record) {
    return fetch(path, {
      method: "POST",
      headers: {"Content-Type": "application/json", "Accept": "application/json"},
      body: JSON.stringify(record)
    }).then(function (response) {
      return response.text().then(function (text) {
        var body = null;
        try { body = JSON.parse(text); } catch (e) { body = null; }
        if (response.ok && body) return body;
        var problem = body && body.error ? body.error : {};
        return Promise.reject({
          status: response.status,
          code: problem.code || "http_" + response.status,
          field: problem.field || null,
          message: problem.message || ("The server answered HTTP " + response.status +
            (response.statusText ? " " + response.statusText : "") + ".")
        });
      });
    }, function (e) {
      return Promise.reject({
        status: 0, code: "network", field: null,
        message: "Could not reach the server (" +
          (e && e.message ? e.message : "network error") + ")."
      });
    });
  }

  function run() {
    if (timer) { clearTimeout(timer); timer = null; }
    var record;
    try {
      record = readRecord();
    } catch (e) {
      if (!(e instanceof FieldError)) throw e;
      latest += 1;
      showError(e.message, e.field, "invalid_input");
      return;
    }
    var seq = ++latest;
    clearError();
    result.classList.add("busy");
    post("predict", record).then(function (body) {
      if (seq !== latest) return;
      result.classList.remove("busy");
      showResult(body, record);
      explain(record, seq);
    }, function (problem) {
      if (seq !== latest) return;
      result.classList.remove("busy");
      showError(problem.message, problem.field, problem.code);
    });
  }

  function meter(p) {
    var box = el("div", {"class": "meter", role: "img", "aria-label": percent(p)});
    var fillBar = el("div", {});
    fillBar.style.width = Math.max(0, Math.min(100, p * 100)) + "%";
    box.appendChild(fillBar);
    return box;
  }

  function showResult(body, record) {
    var answer = (body.predictions || [])[0] || {};
    result.textContent = "";
    result.setAttribute("data-state", "done");
    if (model.task === "regression" || ("value" in answer && !("label" in answer))) {
      result.appendChild(el("p", {"class": "label-line"}, "predicted value"));
      result.appendChild(el("div", {"class": "big", id: "result-value",
        "data-value": String(answer.value)}, String(Number(Number(answer.value).toPrecision(6)))));
    } else if (model.task === "multilabel" || "predicted_tags" in answer) {
      var tags = answer.predicted_tags || [];
      result.appendChild(el("p", {"class": "label-line"},
        tags.length ? "suggested tags" : "no tag suggested"));
      var chips = el("div", {"class": "tags", id: "tags", "data-count": String(tags.length)});
      tags.forEach(function (t) { chips.appendChild(el("span", {"class": "tag"}, t)); });
      result.appendChild(chips);
    } else {
      var label = canonical(answer.label);
      var probabilities = answer.probabilities || {};
      result.appendChild(el("p", {"class": "label-line"}, "the model says"));
      result.appendChild(el("p", {"class": "label", id: "result-label", "data-value": label},
        label));
      if (label in probabilities) {
        var p = probabilities[label];
        var big = el("div", {"class": "big", id: "result-probability", "data-value": String(p)},
          percent(p));
        big.appendChild(document.createTextNode(" "));
        big.appendChild(el("small", {}, "sure"));
        result.appendChild(big);
        result.appendChild(meter(p));
      }
      var positive = model.positive_class;
      if (model.task === "binary" && positive !== null && positive in probabilities) {
        result.appendChild(el("p", {"class": "sub", id: "result-positive",
          "data-value": String(probabilities[positive])},
          "probability of " + positive + ": " + percent(probabilities[positive])));
      }
      if (model.task === "multiclass") {
        var ranked = Object.keys(probabilities).sort(function (a, b) {
          return probabilities[b] - probabilities[a];
        }).slice(0, 5);
        var list = el("ul", {"class": "probs", id: "probabilities"});
        ranked.forEach(function (name) {
          var item = el("li", {"data-class": name, "data-value": String(probabilities[name])});
          if (name === label) item.className = "chosen";
          item.appendChild(el("span", {"class": "name", title: name}, name));
          item.appendChild(meter(probabilities[name]));
          item.appendChild(el("span", {"class": "pct"}, percent(probabilities[name])));
          list.appendChild(item);
        });
        result.appendChild(list);
      }
    }
    var version = el("p", {"class": "version", id: "result-version",
      "data-version": String(body.version)});
    version.appendChild(
      document.createTextNode("model " + body.model + " version " + body.version));
    if (body.alias) version.appendChild(el("span", {}, " (@" + body.alias + ")"));
    result.appendChild(version);
  }

  function explain(record, seq) {
    explanationBox.hidden = false;
    chart.textContent = "";
    chart.setAttribute("data-state", "loading");
    note.hidden = true;
    legend.hidden = false;
    legend.textContent = "Working out which inputs mattered…";
    post("explain", record).then(function (body) {
      if (seq !== latest) return;
      drawChart(body, record);
    }, function (problem) {
      if (seq !== latest) return;
      // A model without a fast explainer answers 422: say so, it is not an error.
      chart.setAttribute("data-state", "none");
      legend.textContent = "";
      legend.hidden = true;
      note.textContent = problem.status === 422 ? problem.message
        : "No explanation: " + problem.message;
      note.setAttribute("data-status", String(problem.status));
      note.hidden = false;
    });
  }

  function shown(value) {
    if (value === null || value === undefined) return "(missing)";
    var s = String(value);
    if (typeof value === "number" && s.length > 8) s = String(Number(value.toPrecision(5)));
    return s.length > 28 ? s.slice(0, 27) + "…" : s;
  }

  function drawChart(body, record) {
    var contributions = body.contributions || {};
    var entries = Object.keys(contributions).map(function (k) { return [k, contributions[k]]; })
      .filter(function (e) { return e[1] !== 0; });
    // The server orders by |value|; a stable sort keeps that order and protects it from
    // JavaScript moving integer-like keys first.
    entries.sort(function (a, b) { return Math.abs(b[1]) - Math.abs(a[1]); });
    entries = entries.slice(0, model.top);
    var largest = entries.reduce(function (m, e) { return Math.max(m, Math.abs(e[1])); }, 0) || 1;
    var target = body.explained_output;
    var towards = model.task === "regression" ? "raises the prediction"
      : "pushes towards " + target;
    var away = model.task === "regression" ? "lowers it" : "away from " + target;
    legend.textContent = "";
    [["var(--pos)", towards], ["var(--neg)", away]].forEach(function (key) {
      var item = el("span", {"class": "key"});
      var swatch = el("span", {"class": "swatch"});
      swatch.style.background = key[0];
      item.appendChild(swatch);
      item.appendChild(document.createTextNode(key[1]));
      legend.appendChild(item);
    });
    legend.appendChild(el("span", {"class": "base"}, "Each bar is an input's SHAP " +
      "contribution, starting from a base of " + signed(body.base_value) + "."));
    chart.textContent = "";
    entries.forEach(function (entry) {
      var column = entry[0], value = entry[1];
      var row = el("div", {"class": "bar-row", "data-column": column, "data-value": String(value)});
      var name = el("span", {"class": "bar-label", title: column + " = " + shown(record[column])});
      name.appendChild(el("span", {"class": "column"}, column));
      name.appendChild(el("span", {"class": "value"}, " = " + shown(record[column])));
      var track = el("span", {"class": "bar-track"});
      var bar = el("span", {"class": "bar " + (value > 0 ? "pos" : "neg")});
      bar.style.width = (Math.abs(value) / largest * 50) + "%";
      track.appendChild(bar);
      row.appendChild(name);
      row.appendChild(track);
      row.appendChild(el("span", {"class": "bar-num"}, signed(value)));
      chart.appendChild(row);
    });
    if (!entries.length) {
      note.textContent = "Every input contributed nothing to this prediction.";
      note.hidden = false;
    }
    chart.setAttribute("data-state", "done");
  }

  form.addEventListener("submit", function (event) { event.preventDefault(); run(); });
  document.getElementById("clear").addEventListener("click", function () {
    latest += 1;
    fill(null);
    clearError();
    result.textContent = "";
    result.setAttribute("data-state", "idle");
    explanationBox.hidden = true;
  });
  Array.prototype.forEach.call(document.querySelectorAll("button.example"), function (button) {
    button.addEventListener("click", function () {
      var example = model.examples[Number(button.getAttribute("data-example"))];
      fill(example.values || {});
      run();
    });
  });
  if (model.live) {
    // Like suggesting tags for a question as it is typed: ask 300 ms after the last key.
    form.addEventListener("input", function () {
      if (timer) clearTimeout(timer);
      timer = setTimeout(run, 300);
    });
  }
})();
"""
