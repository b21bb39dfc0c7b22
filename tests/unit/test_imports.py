"""Start-up stays light: ``import mlship`` and ``mlship --help`` load no heavy library."""

from __future__ import annotations

import subprocess
import sys

import pytest

HEAVY = ("numpy", "pandas", "sklearn", "fastapi", "sqlalchemy", "scipy", "pyarrow")


def _loaded_after(code: str) -> list[str]:
    probe = (
        f"{code}\nimport sys\n"
        f"print('LOADED=' + ','.join(m for m in {HEAVY!r} if m in sys.modules), file=sys.stderr)"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    line = out.stderr.strip().splitlines()[-1]
    assert line.startswith("LOADED=")
    return [m for m in line.removeprefix("LOADED=").split(",") if m]


def test_import_mlship_is_light() -> None:
    assert _loaded_after("import mlship") == []


@pytest.mark.parametrize("args", [["--help"], ["models", "--help"], ["version"]])
def test_cli_help_is_light(args: list[str]) -> None:
    code = (
        "import sys\nfrom mlship.cli.main import main\n"
        f"sys.argv = ['mlship', *{args!r}]\n"
        "try:\n    main()\nexcept SystemExit:\n    pass"
    )
    assert _loaded_after(code) == []
