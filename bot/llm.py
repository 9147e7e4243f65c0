"""The optional language model: any OpenAI-compatible chat endpoint through langchain-openai.

Every failure (timeout, rate limit, 5xx, connection refused, empty, malformed or unchecked reply) becomes
`ModelUnavailable` within a bounded time, so each service falls back to its grounded composer.

Time is bounded per command, not per call: a command (an answer, a brief, a draft, a campaign) opens one
`Session`, whose deadline is `COMMAND_BUDGET` × OPENAI_TIMEOUT from the moment the command starts (30 s with
the default 20 s). Each call waits at most min(OPENAI_TIMEOUT, time left); a rate limit, a 5xx or a refused
connection is retried once, and only when the retry fits before the deadline; a call that timed out is not
retried (it already had its full share, and a retry would only double the wait). Once the deadline is spent,
or a call has failed, the session's next call fails at once. A session also caps the number of calls its
command may make. LangChain's and openai's own retries are off: they would not know the deadline.

Every `ModelUnavailable` leaves this module through `Session._unavailable`: the one place to count fallbacks.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from typing import Any, TypeVar, overload

from bot.observability import count_fallback
from bot.prompts import Prompt, load_prompts
from bot.settings import Settings

logger = logging.getLogger(__name__)

FALLBACK_NOTE = "The language model was unavailable ({reason}), so this was composed directly from the sources."
COMMAND_BUDGET = 1.5  # × OPENAI_TIMEOUT: one full call plus a quick retry or a short second call
RETRIES = 1  # per call, for transient failures only, and only within the deadline
RETRY_WAIT = 0.5  # seconds before a retry when the server does not say (Retry-After)
RETRY_STATUS = (408, 409, 429)  # and every 5xx: what openai's own client would retry

T = TypeVar("T")


class ModelUnavailable(RuntimeError):
    """The model did not give a usable reply; the message is safe to show (no secrets, no trace)."""


class Rejected(ValueError):
    """A model reply that must not be shown (unknown citation, another account's facts, wrong format).

    Raised by a service's `accept` check; the session turns it into `ModelUnavailable`. The message is shown
    to the user as the reason, so it never quotes the reply."""


def _reason(exc: BaseException) -> str:
    """A short, secret-free reason: 'timeout', 'rate limited', 'server error 503'."""
    import openai

    if isinstance(exc, openai.APITimeoutError):
        return "timeout"
    if isinstance(exc, openai.RateLimitError):
        return "rate limited"
    if isinstance(exc, openai.APIStatusError):
        return f"server error {exc.status_code}"
    if isinstance(exc, openai.APIConnectionError):
        return "cannot connect"
    return type(exc).__name__


def _retry_wait(exc: BaseException) -> float | None:
    """Seconds to wait before retrying `exc`, or None when a retry would not help (a timeout, a 4xx)."""
    import openai

    if isinstance(exc, openai.APITimeoutError):
        return None
    if isinstance(exc, openai.APIConnectionError):
        return RETRY_WAIT
    if isinstance(exc, openai.APIStatusError) and (exc.status_code in RETRY_STATUS or exc.status_code >= 500):
        headers = exc.response.headers
        for name, divisor in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
            try:
                wait = float(headers.get(name) or "nan") / divisor
            except ValueError:
                continue
            if math.isfinite(wait) and wait >= 0:
                return wait
        return RETRY_WAIT
    return None


class Deadline:
    """A point in time on the monotonic clock; None seconds is no deadline."""

    def __init__(self, seconds: float | None):
        self.ends = time.monotonic() + seconds if seconds is not None else math.inf

    def remaining(self) -> float:
        return max(0.0, self.ends - time.monotonic())


class Session:
    """One command's use of the model: one deadline across all its calls and retries, at most `calls` calls."""

    def __init__(self, model: Model, *, calls: int, deadline: Deadline):
        self.model = model
        self.deadline = deadline
        self.calls_left = calls
        self.failed: str | None = None  # why the model is unusable for the rest of this command

    @overload
    def complete(self, prompt: str, *, accept: None = None, **values: str) -> str: ...

    @overload
    def complete(self, prompt: str, *, accept: Callable[[str], T], **values: str) -> T: ...

    def complete(self, prompt: str, *, accept: Callable[[str], Any] | None = None, **values: str) -> Any:
        """The model's reply to `prompt`, passed through `accept` (which raises `Rejected` for a reply that must
        not be shown); ModelUnavailable when there is no usable reply in time."""
        messages = self.model.prompts[prompt].messages(**values)
        if self.failed:
            raise self._unavailable(prompt, self.failed)
        if self.calls_left <= 0:
            raise self._unavailable(prompt, "too many model calls for one command")
        self.calls_left -= 1
        text = self._call(prompt, messages)
        if not text:
            raise self._unavailable(prompt, "empty reply")
        if accept is None:
            return text
        try:
            return accept(text)
        except Rejected as exc:
            raise self._unavailable(prompt, str(exc), rejected=True) from None

    def _call(self, prompt: str, messages: list[tuple[str, str]]) -> str:
        per_call = self.model.timeout
        shortest = 0.1 * per_call if per_call else 0.0  # a call given less time than this would only time out
        for attempt in range(RETRIES + 1):
            left = self.deadline.remaining()
            if left <= shortest:
                self.failed = "timeout"
                raise self._unavailable(prompt, "timeout")
            try:
                reply = self.model.invoke(messages, timeout=min(per_call, left) if per_call else None)
            except Exception as exc:  # any failure of the dependency degrades, never propagates
                wait = _retry_wait(exc)
                if attempt < RETRIES and wait is not None and self.deadline.remaining() - wait > shortest:
                    logger.info("model call for %s failed (%s); retrying in %.2f s", prompt, _reason(exc), wait)
                    time.sleep(wait)
                    continue
                self.failed = _reason(exc)
                raise self._unavailable(prompt, self.failed) from None
            content = reply.content if isinstance(reply.content, str) else str(reply.content)
            return content.strip()
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _unavailable(self, prompt: str, reason: str, *, rejected: bool = False) -> ModelUnavailable:
        """Every fallback to the composer passes here: logged and counted (metric: fallbacks by reason)."""
        count_fallback("rejected" if rejected else reason)
        if rejected:
            logger.warning("model reply for %s rejected: %s", prompt, reason)
        else:
            logger.warning("model call for %s failed: %s", prompt, reason)
        return ModelUnavailable(reason)


class Model:
    """A chat model plus the checked prompts. A command opens `session()` once and calls `complete` on it."""

    def __init__(self, chat_model: Any, prompts: dict[str, Prompt], *, name: str = "model",
                 timeout: float | None = None):
        self.chat_model = chat_model
        self.prompts = prompts
        self.name = name
        self.timeout = timeout  # seconds per call (OPENAI_TIMEOUT); None: the chat model's own, no deadline
        self.budget = COMMAND_BUDGET * timeout if timeout else None

    def session(self, *, calls: int, budget: float | None = None) -> Session:
        """One command's session: its deadline starts now."""
        return Session(self, calls=calls, deadline=Deadline(budget if budget is not None else self.budget))

    def complete(self, prompt: str, **values: str) -> str:
        """One call in a session of its own."""
        return self.session(calls=1).complete(prompt, accept=None, **values)

    def invoke(self, messages: list[tuple[str, str]], *, timeout: float | None) -> Any:
        if timeout is None:
            return self.chat_model.invoke(messages)
        # langchain-openai passes `timeout` through to openai's create(), which applies it to this request only
        return self.chat_model.invoke(messages, timeout=timeout)


def build_model(settings: Settings, prompts: dict[str, Prompt] | None = None) -> Model | None:
    """None when no OPENAI_API_KEY is set: the grounded composer does all the work."""
    prompts = prompts if prompts is not None else load_prompts()
    if not settings.llm_enabled:
        return None
    from langchain_openai import ChatOpenAI
    from pydantic import SecretStr

    chat = ChatOpenAI(
        model=settings.openai_model,
        api_key=SecretStr(settings.openai_api_key) if settings.openai_api_key else None,
        base_url=settings.openai_base_url,
        timeout=settings.openai_timeout,
        max_retries=0,  # the session retries, within the command's deadline
        temperature=0.2,
    )
    return Model(chat, prompts, name=settings.openai_model, timeout=settings.openai_timeout)
