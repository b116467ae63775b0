"""champion.registry.promote beyond the lifecycle test, on a real SQLite store (a copy
of the session's training per test): the minimum sample, and a version that serves
again after being archived."""

from __future__ import annotations

from pathlib import Path

import pytest

from champion.errors import PromotionRefused
from champion.project.spec import PromotionSpec
from champion.registry.promote import promote
from champion.registry.register import register
from champion.registry.tracking import client
from champion.registry.versions import champion_history, require_alias
from support.registry import TUMOURS, copy_of

pytestmark = pytest.mark.integration

NAME = TUMOURS


@pytest.fixture
def two_versions(tumours, tmp_path: Path):
    """Settings on a store where version 1 (the best run) is champion and version 2
    (the same run) is challenger."""
    database, report = tumours
    settings = copy_of(database, tmp_path)
    register(settings, NAME, run_id=report.best.run_id)
    promote(settings, NAME)
    register(settings, NAME, run_id=report.best.run_id)
    return settings


def test_too_few_holdout_rows_is_not_enough_data_not_a_pass(two_versions):
    settings = two_versions
    policy = PromotionSpec(min_holdout_rows=1000)

    with pytest.raises(PromotionRefused, match=r"not enough data: 143 holdout rows") as refused:
        promote(settings, NAME, policy)

    assert "at least 1000" in refused.value.message
    assert refused.value.evidence["rows"] == 143
    assert refused.value.evidence["min_rows"] == 1000
    assert str(require_alias(settings, NAME, "champion").version) == "1"
    assert client(settings).get_model_version(NAME, "2").tags["gate.decision"] == "refused"


def test_force_promotes_without_enough_data_and_says_so(two_versions):
    settings = two_versions

    decision = promote(settings, NAME, PromotionSpec(min_holdout_rows=1000), force=True)

    assert not decision.promote and decision.reason.startswith("not enough data")
    assert str(require_alias(settings, NAME, "champion").version) == "2"
    assert client(settings).get_model_version(NAME, "2").tags["gate.decision"] == "forced"


def test_a_version_promoted_again_is_no_longer_archived(two_versions):
    settings = two_versions
    promote(settings, NAME, force=True)  # 2 over 1: 1 is archived
    mlflow_client = client(settings)
    assert mlflow_client.get_model_version(NAME, "1").tags["archived"] == "true"
    mlflow_client.set_registered_model_alias(NAME, "challenger", "1")

    promote(settings, NAME, force=True)

    assert str(require_alias(settings, NAME, "champion").version) == "1"
    assert "archived" not in mlflow_client.get_model_version(NAME, "1").tags
    assert mlflow_client.get_model_version(NAME, "2").tags["archived"] == "true"
    assert champion_history(settings, NAME) == ["1", "2", "1"]
