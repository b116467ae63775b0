"""Cut the holdout: random, stratified, grouped by a column, or the last values of an
ordered column. :func:`make_split` returns positions and a description to log."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.model_selection import (
    GroupKFold,
    GroupShuffleSplit,
    KFold,
    StratifiedGroupKFold,
    StratifiedKFold,
    train_test_split,
)

from champion.errors import DataError
from champion.project.spec import CLASSIFICATION_TASKS, SplitSpec


@dataclass(frozen=True)
class Split:
    """Row positions of the training and holdout sets, and how they were cut."""

    train: np.ndarray
    test: np.ndarray
    method: str
    description: str


def make_split(
    frame: pd.DataFrame, y: pd.Series | None, spec: SplitSpec, task: str, seed: int
) -> Split:
    """Split ``frame`` into training and holdout positions as ``spec`` says.

    ``auto`` is stratified for classification when every class has two rows or more,
    random otherwise.

    Raises:
        DataError: the split column is missing, or the split leaves a side empty or the
            training side with a single class.
    """
    method = spec.method
    classification = task in CLASSIFICATION_TASKS
    if method == "auto":
        method = "stratified" if classification and y.value_counts().min() >= 2 else "random"
    if spec.column is not None and spec.column not in frame.columns:
        raise DataError(
            f"split.column: '{spec.column}' is not in the data; columns are: "
            f"{', '.join(map(str, frame.columns))}",
            field="split.column",
        )
    positions = np.arange(len(frame))
    if method == "random":
        train, test = train_test_split(positions, test_size=spec.test_size, random_state=seed)
        text = f"random {spec.test_size:.0%} holdout"
    elif method == "stratified":
        if not classification:
            raise DataError(
                "split.method: 'stratified' needs a classification task", field="split.method"
            )
        train, test = train_test_split(
            positions, test_size=spec.test_size, random_state=seed, stratify=y
        )
        text = f"stratified {spec.test_size:.0%} holdout"
    elif method == "group":
        groups = frame[spec.column].astype(str).to_numpy()
        train, test = _group_split(
            positions, y if classification else None, groups, spec.test_size, seed
        )
        text = f"grouped by '{spec.column}', about {spec.test_size:.0%} holdout"
    else:
        train, test, held = _ordered_split(frame[spec.column], spec)
        text = f"ordered by '{spec.column}', holdout {spec.column} in {held}"
    if len(train) == 0 or len(test) == 0:
        raise DataError(f"split: the {method} split leaves a side empty", field="split")
    if classification and y.iloc[train].nunique() < 2:
        raise DataError(
            f"split: the {method} split leaves a single class for training", field="split"
        )
    return Split(np.sort(train), np.sort(test), method, text)


def _group_split(positions, y, groups, test_size, seed):
    n_groups = len(np.unique(groups))
    if n_groups < 2:
        raise DataError("split.column: needs at least 2 distinct groups", field="split.column")
    if y is not None:
        n_splits = max(2, min(round(1 / test_size), n_groups))
        folds = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
        return next(folds.split(positions, y, groups))
    folds = GroupShuffleSplit(n_splits=1, test_size=test_size, random_state=seed)
    return next(folds.split(positions, groups=groups))


def _ordered_split(column: pd.Series, spec: SplitSpec):
    values = np.sort(column.dropna().unique())
    if len(values) < 2:
        raise DataError(
            f"split.column: '{spec.column}' needs at least 2 distinct values for an ordered split",
            field="split.column",
        )
    if spec.last is not None:
        held = values[-min(spec.last, len(values) - 1) :]
    else:
        counts = column.value_counts()
        held, total = [], 0
        for value in values[::-1][:-1]:
            held.insert(0, value)
            total += counts[value]
            if total >= spec.test_size * len(column):
                break
        held = np.asarray(held)
    is_test = column.isin(held).to_numpy()
    positions = np.arange(len(column))
    return (
        positions[~is_test],
        positions[is_test],
        [v.item() if hasattr(v, "item") else v for v in held],
    )


def cv_folds(task: str, spec: SplitSpec, frame: pd.DataFrame, y, seed: int, n_splits: int = 3):
    """Cross-validation folds inside the training rows, for hyperparameter search.

    Grouped splits keep groups whole; classification is stratified where possible.
    """
    if spec.method == "group":
        groups = frame[spec.column].astype(str).to_numpy()
        return list(GroupKFold(n_splits=n_splits).split(frame, y, groups))
    if task in CLASSIFICATION_TASKS and pd.Series(y).value_counts().min() >= n_splits:
        return list(StratifiedKFold(n_splits, shuffle=True, random_state=seed).split(frame, y))
    return list(KFold(n_splits, shuffle=True, random_state=seed).split(frame))
