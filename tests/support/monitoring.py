"""A promoted model with logged predictions, and a webhook that records what it gets:
where the monitoring-run tests start."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pandas as pd

from champion.monitoring.log import PredictionLog, Scored
from support.projects import POKEMON, Promoted, promoted

STATS = ["hp", "attack", "defense", "special_attack", "special_defense", "speed"]
# quiet fires whenever rows were logged (log_generation predicts no legendary: a rate of 0);
# errors only on the caller's error_rate; slow never (no latency is that high).
RULES = """
    rules:
      - {name: quiet, signal: prediction_rate, threshold: 0.0}
      - {name: errors, signal: error_rate, threshold: 0.1, severity: critical}
      - {name: slow, signal: p99_latency_ms, threshold: 1.0e9}
"""


def legendary(folder: Path, template: Path, alerts: str = RULES) -> Promoted:
    """The legendary linear model on generations 1-3, promoted, with the project
    file's ``monitoring.alerts`` section ``alerts`` (YAML indented by four; default
    :data:`RULES`)."""
    return promoted(
        folder,
        template,
        f"""
name: legendary
data:
  path: {POKEMON}/generation-*.csv
  filter: generation <= 3
target: is_legendary
task: binary
features: {{numeric: {STATS}}}
split: {{method: group, column: species_id}}
candidates: [{{name: linear, estimator: linear, params: {{class_weight: balanced}}}}]
monitoring:
  alerts:
{alerts}
""",
    )


def log_generation(url: str, generation: int, version: str = "1") -> int:
    """Log generation ``generation``'s Pokémon as predictions of ``version`` (one
    request each) in the log at ``url``; returns the rows logged."""
    frame = pd.read_csv(POKEMON / f"generation-{generation}.csv")
    log = PredictionLog(url)
    try:
        for index, row in frame.iterrows():
            log.record(
                Scored(
                    request_id=f"g{generation}-{index}",
                    ts=1_750_000_000.0 + index,
                    model="legendary",
                    version=version,
                    arm="champion",
                    inputs={s: np.array([float(row[s])]) for s in STATS},
                    outputs=[{"label": "False"}],
                    latency_ms=2.0,
                )
            )
    finally:
        log.close()
    return len(frame)


@dataclass
class Webhook:
    """What a webhook received: one ``(content type, JSON body)`` per POST; it answers
    ``status``."""

    url: str = ""
    status: int = 200
    received: list[tuple[str, dict]] = field(default_factory=list)

    @property
    def bodies(self) -> list[dict]:
        return [body for _, body in self.received]


@contextmanager
def webhook() -> Iterator[Webhook]:
    """A real HTTP server on a free local port that records each POST and answers
    ``hook.status``."""
    hook = Webhook()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            # Recorded before answering, so the alerter's POST has returned only after.
            hook.received.append((self.headers["Content-Type"], json.loads(body)))
            self.send_response(hook.status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *_args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    hook.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/champion"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield hook
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
