"""The errors mlship raises.

Every error a user can cause is a subclass of :class:`MlshipError` whose message names what is wrong
and how to fix it. Boundaries (CLI, HTTP) translate this family once, in one table each.

Tree::

    MlshipError
    ├── ConfigError            a setting or argument is invalid
    ├── StoreUnavailable       the metadata database cannot be reached
    ├── NotFound
    │   ├── ModelNotFound      no model of that name
    │   ├── VersionNotFound    no such version / alias of an existing model
    │   └── ArtifactNotFound   the artifact file is gone from the artifact store
    ├── InvalidInput           data given to register/load/predict does not fit (names it)
    ├── InvalidReference       a 'name@ref' string that cannot be parsed
    ├── UnsafeArtifact         refusing to unpickle / load untrusted content
    ├── IntegrityError         stored bytes no longer match their recorded SHA-256
    ├── UnsupportedFormat      the artifact is no model format mlship knows
    ├── Conflict               the request contradicts current state (archive an aliased version)
    │   └── SmokeTestFailed    a blue-green switch refused: green failed its smoke test (exit 1)
    └── CheckFailed            a check found a problem (exit code 1)
        └── GateFailed         a gate refused the candidate (exit code 1)
"""

from __future__ import annotations


class MlshipError(Exception):
    """Root of every error mlship raises on purpose.

    ``exit_code`` is what the CLI exits with: 2 for usage and data errors, 1 for failed checks.
    """

    exit_code: int = 2

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ConfigError(MlshipError):
    """A setting or argument has a value mlship cannot use."""


class StoreUnavailable(MlshipError):
    """The metadata database cannot be reached or opened."""


class NotFound(MlshipError):
    """Something named by the user does not exist."""


class ModelNotFound(NotFound):
    """No model is registered under that name."""


class VersionNotFound(NotFound):
    """The model exists but the version or alias does not."""


class ArtifactNotFound(NotFound):
    """The artifact recorded in the registry is missing from the artifact store."""


class InvalidInput(MlshipError):
    """Data given to mlship does not fit what it must be (the message names the field).

    ``field``, ``row`` and ``expected`` locate the problem for machine readers (the HTTP error body
    carries them); ``status`` is the HTTP status a server answers with (400 malformed, 422 a value
    that does not fit, 413 too large).
    """

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        row: int | None = None,
        expected: str | None = None,
        status: int = 422,
    ) -> None:
        super().__init__(message)
        self.field = field
        self.row = row
        self.expected = expected
        self.status = status

    def details(self) -> dict[str, object]:
        """The located parts of the error, for a JSON body."""
        out: dict[str, object] = {}
        if self.field is not None:
            out["field"] = self.field
        if self.row is not None:
            out["row"] = self.row
        if self.expected is not None:
            out["expected"] = self.expected
        return out


class InvalidReference(MlshipError):
    """A model reference such as ``fraud@production`` cannot be parsed."""


class UnsafeArtifact(MlshipError):
    """Loading would execute untrusted code (pickle without ``trusted=True``, unknown types)."""


class IntegrityError(MlshipError):
    """Stored bytes do not match the SHA-256 recorded when they were registered."""


class UnsupportedFormat(MlshipError):
    """The artifact is not a model format mlship can register or load."""


class Conflict(MlshipError):
    """The request contradicts the current state of the registry."""


class SmokeTestFailed(Conflict):
    """Green failed its smoke test; the switch was refused (HTTP 409, CLI exit code 1).

    ``report`` is the smoke test's report (:class:`mlship.serving.smoke.SmokeReport`)."""

    exit_code = 1

    def __init__(self, message: str, report: object = None) -> None:
        super().__init__(message)
        self.report = report


class CheckFailed(MlshipError):
    """Data validation or model sanity found a problem: the run is a failure, not an error."""

    exit_code = 1


class GateFailed(CheckFailed):
    """A gate refused the candidate version (worse than the baseline, a slice, latency, memory)."""
