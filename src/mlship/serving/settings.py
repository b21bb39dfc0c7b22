"""Settings of ``mlship serve`` (prefix ``MLSHIP_``), composed with the store settings."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

from mlship.errors import ConfigError
from mlship.options import invalid

# '*', a name or IPv4 address, or an IPv6 address (bracketed or not); never a port or a path.
_HOST_NAME = re.compile(
    r"\*|[A-Za-z0-9_.\-]{1,253}|\[?[0-9A-Fa-f.]*:[0-9A-Fa-f.]*:[0-9A-Fa-f:.]*\]?"
)


@dataclass(frozen=True, slots=True)
class ServeSettings:
    """How the server runs. Every field can come from the environment or a CLI flag."""

    host: str = "127.0.0.1"
    port: int = 8080
    workers: int = 1
    token: str | None = None
    """``MLSHIP_TOKEN``: bearer token for admin routes; required to bind a non-loopback host."""
    feedback_token: str | None = None
    """``MLSHIP_FEEDBACK_TOKEN``: a token that may post feedback labels (and nothing else), for
    a label pipeline that should not hold the admin token; the admin token works too."""
    allowed_hosts: tuple[str, ...] = ()
    """``--allowed-host`` / ``MLSHIP_ALLOWED_HOSTS`` (comma-separated): names besides the bound
    address and loopback that clients may send as ``Host``; ``*`` allows any
    (:mod:`mlship.serving.host_guard`)."""
    models: tuple[str, ...] = ()
    """References served without a deployment record (``--model fraud@production``)."""
    max_batch_rows: int = 10_000
    """Rows allowed in one request (more is a 413)."""
    max_body_mb: float = 10.0
    """Largest request body in MB (more is a 413)."""
    unknown_features: Literal["reject", "ignore"] = "reject"
    batching: bool = True
    max_batch_size: int = 256
    """Rows merged into one predict call by the micro-batcher."""
    max_wait_ms: float = 5.0
    """Longest a request waits for others to join its batch."""
    log_predictions: bool = True
    on_log_full: Literal["answer", "refuse"] = "answer"
    """``--on-log-full``: when the disk is full and the records kept in memory reach their bound,
    keep answering (records are lost and counted) or answer 503 (no answered request is missing
    from the log)."""
    spill_segment_mb: float = 8.0
    """``MLSHIP_SPILL_SEGMENT_MB``: size of a prediction log journal segment, reserved on disk
    when it opens (a smaller one reserves less of a small disk)."""
    log_memory_records: int = 50_000
    """``--log-memory-records``: prediction records kept in memory while the disk is full (and
    before the log starts); beyond, ``on_log_full`` applies."""
    drain_timeout_s: float = 30.0
    """How long a stopping server (SIGTERM) may take in all: requests in flight first, then the
    prediction log (what the store has not taken by then stays in the spill folder)."""
    refresh_interval_s: float = 0.5
    """How often deployments are re-read from the store."""
    spill_dir: Path = Path(".mlship/spill")
    """Where the prediction log spills when the store falls behind."""
    controller: bool = True
    """Run the rollout controller in this server (one leader among replicas)."""
    controller_interval_s: float = 1.0
    """How often the controller judges running canaries."""
    threads_per_worker: int | None = None
    """BLAS/OpenMP threads per worker (default 1: batching, not threads, uses the cores)."""
    docs: bool = False
    """``--docs``: serve Swagger UI at ``/docs`` (its assets come from a CDN, so it is off by
    default; ``/openapi.json`` is always served)."""
    monitor: bool = False
    """``MLSHIP_MONITOR=1``: run the drift monitor in this server (one leader among replicas),
    configured by ``MLSHIP_MONITOR_*`` variables and ``mlship.toml``
    (:class:`~mlship.monitoring.settings.MonitorSettings`)."""

    def __post_init__(self) -> None:
        checks: list[tuple[str, Any, bool, str]] = [
            (
                "port",
                self.port,
                isinstance(self.port, int) and 0 <= self.port < 65536,
                "an integer from 0 to 65535",
            ),
            (
                "workers",
                self.workers,
                isinstance(self.workers, int) and self.workers >= 1,
                "an integer >= 1",
            ),
            ("max_batch_rows", self.max_batch_rows, self.max_batch_rows >= 1, "an integer >= 1"),
            ("max_body_mb", self.max_body_mb, self.max_body_mb > 0, "a number > 0"),
            ("max_batch_size", self.max_batch_size, self.max_batch_size >= 1, "an integer >= 1"),
            ("max_wait_ms", self.max_wait_ms, self.max_wait_ms >= 0, "a number >= 0"),
            (
                "unknown_features",
                self.unknown_features,
                self.unknown_features in ("reject", "ignore"),
                "'reject' or 'ignore'",
            ),
            (
                "on_log_full",
                self.on_log_full,
                self.on_log_full in ("answer", "refuse"),
                "'answer' or 'refuse'",
            ),
            (
                "spill_segment_mb",
                self.spill_segment_mb,
                0.0625 <= self.spill_segment_mb <= 1024,
                "a number of MB from 0.0625 to 1024",
            ),
            (
                "log_memory_records",
                self.log_memory_records,
                isinstance(self.log_memory_records, int) and self.log_memory_records >= 1,
                "an integer >= 1",
            ),
            ("drain_timeout_s", self.drain_timeout_s, self.drain_timeout_s > 0, "a number > 0"),
            (
                "refresh_interval_s",
                self.refresh_interval_s,
                self.refresh_interval_s > 0,
                "a number > 0",
            ),
            (
                "allowed_hosts",
                list(self.allowed_hosts),
                all(_HOST_NAME.fullmatch(h) for h in self.allowed_hosts),
                "host names or addresses without a scheme, path or port (or '*')",
            ),
        ]
        for name, value, ok, must in checks:
            if not ok:
                raise invalid(name, must, value)

    @property
    def log_drain_s(self) -> float:
        """The part of the drain timeout left to the prediction log: a third, at most 10 s."""
        return min(10.0, self.drain_timeout_s / 3)

    @property
    def request_drain_s(self) -> float:
        """The part of the drain timeout for requests in flight (uvicorn's graceful shutdown)."""
        return self.drain_timeout_s - self.log_drain_s

    @property
    def max_body_bytes(self) -> int:
        return int(self.max_body_mb * 1024 * 1024)

    @property
    def is_loopback(self) -> bool:
        import ipaddress

        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False  # a host name: it may resolve to anything

    def threads(self) -> int:
        """BLAS/OpenMP threads each worker may use (default 1).

        Micro-batching already keeps the cores busy; measured on 2 cores, two OpenMP threads per
        call cut throughput by a fifth and doubled single-request latency (bench/serve).
        """
        if self.threads_per_worker is not None:
            return max(1, self.threads_per_worker)
        return 1

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> ServeSettings:
        """Settings from ``MLSHIP_*`` variables, then ``overrides`` (CLI flags; None = unset)."""
        env = os.environ if environ is None else environ
        home = Path(env.get("MLSHIP_HOME") or ".mlship")
        flag = (env.get("MLSHIP_MONITOR") or "").strip().lower()
        if flag not in ("", "0", "1", "true", "false", "yes", "no", "on", "off"):
            raise ConfigError(f"MLSHIP_MONITOR must be 1 or 0. Got {flag!r} instead.")
        hosts = tuple(h.strip() for h in (env.get("MLSHIP_ALLOWED_HOSTS") or "").split(","))
        on_full = (env.get("MLSHIP_ON_LOG_FULL") or "answer").strip().lower()
        if on_full not in ("answer", "refuse"):
            raise ConfigError(f"MLSHIP_ON_LOG_FULL must be answer or refuse. Got {on_full!r}.")
        try:
            segment_mb = float(env.get("MLSHIP_SPILL_SEGMENT_MB") or 8.0)
        except ValueError:
            raise ConfigError(
                "MLSHIP_SPILL_SEGMENT_MB must be a number of MB. "
                f"Got {env.get('MLSHIP_SPILL_SEGMENT_MB')!r}."
            ) from None
        base = cls(
            spill_segment_mb=segment_mb,
            on_log_full=on_full,  # type: ignore[arg-type]
            token=env.get("MLSHIP_TOKEN") or None,
            feedback_token=env.get("MLSHIP_FEEDBACK_TOKEN") or None,
            allowed_hosts=tuple(h for h in hosts if h),
            spill_dir=home / "spill",
            monitor=flag in ("1", "true", "yes", "on"),
        )
        given = {k: v for k, v in overrides.items() if v is not None}
        try:
            return replace(base, **given)
        except TypeError as exc:
            raise ConfigError(f"Unknown serve option: {exc}.") from None
