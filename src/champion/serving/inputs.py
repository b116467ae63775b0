"""Request values to model inputs, checked, without pandas on the way.

:func:`to_inputs` gives each model input column as one NumPy array: float64 for
numbers (NaN for missing), object arrays of strings (None for missing) for categories
and text. The numeric columns are rows of one contiguous ``columns × rows`` float64
block, so each is contiguous (the ONNX feeds are views of it, no copy) and a request's
numbers are converted by NumPy in one call per column when they are plain JSON numbers
(the usual case), not value by value in Python. The conversions are
:func:`champion.project.features.model_inputs`'s, value by value, so a served model
sees exactly what it saw in training; :func:`as_frame` gives the same thing as the
DataFrame a scikit-learn pipeline takes.
"""

from __future__ import annotations

import math
from itertools import chain

import numpy as np
import pandas as pd

from champion.errors import RequestError
from champion.project.categories import canonical_category, is_missing
from champion.project.features import FeatureSet
from champion.serving.protocol import Rows

Inputs = dict[str, np.ndarray]


def to_inputs(rows: Rows, features: FeatureSet) -> Inputs:
    """Check ``rows`` against ``features`` and convert them. Extra columns are ignored.

    Raises:
        RequestError: a column is missing, or a numeric column holds something that is
            not a number (text, a list, an object, true/false), naming the column.
    """
    missing = [c for c in features.columns if c not in rows.columns]
    if missing:
        raise RequestError(
            f"missing column(s) {missing}; the model needs: {', '.join(features.columns)}",
            field=missing[0],
        )
    numeric = [rows.columns[column] for column in features.numeric]
    block = np.empty((len(numeric), rows.count), dtype=np.float64)
    if not _plain_numbers(numeric, block):
        for index, column in enumerate(features.numeric):
            _numbers(column, numeric[index], block[index])
    inputs: Inputs = dict(zip(features.numeric, block, strict=True))
    for column in [*features.categorical, *features.ordinal]:
        inputs[column] = _strings(rows.columns[column], canonical_category)
    for column in features.text:
        inputs[column] = _strings(rows.columns[column], str)
    return inputs


def as_frame(inputs: Inputs) -> pd.DataFrame:
    """The inputs as the DataFrame :func:`champion.project.features.model_inputs` would give."""
    # The dtype explicitly: pandas 3 would turn object arrays into its own str dtype.
    return pd.DataFrame({c: pd.Series(v, dtype=v.dtype) for c, v in inputs.items()})


# Python types NumPy converts to float64 exactly as :func:`_finite` does (None: NaN).
_PLAIN_NUMBERS = frozenset({int, float, type(None)})


def _plain_numbers(columns: list[list], block: np.ndarray) -> bool:
    """Convert every numeric column into ``block`` at once when each value is a plain
    JSON number or null (the usual body): one pass in C, none per value in Python.
    False (``block`` half written) when some value needs :func:`_numbers`'s checks."""
    # bool is a type of its own here (not int): true/false take the checked path.
    if not columns:
        return True
    if not _PLAIN_NUMBERS.issuperset(map(type, chain.from_iterable(columns))):
        return False
    try:
        block[:] = columns
    except OverflowError:  # an integer past a double's range: value by value
        return False
    finite = np.isfinite(block)
    if not finite.all():  # 1e999 parses as an infinity: missing, as in training
        block[~finite] = math.nan
    return True


def _numbers(column: str, values: list, out: np.ndarray) -> np.ndarray:
    """``values`` as float64 into ``out`` (one row of the numeric block), checked value
    by value, or a 400 naming ``column``."""
    for index, value in enumerate(values):
        kind = type(value)
        if kind is float or kind is int:
            out[index] = _finite(value)
        elif value is None:
            out[index] = math.nan
        elif kind is str:
            try:
                out[index] = _finite(float(value))
            except ValueError:
                raise RequestError(
                    f"column '{column}' must be a number; got {value!r}", field=column
                ) from None
        elif isinstance(value, np.number) and not isinstance(value, np.bool_):
            out[index] = _finite(float(value))
        else:  # bool, list, dict: no number either
            raise RequestError(f"column '{column}' must be a number; got {value!r}", field=column)
    return out


def _finite(value) -> float:
    """An infinity (or an integer too large for a double) is no measurement a model can
    use: missing, as in training."""
    try:
        number = float(value)
    except OverflowError:
        return math.nan
    return number if math.isfinite(number) else math.nan


def _strings(values: list, spell) -> np.ndarray:
    out = np.empty(len(values), dtype=object)
    for index, value in enumerate(values):
        out[index] = None if is_missing(value) else spell(value)
    return out
