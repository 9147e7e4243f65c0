"""The one place that reads the environment (and `.env`)."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.cron import CronSchedule


class SettingsError(ValueError):
    """A bad or missing setting; the message is one line naming the variable."""


def _split_ids(value: object) -> tuple[str, ...]:
    if value is None or value == "":
        return ()
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    return tuple(value)  # type: ignore[arg-type]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        case_sensitive=False,
        frozen=True,
    )

    slack_bot_token: str | None = None
    slack_signing_secret: str | None = None
    slack_app_token: str | None = None
    slack_api_url: str = "https://slack.com/api/"
    port: int = Field(default=3000, ge=1, le=65535)

    chroma_path: Path = Path(".data/chroma")
    chroma_host: str | None = None
    chroma_port: int = Field(default=8000, ge=1, le=65535)
    collection_prefix: str = Field(default="sales", pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{1,40}$")

    embeddings: Literal["local", "minilm", "openai"] = "local"
    openai_api_key: str | None = None
    openai_base_url: str | None = None
    openai_model: str = "gpt-4o-mini"
    openai_timeout: float = Field(default=20.0, gt=0, le=300)  # seconds per model call, then fall back

    # live CRM sync (python -m bot sync, and SYNC_INTERVAL inside serve)
    hubspot_token: str | None = None  # a private app's access token
    hubspot_api_url: str = "https://api.hubapi.com"
    salesforce_username: str | None = None
    salesforce_password: str | None = None
    salesforce_security_token: str | None = None
    salesforce_domain: str = "login"  # login | test | a My Domain
    salesforce_instance_url: str | None = None
    salesforce_session_id: str | None = None  # instead of username/password: a session id with the instance URL
    sync_interval: int = Field(default=0, ge=0)  # seconds between scheduled syncs in serve; 0: off ("15m", "1h")

    # proactive messages: the weekly digest (cron: minute hour day-of-month month day-of-week) and alerts
    digest_cron: str | None = None
    alert_channel: str | None = None

    knowledge_path: Path = Path("knowledge")
    as_of: date | None = None  # the date "today" means when the seller profile does not say
    # kept as plain strings: pydantic-settings would otherwise expect JSON for a list
    allowed_channels: str = ""
    allowed_users: str = ""
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    log_format: Literal["text", "json"] = "text"  # json: one object per line, for a log pipeline

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("log_format", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("sync_interval", mode="before")
    @classmethod
    def _duration(cls, value: object) -> object:
        """Seconds, or a number with a unit: "90s", "15m", "1h", "1d"; blank is off."""
        if isinstance(value, str):
            text = value.strip().lower()
            if not text:
                return 0
            unit = {"s": 1, "m": 60, "h": 3600, "d": 86400}.get(text[-1])
            if unit and text[:-1].strip().isdigit():
                return int(text[:-1]) * unit
        return value

    @field_validator("digest_cron")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        if value is not None:
            CronSchedule(value)  # every field read now: a bad one stops the start with one line, not the first run
        return value

    @field_validator(
        "slack_bot_token", "slack_signing_secret", "slack_app_token", "chroma_host",
        "openai_api_key", "openai_base_url", "as_of", "hubspot_token", "salesforce_username", "salesforce_password",
        "salesforce_security_token", "salesforce_instance_url", "salesforce_session_id", "digest_cron",
        "alert_channel", mode="before",
    )
    @classmethod
    def _blank_is_none(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @model_validator(mode="after")
    def _openai_embeddings_need_key(self) -> "Settings":
        if self.embeddings == "openai" and not self.openai_api_key:
            raise ValueError("OPENAI_API_KEY: required when EMBEDDINGS=openai")
        return self

    @property
    def allowed_channel_ids(self) -> tuple[str, ...]:
        return _split_ids(self.allowed_channels)

    @property
    def allowed_user_ids(self) -> tuple[str, ...]:
        return _split_ids(self.allowed_users)

    @property
    def llm_enabled(self) -> bool:
        return bool(self.openai_api_key)

    @property
    def digest_schedule(self) -> CronSchedule | None:
        return CronSchedule(self.digest_cron) if self.digest_cron else None

    @property
    def slack_enabled(self) -> bool:
        return bool(self.slack_bot_token)


def load_settings(env_file: str | Path | None = ".env", **overrides: object) -> Settings:
    """Build the settings once; raise SettingsError with one line naming the variable."""
    try:
        return Settings(_env_file=env_file, **overrides)  # type: ignore[call-arg,arg-type]
    except ValidationError as exc:
        error = exc.errors()[0]
        if error.get("loc"):
            name = str(error["loc"][0]).upper()
            secret = any(word in name for word in ("TOKEN", "SECRET", "KEY"))
            shown = "" if secret else f" (got {error.get('input')!r})"
            raise SettingsError(f"{name}: {str(error['msg']).removeprefix('Value error, ')}{shown}") from None
        # model-level checks already name their variable
        raise SettingsError(str(error["msg"]).removeprefix("Value error, ")) from None
