"""Request bodies to rows: MLflow's scoring protocol and champion's friendly records.

MLflow's ``/invocations`` accepts JSON with exactly one of ``dataframe_split``,
``dataframe_records``, ``instances`` or ``inputs``, or a CSV body; the same payloads
work here unchanged. Every malformed body is a :class:`RequestError` with a 4xx
status, never an exception that reaches the client as a 500.

JSON is parsed straight into :class:`Rows` (plain lists per column): building a pandas
DataFrame for a one-row request costs more than predicting it. CSV is read strictly,
with the standard library's reader: a row with more or fewer fields than the header,
or a header that names a column twice, is a 400 naming the line or the column (pandas
would shift the row's values into the wrong columns, or rename the second column).

Cost is linear in the body: the :class:`Limits` (rows, columns, values) are checked as
soon as the counts are known, before any column is built, so a small body cannot ask
for a large table (10,000 records with a key each of their own would otherwise make a
10,000 × 10,000 table of gaps).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

import numpy as np
import orjson
import pandas as pd

from champion.errors import RequestError

FORMATS = ("dataframe_split", "dataframe_records", "instances", "inputs")
JSON = "application/json"
CSV = "text/csv"

# pandas' default missing-value spellings (``pd.read_csv``'s ``na_values``, and the
# empty field), so a CSV body reads as it would have in training.
CSV_MISSING = frozenset(
    {"", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND"}
    | {"1.#QNAN", "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null"}
)
CSV_TRUE = frozenset(["True", "TRUE", "true"])
CSV_FALSE = frozenset(["False", "FALSE", "false"])
# Below this many values, a table may have more values than its body has bytes (a few
# records with keys left out); above it, it may not (see :meth:`Limits.check`).
SMALL_TABLE = 10_000


@dataclass(frozen=True)
class Limits:
    """How large a request's table may be; past any limit, a 413.

    Attributes:
        rows: rows in one request.
        columns: distinct column names in one request.
        cells: rows × columns. Also, past ``SMALL_TABLE`` values, no more values than
            the body has bytes: a dense body spends at least a byte per value, and only
            gaps (a record's missing keys, a lone value standing for a whole column)
            cost nothing on the wire, so this keeps the work in proportion to the body.
    """

    rows: int = 10_000
    columns: int = 1_000
    cells: int = 1_000_000

    def check(self, rows: int, columns: int, body_bytes: int) -> None:
        """Raise a 413 if a ``rows`` × ``columns`` table from a body of ``body_bytes``
        is over a limit."""
        if rows > self.rows:
            raise RequestError(
                f"{rows} rows is over the limit of {self.rows}", field="body", status=413
            )
        if columns > self.columns:
            raise RequestError(
                f"{columns} columns is over the limit of {self.columns}", field="body", status=413
            )
        cells = rows * columns
        allowed = min(self.cells, max(SMALL_TABLE, body_bytes))
        if cells > allowed:
            raise RequestError(
                f"{rows} rows × {columns} columns is {cells} values, over the limit of "
                f"{allowed} for a body of {body_bytes} bytes",
                field="body",
                status=413,
            )


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


def invocations_answer(predictions: np.ndarray) -> bytes:
    """The ``/invocations`` body for ``predictions``, byte for byte what ``mlflow models
    serve`` answers: ``{"predictions": [...]}``, ``predictions.tolist()`` as JSON.

    orjson writes int, bool and float64 arrays itself, with no Python object per value;
    others (object arrays of labels, float32, whose shortest spelling differs from
    that of the double ``tolist`` gives, a non-contiguous array) go through ``tolist``.
    """
    if predictions.dtype.kind == "f" and predictions.dtype != np.float64:
        predictions = predictions.tolist()
    return orjson.dumps(
        {"predictions": predictions}, default=_as_list, option=orjson.OPT_SERIALIZE_NUMPY
    )


def _as_list(value):
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"cannot answer a {type(value).__name__}")


def media_type(content_type: str | None) -> str:
    """``application/json; format=pandas-split`` → ``application/json``."""
    return (content_type or JSON).split(";")[0].strip().lower() or JSON


def parse_json(body: bytes):
    """Decode a JSON body, or raise a 400 that says where it broke."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as e:
        raise RequestError(f"malformed JSON: {e}", field="body") from None


def parse_invocations(
    body: bytes, content_type: str | None, columns: list[str], limits: Limits = Limits()
) -> Rows:
    """Rows from an ``/invocations`` body, as ``mlflow models serve`` reads them.

    ``columns`` orders the values of list-shaped ``instances``/``inputs`` rows.

    Raises:
        RequestError: a malformed body (400), one over ``limits`` (413), or a content
            type other than JSON or CSV (415).
    """
    kind = media_type(content_type)
    if kind == CSV:
        return parse_csv(body, limits)
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
    size = len(body)
    if key == "dataframe_split":
        return _from_split(value, limits, size)
    if key == "dataframe_records":
        return _from_records(value, key, limits, size)
    return _from_instances(value, key, columns, limits, size)


def _legacy_format(content_type: str | None) -> str | None:
    for parameter in (content_type or "").split(";")[1:]:
        key, _, value = parameter.partition("=")
        if key.strip().lower() == "format":
            return {"pandas-split": "dataframe_split", "pandas-records": "dataframe_records"}.get(
                value.strip().lower()
            )
    return None


def parse_records(body: bytes, limits: Limits = Limits()) -> Rows:
    """Rows for ``/predict``: one record, a list of records, or ``{"records": [...]}``.

    Raises:
        RequestError: a malformed body (400), or one over ``limits`` (413).
    """
    payload = parse_json(body)
    if isinstance(payload, dict) and "records" in payload:
        payload = payload["records"]
    if isinstance(payload, dict):
        payload = [payload]
    return _from_records(payload, "records", limits, len(body))


def parse_csv(body: bytes, limits: Limits = Limits()) -> Rows:
    """Rows from a CSV body with a header line, typed per column as ``pd.read_csv``
    types them (integers, then floats, then true/false, else text; pandas' missing
    spellings are None).

    Raises:
        RequestError: no header, a header naming a column twice (the field is that
            column), a row with more or fewer fields than the header (the message
            names its line), text that is not UTF-8, or a quoting error (400); more
            rows or columns than ``limits`` allow (413).
    """
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise RequestError(f"malformed CSV: {e}", field="body") from None
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader, None)
        if not header:
            raise RequestError("malformed CSV: no header line", field="body")
        names = [name or f"Unnamed: {i}" for i, name in enumerate(header)]
        limits.check(0, len(names), len(body))
        seen: set[str] = set()
        for name in names:
            if name in seen:
                raise RequestError(f"CSV header names column '{name}' twice", field=name)
            seen.add(name)
        records = []
        for record in reader:
            if not record:  # a blank line, which pandas skips too
                continue
            if len(record) != len(names):
                raise RequestError(
                    f"CSV line {reader.line_num} has {len(record)} fields; the header has "
                    f"{len(names)} ({', '.join(names)})",
                    field="body",
                )
            records.append(record)
            if len(records) > limits.rows:
                limits.check(len(records), len(names), len(body))
    except csv.Error as e:
        raise RequestError(f"malformed CSV: line {reader.line_num}: {e}", field="body") from None
    limits.check(len(records), len(names), len(body))
    columns = {name: _typed([r[i] for r in records]) for i, name in enumerate(names)}
    return Rows(columns, len(records))


def _typed(texts: list[str]) -> list:
    """One CSV column's values, typed as pandas would type the whole column."""
    values = [None if text in CSV_MISSING else text for text in texts]
    present = [v for v in values if v is not None]
    gaps = len(present) < len(values)
    for kind in (int, float):
        try:
            typed = [kind(v) for v in present]
        except ValueError:
            continue
        if gaps and kind is int:  # pandas has no integers with gaps: floats
            typed = [float(v) for v in typed]
        numbers = iter(typed)
        return [None if v is None else next(numbers) for v in values]
    if present and all(v in CSV_TRUE or v in CSV_FALSE for v in present):
        return [None if v is None else v in CSV_TRUE for v in values]
    return values


def _from_split(value, limits: Limits, size: int) -> Rows:
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
    limits.check(len(data), len(names), size)
    # As text: a column named 1 and one named "1" are the same column.
    if len(set(map(str, names))) != len(names):
        raise RequestError(
            f"{where}.columns names a column twice: {names}", field=f"{where}.columns"
        )
    if any(len(row) != len(names) for row in data):
        raise RequestError(
            f"{where}: every row must have {len(names)} values, one per column",
            field=f"{where}.data",
        )
    return Rows({str(name): [row[i] for row in data] for i, name in enumerate(names)}, len(data))


def _from_records(value, where: str, limits: Limits, size: int) -> Rows:
    if not isinstance(value, list) or not all(isinstance(row, dict) for row in value):
        raise RequestError(f"{where} must be a list of objects (one per row)", field=where)
    if not value:
        raise RequestError(f"{where} is empty: send at least one row", field=where)
    limits.check(len(value), 0, size)
    names: dict = {}  # first-seen order
    for row in value:
        names.update(dict.fromkeys(row))
        if len(names) > limits.columns:  # before the union grows any further
            limits.check(len(value), len(names), size)
    limits.check(len(value), len(names), size)
    return Rows({name: [row.get(name) for row in value] for name in names}, len(value))


def _from_instances(value, where: str, columns: list[str], limits: Limits, size: int) -> Rows:
    if isinstance(value, dict):  # column -> values (MLflow's "columnar" inputs)
        return _from_columns(value, where, limits, size)
    if isinstance(value, list) and value and all(isinstance(row, dict) for row in value):
        return _from_records(value, where, limits, size)
    if isinstance(value, list) and value and all(isinstance(row, list) for row in value):
        limits.check(len(value), len(columns), size)
        if any(len(row) != len(columns) for row in value):
            raise RequestError(
                f"{where}: each row must have {len(columns)} values, in the order {columns}",
                field=where,
            )
        return Rows({name: [row[i] for row in value] for i, name in enumerate(columns)}, len(value))
    raise RequestError(
        f"{where} must be a list of objects, a list of rows, or an object of columns", field=where
    )


def _from_columns(value: dict, where: str, limits: Limits, size: int) -> Rows:
    """``{"hp": [80, 64], "speed": [70, 28]}``; a lone value stands for every row."""
    lengths = {len(v) for v in value.values() if isinstance(v, list)}
    if len(lengths) > 1:
        raise RequestError(
            f"{where}: every column must have the same number of values; got {sorted(lengths)}",
            field=where,
        )
    count = lengths.pop() if lengths else 1
    limits.check(count, len(value), size)
    columns = {
        str(name): values if isinstance(values, list) else [values] * count
        for name, values in value.items()
    }
    return Rows(columns, count)
