"""The project definition: what to predict, from which data, and how to judge it.

Owns the project file (``spec``), reading data (``data``), feature kinds and the
preprocessing pipeline (``features``, ``transformers``), the one spelling of a
category (``categories``, free of scikit-learn), the target as learned
(``targets``), holdout cuts and CV folds (``splits``), candidate estimators
(``candidates``), the metrics per task (``metrics``: what training optimises, the gate
compares and monitoring watches), which way each metric is better and how runs rank by
it (``ranking``, free of scikit-learn) and the reference profile of the training data
(``profile``).

May import: ``champion.errors``, ``champion.settings``. Nothing else of champion's:
every other stage builds on this one.
"""
