"""The runtime: a compiled model's session is made per process, it pickles without
it, and columns_of turns a model_inputs frame into the columns a CompiledModel takes."""

from __future__ import annotations

import os
import pickle

import numpy as np
import pandas as pd

from champion.onnx.compile import compile_pipeline
from champion.onnx.runtime import columns_of
from support.onnx import holdout_of, trained


def test_a_session_is_made_again_in_a_new_process(contexts):
    context = contexts["binary"]
    pipeline = trained(context, "hist_gradient_boosting")
    held_out = holdout_of(context)
    compiled = compile_pipeline(pipeline, context.features, "binary", held_out)
    columns = columns_of(held_out, context.features)
    before = compiled.predict_proba(columns)
    session = compiled._session
    assert session is not None and compiled._pid == os.getpid()
    options = session.get_session_options()
    assert (options.intra_op_num_threads, options.inter_op_num_threads) == (1, 1)

    compiled._pid = -1  # as if this were a worker forked after the session was made

    np.testing.assert_array_equal(compiled.predict_proba(columns), before)
    assert compiled._session is not session
    assert compiled._pid == os.getpid()
    reused = compiled._session
    compiled.predict(columns)
    assert compiled._session is reused  # same process: the session is kept


def test_a_pickled_model_travels_without_its_session(contexts):
    context = contexts["multiclass"]
    pipeline = trained(context, "random_forest")
    held_out = holdout_of(context)
    compiled = compile_pipeline(pipeline, context.features, "multiclass", held_out)
    columns = columns_of(held_out, context.features)
    compiled.predict(columns)

    copy = pickle.loads(pickle.dumps(compiled))

    assert copy._session is None
    np.testing.assert_array_equal(copy.predict(columns), pipeline.predict(held_out))


def test_columns_of_round_trips_a_model_inputs_frame(contexts):
    context = contexts["binary"]
    features = context.features
    frame = holdout_of(context)
    frame.loc[frame.index[0], "clinic"] = None
    frame.loc[frame.index[1], "mean radius"] = np.nan

    columns = columns_of(frame, features)

    assert list(columns) == features.columns
    assert all(columns[c].dtype == np.float64 for c in features.numeric)
    assert columns["clinic"].dtype == object and columns["clinic"][0] is None
    assert all(v is None or isinstance(v, str) for v in columns["clinic"])
    rebuilt = pd.DataFrame(
        {c: pd.Series(v, index=frame.index, dtype=v.dtype) for c, v in columns.items()}
    )
    pd.testing.assert_frame_equal(rebuilt, frame[features.columns])
