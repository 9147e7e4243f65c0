"""Settings: read once from the environment and `.env`; a bad value fails with one line naming the variable."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest

from bot.settings import SettingsError, load_settings


@pytest.fixture(autouse=True)
def no_as_of_from_the_shell(monkeypatch: pytest.MonkeyPatch) -> None:
    """conftest clears the other settings' variables; a developer's AS_OF must not leak in either."""
    monkeypatch.delenv("AS_OF", raising=False)


def test_defaults() -> None:
    s = load_settings(env_file=None)
    assert s.port == 3000
    assert s.chroma_path == Path(".data/chroma")
    assert s.chroma_host is None
    assert s.chroma_port == 8000
    assert s.collection_prefix == "sales"
    assert s.embeddings == "local"
    assert s.knowledge_path == Path("knowledge")
    assert s.slack_api_url == "https://slack.com/api/"
    assert s.slack_bot_token is None and s.slack_signing_secret is None and s.slack_app_token is None
    assert s.openai_api_key is None and s.openai_base_url is None
    assert s.log_level == "INFO"
    assert s.allowed_channel_ids == () and s.allowed_user_ids == ()
    assert s.as_of is None  # "today" is then the profile's as_of, the newest CRM record, or the clock
    assert not s.slack_enabled and not s.llm_enabled


def test_environment_is_read(monkeypatch) -> None:
    monkeypatch.setenv("PORT", "8080")
    monkeypatch.setenv("CHROMA_HOST", "chroma.internal")
    monkeypatch.setenv("CHROMA_PORT", "9000")
    monkeypatch.setenv("COLLECTION_PREFIX", "acme_sales")
    monkeypatch.setenv("KNOWLEDGE_PATH", "/srv/knowledge")
    monkeypatch.setenv("LOG_LEVEL", "debug")
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-test")
    s = load_settings(env_file=None)
    assert (s.port, s.chroma_host, s.chroma_port, s.collection_prefix) == (8080, "chroma.internal", 9000, "acme_sales")
    assert s.knowledge_path == Path("/srv/knowledge")
    assert s.log_level == "DEBUG"
    assert s.slack_enabled


def test_dotenv_is_honoured_when_given(tmp_path: Path) -> None:
    env_file = tmp_path / "custom.env"
    env_file.write_text(
        "# comment\nPORT=4001\nSLACK_BOT_TOKEN=xoxb-from-file\nALLOWED_CHANNELS=C1,C2\nEMBEDDINGS=local\n"
        "OPENAI_API_KEY=sk-test\nOPENAI_BASE_URL=http://localhost:11434/v1\n",
        encoding="utf-8",
    )
    s = load_settings(env_file=env_file)
    assert s.port == 4001
    assert s.slack_bot_token == "xoxb-from-file"
    assert s.allowed_channel_ids == ("C1", "C2")
    assert s.openai_base_url == "http://localhost:11434/v1"
    assert s.llm_enabled


def test_dotenv_in_the_working_directory_by_default(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("PORT=4002\n", encoding="utf-8")  # tmp_path is the working directory
    assert load_settings().port == 4002
    assert load_settings(env_file=None).port == 3000


def test_environment_wins_over_dotenv(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / ".env").write_text("PORT=4003\nCOLLECTION_PREFIX=fromfile\n", encoding="utf-8")
    monkeypatch.setenv("PORT", "4004")
    s = load_settings()
    assert s.port == 4004
    assert s.collection_prefix == "fromfile"


def test_explicit_overrides(tmp_path: Path) -> None:
    s = load_settings(env_file=None, chroma_path=tmp_path / "store", port=5000)
    assert s.chroma_path == tmp_path / "store" and s.port == 5000


@pytest.mark.parametrize("variable, value", [
    ("PORT", "abc"),
    ("PORT", "0"),
    ("PORT", "70000"),
    ("CHROMA_PORT", "x"),
    ("CHROMA_PORT", "-1"),
    ("COLLECTION_PREFIX", "has spaces"),
    ("COLLECTION_PREFIX", "x"),
    ("EMBEDDINGS", "foo"),
    ("LOG_LEVEL", "chatty"),
    ("AS_OF", "yesterday"),
    ("AS_OF", "2025-02-30"),
])
def test_invalid_value_names_the_variable(monkeypatch, variable: str, value: str) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError) as caught:
        load_settings(env_file=None)
    message = str(caught.value)
    assert message.startswith(variable)
    assert "\n" not in message


def test_invalid_value_in_dotenv_names_the_variable(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("CHROMA_PORT=eighty\n", encoding="utf-8")
    with pytest.raises(SettingsError, match=r"^CHROMA_PORT"):
        load_settings()


def test_openai_embeddings_need_a_key(monkeypatch) -> None:
    monkeypatch.setenv("EMBEDDINGS", "openai")
    with pytest.raises(SettingsError) as caught:
        load_settings(env_file=None)
    assert "OPENAI_API_KEY" in str(caught.value)
    assert "\n" not in str(caught.value)

    monkeypatch.setenv("OPENAI_API_KEY", "   ")
    with pytest.raises(SettingsError, match="OPENAI_API_KEY"):
        load_settings(env_file=None)

    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    assert load_settings(env_file=None).embeddings == "openai"


@pytest.mark.parametrize("raw, expected", [
    ("", ()),
    ("C01", ("C01",)),
    ("C01,C02", ("C01", "C02")),
    (" C01 , C02 ,, C03 ,", ("C01", "C02", "C03")),
])
def test_allowlists_are_comma_separated(monkeypatch, raw: str, expected: tuple[str, ...]) -> None:
    monkeypatch.setenv("ALLOWED_CHANNELS", raw)
    monkeypatch.setenv("ALLOWED_USERS", raw)
    s = load_settings(env_file=None)
    assert s.allowed_channel_ids == expected
    assert s.allowed_user_ids == expected


def test_blank_optional_values_count_as_unset(monkeypatch) -> None:
    for name in ("SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "CHROMA_HOST", "OPENAI_API_KEY", "OPENAI_BASE_URL"):
        monkeypatch.setenv(name, "")
    s = load_settings(env_file=None)
    assert s.chroma_host is None and not s.slack_enabled and not s.llm_enabled


def test_as_of_is_read_as_a_date(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("AS_OF", "2025-11-20")
    assert load_settings(env_file=None).as_of == date(2025, 11, 20)
    monkeypatch.delenv("AS_OF")
    (tmp_path / ".env").write_text("AS_OF=2024-03-01\n", encoding="utf-8")
    assert load_settings().as_of == date(2024, 3, 1)


def test_a_blank_as_of_counts_as_unset(monkeypatch) -> None:
    """`AS_OF=` as copied from a .env template means "not set", like every other optional value."""
    monkeypatch.setenv("AS_OF", "")
    assert load_settings(env_file=None).as_of is None


def test_env_example_lists_every_setting() -> None:
    example = Path(__file__).resolve().parent.parent / ".env.example"
    from bot.settings import Settings

    # a path setting is shown commented out with its default, so a copied .env never overrides a container's paths
    lines = [line.strip() for line in example.read_text(encoding="utf-8").splitlines()]
    names = {line.split("=", 1)[0].strip() for line in lines if "=" in line and not line.startswith("#")}
    shown = {line[1:].split("=", 1)[0].strip() for line in lines
             if line.startswith("# ") and re.match(r"# [A-Z_]+=", line)}
    assert shown == {"CHROMA_PATH", "KNOWLEDGE_PATH"}
    names |= shown
    # the contract's settings, and every setting the code reads (OPENAI_TIMEOUT included)
    assert names >= {"SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN", "SLACK_API_URL", "PORT", "CHROMA_PATH",
                     "CHROMA_HOST", "CHROMA_PORT", "COLLECTION_PREFIX", "EMBEDDINGS", "OPENAI_API_KEY",
                     "OPENAI_BASE_URL", "OPENAI_MODEL", "KNOWLEDGE_PATH", "AS_OF", "ALLOWED_CHANNELS",
                     "ALLOWED_USERS", "LOG_LEVEL"}
    assert names == {name.upper() for name in Settings.model_fields}
