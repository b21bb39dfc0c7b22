"""The README's CLI reference cannot drift from the CLI: every command it lists exists, and every
option it shows is one that command takes."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import typer
from typer.main import get_command

from mlship.cli.main import app

README = Path(__file__).parents[2] / "README.md"
_SUBCOMMANDS = {"models", "build"}
_STEERING = ("promote", "rollback", "pause", "resume", "abort")


def _reference_rows() -> list[str]:
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## CLI reference") : text.index("## Configuration")]
    return [line for line in section.splitlines() if line.startswith("| `mlship ")]


def _commands(row: str) -> list[tuple[list[str], list[str]]]:
    """(command path, options shown) for each ``mlship ...`` snippet in the row's first cell."""
    cell = row.split(" | ")[0]
    found = []
    for snippet in re.findall(r"`(mlship [^`]+)`", cell):
        words = snippet.replace("\\|", "|").split()[1:]
        path = [words[0]]
        if words[0] in _SUBCOMMANDS and len(words) > 1:
            path.append(words[1])
        options = sorted(set(re.findall(r"(--[a-z][a-z-]*)", snippet)))
        found.append((path, options))
    if cell.startswith("| `mlship status NAME [--watch]`"):
        found += [([name], []) for name in _STEERING]
    return found


CASES = [case for row in _reference_rows() for case in _commands(row)]


def test_the_reference_lists_every_top_level_command() -> None:
    listed = {tuple(path[:1]) for path, _ in CASES}
    group = get_command(app)
    assert isinstance(group, typer.core.TyperGroup)
    assert {(name,) for name in group.commands} <= listed


@pytest.mark.parametrize(("path", "options"), CASES, ids=[" ".join(p) for p, _ in CASES])
def test_each_command_and_option_in_the_readme_exists(path: list[str], options: list[str]) -> None:
    command = get_command(app)
    for name in path:
        assert isinstance(command, typer.core.TyperGroup), f"{name} has no subcommands"
        assert name in command.commands, f"README lists 'mlship {' '.join(path)}': no such command"
        command = command.commands[name]
    taken = {opt for param in command.params for opt in (*param.opts, *param.secondary_opts)}
    missing = [option for option in options if option not in taken]
    assert not missing, f"mlship {' '.join(path)} takes no {missing} (README CLI reference)"
