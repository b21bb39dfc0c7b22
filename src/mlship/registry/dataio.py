"""Reading tabular data files (CSV, Parquet) with errors that say what to do."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlship.errors import InvalidInput

if TYPE_CHECKING:
    import pandas as pd

SUPPORTED_SUFFIXES = (".csv", ".parquet", ".pq")


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a CSV or Parquet file into a DataFrame."""
    import pandas as pd

    path = Path(path)
    if not path.exists():
        raise InvalidInput(f"The data file {path} does not exist.")
    suffix = path.suffix.lower()
    try:
        if suffix == ".csv":
            return pd.read_csv(path)
        if suffix in (".parquet", ".pq"):
            return pd.read_parquet(path)
    except (ValueError, OSError) as exc:
        raise InvalidInput(f"Cannot read {path}: {exc}") from None
    raise InvalidInput(
        f"{path.name}: unsupported data file type {suffix!r}. Use CSV (.csv) or Parquet (.parquet)."
    )


def as_frame(data: Any, *, what: str = "data") -> pd.DataFrame:
    """Accept a DataFrame, a path, rows as dicts, or one dict; return a DataFrame."""
    import pandas as pd

    if isinstance(data, pd.DataFrame):
        return data
    if isinstance(data, str | Path):
        return read_table(data)
    if isinstance(data, dict):
        return pd.DataFrame([data])
    if isinstance(data, list) and all(isinstance(r, dict) for r in data):
        return pd.DataFrame.from_records(data)
    raise InvalidInput(
        f"The {what} must be a pandas DataFrame, a CSV/Parquet path, or a list of row dicts; "
        f"got {type(data).__name__}."
    )
