"""Answers on both sample sellers with the real local model, against their frozen question sets.

The sets (`bot/evals/retrieval*.jsonl`) were written from each seller's data before the retrieval they
measure, and are never tuned on. The floors below are regression guards set under the figures measured
when they were written (README, "Evaluation"), not the issue's targets: where a target is not met yet, the
README says so plainly.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bot.services.evaluation import evaluate_sets

# set -> (hit@5, account+content hit@5, unanswerable "I don't know", answerable answered, follow-ups)
FLOORS = {
    "vantara": (0.90, 0.70, 0.5, 0.9, 0.7),
    "hr-software": (0.75, 0.65, 0.4, 0.9, 0.5),
}


@pytest.fixture(scope="module")
def figures(local_embeddings, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return evaluate_sets(local_embeddings, Path(tmp_path_factory.mktemp("eval-stores")))


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(FLOORS))
def test_each_seller_s_questions_are_answered_from_its_own_knowledge(figures, name: str) -> None:
    found = figures[name]
    hit5, account_content, honest, answered, follow = FLOORS[name]
    assert found["hit@5"] >= hit5, found["misses"]
    assert found.get("account_content_hit@5", 1.0) >= account_content
    answers = found["answers"]
    assert answers["unanswerable_said_dont_know"] >= honest, answers["answered_unanswerable"]
    assert answers["answerable_grounded"] >= answered
    assert answers["follow_up_accuracy"] >= follow, answers["follow_up_misses"]


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(FLOORS))
def test_questions_in_french_german_and_spanish_reach_the_english_knowledge(figures, name: str) -> None:
    found = figures[name]
    assert set(found["by_language"]) >= {"en", "fr", "de", "es"}
    # within 0.15 of the same questions asked in English (the target is 0.05: see README)
    assert found["non_english_hit@5"] >= found["english_twins_hit@5"] - 0.15


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(FLOORS))
def test_the_hybrid_layers_each_earn_their_place(figures, name: str) -> None:
    layers = figures[name]["ablation"]
    assert layers["+account pools"]["hit@5"] >= layers["dense only"]["hit@5"]
    assert layers["+account pools"]["mrr"] >= layers["dense only"]["mrr"]
