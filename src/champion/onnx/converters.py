"""The one table of converters: each estimator class with how it becomes ONNX.

An entry (:class:`Conversion`) pairs an estimator class with champion's converter and
the shape rule that types that converter's outputs, or names a class that skl2onnx's
own registered converter handles faithfully (both left out). The two skl2onnx
arguments, ``custom_conversion_functions`` and ``custom_shape_calculators``, are both
read from this table (:func:`skl2onnx_arguments`), so they cannot disagree.

Lookups are by exact class, as skl2onnx's are: a subclass is not its parent. A class
outside the table may still be converted by skl2onnx if it registers one
(:func:`~champion.onnx.compile.compile_pipeline` checks); the table lists
every class champion's own preprocessing and built-in candidates produce.

Imports of champion: ``champion.project.transformers`` and the converter families.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import (
    ExtraTreesClassifier,
    ExtraTreesRegressor,
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.multiclass import OneVsRestClassifier
from sklearn.preprocessing import (
    MinMaxScaler,
    OneHotEncoder,
    OrdinalEncoder,
    RobustScaler,
    StandardScaler,
)
from sklearn.svm import SVC, SVR, LinearSVC
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

from champion.onnx import linear, one_vs_rest, preprocessing, trees
from champion.onnx.graph import (
    ConvertFunction,
    ShapeRule,
    classifier_shape,
    regressor_shape,
    same_shape,
)
from champion.project.transformers import (
    AsCategories,
    OutlierCapper,
    SkewLogTransformer,
    TextColumn,
)


@dataclass(frozen=True)
class Conversion:
    """How one estimator class becomes ONNX.

    Attributes:
        estimator: the class (matched exactly).
        convert: champion's converter, or None when skl2onnx's own converts it.
        shape: the shape rule of ``convert``'s outputs; None exactly when ``convert``
            is.

    Raises:
        TypeError: a converter without its shape rule, or a rule without its converter.
    """

    estimator: type
    convert: ConvertFunction | None = None
    shape: ShapeRule | None = None

    def __post_init__(self) -> None:
        if (self.convert is None) != (self.shape is None):
            raise TypeError(
                f"{self.estimator.__name__}: a converter and its shape rule come together; "
                f"got convert={self.convert!r}, shape={self.shape!r}"
            )

    @property
    def by_champion(self) -> bool:
        """True if champion converts this class, False if skl2onnx's converter does."""
        return self.convert is not None


TABLE: tuple[Conversion, ...] = (
    # Preprocessing (the ColumnTransformer and Pipelines around them are skl2onnx's).
    Conversion(AsCategories, preprocessing.identity, same_shape),
    Conversion(TextColumn, preprocessing.identity, same_shape),
    Conversion(SimpleImputer, preprocessing.impute, same_shape),
    Conversion(OutlierCapper, preprocessing.cap, same_shape),
    Conversion(SkewLogTransformer, preprocessing.skew_log, same_shape),
    Conversion(OneHotEncoder, preprocessing.one_hot, preprocessing.one_hot_shape),
    Conversion(OrdinalEncoder, preprocessing.ordinal, preprocessing.ordinal_shape),
    Conversion(StandardScaler),
    Conversion(RobustScaler),
    Conversion(MinMaxScaler),
    Conversion(TfidfVectorizer),  # refused where preprocessing.unfaithful says
    # Trees.
    Conversion(RandomForestClassifier, trees.forest_classifier, classifier_shape),
    Conversion(ExtraTreesClassifier, trees.forest_classifier, classifier_shape),
    Conversion(DecisionTreeClassifier, trees.forest_classifier, classifier_shape),
    Conversion(RandomForestRegressor, trees.forest_regressor, regressor_shape),
    Conversion(ExtraTreesRegressor, trees.forest_regressor, regressor_shape),
    Conversion(DecisionTreeRegressor, trees.forest_regressor, regressor_shape),
    Conversion(HistGradientBoostingClassifier, trees.boosting_classifier, classifier_shape),
    Conversion(HistGradientBoostingRegressor, trees.boosting_regressor, regressor_shape),
    # Linear models and support vector machines.
    Conversion(LogisticRegression),
    Conversion(Ridge),
    Conversion(LinearSVC),
    Conversion(CalibratedClassifierCV),
    # The rule types the outputs as skl2onnx's SVC shape calculator, which SVC fell back
    # to before it had an entry here, did: the label as the classes are spelled, the
    # decision function in the input's precision (double).
    Conversion(SVC, linear.svc, classifier_shape),
    Conversion(SVR, linear.svr, regressor_shape),
    # One-vs-rest (multilabel).
    Conversion(OneVsRestClassifier, one_vs_rest.one_vs_rest, one_vs_rest.one_vs_rest_shape),
)


def _by_estimator(table: Iterable[Conversion]) -> dict[type, Conversion]:
    index: dict[type, Conversion] = {}
    for entry in table:
        if entry.estimator in index:
            raise TypeError(f"{entry.estimator.__name__} has two entries in the converter table")
        index[entry.estimator] = entry
    return index


_BY_ESTIMATOR = _by_estimator(TABLE)


def conversion_for(estimator: type) -> Conversion | None:
    """The table's entry for exactly this class, or None."""
    return _BY_ESTIMATOR.get(estimator)


def skl2onnx_arguments() -> dict[str, dict]:
    """``convert_sklearn``'s keyword arguments that pass champion's converters and
    their shape rules, per call (nothing is registered with skl2onnx globally)."""
    own = [entry for entry in TABLE if entry.by_champion]
    return {
        "custom_conversion_functions": {entry.estimator: entry.convert for entry in own},
        "custom_shape_calculators": {entry.estimator: entry.shape for entry in own},
    }
