"""Labels from a CSV (champion feedback): normalised for the model's task, refused with
the line at fault, joined to the log all or nothing."""

from __future__ import annotations

import dataclasses

import pytest

from champion.errors import DataError, NotFoundError
from champion.monitoring.feedback import labels_from_csv, model_task, store_labels
from champion.monitoring.log import Label, PredictionLog
from support.monitoring import log_generation


def _csv(tmp_path, text: str):
    path = tmp_path / "labels.csv"
    path.write_text(text)
    return path


def test_the_task_is_read_from_the_champion_model(model):
    assert model_task(model.settings, "legendary") == "binary"


def test_labels_take_the_tasks_one_form_and_row_defaults_to_0(model, tmp_path):
    # pandas reads the column as booleans: the log keeps a class as its canonical string.
    path = _csv(tmp_path, "request_id,label,row\n g9-0 ,True,\ng9-1,TRUE,0\ng9-2,False,2\n")
    assert labels_from_csv(path, model.settings, "legendary") == [
        Label("g9-0", "True", 0),
        Label("g9-1", "True", 0),
        Label("g9-2", "False", 2),
    ]


@pytest.mark.parametrize(
    ("text", "match"),
    [
        (None, "does not exist"),
        ("request_id,truth\ng9-0,true\n", r"missing column\(s\) \['label'\]"),
        ("request_id,label\n", "no labels in the file"),
        ("request_id,label,row\ng9-0,true,two\n", "labels.csv line 2: row must be a whole"),
        ("request_id,label\ng9-0,true\n,false\n", "labels.csv line 3: request_id is empty"),
        ("", "not a readable CSV"),
    ],
    ids=["no-file", "no-label-column", "no-rows", "row-not-a-number", "empty-id", "empty-file"],
)
def test_a_bad_file_is_refused_naming_what_is_wrong(model, tmp_path, text, match):
    path = tmp_path / "labels.csv"
    if text is not None:
        path.write_text(text)
    with pytest.raises(DataError, match=match):
        labels_from_csv(path, model.settings, "legendary")


def test_labels_are_joined_to_the_log_and_sending_them_twice_changes_nothing(model, tmp_path):
    settings = dataclasses.replace(
        model.settings, prediction_log=f"sqlite:///{tmp_path / 'predictions.db'}"
    )
    log_generation(settings.prediction_log, 9)
    labels = labels_from_csv(
        _csv(tmp_path, "request_id,label\ng9-0,true\ng9-1,false\n"), settings, "legendary"
    )
    assert store_labels(settings, labels) == 2
    assert store_labels(settings, labels) == 2
    log = PredictionLog(settings.prediction_log)
    try:
        window = log.window("legendary")
    finally:
        log.close()
    labelled = window.dropna(subset=["label"])
    assert dict(zip(labelled["request_id"], labelled["label"], strict=True)) == {
        "g9-0": "True",
        "g9-1": "False",
    }


def test_an_unknown_request_id_stores_no_label_of_the_file(model, tmp_path):
    settings = dataclasses.replace(
        model.settings, prediction_log=f"sqlite:///{tmp_path / 'predictions.db'}"
    )
    log_generation(settings.prediction_log, 9)
    labels = [Label("g9-0", "True"), Label("nobody", "False")]
    with pytest.raises(NotFoundError, match="nobody"):
        store_labels(settings, labels)
    log = PredictionLog(settings.prediction_log)
    try:
        assert log.window("legendary")["label"].isna().all()
    finally:
        log.close()
