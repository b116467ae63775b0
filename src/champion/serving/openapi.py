"""The server's OpenAPI document, written for the model it serves.

FastAPI can only describe the routes whose bodies it parses, and the scoring routes
read raw bodies for speed; so the document is built here, from the champion arm's
input columns, classes and task, and lists every endpoint with its request and
response bodies (``GET /openapi.json``). A schema says what the server accepts and
what it refuses, so a request that matches it is answered 2xx, and one that does not
is a 4xx:

- a record (``/predict``, ``/explain``, ``dataframe_records``) names every input
  column; a numeric column takes a number, a numeric string (``"1.5"``) or null;
  categorical, ordinal and text columns take any value (read as its text); other keys
  are ignored;
- ``/invocations`` takes exactly one of MLflow's ``dataframe_split`` (the columns in
  the model's order), ``dataframe_records``, ``instances`` or ``inputs`` (records, or
  rows of values in the model's column order), or CSV with a header. MLflow's columnar
  ``inputs`` (``{"column": [values]}``) is read too; JSON Schema cannot say that its
  lists must be of one length, so it is described in words, not in the schema;
- every error is ``{"error": {"code", "message", "field"}}``.

It never imports the web framework.
"""

from __future__ import annotations

import re

from champion.serving.model import ServedModel
from champion.serving.protocol import FORMATS

# What Python's float() reads, as a JSON Schema (ECMA 262) pattern.
NUMERIC_STRING = (
    r"^\s*[+-]?((\d+(_\d+)*(\.(\d+(_\d+)*)?)?|\.\d+(_\d+)*)([eE][+-]?\d+(_\d+)*)?"
    r"|[nN][aA][nN]|[iI][nN][fF]([iI][nN][iI][tT][yY])?)\s*$"
)
# A finite number as text, for a regression label (no nan or inf).
FINITE_STRING = r"^\s*[+-]?((\d+(_\d+)*(\.(\d+(_\d+)*)?)?|\.\d+(_\d+)*)([eE][+-]?\d+(_\d+)*)?)\s*$"
JSON, CSV = "application/json", "text/csv"
ERROR_STATUSES = {
    400: "The body or a value cannot be used; `field` names the culprit.",
    404: "No logged prediction has this request id (and row).",
    409: "The server keeps no prediction log, or (feedback) the row already has a different "
    "label: send `replace: true` to change it.",
    413: "The body, or its number of rows, is over the server's limit.",
    415: "A content type the server does not read.",
    422: "No explainer answers in time for this model.",
    503: "No model can answer yet, or the prediction log cannot be written now: try again.",
}


def document(model: ServedModel, *, title: str, max_rows: int) -> dict:
    """The OpenAPI 3.1 document of a server whose champion arm is ``model`` and that
    scores at most ``max_rows`` rows a request."""
    schemas = _schemas(model, max_rows)
    json_of = _json_body
    scoring_errors = [400, 413, 503]
    paths = {
        "/invocations": {
            "post": _operation(
                "Score rows with MLflow's scoring protocol",
                "As `mlflow models serve` answers. The JSON forms are MLflow's; MLflow's "
                'columnar `inputs` (`{"column": [values, ...]}`, lists of one length) '
                "is read too. CSV: a header naming the columns, then one line per row.",
                request={
                    JSON: {"schema": _ref("Invocation")},
                    CSV: {"schema": _ref("InvocationCsv")},
                },
                ok=json_of("Predictions", "One prediction per row, in order."),
                errors=[*scoring_errors, 415],
            )
        },
        "/predict": {
            "post": _operation(
                "Score records: labels, probabilities, values or tags",
                'One record, a list of records, or `{"records": ...}`.',
                request={JSON: {"schema": _ref("Records")}},
                ok=json_of("PredictAnswer", "Per record, the answer; and who gave it."),
                errors=scoring_errors,
            )
        },
        "/explain": {
            "post": _operation(
                "Each input column's SHAP contribution for one record",
                "One record, as for /predict (a list of exactly one, too).",
                request={JSON: {"schema": _ref("OneRecord")}},
                ok=json_of("Explanation", "The contributions, largest first."),
                errors=[*scoring_errors, 422],
            )
        },
        "/feedback": {
            "post": _operation(
                "True labels for logged predictions, by request id",
                'One label, a list, or `{"feedback": [...]}`.',
                request={JSON: {"schema": _ref("Feedback")}},
                ok=json_of("FeedbackAnswer", "How many labels were stored."),
                errors=[400, 404, 409, 413, 503],
            )
        },
        "/": {"get": _page("The try-it page", [503])},
        "/dashboard": {"get": _page("Traffic, latency, alerts, performance and drift", [409, 503])},
        "/health": {"get": _operation("Liveness", ok=json_of("Health", "The process answers."))},
        "/ready": {
            "get": _operation(
                "Readiness",
                ok=json_of("Ready", "A model is loaded."),
                responses={
                    "503": {
                        "description": "No model is loaded yet.",
                        "content": {JSON: {"schema": _ref("NotReady")}},
                    }
                },
            )
        },
        "/version": {
            "get": _operation(
                "The versions served, per arm, with the last reload (and why a version "
                "was refused)",
                ok=json_of("Version", "The champion and every arm."),
                errors=[503],
            )
        },
        "/metrics": {
            "get": _operation(
                "Prometheus metrics",
                ok={
                    "description": "The text exposition format.",
                    "content": {"text/plain": {"schema": {"type": "string"}}},
                },
            )
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": title,
            "version": model.version,
            "description": f"Model '{model.name}' version {model.version} ({model.task}).",
        },
        "paths": paths,
        "components": {"schemas": schemas},
    }


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _json_body(schema: str, description: str) -> dict:
    return {"description": description, "content": {JSON: {"schema": _ref(schema)}}}


def _operation(
    summary: str,
    description: str = "",
    *,
    request: dict | None = None,
    ok: dict,
    errors: list[int] = (),
    responses: dict | None = None,
) -> dict:
    operation = {"summary": summary, "responses": {"200": ok, **(responses or {})}}
    if description:
        operation["description"] = description
    if request is not None:
        operation["requestBody"] = {"required": True, "content": request}
    for status in errors:
        operation["responses"][str(status)] = _json_body("Error", ERROR_STATUSES[status])
    return operation


def _page(summary: str, errors: list[int]) -> dict:
    ok = {"description": "An HTML page.", "content": {"text/html": {"schema": {"type": "string"}}}}
    return _operation(summary, ok=ok, errors=errors)


def _value(model: ServedModel, column: str) -> dict:
    """What one column's value may be."""
    if column in model.features.numeric:
        return {
            "description": "A number; a numeric string or null (missing) is read too.",
            "anyOf": [
                {"type": "number"},
                {"type": "null"},
                {"type": "string", "pattern": NUMERIC_STRING},
            ],
        }
    return {"description": 'Any value, read as its text (1, 1.0 and "1" are one category).'}


def _schemas(model: ServedModel, max_rows: int) -> dict:
    columns = model.features.columns
    values = {c: _value(model, c) for c in columns}
    record = {
        "type": "object",
        "description": "One row: every input column by name; other keys are ignored.",
        "properties": values,
        "required": columns,
    }
    records = {"type": "array", "items": _ref("Record"), "minItems": 1, "maxItems": max_rows}
    row = {
        "type": "array",
        "description": f"One row's values in the model's column order: {', '.join(columns)}.",
        "prefixItems": [values[c] for c in columns],
        "minItems": len(columns),
        "maxItems": len(columns),
    }
    rows = {"type": "array", "items": row, "minItems": 1, "maxItems": max_rows}
    split = {
        "type": "object",
        "properties": {"columns": {"const": columns}, "data": rows},
        "required": ["columns", "data"],
    }
    forms = {
        "dataframe_split": split,
        "dataframe_records": _ref("RecordList"),
        "instances": {"anyOf": [_ref("RecordList"), rows]},
        "inputs": {"anyOf": [_ref("RecordList"), rows]},
    }
    invocation = {
        "description": "Exactly one of " + ", ".join(FORMATS) + ".",
        "oneOf": [
            {
                "type": "object",
                "properties": {key: schema} | {other: False for other in FORMATS if other != key},
                "required": [key],
            }
            for key, schema in forms.items()
        ],
    }
    return {
        "Record": record,
        "RecordList": records,
        "OneRecord": {
            "anyOf": [
                {**record, "properties": values | {"records": False}},
                {**records, "maxItems": 1},
                {
                    "type": "object",
                    "properties": {
                        "records": {"anyOf": [_ref("Record"), {**records, "maxItems": 1}]}
                    },
                    "required": ["records"],
                },
            ]
        },
        "Records": {
            "anyOf": [
                {**record, "properties": values | {"records": False}},
                records,
                {
                    "type": "object",
                    "properties": {"records": {"anyOf": [_ref("Record"), records]}},
                    "required": ["records"],
                },
            ]
        },
        "Invocation": invocation,
        "InvocationCsv": {
            "type": "string",
            "description": "A header line naming the columns, then one line per row.",
            "pattern": _csv_pattern(model),
        },
        "Predictions": {
            "type": "object",
            "properties": {"predictions": {"type": "array", "items": _prediction(model)}},
            "required": ["predictions"],
        },
        "PredictAnswer": {
            "type": "object",
            "properties": {
                "model": {"type": "string"},
                "version": {"type": "string"},
                "alias": {"type": "string"},
                "arm": {"enum": ["champion", "canary"]},
                "request_id": {"type": "string"},
                "predictions": {"type": "array", "items": _answer(model)},
            },
            "required": ["model", "version", "alias", "arm", "request_id", "predictions"],
        },
        "Explanation": {
            "type": "object",
            "properties": {
                "model": {"type": "string"},
                "version": {"type": "string"},
                "arm": {"enum": ["champion", "canary"]},
                "request_id": {"type": "string"},
                "explained_output": {},
                "base_value": {"type": "number"},
                "contributions": {"type": "object", "additionalProperties": {"type": "number"}},
            },
            "required": ["model", "version", "arm", "request_id", "base_value", "contributions"],
        },
        "Feedback": _feedback(model),
        "FeedbackAnswer": {
            "type": "object",
            "properties": {"stored": {"type": "integer", "minimum": 0}},
            "required": ["stored"],
        },
        "Health": {
            "type": "object",
            "properties": {"status": {"const": "ok"}, "pid": {"type": "integer"}},
            "required": ["status", "pid"],
        },
        "Ready": {
            "type": "object",
            "properties": {
                "ready": {"const": True},
                "model": {"type": "string"},
                "version": {"type": "string"},
            },
            "required": ["ready", "model", "version"],
        },
        "NotReady": {
            "type": "object",
            "properties": {"ready": {"const": False}},
            "required": ["ready"],
        },
        "Version": _version(),
        "Error": {
            "type": "object",
            "properties": {
                "error": {
                    "type": "object",
                    "properties": {
                        "code": {"type": "string"},
                        "message": {"type": "string"},
                        "field": {"type": ["string", "null"]},
                    },
                    "required": ["code", "message", "field"],
                }
            },
            "required": ["error"],
        },
    }


def _prediction(model: ServedModel) -> dict:
    """One row's prediction on ``/invocations``."""
    if model.task == "regression":
        return {"type": "number"}
    if model.task == "multilabel":
        return {"type": "array", "items": {"enum": [0, 1]}}
    return {"enum": [_plain(c) for c in model.classes]}


def _answer(model: ServedModel) -> dict:
    """One record's answer on ``/predict``."""
    if model.task == "regression":
        return {
            "type": "object",
            "properties": {"value": {"type": "number"}},
            "required": ["value"],
        }
    if model.task == "multilabel":
        tags = {"type": "array", "items": {"enum": list(model.tags)}}
        return {
            "type": "object",
            "properties": {"predicted_tags": tags},
            "required": ["predicted_tags"],
        }
    classes = [str(_plain(c)) for c in model.classes]
    probabilities = {
        "type": "object",
        "properties": {c: {"type": "number", "minimum": 0, "maximum": 1} for c in classes},
        "additionalProperties": False,
    }
    return {
        "type": "object",
        "properties": {"label": _prediction(model), "probabilities": probabilities},
        "required": ["label"],
    }


def _feedback(model: ServedModel) -> dict:
    """The ``/feedback`` body: labels that fit the model (its classes, a finite number,
    or tags from its vocabulary unless named in ``new_tags``), as the route checks."""
    if model.task == "regression":
        label = {"anyOf": [{"type": "number"}, {"type": "string", "pattern": FINITE_STRING}]}
    elif model.task == "multilabel":
        # Tags from the model's vocabulary, or named in new_tags (which a schema cannot
        # tie to the label): the route answers 400 for an unknown tag not named there.
        label = {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]}
    else:
        # As the model spells its classes, and as text (the route also takes any case).
        spellings = [_plain(c) for c in model.classes]
        label = {"enum": list(dict.fromkeys([*spellings, *map(str, spellings)]))}
    properties = {
        "request_id": {"type": "string", "minLength": 1},
        "label": label,
        "row": {"type": "integer", "minimum": 0},
        "replace": {"type": "boolean", "description": "Replace a different stored label."},
    }
    if model.task == "multilabel":
        properties["new_tags"] = {
            "type": "array",
            "items": {"type": "string"},
            "description": "Tags the model does not know yet, named on purpose.",
        }
    item = {"type": "object", "properties": properties, "required": ["request_id", "label"]}
    return {
        "anyOf": [
            {**item, "properties": item["properties"] | {"feedback": False}},
            {"type": "array", "items": item, "minItems": 1},
            {
                "type": "object",
                "properties": {
                    "feedback": {"anyOf": [item, {"type": "array", "items": item, "minItems": 1}]},
                    "replace": {"type": "boolean"},
                },
                "required": ["feedback"],
            },
        ]
    }


def _version() -> dict:
    reload = {
        "type": "object",
        "properties": {
            "checked_at": {"type": ["number", "null"]},
            "reloaded_at": {"type": ["number", "null"]},
            "tracking": {"enum": ["reachable", "unreachable"]},
            "failed_version": {"type": ["string", "null"]},
            "error": {
                "type": ["string", "null"],
                "description": "Why the last version tried was refused (e.g. its format).",
            },
        },
        "required": ["checked_at", "reloaded_at", "tracking", "failed_version", "error"],
    }
    decision_threshold = {
        "type": ["number", "null"],
        "description": "Binary: the probability of the positive class from which the model "
        "says positive; null for other tasks.",
    }
    arm = {
        "type": "object",
        "properties": {
            "arm": {"enum": ["champion", "canary", "shadow"]},
            "reference": {"type": "string"},
            "version": {"type": "string"},
            "run_id": {"type": "string"},
            "inference_path": {"enum": ["onnx", "sklearn"]},
            "inference_note": {"type": "string"},
            "decision_threshold": decision_threshold,
            "traffic_percent": {"type": "number"},
            "reload": reload,
        },
        "required": ["arm", "reference", "version", "inference_path", "traffic_percent", "reload"],
    }
    return {
        "type": "object",
        "properties": {
            "model": {"type": "string"},
            "version": {"type": "string"},
            "alias": {"type": "string"},
            "run_id": {"type": "string"},
            "task": {"type": "string"},
            "inference_path": {"enum": ["onnx", "sklearn"]},
            "decision_threshold": decision_threshold,
            "reload_interval_s": {"type": "number"},
            "route_header": {"type": "string"},
            "arms": {"type": "array", "items": arm},
        },
        "required": ["model", "version", "alias", "task", "arms"],
    }


def _csv_pattern(model: ServedModel) -> str:
    """A CSV body the server scores: the header (the model's columns, in order), then
    rows of plain cells (numbers for numeric columns; letters, digits, spaces for the
    others; empty for missing)."""
    columns = model.features.columns
    cells = [
        r"(-?\d{1,6}(\.\d{1,6})?)?" if c in model.features.numeric else r"[A-Za-z0-9 ]*"
        for c in columns
    ]
    header = ",".join(_escape(c) for c in columns)
    line = ",".join(cells)
    return rf"^{header}\n({line}\n)+$"


def _escape(text: str) -> str:
    """``text`` as a literal in a regular expression (ECMA 262 and Python alike)."""
    return re.sub(r"([\\^$.|?*+()\[\]{}/-])", r"\\\1", text)


def _plain(value):
    return value.item() if hasattr(value, "item") else value
