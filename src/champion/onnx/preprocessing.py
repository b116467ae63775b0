"""Converters of the preprocessing steps, and what skl2onnx's own would get wrong.

Champion's converters, in the input's precision (double in a compiled champion
pipeline):

=====================  ===========================================================
step                   why champion's own
=====================  ===========================================================
AsCategories,          their work (strings, a missing marker) is done in Python
TextColumn             before the graph runs (:mod:`~champion.onnx.runtime`)
SimpleImputer          skl2onnx writes float32 fill values
OutlierCapper,         champion's transformers; skl2onnx has none
SkewLogTransformer
OneHotEncoder,         skl2onnx rejects unseen categories; here they light the
OrdinalEncoder         infrequent column (or none) or take ``unknown_value``
=====================  ===========================================================

The scalers, the ``ColumnTransformer`` and ``TfidfVectorizer`` are skl2onnx's own;
:func:`unfaithful` names the TF-IDF settings it would answer differently for, and
:func:`text_options` the options that make it tokenise like scikit-learn.

Imports of champion: :mod:`~champion.onnx.graph` only (the table pairs these
converters with champion's transformer classes).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.preprocessing import OneHotEncoder

from champion.onnx.graph import DOUBLE, Graph, converter, double_output

# A category no training row had: the encoders' layout is probed with it, and the
# edge rows compile_pipeline verifies on carry it.
UNSEEN_CATEGORY = "__champion_unseen__"
# The locale onnxruntime lowercases text in (StringNormalizer).
TEXT_LOCALE = "C.UTF-8"


@converter
def identity(g: Graph) -> None:
    """AsCategories and TextColumn: their work (spelling values as strings, missing as
    a marker) is done in Python before the graph runs; see champion.onnx.runtime."""
    g.op("Identity", g.input(), out=g.output())


@converter
def impute(g: Graph) -> None:
    """SimpleImputer on numbers in the input's precision (skl2onnx's own writes float32
    fill values): a missing (NaN) value becomes the learned statistic."""
    imputer = g.model
    missing_values = imputer.missing_values
    if not (isinstance(missing_values, float) and np.isnan(missing_values)):
        raise NotImplementedError(f"SimpleImputer with missing_values={missing_values!r}")
    if imputer.add_indicator:
        raise NotImplementedError("SimpleImputer with add_indicator=True")
    x = g.input()
    fill = g.const(imputer.statistics_.astype(g.float_type)[None, :], "fill")
    g.op("Where", g.op("IsNaN", x), fill, x, out=g.output())


@converter
def cap(g: Graph) -> None:
    """OutlierCapper: ``np.clip`` to the learned bounds. NaN passes through, and a
    column with a NaN bound (no value in training) becomes NaN, as with ``np.clip``."""
    x = g.input()
    lower = np.asarray(g.model.lower_bounds_, dtype=g.float_type)[None, :]
    upper = np.asarray(g.model.upper_bounds_, dtype=g.float_type)[None, :]
    # Where(x < lower, ...) rather than Max/Min: a comparison with NaN is false, so a
    # missing value stays missing.
    low, high = g.const(lower, "lower"), g.const(upper, "upper")
    raised = g.op("Where", g.op("Less", x, low), low, x)
    nan_bounds = np.isnan(lower) | np.isnan(upper)
    if not nan_bounds.any():
        g.op("Where", g.op("Greater", raised, high), high, raised, out=g.output())
        return
    clipped = g.op("Where", g.op("Greater", raised, high), high, raised)
    poison = g.const(np.where(nan_bounds, np.nan, 0).astype(g.float_type), "poison")
    g.op("Add", clipped, poison, out=g.output())


@converter
def skew_log(g: Graph) -> None:
    """SkewLogTransformer: ``sign(x) * log1p(|x|)`` on the chosen columns."""
    x = g.input()
    mask = np.asarray(g.model.log_columns_, dtype=bool)
    if not mask.any():
        g.op("Identity", x, out=g.output())
        return
    logged = g.op("Mul", g.op("Sign", x), _log1p(g, g.op("Abs", x)))
    g.op("Where", g.const(mask[None, :], "log_columns"), logged, x, out=g.output())


def _log1p(g: Graph, a: str) -> str:
    """``log1p(a)`` for ``a >= 0`` without the rounding of ``log(1 + a)`` for small
    ``a`` (ONNX has no Log1p): ``log(u) * a / (u - 1)`` with ``u = 1 + a`` (Goldberg),
    and ``a`` itself where ``u`` rounds to 1."""
    one = g.const(np.array(1, dtype=g.float_type), "one")
    u = g.op("Add", a, one)
    corrected = g.op("Mul", g.op("Log", u), g.op("Div", a, g.op("Sub", u, one)))
    return g.op("Where", g.op("Equal", u, one), a, corrected)


@dataclass(frozen=True)
class _Codes:
    """How an encoder codes one column: categories with their codes (the frequent ones
    numbered in order, the infrequent ones sharing the next number), how many codes,
    and whether there is an infrequent group."""

    categories: list[str]
    codes: list[int]
    width: int
    has_rare: bool

    @classmethod
    def of(cls, encoder, index: int) -> _Codes:
        categories = [str(c) for c in encoder.categories_[index]]
        infrequent = getattr(encoder, "infrequent_categories_", None)
        rare = set()
        if infrequent is not None and infrequent[index] is not None:
            rare = {str(c) for c in infrequent[index]}
        frequent = [c for c in categories if c not in rare]
        codes = {c: i for i, c in enumerate(frequent)}
        codes.update({c: len(frequent) for c in categories if c in rare})
        return cls(list(codes), list(codes.values()), len(frequent) + bool(rare), bool(rare))


def _encoder_codes(encoder, unknown_code) -> list[tuple[_Codes, int]]:
    """Per input column its codes and the code of an unseen category (the function
    ``unknown_code(codes)``), checked against ``encoder.transform``: the layout rests
    on how scikit-learn orders infrequent categories."""
    columns = [(_Codes.of(encoder, i), 0) for i in range(len(encoder.categories_))]
    columns = [(codes, unknown_code(codes)) for codes, _ in columns]
    n_rows = max(len(codes.categories) for codes, _ in columns) + 1
    probe = np.full((n_rows, len(columns)), UNSEEN_CATEGORY, dtype=object)
    blocks = []
    for j, (codes, unknown) in enumerate(columns):
        probe[: len(codes.categories), j] = codes.categories
        code = np.array([*codes.codes, *[unknown] * (n_rows - len(codes.codes))])
        if isinstance(encoder, OneHotEncoder):
            blocks.append((code[:, None] == np.arange(codes.width)[None, :]).astype(float))
        else:
            blocks.append(code[:, None].astype(float))
    actual = np.asarray(encoder.transform(probe), dtype=float)
    expected = np.hstack(blocks)
    if actual.shape != expected.shape or not np.array_equal(actual, expected):
        raise NotImplementedError(f"{type(encoder).__name__}: categories laid out unexpectedly")
    return columns


def _encode(g: Graph, x: str, index: int, codes: _Codes, unknown: int) -> str:
    """Column ``index`` of the string matrix ``x`` as its int64 codes, (N, 1)."""
    return g.op(
        "LabelEncoder",
        g.column(x, index),
        op_domain="ai.onnx.ml",
        op_version=2,
        keys_strings=codes.categories,
        values_int64s=codes.codes,
        default_int64=unknown,
    )


@converter
def one_hot(g: Graph) -> None:
    """OneHotEncoder on strings with ``handle_unknown`` ``ignore`` or
    ``infrequent_if_exist``: an unseen category lights the infrequent column if the
    feature has one, else none (skl2onnx's converter rejects unseen categories)."""
    encoder = g.model
    if encoder.handle_unknown not in ("ignore", "infrequent_if_exist"):
        raise NotImplementedError(f"OneHotEncoder with handle_unknown={encoder.handle_unknown!r}")
    if encoder.drop_idx_ is not None:
        raise NotImplementedError("OneHotEncoder with drop")
    to_rare = encoder.handle_unknown == "infrequent_if_exist"
    columns = _encoder_codes(
        encoder, lambda codes: codes.width - 1 if (codes.has_rare and to_rare) else -1
    )
    x = g.input()
    blocks = []
    for j, (codes, unknown) in enumerate(columns):
        positions = g.const(np.arange(codes.width, dtype=np.int64)[None, :], "positions")
        hot = g.op("Equal", _encode(g, x, j, codes, unknown), positions)
        blocks.append(g.op("Cast", hot, to=DOUBLE))
    g.op("Concat", *blocks, out=g.output(), axis=1)


@converter
def ordinal(g: Graph) -> None:
    """OrdinalEncoder on strings with ``handle_unknown="use_encoded_value"`` and an
    integer ``unknown_value``, which an unseen category becomes."""
    encoder = g.model
    unknown = encoder.unknown_value
    if encoder.handle_unknown != "use_encoded_value" or not float(unknown).is_integer():
        raise NotImplementedError(
            f"OrdinalEncoder with handle_unknown={encoder.handle_unknown!r}, "
            f"unknown_value={unknown!r}"
        )
    x = g.input()
    blocks = [
        g.op("Cast", _encode(g, x, j, codes, code), to=DOUBLE)
        for j, (codes, code) in enumerate(_encoder_codes(encoder, lambda _: int(unknown)))
    ]
    g.op("Concat", *blocks, out=g.output(), axis=1)


def one_hot_shape(operator) -> None:
    encoder = operator.raw_operator
    width = sum(_Codes.of(encoder, i).width for i in range(len(encoder.categories_)))
    double_output(operator, width)


def ordinal_shape(operator) -> None:
    double_output(operator, len(operator.raw_operator.categories_))


# ---------------------------------------------------------------------------------------
# Text: skl2onnx's own converter, refused where it would answer differently.


def unfaithful(step) -> str | None:
    """Why skl2onnx's converter for ``step`` would answer differently, if it would."""
    if not isinstance(step, CountVectorizer):  # TfidfVectorizer is one
        return None
    name = type(step).__name__
    if step.tokenizer is not None or step.preprocessor is not None:
        return f"{name} with a custom tokenizer or preprocessor"
    if getattr(step, "sublinear_tf", False):
        return f"{name} with sublinear_tf=True (skl2onnx leaves term counts unscaled)"
    if step.stop_words is not None and step.ngram_range[1] > 1:
        # scikit-learn forms n-grams after dropping stop words; ONNX's TfIdfVectorizer
        # counts n-grams of the text as written.
        return f"{name} with stop words and n-grams longer than one word"
    return None


def text_options(step) -> dict[str, str] | None:
    """skl2onnx options for a text vectorizer ``step`` (None for any other step).

    onnxruntime lowercases in a named locale; skl2onnx's default (en_US.UTF-8) is
    often not installed on servers, C.UTF-8 is (glibc)."""
    if not isinstance(step, CountVectorizer):  # TfidfVectorizer is one
        return None
    return {"locale": TEXT_LOCALE, "tokenexp": _token_regex(step)}


def _token_regex(vectorizer) -> str:
    """scikit-learn's default token pattern, ``(?u)\\b\\w\\w+\\b``, in onnxruntime's RE2:
    runs of two or more letters, digits or underscores (what Python's Unicode ``\\w``
    matches). skl2onnx's own replacement, ``[a-zA-Z0-9_]+``, splits accented words."""
    if vectorizer.token_pattern == r"(?u)\b\w\w+\b":
        return r"[\pL\pN_][\pL\pN_]+"
    return vectorizer.token_pattern
