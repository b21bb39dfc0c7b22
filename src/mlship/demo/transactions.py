"""A realistic, seeded card-transaction data set with a ~2 % fraud label.

Amounts are in the card's local currency (``RATES_TO_EUR`` converts them); fraud follows a known
rule on the amount in euros, the hour, the account's age, the distance from home, the merchant
category, the device and the country, with thresholds and one interaction, so that a
gradient-boosted model beats a linear one. ``amount_scale`` and ``smartwatch_share`` move the
world for the drift part of the demo: prices rise, and a new device type appears (on which fraud
is more frequent).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

COUNTRIES = ("DE", "FR", "ES", "IT", "NL", "US", "GB", "BR")
COUNTRY_SHARES = (0.24, 0.17, 0.11, 0.1, 0.08, 0.12, 0.1, 0.08)
RATES_TO_EUR = {
    "DE": 1.0,
    "FR": 1.0,
    "ES": 1.0,
    "IT": 1.0,
    "NL": 1.0,
    "US": 0.92,
    "GB": 1.17,
    "BR": 0.18,
}
"""Euros per unit of each country's currency."""
DEVICES = ("mobile", "desktop", "tablet", "pos")
DEVICE_SHARES = (0.5, 0.25, 0.1, 0.15)
NEW_DEVICE = "smartwatch"
"""The device type that appears when the world shifts (``smartwatch_share``)."""
MERCHANTS = ("grocery", "travel", "electronics", "fashion", "gaming", "fuel", "restaurants")
LABEL = "is_fraud"


def make_transactions(
    rows: int = 20_000,
    *,
    seed: int = 0,
    amount_scale: float = 1.0,
    smartwatch_share: float = 0.0,
) -> pd.DataFrame:
    """Transactions with amount (local currency), hour of day, distance from home, account age,
    country, device type and merchant category; ``is_fraud`` follows a known rule plus noise.

    ``amount_scale`` multiplies every amount (inflation); ``smartwatch_share`` of the
    transactions come from a new device type, ``"smartwatch"``.

    >>> frame = make_transactions(1000, seed=1)
    >>> sorted(frame.columns)[:3], 0.0 < frame["is_fraud"].mean() < 0.1
    (['account_age_days', 'amount', 'country'], True)
    """
    import pandas as pd

    rng = np.random.default_rng(seed)
    country = rng.choice(COUNTRIES, rows, p=COUNTRY_SHARES)
    device = rng.choice(DEVICES, rows, p=DEVICE_SHARES).astype(object)
    if smartwatch_share > 0:
        device[rng.random(rows) < smartwatch_share] = NEW_DEVICE
    merchant = rng.choice(MERCHANTS, rows)
    rate = np.vectorize(RATES_TO_EUR.__getitem__, otypes=[float])(country)
    eur = rng.lognormal(3.7, 1.1, rows) * amount_scale
    amount = np.round(eur / rate, 2)
    hour = rng.integers(0, 24, rows)
    distance = np.round(rng.gamma(1.3, 15.0, rows), 1)
    account_age = rng.integers(1, 3650, rows)
    night = hour < 6
    risk = (
        -8.9
        + 0.5 * np.log1p(eur)
        + 2.2 * (eur > 150)
        + 2.0 * night
        + 2.0 * (account_age < 90)
        + 1.6 * (distance > 60)
        + 1.2 * np.isin(merchant, ["electronics", "gaming"])
        + 0.6 * (merchant == "travel")
        + 1.2 * (night & (merchant == "gaming"))
        + 0.5 * (device == "mobile")
        - 0.8 * (device == "pos")
        + 1.5 * (device == NEW_DEVICE)
        + 0.5 * np.isin(country, ["BR", "US"])
    )
    fraud = rng.random(rows) < 1.0 / (1.0 + np.exp(-risk))
    return pd.DataFrame(
        {
            "amount": amount,
            "hour": hour,
            "distance_km": distance,
            "account_age_days": account_age,
            "country": country,
            "device_type": device.astype(str),
            "merchant_category": merchant,
            LABEL: fraud.astype(int),
        }
    )
