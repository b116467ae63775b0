"""A compiled model as files: the ONNX graph's bytes and its plan as JSON.

The registry compiles a version once, when it is registered, and logs the two files
with it; a server reads them back instead of compiling again. Nothing here imports
skl2onnx or onnx: loading a compiled model costs reading two files and a digest.

============  ==============================================================
file          holds
============  ==============================================================
``MODEL``     ``model.onnx``: the serialised graph, as onnxruntime reads it
``PLAN``      ``plan.json``: the :class:`~champion.onnx.runtime.Plan` (inputs,
              outputs, how labels are decoded, the classes with their dtype)
============  ==============================================================

Each file's SHA-256 digest is recorded where the files are referenced (the version's
tags); :func:`load` refuses a file whose digest differs, since a graph that was not
the one verified must not answer. The plan's format is versioned (``FORMAT``): a
format this code does not know is refused the same way.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from champion.onnx.runtime import CompiledModel, InputColumn, Plan, plan_of

MODEL = "model.onnx"
PLAN = "plan.json"
FORMAT = 1


class BadArtifact(ValueError):
    """Raised by :func:`load` when a file is missing, its digest differs from the one
    recorded, or the plan cannot be read; the caller compiles again instead."""


@dataclass(frozen=True)
class Digests:
    """The SHA-256 hex digests of the two files."""

    model: str
    plan: str


def sha256(data: bytes) -> str:
    """The hex SHA-256 digest of ``data``."""
    return hashlib.sha256(data).hexdigest()


def save(compiled: CompiledModel, folder: Path) -> Digests:
    """Write ``compiled`` into ``folder`` as ``MODEL`` and ``PLAN``; their digests."""
    folder.mkdir(parents=True, exist_ok=True)
    plan = plan_to_json(plan_of(compiled))
    (folder / MODEL).write_bytes(compiled.onnx_bytes)
    (folder / PLAN).write_bytes(plan)
    return Digests(model=sha256(compiled.onnx_bytes), plan=sha256(plan))


def load(folder: Path, digests: Digests) -> CompiledModel:
    """The compiled model saved in ``folder``, once both files match ``digests``.

    Raises:
        BadArtifact: a file is missing, a digest differs, or the plan is unreadable.
    """
    try:
        onnx_bytes = (folder / MODEL).read_bytes()
        plan = (folder / PLAN).read_bytes()
    except OSError as e:
        raise BadArtifact(f"cannot read the compiled model: {e}") from None
    for name, data, expected in ((MODEL, onnx_bytes, digests.model), (PLAN, plan, digests.plan)):
        found = sha256(data)
        if found != expected:
            raise BadArtifact(
                f"{name} has digest {found[:12]}…, the version records {expected[:12]}…"
            )
    return CompiledModel(onnx_bytes, plan_from_json(plan))


# ---------------------------------------------------------------------------------------
# The plan as JSON. Arrays keep their dtype (labels must come back as the pipeline's own:
# str, int64, bool or object), written as NumPy spells it (``dtype.str``).


def plan_to_json(plan: Plan) -> bytes:
    """``plan`` as compact JSON bytes (keys sorted, so equal plans give equal bytes)."""
    data = {
        "format": FORMAT,
        "inputs": [[item.column, item.name, item.kind] for item in plan.inputs],
        "label_output": plan.label_output,
        "proba_output": plan.proba_output,
        "decode": plan.decode,
        "predict_dtype": plan.predict_dtype.str,
        "predict_ndim": plan.predict_ndim,
        "classes": _array(plan.classes),
        "label_keys": _array(plan.label_keys),
        "label_order": _array(plan.label_order),
        "tag_classes": [_array(c) for c in plan.tag_classes],
        "proba_split": list(plan.proba_split),
    }
    return json.dumps(data, sort_keys=True, separators=(",", ":"), default=_plain).encode()


def plan_from_json(text: bytes | str) -> Plan:
    """The :class:`Plan` :func:`plan_to_json` wrote.

    Raises:
        BadArtifact: not JSON, another format, or a field missing or malformed.
    """
    try:
        data = json.loads(text)
        if data.get("format") != FORMAT:
            raise BadArtifact(f"plan format {data.get('format')!r}, not {FORMAT}")
        return Plan(
            inputs=tuple(InputColumn(*item) for item in data["inputs"]),
            label_output=data["label_output"],
            proba_output=data["proba_output"],
            decode=data["decode"],
            predict_dtype=np.dtype(data["predict_dtype"]),
            predict_ndim=int(data["predict_ndim"]),
            classes=_from_array(data["classes"]),
            label_keys=_from_array(data["label_keys"]),
            label_order=_from_array(data["label_order"]),
            tag_classes=tuple(_from_array(c) for c in data["tag_classes"]),
            proba_split=tuple(int(n) for n in data["proba_split"]),
        )
    except BadArtifact:
        raise
    except (ValueError, TypeError, KeyError, AttributeError) as e:
        raise BadArtifact(f"the plan cannot be read: {type(e).__name__}: {e}") from None


def _array(values: np.ndarray | None) -> dict | None:
    if values is None:
        return None
    return {"dtype": values.dtype.str, "values": values.tolist()}


def _from_array(data: dict | None) -> np.ndarray | None:
    if data is None:
        return None
    return np.array(data["values"], dtype=np.dtype(data["dtype"]))


def _plain(value):
    """NumPy scalars inside object arrays, as JSON's own values."""
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"{type(value).__name__} cannot be written in a plan")
