"""Hostile requests against a real server (uvicorn on loopback, the session's wine model),
from issue 9's findings: each is refused or answered in time, with a 4xx that names the
problem, and none stalls the server or counts as a server error."""

from __future__ import annotations

import json
import logging
import socket
import time
from collections.abc import Iterator

import httpx
import pytest

from champion.monitoring.log import LogOptions
from champion.serving.app import create_app
from support.serving import running

pytestmark = pytest.mark.integration

NAME = "wine"  # the name conftest.wine_model registers
BODY_TIMEOUT = 0.5


@pytest.fixture(scope="module")
def served(wine_model) -> Iterator[tuple[str, list[str], list[dict]]]:
    """(base URL, the model's columns, its six example records); no prediction log."""
    settings, rows = wine_model
    app = create_app(
        settings,
        NAME,
        reload_interval=0,
        logging_options=LogOptions(enabled=False),
        body_timeout=BODY_TIMEOUT,
    )
    with running(app) as url:
        yield url, list(rows.columns), rows.to_dict("records")


def _csv(columns: list[str], *rows: list) -> bytes:
    return "\n".join(",".join(map(str, line)) for line in [columns, *rows]).encode() + b"\n"


def _invoke_csv(url: str, body: bytes) -> httpx.Response:
    return httpx.post(
        f"{url}/invocations", content=body, headers={"Content-Type": "text/csv"}, timeout=5
    )


def test_a_csv_row_with_an_extra_field_is_a_400_naming_its_line(served):
    url, columns, records = served
    values = [records[0][c] for c in columns]
    assert _invoke_csv(url, _csv(columns, values)).status_code == 200
    # pandas would take the first field for an index and shift every value one column.
    response = _invoke_csv(url, _csv(columns, values, [0, *values]))
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["message"].startswith(f"CSV line 3 has {len(columns) + 1} fields")
    assert error["field"] == "body"
    alone = _invoke_csv(url, _csv(columns, [0, *values]))  # the finding: a lone row
    assert alone.status_code == 400 and "CSV line 2" in alone.json()["error"]["message"]


def test_a_csv_header_naming_a_column_twice_is_a_400_naming_the_column(served):
    url, columns, records = served
    values = [records[0][c] for c in columns]
    response = _invoke_csv(url, _csv([*columns, columns[0]], [*values, 1]))
    assert response.status_code == 400, response.text
    assert response.json()["error"] == {
        "code": "invalid_input",
        "message": f"CSV header names column '{columns[0]}' twice",
        "field": columns[0],
    }


@pytest.mark.parametrize(
    ("count", "message"),
    [(10_000, "1001 columns is over the limit of 1000"), (15_000, "15000 rows is over the limit")],
    ids=["0.14MB", "0.21MB"],
)
def test_records_with_keys_of_their_own_are_refused_before_a_table_is_built(served, count, message):
    url, _, _ = served
    body = json.dumps([{f"k{i}": i} for i in range(count)]).encode()
    started = time.perf_counter()
    response = httpx.post(f"{url}/predict", content=body, timeout=5)
    assert response.status_code == 413, response.text
    assert response.json()["error"]["message"].startswith(message)
    assert time.perf_counter() - started < 2


def test_a_csv_of_20000_columns_is_refused_at_its_header(served):
    url, _, _ = served
    columns = [f"c{i}" for i in range(20_000)]
    response = _invoke_csv(url, _csv(columns, [1] * len(columns)))
    assert response.status_code == 413, response.text
    assert response.json()["error"]["message"] == "20000 columns is over the limit of 1000"


def _half_a_body(url: str) -> socket.socket:
    """A connection that announces a 100-byte body and sends 10 bytes of it."""
    host, port = url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=5)
    sock.sendall(
        b"POST /predict HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
        b"Content-Length: 100\r\n\r\n" + b'{"hp": 100'
    )
    return sock


def test_a_body_that_stops_arriving_is_a_408_and_its_connection_closed(served):
    url, _, _ = served
    started = time.perf_counter()
    with _half_a_body(url) as sock:
        answer = b""
        while chunk := sock.recv(4096):  # until the server closes the connection
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert b"connection: close" in answer.lower()
    assert b'"field":"body"' in answer and b"nothing for 0.5 s" in answer
    assert time.perf_counter() - started < BODY_TIMEOUT + 2


def _requests_by_status(url: str, endpoint: str) -> dict[str, float]:
    text = httpx.get(f"{url}/metrics").text
    prefix = f'champion_requests_total{{endpoint="{endpoint}",status="'
    return {
        line[len(prefix) :].split('"')[0]: float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith(prefix)
    }


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_a_client_that_hangs_up_mid_body_is_a_499_not_a_500(served):
    url, _, _ = served
    before = _requests_by_status(url, "/predict")
    # uvicorn logs an application's exception on "uvicorn.error", which does not
    # propagate to the root logger: listen there.
    handler, uvicorn_log = _Records(), logging.getLogger("uvicorn.error")
    uvicorn_log.addHandler(handler)
    try:
        for _ in range(20):
            _half_a_body(url).close()
        deadline = time.monotonic() + 5
        while _requests_by_status(url, "/predict").get("499", 0) - before.get("499", 0) < 20:
            assert time.monotonic() < deadline, _requests_by_status(url, "/predict")
            time.sleep(0.05)
    finally:
        uvicorn_log.removeHandler(handler)
    after = _requests_by_status(url, "/predict")
    assert after.get("500", 0) == before.get("500", 0)
    assert [r.getMessage() for r in handler.records if r.levelno >= logging.WARNING] == []
