"""Builds the long-lived parts once (store, embeddings, retriever) from the settings."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bot.knowledge.embeddings import NamedEmbeddings, build_embeddings
from bot.knowledge.retrieval import Retriever
from bot.knowledge.store import KnowledgeStore, open_store
from bot.llm import Model, build_model
from bot.profile import SellerProfile, load_profile
from bot.prompts import Prompt, load_prompts
from bot.services.context import Context, resolve_today
from bot.settings import Settings
from bot.wording import Wording, load_all_wording


@dataclass
class Services:
    settings: Settings
    embeddings: NamedEmbeddings
    store: KnowledgeStore
    retriever: Retriever
    prompts: dict[str, Prompt]
    model: Model | None = None  # None: the grounded composer answers
    profile: SellerProfile = field(default_factory=lambda: load_profile(None))
    wording: dict[str, Wording] = field(default_factory=load_all_wording)

    def context(self) -> Context:
        """The seller, its wording and "today" for one request (the newest CRM date is cached by the retriever)."""
        today = resolve_today(profile_as_of=self.profile.as_of, setting_as_of=self.settings.as_of,
                              newest_record=self.retriever.newest_record_date)
        return Context(self.profile, self.wording, today)


def build_services(settings: Settings, *, embeddings: NamedEmbeddings | None = None, client: Any = None,
                   model: Model | None = None) -> Services:
    """Prompts, wording and the seller profile are loaded and checked here (a bad one fails at start);
    nothing is embedded yet."""
    prompts = load_prompts()
    wording = load_all_wording()
    profile = load_profile(settings.knowledge_path)
    model = model or build_model(settings, prompts)
    embeddings = embeddings or build_embeddings(settings)
    # The embedding-model guard runs on first use of the store, so `ingest --rebuild` can still
    # reset a store built with another model.
    store = open_store(settings, embedding_model=embeddings.name, client=client)
    if embeddings.name.startswith(("local:", "openai:")):  # a stand-in embedding (tests) has no notion of titles
        from bot.knowledge.title_bank import TitleNeighbours

        profile.titles.attach(TitleNeighbours(embeddings, cache_dir=settings.chroma_path.parent / "cache"))
    return Services(settings, embeddings, store, Retriever(store, embeddings), prompts, model, profile, wording)
