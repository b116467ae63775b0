"""Progress events of one candidate, and the two ways the CLI shows them."""

from __future__ import annotations

import pytest

from champion.training.progress import Bars, CandidateProgress, Lines, ProgressEvent


def _run(progress: CandidateProgress, trials: int) -> None:
    for trial in range(trials):
        progress(f"boosting trial {trial + 1}/{trials}", -1, trials)  # the search's shape
    for stage in ("fit", "evaluate", "explain", "log"):
        progress.begin(stage)
    progress.finish()


def test_a_candidate_reports_each_trial_then_each_stage_in_order():
    events: list[ProgressEvent] = []
    _run(CandidateProgress("boosting", 3, events.append), 3)
    assert [(e.step, e.done, e.detail) for e in events] == [
        ("trial", 1, "1/3"),
        ("trial", 2, "2/3"),
        ("trial", 3, "3/3"),
        ("fit", 3, ""),
        ("evaluate", 4, ""),
        ("explain", 5, ""),
        ("log", 6, ""),
        ("done", 7, ""),
    ]
    assert {e.total for e in events} == {7} and {e.candidate for e in events} == {"boosting"}


def test_lines_count_steps_over_every_candidate():
    written: list[str] = []
    lines = Lines(written.append)
    lines(ProgressEvent("linear", "queued", 0, 4))
    lines(ProgressEvent("forest", "queued", 0, 6))
    lines(ProgressEvent("forest", "trial", 1, 6, "1/2"))
    lines(ProgressEvent("linear", "explain", 2, 4))
    assert written == ["[1/10] forest: trial 1/2", "[3/10] linear: explain"]


class _FakeBars:
    """The two methods of Rich's ``Progress`` that :class:`Bars` calls, recorded."""

    def __init__(self) -> None:
        self.tasks: dict[int, dict] = {}

    def add_task(self, description: str, total=None) -> int:
        self.tasks[len(self.tasks)] = {"description": description, "total": total}
        return len(self.tasks) - 1

    def update(self, task: int, **fields) -> None:
        self.tasks[task] |= fields


def test_bars_move_one_bar_per_candidate_and_the_overall_bar():
    fake = _FakeBars()
    bars = Bars(fake)
    bars(ProgressEvent("linear", "queued", 0, 4))
    bars(ProgressEvent("forest", "queued", 0, 6))
    bars(ProgressEvent("forest", "trial", 2, 6, "2/2"))
    bars(ProgressEvent("linear", "done", 4, 4))
    overall, linear, forest = fake.tasks[0], fake.tasks[1], fake.tasks[2]
    assert (overall["completed"], overall["total"]) == (6, 10)
    assert (linear["completed"], linear["total"]) == (4, 4)
    assert linear["description"].strip() == "linear: done"
    assert (forest["completed"], forest["description"].strip()) == (2, "forest: trial 2/2")


@pytest.mark.parametrize("stage", ["fit", "log"])
def test_a_stage_counts_the_trials_before_it(stage):
    events: list[ProgressEvent] = []
    progress = CandidateProgress("svm", 5, events.append)
    progress.begin(stage)
    assert events[0].done == 5 + ("fit", "evaluate", "explain", "log").index(stage)
