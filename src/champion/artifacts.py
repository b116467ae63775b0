"""The contract of a candidate run: the artifacts training logs, by name, with their
writers and loaders.

Training writes them (into a folder it then logs with the run); the registry, serving
and monitoring read them back from here alone, so none of them imports training.

==========================  ===============================================  ==========
artifact                    what it holds                                    read by
==========================  ===============================================  ==========
``holdout.csv``             the holdout rows as loaded (every column)         gate,
                                                                              serving,
                                                                              monitoring
``reference_profile.json``  per-feature distribution summary of the training  serving,
                            rows and their predictions (``project.profile``)  monitoring
``examples.json``           named inputs for the try-it page's buttons        serving
``features.json``           the feature kinds the model was trained on, and   people
                            the columns left out and why
``feature_importance.csv``  the model's own or permutation importance         people
``shap_values.csv``         a sample's SHAP values per input column           people
``plots/``                  the figures (``training.plots``)                  people
==========================  ===============================================  ==========

Loaders take a run id and must be called inside
:func:`champion.registry.tracking.use_tracking`; a missing artifact raises MLflow's
error, which that block's ``translate_errors`` turns into ours.

May import: nothing of champion's; it is the shared edge between the stages.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import mlflow
import pandas as pd

HOLDOUT = "holdout.csv"
PROFILE = "reference_profile.json"
EXAMPLES = "examples.json"
FEATURES = "features.json"
FEATURE_IMPORTANCE = "feature_importance.csv"
SHAP_VALUES = "shap_values.csv"
PLOTS = "plots"


def write_holdout(folder: Path, holdout: pd.DataFrame) -> None:
    """Write the holdout rows (all columns, as loaded) into ``folder``."""
    holdout.to_csv(folder / HOLDOUT, index=False)


def write_profile(folder: Path, profile: dict) -> None:
    """Write the reference profile (``project.profile.build_profile``) into ``folder``."""
    (folder / PROFILE).write_text(json.dumps(profile, indent=1))


def write_examples(folder: Path, examples: list[dict]) -> None:
    """Write the try-it page's named inputs (``[{"name", "values"}]``) into ``folder``."""
    (folder / EXAMPLES).write_text(json.dumps(examples, indent=1, default=str))


def write_features(folder: Path, features: dict) -> None:
    """Write the feature kinds (``FeatureSet.to_dict()`` plus what was dropped)."""
    (folder / FEATURES).write_text(json.dumps(features, indent=1))


def load_holdout(run_id: str) -> pd.DataFrame:
    """The holdout rows run ``run_id`` logged."""
    return pd.read_csv(io.StringIO(mlflow.artifacts.load_text(f"runs:/{run_id}/{HOLDOUT}")))


def load_profile(run_id: str) -> dict:
    """The reference profile run ``run_id`` logged."""
    return mlflow.artifacts.load_dict(f"runs:/{run_id}/{PROFILE}")


def load_features(run_id: str) -> dict:
    """The feature kinds run ``run_id`` logged (``numeric``, ``categorical``,
    ``ordinal``, ``text`` and ``dropped``)."""
    return mlflow.artifacts.load_dict(f"runs:/{run_id}/{FEATURES}")


def load_examples(run_id: str) -> list[dict]:
    """The named example inputs run ``run_id`` logged; ``[]`` for a run trained before
    examples were logged."""
    try:
        return mlflow.artifacts.load_dict(f"runs:/{run_id}/{EXAMPLES}")
    except mlflow.exceptions.MlflowException:
        return []
