"""What a button that re-runs a command does (the account picker, a digest or alert line): the person who clicked
is checked like one typing the command, then the command runs and its result comes back privately."""

from __future__ import annotations

from typing import Any

from bot.blocks import build_refusal_blocks, fallback_text
from bot.commands import CommandError, run_command
from bot.formatting import escape
from bot.listeners.guard import Guard
from bot.listeners.replies import failure, reviewable_blocks


def refused(guard: Guard, body: dict[str, Any], respond: Any, client: Any) -> bool:
    """True (and the refusal said privately) when the clicker may not see CRM data where they clicked."""
    channel = (body.get("channel") or {}).get("id") or (body.get("container") or {}).get("channel_id")
    refusal = guard.refusal(client, user_id=(body.get("user") or {}).get("id"), channel_id=channel,
                            ext_shared=body.get("is_ext_shared_channel"))
    if refusal:
        respond(text=refusal, blocks=build_refusal_blocks(refusal), response_type="ephemeral",
                replace_original=False)
    return bool(refusal)


def rerun(services: Any, ledger: Any, body: dict[str, Any], respond: Any, *, command: str, text: str,
          account_id: str | None, replace_original: bool) -> None:
    """`command text` for `account_id`, answered privately to the clicker (a usage problem in one sentence, a
    failure logged and counted once)."""
    try:
        result = run_command(services, command, text, account_id=account_id)
    except CommandError as exc:
        respond(text=escape(f"Sorry — {exc}"), response_type="ephemeral", replace_original=False)
        return
    except Exception as exc:
        respond(text=failure(exc, f"re-running /{command} from a button"), response_type="ephemeral",
                replace_original=False)
        return
    respond(text=fallback_text(result), blocks=reviewable_blocks(result, ledger, (body.get("user") or {}).get("id")),
            response_type="ephemeral", replace_original=replace_original)
