"""What an operator watches: Prometheus metrics and log lines (text or one JSON object per line).

Metrics live in one dedicated registry (not prometheus_client's global one), created on first use (nothing is
done at import). The recording functions never raise: a metric is not worth a failed answer.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.process_collector import ProcessCollector

logger = logging.getLogger(__name__)

REQUEST_KINDS = ("command", "event", "action", "other")
ANSWER_COMMANDS = ("ask", "brief", "draft", "campaign", "triage", "mention", "dm")
# Slack wants an ack within 3 s: a bucket edge there shows how many came close
ACK_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0)
ANSWER_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0)


class Metrics:
    """The app's metrics in their own registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "revenue_bot_slack_requests", "Slack requests received, by kind and outcome",
            ["kind", "outcome"], registry=self.registry)
        self.ack_seconds = Histogram(
            "revenue_bot_ack_seconds", "From a Slack request's arrival to its acknowledgement written, by kind",
            ["kind"], buckets=ACK_BUCKETS, registry=self.registry)
        self.answer_seconds = Histogram(
            "revenue_bot_answer_seconds", "Time to build an answer or result, by command",
            ["command"], buckets=ANSWER_BUCKETS, registry=self.registry)
        self.fallbacks = Counter(
            "revenue_bot_fallbacks", "Answers built by the grounded composer because the model failed, by reason",
            ["reason"], registry=self.registry)
        self.errors = Counter("revenue_bot_errors", "Errors and refused requests, by kind", ["kind"],
                              registry=self.registry)
        ProcessCollector(registry=self.registry)  # memory, CPU, open file descriptors of this process


_metrics: Metrics | None = None
_metrics_lock = threading.Lock()


def _registry() -> Metrics:
    """The process's metrics, created on first use."""
    global _metrics
    if _metrics is None:
        with _metrics_lock:
            if _metrics is None:
                _metrics = Metrics()
    return _metrics


def render_metrics() -> tuple[bytes, str]:
    """(body, content type) of the Prometheus text exposition."""
    return generate_latest(_registry().registry), CONTENT_TYPE_LATEST


def _label(value: object, *, allowed: Iterable[str] | None = None) -> str:
    """A bounded label value: a known one, else 'other' (free text must not grow the series without end)."""
    text = re.sub(r"[^a-z0-9_]+", "_", str(value or "").strip().lower().lstrip("/")).strip("_")[:40] or "other"
    if allowed is not None and text not in allowed:
        return "other"
    return text


def count_request(kind: str, outcome: str) -> None:
    try:
        _registry().requests.labels(kind=_label(kind, allowed=REQUEST_KINDS), outcome=_label(outcome)).inc()
    except Exception:  # noqa: BLE001 - a metric never fails a request
        logger.debug("metric not recorded", exc_info=True)


def observe_ack(kind: str, seconds: float) -> None:
    try:
        _registry().ack_seconds.labels(kind=_label(kind, allowed=REQUEST_KINDS)).observe(max(0.0, seconds))
    except Exception:  # noqa: BLE001
        logger.debug("metric not recorded", exc_info=True)


def observe_answer(command: str, seconds: float) -> None:
    """How long `command` (ask, brief, draft, campaign, triage, mention, dm) took to build its result."""
    try:
        _registry().answer_seconds.labels(command=_label(command, allowed=ANSWER_COMMANDS)).observe(max(0.0, seconds))
    except Exception:  # noqa: BLE001
        logger.debug("metric not recorded", exc_info=True)


@contextmanager
def answer_timer(command: str) -> Iterator[None]:
    """`with answer_timer("brief"): ...` observes the block's duration, whether it returns or raises."""
    started = time.perf_counter()
    try:
        yield
    finally:
        observe_answer(command, time.perf_counter() - started)


def count_fallback(reason: str) -> None:
    """The model failed and the grounded composer answered; `reason` is short ('timeout', 'rate limited')."""
    try:
        _registry().fallbacks.labels(reason=_label(reason)).inc()
    except Exception:  # noqa: BLE001
        logger.debug("metric not recorded", exc_info=True)


def count_error(kind: str) -> None:
    """An error worth alerting on, by a short kind ('listener', 'refused_signature', 'slack_api')."""
    try:
        _registry().errors.labels(kind=_label(kind)).inc()
    except Exception:  # noqa: BLE001
        logger.debug("metric not recorded", exc_info=True)


# ---------------------------------------------------------------- logs

# Tokens that must never reach a log, whatever logged them: Slack (xoxb-, xoxp-, xapp-, …), OpenAI-style keys,
# bearer credentials. Exact configured values are redacted too (see configure_logging).
_SECRET_PATTERNS = re.compile(
    r"\b(?:xox[abposer]|xapp)-[A-Za-z0-9-]{6,}"
    r"|\bsk-[A-Za-z0-9_-]{12,}"
    r"|(?i:\bbearer\s+)[A-Za-z0-9._~+/=-]{8,}")
REDACTED = "[redacted]"
# characters that end a line for some reader (splitlines(), log viewers)
_LINE_BREAKS = {"\n": "\\n", "\r": "\\r", "\x0b": "\\x0b", "\x0c": "\\x0c", "\x1c": "\\x1c", "\x1d": "\\x1d",
                "\x1e": "\\x1e", "\x85": "\\x85", "\u2028": "\\u2028", "\u2029": "\\u2029"}
_LINE_BREAK = re.compile("[" + "".join(_LINE_BREAKS) + "]")
# the attributes every LogRecord has; anything else came from `extra=` and is kept as a field
_RECORD_FIELDS = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


def _escape_breaks(text: str) -> str:
    return _LINE_BREAK.sub(lambda m: _LINE_BREAKS[m.group()], text)


class _Redacting:
    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        # a short value ('x') would redact half the log; real secrets are long
        self.secrets = sorted({s for s in secrets if s and len(s) >= 8}, key=len, reverse=True)

    def redact(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, REDACTED)
        return _SECRET_PATTERNS.sub(REDACTED, text)


class TextFormatter(logging.Formatter, _Redacting):
    """Today's text lines. A record is the line starting with its time: line breaks inside the message are
    escaped, and a traceback's lines are indented, so no logged value can start a line of its own."""

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        logging.Formatter.__init__(self, "%(asctime)s %(levelname)s %(name)s: %(message)s")
        _Redacting.__init__(self, secrets)

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 - logging's name
        record.message = _escape_breaks(record.message)
        return super().formatMessage(record)

    def format(self, record: logging.LogRecord) -> str:
        head, _, tail = super().format(record).partition("\n")  # the tail: a traceback or a stack
        if tail:
            tail = "\n".join("    " + _escape_breaks(part) for part in tail.split("\n"))
            head = f"{head}\n{tail}"
        return self.redact(head)


class JsonFormatter(logging.Formatter, _Redacting):
    """One JSON object per line: time, level, logger, message, thread, and `exception` (the whole traceback as
    one string field). Fields passed with `extra=` are kept."""

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        logging.Formatter.__init__(self)
        _Redacting.__init__(self, secrets)

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, tz=timezone.utc).isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": self.redact(record.getMessage()),
            "thread": record.threadName,
        }
        if record.exc_info:
            entry["exception"] = self.redact(self.formatException(record.exc_info))
        elif record.exc_text:
            entry["exception"] = self.redact(record.exc_text)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        for key, value in vars(record).items():
            if key not in _RECORD_FIELDS and key not in entry and not key.startswith("_"):
                entry[key] = value if isinstance(value, (int, float, bool, type(None))) else self.redact(str(value))
        text = json.dumps(entry, ensure_ascii=False, default=str)
        # json escapes \n and \r; these three it leaves raw, and some readers split lines on them
        return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029").replace("\x85", "\\u0085")


class _NotAWarning(logging.Filter):
    """Bolt warns at every start that the token is unused when given a client: ours carries the token."""

    def __init__(self) -> None:
        super().__init__()
        from slack_bolt.logger.messages import warning_client_prioritized_and_token_skipped

        self.message = warning_client_prioritized_and_token_skipped()

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != self.message


def configure_logging(*, level: str, fmt: str = "text", secrets: Iterable[str | None] = (),
                      stream: Any = None) -> None:
    """Log to stderr in `fmt` ('text' or 'json') at `level`, redacting `secrets` and anything shaped like a
    token, without Bolt's warning that is not one. Like logging.basicConfig, it leaves a root logger that
    already has handlers alone (tests)."""
    import sys

    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter(secrets) if fmt == "json" else TextFormatter(secrets))
    handler.addFilter(_NotAWarning())
    logging.basicConfig(level=level, handlers=[handler])
