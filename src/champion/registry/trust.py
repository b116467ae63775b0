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
``sklearn.skops_trusted``   every type in a module of :data:`TRUSTED_MODULES`; from
``_types``                  ``builtins``, classes only (``builtins.eval`` is a function)
``python_function``         loads through ``mlflow.sklearn`` (not a pickled
                            ``python_model``)
==========================  ==========================================================

Code shipped with a model (``code_paths``) is never put on ``sys.path`` by champion's
loader (:func:`champion.registry.modelio.load_pipeline`): champion's transformers come
from the installed champion package.
"""

from __future__ import annotations

import builtins
import posixpath
from dataclasses import dataclass

from champion.errors import ModelUnavailable

TRUSTED_MODULES = ("sklearn.", "numpy.", "scipy.", "champion.", "builtins.", "collections.")
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
    if not isinstance(name, str) or not name.startswith(TRUSTED_MODULES):
        return False
    if name.startswith("builtins."):
        # Functions such as eval, exec or open would reach a FunctionTransformer intact.
        return isinstance(getattr(builtins, name.removeprefix("builtins."), None), type)
    return True


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
            f"classes from {', '.join(m.rstrip('.') for m in TRUSTED_MODULES)} are trusted"
        )
    pyfunc = flavors.get("python_function")
    if pyfunc is not None and (pyfunc or {}).get("loader_module") != "mlflow.sklearn":
        raise refuse(
            f"its python_function flavour loads through {(pyfunc or {}).get('loader_module')!r}, "
            "not mlflow.sklearn"
        )
    return SkopsPayload(file, list(types))
