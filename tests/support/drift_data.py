"""Data with a known drift answer, for the tests of :mod:`champion.monitoring.drift`
and :mod:`champion.monitoring.profile_v1`."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from champion.monitoring.drift import DriftReport
from champion.project.features import FeatureSet
from champion.project.spec import DriftSpec

FEATURES = FeatureSet(numeric=["hp"], categorical=["color"], text=["bio"])
POLICY = DriftSpec()
WORDS = ["fire", "ice", "dragon", "water", "grass", "stone", "wind", "light", "dark", "metal"]


def frame(n: int, *, seed: int, shift: float = 0.0, colors=None, words=WORDS) -> pd.DataFrame:
    """hp ~ N(50 + 10*shift, 10); color from ``colors``; bio: five random words."""
    rng = np.random.default_rng(seed)
    names, shares = colors or (["red", "green", "blue"], [0.5, 0.3, 0.2])
    return pd.DataFrame(
        {
            "hp": rng.normal(50 + 10 * shift, 10, n),
            "color": rng.choice(names, n, p=shares),
            "bio": [" ".join(rng.choice(words, 5)) for _ in range(n)],
        }
    )


def as_json(report: DriftReport) -> dict:
    """The report as JSON text and back: fails on NaN or infinity anywhere."""
    return json.loads(json.dumps(report.as_dict(), allow_nan=False))


def by_feature(report: DriftReport) -> dict:
    """The report's feature verdicts by feature name."""
    return {f.feature: f for f in report.features}
