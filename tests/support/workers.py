"""Functions a test hands to parallel training's worker processes (importable there:
``tests`` is on the workers' ``sys.path`` too)."""

from __future__ import annotations

import os

from champion.errors import SpecError


def die(shared, item, emit):
    """End the worker at once, as the kernel's out-of-memory killer would."""
    os._exit(9)


def refuse(shared, item, emit):
    """Raise a champion error with a field, as a candidate's bad params do."""
    raise SpecError(f"candidates.{item}.params: no such parameter", field=f"candidates.{item}")
