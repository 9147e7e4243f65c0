"""Builds the long-lived parts once (store, embeddings, retriever) from the settings."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.knowledge.embeddings import NamedEmbeddings, build_embeddings
from bot.knowledge.retrieval import Retriever
from bot.knowledge.store import KnowledgeStore, open_store
from bot.llm import Model, build_model
from bot.prompts import Prompt, load_prompts
from bot.settings import Settings


@dataclass
class Services:
    settings: Settings
    embeddings: NamedEmbeddings
    store: KnowledgeStore
    retriever: Retriever
    prompts: dict[str, Prompt]
    model: Model | None = None  # None: the grounded composer answers


def build_services(settings: Settings, *, embeddings: NamedEmbeddings | None = None, client: Any = None,
                   model: Model | None = None) -> Services:
    """Prompts are loaded and checked here (a bad prompt fails at start); nothing is embedded yet."""
    prompts = load_prompts()
    model = model or build_model(settings, prompts)
    embeddings = embeddings or build_embeddings(settings)
    # The embedding-model guard runs on first use of the store, so `ingest --rebuild` can still
    # reset a store built with another model.
    store = open_store(settings, embedding_model=embeddings.name, client=client)
    return Services(settings, embeddings, store, Retriever(store, embeddings), prompts, model)
