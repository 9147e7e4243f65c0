"""Bundled evaluation sets: retrieval hit@k and MRR over the sample knowledge."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.knowledge.retrieval import ABLATION, RetrievalConfig, Retriever

EVALS = Path(__file__).resolve().parent.parent / "evals"


@dataclass(frozen=True)
class Question:
    question: str
    gold: tuple[str, ...]
    account: str | None
    id: str = ""
    lang: str = "en"
    twin: str | None = None
    answerable: bool = True
    follows: str | None = None
    answer_account: str | None = None
    tags: tuple[str, ...] = ()
    must_say: tuple[str, ...] = ()


def retrieval_sets() -> dict[str, tuple[str, str]]:
    """Each retrieval set and the knowledge it was written over (bot/evals/retrieval-sets.yaml)."""
    import yaml

    listed = yaml.safe_load((EVALS / "retrieval-sets.yaml").read_text(encoding="utf-8")) or {}
    return {str(name): (str(item["questions"]), str(item["knowledge"])) for name, item in listed.items()}



def load_questions(path: Path = EVALS / "retrieval.jsonl") -> list[Question]:
    questions = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
            questions.append(Question(
                item["question"], tuple(item["gold"]), item.get("account"), id=str(item.get("id") or number),
                lang=item.get("lang") or "en", twin=item.get("twin"), answerable=item.get("answerable", True),
                follows=item.get("follows"), answer_account=item.get("answer_account"),
                tags=_strings(item.get("tags")), must_say=_strings(item.get("must_say"))))
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise ValueError(f"{path}:{number}: bad evaluation item ({exc})") from None
    return questions


def _strings(value: Any) -> tuple[str, ...]:
    """A list of strings, or one string written without its list."""
    if not value:
        return ()
    return (value,) if isinstance(value, str) else tuple(str(v) for v in value)


def _rank(retriever: Retriever, item: Question, config: RetrievalConfig | None, k: int) -> tuple[int | None, list[str]]:
    account = retriever.resolve_account(item.account).account if item.account else None
    refs: list[str] = []
    for hit in retriever.gather(item.question, account=account, config=config).hits:
        if hit.ref not in refs:
            refs.append(hit.ref)
        if len(refs) >= k:
            break
    return next((i for i, ref in enumerate(refs, start=1) if ref in item.gold), None), refs


def _figures(ranks: list[int | None]) -> dict[str, Any]:
    count = len(ranks) or 1
    return {
        "questions": len(ranks),
        "hit@1": round(sum(1 for r in ranks if r == 1) / count, 3),
        "hit@5": round(sum(1 for r in ranks if r and r <= 5) / count, 3),
        "mrr": round(sum(1 / r for r in ranks if r) / count, 3),
    }


def evaluate_retrieval(retriever: Retriever, questions: list[Question], *, k: int = 10,
                       ablation: bool = False) -> dict[str, Any]:
    """hit@1, hit@5 and MRR@k of the retrieval behind `ask` (answerable first turns), by language and for
    questions that name an account and need content; with `ablation`, the same for each retrieval layer."""
    single = [q for q in questions if q.answerable and not q.follows and q.gold]
    ranks: dict[str, int | None] = {}
    misses = []
    for item in single:
        rank, refs = _rank(retriever, item, None, k)
        ranks[item.id] = rank
        if rank is None or rank > 5:
            misses.append({"id": item.id, "question": item.question, "gold": list(item.gold), "got": refs[:5]})
    result = _figures(list(ranks.values()))
    result["by_language"] = {lang: _figures([ranks[q.id] for q in single if q.lang == lang])["hit@5"]
                             for lang in sorted({q.lang for q in single})}
    foreign = [q for q in single if q.lang != "en" and q.twin in ranks]
    if foreign:
        result["non_english_hit@5"] = _figures([ranks[q.id] for q in foreign])["hit@5"]
        result["english_twins_hit@5"] = _figures([ranks[q.twin] for q in foreign if q.twin])["hit@5"]
    tagged = [q for q in single if "account+content" in q.tags]
    if tagged:
        result["account_content_hit@5"] = _figures([ranks[q.id] for q in tagged])["hit@5"]
    if ablation:
        result["ablation"] = {name: _figures([_rank(retriever, q, config, k)[0] for q in single])
                              for name, config in ABLATION}
    result["misses"] = misses
    return result


def evaluate_answers(retriever: Retriever, questions: list[Question]) -> dict[str, Any]:
    """What a person sees: unanswerable questions get "I don't know" (grounded: false), answerable ones do
    not; follow-ups stay on the account the first turn was about and cite a gold source; `must_say`
    fragments survive into the extractive answer."""
    from bot.services.answering import Turn, answer_question

    by_id = {q.id: q for q in questions}
    unanswerable = [q for q in questions if not q.answerable]
    honest = [q for q in unanswerable if not answer_question(q.question, retriever=retriever).grounded]
    answerable = [q for q in questions if q.answerable and not q.follows and q.gold]
    grounded = 0
    kept, said = 0, []
    for q in answerable:
        account = retriever.resolve_account(q.account).account if q.account else None
        answer = answer_question(q.question, retriever=retriever, account=account)
        grounded += answer.grounded
        if q.must_say:
            folded = " ".join(answer.text.split())
            ok = all(fragment in folded for fragment in q.must_say)
            kept += ok
            if not ok:
                said.append({"id": q.id, "must_say": list(q.must_say)})
    follow = [q for q in questions if q.follows and q.follows in by_id]
    right, wrong = 0, []
    for q in follow:
        first = by_id[str(q.follows)]
        opening = answer_question(first.question, retriever=retriever)
        answer = answer_question(q.question, retriever=retriever, history=[Turn(first.question, opening.account_id)])
        refs = {h.ref for h in answer.hits}
        expected = retriever.resolve_account(q.answer_account).account if q.answer_account else None
        foreign = {h.metadata.get("account_id") for h in answer.hits if h.metadata.get("account_id")} - (
            {expected.id} if expected else set())
        ok = bool(refs & set(q.gold)) and not foreign
        right += ok
        if not ok:
            wrong.append({"id": q.id, "question": q.question, "gold": list(q.gold), "got": sorted(refs)})
    with_fragments = [q for q in answerable if q.must_say]
    return {
        "unanswerable": len(unanswerable),
        "unanswerable_said_dont_know": round(len(honest) / (len(unanswerable) or 1), 3),
        "answerable_grounded": round(grounded / (len(answerable) or 1), 3),
        "answers_keep_must_say": round(kept / (len(with_fragments) or 1), 3),
        "follow_ups": len(follow),
        "follow_up_accuracy": round(right / (len(follow) or 1), 3),
        "follow_up_misses": wrong,
        "must_say_misses": said,
        "answered_unanswerable": [q.id for q in unanswerable if q not in honest],
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

    level_ok = function_ok = verdict_ok = unknown = 0
    true_pos = false_pos = false_neg = 0
    errors = []
    ctx.profile.titles.prepare(row["title"] for row in rows)
    for row in rows:
        lead = Lead(name="eval", title=row["title"], score=number(row.get("score", "")),
                    page_views=number(row.get("page_views", "")), form_submissions=number(row.get("form_submissions", "")))
        verdict = judge(lead, ctx)
        level_ok += verdict.title.level == row["level"]
        unknown += verdict.title.level == "unknown" and bool(row["title"].strip())
        function_ok += verdict.title.function == row["function"]
        verdict_ok += verdict.verdict == row["verdict"]
        flagged, expected = verdict.verdict == "not_worth_chasing", row["verdict"] == "not_worth_chasing"
        true_pos += flagged and expected
        false_pos += flagged and not expected
        false_neg += expected and not flagged
        if (verdict.title.level, verdict.title.function, verdict.verdict) != (row["level"], row["function"],
                                                                              row["verdict"]):
            errors.append({"title": row["title"], "expected": f"{row['level']}/{row['function']}/{row['verdict']}",
                           "got": f"{verdict.title.level}/{verdict.title.function}/{verdict.verdict}"})
    count = len(rows) or 1
    return {
        "titles": len(rows),
        "level_accuracy": round(level_ok / count, 3),
        "function_accuracy": round(function_ok / count, 3),
        "unknown_share": round(unknown / (sum(1 for r in rows if r["title"].strip()) or 1), 3),
        "labelled_unknown_share": round(sum(1 for r in rows if r["title"].strip() and r["level"] == "unknown")
                                        / (sum(1 for r in rows if r["title"].strip()) or 1), 3),
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


REPO = Path(__file__).resolve().parent.parent.parent


def evaluate_sets(embeddings: Any, store_root: Path, *, names: list[str] | None = None,
                  progress: Any = None) -> dict[str, Any]:
    """Every retrieval set over its own seller's knowledge, each in its own store under `store_root`
    (ingested once, then only what changed): retrieval with its ablation, then answers."""
    from bot.knowledge.ingest import ingest
    from bot.profile import load_profile
    from bot.runtime import build_services
    from bot.settings import load_settings

    results: dict[str, Any] = {}
    for name, (file, folder) in retrieval_sets().items():
        knowledge = REPO / folder
        if names and name not in names:
            continue
        if not knowledge.is_dir() or not (EVALS / file).exists():
            results[name] = {"skipped": f"{folder} is not in this checkout"}
            continue
        settings = load_settings(None, knowledge_path=knowledge, chroma_path=store_root / name,
                                 collection_prefix="eval")
        services = build_services(settings, embeddings=embeddings)
        ingest(services.store, services.embeddings, [knowledge], root=knowledge, progress=progress,
               profile=load_profile(knowledge))
        services.retriever.refresh()
        questions = load_questions(EVALS / file)
        results[name] = {"knowledge": folder, **evaluate_retrieval(services.retriever, questions, ablation=True),
                         "answers": evaluate_answers(services.retriever, questions)}
    return results
