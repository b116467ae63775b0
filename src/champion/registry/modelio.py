"""Save and load champion models as MLflow scikit-learn models.

Models are stored with skops, not pickle: skops refuses to load any type it was not
told to trust, so :func:`log_pipeline` lists the types explicitly (and refuses a
model that needs a type from outside scikit-learn, NumPy, SciPy and champion). The
champion package travels with the model (``code_paths``) so its transformers load
wherever MLflow loads the model.

:func:`load_pipeline` is how champion itself loads one: only after
:mod:`champion.registry.trust` has passed the MLmodel's flavour, serialization and
trusted types, with skops directly (MLflow's loader would put the model's
``code_paths`` first on ``sys.path``).
"""

from __future__ import annotations

import posixpath
import tempfile
import warnings
from importlib.metadata import version
from pathlib import Path

import mlflow
import pandas as pd
import skops.io
from mlflow.models import Model, infer_signature
from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository
from sklearn.pipeline import Pipeline

import champion
from champion.errors import ModelUnavailable, SpecError
from champion.registry.trust import TRUSTED_DESCRIPTION, foreign_types, trusted_payload

MODEL_NAME = "model"
MLMODEL = "MLmodel"
INPUT_EXAMPLE_ROWS = 5
# What loading the model needs. Listed, not inferred: MLflow's inference starts a
# subprocess per model (about 12 s here) and cannot see through uv's venv to pip.
RUNTIME_DISTRIBUTIONS = ("mlflow", "scikit-learn", "numpy", "scipy", "pandas", "skops")


def pip_requirements() -> list[str]:
    """Pinned requirements of a logged model: the versions it was trained with."""
    return [f"{name}=={version(name)}" for name in RUNTIME_DISTRIBUTIONS]


def trusted_types(pipeline: Pipeline) -> list[str]:
    """The types skops must trust to load ``pipeline``, checked against an allow-list.

    Raises:
        SpecError: the model holds a type from outside the allow-listed modules.
    """
    needed = skops.io.get_untrusted_types(data=skops.io.dumps(pipeline))
    foreign = foreign_types(needed)
    if foreign:
        raise SpecError(
            f"the model holds types champion cannot vouch for when loading with skops: {foreign}; "
            f"only {TRUSTED_DESCRIPTION} are trusted"
        )
    return sorted(needed)


def log_pipeline(pipeline: Pipeline, X_train: pd.DataFrame, metadata: dict) -> str:
    """Log ``pipeline`` to the active run; return its model URI (``models:/m-...``)."""
    example = X_train.head(INPUT_EXAMPLE_ROWS)
    with warnings.catch_warnings():
        # Inputs are float64 and strings by construction (features.model_inputs);
        # MLflow's hint about integer columns concerns the output labels only.
        warnings.filterwarnings("ignore", message=".*integer column", category=UserWarning)
        signature = infer_signature(X_train, pipeline.predict(X_train.head(200)))
    info = mlflow.sklearn.log_model(
        pipeline,
        name=MODEL_NAME,
        signature=signature,
        input_example=example,
        serialization_format=mlflow.sklearn.SERIALIZATION_FORMAT_SKOPS,
        skops_trusted_types=trusted_types(pipeline),
        code_paths=[str(Path(champion.__file__).parent)],
        metadata=metadata,
        pip_requirements=pip_requirements(),
    )
    return info.model_uri


def load_pipeline(local: str | Path, what: str) -> Pipeline:
    """The fitted pipeline of the MLflow model downloaded to folder ``local`` (``what``
    names it in errors, e.g. ``models:/wine/3``), loaded with skops after its MLmodel
    passes :func:`champion.registry.trust.trusted_payload`. None of the model's code
    runs before that check, and its ``code_paths`` are never imported.

    Raises:
        ModelUnavailable: the version is refused by the check, or its skops file holds
            types its MLmodel did not declare.
    """
    payload = trusted_payload(Model.load(str(local)).flavors, what)
    try:
        return skops.io.load(Path(local) / payload.file, trusted=payload.types)
    except skops.io.exceptions.UntrustedTypesFoundException as e:
        raise ModelUnavailable(
            f"{what} is not loaded: its skops file holds types its MLmodel does not declare: {e}",
            field="MLmodel",
        ) from None


def load_version(uri: str) -> Pipeline:
    """Download ``uri`` (``models:/NAME/VERSION``: :func:`download_model`) and
    :func:`load_pipeline` it.

    Raises:
        ModelUnavailable: as :func:`load_pipeline`.
    """
    with tempfile.TemporaryDirectory() as tmp:
        return load_pipeline(download_model(uri, tmp), uri)


def download_model(uri: str, folder: str) -> str:
    """Download into ``folder`` the files of model ``uri`` champion reads: the MLmodel,
    the skops file it names (once :func:`~champion.registry.trust.trusted_payload` has
    passed it) and the input example. Not the rest: ``code/`` alone is some ninety
    files, one request each from an HTTP store. Returns ``folder``.

    Raises:
        ModelUnavailable: the MLmodel fails the trust check.
    """
    repository = get_artifact_repository(uri)
    repository.download_artifacts(MLMODEL, folder)
    logged = mlflow.models.Model.load(folder)
    names = [trusted_payload(logged.flavors, uri).file]
    example = (logged.saved_input_example_info or {}).get("artifact_path")
    # A name inside the model's folder only: never ``..`` nor an absolute path (with a
    # local artifact store, that could name any file of the server's).
    if (
        isinstance(example, str)
        and example
        and ".." not in example.split("/")
        and not posixpath.isabs(example)
    ):
        names.append(example)
    for name in names:
        repository.download_artifacts(name, folder)
    return folder
