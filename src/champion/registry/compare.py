"""Rank the candidate runs of a project by their primary metric: ``champion compare``.

Reads only what training stored on each run (tags and metrics), so it needs MLflow's
client and no scikit-learn.

May import: ``champion.errors``, ``champion.settings``, ``champion.project.ranking``,
``champion.registry.liveness``, ``champion.registry.tracking``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from champion.errors import NotFoundError
from champion.project.ranking import rank_key
from champion.registry.liveness import close_dead_runs
from champion.registry.tracking import ROLE_TAG, client, translate_errors
from champion.settings import Settings

_PAGE = 1000


@dataclass(frozen=True)
class RunRow:
    """One candidate run as ``compare`` shows it."""

    run_id: str
    candidate: str
    started: str
    metrics: dict[str, float]
    metric: str
    model_uri: str
    data_digest: str


def compare(settings: Settings, name: str, *, limit: int = 100) -> list[RunRow]:
    """The best ``limit`` candidate runs of experiment ``name``, best first by their
    primary metric.

    Raises:
        NotFoundError: no experiment or no finished candidate run of that name.
    """
    mlflow_client = client(settings)
    with translate_errors():
        experiment = mlflow_client.get_experiment_by_name(name)
        if experiment is None:
            raise NotFoundError(
                f"no experiment '{name}' in {settings.tracking_uri}; run champion train first"
            )
        # A run a killed train left RUNNING shows FAILED, with why, before any ranking.
        close_dead_runs(settings, experiment.experiment_id, by="compare")
        # Every candidate, then the best ``limit``: MLflow's own max_results would keep
        # the newest runs, and the best may be older than those.
        runs, token = [], None
        while True:
            page = mlflow_client.search_runs(
                [experiment.experiment_id],
                filter_string=f"tags.`{ROLE_TAG}` = 'candidate' and attributes.status = 'FINISHED'",
                max_results=_PAGE,
                page_token=token,
            )
            runs.extend(page)
            token = page.token
            if not token:
                break
    if not runs:
        raise NotFoundError(
            f"experiment '{name}' has no finished candidate run; run champion train first"
        )
    metric = runs[0].data.tags.get("champion.primary_metric", "")
    direction = runs[0].data.tags.get("champion.direction", "maximize")

    def key(run):
        return (*rank_key(run.data.metrics.get(metric), direction), -run.info.start_time)

    rows = []
    for run in sorted(runs, key=key)[:limit]:
        rows.append(
            RunRow(
                run_id=run.info.run_id,
                candidate=run.data.tags.get("champion.candidate", run.info.run_name),
                started=datetime.fromtimestamp(run.info.start_time / 1000, UTC).isoformat(
                    timespec="seconds"
                ),
                metrics=dict(run.data.metrics),
                metric=metric,
                model_uri=run.data.tags.get("champion.model_uri", ""),
                data_digest=run.data.tags.get("champion.data_digest", ""),
            )
        )
    return rows
