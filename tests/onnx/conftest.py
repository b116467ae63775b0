"""The prepared data of one project per task, shared by the ONNX tests."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from champion.project.spec import load_spec
from champion.training.train import prepare
from support.projects import write_project


@pytest.fixture(scope="package")
def multilabel_csv(breast_cancer_csv: Path, tmp_path_factory) -> Path:
    """The breast cancer rows tagged from their own measurements (and clinic)."""
    frame = pd.read_csv(breast_cancer_csv).drop(columns=["diagnosis"])
    tags = [
        "|".join(
            tag
            for tag, on in (
                ("large", row["worst radius"] > 16),
                ("rough", row["mean texture"] > 20),
                ("northern", row["clinic"] == "north"),
            )
            if on
        )
        or None
        for _, row in frame.iterrows()
    ]
    frame["tags"] = tags
    path = tmp_path_factory.mktemp("multilabel") / "tagged.csv"
    frame.to_csv(path, index=False)
    return path


@pytest.fixture(scope="package")
def contexts(breast_cancer_csv, wine_csv, diabetes_csv, multilabel_csv, tmp_path_factory):
    """The prepared data of one project per task (no tracking store involved)."""
    projects = {
        "binary": (breast_cancer_csv, "diagnosis"),
        "multiclass": (wine_csv, "cultivar"),
        "regression": (diabetes_csv, "target"),
        "multilabel": (multilabel_csv, "tags"),
    }
    prepared = {}
    for task, (data, target) in projects.items():
        folder = tmp_path_factory.mktemp(task)
        config = write_project(
            folder, f"name: {task}\ndata: {data}\ntarget: {target}\ntask: {task}\n"
        )
        prepared[task] = prepare(load_spec(config))
    return prepared
