"""The tabular parts of a scikit-learn transformer of tables: the methods it trains and the
shipped recipe each starts from. The transformer itself belongs to the face layer
(`contrastlearn.estimator`), which imports rooms, never the reverse.

    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    model = make_pipeline(ContrastiveEncoder("scarf", steps=300), LogisticRegression())
    model.fit(table, labels)                    # a DataFrame: labels only reach the probe
"""

from __future__ import annotations

RECIPES = {"scarf": "scarf", "vime": "vime"}
"""Methods a table transformer can train, and the shipped recipe each starts from."""


def method_recipe(method: str) -> str:
    """The shipped recipe of `method`, or a ValueError listing the methods."""
    if method not in RECIPES:
        raise ValueError(f"unknown tabular method {method!r}; choose from {sorted(RECIPES)}")
    return RECIPES[method]
