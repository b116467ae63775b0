"""Request bodies to rows: MLflow's scoring protocol and champion's friendly records.

MLflow's ``/invocations`` accepts JSON with exactly one of ``dataframe_split``,
``dataframe_records``, ``instances`` or ``inputs``, or a CSV body; the same payloads
work here unchanged. Every malformed body is a :class:`RequestError` with a 4xx
status, never an exception that reaches the client as a 500.

JSON is parsed straight into :class:`Rows` (plain lists per column): building a pandas
DataFrame for a one-row request costs more than predicting it.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import orjson
import pandas as pd

from champion.errors import RequestError

FORMATS = ("dataframe_split", "dataframe_records", "instances", "inputs")
JSON = "application/json"
CSV = "text/csv"


@dataclass(frozen=True)
class Rows:
    """Request rows column by column: ``columns[name][i]`` is row ``i``'s value (None
    where a record left the key out).

    Attributes:
        columns: column name → one value per row.
        count: the number of rows.
    """

    columns: dict[str, list]
    count: int

    @classmethod
    def from_frame(cls, frame: pd.DataFrame) -> Rows:
        """The rows of a DataFrame (a CSV body, an input example, test data)."""
        clean = frame.astype(object).where(frame.notna(), None)
        return cls({str(c): clean[c].tolist() for c in clean.columns}, len(frame))


def media_type(content_type: str | None) -> str:
    """``application/json; format=pandas-split`` → ``application/json``."""
    return (content_type or JSON).split(";")[0].strip().lower() or JSON


def parse_json(body: bytes):
    """Decode a JSON body, or raise a 400 that says where it broke."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as e:
        raise RequestError(f"malformed JSON: {e}", field="body") from None


def parse_invocations(body: bytes, content_type: str | None, columns: list[str]) -> Rows:
    """Rows from an ``/invocations`` body, as ``mlflow models serve`` reads them.

    ``columns`` orders the values of list-shaped ``instances``/``inputs`` rows.
    """
    kind = media_type(content_type)
    if kind == CSV:
        try:
            return Rows.from_frame(pd.read_csv(io.BytesIO(body)))
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
            raise RequestError(f"malformed CSV: {str(e).splitlines()[0]}", field="body") from None
    if kind != JSON:
        raise RequestError(
            f"unsupported content type '{kind}'; use {JSON} or {CSV}",
            field="content-type",
            status=415,
        )
    payload = parse_json(body)
    legacy = _legacy_format(content_type)
    wrapped = isinstance(payload, dict) and any(key in payload for key in FORMATS)
    if legacy and not wrapped:
        # MLflow 1.x clients: "format=pandas-split" (an object) or "format=pandas-records"
        # (a list) and an unwrapped body, as in the README's curl. MLflow 3 answers 415 to
        # those; champion still reads them.
        payload = {legacy: payload}
    if not isinstance(payload, dict):
        raise RequestError(
            f"the body must be a JSON object with exactly one of {', '.join(FORMATS)}; "
            f"got a {type(payload).__name__}",
            field="body",
        )
    found = [key for key in FORMATS if key in payload]
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


def parse_records(body: bytes) -> Rows:
    """Rows for ``/predict``: one record, a list of records, or ``{"records": [...]}``."""
    payload = parse_json(body)
    if isinstance(payload, dict) and "records" in payload:
        payload = payload["records"]
    if isinstance(payload, dict):
        payload = [payload]
    return _from_records(payload, "records")


def _from_split(value) -> Rows:
    where = "dataframe_split"
    if not isinstance(value, dict) or "data" not in value:
        raise RequestError(f"{where} must be an object with 'columns' and 'data'", field=where)
    data = value["data"]
    if not isinstance(data, list) or not all(isinstance(row, list) for row in data):
        raise RequestError(f"{where}.data must be a list of rows (lists)", field=f"{where}.data")
    names = value.get("columns")
    if names is None:  # as pandas does: the columns are numbered
        names = list(range(len(data[0]))) if data else []
    if not isinstance(names, list) or not all(isinstance(n, str | int) for n in names):
        raise RequestError(
            f"{where}.columns must be a list of column names", field=f"{where}.columns"
        )
    if len(set(names)) != len(names):
        raise RequestError(
            f"{where}.columns names a column twice: {names}", field=f"{where}.columns"
        )
    if any(len(row) != len(names) for row in data):
        raise RequestError(
            f"{where}: every row must have {len(names)} values, one per column",
            field=f"{where}.data",
        )
    return Rows({str(name): [row[i] for row in data] for i, name in enumerate(names)}, len(data))


def _from_records(value, where: str) -> Rows:
    if not isinstance(value, list) or not all(isinstance(row, dict) for row in value):
        raise RequestError(f"{where} must be a list of objects (one per row)", field=where)
    if not value:
        raise RequestError(f"{where} is empty: send at least one row", field=where)
    names = dict.fromkeys(key for row in value for key in row)  # first-seen order
    return Rows({name: [row.get(name) for row in value] for name in names}, len(value))


def _from_instances(value, where: str, columns: list[str]) -> Rows:
    if isinstance(value, dict):  # column -> values (MLflow's "columnar" inputs)
        return _from_columns(value, where)
    if isinstance(value, list) and value and all(isinstance(row, dict) for row in value):
        return _from_records(value, where)
    if isinstance(value, list) and value and all(isinstance(row, list) for row in value):
        if any(len(row) != len(columns) for row in value):
            raise RequestError(
                f"{where}: each row must have {len(columns)} values, in the order {columns}",
                field=where,
            )
        return Rows({name: [row[i] for row in value] for i, name in enumerate(columns)}, len(value))
    raise RequestError(
        f"{where} must be a list of objects, a list of rows, or an object of columns", field=where
    )


def _from_columns(value: dict, where: str) -> Rows:
    """``{"hp": [80, 64], "speed": [70, 28]}``; a lone value stands for every row."""
    lengths = {len(v) for v in value.values() if isinstance(v, list)}
    if len(lengths) > 1:
        raise RequestError(
            f"{where}: every column must have the same number of values; got {sorted(lengths)}",
            field=where,
        )
    count = lengths.pop() if lengths else 1
    columns = {
        str(name): values if isinstance(values, list) else [values] * count
        for name, values in value.items()
    }
    return Rows(columns, count)
