"""Where alerts go: a log line, a webhook (JSON), a Slack-compatible webhook.

A sink follows :class:`~mlship.monitoring.alerts.AlertSink` (one method, ``send``) and never
raises for a failed delivery: it logs and returns, so alerting never stops the monitor.
:func:`build_sinks` makes the sinks of a configuration; they are passed to an
:class:`~mlship.monitoring.alerts.Alerter`, never kept in a module global.

Webhook URLs hold secrets (Slack's path is the token): sinks log the host only, never the URL,
and never the text of an exception (it may quote the URL).
"""

from __future__ import annotations

import json
import logging
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from mlship.errors import ConfigError
from mlship.options import invalid

if TYPE_CHECKING:
    from mlship.monitoring.alerts import Alert, AlertSink

log = logging.getLogger("mlship.monitoring.alerts")  # one logger for every alert line

ALERT_SCHEMA_VERSION = 1
_SLACK_FINDINGS = 10  # Slack section blocks hold at most 3,000 characters: list the first ten
_RETRY_STATUS = frozenset({408, 425, 429})


class LogSink:
    """One log line per alert (``WARNING`` on the ``mlship.monitoring.alerts`` logger)."""

    def __init__(self, logger: logging.Logger | None = None) -> None:
        self._log = logger or log

    def send(self, alert: Alert) -> None:
        self._log.warning("ALERT %s", " | ".join(alert.text().splitlines()))


class WebhookSink:
    """POST the alert as JSON; retry connection errors, timeouts and 5xx with backoff.

    Parameters
    ----------
    url:
        The endpoint (a secret: only its host is ever logged).
    timeout:
        Seconds per socket operation of one attempt.
    retries:
        Further attempts after the first; attempt ``k`` waits ``backoff * 2**k`` seconds first.
    sleep:
        How to wait between attempts (tests pass a recorder).
    """

    def __init__(
        self,
        url: str,
        *,
        timeout: float = 5.0,
        retries: int = 3,
        backoff: float = 0.5,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            shown = f"{parts.scheme}://{parts.hostname}" if parts.scheme else "a text"
            raise ConfigError(
                f"A webhook must be an http:// or https:// URL with a host. Got {shown} instead."
            )
        _check("timeout", timeout, timeout > 0, "a number of seconds > 0")
        _check("retries", retries, isinstance(retries, int) and retries >= 0, "an integer >= 0")
        _check("backoff", backoff, backoff >= 0, "a number of seconds >= 0")
        self._url = url
        self.host = parts.hostname if parts.port is None else f"{parts.hostname}:{parts.port}"
        self.timeout = float(timeout)
        self.retries = retries
        self.backoff = float(backoff)
        self._sleep = sleep
        self.delivered = 0
        self.failed = 0

    def __repr__(self) -> str:
        return f"{type(self).__name__}(host={self.host!r})"

    def payload(self, alert: Alert) -> dict[str, Any]:
        """The JSON body: the alert's fields, its type and schema version."""
        return {"type": "mlship.alert", "schema_version": ALERT_SCHEMA_VERSION, **alert.to_dict()}

    def send(self, alert: Alert) -> None:
        body = json.dumps(self.payload(alert)).encode("utf-8")
        attempts = self.retries + 1
        for attempt in range(attempts):
            if attempt:
                self._sleep(self.backoff * 2 ** (attempt - 1))
            outcome = self._post(body)
            if outcome is None:
                self.delivered += 1
                return
            retry, why = outcome
            if not retry:
                break
            log.info(
                "Webhook %s: attempt %d of %d failed (%s)", self.host, attempt + 1, attempts, why
            )
        self.failed += 1
        log.error(
            "Webhook %s: giving up on the %s alert of %s (%s)",
            self.host,
            alert.kind,
            alert.model,
            why,
        )

    def _post(self, body: bytes) -> tuple[bool, str] | None:
        """None when delivered, else (worth retrying, why it failed)."""
        request = urllib.request.Request(
            self._url,
            data=body,
            method="POST",
            headers={"Content-Type": "application/json", "User-Agent": "mlship-monitor"},
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                response.read()
            return None
        except urllib.error.HTTPError as exc:
            status = exc.code
            exc.close()
            return status >= 500 or status in _RETRY_STATUS, f"HTTP {status}"
        except (urllib.error.URLError, OSError) as exc:
            # Only the type: the text of a URLError may quote the URL.
            reason = getattr(exc, "reason", None)
            kind = type(reason if isinstance(reason, BaseException) else exc).__name__
            return True, kind


class SlackSink(WebhookSink):
    """A Slack-compatible incoming webhook: ``{"text": ..., "blocks": [...]}``."""

    def payload(self, alert: Alert) -> dict[str, Any]:
        findings = "\n".join(f"• {f.describe()}" for f in alert.findings[:_SLACK_FINDINGS])
        if len(alert.findings) > _SLACK_FINDINGS:
            findings += f"\n• … and {len(alert.findings) - _SLACK_FINDINGS} more"
        context = [f"Since {_time(alert.since)}"]
        if alert.window:
            context.append(
                f"window {alert.window.get('requests')} requests, {alert.window.get('rows')} rows"
            )
        if alert.suppressed:
            context.append(f"{alert.suppressed} similar alert(s) suppressed")
        blocks: list[dict[str, Any]] = [
            {"type": "header", "text": {"type": "plain_text", "text": alert.title[:150]}},
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": f"{alert.summary}\n{findings}"[:3000]},
            },
            {"type": "context", "elements": [{"type": "mrkdwn", "text": "; ".join(context)}]},
        ]
        if alert.report:
            link = alert.report
            shown = f"<{link}|drift report>" if link.startswith(("http://", "https://")) else link
            blocks.append(
                {"type": "section", "text": {"type": "mrkdwn", "text": f"Report: {shown}"}}
            )
        return {"text": alert.title, "blocks": blocks}


def build_sinks(
    *,
    webhooks: Iterable[str] = (),
    slack_webhooks: Iterable[str] = (),
    timeout: float = 5.0,
    retries: int = 3,
    backoff: float = 0.5,
) -> list[AlertSink]:
    """The sinks of a configuration: one :class:`WebhookSink` or :class:`SlackSink` per URL
    (the log line is the :class:`Alerter`'s own)."""
    sinks: list[AlertSink] = [
        WebhookSink(url, timeout=timeout, retries=retries, backoff=backoff) for url in webhooks
    ]
    sinks += [
        SlackSink(url, timeout=timeout, retries=retries, backoff=backoff) for url in slack_webhooks
    ]
    return sinks


def _check(name: str, value: object, ok: bool, must: str) -> None:
    if not ok:
        raise invalid(name, must, value)


def _time(value: Any) -> str:
    return str(value.strftime("%Y-%m-%d %H:%M:%S UTC"))
