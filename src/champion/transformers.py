"""Where models logged by champion 0.1.0 look for their transformers.

skops records each object's class by its full import path, and champion 0.1.0 kept its
transformers in ``champion.transformers``; they now live in
:mod:`champion.project.transformers`. This alias keeps those models loading
(``tests/test_transformers.py`` serves one). New models record the new path.
"""

from champion.project.transformers import (
    AsCategories,
    OutlierCapper,
    SkewLogTransformer,
    TextColumn,
)

__all__ = ["AsCategories", "OutlierCapper", "SkewLogTransformer", "TextColumn"]
