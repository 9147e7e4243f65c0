"""`python -m bot chat`: a local console over the same services Slack uses."""

from __future__ import annotations

from typing import Any, TextIO

from bot.knowledge.records import format_amount
from bot.services.answering import Answer, Turn, answer_question

GREETING = (
    "Revenue assistant — local console. Ask about an account or our sales content.\n"
    "Type 'exit' or press Ctrl-D to leave."
)
HISTORY = 6


def render_answer(answer: Answer) -> str:
    lines = [answer.text]
    if answer.note:
        lines.append(f"({answer.note})")
    if answer.hits:
        lines.append("")
        lines.append("Sources:")
        for number, source in enumerate(answer.sources, start=1):
            account = f" ({source['account']})" if source.get("account") else ""
            lines.append(f"  [{number}] {source['title']}{account} — {source['path']}")
    return "\n".join(lines)


def render_triage(result: Any) -> str:
    summary = result.summary
    lines = [f"{summary['total']} lead(s): {summary['pursue']} pursue, {summary['nurture']} nurture, "
             f"{summary['not_worth_chasing']} not worth chasing "
             f"({summary['engaged_but_not_worth_chasing']} of them highly engaged)."]
    labels = {"pursue": "PURSUE", "nurture": "NURTURE", "not_worth_chasing": "NOT WORTH CHASING"}
    for verdict in result.verdicts:
        lead = verdict.lead
        company = lead.account_name or lead.company
        lines.append("")
        lines.append(f"{labels[verdict.verdict]}: {lead.name} — {lead.title or 'no title'}"
                     f"{', ' + company if company else ''} [{verdict.title.level}, {verdict.title.function}]")
        lines.extend(f"  - {reason}" for reason in verdict.reasons)
        lines.append(f"  → {verdict.next_move}")
    for error in getattr(result, "errors", []):
        lines.append(f"problem: {error}")
    return "\n".join(lines)


def render_brief(brief: Any) -> str:
    data = brief.as_dict()
    lines = [f"ACCOUNT BRIEF — {data['account'].get('name')}", "", data["summary"], "", "Open opportunities:"]
    opens = [o for o in data["opportunities"] if o["open"]]
    for deal in opens or [{"name": "none"}]:
        if deal["name"] == "none":
            lines.append("  none")
            continue
        lines.append(f"  - {deal['name']}: {deal.get('stage')}, {format_amount(deal.get('amount'))}, close "
                     f"{deal.get('close_date') or '—'}; next step: {deal.get('next_step') or '—'}")
    lines += ["", "Recent activity:"]
    lines += [f"  - {a['date']} {a.get('type') or ''}: {a.get('subject') or ''}"
              + (f" ({a['contact']})" if a.get("contact") else "") for a in data["activities"][:6]]
    lines += ["", "Buying committee:"]
    lines += [f"  - {m['name']} — {m['title']} [{m['level']}, {m['function']}]"
              + (" engaged" if m["engaged"] else " not engaged") for m in data["buying_committee"]]
    lines += ["", "Coverage gaps:"] + [f"  - {g}" for g in data["coverage_gaps"] or ["none"]]
    if data["flagged_leads"]:
        lines += ["", "Flagged leads (activity, not buying power):"]
        lines += [f"  - {f['name']} — {f['title']}: {f['next_move']}" for f in data["flagged_leads"]]
    lines += ["", "Next steps:"] + [f"  - {s}" for s in data["next_steps"]]
    return "\n".join(lines)


def render_draft(draft: Any) -> str:
    data = draft.as_dict()
    to = data["to"]
    checks = data["checks"]
    verdict = "passes the checks" if checks["passed"] else "FAILS: see checks"
    lines = [f"To: {to.get('name') or '(role) ' + str(to.get('title'))} — {to.get('title')}",
             f"Subject: {data['subject']}", "", data["body"], "",
             f"Why: {data['rationale']}",
             f"Checks ({verdict}): {checks['word_count']} words, senior target {checks['senior_target']}, "
             f"trigger used {checks['trigger_used']}, proof point {checks['proof_point']}, "
             f"{checks['product_feature_count']} product feature(s), pushy phrases: "
             f"{', '.join(checks['pushy_phrases']) or 'none'}"]
    if data["sources"]:
        lines.append("Sources: " + "; ".join(f"[{n}] {s['title']}" for n, s in enumerate(data["sources"], 1)))
    return "\n".join(lines)


def render_result(result: Any) -> str:
    """A slash command's result as console text (the same result Slack renders as blocks)."""
    if result.kind in ("usage", "candidates"):
        return result.message
    renderers = {"answer": render_answer, "brief": render_brief, "draft": render_draft,
                 "triage": render_triage, "campaign": lambda c: c.to_markdown()}
    return renderers[result.kind](result.payload)


def run_console(services: Any, *, stdin: TextIO, stdout: TextIO) -> None:
    from bot.commands import COMMANDS, USAGE, CommandError, run_command

    interactive = stdin.isatty()
    print(GREETING, file=stdout)
    print("Slash commands work too: " + ", ".join(f"/{c}" for c in COMMANDS) + " (e.g. /brief <account>).", file=stdout)
    history: list[Turn] = []
    while True:
        if interactive:
            stdout.write("\n> ")
            stdout.flush()
        line = stdin.readline()
        if not line:  # end of input
            break
        text = line.strip()
        if not text:
            continue
        if text.lower() in {"exit", "quit", ":q"}:
            break
        if not interactive:
            print(f"\n> {text}", file=stdout)
        if text.startswith("/"):
            name, _, rest = text[1:].partition(" ")
            if name == "help" or name not in COMMANDS:
                print("\n".join(USAGE.values()), file=stdout)
                continue
            try:
                print(render_result(run_command(services, name, rest)), file=stdout)
            except CommandError as exc:
                print(f"Sorry — {exc}", file=stdout)
            stdout.flush()
            continue
        answer = answer_question(text, retriever=services.retriever, history=history, model=services.model)
        history = (history + [Turn(text, answer.account_id)])[-HISTORY:]
        print(render_answer(answer), file=stdout)
        stdout.flush()
    print("Bye.", file=stdout)
