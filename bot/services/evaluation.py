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


def load_titles(path: Path = EVALS / "titles.csv") -> list[dict[str, str]]:
    import csv

    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def evaluate_triage(rows: list[dict[str, str]], ctx: Any) -> dict[str, Any]:
    """Title level/function accuracy, verdict accuracy, precision and recall of not_worth_chasing."""
    from bot.services.triage import Lead, judge

    def number(value: str) -> float | None:
        return float(value) if value not in ("", None) else None

    level_ok = function_ok = verdict_ok = 0
    true_pos = false_pos = false_neg = 0
    errors = []
    for row in rows:
        lead = Lead(name="eval", title=row["title"], score=number(row.get("score", "")),
                    page_views=number(row.get("page_views", "")), form_submissions=number(row.get("form_submissions", "")))
        verdict = judge(lead, ctx)
        level_ok += verdict.title.level == row["level"]
        function_ok += verdict.title.function == row["function"]
        verdict_ok += verdict.verdict == row["verdict"]
        flagged, expected = verdict.verdict == "not_worth_chasing", row["verdict"] == "not_worth_chasing"
        true_pos += flagged and expected
        false_pos += flagged and not expected
        false_neg += expected and not flagged
        if verdict.title.level != row["level"] or verdict.verdict != row["verdict"]:
            errors.append({"title": row["title"], "expected": f"{row['level']}/{row['verdict']}",
                           "got": f"{verdict.title.level}/{verdict.verdict}"})
    count = len(rows) or 1
    return {
        "titles": len(rows),
        "level_accuracy": round(level_ok / count, 3),
        "function_accuracy": round(function_ok / count, 3),
        "verdict_accuracy": round(verdict_ok / count, 3),
        "not_worth_chasing_precision": round(true_pos / ((true_pos + false_pos) or 1), 3),
        "not_worth_chasing_recall": round(true_pos / ((true_pos + false_neg) or 1), 3),
        "errors": errors,
    }


def evaluate_outreach(retriever: Retriever, ctx: Any) -> dict[str, Any]:
    """Over every account and every persona of the seller profile: drafts with a cited proof point, drafts
    whose trigger comes from that account's own history, and campaigns that pass their checks."""
    from bot.services.campaigns import build_campaign
    from bot.services.drafts import draft_outreach, failed_checks

    drafts = [(account, draft_outreach(retriever, account, ctx)) for account in retriever.resolver.accounts]
    with_proof = [a.name for a, d in drafts
                  if d.checks["proof_point"] and any(h.metadata.get("type") == "case_study" for h in d.hits)]
    with_trigger = [(a, d) for a, d in drafts if d.checks["trigger_available"]]
    own = [a.name for a, d in with_trigger
           if all(h.metadata.get("account_id") == a.id for h in d.hits if h.metadata.get("type") == "activity")]
    industry = ctx.profile.industries[0] if ctx.profile.industries else None
    campaigns = [(p.name, build_campaign(retriever, ctx, persona=p.name, industry=industry))
                 for p in ctx.profile.personas]
    count = len(drafts) or 1

    return {
        "accounts": len(drafts),
        "drafts_with_cited_proof": round(len(with_proof) / count, 3),
        "drafts_with_trigger": len(with_trigger),
        "triggers_from_own_history": round(len(own) / (len(with_trigger) or 1), 3),
        "drafts_passing_checks": round(sum(1 for _, d in drafts if d.checks["passed"]) / count, 3),
        "draft_failures": [{"account": a.name, "problems": failed_checks(d.checks)}
                           for a, d in drafts if not d.checks["passed"]],
        "campaigns": len(campaigns),
        "campaigns_passing_checks": round(sum(1 for _, c in campaigns if c.checks.get("passed"))
                                          / (len(campaigns) or 1), 3),
        "campaign_failures": [{"persona": name, "problems": c.checks.get("problems")}
                              for name, c in campaigns if not c.checks.get("passed")],
    }
