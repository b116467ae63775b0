"""Where a scoring request's time goes, stage by stage, inside one process.

``benchmarks/serve.py`` measures the whole server over HTTP; this script opens the
request up. It loads the legendary model that ``serve.py --workdir DIR`` trained, builds
the serving app in this process, and times each stage of ``POST /invocations`` on an
MLflow ``dataframe_split`` body of 1 and of 100 rows:

``parse``      body bytes → :class:`~champion.serving.protocol.Rows`;
``prepare``    rows → the model's input arrays (checked and converted);
``model``      the onnxruntime call and decoding its labels;
``outputs``    what the data plane derives from the predictions (the Prometheus
               counts);
``serialize``  the ``{"predictions": [...]}`` body;
``log``        handing the request to the prediction log (the request's share) and
               writing it (the writer thread's share, per request, measured on a
               batch of ``--log-batch`` requests, as the writer sees them);
``app``        the whole ASGI call through the app (envelope, routing, the route,
               the response), with the log's writer stopped: what the stages above
               leave is the envelope and the framework.

Each figure is the best of ``--repeat`` rounds of ``--number`` calls, in CPU µs per
request (of the thread that does the work): the best round is the one the other
processes on the machine disturbed least. It is a profile, not a benchmark: the
figures compare stages and versions of the code on one machine, not servers.

How to run::

    uv run python benchmarks/serve.py --workdir /tmp/bench      # once: train the model
    uv run python benchmarks/profile_serving.py --workdir /tmp/bench
    uv run python benchmarks/profile_serving.py --workdir /tmp/bench --cprofile 100

``--cprofile ROWS`` prints cProfile's top functions for ``--number`` whole ASGI calls
of ROWS rows instead of the table.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import pstats
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from serve import FEATURES, MODEL_NAME, request_body

from champion.monitoring.log import Outputs, PredictionLog
from champion.serving.app import create_app
from champion.serving.protocol import Limits, invocations_answer, parse_invocations
from champion.settings import Settings

STAGES = ("parse", "prepare", "model", "outputs", "serialize", "log (request)", "log (writer)")


def best(call, number: int, repeat: int) -> float:
    """CPU µs of this thread per call of ``call()``, best of ``repeat`` rounds of
    ``number`` calls (CPU time, not wall time: the other processes on a loaded machine
    take turns on the cores, and wall time would count their turns too)."""
    rounds = []
    for _ in range(repeat):
        start = time.thread_time()
        for _ in range(number):
            call()
        rounds.append((time.thread_time() - start) / number)
    return min(rounds) * 1e6


class Driver:
    """The app, started (its lifespan entered), called with raw ASGI messages."""

    def __init__(self, app) -> None:
        self.app = app
        self.loop = asyncio.new_event_loop()
        self._lifespan = app.router.lifespan_context(app)
        self.loop.run_until_complete(self._lifespan.__aenter__())

    def close(self) -> None:
        self.loop.run_until_complete(self._lifespan.__aexit__(None, None, None))
        self.loop.close()

    def post(self, body: bytes) -> tuple[int, bytes]:
        return self.loop.run_until_complete(self._post(body))

    async def _post(self, body: bytes) -> tuple[int, bytes]:
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": "/invocations",
            "raw_path": b"/invocations",
            "root_path": "",
            "query_string": b"",
            "headers": [
                (b"host", b"127.0.0.1"),
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
            "client": ("127.0.0.1", 1),
            "server": ("127.0.0.1", 8000),
            "state": {},
        }
        sent = []

        async def receive():
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message):
            sent.append(message)

        await self.app(scope, receive, send)
        return sent[0]["status"], b"".join(m.get("body", b"") for m in sent[1:])


def stage_times(driver: Driver, plane, rows: int, args) -> dict[str, float]:
    """µs per request of each stage for a body of ``rows`` rows."""
    body = request_body(rows).encode()
    route = plane.route(None)
    model = route.model
    limits = Limits()
    parsed = parse_invocations(body, "application/json", model.features.columns, limits)
    inputs = model.prepare(parsed)
    predictions = model.predict(inputs)
    n, r = args.number, args.repeat
    times = {
        "parse": best(lambda: parse_invocations(body, "application/json", FEATURES, limits), n, r),
        "prepare": best(lambda: model.prepare(parsed), n, r),
        "model": best(lambda: model.predict(inputs), n, r),
        "outputs": best(lambda: plane._count(model, "champion", predictions), n, r),
        "serialize": best(lambda: invocations_answer(predictions), n, r),
    }
    with tempfile.TemporaryDirectory() as folder:
        log = PredictionLog(f"sqlite:///{folder}/log.db", max_buffered=10**9)
        plane.prediction_log = log
        counter = iter(range(10**9))

        def record():
            plane._record(
                f"r{next(counter)}",
                (time.time(), time.perf_counter()),
                "champion",
                model,
                inputs,
                Outputs(model.task, predictions, tuple(model.tags)),
            )

        times["log (request)"] = best(record, n, r)
        log.flush()
        rounds = []
        for _ in range(r):
            for _ in range(args.log_batch):
                record()
            start = time.thread_time()
            log.flush()
            rounds.append((time.thread_time() - start) / args.log_batch)
        times["log (writer)"] = min(rounds) * 1e6
        log.engine.dispose()
        plane.prediction_log = None
    # The whole call, the log's writer out of the way (its share is counted above).
    status, answer = driver.post(body)
    assert status == 200, answer
    times["app"] = best(lambda: driver.post(body), n, r)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workdir", type=Path, required=True, help="serve.py's --workdir")
    parser.add_argument("--number", type=int, default=300, help="calls per round")
    parser.add_argument("--repeat", type=int, default=7, help="rounds; the best counts")
    parser.add_argument("--log-batch", type=int, default=500, help="requests per log write")
    parser.add_argument("--cprofile", type=int, metavar="ROWS", help="profile whole calls")
    parser.add_argument("--sort", default="tottime", help="cProfile order (e.g. cumulative)")
    args = parser.parse_args()

    environ = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{args.workdir / 'mlflow.db'}"}
    settings = Settings.from_env(args.workdir, environ=environ)
    from champion.monitoring.log import LogOptions

    app = create_app(
        settings,
        MODEL_NAME,
        reload_interval=0,
        monitor_interval=0,
        logging_options=LogOptions(enabled=False),
    )
    driver = Driver(app)
    plane = app.state.plane
    try:
        if args.cprofile:
            body = request_body(args.cprofile).encode()
            profile = cProfile.Profile()
            profile.enable()
            for _ in range(args.number):
                driver.post(body)
            profile.disable()
            pstats.Stats(profile).sort_stats(args.sort).print_stats(30)
            return
        table = {rows: stage_times(driver, plane, rows, args) for rows in (1, 100)}
    finally:
        driver.close()
    load = os.getloadavg()[0]
    print(f"µs per request, best of {args.repeat} × {args.number}; load average {load:.2f}")
    print("| stage | 1 row | 100 rows |")
    print("|---|---|---|")
    for stage in (*STAGES, "app"):
        print(f"| {stage} | {table[1][stage]:,.0f} | {table[100][stage]:,.0f} |")
    rest = {rows: t["app"] - sum(t[s] for s in STAGES[:5]) for rows, t in table.items()}
    print(f"| envelope and framework (app − stages) | {rest[1]:,.0f} | {rest[100]:,.0f} |")


if __name__ == "__main__":
    main()
