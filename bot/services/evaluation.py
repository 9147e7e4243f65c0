"""Bundled evaluation sets: retrieval hit@k and MRR over the sample knowledge."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.knowledge.retrieval import Retriever

EVALS = Path(__file__).resolve().parent.parent / "evals"


@dataclass(frozen=True)
class Question:
    question: str
    gold: tuple[str, ...]
    account: str | None


def load_questions(path: Path = EVALS / "retrieval.jsonl") -> list[Question]:
    questions = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
            questions.append(Question(item["question"], tuple(item["gold"]), item.get("account")))
        except (json.JSONDecodeError, KeyError) as exc:
            raise ValueError(f"{path}:{number}: bad evaluation item ({exc})") from None
    return questions


def evaluate_retrieval(retriever: Retriever, questions: list[Question], *, k: int = 10) -> dict[str, Any]:
    """hit@1, hit@5 and MRR@k of the retrieval behind `ask`."""
    ranks: list[int | None] = []
    misses = []
    for item in questions:
        account = None
        if item.account:
            account = retriever.resolve_account(item.account).account
        hits = retriever.retrieve(item.question, k=k, account=account)
        refs = [hit.ref for hit in hits]
        rank = next((i for i, ref in enumerate(refs, start=1) if ref in item.gold), None)
        ranks.append(rank)
        if rank is None or rank > 5:
            misses.append({"question": item.question, "gold": list(item.gold), "got": refs[:5]})
    count = len(ranks) or 1
    return {
        "questions": len(ranks),
        "hit@1": round(sum(1 for r in ranks if r == 1) / count, 3),
        "hit@5": round(sum(1 for r in ranks if r and r <= 5) / count, 3),
        "mrr": round(sum(1 / r for r in ranks if r) / count, 3),
        "misses": misses,
    }
