"""The envelope around a tiny app built in the test, over real HTTP (uvicorn on
loopback): request ids, who answered, the body limit, hang-ups and the request metrics."""

from __future__ import annotations

import socket
import time

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from champion.errors import RequestError
from champion.serving.envelope import MAX_REQUEST_ID, Envelope
from champion.serving.metrics import ServerMetrics
from support.serving import running

LIMIT = 100


def _app(default_answer=lambda: ("7", "champion")):
    """Echoes the request id it sees; ``/canary`` says a canary answered."""

    async def echo(request: Request):
        await request.body()
        return JSONResponse({"seen": request.headers.get("x-request-id")})

    async def canary(request: Request):
        return JSONResponse({}, headers={"X-Model-Version": "9", "X-Model-Arm": "canary"})

    app = Starlette(routes=[Route("/echo", echo, methods=["POST"]), Route("/canary", canary)])
    metrics = ServerMetrics()
    wrapped = Envelope(
        app,
        metrics=metrics,
        max_body_bytes=LIMIT,
        default_answer=default_answer,
        endpoints={"/echo", "/canary"},
    )
    return wrapped, metrics


@pytest.fixture(scope="module")
def served():
    app, metrics = _app()
    with running(app) as url:
        yield url, metrics


def test_a_request_without_an_id_gets_one_the_route_and_the_client_both_see(served):
    url, _ = served
    response = httpx.post(f"{url}/echo", content=b"{}")
    given = response.headers["x-request-id"]
    assert len(given) == 32
    assert response.json() == {"seen": given}
    assert httpx.post(f"{url}/echo").headers["x-request-id"] != given


def test_the_clients_request_id_is_kept(served):
    url, _ = served
    response = httpx.post(f"{url}/echo", headers={"X-Request-ID": "mine-1"})
    assert response.headers["x-request-id"] == "mine-1"
    assert response.json() == {"seen": "mine-1"}


@pytest.mark.parametrize(
    "given",
    [[("X-Request-ID", "")], [("X-Request-ID", "first"), ("X-Request-ID", "second")]],
    ids=["empty", "repeated"],
)
def test_the_route_and_the_client_see_one_and_the_same_id(served, given):
    url, _ = served
    response = httpx.post(f"{url}/echo", headers=given)
    sent = response.headers.get_list("x-request-id")
    assert len(sent) == 1 and sent[0]
    assert response.json() == {"seen": sent[0]}
    if len(given) == 2:
        assert sent == ["second"]


def test_a_request_id_longer_than_the_log_keeps_is_a_400_before_the_app_runs(served):
    url, _ = served
    long_id = "x" * (MAX_REQUEST_ID + 1)
    response = httpx.post(f"{url}/echo", headers={"X-Request-ID": long_id})
    assert response.status_code == 400
    assert response.json()["error"]["field"] == "X-Request-ID"
    assert f"{MAX_REQUEST_ID + 1} characters" in response.json()["error"]["message"]
    assert response.headers["x-request-id"] != long_id  # a fresh id, not the refused one
    fits = "y" * MAX_REQUEST_ID
    assert httpx.post(f"{url}/echo", headers={"X-Request-ID": fits}).json() == {"seen": fits}


def test_a_route_that_names_who_answered_is_not_overwritten(served):
    url, _ = served
    response = httpx.get(f"{url}/canary")
    assert response.headers.get_list("x-model-version") == ["9"]
    assert response.headers.get_list("x-model-arm") == ["canary"]


def test_other_responses_carry_the_default_answer(served):
    url, _ = served
    response = httpx.post(f"{url}/echo")
    assert (response.headers["x-model-version"], response.headers["x-model-arm"]) == (
        "7",
        "champion",
    )


def test_no_model_headers_before_a_model_loads():
    app, _ = _app(default_answer=lambda: None)
    with running(app) as url:
        response = httpx.post(f"{url}/echo")
    assert response.status_code == 200
    assert "x-model-version" not in response.headers


def test_an_announced_body_over_the_limit_is_a_413_before_the_app_reads_it(served):
    url, _ = served
    response = httpx.post(f"{url}/echo", content=b"x" * (LIMIT + 1))
    assert response.status_code == 413
    assert response.json() == {
        "error": {
            "code": "invalid_input",
            "message": f"the body is {LIMIT + 1} bytes; the limit is {LIMIT}",
            "field": "body",
        }
    }
    assert "x-request-id" in response.headers


def test_requests_are_counted_by_endpoint_and_unknown_paths_as_other(served):
    url, metrics = served

    def count(path: str, status: str) -> float:
        labels = {"endpoint": path, "status": status}
        return metrics.registry.get_sample_value("champion_requests_total", labels) or 0.0

    before_echo, before_other = count("/echo", "200"), count("other", "404")
    httpx.post(f"{url}/echo")
    httpx.get(f"{url}/no/such/path/{before_other}")
    assert count("/echo", "200") == before_echo + 1
    assert count("other", "404") == before_other + 1


def test_a_hang_up_mid_body_is_a_499_and_not_in_the_error_rate(served):
    url, metrics = served

    def hang_ups() -> float:
        labels = {"endpoint": "/echo", "status": "499"}
        return metrics.registry.get_sample_value("champion_requests_total", labels) or 0.0

    before = (hang_ups(), metrics.answered, metrics.server_errors)
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port))) as sock:
        sock.sendall(b"POST /echo HTTP/1.1\r\nHost: test\r\nContent-Length: 50\r\n\r\n{")
    deadline = time.monotonic() + 5
    while hang_ups() == before[0]:
        assert time.monotonic() < deadline, "the hang-up was never counted"
        time.sleep(0.02)
    # The error_rate alert divides server_errors by answered: a hang-up is in neither.
    assert (hang_ups(), metrics.answered, metrics.server_errors) == (before[0] + 1, *before[1:])


def _shortcut_app():
    """``/fast`` answered by the app's router for GET and by a shortcut for POST."""

    async def routed(request: Request):
        return JSONResponse({"by": "router"})

    async def shortcut(scope, receive, send):
        body = b""
        try:
            while True:  # read as the scoring endpoints do: the envelope limits the body
                message = await receive()
                body += message.get("body", b"")
                if not message.get("more_body", False):
                    break
        except RequestError as error:  # a shortcut answers the limits' errors itself
            await JSONResponse(error.to_dict(), error.http_status)(scope, receive, send)
            return
        seen = dict(scope["headers"])[b"x-request-id"].decode()
        payload = JSONResponse({"by": "shortcut", "seen": seen, "bytes": len(body)})
        await payload(scope, receive, send)

    app = Starlette(routes=[Route("/fast", routed, methods=["GET"])])
    metrics = ServerMetrics()
    wrapped = Envelope(
        app,
        metrics=metrics,
        max_body_bytes=LIMIT,
        default_answer=lambda: ("7", "champion"),
        endpoints={"/fast"},
        shortcuts={"/fast": shortcut},
    )
    return wrapped, metrics


def test_a_post_to_a_shortcut_skips_the_app_and_keeps_the_envelope():
    app, metrics = _shortcut_app()
    with running(app) as url:
        posted = httpx.post(f"{url}/fast", content=b"12345", headers={"X-Request-ID": "r-1"})
        assert posted.json() == {"by": "shortcut", "seen": "r-1", "bytes": 5}
        assert posted.headers["x-request-id"] == "r-1"
        assert posted.headers["x-model-version"] == "7"
        assert httpx.get(f"{url}/fast").json() == {"by": "router"}
        # The body's limit holds for a shortcut, announced or streamed.
        assert httpx.post(f"{url}/fast", content=b"x" * (LIMIT + 1)).status_code == 413

        def chunks():
            yield b"x" * LIMIT
            yield b"x"

        streamed = httpx.post(f"{url}/fast", content=chunks())
        assert streamed.status_code == 413
        assert streamed.json()["error"]["message"] == f"the body is over the limit of {LIMIT} bytes"
        host, port = url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port))) as sock:
            sock.sendall(b"POST /fast HTTP/1.1\r\nHost: test\r\nContent-Length: 50\r\n\r\n{")
        deadline = time.monotonic() + 5
        labels = {"endpoint": "/fast", "status": "499"}
        while not metrics.registry.get_sample_value("champion_requests_total", labels):
            assert time.monotonic() < deadline, "the hang-up was never counted"
            time.sleep(0.02)
    count = metrics.registry.get_sample_value
    assert count("champion_requests_total", {"endpoint": "/fast", "status": "200"}) == 2
    assert count("champion_requests_total", {"endpoint": "/fast", "status": "413"}) == 2


def test_a_scoring_endpoints_bug_is_a_json_500_with_the_request_id():
    from types import SimpleNamespace

    from champion.serving.app import ScoringEndpoint

    class Plane:  # routes every request nowhere: the bug comes before any model
        traffic = SimpleNamespace(route_header="X-Route")

        def route(self, key):
            return None

    def score(route, body, content_type, request_id, started):
        raise RuntimeError("a bug in scoring")

    endpoint = ScoringEndpoint(Plane(), score, off_loop=None)
    metrics = ServerMetrics()
    app = Envelope(
        Starlette(),
        metrics=metrics,
        max_body_bytes=LIMIT,
        default_answer=lambda: ("7", "champion"),
        endpoints={"/invocations"},
        shortcuts={"/invocations": endpoint},
    )
    with running(app) as url:
        answer = httpx.post(f"{url}/invocations", content=b"{}", headers={"X-Request-ID": "r-9"})

    assert answer.status_code == 500
    assert answer.headers["content-type"] == "application/json"
    assert answer.json()["error"]["message"] == "internal error while scoring"
    assert answer.headers["x-request-id"] == "r-9"
    assert metrics.server_errors == 1
