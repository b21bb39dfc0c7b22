"""Run in a child process: load a version, predict on a batch, print peak RSS as JSON.

The parent passes the store and the reference through the environment and argv, so that the
measurement is of a clean process: the libraries, the model, and one batch prediction.
"""

from __future__ import annotations

import json
import resource
import sys


def _peak_rss_mb() -> float:
    # ru_maxrss is in kilobytes on Linux.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv: list[str]) -> int:
    ref, rows = argv[0], int(argv[1])
    from mlship.checks.sample import sample_from_profile
    from mlship.registry import Registry

    registry = Registry.from_env()
    version = registry.get(ref)
    before = _peak_rss_mb()
    model = registry.load(ref)
    if version.signature is not None and version.data_profile is not None:
        batch = sample_from_profile(version.data_profile, version.signature, rows, seed=1)
        model.predict(batch)
        if model.has_proba:
            model.predict_proba(batch)
    print(json.dumps({"peak_rss_mb": _peak_rss_mb(), "rss_before_load_mb": before}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
