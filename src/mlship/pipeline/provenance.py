"""How a version registered by ``mlship run`` was made, kept in its tags so that ``mlship
reproduce`` can make it again: the training (command or entry point, the project's git commit),
the whole ``mlship.toml`` as parsed, and each data file with its fingerprint.

The registry records the rest itself: the environment (Python and package versions), the git
commit mlship ran in, and the fingerprint and profile of the columns the model uses.

The tags start with ``mlship.``, a prefix the registry reserves: only ``provenance_tags`` at
registration write them, and no update changes them (``mlship reproduce`` runs what they say).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mlship.errors import ConfigError

if TYPE_CHECKING:
    from mlship.registry import ModelVersion

RUN_TAG = "mlship.run"
TRAIN_TAG = "mlship.train"
CONFIG_TAG = "mlship.config"
DATA_TAG = "mlship.data"


@dataclass(frozen=True, slots=True)
class DataFile:
    """A data file as it was when the version was trained."""

    path: str
    """As written in ``mlship.toml`` (relative to the project folder)."""
    fingerprint: str
    """:func:`mlship.registry.profile.fingerprint_frame` of the whole file."""
    rows: int

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "fingerprint": self.fingerprint, "rows": self.rows}


@dataclass(frozen=True, slots=True)
class Provenance:
    """The recipe of a version: enough to train it again and to tell what changed."""

    run_id: str
    training: Mapping[str, Any]
    """``command`` or ``entry``, ``timeout_s``, and the project's ``git_commit``."""
    config: Mapping[str, Any]
    """The tables of ``mlship.toml`` as they were."""
    data: Mapping[str, DataFile] = field(default_factory=dict)
    """``train`` and ``holdout``."""

    def tags(self) -> dict[str, str]:
        """The version tags that hold it (JSON text)."""
        return {
            RUN_TAG: self.run_id,
            TRAIN_TAG: _dumps(self.training),
            CONFIG_TAG: _dumps(self.config),
            DATA_TAG: _dumps({k: f.to_dict() for k, f in self.data.items()}),
        }

    @classmethod
    def of(cls, version: ModelVersion) -> Provenance:
        """Read it back from ``version``'s tags; a version not registered by ``mlship run``
        (or whose tags were edited) is a :class:`~mlship.errors.ConfigError`."""
        tags = version.tags
        missing = [t for t in (RUN_TAG, TRAIN_TAG, CONFIG_TAG, DATA_TAG) if t not in tags]
        if missing:
            raise ConfigError(
                f"{version.ref} was not registered by `mlship run` (it has no "
                f"{', '.join(missing)} tag), so mlship does not know how it was trained. "
                "Only versions registered by `mlship run` can be reproduced."
            )
        try:
            data = json.loads(tags[DATA_TAG])
            return cls(
                run_id=tags[RUN_TAG],
                training=json.loads(tags[TRAIN_TAG]),
                config=json.loads(tags[CONFIG_TAG]),
                data={
                    k: DataFile(str(d["path"]), str(d["fingerprint"]), int(d["rows"]))
                    for k, d in data.items()
                },
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise ConfigError(
                f"The provenance tags of {version.ref} ({RUN_TAG}, {TRAIN_TAG}, {CONFIG_TAG}, "
                f"{DATA_TAG}) cannot be read ({exc}); were they edited?"
            ) from None


def _dumps(value: Any) -> str:
    # TOML dates and times become ISO text.
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
