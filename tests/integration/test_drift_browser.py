"""The HTML drift report in a real headless Chromium: it loads, fetches nothing, shows the plots.

Needs the Python package ``playwright`` (dev dependency) and a Chromium: Debian's
(``apt-get install chromium``, found on PATH) or Playwright's own (``playwright install
chromium``); skipped when either is missing, except under ``CI`` (``.ci/run`` installs
Debian's Chromium), where a missing browser fails the test.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from tests.conftest import make_transactions

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A report with drift, written by the CLI: files with a time column and predictions."""
    folder = tmp_path_factory.mktemp("drift-browser")
    for name, seed, shift in (("ref", 1, 0.0), ("cur", 2, 0.8)):
        frame = make_transactions(2000, seed).drop(columns=["is_fraud"])
        frame["amount"] *= 1 + shift
        frame["prediction"] = np.random.default_rng(seed).normal(shift, 1, len(frame))
        frame["at"] = pd.date_range("2024-05-01", periods=len(frame), freq="min", tz="UTC")
        frame.to_parquet(folder / f"{name}.parquet")
    args = ["--reference", "ref.parquet", "--current", "cur.parquet", "--time-column", "at"]
    result = subprocess.run(
        [sys.executable, "-m", "mlship", "drift", *args, "--html", "report.html"],
        cwd=folder,
        env={**os.environ, "MLSHIP_HOME": str(folder / "home")},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    return folder / "report.html"


def test_report_loads_and_shows_one_plot_per_feature(browser: Any, report: Path) -> None:
    page = browser.new_page(viewport={"width": 1100, "height": 900})
    problems: list[str] = []
    requests: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.on("request", lambda r: requests.append(r.url))
    page.goto(report.as_uri(), wait_until="load")

    assert problems == []
    assert requests == [report.as_uri()]  # self-contained: nothing else is fetched
    verdict = page.locator("#verdict")
    assert verdict.is_visible() and "Dataset drift detected" in verdict.inner_text()
    charts = page.locator("svg.feature-chart")
    names = sorted(charts.nth(i).get_attribute("data-feature") for i in range(charts.count()))
    assert names == ["amount", "country", "distance", "hour", "prediction"]
    for i in range(charts.count()):
        chart = charts.nth(i)
        box = chart.bounding_box()
        assert box is not None and box["width"] > 300 and box["height"] > 50
        # Both sides are drawn: reference bars and the current outline or bars.
        assert chart.locator('[data-side="reference"]').count() > 0
        assert chart.locator('[data-side="current"]').count() > 0
    timeline = page.locator("svg.timeline")
    assert timeline.is_visible()
    assert timeline.locator("path").count() == 5  # one line per feature and the predictions
    shot = page.screenshot(full_page=True)
    assert len(shot) > 20_000  # a rendered page, not a blank one
    page.close()
