"""Pure Block Kit builders: results in, lists of blocks out. No Slack calls here.

Every piece of text that came from a person, the CRM or a document is escaped by `formatting`.
"""

from __future__ import annotations

import json
import re
from typing import Any

from bot.formatting import (
    BLOCK_LIMIT,
    SECTION_LIMIT,
    escape,
    neutral,
    split_text,
    to_mrkdwn,
    truncate,
)
from bot.knowledge.records import format_amount

FEEDBACK_HELPFUL = "feedback_helpful"
FEEDBACK_NOT_HELPFUL = "feedback_not_helpful"
SHARE_IN_CHANNEL = "share_in_channel"
PICK_ACCOUNT = "pick_account"
BUTTON_VALUE_LIMIT = 2000

Block = dict[str, Any]


def section(text: str) -> list[Block]:
    """One or more section blocks (3,000 characters each); `text` must already be mrkdwn-safe."""
    return [{"type": "section", "text": {"type": "mrkdwn", "text": piece}} for piece in split_text(text, SECTION_LIMIT)]


def header(text: str) -> Block:
    return {"type": "header", "text": {"type": "plain_text", "text": truncate(neutral(text), 150), "emoji": False}}


def context(text: str) -> Block:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": truncate(text, 3000)}]}


def button_value(payload: dict[str, Any]) -> str:
    """JSON for a button's value, always valid and within Slack's 2,000 characters: long text
    fields are shortened before encoding, never the encoded string cut in half."""
    # a value is never shown, but it is echoed back and logged: no control sequence rides in it either
    payload = {key: neutral(value) if isinstance(value, str) else value for key, value in payload.items()}
    while True:
        value = json.dumps(payload, ensure_ascii=False)
        if len(value) <= BUTTON_VALUE_LIMIT:
            return value
        longest = max((k for k, v in payload.items() if isinstance(v, str)), key=lambda k: len(payload[k]))
        excess = len(value) - BUTTON_VALUE_LIMIT
        payload[longest] = payload[longest][: max(0, len(payload[longest]) - excess - 8)]


def read_button_value(action: dict[str, Any]) -> dict[str, Any]:
    """A clicked button's value as `button_value` wrote it; {} when it is not a JSON object."""
    try:
        value = json.loads(action.get("value") or "{}")
    except json.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def button(text: str, action_id: str, value: str, style: str | None = None) -> Block:
    element: Block = {"type": "button", "text": {"type": "plain_text", "text": truncate(text, 75)},
                      "action_id": action_id, "value": value}
    if style:
        element["style"] = style
    return element


def limit(blocks: list[Block], *, keep_last: int = 0) -> list[Block]:
    """At most 50 blocks: the tail (actions) is kept, the middle is cut with a note."""
    if len(blocks) <= BLOCK_LIMIT:
        return blocks
    tail = blocks[-keep_last:] if keep_last else []
    head = blocks[: BLOCK_LIMIT - len(tail) - 1]
    return head + [context("_…more in the full result: use the command line or narrow the request._")] + tail


def sources_block(sources: list[dict[str, Any]]) -> list[Block]:
    if not sources:
        return []
    lines = []
    for number, source in enumerate(sources, start=1):
        account = f" · {escape(source['account'])}" if source.get("account") else ""
        lines.append(f"[{number}] {escape(source.get('title') or source.get('id'))}{account} — `{escape(source.get('path'))}`")
    return [context("\n".join(lines))]


def feedback_actions(kind: str, reference: str) -> Block:
    value = button_value({"kind": kind, "ref": reference[:500]})
    return {"type": "actions", "block_id": "feedback", "elements": [
        button("Helpful", FEEDBACK_HELPFUL, value), button("Not helpful", FEEDBACK_NOT_HELPFUL, value)]}


def share_actions(share_id: str) -> Block:
    """The button names the saved result: sharing posts what the user reviewed, never a re-run."""
    return {"type": "actions", "block_id": "share", "elements": [
        button("Share in channel", SHARE_IN_CHANNEL, button_value({"result": share_id}), style="primary")]}


# ---------------------------------------------------------------- results

def build_answer_blocks(answer: Any, *, question: str = "", with_feedback: bool = True) -> list[Block]:
    data = answer.as_dict()
    blocks = section(to_mrkdwn(data["answer"]))
    blocks += sources_block(data["sources"])
    if with_feedback:
        blocks.append(feedback_actions("answer", question or getattr(answer, "question", "")))
    return limit(blocks, keep_last=1 if with_feedback else 0)


def build_brief_blocks(brief: Any) -> list[Block]:
    data = brief.as_dict()
    account = data["account"]
    blocks: list[Block] = [header(f"Account brief: {account.get('name')}")]
    blocks += section(to_mrkdwn(data["summary"]))
    opens = [o for o in data["opportunities"] if o["open"]]
    if opens:
        lines = [f"• *{escape(o['name'])}* — {escape(o.get('stage'))}, {escape(format_amount(o.get('amount')))}, close "
                 f"{escape(o.get('close_date') or '—')}\n   _Next step:_ {escape(o.get('next_step') or '—')}" for o in opens]
        blocks += section("*Open opportunities*\n" + "\n".join(lines))
    if data["activities"]:
        lines = [f"• {escape(a['date'])} {escape(a.get('type') or '')}: {escape(a.get('subject') or '')}"
                 + (f" ({escape(a['contact'])})" if a.get("contact") else "") for a in data["activities"][:6]]
        blocks += section("*Recent activity*\n" + "\n".join(lines))
    committee = [f"• {'🟢' if m['engaged'] else '⚪'} {escape(m['name'])} — {escape(m['title'])} "
                 f"_({m['level']}, {m['function'].replace('_', ' ')})_" for m in data["buying_committee"]]
    if committee:
        window = data.get("engagement_window_days", 90)
        blocks += section(f"*Buying committee* (🟢 two-way contact in the last {window} days)\n" + "\n".join(committee))
    if data["coverage_gaps"]:
        blocks += section("*Coverage gaps*\n" + "\n".join(f"• {escape(g)}" for g in data["coverage_gaps"]))
    if data["flagged_leads"]:
        lines = [f"• {escape(f['name'])} — {escape(f['title'])}: {escape(f['next_move'])}" for f in data["flagged_leads"]]
        blocks += section("*Flagged leads* (activity, not buying power)\n" + "\n".join(lines))
    blocks += section("*Next steps*\n" + "\n".join(f"• {escape(s)}" for s in data["next_steps"]))
    blocks += sources_block(data["sources"])
    return blocks


def build_draft_blocks(draft: Any) -> list[Block]:
    data = draft.as_dict()
    to = data["to"]
    checks = data["checks"]
    who = escape(to.get("name") or f"(role) {to.get('title')}")
    blocks: list[Block] = [header("Outreach draft — for you to edit and send")]
    blocks += section(f"*To:* {who} — {escape(to.get('title'))}\n*Subject:* {escape(data['subject'])}")
    blocks += section("```" + escape(data["body"]) + "```")
    blocks += section(f"*Why:* {escape(data['rationale'])}")
    marks = [
        f"{'✅' if checks['under_word_limit'] else '❌'} {checks['word_count']} words",
        f"{'✅' if checks['senior_target'] else '❌'} senior target",
        f"{'✅' if checks['trigger_used'] else '❌'} trigger event",
        f"{'✅' if checks['proof_point'] else '❌'} proof point",
        f"{'✅' if checks['product_feature_count'] <= 2 else '❌'} {checks['product_feature_count']} product feature(s)",
        f"{'✅' if not checks['pushy_phrases'] else '❌'} no pushy phrases",
    ]
    blocks.append(context("Checks: " + " · ".join(marks)))
    blocks += sources_block(data["sources"])
    return blocks


def build_triage_blocks(result: Any, *, account: str = "") -> list[Block]:
    data = result.as_dict()
    summary = data["summary"]
    title = f"Leads at {account}" if account else "Lead triage"
    blocks: list[Block] = [header(title), context(
        f"{summary['total']} people: *{summary['pursue']}* pursue · *{summary['nurture']}* nurture · "
        f"*{summary['not_worth_chasing']}* not worth chasing ({summary['engaged_but_not_worth_chasing']} highly engaged)")]
    labels = {"pursue": "🎯 Pursue", "nurture": "🌱 Nurture", "not_worth_chasing": "🚫 Not worth chasing"}
    for lead in data["leads"]:
        reasons = "\n".join(f"   – {escape(r)}" for r in lead["reasons"])
        blocks += section(f"{labels[lead['verdict']]}: *{escape(lead['name'])}* — {escape(lead['title'] or 'no title')} "
                          f"_({lead['level']}, {lead['function'].replace('_', ' ')})_\n{reasons}\n"
                          f"   → {escape(lead['next_move'])}")
    return limit(blocks)


def build_campaign_blocks(campaign: Any) -> list[Block]:
    data = campaign.as_dict()
    where = f" in {data['industry']}" if data.get("industry") else ""
    blocks: list[Block] = [header(f"Campaign: {data['persona']}{where}")]
    icons = {"email": "✉️", "linkedin": "💼", "call": "📞"}
    for number, touch in enumerate(data["touches"], start=1):
        cited = ", ".join(escape(s.get("title")) for s in touch["sources"]) or "—"
        blocks += section(f"*{number}. Day {touch['day']} · {icons.get(touch['channel'], '')} {touch['channel']}* — "
                          f"{escape(touch['subject'])}\n```{escape(touch['body'])}```")
        blocks.append(context(f"Source: {cited}"))
    if data.get("note"):
        blocks.append(context(escape(data["note"])))
    return limit(blocks)


def build_usage_blocks(message: str) -> list[Block]:
    return section(f"How to use it: {message}")


def build_candidates_blocks(command: str, text: str, resolution: Any) -> list[Block]:
    """The account was not found or is ambiguous: offer the candidates as buttons."""
    blocks = section(escape(resolution.describe_miss()))
    if resolution.candidates:
        elements = [button(a.name, f"{PICK_ACCOUNT}_{index}",
                           button_value({"command": command, "text": text, "account_id": a.id}))
                    for index, a in enumerate(resolution.candidates[:5])]
        blocks.append({"type": "actions", "block_id": "candidates", "elements": elements})
    return blocks


def build_result_blocks(result: Any, *, share_id: str | None = None) -> list[Block]:
    """Any CommandResult as blocks; with `share_id` (the saved copy of a private result) a 'Share in channel'."""
    kind = result.kind
    if kind == "usage":
        return build_usage_blocks(result.message)
    if kind == "candidates":
        return build_candidates_blocks(result.command, result.text, result.resolution)
    builders = {
        "answer": lambda p: build_answer_blocks(p, question=result.text, with_feedback=True),
        "brief": build_brief_blocks,
        "draft": build_draft_blocks,
        "triage": lambda p: build_triage_blocks(p, account=result.account_name or result.text),
        "campaign": build_campaign_blocks,
    }
    blocks = builders[kind](result.payload)
    extra: list[Block] = []
    if share_id:
        extra.append(share_actions(share_id))
    if kind != "answer":
        extra.append(feedback_actions(kind, f"/{result.command} {result.text}"))
    return limit(blocks + extra, keep_last=len(extra)) if extra else limit(blocks)


def fallback_text(result: Any) -> str:
    """The notification text of a message (plain, escaped)."""
    kind = result.kind
    if kind in ("usage", "candidates"):
        return escape(result.message)
    if kind == "answer":
        return escape(truncate(result.payload.text, 300))
    return escape(f"/{result.command} {result.text}".strip())


def build_home_view() -> dict[str, Any]:
    lines = [
        "*Ask me in a DM, in the assistant pane, or @mention me in a channel* — I answer from our CRM and sales "
        "content, with numbered sources, and say so when I don't know.",
        "*Slash commands* (results are private to you until you share them):",
        "• `/ask QUESTION` — a grounded answer with sources",
        "• `/brief ACCOUNT` — deals, activity, buying committee, coverage gaps, next steps",
        "• `/draft ACCOUNT [--contact NAME | --persona TITLE]` — business-impact outreach to a senior stakeholder",
        "• `/leads ACCOUNT` — who to pursue, nurture or not chase, and the bottom-up move",
        "• `/campaign PERSONA [--industry X] [--touches N]` — a top-down outbound sequence for marketing",
        "_Buyers do most of their research alone: lead with their business, not our features. "
        "A high score from a junior title is activity, not progress._",
    ]
    return {"type": "home", "blocks": [header("Revenue assistant")] + section("\n".join(lines))}


def build_refusal_blocks(message: str) -> list[Block]:
    return section(escape(message))



# ---------------------------------------------------------------- digests and alerts

DIGEST_OPEN = "digest_open"  # a digest or alert line's button (suffixed _<n>): the brief or a draft, privately
DIGEST_SUBSCRIPTIONS = "digest_subscriptions"  # App Home checkboxes: the digest, alerts by DM
DIGEST_HEADINGS = {
    "no_executive": "No executive or budget owner engaged, juniors active",
    "trigger": "New trigger events",
    "stalled_opportunity": "Stalled opportunities",
    "overdue_opportunity": "Past their close date",
    "junior_hot_lead": "Junior hot leads (activity, not buying power)",
}
DIGEST_BUTTONS = {"brief": "Open brief", "draft": "Draft outreach"}
SUBSCRIPTION_OPTIONS = {
    "digest": "Digest by DM: what changed on my accounts",
    "alert:senior_lead": "Alert me by DM: a new senior lead (VP and above, buying function) on my accounts",
    "alert:trigger": "Alert me by DM: a new trigger event at my accounts with an open opportunity",
}
_CHANNEL_ID = re.compile(r"[CG][A-Z0-9]{2,}")


def _open_button(command: str | None, account_id: str, account: str, index: int) -> Block | None:
    if command not in DIGEST_BUTTONS or not account_id:
        return None
    value = button_value({"command": command, "account_id": account_id, "text": account})
    return button(DIGEST_BUTTONS[command], f"{DIGEST_OPEN}_{index}", value)


def _line(text: str, accessory: Block | None) -> Block:
    block: Block = {"type": "section", "text": {"type": "mrkdwn", "text": truncate(text, SECTION_LIMIT - 100)}}
    if accessory:
        block["accessory"] = accessory
    return block


def digest_fallback_text(digest: Any) -> str:
    """The notification text of a digest DM (plain, escaped)."""
    accounts = len({item.account_id for item in digest.items})
    return escape(f"Your digest: {len(digest.items)} thing(s) to look at on {accounts} account(s).")


def build_digest_blocks(digest: Any, *, as_of: str, max_items: int = 30, command_hint: str = "",
                        cadence: str | None = None) -> list[Block]:
    """One compact message: a heading per kind, one line per item with a button that opens the brief or a draft.
    At most `max_items` lines (at most 40, so the message stays under Slack's 50 blocks); the rest is counted.
    `cadence`: "weekly" and the like, from DIGEST_CRON; None (a digest sent by hand) says "digest" alone."""
    max_items = max(1, min(max_items, 40))
    since = digest.since.isoformat() if hasattr(digest.since, "isoformat") else str(digest.since)
    blocks: list[Block] = [header(f"Your {cadence} digest: {as_of}" if cadence else f"Your digest: {as_of}"), context(
        f"What changed on your accounts since {escape(since)}, judged as of {escape(as_of)}. Each button opens the "
        "full brief or a draft, only for you. Switch the digest off in my App Home.")]
    kinds: dict[str, list[Any]] = {}
    for item in digest.items:  # grouped by kind, in the order the kinds first appear
        kinds.setdefault(item.kind, []).append(item)
    shown = [item for group in kinds.values() for item in group][:max_items]
    kind = None
    for index, item in enumerate(shown):
        if item.kind != kind:
            kind = item.kind
            count = sum(1 for i in digest.items if i.kind == kind)
            blocks += section(f"*{DIGEST_HEADINGS.get(kind, kind)}* ({count})")
        blocks.append(_line(f"*{escape(item.account)}*: {escape(item.text)}",
                            _open_button(item.command, item.account_id, item.account, index)))
    if len(digest.items) > len(shown):
        rest = len(digest.items) - len(shown)
        hint = f" `{escape(command_hint)}` lists them all." if command_hint else ""
        blocks.append(context(f"…and {rest} more line(s).{hint}"))
    return limit(blocks)


ALERT_HEADINGS = {"senior_lead": "🎯 New senior lead", "trigger": "⚡ New trigger at an account with an open deal"}


def build_alert_blocks(alert: Any, *, owner: str | None = None, index: int = 0) -> list[Block]:
    """A channel (or DM) alert; `owner` is a Slack user id to mention, else the owner's name is written out."""
    who = ""
    if owner and re.fullmatch(r"[UW][A-Z0-9]+", owner):
        who = f" Owner: <@{owner}>."
    elif alert.owner is not None and alert.owner.label:
        who = f" Owner: {escape(alert.owner.label)}."
    text = f"*{ALERT_HEADINGS.get(alert.kind, alert.kind)}*\n{escape(alert.text)}{who}"
    return [_line(text, _open_button(alert.command, alert.account_id, alert.account, index))]


def build_alerts_blocks(alerts: list[Any], *, owners: dict[str, str] | None = None) -> list[Block]:
    """Several alerts in one message (a channel gets one post for a batch, not one per alert): one line each.
    `owners`: alert key -> the owner's Slack user id to mention."""
    owners = owners or {}
    blocks: list[Block] = []
    for index, alert in enumerate(alerts[:40]):
        blocks += build_alert_blocks(alert, owner=owners.get(alert.key), index=index)
    return limit(blocks)


def alert_fallback_text(alerts: Any) -> str:
    alerts = alerts if isinstance(alerts, list) else [alerts]
    if len(alerts) == 1:
        return escape(truncate(alerts[0].text, 300))
    return escape(f"{len(alerts)} new alerts on accounts: senior leads and trigger events.")


def build_subscription_blocks(subscription: dict[str, Any], *, schedule: str | None,
                              alert_channel: str | None) -> list[Block]:
    """App Home: this user's switches. `subscription` is {"digest": bool, "alerts": [kinds]}."""
    if schedule:
        when = f"Digests are sent on the schedule `{escape(schedule)}` (server time)."
    else:
        when = "Scheduled digests are off in this workspace (no DIGEST_CRON); an admin can still send one."
    if alert_channel:
        where = f"<#{alert_channel}>" if _CHANNEL_ID.fullmatch(alert_channel) else escape(alert_channel)
        when += f" Team alerts go to {where}."
    elif not schedule:
        when += " Alerts are off too: your choices are kept for when they are switched on."
    selected = {"digest"} if subscription.get("digest", True) else set()
    selected |= {f"alert:{kind}" for kind in subscription.get("alerts") or ()}
    options = [{"text": {"type": "plain_text", "text": text}, "value": value}
               for value, text in SUBSCRIPTION_OPTIONS.items()]
    checkboxes: Block = {"type": "checkboxes", "action_id": DIGEST_SUBSCRIPTIONS, "options": options}
    initial = [option for option in options if option["value"] in selected]
    if initial:  # Slack rejects an empty initial_options
        checkboxes["initial_options"] = initial
    return [{"type": "divider"}, header("Your digests and alerts"), *section(when),
            {"type": "actions", "block_id": "digest_subscriptions", "elements": [checkboxes]},
            context("Digests and alerts carry CRM data: they go only to full members of the workspace, "
                    "for the accounts the CRM says they own.")]
