"""Training: fit every candidate of a project, each one a fully logged MLflow run.

Owns ``train`` (:func:`~champion.training.train.train_project`: split, fit, search,
evaluate, log), ``search`` (the Optuna search, alone or shared by several processes
through a database), ``threshold`` (a binary model's decision threshold, tuned on CV
folds), ``parallel`` (candidates in worker processes, their events sent back),
``progress`` (the progress events and the two ways to show them), ``explain`` (SHAP
values and feature importance) and ``plots`` (the figures logged with a run).

May import: ``champion.errors``, ``champion.settings``, ``champion.artifacts``,
``champion.project`` and ``champion.registry`` (to log a model and reach the store).
Nothing imports training except the CLI, the demo and serving's ``/explain``.
"""
