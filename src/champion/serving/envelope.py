"""What every request and response gets, as plain ASGI middleware: a request id (the
client's ``X-Request-ID``, or a new one added to the request's headers), the version
and arm that answered, the body-size limit, and the request metrics.

Plain ASGI rather than ``@app.middleware("http")``: Starlette's ``BaseHTTPMiddleware``
runs each request through an extra task and memory stream, which costs more than a
one-row prediction.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

import orjson

from champion.errors import RequestError
from champion.serving.metrics import ServerMetrics

REQUEST_ID_HEADER = "x-request-id"
_REQUEST_ID = REQUEST_ID_HEADER.encode()


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
    """

    def __init__(
        self,
        app,
        metrics: ServerMetrics,
        max_body_bytes: int,
        default_answer: Callable[[], tuple[str, str] | None],
        endpoints: set[str],
    ) -> None:
        self.app = app
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
        request_id = given.decode("latin-1") if given else uuid.uuid4().hex
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
            if length.isdigit() and int(length) > self.max_body_bytes:
                await self._refuse(int(length), send_with_headers)
            else:
                await self.app(scope, self._limited(receive), send_with_headers)
        finally:
            path = scope["path"] if scope["path"] in self.endpoints else "other"
            self.metrics.answered += 1
            self.metrics.server_errors += status >= 500
            self.metrics.requests.labels(path, str(status)).inc()
            self.metrics.latency.labels(path).observe(time.perf_counter() - started)

    def _limited(self, receive):
        """``receive`` that stops a streamed (chunked) body at the limit."""
        received = 0

        async def receive_limited():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    raise RequestError(
                        f"the body is over the limit of {self.max_body_bytes} bytes",
                        field="body",
                        status=413,
                    )
            return message

        return receive_limited

    async def _refuse(self, length: int, send) -> None:
        error = RequestError(
            f"the body is {length} bytes; the limit is {self.max_body_bytes}",
            field="body",
            status=413,
        )
        body = orjson.dumps(error.to_dict())
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
