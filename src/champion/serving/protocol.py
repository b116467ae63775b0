"""Request bodies to rows: MLflow's scoring protocol and champion's friendly records.

MLflow's ``/invocations`` accepts JSON with exactly one of ``dataframe_split``,
``dataframe_records``, ``instances`` or ``inputs``, or a CSV body; the same payloads
work here unchanged. Every malformed body is a :class:`RequestError` with a 4xx
status, never an exception that reaches the client as a 500.
"""

from __future__ import annotations

import io

import orjson
import pandas as pd

from champion.errors import RequestError

FORMATS = ("dataframe_split", "dataframe_records", "instances", "inputs")
JSON = "application/json"
CSV = "text/csv"


def media_type(content_type: str | None) -> str:
    """``application/json; format=pandas-split`` → ``application/json``."""
    return (content_type or JSON).split(";")[0].strip().lower() or JSON


def parse_json(body: bytes):
    """Decode a JSON body, or raise a 400 that says where it broke."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as e:
        raise RequestError(f"malformed JSON: {e}", field="body") from None


def parse_invocations(body: bytes, content_type: str | None, columns: list[str]) -> pd.DataFrame:
    """Rows from an ``/invocations`` body, as ``mlflow models serve`` reads them.

    ``columns`` orders the values of list-shaped ``instances``/``inputs`` rows.
    """
    kind = media_type(content_type)
    if kind == CSV:
        try:
            return pd.read_csv(io.BytesIO(body))
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
            raise RequestError(f"malformed CSV: {str(e).splitlines()[0]}", field="body") from None
    if kind != JSON:
        raise RequestError(
            f"unsupported content type '{kind}'; use {JSON} or {CSV}",
            field="content-type",
            status=415,
        )
    payload = parse_json(body)
    if not isinstance(payload, dict):
        raise RequestError(
            f"the body must be a JSON object with exactly one of {', '.join(FORMATS)}; "
            f"got a {type(payload).__name__}",
            field="body",
        )
    found = [key for key in FORMATS if key in payload]
    legacy = _legacy_format(content_type)
    if not found and legacy:
        # MLflow 1.x clients: "format=pandas-split" and an unwrapped body, as in the
        # README's curl. MLflow 3 answers 415 to those; champion still reads them.
        found, payload = [legacy], {legacy: payload}
    if len(found) != 1:
        raise RequestError(
            f"the body must have exactly one of {', '.join(FORMATS)}; it has: "
            f"{', '.join(map(str, payload)) or 'nothing'}",
            field="body",
        )
    key = found[0]
    value = payload[key]
    if key == "dataframe_split":
        return _from_split(value)
    if key == "dataframe_records":
        return _from_records(value, key)
    return _from_instances(value, key, columns)


def _legacy_format(content_type: str | None) -> str | None:
    for parameter in (content_type or "").split(";")[1:]:
        key, _, value = parameter.partition("=")
        if key.strip().lower() == "format":
            return {"pandas-split": "dataframe_split", "pandas-records": "dataframe_records"}.get(
                value.strip().lower()
            )
    return None


def parse_records(body: bytes) -> pd.DataFrame:
    """Rows for ``/predict``: one record, a list of records, or ``{"records": [...]}``."""
    payload = parse_json(body)
    if isinstance(payload, dict) and "records" in payload:
        payload = payload["records"]
    if isinstance(payload, dict):
        payload = [payload]
    return _from_records(payload, "records")


def _from_split(value) -> pd.DataFrame:
    if not isinstance(value, dict) or "data" not in value:
        raise RequestError(
            "dataframe_split must be an object with 'columns' and 'data'", field="dataframe_split"
        )
    data = value["data"]
    columns = value.get("columns")
    if not isinstance(data, list) or not all(isinstance(row, list) for row in data):
        raise RequestError(
            "dataframe_split.data must be a list of rows (lists)", field="dataframe_split.data"
        )
    if columns is not None and any(len(row) != len(columns) for row in data):
        raise RequestError(
            f"dataframe_split: every row must have {len(columns)} values, one per column",
            field="dataframe_split.data",
        )
    return pd.DataFrame(data, columns=columns)


def _from_records(value, where: str) -> pd.DataFrame:
    if not isinstance(value, list) or not all(isinstance(row, dict) for row in value):
        raise RequestError(f"{where} must be a list of objects (one per row)", field=where)
    if not value:
        raise RequestError(f"{where} is empty: send at least one row", field=where)
    return pd.DataFrame.from_records(value)


def _from_instances(value, where: str, columns: list[str]) -> pd.DataFrame:
    if isinstance(value, dict):  # column -> values (MLflow's "columnar" inputs)
        try:
            return pd.DataFrame(value)
        except ValueError as e:
            raise RequestError(f"{where}: {e}", field=where) from None
    if isinstance(value, list) and value and all(isinstance(row, dict) for row in value):
        return pd.DataFrame.from_records(value)
    if isinstance(value, list) and value and all(isinstance(row, list) for row in value):
        if any(len(row) != len(columns) for row in value):
            raise RequestError(
                f"{where}: each row must have {len(columns)} values, in the order {columns}",
                field=where,
            )
        return pd.DataFrame(value, columns=columns)
    raise RequestError(
        f"{where} must be a list of objects, a list of rows, or an object of columns", field=where
    )
