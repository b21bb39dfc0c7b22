"""A realistic, seeded card-transaction data set with a ~2 % fraud label."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

COUNTRIES = ("DE", "FR", "ES", "IT", "NL", "US", "GB", "BR")
DEVICES = ("mobile", "desktop", "tablet", "pos")
MERCHANTS = ("grocery", "travel", "electronics", "fashion", "gaming", "fuel", "restaurants")


def make_transactions(rows: int = 20_000, *, seed: int = 0) -> pd.DataFrame:
    """Transactions with amount, time of day, distance from home, account age, country, device and
    merchant category; ``is_fraud`` follows a known logistic rule plus noise.

    >>> frame = make_transactions(1000, seed=1)
    >>> sorted(frame.columns)[:3], 0.0 < frame["is_fraud"].mean() < 0.1
    (['account_age_days', 'amount', 'country'], True)
    """
    import pandas as pd

    rng = np.random.default_rng(seed)
    country = rng.choice(COUNTRIES, rows, p=[0.25, 0.18, 0.12, 0.1, 0.08, 0.12, 0.1, 0.05])
    device = rng.choice(DEVICES, rows, p=[0.55, 0.25, 0.1, 0.1])
    merchant = rng.choice(MERCHANTS, rows)
    amount = np.round(rng.lognormal(3.6, 1.0, rows), 2)
    hour = rng.integers(0, 24, rows)
    distance = np.round(rng.gamma(1.5, 12.0, rows), 1)
    account_age = rng.integers(1, 3650, rows)
    risk = (
        -7.3
        + 0.55 * np.log1p(amount)
        + 0.9 * ((hour < 6) | (hour > 22))
        + 0.025 * distance
        - 0.0004 * account_age
        + 1.0 * np.isin(merchant, ["electronics", "gaming", "travel"])
        + 0.7 * (device == "mobile")
        + 0.6 * np.isin(country, ["BR", "US"])
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
            "merchant_category": merchant,
            "is_fraud": fraud.astype(int),
        }
    )
