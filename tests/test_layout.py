"""The layout's promise: each package imports only the packages below it, as the "May
import" paragraph of its ``__init__`` docstring says, so imports never form a cycle.

``ALLOWED`` is that promise as data; a test checks it against the docstrings, so the
two change together."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "champion"

# What each top-level module or package may import of champion's (besides itself).
EDGE = {"errors", "settings"}
ALLOWED = {
    "errors": set(),
    "settings": set(),
    "templating": set(),
    "artifacts": set(),
    "project": EDGE,
    "transformers": {"project"},
    "onnx": {"errors", "project"},
    "registry": EDGE | {"artifacts", "project", "onnx"},
    "training": EDGE | {"artifacts", "project", "registry"},
    "monitoring": EDGE | {"artifacts", "templating", "project", "registry"},
    "serving": EDGE
    | {"artifacts", "templating", "project", "onnx", "registry", "training", "monitoring"},
    "demo": EDGE | {"project", "registry", "training", "serving"},
    "cli": EDGE | {"project", "registry", "training", "monitoring", "serving", "demo"},
    "__main__": {"cli"},
    "__init__": set(),
}


def _imports(path: Path) -> set[str]:
    """The top-level champion modules or packages ``path`` imports."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            parts = node.module.split(".")
            if parts[0] != "champion":
                continue
            if len(parts) > 1:
                found.add(parts[1])
            else:  # from champion import artifacts
                found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == "champion" and len(parts) > 1:
                    found.add(parts[1])
    return found


def _owner(path: Path) -> str:
    relative = path.relative_to(SRC)
    return relative.parts[0] if len(relative.parts) > 1 else relative.stem


@pytest.mark.parametrize("path", sorted(SRC.rglob("*.py")), ids=lambda p: str(p.relative_to(SRC)))
def test_each_module_imports_only_what_its_package_may(path: Path):
    owner = _owner(path)
    assert owner in ALLOWED, f"{owner} is new: say in ALLOWED what it may import"
    forbidden = _imports(path) - ALLOWED[owner] - {owner}
    assert not forbidden, f"{path.relative_to(SRC)} imports {sorted(forbidden)}"


@pytest.mark.parametrize(
    "package",
    sorted(p.parent.name for p in SRC.glob("*/__init__.py")),
)
def test_each_packages_docstring_names_what_it_may_import(package: str):
    doc = ast.get_docstring(ast.parse((SRC / package / "__init__.py").read_text())) or ""
    assert "May import" in doc, f"{package}/__init__.py does not say what it may import"
    may_import = doc[doc.index("May import") :].split("\n\n")[0]
    missing = [name for name in sorted(ALLOWED[package]) if name not in may_import]
    assert not missing, f"{package}: ALLOWED has {missing}, its docstring does not"


def test_the_allowed_imports_form_no_cycle():
    visiting, done = set(), set()

    def visit(name: str, trail: tuple[str, ...]) -> None:
        assert name not in visiting, f"cycle: {' -> '.join((*trail, name))}"
        if name in done:
            return
        visiting.add(name)
        for below in ALLOWED[name]:
            visit(below, (*trail, name))
        visiting.discard(name)
        done.add(name)

    for name in ALLOWED:
        visit(name, ())
