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
