"""Ground truth from a file: ``champion feedback labels.csv``.

The CSV has a ``request_id`` column (the ``X-Request-ID`` the server answered with), a
``label`` column and optionally ``row`` (the row within a multi-row request, default 0).
Labels are normalised for the model's task exactly as ``POST /feedback`` does.
"""

from __future__ import annotations

from pathlib import Path

import mlflow
import pandas as pd

from champion.errors import DataError, RequestError
from champion.monitoring.log import Label, PredictionLog, normalize_label
from champion.registry.tracking import translate_errors, use_tracking
from champion.settings import Settings


def model_task(settings: Settings, name: str, alias: str = "champion") -> str:
    """The task of ``models:/name@alias`` (read from its MLmodel, nothing downloaded
    but that file).

    Raises:
        NotFoundError: no such model or alias.
    """
    with use_tracking(settings), translate_errors():
        info = mlflow.models.get_model_info(f"models:/{name}@{alias}")
    return (info.metadata or {}).get("champion", {}).get("task", "binary")


def labels_from_csv(path: Path, settings: Settings, name: str) -> list[Label]:
    """The labels in ``path``, normalised for the model's task.

    Raises:
        DataError: the file is missing or unreadable, lacks a column, or a label does
            not fit the task (naming the line).
    """
    if not path.is_file():
        raise DataError(f"feedback file '{path}' does not exist", field=str(path))
    try:
        frame = pd.read_csv(path, dtype={"request_id": str}, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
        raise DataError(f"{path}: not a readable CSV: {str(e).splitlines()[0]}") from None
    missing = [c for c in ("request_id", "label") if c not in frame.columns]
    if missing:
        raise DataError(
            f"{path}: missing column(s) {missing}; it needs request_id and label "
            f"(and row for multi-row requests); it has: {', '.join(map(str, frame.columns))}",
            field=missing[0],
        )
    task = model_task(settings, name)
    labels = []
    for line, record in enumerate(frame.to_dict("records"), start=2):  # 1 is the header
        where = f"{path.name} line {line}"
        try:
            label = normalize_label(record["label"], task, where)
            row = int(record.get("row") or 0)
        except RequestError as e:
            raise DataError(e.message, field=where) from None
        except ValueError:
            raise DataError(f"{where}: row must be a whole number", field=where) from None
        if not str(record["request_id"]).strip():
            raise DataError(f"{where}: request_id is empty", field=where)
        labels.append(Label(str(record["request_id"]).strip(), label, row))
    if not labels:
        raise DataError(f"{path}: no labels in the file", field=str(path))
    return labels


def store_labels(settings: Settings, labels: list[Label]) -> int:
    """Join ``labels`` to the prediction log of ``settings``; all or nothing.

    Raises:
        NotFoundError: a request id was never logged (naming it); nothing is stored.
    """
    prediction_log = PredictionLog(settings.prediction_log)
    try:
        return prediction_log.add_feedback(labels)
    finally:
        prediction_log.close()
