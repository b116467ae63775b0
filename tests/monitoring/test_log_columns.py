"""The log takes a request's predictions as one array (:class:`Outputs`) and its writer
makes the rows: what it stores, dead-letters and replays is what a value per row gave."""

from __future__ import annotations

import time

import numpy as np
import orjson
import pandas as pd
import pytest

from champion.monitoring import deadletter
from champion.monitoring.log import Outputs, PredictionLog, Scored, _row_of

TAGS = ("fire", "flying", "water")


def _per_row(task: str, predictions: np.ndarray, tags=TAGS) -> list[dict]:
    """The outputs as the server made them before, one Python value per row."""
    if task == "regression":
        return [{"value": float(v)} for v in predictions]
    if task == "multilabel":
        return [
            {"predicted_tags": [t for t, on in zip(tags, row, strict=True) if on]}
            for row in predictions
        ]
    return [{"label": v.item() if hasattr(v, "item") else v} for v in predictions]


CASES = {
    "binary-int": ("binary", np.array([0, 1, 1])),
    "binary-bool": ("binary", np.array([True, False])),
    "binary-str": ("binary", np.array(["benign", "malignant"], dtype=object)),
    "multiclass-int": ("multiclass", np.array([3, 1, 2], dtype=np.int32)),
    "multiclass-str": ("multiclass", np.array(["Fire", "Water"], dtype=object)),
    "regression": ("regression", np.array([0.1, 1 / 3, 250.0])),
    "multilabel": ("multilabel", np.array([[1, 0, 1], [0, 0, 0], [0, 1, 0]])),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_columns_give_the_outputs_a_value_per_row_gave(case):
    task, predictions = case
    rows = Outputs(task, predictions, TAGS).rows()
    expected = _per_row(task, predictions)
    assert rows == expected
    # Types too (True == 1 == 1.0 in Python): the stored JSON is the same bytes.
    assert orjson.dumps(rows) == orjson.dumps(expected)
    assert len(Outputs(task, predictions, TAGS)) == len(predictions)


def _scored(request_id: str, outputs) -> Scored:
    return Scored(
        request_id=request_id,
        ts=time.time(),
        model="m",
        version="1",
        arm="champion",
        inputs={"hp": np.array([1.0, np.nan, 3.0]), "colour": np.array(["a", None, "c"], object)},
        outputs=outputs,
        latency_ms=1.0,
    )


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_a_columnar_request_is_stored_as_its_rows_were(case):
    task, predictions = case
    columnar = _row_of(_scored("r", Outputs(task, predictions, TAGS)))
    per_row = _row_of(_scored("r", _per_row(task, predictions)))
    assert columnar == {**per_row, "ts": columnar["ts"]}


def test_columnar_requests_are_written_dead_lettered_and_replayed(database_url, tmp_path):
    labels = np.array(["a", "b", "a"], dtype=object)
    log = PredictionLog(database_url, dead_letter=tmp_path / "dead")
    log.record(_scored("written", Outputs("binary", labels)))
    assert log.flush() == 3
    # A batch the database will not take goes to the dead letter as rows.
    log.record(_scored("refused", Outputs("binary", labels)))
    log._to_dead_letter(list(log._buffer), 3)
    (path,) = deadletter.pending(tmp_path / "dead")
    (stored,) = deadletter.read(path)
    assert orjson.loads(stored["outputs"]) == [{"label": v} for v in labels]
    assert log.replay_dead_letter().rows == 3
    window = log.window("m")
    log.close()
    assert window["request_id"].tolist() == ["written"] * 3 + ["refused"] * 3
    assert window["output"].tolist() == [{"label": v} for v in labels] * 2
    assert window["hp"][0] == 1.0 and pd.isna(window["hp"][1])
    assert window["colour"][0] == "a" and pd.isna(window["colour"][1])
