"""The narrated demo. It uses only the public API, so it doubles as an end-to-end check."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlship.demo.transactions import make_transactions

if TYPE_CHECKING:
    import pandas as pd
    from rich.console import Console

LABEL = "is_fraud"
NAME = "fraud_detector"


def _pipeline(estimator: Any, frame: pd.DataFrame) -> Any:
    import pandas as pd
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    features = [c for c in frame.columns if c != LABEL]
    numeric = [c for c in features if pd.api.types.is_numeric_dtype(frame[c])]
    categorical = [c for c in features if c not in numeric]
    pre = ColumnTransformer(
        [
            ("num", StandardScaler(), numeric),
            ("cat", OneHotEncoder(handle_unknown="ignore"), categorical),
        ]
    )
    return make_pipeline(pre, estimator)


def _scores(model: Any, holdout: pd.DataFrame) -> dict[str, float]:
    from sklearn.metrics import average_precision_score, roc_auc_score

    proba = model.predict_proba(holdout.drop(columns=[LABEL]))[:, 1]
    return {
        "roc_auc": round(float(roc_auc_score(holdout[LABEL], proba)), 4),
        "pr_auc": round(float(average_precision_score(holdout[LABEL], proba)), 4),
    }


def run_demo(home: Path | None = None, *, console: Console | None = None) -> int:
    """Run the demo in ``home`` (a new temporary folder by default); returns an exit code."""
    from rich.console import Console
    from rich.rule import Rule
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression

    from mlship.cli.render import print_history, print_version
    from mlship.registry import Registry
    from mlship.registry.diff import diff_versions

    console = console or Console()
    home = home or Path(tempfile.mkdtemp(prefix="mlship-demo-"))
    registry = Registry.from_env({"MLSHIP_HOME": str(home), "MLSHIP_ACTOR": "demo"})
    console.print(Rule("mlship demo"))
    console.print(f"Store: [bold]{registry.store.url}[/]  artifacts: {registry.artifacts.root}")

    data = make_transactions(20_000, seed=7)
    train, holdout = data.iloc[:15_000], data.iloc[15_000:]
    console.print(
        f"1. Generated {len(data):,} card transactions ({data[LABEL].mean():.1%} fraud); "
        f"{len(train):,} to train, {len(holdout):,} held out."
    )

    with console.status("Training v1 (logistic regression)"):
        v1_model = _pipeline(LogisticRegression(max_iter=1000), train).fit(
            train.drop(columns=[LABEL]), train[LABEL]
        )
    v1 = registry.register(
        v1_model,
        NAME,
        train_data=train,
        label=LABEL,
        metrics=_scores(v1_model, holdout),
        params={"estimator": "LogisticRegression", "max_iter": 1000},
        description="Baseline",
        reason="first model",
    )
    registry.set_alias(v1.ref, "production", reason="first release")
    console.print(f"2. Registered [bold]{v1.ref}[/] {v1.metrics} and made it production.")

    with console.status("Training v2 (gradient boosting)"):
        v2_model = _pipeline(
            HistGradientBoostingClassifier(max_iter=150, random_state=0), train
        ).fit(train.drop(columns=[LABEL]), train[LABEL])
    v2 = registry.register(
        v2_model,
        NAME,
        train_data=train,
        label=LABEL,
        metrics=_scores(v2_model, holdout),
        params={"estimator": "HistGradientBoostingClassifier", "max_iter": 150},
        description="Gradient boosting",
        reason="better PR AUC expected",
    )
    console.print(f"3. Registered [bold]{v2.ref}[/] {v2.metrics}.")
    diff = diff_versions(v1, v2)
    for row in diff.section("metrics"):
        console.print(f"   {row.key}: {row.a} → {row.b} ({row.delta:+.4f})")

    registry.set_alias(v2.ref, "production", reason="v2 beats v1 on the holdout")
    model = registry.load(f"{NAME}@production")
    sample = holdout.drop(columns=[LABEL]).head(3)
    proba = model.predict_proba(sample)[:, 1]
    console.print(
        f"4. Moved production to v{v2.version}; loaded {model.version.ref} (hash verified) and "
        f"scored 3 transactions: {', '.join(f'{p:.3f}' for p in proba)}"
    )
    console.print(Rule("the version in production"))
    print_version(registry.get(f"{NAME}@production"), console)
    console.print(Rule("the ledger"))
    print_history(registry.history(NAME), NAME, console)
    console.print(
        f"\nTry it yourself:\n  export MLSHIP_HOME={home}\n  mlship models list {NAME}\n"
        f"  mlship models diff {NAME}@1 {NAME}@2\n  mlship models history {NAME}"
    )
    registry.close()
    return 0
