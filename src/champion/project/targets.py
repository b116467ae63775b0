"""The target as a model learns it: labels, values, or a tag indicator matrix.

:func:`prepare_target` decides, once at training, the positive class (binary) or the
tag vocabulary (multilabel); :func:`encode_target` applies the same decisions to any
later rows (the gate's holdout, feedback), so both sides are encoded the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.preprocessing import MultiLabelBinarizer

from champion.errors import SpecError
from champion.project.categories import canonical_category
from champion.project.data import split_tags
from champion.project.spec import ProjectSpec

_POSITIVE_SPELLINGS = (True, 1, "1", "yes", "Yes", "true", "True", "positive", "pos")


@dataclass(frozen=True)
class Target:
    """The encoded target and what it took to encode it.

    Attributes:
        y: labels (classification), floats (regression) or an indicator matrix (multilabel).
        keep: boolean mask of the rows that have a target (rows without one are dropped).
        pos_label: the positive class of a binary task, else None.
        tags: the tag vocabulary of a multilabel task, in column order.
    """

    y: np.ndarray
    keep: np.ndarray
    pos_label: object = None
    tags: list[str] = field(default_factory=list)


def prepare_target(frame: pd.DataFrame, spec: ProjectSpec) -> Target:
    """Encode the training target, choosing the positive class or the tag vocabulary."""
    targets, separator = spec.target_columns, spec.tag_separator
    if spec.task == "multilabel":
        tags = sorted({t for row in split_tags(frame, targets, separator) for t in row})
        return encode_target(frame, spec.task, targets, separator=separator, tags=tags)
    target = encode_target(frame, spec.task, targets)
    if spec.task != "binary":
        return target
    return Target(target.y, target.keep, positive_class(target.y, spec.positive_class))


def encode_target(
    frame: pd.DataFrame,
    task: str,
    targets: list[str],
    *,
    separator: str = "|",
    tags: list[str] | None = None,
    pos_label=None,
) -> Target:
    """Encode ``frame``'s target like training did (same tag vocabulary, same labels)."""
    if task == "multilabel":
        rows = split_tags(frame, targets, separator)
        binarizer = MultiLabelBinarizer(classes=list(tags or []))
        known = set(tags or [])
        y = binarizer.fit_transform([[t for t in row if t in known] for row in rows])
        return Target(y, np.ones(len(frame), dtype=bool), None, list(tags or []))
    values = frame[targets[0]]
    keep = values.notna().to_numpy()
    if task == "regression":
        y = pd.to_numeric(values[keep], errors="raise").to_numpy(dtype=float)
    else:
        y = values[keep].to_numpy()
        if y.dtype == object or pd.api.types.is_string_dtype(values):
            y = y.astype(str).astype(object)
    return Target(y, keep, pos_label)


def positive_class(y: np.ndarray, requested=None):
    """The positive class of a binary target: ``requested`` if given, else a value
    spelled like "yes" (True, 1, "yes", ...), else the rarer class."""
    classes = list(pd.unique(y))
    if requested is not None:
        for cls in classes:
            if canonical_category(cls) == canonical_category(requested):
                return cls
        raise SpecError(
            f"positive_class: {requested!r} is not a class of the target; classes are: "
            f"{', '.join(repr(c.item() if isinstance(c, np.generic) else c) for c in classes)}",
            field="positive_class",
        )
    # Compared by canonical spelling, so np.True_, np.int64(1) and 1.0 are recognised.
    names = [canonical_category(cls) for cls in classes]
    for spelling in _POSITIVE_SPELLINGS:
        for cls, name in zip(classes, names, strict=True):
            if name == canonical_category(spelling):
                return cls
    counts = pd.Series(y).value_counts()
    return counts.index[-1]
