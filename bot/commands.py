"""Slash-command text ("/brief ACCOUNT", "/draft ACCOUNT --persona CFO") into one service call.

Slack's slash commands, the console and the buttons that re-run a command share this, so all three
give the same result for the same text.
"""

from __future__ import annotations

import argparse
import shlex
from dataclasses import dataclass
from typing import Any, NoReturn

from bot.knowledge.accounts import Account, Resolution

COMMANDS = ("ask", "brief", "draft", "campaign", "leads")
USAGE = {
    "ask": "/ask QUESTION — a grounded answer with sources, e.g. `/ask what is the next step on the <account> deal?`",
    "brief": "/brief ACCOUNT — deals, recent activity, buying committee and its gaps, next steps, e.g. `/brief <account>`",
    "draft": "/draft ACCOUNT [--contact NAME | --persona TITLE] — outreach to a senior stakeholder, "
             "e.g. `/draft <account> --persona CFO`",
    "campaign": "/campaign PERSONA [--industry X] [--theme T] [--touches N] — an outbound sequence, "
                "e.g. `/campaign CFO --industry <industry>`",
    "leads": "/leads ACCOUNT — who to pursue, nurture or not chase at an account, e.g. `/leads <account>`",
}


class CommandError(ValueError):
    """Input the person can fix; the message says how."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # noqa: D401 - argparse hook
        raise CommandError(message)


@dataclass
class CommandResult:
    command: str
    text: str  # what was typed after the command
    kind: str  # answer | brief | draft | campaign | triage | usage | candidates
    payload: Any = None
    resolution: Resolution | None = None
    message: str = ""
    account_id: str | None = None  # the account it ran for, so "Share in channel" re-runs exactly that
    account_name: str | None = None

    @property
    def candidates(self) -> list[Account]:
        return list(self.resolution.candidates) if self.resolution else []


def _split(text: str) -> list[str]:
    try:
        return shlex.split(text)
    except ValueError:
        return text.split()


def _parse(command: str, text: str) -> tuple[str, argparse.Namespace]:
    parser = _Parser(prog=f"/{command}", add_help=False)
    if command == "draft":
        parser.add_argument("account", nargs="+")
        parser.add_argument("--contact", nargs="+")
        parser.add_argument("--persona", nargs="+")
    elif command == "campaign":
        parser.add_argument("persona", nargs="*")
        parser.add_argument("--persona", dest="persona_flag", nargs="+")
        parser.add_argument("--industry", nargs="+")
        parser.add_argument("--theme", nargs="+")
        parser.add_argument("--touches", type=int, default=4)
    else:
        parser.add_argument("account", nargs="+")
    args = parser.parse_args(_split(text))
    for name, value in vars(args).items():
        if isinstance(value, list):
            setattr(args, name, " ".join(value))
    return command, args


def run_command(services: Any, command: str, text: str, *, account_id: str | None = None,
                history: tuple[str, ...] = ()) -> CommandResult:
    """Run one command. `account_id` comes from the candidate picker and skips name resolution."""
    from bot.services.answering import answer_question
    from bot.services.briefs import build_brief
    from bot.services.campaigns import build_campaign
    from bot.services.drafts import draft_outreach
    from bot.services.triage import triage_account

    command = command.lstrip("/").lower()
    if command not in COMMANDS:
        raise CommandError(f"unknown command /{command}; try " + ", ".join(f"/{c}" for c in COMMANDS))
    text = text.strip()
    if not text and account_id is None:
        return CommandResult(command, text, "usage", message=USAGE[command])
    model = services.model
    if command == "ask":
        answer = answer_question(text, retriever=services.retriever, history=history, model=model)
        return CommandResult(command, text, "answer", answer)
    _, args = _parse(command, text)
    if command == "campaign":
        persona = args.persona_flag or args.persona
        if not persona:
            return CommandResult(command, text, "usage", message=USAGE[command])
        if not 1 <= args.touches <= 12:
            raise CommandError("--touches must be between 1 and 12")
        campaign = build_campaign(services.retriever, services.context(), persona=persona, industry=args.industry or None,
                                  theme=args.theme or None, touches=args.touches, model=model)
        return CommandResult(command, text, "campaign", campaign)

    resolution = services.retriever.resolve_account(account_id or args.account)
    if resolution.account is None:
        return CommandResult(command, text, "candidates", resolution=resolution, message=resolution.describe_miss())
    account = resolution.account
    ran_for = {"account_id": account.id, "account_name": account.name}
    if command == "brief":
        return CommandResult(command, text, "brief", build_brief(services.retriever, account, services.context(), model=model),
                             **ran_for)
    if command == "leads":
        return CommandResult(command, text, "triage", triage_account(services.retriever, account.id, account.name,
                                                                          services.context()),
                             **ran_for)
    try:
        draft = draft_outreach(services.retriever, account, services.context(), contact=args.contact or None,
                               persona=args.persona or None, model=model)
    except LookupError as exc:
        raise CommandError(str(exc)) from None
    return CommandResult(command, text, "draft", draft, **ran_for)


def replace_account(text: str, account_name: str) -> str:
    """The same command text with the account part replaced (after a pick from the candidates)."""
    words = _split(text)
    flags_at = next((i for i, w in enumerate(words) if w.startswith("--")), len(words))
    rest = words[flags_at:]
    return " ".join([shlex.quote(account_name)] + [shlex.quote(w) for w in rest])
