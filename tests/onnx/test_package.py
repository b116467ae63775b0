"""The package's boundaries: what its modules import of champion, and that the
runtime (what a serving worker needs) loads without skl2onnx and onnx."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import champion.onnx as package

ALLOWED = ("champion.project", "champion.errors", "champion.onnx")
MODULES = sorted(Path(package.__file__).parent.glob("*.py"))


def _champion_imports(path: Path) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module)
        elif isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
    return [name for name in names if name.split(".")[0] == "champion"]


@pytest.mark.parametrize("path", MODULES, ids=lambda path: path.name)
def test_modules_import_only_the_project_errors_and_this_package(path):
    outside = [name for name in _champion_imports(path) if not name.startswith(ALLOWED)]

    assert outside == []


def test_the_runtime_and_artifact_load_without_skl2onnx_or_onnx():
    code = (
        "import sys, champion.onnx.runtime, champion.onnx.artifact; "
        "print(sorted(m for m in ('skl2onnx', 'onnx', 'onnxruntime') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )

    assert result.stdout.strip() == "[]"
