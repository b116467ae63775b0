"""Which logged models champion will deserialize: read the MLmodel, never the payload.

Unpickling a model runs whatever code its author put in it, and a skops file is only
as safe as the list of types it is told to trust, which MLflow reads from the model's
own MLmodel file. So before any byte of a version is deserialized (by the server at
start-up and on hot reload, and by the promotion gate), its MLmodel metadata is checked
here, and a version is refused unless:

==========================  ==========================================================
MLmodel field               required
==========================  ==========================================================
``flavors``                 ``sklearn``, and at most ``python_function`` besides
``sklearn.serialization``   ``skops`` (never ``pickle`` or ``cloudpickle``)
``_format``
``sklearn.pickled_model``   a file name inside the model's folder
``sklearn.skops_trusted``   every type a scikit-learn estimator class (a
``_types``                  ``BaseEstimator`` subclass) from sklearn, numpy, scipy or
                            champion, or one of :data:`TRUSTED_DATA_TYPES`
``python_function``         loads through ``mlflow.sklearn`` (not a pickled
                            ``python_model``)
==========================  ==========================================================

Why classes and not modules: skops builds a trusted name from the file's arguments, so
a trusted *function* is a call the file chooses (``numpy.testing.runstring`` runs any
source), and some classes act when built (``numpy.memmap`` creates or truncates a
file). An estimator's constructor only stores its parameters (scikit-learn's contract),
and the few other classes champion's models hold are listed by name.

Code shipped with a model (``code_paths``) is never put on ``sys.path`` by champion's
loader (:func:`champion.registry.modelio.load_pipeline`): champion's transformers come
from the installed champion package.
"""

from __future__ import annotations

import importlib
import posixpath
from dataclasses import dataclass

from champion.errors import ModelUnavailable

TRUSTED_PACKAGES = ("sklearn", "numpy", "scipy", "champion")
# The classes besides estimators that champion's own models ask skops to trust (found
# over every built-in candidate's logged model); each is data, rebuilt from its state.
TRUSTED_DATA_TYPES = frozenset(
    {
        "numpy.dtype",
        "sklearn.calibration._CalibratedClassifier",
        "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
        "sklearn.tree._tree.Tree",
    }
)
TRUSTED_DESCRIPTION = "estimator classes from sklearn, numpy, scipy or champion, and " + ", ".join(
    sorted(TRUSTED_DATA_TYPES)
)
SKOPS = "skops"
ALLOWED_FLAVOURS = {"sklearn", "python_function"}


@dataclass(frozen=True)
class SkopsPayload:
    """What may be loaded: ``file`` (relative to the model's folder) with skops, trusting
    exactly ``types``."""

    file: str
    types: list[str]


def foreign_types(types: list[str]) -> list[str]:
    """The entries of ``types`` champion does not vouch for (see the module's table)."""
    return [t for t in types if not _vouched_for(t)]


def _vouched_for(name: str) -> bool:
    if not isinstance(name, str):
        return False
    if name in TRUSTED_DATA_TYPES:
        return True
    module, _, attribute = name.rpartition(".")
    if module.split(".")[0] not in TRUSTED_PACKAGES:
        return False
    try:  # an installed package's module: importing it runs none of the model's code
        found = getattr(importlib.import_module(module), attribute)
    except (ImportError, AttributeError, ValueError):
        return False
    # Imported here: scikit-learn is heavy, and only loading a model needs it.
    from sklearn.base import BaseEstimator

    return isinstance(found, type) and issubclass(found, BaseEstimator)


def trusted_payload(flavors: dict | None, what: str) -> SkopsPayload:
    """Check the MLmodel ``flavors`` of model ``what`` (e.g. ``models:/wine/3``).

    Returns:
        the skops file and the types to trust when loading it.
    Raises:
        ModelUnavailable: the version is not a skops scikit-learn model within the
            allow-list; the message names the field at fault and what was found.
    """
    flavors = flavors or {}

    def refuse(reason: str) -> ModelUnavailable:
        return ModelUnavailable(f"{what} is not loaded: {reason}", field="MLmodel")

    extra = sorted(set(flavors) - ALLOWED_FLAVOURS)
    if "sklearn" not in flavors or extra:
        raise refuse(
            f"its flavours are {sorted(flavors)}; champion loads only scikit-learn models "
            "saved with skops (flavours sklearn and python_function)"
        )
    sklearn = flavors["sklearn"] or {}
    serialization = sklearn.get("serialization_format", "pickle")
    if serialization != SKOPS:
        raise refuse(
            f"its model is serialized with {serialization}, which runs code when loaded; "
            "champion loads only skops"
        )
    file = sklearn.get("pickled_model")
    if not isinstance(file, str) or not file or posixpath.isabs(file) or ".." in file.split("/"):
        raise refuse(f"its model file {file!r} is not a file inside the model's folder")
    types = sklearn.get("skops_trusted_types") or []
    if not isinstance(types, list):
        raise refuse(f"skops_trusted_types is {type(types).__name__}, not a list")
    foreign = foreign_types(types)
    if foreign:
        raise refuse(
            f"it asks skops to trust types champion cannot vouch for: {foreign}; only "
            f"{TRUSTED_DESCRIPTION} are trusted"
        )
    pyfunc = flavors.get("python_function")
    if pyfunc is not None and (pyfunc or {}).get("loader_module") != "mlflow.sklearn":
        raise refuse(
            f"its python_function flavour loads through {(pyfunc or {}).get('loader_module')!r}, "
            "not mlflow.sklearn"
        )
    return SkopsPayload(file, list(types))
