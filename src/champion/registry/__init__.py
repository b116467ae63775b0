"""The registry: MLflow's model registry as champion's control plane.

Owns ``tracking`` (the edge to MLflow: which store, which experiment, error
translation), ``modelio`` (logging a pipeline as an MLflow model with skops, and
loading one), ``trust`` (which logged models champion deserializes at all: skops, with
trusted types in its allow-list, checked on the MLmodel before any byte is loaded), and
one module per registry operation:

============  =========================================================  ==============
module        job                                                        heavy imports
============  =========================================================  ==============
``versions``  list versions, resolve an alias, move ``champion``          none
``compare``   rank the candidate runs by the primary metric               none
``register``  register a run's model as version ``@challenger``, its       scikit-learn,
              ONNX graph compiled once (imported inside ``register``)     skops, skl2onnx
``compiled``  compile at registration: the graph logged to the run, its    (inside its
              digests and evidence as version tags; a server's check      compile
              and load of it                                              function)
``rollback``  give ``champion`` back to the previous champion             none
``promote``   the gate: score both versions on one holdout, then move     scikit-learn,
              ``champion`` or refuse (a version in an untrusted format    scipy.stats,
              is refused before it loads)                                 skops
``gate``      the gate's paired tests and decision, free of MLflow        scipy.stats
``lock``      one registry writer at a time per model (promote,           none
              rollback, register), on any MLflow store
``liveness``  tell a dead run from a live one; mark the dead FAILED       none
``sqlite_``   a new local SQLite store copied from a migrated template     none
``template``
============  =========================================================  ==============

"None" means MLflow's client and nothing that computes: ``champion models``,
``compare`` and ``rollback`` start without scikit-learn, skops, SHAP or the training
code; only ``promote`` (and ``modelio``, for training) pays for them. Keep it so: a module in
the "none" rows must not import ``champion.project`` beyond ``spec`` and ``ranking``.

May import: ``champion.errors``, ``champion.settings``, ``champion.artifacts``,
``champion.project`` and ``champion.onnx`` (the compiler, imported only when a version is
compiled). Never training, serving or monitoring.
"""
