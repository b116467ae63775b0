"""The registry: MLflow's model registry as champion's control plane.

Owns ``tracking`` (the edge to MLflow: which store, which experiment, error
translation), ``modelio`` (logging a pipeline as an MLflow model with skops), ``gate``
(the paired tests and the promotion decision) and ``lifecycle`` (compare, register,
promote, rollback, list).

May import: ``champion.errors``, ``champion.settings``, ``champion.artifacts`` and
``champion.project``. Never training, serving or monitoring.
"""
