"""`python -m bot chat`: a local console over the same services Slack uses."""

from __future__ import annotations

from typing import Any, TextIO

from bot.services.answering import Answer, answer_question

GREETING = (
    "Revenue assistant — local console. Ask about an account or our sales content.\n"
    "Type 'exit' or press Ctrl-D to leave."
)
HISTORY = 6


def render_answer(answer: Answer) -> str:
    lines = [answer.text]
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


def run_console(services: Any, *, stdin: TextIO, stdout: TextIO) -> None:
    interactive = stdin.isatty()
    print(GREETING, file=stdout)
    history: list[str] = []
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
        answer = answer_question(text, retriever=services.retriever, history=history)
        history = (history + [text])[-HISTORY:]
        print(render_answer(answer), file=stdout)
        stdout.flush()
    print("Bye.", file=stdout)
