"""A knowledge refresh while the bot runs: another process ingests into the embedded store, the running
retriever keeps answering, without an error, and sees the new content (issue: "Error finding id")."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.knowledge import retrieval
from bot.runtime import build_services
from bot.services.answering import answer_question


def ingest_in_another_process(knowledge: Path, store: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "OPENAI_"))}
    env.update({"KNOWLEDGE_PATH": str(knowledge), "CHROMA_PATH": str(store), "EMBEDDINGS": "local"})
    done = subprocess.run([sys.executable, "-m", "bot", "ingest"], env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr


@pytest.mark.slow
def test_an_ingest_by_another_process_never_breaks_the_running_bot(small_crm, make_settings, local_embeddings,
                                                                   tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(retrieval, "GENERATION_CHECK", 0.0)  # notice a change at once (5 s in production)
    knowledge, store = small_crm.root, tmp_path / "chroma"
    small_crm.content("faq.md", "---\ntitle: FAQ\ntype: faq\n---\nStandard payment terms are net 30 days.\n")
    ingest_in_another_process(knowledge, store)
    running = build_services(make_settings(chroma_path=store), embeddings=local_embeddings)
    assert answer_question("What are the standard payment terms?", retriever=running.retriever).grounded

    for release in (1, 2):
        small_crm.content(f"release-{release}.md", f"---\ntitle: Release {release}\ntype: product\n---\n"
                                                   f"Zanzibar cross-docking ships in release {release}.\n")
        small_crm.content("faq.md", f"---\ntitle: FAQ\ntype: faq\n---\nStandard payment terms are net 30 days.\n"
                                    f"Quotes are valid for {30 * release} days.\n")  # a changed file: ids replaced
        ingest_in_another_process(knowledge, store)
        for _ in range(3):  # answering keeps working while and after the store changed under it
            answer = answer_question(f"Which release ships Zanzibar cross-docking? release {release}",
                                     retriever=running.retriever)
            assert f"content/release-{release}.md" in [hit.ref for hit in answer.hits]
        assert answer_question("What are the standard payment terms?", retriever=running.retriever).grounded


def test_the_generation_token_changes_on_every_commit_and_costs_one_small_read(services, knowledge) -> None:
    """Readers poll it every 5 s: it must change when any process commits, whatever the number of sources."""
    from bot.knowledge.ingest import ingest

    first = services.store.generation()
    knowledge.content("one.md", "# One\n\nThe first note.\n")
    ingest(services.store, services.embeddings, [knowledge.root], root=knowledge.root)
    second = services.store.generation()
    assert second and second != first
    assert services.store.generation() == second  # stable while nothing changes
    (knowledge.root / "content" / "one.md").unlink()
    ingest(services.store, services.embeddings, [knowledge.root], root=knowledge.root)
    assert services.store.generation() not in (first, second)
