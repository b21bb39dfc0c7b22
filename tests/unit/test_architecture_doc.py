"""docs/architecture.md's package table cannot drift from the code: every package and top-level
module of ``src/mlship`` has a row, and each row's imports column names exactly the other parts
of mlship that the package imports (``errors`` and ``options`` aside: every part may import
them)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).parents[2]
PACKAGE = ROOT / "src" / "mlship"
DOC = ROOT / "docs" / "architecture.md"
_ROW = re.compile(r"^\| `([^`]+)` \| .* \| ([^|]*) \|$")


def _parts() -> set[str]:
    """``store/``, ``errors.py``, ...: each sub-package and top-level module but the root's."""
    packages = {f"{p.name}/" for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()}
    modules = {p.name for p in PACKAGE.glob("*.py") if p.name not in ("__init__.py", "__main__.py")}
    return packages | modules


def _part_of(module: str) -> str | None:
    """The part a dotted ``mlship.x.y`` name belongs to (None: the root or not a part)."""
    name = module.split(".")[1] if module.count(".") else ""
    if (PACKAGE / name / "__init__.py").is_file():
        return f"{name}/"
    return f"{name}.py" if (PACKAGE / f"{name}.py").is_file() else None


def _imports(part: str) -> set[str]:
    files = sorted((PACKAGE / part).rglob("*.py")) if part.endswith("/") else [PACKAGE / part]
    found: set[str] = set()
    for path in files:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
                if node.module == "mlship":
                    names = [f"mlship.{alias.name}" for alias in node.names]
            found.update(p for n in names if n.startswith("mlship.") and (p := _part_of(n)))
    return found - {part, "errors.py", "options.py"}


def _table() -> dict[str, set[str]]:
    text = DOC.read_text(encoding="utf-8")
    section = text[text.index("## Packages") : text.index("\n## ", text.index("## Packages") + 1)]
    rows: dict[str, set[str]] = {}
    for line in section.splitlines():
        match = _ROW.match(line)
        if match:
            named = re.findall(r"`([a-z_]+)[`.]", match.group(2))
            rows[match.group(1)] = {p for n in named if (p := _part_of(f"mlship.{n}"))}
    return rows


def test_every_package_has_a_row() -> None:
    assert set(_table()) == _parts()


def test_each_rows_imports_are_the_codes() -> None:
    table = _table()
    wrong = {
        part: {"doc": sorted(table.get(part, set())), "code": sorted(_imports(part))}
        for part in sorted(_parts())
        if table.get(part, set()) != _imports(part)
    }
    assert not wrong, wrong
