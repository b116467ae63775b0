"""The ONNX inference path: compile a fitted pipeline, verify it, run it.

A package of its own, below both the registry (which compiles a version when it is
registered) and serving (which runs the graph). It owns nothing of HTTP:

=================  ============================================================
module             owns
=================  ============================================================
``runtime``        :class:`~.runtime.CompiledModel`: feeds columns to an
                   onnxruntime session (one per process) and answers like the
                   pipeline; ``columns_of``. The serving hot path.
``compile``        :func:`~.compile.compile_verified` (and ``compile_pipeline``),
                   ``NotCompilable``: convert with skl2onnx, verify on the
                   holdout plus an all-missing row and an unseen-categories
                   row; the evidence is a ``Verification``.
``artifact``       a compiled model as two files (``model.onnx``, ``plan.json``)
                   with their SHA-256 digests: saved when a version is
                   registered, loaded by a server without skl2onnx.
``converters``     the one table: each estimator class with its converter and
                   shape rule, or skl2onnx's own.
``graph``          what converters are written with (``Graph``, shape rules,
                   how labels are spelled) and ``NotCompilable``.
``preprocessing``  converters of champion's transformers, the imputer, the
                   encoders; what skl2onnx's text converter would get wrong.
``trees``          forests, decision trees, histogram gradient boosting.
``linear``         SVC and SVR in double (the other linear models are skl2onnx's).
``one_vs_rest``    one-vs-rest over tags (multilabel).
=================  ============================================================

May import: ``champion.project`` and ``champion.errors``; never the registry nor
serving. Importing the package imports nothing: the registry and the server import
``compile`` (scikit-learn's estimators, then skl2onnx) only when they compile a model;
``runtime`` and ``artifact`` need neither skl2onnx nor onnx.
"""
