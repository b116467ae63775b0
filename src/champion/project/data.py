"""Load a project's rows: a CSV file or a glob of them, an optional row filter, checks.

:func:`load_table` is the one way training reads data. Every problem a user can fix
(no such file, an empty file, a broken filter, a missing or unusable target) is a
:class:`~champion.errors.DataError` that names the file or column.
"""

from __future__ import annotations

import glob
import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from champion.errors import DataError
from champion.project.spec import Project


@dataclass(frozen=True)
class Table:
    """Rows ready for training, and where they came from.

    Attributes:
        frame: the rows after the filter, index reset.
        source: the path or glob as written in the project file, resolved.
        files: the files read, in order.
        filter: the row filter applied, if any.
        digest: a content digest of the rows (stable across runs for the same data).
    """

    frame: pd.DataFrame
    source: str
    files: tuple[str, ...]
    filter: str | None
    digest: str


def read_csv_files(pattern: str, base_dir: Path) -> tuple[pd.DataFrame, tuple[str, ...]]:
    """Read one CSV file or every file matching a glob, concatenated in name order."""
    absolute = Path(pattern).is_absolute()
    if glob.has_magic(pattern):
        # Only the pattern is a glob: a folder named like "runs[1]" is taken literally.
        full = pattern if absolute else str(Path(glob.escape(str(base_dir))) / pattern)
        files = sorted(glob.glob(full))
    else:
        files = [pattern if absolute else str(base_dir / pattern)]
    if not files:
        raise DataError(f"data: no file matches '{pattern}' (looked in {base_dir})", field="data")
    frames = []
    for file in files:
        if not Path(file).is_file():
            raise DataError(f"data: file '{file}' does not exist", field="data")
        try:
            frames.append(pd.read_csv(file))
        except pd.errors.EmptyDataError:
            raise DataError(f"data: file '{file}' is empty", field="data") from None
        except (pd.errors.ParserError, UnicodeDecodeError) as e:
            first = str(e).splitlines()[0]
            raise DataError(
                f"data: file '{file}' is not a readable CSV: {first}", field="data"
            ) from None
    frame = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    if frame.empty:
        raise DataError(f"data: '{pattern}' has a header but no rows", field="data")
    return frame, tuple(files)


def apply_filter(frame: pd.DataFrame, expression: str | None) -> pd.DataFrame:
    """Keep the rows matching a pandas query (e.g. ``generation <= 6``)."""
    if not expression:
        return frame
    try:
        kept = frame.query(expression)
    except Exception as e:  # pandas raises many types for a bad expression
        raise DataError(
            f"data.filter: cannot apply '{expression}': {type(e).__name__}: {e}; "
            f"columns are: {', '.join(map(str, frame.columns))}",
            field="data.filter",
        ) from None
    if not isinstance(kept, pd.DataFrame) or kept.empty:
        raise DataError(f"data.filter: '{expression}' keeps no rows", field="data.filter")
    return kept.reset_index(drop=True)


def content_digest(frame: pd.DataFrame) -> str:
    """A short digest of the rows and columns; the same data gives the same digest."""
    hashed = pd.util.hash_pandas_object(frame, index=False).to_numpy()
    h = hashlib.sha256(hashed.tobytes())
    h.update("\x1f".join(map(str, frame.columns)).encode())
    return h.hexdigest()[:16]


def load_table(project: Project) -> Table:
    """Read, filter and check the project's data.

    Raises:
        DataError: missing/empty file, bad filter, missing target, unusable target.
    """
    spec = project.spec
    frame, files = read_csv_files(spec.data.path, project.base_dir)
    frame = apply_filter(frame, spec.data.filter)
    check_target(frame, spec.target_columns, spec.task)
    return Table(
        frame=frame,
        source=str(project.base_dir / spec.data.path),
        files=files,
        filter=spec.data.filter,
        digest=content_digest(frame),
    )


def check_target(frame: pd.DataFrame, targets: list[str], task: str) -> None:
    """Check the target column(s) exist and can be learned for ``task``."""
    columns = list(map(str, frame.columns))
    for target in targets:
        if target not in frame.columns:
            raise DataError(
                f"target: column '{target}' is not in the data; columns are: {', '.join(columns)}",
                field="target",
            )
        values = frame[target]
        if values.isna().all():
            raise DataError(
                f"target: column '{target}' is empty (all values missing)", field="target"
            )
    if task == "multilabel":
        return
    values = frame[targets[0]].dropna()
    if task in ("binary", "multiclass"):
        n = values.nunique()
        if n < 2:
            raise DataError(
                f"target: column '{targets[0]}' has {n} class ({values.iloc[0]!r}); "
                f"a {task} task needs at least 2",
                field="target",
            )
        if task == "binary" and n > 2:
            raise DataError(
                f"target: column '{targets[0]}' has {n} classes; task 'binary' needs exactly 2 "
                "(use task: multiclass)",
                field="target",
            )
        mixed = mixed_types(values)
        if mixed:
            raise DataError(f"target: column '{targets[0]}' mixes types: {mixed}", field="target")
    if task == "regression":
        numeric = pd.to_numeric(values, errors="coerce")
        bad = values[numeric.isna()]
        if len(bad):
            raise DataError(
                f"target: column '{targets[0]}' must be numeric for regression; "
                f"found {bad.iloc[0]!r} (and {len(bad) - 1} more non-numeric values)",
                field="target",
            )
        if numeric.nunique() < 2:
            raise DataError(f"target: column '{targets[0]}' is constant", field="target")


def mixed_types(values: pd.Series) -> str | None:
    """Describe a column that mixes numbers and text (e.g. ``3, 'three'``), else None.

    pandas reads such a column as ``object`` with both kinds of value; a model can
    take neither reliably, so the user must clean it.
    """
    # pandas 3 reads text columns as the ``str`` dtype, not ``object``.
    if values.dtype != object and not isinstance(values.dtype, pd.StringDtype):
        return None
    present = values.dropna()
    numeric = pd.to_numeric(present, errors="coerce")
    n_numeric = int(numeric.notna().sum())
    if 0 < n_numeric < len(present) and n_numeric >= 0.5 * len(present):
        text_example = present[numeric.isna()].iloc[0]
        number_example = present[numeric.notna()].iloc[0]
        return (
            f"{n_numeric} numbers (e.g. {number_example!r}) and "
            f"{len(present) - n_numeric} text values (e.g. {text_example!r})"
        )
    return None


def split_tags(frame: pd.DataFrame, targets: list[str], separator: str) -> list[list[str]]:
    """The multilabel target as one list of tags per row.

    Several columns give one tag per non-empty cell (``type_1``, ``type_2``); one column
    is split on ``separator`` (``"fire|flying"``).
    """
    rows: list[list[str]] = []
    values = frame[targets].to_numpy(dtype=object)
    for row in values:
        tags: list[str] = []
        for cell in row:
            if cell is None or cell is pd.NA or (isinstance(cell, float) and np.isnan(cell)):
                continue
            parts = str(cell).split(separator) if len(targets) == 1 else [str(cell)]
            tags.extend(p.strip() for p in parts if p.strip() and p.strip() not in tags)
        rows.append(tags)
    return rows
