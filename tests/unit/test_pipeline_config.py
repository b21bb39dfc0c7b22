"""``mlship.toml``: a valid file parses; every bad setting names the file, the line and the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlship.errors import ConfigError
from mlship.monitoring.settings import MonitorSettings
from mlship.pipeline import load_pipeline_config, parse_pipeline_config
from mlship.pipeline.config import training_settings
from mlship.pipeline.locator import seconds
from mlship.pipeline.toml_lines import TomlLines

EXAMPLE = Path(__file__).parents[2] / "examples" / "fraud" / "mlship.toml"

BASE = """\
[model]
name = "fraud_detector"
label = "is_fraud"
format = "sklearn"

[train]
command = "python train.py --out {artifact}"
data = "data/train.parquet"
holdout = "data/holdout.parquet"

[checks]
code = "pytest -q tests"
max_missing_rate = 0.05
range_margin = 0.1

[gates]
metric = "f1"
tolerance = 0.01
slices = ["country"]
max_latency_ms = 100
max_memory_mb = 2048

[rollout]
strategy = "canary"
steps = [5, 10, 25, 50, 100]
interval = "10m"

[monitoring]
window = "1h"
drift_share = 0.5
alert_webhook = "https://hooks.example.com/mlship"

[retrain]
on = ["data_drift", "metric_decay"]
cooldown = "24h"
"""


def parse(text: str) -> object:
    return parse_pipeline_config(text, Path("/project/mlship.toml"))


def error_of(text: str) -> str:
    with pytest.raises(ConfigError) as caught:
        parse(text)
    return caught.value.message


def test_the_issue_example_parses_into_typed_settings() -> None:
    config = parse_pipeline_config(BASE, Path("/project/mlship.toml"))
    assert (config.model.name, config.model.label, config.model.format) == (
        "fraud_detector",
        "is_fraud",
        "sklearn",
    )
    assert config.train.command == "python train.py --out {artifact}"
    assert config.train.artifact_name(config.model.format) == "model.skops"
    assert config.code == "pytest -q tests"
    assert config.validation.max_missing_rate == 0.05
    assert config.gates.slices == ("country",) and config.gates.max_latency_ms == 100
    assert config.rollout.strategy == "canary"
    assert config.rollout.canary is not None
    assert config.rollout.canary.steps == (5, 10, 25, 50, 100)
    assert config.rollout.canary.interval_s == 600
    assert config.project_dir == Path("/project")
    assert config.document["retrain"]["cooldown"] == "24h"
    monitor = MonitorSettings.from_env({}, config.document)
    assert monitor.webhooks == ("https://hooks.example.com/mlship",)
    assert (monitor.drift.drift_share, monitor.drift.dataset_rule) == (0.5, "share")


def test_the_example_project_file_is_valid() -> None:
    config = load_pipeline_config(EXAMPLE)
    assert config.model.name == "fraud_detector"
    assert config.project_dir == EXAMPLE.parent.resolve()


@pytest.mark.parametrize(
    ("old", "new", "where", "says"),
    [
        pytest.param(
            "tolerance = 0.01",
            'tolerance = "high"',
            "line 18, [gates] tolerance",
            "The 'tolerance' option must be a number >= 0. Got 'high' instead.",
            id="wrong-type",
        ),
        pytest.param(
            'slices = ["country"]',
            "slices = 3",
            "line 19, [gates] slices",
            "must be a list of strings",
            id="wrong-type-list",
        ),
        pytest.param(
            'name = "fraud_detector"',
            "name = 5",
            "line 2, [model] name",
            "must be a non-empty string. Got 5 instead.",
            id="wrong-type-name",
        ),
        pytest.param(
            'format = "sklearn"',
            'fromat = "sklearn"',
            "line 4, [model] fromat",
            "unknown option 'fromat' (did you mean 'format'?)",
            id="unknown-key",
        ),
        pytest.param(
            "[gates]",
            "[gate]",
            "line 16, [gate]",
            "unknown table (did you mean [gates]?)",
            id="unknown-table",
        ),
        pytest.param(
            'name = "fraud_detector"\n',
            "",
            "line 1, [model]",
            "the key 'name' is required",
            id="missing-model-name",
        ),
        pytest.param(
            "steps = [5, 10, 25, 50, 100]",
            "steps = [5, 50, 25]",
            "line 25, [rollout] steps",
            "The 'steps' option must be increasing percentages ending at 100. "
            "Got [5, 50, 25] instead.",
            id="bad-steps",
        ),
        pytest.param(
            "steps = [5, 10, 25, 50, 100]",
            'steps = "5,10,100"',
            "line 25, [rollout] steps",
            "must be a list of increasing percentages ending at 100",
            id="steps-as-text",
        ),
        pytest.param(
            'interval = "10m"',
            'interval = "soon"',
            "line 26, [rollout] interval",
            "must be a duration such as 30s, 10m, 2h or 7d",
            id="bad-duration",
        ),
        pytest.param(
            'interval = "10m"',
            'interval = "10m"\nstandby = "30m"',
            "line 27, [rollout] standby",
            "applies to strategy = 'blue-green' only",
            id="option-of-another-strategy",
        ),
        pytest.param(
            'metric = "f1"',
            'metric = "f2"',
            "line 17, [gates] metric",
            "Unknown metric 'f2'",
            id="unknown-metric",
        ),
        pytest.param(
            "max_missing_rate = 0.05",
            "max_missing_rate = 5",
            "line 13, [checks] max_missing_rate",
            "must be a number in [0, 1]. Got 5 instead.",
            id="checks-option",
        ),
        pytest.param(
            "--out {artifact}",
            "--out {artefact}",
            "line 7, [train] command",
            "unknown placeholder {artefact}",
            id="unknown-placeholder",
        ),
        pytest.param(
            "--out {artifact}",
            "--out model.skops",
            "line 7, [train] command",
            "must contain {artifact}",
            id="no-artifact-placeholder",
        ),
        pytest.param(
            'holdout = "data/holdout.parquet"',
            'holdout = "data/holdout.xlsx"',
            "line 9, [train] holdout",
            "must be a CSV (.csv) or Parquet (.parquet) file",
            id="data-file-type",
        ),
        pytest.param(
            'command = "python train.py --out {artifact}"',
            'command = "python train.py --out {artifact}"\nentry = "train:train"',
            "line 8, [train] entry",
            "give either 'command'",
            id="command-and-entry",
        ),
        pytest.param(
            'window = "1h"',
            'window = "one hour"',
            "line 29, [monitoring] window",
            "must be a duration such as 1h",
            id="monitoring-by-its-reader",
        ),
        pytest.param(
            'cooldown = "24h"',
            "cooldwn = 5",
            "line 35, [retrain] cooldwn",
            "cooldwn",
            id="retrain-unknown-key",
        ),
    ],
)
def test_a_bad_setting_names_the_key_and_the_line(
    old: str, new: str, where: str, says: str
) -> None:
    assert old in BASE
    message = error_of(BASE.replace(old, new, 1))
    assert message.startswith(f"mlship.toml, {where}: "), message
    assert says in message


def test_invalid_toml_names_the_file_and_the_line() -> None:
    message = error_of(BASE.replace('label = "is_fraud"', "label = is_fraud"))
    assert message.startswith("mlship.toml: invalid TOML") and "line 3" in message


def test_missing_train_table_is_named() -> None:
    text = BASE[: BASE.index("[train]")] + BASE[BASE.index("[checks]") :]
    assert "[train] is missing" in error_of(text)


def test_a_missing_file_says_how_to_start(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"No .*mlship\.toml found"):
        load_pipeline_config(tmp_path / "mlship.toml")


def test_per_column_tolerances_point_at_their_table() -> None:
    text = BASE.replace("[gates]", "[checks.columns.amount]\nmax_missing_rate = 3\n\n[gates]")
    message = error_of(text)
    assert message.startswith("mlship.toml, line 16, [checks] columns: ")
    assert "'columns.amount.max_missing_rate' option must be a number in [0, 1]" in message


def test_an_entry_point_instead_of_a_command() -> None:
    text = BASE.replace('command = "python train.py --out {artifact}"', 'entry = "fraud.train:fit"')
    config = parse_pipeline_config(text, Path("/p/mlship.toml"))
    assert (config.train.entry, config.train.command) == ("fraud.train:fit", None)
    assert "must be 'package.module:function'" in error_of(
        text.replace("fraud.train:fit", "fraud.train")
    )


def test_training_settings_of_a_recorded_config() -> None:
    import tomllib

    model, train = training_settings(tomllib.loads(BASE), "the mlship.toml of fraud@1")
    assert model.label == "is_fraud" and train.holdout == "data/holdout.parquet"
    with pytest.raises(ConfigError, match=r"the mlship.toml of fraud@1, \[train\] is missing"):
        training_settings({"model": {"name": "x", "label": "y"}}, "the mlship.toml of fraud@1")


def test_toml_lines_know_nested_tables_dotted_keys_and_skip_multiline_strings() -> None:
    text = (
        '[a]\nnote = """\nb = 1\n"""\nb = 2\n'  # b inside the string is not a key
        "[a.c.d]\nx = 1\n"
        "[e]\nf.g = 3\n'h i' = 4\n"
    )
    lines = TomlLines(text)
    assert lines.line("a", "b") == 5
    assert lines.line("a", "c") == 6  # only named as the parent of [a.c.d]
    assert lines.line("a", "c", "d", "x") == 7
    assert lines.line("e", "f", "g") == 9 and lines.line("e", "f") == 9
    assert lines.line("e", "h i") == 10
    assert lines.line("e", "nothing") == 8  # falls back to the table
    assert lines.line("zzz") is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [("10m", 600.0), ("30s", 30.0), ("2h", 7200.0), ("500ms", 0.5), (45, 45.0)],
)
def test_durations(value: object, expected: float) -> None:
    assert seconds("interval", value) == expected


def test_the_readme_example_is_valid() -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Pipelines: mlship.toml and mlship run") :]
    block = section.split("```toml\n", 1)[1].split("```", 1)[0]
    config = parse_pipeline_config(block, Path("/project/mlship.toml"))
    assert config.train.timeout_s == 3600 and config.gates.metric == "f1"
