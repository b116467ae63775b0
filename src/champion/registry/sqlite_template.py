"""A new local SQLite tracking store, copied from an empty migrated one.

MLflow creates a new SQLite store by running every schema migration since its first
release: 2 to 10 seconds on the first command in a new project folder, more than all
the fits of a small project. The result is the same file every time for one MLflow
version, so champion builds it once per version, in ``settings.cache_dir``
(``mlflow-<version>.db``), and copies it wherever a new store is needed.

The template holds no experiment: MLflow creates its ``Default`` experiment when it
first opens the copy, with the artifact location of that process, as it would for a
new file. Anything that goes wrong here (no cache folder, a read-only disk) leaves the
store to MLflow, which then migrates it as usual: the template only saves time.

May import: ``champion.settings``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import tempfile
from pathlib import Path

from champion.settings import Settings

_log = logging.getLogger(__name__)
_PREFIX = "sqlite:///"


def seed_new_store(settings: Settings) -> bool:
    """Copy the template to the tracking store's file if it is a SQLite file that does
    not exist yet. Returns whether it did; never raises."""
    path = _sqlite_path(settings.tracking_uri)
    if path is None or settings.cache_dir is None or path.exists():
        return False
    try:
        template = _template(settings.cache_dir)
        path.parent.mkdir(parents=True, exist_ok=True)
        _copy_unless_exists(template, path)
    except (OSError, sqlite3.Error) as e:
        _log.debug("no SQLite template for %s: %s", path, e)
        return False
    return True


def _sqlite_path(uri: str) -> Path | None:
    if not uri.startswith(_PREFIX):
        return None
    path = uri[len(_PREFIX) :].split("?", 1)[0]
    return Path(path) if path and path != ":memory:" else None


def _template(cache: Path) -> Path:
    """The cached template for this MLflow version, built now if absent."""
    import mlflow

    template = cache / f"mlflow-{mlflow.__version__}.db"
    if template.exists():
        return template
    cache.mkdir(parents=True, exist_ok=True)
    # Built under a temporary name and renamed: a concurrent build or a reader never
    # sees half a file.
    handle, name = tempfile.mkstemp(dir=cache, prefix=".building-", suffix=".db")
    os.close(handle)
    building = Path(name)
    try:
        building.unlink()
        from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

        store = SqlAlchemyStore(f"{_PREFIX}{building}", str(cache / "unused-artifacts"))
        store.engine.dispose()
        with contextlib.closing(sqlite3.connect(building)) as db, db:
            db.execute("DELETE FROM experiment_tags")
            db.execute("DELETE FROM experiments")
        os.replace(building, template)
    finally:
        building.unlink(missing_ok=True)
    return template


def _copy_unless_exists(template: Path, path: Path) -> None:
    """Copy ``template`` to ``path`` unless another process made ``path`` meanwhile."""
    handle, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}-", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(template.read_bytes())
        with contextlib.suppress(FileExistsError):
            os.link(name, path)  # fails, rather than overwrite, if the store appeared
    finally:
        os.unlink(name)
