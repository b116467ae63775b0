"""How champion spells a category: one string per value, and one marker for missing.

Training (``transformers.AsCategories``), serving, the prediction log and monitoring
must agree on these spellings, or a logged label would never match a class. They live
here, free of scikit-learn, so that the commands that only read and write the
prediction log (``champion feedback``) start without importing it.

May import: nothing of champion's (a logged model ships this module with
``transformers``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

MISSING = "__missing__"


def is_missing(value) -> bool:
    """True for None, NaN and pandas' NA."""
    return value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value))


def canonical_category(value) -> str:
    """One spelling per value: ``1``, ``1.0`` and ``"1"`` all become ``"1"``."""
    if isinstance(value, bool | np.bool_):
        return str(bool(value))
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    return str(value)
