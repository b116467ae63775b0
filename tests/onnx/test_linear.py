"""SVM converters in double: an SVC outside calibration (the label by libsvm's vote)
and SVR, compiled in small pipelines and compared with scikit-learn."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.svm import SVC, SVR

from champion.onnx.compile import VALUE_ATOL, VALUE_RTOL, compile_pipeline
from champion.onnx.runtime import columns_of
from support.onnx import assert_same_answers, awkward, fitted, synthetic


@pytest.mark.parametrize("n_classes", [2, 3])
def test_a_bare_svc_answers_the_pipelines_labels(n_classes):
    inputs, features, score = synthetic(200)
    names = np.array(["low", "mid", "high"])
    y = names[np.digitize(score, [0.0, 1.0] if n_classes == 3 else [0.7])]
    pipeline = fitted(features, SVC(random_state=0), inputs[:150], y[:150])

    compiled = compile_pipeline(pipeline, features, "multiclass", inputs[150:])

    rows = awkward(inputs[150:], features)
    assert_same_answers(compiled, pipeline, rows, features, "multiclass")


@pytest.mark.parametrize("kernel", ["linear", "rbf"])
def test_svr_answers_the_pipelines_values(kernel):
    inputs, features, score = synthetic(200)
    pipeline = fitted(features, SVR(kernel=kernel), inputs[:150], score[:150])

    compiled = compile_pipeline(pipeline, features, "regression", inputs[150:])

    rows = awkward(inputs[150:], features)
    assert_same_answers(compiled, pipeline, rows, features, "regression")


@pytest.mark.parametrize("kernel", ["poly", "sigmoid"])
def test_svr_with_other_kernels_passes_verification(kernel):
    # These agree with libsvm to about 1e-6 relative, inside compile's own tolerance
    # (VALUE_RTOL) but not the tighter one the other tests hold the graph to.
    inputs, features, score = synthetic(200)
    pipeline = fitted(features, SVR(kernel=kernel), inputs[:150], score[:150])

    compiled = compile_pipeline(pipeline, features, "regression", inputs[150:])

    rows = awkward(inputs[150:], features)
    got = compiled.predict(columns_of(rows, features))
    np.testing.assert_allclose(got, pipeline.predict(rows), rtol=VALUE_RTOL, atol=VALUE_ATOL)
