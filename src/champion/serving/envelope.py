"""What every request and response gets, as plain ASGI middleware: a request id (the
client's ``X-Request-ID``, or a new one added to the request's headers), the version
and arm that answered, the body's size limit and read timeout, and the request metrics.

A body must keep arriving: a client that sends nothing for ``body_timeout`` seconds
mid-body gets a 408 and its connection closed, so a body that announces 100 bytes and
sends 10 cannot hold a connection for ever. A client that hangs up mid-body is not a
server error: the request is counted with status 499 (as nginx counts it), logs no
traceback, and is left out of the answers the ``error_rate`` alert measures.

Plain ASGI rather than ``@app.middleware("http")``: Starlette's ``BaseHTTPMiddleware``
runs each request through an extra task and memory stream, which costs more than a
one-row prediction.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from os import urandom

import orjson

from champion.errors import RequestError
from champion.serving.metrics import ServerMetrics

REQUEST_ID_HEADER = "x-request-id"
# A client's id is logged as it is, plus ``~N`` when reused: PostgreSQL's column takes
# 128 characters, and a longer id would be refused by the log after it was answered.
MAX_REQUEST_ID = 100
_REQUEST_ID = REQUEST_ID_HEADER.encode()
BODY_TIMEOUT = 10.0
CLIENT_CLOSED = 499  # nginx's "client closed request"


class ClientGone(Exception):
    """Raised into the app when the client hangs up before its body arrived; the
    envelope counts the request as a 499 and answers nothing (no one is listening)."""


def _has(headers: list[tuple[bytes, bytes]], name: bytes) -> bool:
    """Whether ``headers`` (lower-case names, as Starlette and ASGI servers send them)
    has ``name``."""
    return any(key == name for key, _ in headers)


class Envelope:
    """ASGI middleware around the serving app.

    Args:
        app: the wrapped ASGI app.
        metrics: where request counts and latencies go.
        max_body_bytes: larger bodies get a 413, announced (Content-Length) or streamed.
        default_answer: ``() -> (version, arm)`` for responses that do not name the
            version that answered (errors before routing, the page, /metrics), or None
            before a model loads.
        endpoints: the paths counted by name; any other path counts as ``other``, so a
            scanner's random URLs cannot multiply the metric series.
        body_timeout: seconds the body may go without a byte arriving before a 408.
        shortcuts: path → ASGI app called directly for a POST to that path, past the
            app's own router and middleware (the scoring routes, where that machinery
            costs more than a one-row prediction). Each must answer a
            :class:`RequestError` itself; any other exception is a 500, as in the app.
    """

    def __init__(
        self,
        app,
        metrics: ServerMetrics,
        max_body_bytes: int,
        default_answer: Callable[[], tuple[str, str] | None],
        endpoints: set[str],
        body_timeout: float = BODY_TIMEOUT,
        shortcuts: dict[str, Callable] | None = None,
    ) -> None:
        self.app = app
        self.shortcuts = shortcuts or {}
        self.body_timeout = body_timeout
        self.metrics = metrics
        self.max_body_bytes = max_body_bytes
        self.default_answer = default_answer
        self.endpoints = endpoints

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        headers = dict(scope["headers"])  # the last of repeated headers wins
        given = headers.get(_REQUEST_ID)
        too_long = given is not None and len(given) > MAX_REQUEST_ID
        # A new id is 128 random bits in hex, as ``uuid.uuid4().hex`` spells them
        # (without its UUID object, which costs five times as much).
        request_id = given.decode("latin-1") if given and not too_long else urandom(16).hex()
        # Every request reaches the app with exactly one id, as a proxy would give it:
        # the routes read it from the headers, and the log, the body and the response
        # header all carry the same one. (The dict is shorter than the list only when
        # some header is repeated: then look closer.)
        if given is None:
            scope = {**scope, "headers": [*scope["headers"], (_REQUEST_ID, request_id.encode())]}
        elif not given or len(headers) < len(scope["headers"]):
            only_ours = [(k, v) for k, v in scope["headers"] if k != _REQUEST_ID]
            mine = (_REQUEST_ID, request_id.encode("latin-1"))
            scope = {**scope, "headers": [*only_ours, mine]}
        status = 500

        async def send_with_headers(message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                sent = message.get("headers", [])
                extra = [(_REQUEST_ID, request_id.encode("latin-1"))]
                if status == 408:  # the rest of the body may still trickle in: not here
                    extra.append((b"connection", b"close"))
                # A scoring route names the version and arm that answered; any other
                # response (the page, an error before routing) is the champion's.
                answered = None if _has(sent, b"x-model-version") else self.default_answer()
                if answered is not None:
                    extra += [
                        (b"x-model-version", answered[0].encode()),
                        (b"x-model-arm", answered[1].encode()),
                    ]
                message = {**message, "headers": [*sent, *extra]}
            await send(message)

        try:
            length = headers.get(b"content-length", b"")
            if too_long:
                message = f"X-Request-ID is {len(given)} characters; at most {MAX_REQUEST_ID}"
                await _refuse(RequestError(message, field="X-Request-ID"), send_with_headers)
            elif length.isdigit() and int(length) > self.max_body_bytes:
                message = f"the body is {length.decode()} bytes; the limit is {self.max_body_bytes}"
                await _refuse(RequestError(message, field="body", status=413), send_with_headers)
            else:
                app = self.shortcuts.get(scope["path"]) if scope["method"] == "POST" else None
                await (app or self.app)(scope, self._limited(receive), send_with_headers)
        except ClientGone:
            status = CLIENT_CLOSED
        finally:
            path = scope["path"] if scope["path"] in self.endpoints else "other"
            # A hang-up was never answered: neither an answer nor an error, and no
            # latency of an answer.
            if status == CLIENT_CLOSED:
                self.metrics.count_request(path, status, None)
            else:
                self.metrics.answered += 1
                self.metrics.server_errors += status >= 500
                self.metrics.count_request(path, status, time.perf_counter() - started)

    def _limited(self, receive):
        """``receive`` that, until the body is complete, stops it at the size limit
        (413) or after ``body_timeout`` seconds without a message (408), and turns a
        hang-up into :class:`ClientGone`."""
        received = 0
        complete = False

        async def receive_limited():
            nonlocal received, complete
            if complete:  # e.g. a streaming response waiting for the disconnect
                return await receive()
            try:
                async with asyncio.timeout(self.body_timeout):
                    message = await receive()
            except TimeoutError:
                raise RequestError(
                    f"the body did not arrive: nothing for {self.body_timeout:g} s",
                    field="body",
                    status=408,
                ) from None
            if message["type"] == "http.disconnect":
                raise ClientGone
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    raise RequestError(
                        f"the body is over the limit of {self.max_body_bytes} bytes",
                        field="body",
                        status=413,
                    )
                complete = not message.get("more_body", False)
            return message

        return receive_limited


async def _refuse(error: RequestError, send) -> None:
    """Answer ``error`` before the app sees the request (its body is never read)."""
    body = orjson.dumps(error.to_dict())
    await send(
        {
            "type": "http.response.start",
            "status": error.http_status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
