"""The demo's narration: one line per event with the time since the start and ✓, ✗ or •, a
header per step, and :class:`DemoFailed` when something did not behave as narrated."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console


class DemoFailed(Exception):
    """A step did not behave as the demo says it should; the message says what happened."""


class Timeline:
    """Prints the demo's events as a timeline on ``console``."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self._start = time.monotonic()
        self.step_number = 0

    @property
    def elapsed(self) -> float:
        """Seconds since the demo started."""
        return time.monotonic() - self._start

    def step(self, number: int, title: str) -> None:
        """Start step ``number``: a rule with its title."""
        from rich.rule import Rule

        self.step_number = number
        self.console.print()
        self.console.print(Rule(f"[bold]{number}. {title}[/]", align="left"))

    def ok(self, text: str) -> None:
        """Something went as it should."""
        self._line("[bold green]✓[/]", text)

    def bad(self, text: str) -> None:
        """Something was refused or undone, on purpose: a gate failed, a canary rolled back."""
        self._line("[bold red]✗[/]", text)

    def note(self, text: str) -> None:
        """Context: what happens next, where a file is."""
        self._line("[dim]•[/]", text)

    def expect(self, condition: bool, failure: str) -> None:
        """Stop the demo with ``failure`` unless ``condition`` holds."""
        if not condition:
            raise DemoFailed(failure)

    def _line(self, mark: str, text: str) -> None:
        from rich.table import Table
        from rich.text import Text

        # A grid, so that a long line wraps under its text, not under the time.
        grid = Table.grid(padding=(0, 1))
        grid.add_column(justify="right", no_wrap=True, min_width=6, style="dim")
        grid.add_column(no_wrap=True)
        grid.add_column(overflow="fold")
        grid.add_row(f"{self.elapsed:.1f}s", Text.from_markup(mark), Text(text))
        self.console.print(grid)
