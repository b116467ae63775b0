"""Monitoring reports built in memory (no tracking store, no server): a profile from
a reference frame, drift against a window, for the report and dashboard tests."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from champion.monitoring.drift import compute_drift
from champion.monitoring.monitor import MonitorReport
from champion.monitoring.performance import LivePerformance
from champion.project.features import FeatureSet
from champion.project.profile import build_profile
from champion.project.spec import DriftSpec

HOSTILE_FEATURE = "<script>alert(1)</script>"
HOSTILE_MODEL = "m</script><script>alert(2)</script>"
FEATURES = FeatureSet(numeric=["hp", HOSTILE_FEATURE, "speed"], categorical=["color"])
# src=, href= or url() to another host (scheme:// or protocol-relative //).
EXTERNAL = re.compile(r"""(?:\b(?:src|href)\s*=\s*["']?|url\(\s*["']?)\s*(?:[a-z]+:)?//""", re.I)


def frame(n: int, *, seed: int, shift: float = 0.0) -> pd.DataFrame:
    """hp and the hostile column ~ N(50 + 10*shift, 10), speed ~ N(50, 10), color."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "hp": rng.normal(50 + 10 * shift, 10, n),
            HOSTILE_FEATURE: rng.normal(50 + 10 * shift, 10, n),
            "speed": rng.normal(50, 10, n),
            "color": rng.choice(["red", "green", "blue"], n, p=[0.5, 0.3, 0.2]),
            "latency_ms": rng.uniform(1, 3, n),
        }
    )


def monitor_report(
    rows: int = 400, *, shift: float = 2.0, model: str = HOSTILE_MODEL
) -> MonitorReport:
    """A report of ``rows`` live rows (hp and the hostile column shifted by ``shift``
    standard deviations) against 2,000 training rows."""
    profile = build_profile(frame(2000, seed=0), FEATURES)
    window = frame(rows, seed=1, shift=shift)
    drift = compute_drift(profile, window, FEATURES, DriftSpec())
    return MonitorReport(
        model=model,
        version="3",
        task="binary",
        drift=drift,
        performance=[
            LivePerformance("3", "champion", rows, rows // 2, {"f1": 0.8}, {"f1": 0.9}, {"f1": 0.1})
        ],
        primary_metric="f1",
        max_drop=0.05,
        min_labelled=30,
        traffic={("champion", "3"): rows},
        window=window,
        profile=profile,
        features=FEATURES,
    )
