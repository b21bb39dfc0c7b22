"""The demo's models: scikit-learn pipelines over the transactions, and the two faulty steps the
demo ships on purpose (a currency table that lost a country, a device lookup that lost a device).

Both faulty steps are ordinary scikit-learn transformers in this importable module, so a
pipeline holding one registers as a skops file with ``trusted=True`` (its type is outside the
scientific allow-list) and loads in the server like any other version.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from sklearn.base import BaseEstimator, TransformerMixin

from mlship.demo.transactions import LABEL

if TYPE_CHECKING:
    import pandas as pd


class ToEuro(TransformerMixin, BaseEstimator):  # type: ignore[misc]
    """Convert ``amount`` from the card's local currency to euros with a rate table.

    A country missing from ``rates`` gets the rate ``default``: 0.0, so a gap in the table
    silently turns that country's amounts into zeros (v3's bug).
    """

    def __init__(self, rates: Mapping[str, float] | None = None, default: float = 0.0) -> None:
        self.rates = rates
        self.default = default

    def fit(self, frame: pd.DataFrame, y: Any = None) -> ToEuro:
        return self

    def transform(self, frame: pd.DataFrame) -> pd.DataFrame:
        rates = dict(self.rates or {})
        rate = frame["country"].map(lambda c: rates.get(c, self.default)).astype(float)
        return frame.assign(amount=frame["amount"] * rate)


class DeviceNames(TransformerMixin, BaseEstimator):  # type: ignore[misc]
    """Rename device types through a lookup table; an unknown device raises ``KeyError``
    (v4's bug: the table has no ``tablet``, about a tenth of the traffic)."""

    def __init__(self, names: Mapping[str, str] | None = None) -> None:
        self.names = names

    def fit(self, frame: pd.DataFrame, y: Any = None) -> DeviceNames:
        return self

    def transform(self, frame: pd.DataFrame) -> pd.DataFrame:
        names = dict(self.names or {})
        return frame.assign(device_type=[names[d] for d in frame["device_type"]])


def features(frame: pd.DataFrame) -> tuple[list[str], list[str]]:
    """The numeric and the categorical input columns of ``frame`` (the label left out)."""
    import pandas as pd

    columns = [c for c in frame.columns if c != LABEL]
    numeric = [c for c in columns if pd.api.types.is_numeric_dtype(frame[c])]
    return numeric, [c for c in columns if c not in numeric]


BOOSTED_PARAMS: Mapping[str, Any] = {
    "estimator": "HistGradientBoostingClassifier",
    "max_iter": 60,
    "learning_rate": 0.1,
    "max_leaf_nodes": 15,
    "min_samples_leaf": 40,
}
"""The trees of v2 and later, as registered with each version."""
FIRST_PARAMS: Mapping[str, Any] = {**BOOSTED_PARAMS, "max_iter": 10, "max_leaf_nodes": 4}
"""v1: a quick first model, fewer and smaller trees."""


def boosted(
    frame: pd.DataFrame,
    *,
    params: Mapping[str, Any] = BOOSTED_PARAMS,
    to_euro: ToEuro | None = None,
) -> Any:
    """Gradient-boosted trees on the numbers and the categories' codes (unfitted);
    ``to_euro`` puts a currency conversion in front (v3).

    Every version shares this preprocessing on purpose: a canary compares the latency of
    candidate and stable, and one more encoder step costs more than the trees themselves.
    """
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OrdinalEncoder

    numeric, categorical = features(frame)
    encode = ColumnTransformer(
        [
            ("num", "passthrough", numeric),
            (
                "cat",
                OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1),
                categorical,
            ),
        ]
    )
    trees = HistGradientBoostingClassifier(
        max_iter=params["max_iter"],
        learning_rate=params["learning_rate"],
        max_leaf_nodes=params["max_leaf_nodes"],
        min_samples_leaf=params["min_samples_leaf"],
        random_state=0,
    )
    steps = [encode, trees] if to_euro is None else [to_euro, encode, trees]
    return make_pipeline(*steps)


def fit(model: Any, frame: pd.DataFrame) -> Any:
    """``model`` fitted on ``frame`` (features and label)."""
    return model.fit(frame.drop(columns=[LABEL]), frame[LABEL])


def scores(model: Any, frame: pd.DataFrame) -> dict[str, float]:
    """ROC AUC and PR AUC of ``model`` on ``frame``, rounded for the registry and the table."""
    from sklearn.metrics import average_precision_score, roc_auc_score

    proba = model.predict_proba(frame.drop(columns=[LABEL]))[:, 1]
    return {
        "roc_auc": round(float(roc_auc_score(frame[LABEL], proba)), 4),
        "pr_auc": round(float(average_precision_score(frame[LABEL], proba)), 4),
    }
