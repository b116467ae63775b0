"""A promoted model the monitoring-run and feedback tests share (training it is the
slow part)."""

from __future__ import annotations

import pytest

from support.monitoring import legendary
from support.projects import Promoted


@pytest.fixture(scope="module")
def model(tmp_path_factory, sqlite_template) -> Promoted:
    return legendary(tmp_path_factory.mktemp("legendary"), sqlite_template)
