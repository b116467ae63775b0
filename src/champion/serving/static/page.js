// The try-it page's script (inlined into the page by templates/page.html).
// It reads the model's description from the JSON in #model-data, sends the
// form as one record to POST predict and then POST explain, and draws the answer.
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

  // The positive class's probability against the line it must cross (the model's
  // decision threshold): the label is the positive class from the line on.
  function thresholdMeter(p, threshold, positive) {
    var box = el("div", {"class": "threshold-box", id: "result-threshold",
      "data-value": String(threshold), "data-crossed": String(p >= threshold)});
    var bar = meter(p);
    bar.classList.add("threshold-meter");
    var line = el("span", {"class": "threshold-line", title: "decision threshold"});
    line.style.left = Math.max(0, Math.min(100, threshold * 100)) + "%";
    bar.appendChild(line);
    box.appendChild(bar);
    box.appendChild(el("p", {"class": "sub threshold-text"},
      "says " + positive + " from " + percent(threshold) + " (the line)"));
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
        if (model.decision_threshold !== null) {
          result.appendChild(thresholdMeter(probabilities[positive], model.decision_threshold,
            positive));
        }
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
