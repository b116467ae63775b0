"""Preprocessing converters: champion's transformers, the imputer, the scalers and
the encoders compiled in small pipelines and compared with scikit-learn; the text
settings skl2onnx's converter would answer differently for are named."""

from __future__ import annotations

import pytest
from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer
from sklearn.linear_model import Ridge

from champion.onnx.compile import compile_pipeline
from champion.onnx.preprocessing import text_options, unfaithful
from champion.project.spec import PreprocessingSpec
from support.onnx import assert_same_answers, awkward, fitted, synthetic


@pytest.mark.parametrize(
    "spec",
    [
        PreprocessingSpec(scaling="robust", encoding="onehot", rare_min_frequency=0.05),
        PreprocessingSpec(scaling="minmax", encoding="ordinal", impute_numeric="mean"),
        PreprocessingSpec(scaling="none", cap_outliers=None, log_transform=["amount"]),
    ],
    ids=["robust-onehot-rare", "minmax-ordinal-mean", "no-scaling-logged"],
)
def test_preprocessing_compiles_to_the_pipelines_values(spec):
    inputs, features, score = synthetic(200)
    pipeline = fitted(features, Ridge(), inputs[:150], score[:150], spec)

    compiled = compile_pipeline(pipeline, features, "regression", inputs[150:])

    assert_same_answers(compiled, pipeline, awkward(inputs[150:], features), features, "regression")


@pytest.mark.parametrize(
    ("vectorizer", "reason"),
    [
        (TfidfVectorizer(sublinear_tf=True), "TfidfVectorizer with sublinear_tf=True"),
        (TfidfVectorizer(stop_words="english", ngram_range=(1, 2)), "stop words and n-grams"),
        (CountVectorizer(tokenizer=str.split), "CountVectorizer with a custom tokenizer"),
        (TfidfVectorizer(), None),
    ],
    ids=["sublinear", "stop-words-ngrams", "custom-tokenizer", "faithful"],
)
def test_text_settings_skl2onnx_would_answer_differently_for_are_named(vectorizer, reason):
    found = unfaithful(vectorizer)

    if reason is None:
        assert found is None
    else:
        assert reason in found


def test_text_is_tokenised_like_scikit_learn_in_an_installed_locale():
    options = text_options(TfidfVectorizer())

    assert options == {"locale": "C.UTF-8", "tokenexp": r"[\pL\pN_][\pL\pN_]+"}
    assert text_options(Ridge()) is None
