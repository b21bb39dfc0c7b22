"""Train the fraud detector: a scikit-learn pipeline saved with skops.

    python train.py --data data/train.parquet --holdout data/holdout.parquet --out model.skops \
        [--metrics metrics.json] [--params params.json] [--c 1.0]

``mlship run`` calls it as ``[train] command`` in mlship.toml says. A small ``--c`` (strong
regularisation) gives a deliberately worse model, to see a gate fail.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import pandas as pd
import skops.io
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score, roc_auc_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

LABEL = "is_fraud"
NUMERIC = ["amount", "hour", "distance_km", "account_age_days"]
CATEGORICAL = ["country", "device_type"]


def build_model(c: float = 1.0) -> Pipeline:
    """Scaled numbers and one-hot categories into a logistic regression (deterministic)."""
    features = ColumnTransformer(
        [
            ("numeric", StandardScaler(), NUMERIC),
            ("categories", OneHotEncoder(handle_unknown="ignore"), CATEGORICAL),
        ]
    )
    classifier = LogisticRegression(C=c, max_iter=1000, class_weight="balanced", random_state=0)
    return Pipeline([("features", features), ("classifier", classifier)])


def fit(train: pd.DataFrame, label: str) -> Pipeline:
    """The same training as an entry point: ``[train] entry = "train:fit"`` in mlship.toml
    (mlship calls it with the training data and the label column, and registers the model)."""
    return build_model().fit(train[NUMERIC + CATEGORICAL], train[label])


def evaluate(model: Pipeline, frame: pd.DataFrame) -> dict[str, float]:
    features = frame[NUMERIC + CATEGORICAL]
    return {
        "holdout_f1": float(f1_score(frame[LABEL], model.predict(features))),
        "holdout_roc_auc": float(roc_auc_score(frame[LABEL], model.predict_proba(features)[:, 1])),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=Path("data/train.parquet"))
    parser.add_argument("--holdout", type=Path, default=Path("data/holdout.parquet"))
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--metrics", type=Path)
    parser.add_argument("--params", type=Path)
    parser.add_argument("--c", type=float, default=1.0, help="Inverse regularisation strength.")
    args = parser.parse_args()

    train = pd.read_parquet(args.data)
    model = build_model(args.c).fit(train[NUMERIC + CATEGORICAL], train[LABEL])
    skops.io.dump(model, args.out)
    params: dict[str, Any] = {"C": args.c, "max_iter": 1000, "class_weight": "balanced"}
    metrics = evaluate(model, pd.read_parquet(args.holdout))
    if args.metrics:
        args.metrics.write_text(json.dumps(metrics))
    if args.params:
        args.params.write_text(json.dumps(params))
    print(f"Trained on {len(train)} rows: {metrics}")


if __name__ == "__main__":
    main()
