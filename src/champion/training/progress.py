"""Progress of a training call, as events: what each candidate is doing, and how far.

A candidate's work is counted in steps: one per search trial, then ``fit``,
``evaluate``, ``explain`` and ``log`` (the model and the artifacts). Whoever runs the
candidate (this process, or a worker process of :mod:`champion.training.parallel`)
reports through a :class:`CandidateProgress`, which turns each step into a
:class:`ProgressEvent` and hands it to ``emit``. Workers put their events on a queue;
the parent hands them to the caller's callback, so a bar moves inside a candidate
(trial by trial, and at the explanation) also when candidates run side by side.

Events of one candidate arrive in order; events of different candidates interleave.

================  =======  ==========================================================
step              done     meaning
================  =======  ==========================================================
``queued``        0        the candidate is known (sent by the parent, once for each)
``trial``         k        trial k of the search has finished (``detail``: "k/n")
``fit``           trials   the final fit on the training rows starts
``evaluate``      +1       holdout metrics
``explain``       +2       plots, importance, SHAP, the reference profile
``log``           +3       the model and the artifacts go to the store
``done``          total    the run is finished
================  =======  ==========================================================

The search keeps its own, older callback shape, :data:`SearchProgress`; a
:class:`CandidateProgress` is one (its :meth:`CandidateProgress.__call__`).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field

STAGES = ("fit", "evaluate", "explain", "log")


@dataclass(frozen=True)
class ProgressEvent:
    """One step of one candidate.

    Attributes:
        candidate: the candidate's name.
        step: one of ``queued``, ``trial``, ``fit``, ``evaluate``, ``explain``,
            ``log``, ``done``.
        done: steps of this candidate finished so far.
        total: steps this candidate takes in all (its trials plus four).
        detail: for ``trial``, "k/n"; else empty.
        pid: the process that did the work (a worker's, when run in parallel).
    """

    candidate: str
    step: str
    done: int
    total: int
    detail: str = ""
    pid: int = field(default_factory=os.getpid)

    def describe(self) -> str:
        """One line for a log or a bar: ``random_forest: trial 3/10``."""
        return f"{self.candidate}: {self.step}" + (f" {self.detail}" if self.detail else "")


Progress = Callable[[ProgressEvent], None]
"""What ``train_project(progress=...)`` takes: called once per event."""

SearchProgress = Callable[[str, int, int], None]
"""What the Optuna search takes: called after each finished trial with
``(label, -1, trials)``; the label is for people, the call itself counts the trial."""


def ignore(event: ProgressEvent) -> None:
    """The callback when the caller wants no progress."""


def steps_of(trials: int) -> int:
    """Steps of a candidate with ``trials`` search trials (0 without a search)."""
    return trials + len(STAGES)


class CandidateProgress:
    """Reports the steps of one candidate to ``emit``; also a :data:`SearchProgress`."""

    def __init__(self, candidate: str, trials: int, emit: Progress) -> None:
        self.candidate = candidate
        self.trials = trials
        self.total = steps_of(trials)
        self.trials_done = 0
        self._emit = emit

    def __call__(self, label: str, done: int, total: int) -> None:
        """One finished search trial (the :data:`SearchProgress` contract)."""
        self.trials_done += 1
        self._send("trial", self.trials_done, f"{self.trials_done}/{self.trials}")

    def begin(self, stage: str) -> None:
        """``stage`` (one of :data:`STAGES`) starts: the steps before it are done."""
        self._send(stage, self.trials + STAGES.index(stage))

    def finish(self) -> None:
        self._send("done", self.total)

    def _send(self, step: str, done: int, detail: str = "") -> None:
        self._emit(ProgressEvent(self.candidate, step, done, self.total, detail))


class Tally:
    """The state of a whole training call from its events: the steps done and the total
    over every candidate, and the last event of each. Displays build on it."""

    def __init__(self) -> None:
        self.last: dict[str, ProgressEvent] = {}

    def add(self, event: ProgressEvent) -> None:
        self.last[event.candidate] = event

    @property
    def done(self) -> int:
        return sum(e.done for e in self.last.values())

    @property
    def total(self) -> int:
        return sum(e.total for e in self.last.values())


class Lines:
    """A :data:`Progress` for a log or a pipe: one line per step, trials included,
    each with the count over the whole call (``[5/17] random_forest: explain``)."""

    def __init__(self, write: Callable[[str], object]) -> None:
        self.tally = Tally()
        self._write = write

    def __call__(self, event: ProgressEvent) -> None:
        self.tally.add(event)
        if event.step != "queued":
            self._write(f"[{self.tally.done}/{self.tally.total}] {event.describe()}")


class Bars:
    """A :data:`Progress` for a terminal: on a Rich ``Progress`` (passed in, so this
    module needs no Rich), one overall bar and one bar per candidate."""

    def __init__(self, bars) -> None:
        self.tally = Tally()
        self._bars = bars
        self._overall = bars.add_task("training", total=None)
        self._tasks: dict[str, object] = {}

    def __call__(self, event: ProgressEvent) -> None:
        self.tally.add(event)
        task = self._tasks.get(event.candidate)
        if task is None:
            task = self._tasks[event.candidate] = self._bars.add_task(
                event.candidate, total=event.total
            )
        label = "queued" if event.step == "queued" else event.describe()
        self._bars.update(task, description=f"  {label}", completed=event.done, total=event.total)
        self._bars.update(
            self._overall,
            description="training",
            completed=self.tally.done,
            total=self.tally.total,
        )
