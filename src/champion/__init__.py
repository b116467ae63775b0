"""champion: the whole life of a machine-learning model on MLflow."""

__version__ = "0.1.0"
