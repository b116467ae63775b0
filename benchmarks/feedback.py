"""Bulk feedback: how long 150,000 labels take, and how long the server's log writer
waits meanwhile.

What it measures
----------------
A fresh SQLite prediction log (WAL, as ``champion serve`` keeps it) holds ``--labels``
one-row predictions. One thread calls :meth:`PredictionLog.add_feedback` with a label
for each (what one ``POST /feedback`` or ``champion feedback`` call does after
parsing). Meanwhile a second log on the same file, as a server's writer would, records
one prediction and writes it every 50 ms; each write's duration is a wait the server's
writer would see. Printed: the feedback call's wall-clock time, the writer's worst and
median write, and its failed writes (a write that waits past SQLite's 30 s lock
timeout fails).

How to run
----------
::

    uv run python benchmarks/feedback.py                  # 150,000 labels (~1 min)
    uv run python benchmarks/feedback.py --labels 20000
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from champion.monitoring.log import Label, PredictionLog, Scored


def _scored(request_id: str) -> Scored:
    return Scored(request_id, time.time(), "m", "1", "champion", {"x": np.array([1.0])}, ["a"], 1.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--labels", type=int, default=150_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'predictions.db'}"
        log = PredictionLog(url, max_buffered=args.labels + 1)
        for index in range(args.labels):
            log.record(_scored(f"r{index}"))
        log.flush()
        writer = PredictionLog(url)
        waits, failures, done = [], [], threading.Event()

        def write() -> None:
            index = 0
            while not done.is_set():
                writer.record(_scored(f"w{index}"))
                index += 1
                started = time.perf_counter()
                try:
                    if writer.flush() == 0:
                        failures.append(index)
                except Exception as e:  # the writer before the fix raised
                    failures.append(str(e))
                waits.append(time.perf_counter() - started)
                time.sleep(0.05)

        thread = threading.Thread(target=write)
        thread.start()
        time.sleep(0.3)
        labels = [Label(f"r{index}", "a") for index in range(args.labels)]
        started = time.perf_counter()
        log.add_feedback(labels)
        took = time.perf_counter() - started
        time.sleep(0.3)
        done.set()
        thread.join()
        log.close()
        writer.close()
    print(f"{args.labels} labels in one call: {took:.2f} s")
    print(
        f"concurrent writer: {len(waits)} writes, worst {max(waits) * 1000:.0f} ms, "
        f"median {statistics.median(waits) * 1000:.1f} ms, failed {len(failures)}"
    )


if __name__ == "__main__":
    main()
