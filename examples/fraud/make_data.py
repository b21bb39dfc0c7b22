"""Write the example's data: data/train.parquet and data/holdout.parquet (seeded, ~12 % fraud).

python make_data.py [--rows 4000] [--holdout-rows 2000] [--seed 0]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

COUNTRIES = ("DE", "FR", "ES", "IT", "US", "BR")
DEVICES = ("mobile", "desktop", "pos")


def transactions(rows: int, seed: int) -> pd.DataFrame:
    """Card transactions; ``is_fraud`` follows a known logistic rule plus noise."""
    rng = np.random.default_rng(seed)
    country = rng.choice(COUNTRIES, rows, p=[0.3, 0.2, 0.15, 0.15, 0.12, 0.08])
    device = rng.choice(DEVICES, rows, p=[0.55, 0.3, 0.15])
    amount = np.round(rng.lognormal(3.6, 1.0, rows), 2)
    hour = rng.integers(0, 24, rows)
    distance = np.round(rng.gamma(1.5, 12.0, rows), 1)
    account_age = rng.integers(1, 3650, rows)
    risk = (
        -4.2
        + 0.6 * np.log1p(amount)
        + 1.4 * ((hour < 6) | (hour > 22))
        + 0.04 * distance
        - 0.0008 * account_age
        + 0.8 * (device == "mobile")
        + 0.9 * np.isin(country, ["BR", "US"])
    )
    fraud = rng.random(rows) < 1.0 / (1.0 + np.exp(-risk))
    return pd.DataFrame(
        {
            "amount": amount,
            "hour": hour,
            "distance_km": distance,
            "account_age_days": account_age,
            "country": country,
            "device_type": device,
            "is_fraud": fraud.astype(int),
        }
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=4000)
    parser.add_argument("--holdout-rows", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("data"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    transactions(args.rows, args.seed).to_parquet(args.out / "train.parquet", index=False)
    holdout = transactions(args.holdout_rows, args.seed + 1)
    holdout.to_parquet(args.out / "holdout.parquet", index=False)
    print(f"Wrote {args.out}/train.parquet ({args.rows} rows), holdout ({args.holdout_rows}).")


if __name__ == "__main__":
    main()
