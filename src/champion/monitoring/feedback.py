"""Ground truth from a file: ``champion feedback labels.csv``.

The CSV has a ``request_id`` column (the ``X-Request-ID`` the server answered with), a
``label`` column and optionally ``row`` (the row within a multi-row request, a whole
number, default 0) and, for a multilabel model, ``new_tags`` (``a|b``: tags the model
does not know yet, added on purpose). Labels are normalised and checked against the
champion model's classes or tags exactly as ``POST /feedback`` does, and a row that
has a different label already is only relabelled with ``replace`` (``--replace``).
"""

from __future__ import annotations

from pathlib import Path

import mlflow
import pandas as pd

from champion.errors import DataError, RequestError
from champion.monitoring.log import Label, LabelSpace, PredictionLog, normalize_label
from champion.registry.tracking import translate_errors, use_tracking
from champion.settings import Settings


def model_labels(settings: Settings, name: str, alias: str = "champion") -> LabelSpace:
    """The task, classes and tags of ``models:/name@alias`` (read from its MLmodel,
    nothing downloaded but that file). A model trained before champion wrote its
    classes there gives none: any class is then taken.

    Raises:
        NotFoundError: no such model or alias.
    """
    with use_tracking(settings), translate_errors():
        info = mlflow.models.get_model_info(f"models:/{name}@{alias}")
    meta = (info.metadata or {}).get("champion", {})
    return LabelSpace(
        meta.get("task", "binary"),
        tuple(map(str, meta.get("classes") or [])),
        tuple(meta.get("tags") or []),
    )


def model_task(settings: Settings, name: str, alias: str = "champion") -> str:
    """The task of ``models:/name@alias``."""
    return model_labels(settings, name, alias).task


def labels_from_csv(
    path: Path, settings: Settings, name: str, *, replace: bool = False
) -> list[Label]:
    """The labels in ``path``, normalised and checked for the champion model;
    ``replace``: each may overwrite a different label stored before.

    Raises:
        DataError: the file is missing or unreadable, lacks a column, or a label or
            row does not fit (naming the line).
    """
    if not path.is_file():
        raise DataError(f"feedback file '{path}' does not exist", field=str(path))
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
        raise DataError(f"{path}: not a readable CSV: {str(e).splitlines()[0]}") from None
    missing = [c for c in ("request_id", "label") if c not in frame.columns]
    if missing:
        raise DataError(
            f"{path}: missing column(s) {missing}; it needs request_id and label "
            f"(and row for multi-row requests); it has: {', '.join(map(str, frame.columns))}",
            field=missing[0],
        )
    space = model_labels(settings, name)
    labels = []
    for line, record in enumerate(frame.to_dict("records"), start=2):  # 1 is the header
        where = f"{path.name} line {line}"
        if not record["request_id"].strip():
            raise DataError(f"{where}: request_id is empty", field=where)
        new_tags = [t.strip() for t in record.get("new_tags", "").split("|") if t.strip()]
        try:
            label = normalize_label(_cell(record["label"], space), space, where, new_tags)
        except RequestError as e:
            raise DataError(e.message, field=where) from None
        row = _row(record.get("row", ""), where)
        labels.append(Label(record["request_id"].strip(), label, row, replace))
    if not labels:
        raise DataError(f"{path}: no labels in the file", field=str(path))
    return labels


def _cell(text: str, space: LabelSpace):
    """A label cell as the JSON body would give it: a number for regression, tags
    split on ``|`` for multilabel, the text (stripped) for a class."""
    return text if space.task in ("regression", "multilabel") else text.strip()


def _row(text: str, where: str) -> int:
    """A row number: empty is 0; ``2`` and ``2.0`` are 2; ``1.5`` or ``-1`` is refused
    (never truncated)."""
    if not text.strip():
        return 0
    try:
        value = float(text)
    except ValueError:
        raise DataError(f"{where}: row must be a whole number; got {text!r}", field=where) from None
    if not value.is_integer() or value < 0:
        raise DataError(f"{where}: row must be a whole number; got {text!r}", field=where)
    return int(value)


def store_labels(settings: Settings, labels: list[Label]) -> int:
    """Join ``labels`` to the prediction log of ``settings`` (see
    :meth:`PredictionLog.add_feedback`).

    Raises:
        NotFoundError: a request id was never logged (naming it); nothing is stored.
        ConflictError: a row has a different label and ``replace`` was not asked
            (naming the request id); nothing is stored.
    """
    prediction_log = PredictionLog(settings.prediction_log)
    try:
        return prediction_log.add_feedback(labels)
    finally:
        prediction_log.close()
