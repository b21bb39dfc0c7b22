"""``python -m mlship`` runs the CLI."""

from __future__ import annotations

from mlship.cli.main import main

if __name__ == "__main__":
    main()
