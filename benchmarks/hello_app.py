"""The floor for any Python model server on this stack: a FastAPI app that does nothing.

``POST /invocations`` reads the whole request body (as a real server must) and answers a
constant ``{"predictions": [0]}`` serialised with orjson. ``benchmarks/serve.py`` serves
it with uvicorn on uvloop and httptools, with the same worker count as the servers it
is compared with, so "champion / hello" says how much of the stack's ceiling the real
server reaches.

Run by hand::

    uv run uvicorn hello_app:app --app-dir benchmarks --loop uvloop --http httptools
"""

from __future__ import annotations

import orjson
from fastapi import FastAPI, Request, Response

app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)

# Serialised once: the point is to measure the framework, not the encoder.
_ANSWER = orjson.dumps({"predictions": [0]})


@app.post("/invocations")
async def invocations(request: Request) -> Response:
    """Read the body, ignore it, answer the constant prediction."""
    await request.body()
    return Response(content=_ANSWER, media_type="application/json")
