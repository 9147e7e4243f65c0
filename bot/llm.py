"""The optional language model: any OpenAI-compatible chat endpoint through langchain-openai.

Every failure (timeout, rate limit, 5xx, connection refused, empty or malformed reply) becomes
`ModelUnavailable` within a bounded time, so each service falls back to its grounded composer.
"""

from __future__ import annotations

import logging
from typing import Any

from bot.prompts import Prompt, load_prompts
from bot.settings import Settings

logger = logging.getLogger(__name__)

FALLBACK_NOTE = "The language model was unavailable ({reason}), so this was composed directly from the sources."


class ModelUnavailable(RuntimeError):
    """The model did not give a usable reply; the message is safe to show (no secrets, no trace)."""


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


class Model:
    """A chat model plus the checked prompts; `complete` returns text or raises ModelUnavailable."""

    def __init__(self, chat_model: Any, prompts: dict[str, Prompt], *, name: str = "model"):
        self.chat_model = chat_model
        self.prompts = prompts
        self.name = name

    def complete(self, prompt: str, **values: str) -> str:
        messages = self.prompts[prompt].messages(**values)
        try:
            reply = self.chat_model.invoke(messages)
        except Exception as exc:  # any failure of the dependency degrades, never propagates
            reason = _reason(exc)
            logger.warning("model call for %s failed: %s", prompt, reason)
            raise ModelUnavailable(reason) from None
        text = reply.content if isinstance(reply.content, str) else str(reply.content)
        if not text.strip():
            raise ModelUnavailable("empty reply")
        return text.strip()


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
        max_retries=1,
        temperature=0.2,
    )
    return Model(chat, prompts, name=settings.openai_model)
