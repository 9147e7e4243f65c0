"""Proactive digests and alerts: what changed on each owner's accounts, before they ask. No Slack types here.

A digest gathers, for every account owner, the lines a sales manager would nudge them about:
- `no_executive`: nobody with budget authority (an executive, a VP, a director in a buying function) engaged in the
  engagement window while juniors are active, with the bottom-up move (the brief's wording);
- `trigger`: trigger events dated since the owner's last digest;
- `stalled_opportunity` / `overdue_opportunity`: an open deal with no activity for `digest.stalled_days`, or
  past its close date;
- `junior_hot_lead`: a junior lead or contact hot since the last digest, judged not worth chasing, with the
  next move.
Alerts are for a channel: a new senior lead (VP and above in one of the profile's buying functions) or a new
trigger at an account with an open opportunity. Thresholds and "new" come from the seller profile's `digest`.

Every record is read from the store once (`load_snapshot`), so a digest for thousands of accounts costs one pass.
Owners come from the users/owners export (role `owner`); records point at them by id, email or name. Who an owner
is in Slack, and the sending, belong to the Slack layer: it passes a `Matcher` in and reads `DigestState` out.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from bot.knowledge.accounts import fold
from bot.knowledge.crm import age_in_days
from bot.knowledge.ledger import DAY, Ledger
from bot.knowledge.records import format_amount, owner_is_active
from bot.knowledge.retrieval import Hit
from bot.profile import join_words
from bot.services.briefs import Member, build_committee, no_executive_engaged, senior_target
from bot.services.context import Context
from bot.services.relationship import deal_state
from bot.services.signals import Trigger, find_triggers
from bot.services.triage import Lead, engagement_of, triage_account
from bot.wording import count_noun

logger = logging.getLogger(__name__)

KINDS = ("no_executive", "trigger", "stalled_opportunity", "overdue_opportunity", "junior_hot_lead")
ALERT_KINDS = ("senior_lead", "trigger")
# What each line's button opens: the draft to the senior person, or the account's full brief.
COMMANDS = {"no_executive": "draft", "trigger": "draft", "stalled_opportunity": "brief",
            "overdue_opportunity": "brief", "junior_hot_lead": "brief", "senior_lead": "brief"}
SENIOR_LEVELS = ("executive", "vp")  # "a senior lead": VP and above (in a buying function)

STATE_TTL = 3 * 365 * DAY  # subscriptions and the sent-log outlive the 7-day ledger of Slack events
PERSON_TTL = 30 * DAY  # an email's Slack user, once found
NO_PERSON_TTL = DAY  # an email with no Slack user: asked again the next day (a new hire joins Slack)
# Records read per Chroma call: 150k records take 17 s in pages of 10,000 and 51 s in pages of 1,000 (each page
# re-walks the filter); one call for all fails past SQLite's 32,766 variables.
SCAN_PAGE = 10_000


# ---------------------------------------------------------------- the CRM, read once

@dataclass(frozen=True)
class Row(Hit):
    """A stored CRM record with its JSON parsed once (`Hit.record` parses it on every read)."""

    data: dict[str, Any] = field(default_factory=dict)

    @property
    def record(self) -> dict[str, Any]:
        return self.data


@dataclass
class AccountRecords:
    id: str
    account: Row | None = None
    rows: dict[str, list[Row]] = field(default_factory=dict)  # by record type

    @property
    def name(self) -> str:
        return str(self.account.record.get("name") or self.id) if self.account else self.id

    def of(self, kind: str) -> list[Row]:
        return self.rows.get(kind, [])

    def all(self) -> list[Row]:
        return [row for rows in self.rows.values() for row in rows]


@dataclass
class Snapshot:
    accounts: dict[str, AccountRecords] = field(default_factory=dict)
    owners: list[Row] = field(default_factory=list)
    unlinked_leads: list[Row] = field(default_factory=list)  # marketing leads at no known account


def load_snapshot(store: Any) -> Snapshot:
    """Every CRM record in the store, grouped by account: one paged read of the metadata (no vectors)."""
    snapshot = Snapshot()
    for chunk_id, _, meta in store.scan({"kind": "crm"}, include=["metadatas"], page=SCAN_PAGE):
        if not meta:
            continue
        kind = str(meta.get("type") or "")
        try:
            data = json.loads(str(meta.get("data") or "{}"))
        except json.JSONDecodeError:
            continue
        row = Row(chunk_id, "", meta, 1.0, data)
        if kind == "owner":
            snapshot.owners.append(row)
            continue
        account_id = str(meta.get("account_id") or "")
        if not account_id:
            if kind == "lead":
                snapshot.unlinked_leads.append(row)
            continue
        entry = snapshot.accounts.get(account_id)
        if entry is None:
            entry = snapshot.accounts[account_id] = AccountRecords(account_id)
        if kind == "account":
            entry.account = row
        else:
            entry.rows.setdefault(kind, []).append(row)
    return snapshot


# ---------------------------------------------------------------- owners

_ID_LIKE = re.compile(r"[\w-]*\d[\w-]*")


@dataclass(frozen=True)
class Owner:
    id: str
    name: str
    email: str
    active: bool = True
    listed: bool = True  # in the users/owners export, not only named on a record

    @property
    def key(self) -> str:
        """One person across CRMs: a Salesforce user and a HubSpot owner with the same email are one owner."""
        if self.email:
            return self.email.lower()
        if self.id:
            return f"id:{self.id}"
        return f"name:{fold(self.name)}"

    @property
    def label(self) -> str:
        return self.name or self.email or self.id

    def as_dict(self, slack_user: str | None = None) -> dict[str, Any]:
        return {"id": self.id or None, "name": self.name or None, "email": self.email or None,
                "slack_user": slack_user}


class OwnerBook:
    """The users/owners export, and what records call its people: an id, an email or a name."""

    def __init__(self, rows: Iterable[Row]):
        self.owners: dict[str, Owner] = {}
        self._index: dict[str, Owner] = {}
        for row in rows:
            record = row.record
            email = str(record.get("email") or "").strip()
            owner = Owner(str(record.get("id") or ""), str(record.get("name") or ""), email,
                          owner_is_active(record))
            kept = self.owners.setdefault(owner.key, owner)  # the same email twice: the first row speaks for both
            for reference in (owner.id, email.lower(), fold(owner.name)):
                if reference:
                    self._index.setdefault(reference, kept)

    def resolve(self, reference: object) -> Owner | None:
        text = str(reference or "").strip()
        if not text:
            return None
        found = self._index.get(text) or self._index.get(text.lower()) or self._index.get(fold(text))
        if found is not None:
            return found
        # named on a record but not in the users/owners export: still someone to report
        if "@" in text:
            unlisted = Owner("", "", text, listed=False)
        elif " " not in text and _ID_LIKE.fullmatch(text):
            unlisted = Owner(text, "", "", listed=False)
        else:
            unlisted = Owner("", text, "", listed=False)
        owner = self.owners.setdefault(unlisted.key, unlisted)
        self._index[text] = owner
        return owner


def _owner_reference(record: dict[str, Any]) -> str:
    return str(record.get("owner_id") or record.get("owner") or "").strip()


def account_owner(entry: AccountRecords, book: OwnerBook, ctx: Context) -> Owner | None:
    """The account's own owner (OwnerId / HubSpot Owner / Owner), else whoever owns most of its open deals,
    else most of its deals."""
    if entry.account is not None:
        reference = _owner_reference(entry.account.record)
        if reference:
            return book.resolve(reference)
    deals = entry.of("opportunity")
    references = [_owner_reference(d.record) for d in deals if deal_state(d.record, ctx.profile) == "open"]
    references = [r for r in references if r] or [r for r in (_owner_reference(d.record) for d in deals) if r]
    return book.resolve(Counter(references).most_common(1)[0][0]) if references else None


# ---------------------------------------------------------------- digest lines

@dataclass
class Item:
    kind: str
    account: str
    account_id: str
    text: str
    sources: list[dict[str, Any]]
    date: str = ""  # what the line is about, for the newest first

    @property
    def command(self) -> str:
        return COMMANDS[self.kind]

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "account": self.account, "text": self.text, "sources": self.sources}


@dataclass(frozen=True)
class Match:
    """An owner's Slack user, or why there is none to send to."""

    slack_user: str | None
    reason: str | None = None


Matcher = Callable[[Sequence[Owner]], dict[str, Match]]
LastDigests = Callable[[Sequence[Owner]], dict[str, date]]  # owner key -> the as_of of their last digest


@dataclass
class OwnerDigest:
    owner: Owner
    items: list[Item]
    since: date  # the first day its lines cover
    slack_user: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"owner": self.owner.as_dict(self.slack_user), "items": [i.as_dict() for i in self.items]}


@dataclass
class DigestReport:
    as_of: date
    digests: list[OwnerDigest]
    unmatched: list[dict[str, Any]] = field(default_factory=list)
    unowned_accounts: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {"as_of": self.as_of.isoformat(), "digests": [d.as_dict() for d in self.digests if d.items],
                "unmatched_owners": self.unmatched}


def _within(value: object, since: date, today: date) -> bool:
    """A record's date inside [since, today]: new since the last digest and not in the future."""
    text = str(value or "")[:10]
    age = age_in_days(text, today) if len(text) == 10 else None
    return age is not None and 0 <= age <= (today - since).days


def _sources(rows: Iterable[Row | None]) -> list[dict[str, Any]]:
    seen: dict[str, dict[str, Any]] = {}
    for row in rows:
        if row is not None and row.ref not in seen:
            seen[row.ref] = row.source_info()
    return list(seen.values())


def _by_date(rows: Iterable[Row]) -> list[Row]:
    return sorted(rows, key=lambda r: str(r.record.get("date") or ""), reverse=True)


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


class _AccountView:
    """One account's lines, computed lazily (most accounts need only a few cheap checks)."""

    def __init__(self, entry: AccountRecords, ctx: Context):
        self.entry, self.ctx = entry, ctx
        self.profile = ctx.profile
        self.today = ctx.date
        self.activities = _by_date(entry.of("activity"))
        self.by_ref = {row.ref: row for row in entry.all()}
        self._committee: list[Member] | None = None

    @property
    def committee(self) -> list[Member]:
        if self._committee is None:
            contacts: list[Hit] = list(self.entry.of("contact"))
            self._committee = build_committee(contacts, list[Hit](self.activities), self.ctx)
        return self._committee

    def item(self, kind: str, text: str, rows: Iterable[Row | None], day: str) -> Item:
        rows = list(rows)
        if self.entry.account is not None:
            rows.insert(0, self.entry.account)
        return Item(kind, self.entry.name, self.entry.id, text, _sources(rows), day)

    def recent_triggers(self, since: date) -> list[Trigger]:
        """Trigger events dated since `since` (the digest's "new", the alerts' too)."""
        recent = [a for a in self.activities if _within(a.record.get("date"), since, self.today)]
        return find_triggers(recent, profile=self.profile, today=self.today) if recent else []

    def new_triggers(self, since: date) -> list[Item]:
        items = []
        for trigger in self.recent_triggers(since):
            text = self.ctx.say("digest", "trigger", label=_capital(trigger.phrase), date=trigger.date,
                                    sentence=trigger.sentence)
            items.append(self.item("trigger", text, [self.by_ref.get(trigger.ref)], trigger.date))
        return items

    def no_executive(self) -> Item | None:
        """The brief's own "no executive engaged" (`no_executive_engaged`), when juniors are active."""
        committee = self.committee
        active = no_executive_engaged(committee)
        if not active:
            return None
        window = self.profile.engagement.window_days
        triggers = find_triggers(self.activities, profile=self.profile, today=self.today)
        target, _ = senior_target(committee, triggers, self.profile, prefer_unengaged=True)
        # the broker, as in the brief's next steps: the most senior engaged person, then the most active
        broker = sorted((m for m in committee if m.engaged),
                        key=lambda m: (-m.info.seniority, -m.touches))[0]
        senior = f" to {target.label()}" if target else f" to {self.profile.economic_buyer_roles()}"
        move = self.ctx.say("brief", "step_bottom_up", broker=broker.label(),
                            activities=count_noun(broker.touches, "two-way contact"), window=window, senior=senior)
        labels = [m.label() for m in active]
        shown = labels[:3] + ([f"{len(labels) - 3} more"] if len(labels) > 3 else [])
        text = self.ctx.say("digest", "no_executive", window=window, people=join_words(shown),
                                be="is" if len(active) == 1 else "are", move=move)
        last = max((m.last_touch or "" for m in active), default="")
        return self.item("no_executive", text, [self.by_ref.get(m.ref) for m in active], last)

    def deal_items(self) -> list[tuple[Item, Row]]:
        """(line, deal) for each open deal past its close date or with no activity for `stalled_days`."""
        profile, today = self.profile, self.today
        deals = [d for d in self.entry.of("opportunity") if deal_state(d.record, profile) == "open"]
        if not deals:
            return []
        touches = [a for a in self.activities if not profile.engagement.is_marketing(str(a.record.get("type") or ""))
                   and (age_in_days(str(a.record.get("date") or ""), today) or 0) >= 0]
        found = []
        for deal in deals:
            record = deal.record
            name, stage = record.get("name"), record.get("stage") or "no stage"
            amount = format_amount(record.get("amount"), missing="no amount")
            overdue = age_in_days(str(record.get("close_date") or ""), today)
            if overdue is not None and overdue > 0:
                text = self.ctx.say("digest", "overdue_opportunity", deal=name, stage=stage, amount=amount,
                                        close=record.get("close_date"), days=overdue)
                found.append((self.item("overdue_opportunity", text, [deal], str(record.get("close_date"))), deal))
                continue
            # activity logged on the deal itself (a Salesforce task's WhatId), else anywhere at the account
            own = [a for a in touches if str(a.record.get("account_id") or "") == str(record.get("id") or "")]
            last = (own or touches)[0] if (own or touches) else None
            if last is None:
                text = self.ctx.say("digest", "stalled_opportunity_never", deal=name, stage=stage, amount=amount)
                found.append((self.item("stalled_opportunity", text, [deal], ""), deal))
                continue
            days = age_in_days(str(last.record.get("date") or ""), today)
            if days is not None and days > profile.digest.stalled_days:
                text = self.ctx.say("digest", "stalled_opportunity", deal=name, stage=stage, amount=amount, days=days,
                                        last=last.record.get("date"))
                found.append((self.item("stalled_opportunity", text, [deal, last], str(last.record.get("date"))),
                              deal))
        return found

    def junior_hot_leads(self, since: date) -> list[Item]:
        """Junior leads and contacts hot since `since` whom the account's triage judges not worth chasing."""
        # a lead's last activity is its own date, a contact's the newest of its activities: nothing dated since
        # `since` means nobody can be newly hot, and the account's triage is not run at all
        if not any(_within(a.record.get("date"), since, self.today) for a in self.activities) and \
                not any(_within(r.record.get("last_activity"), since, self.today) for r in self.entry.of("lead")):
            return []
        triage = triage_account(None, self.entry.id, self.entry.name, self.ctx, records=self.entry.all())
        items = []
        for verdict in triage.verdicts:
            lead = verdict.lead
            if verdict.verdict != "not_worth_chasing" or verdict.title.level != "junior" \
                    or verdict.engagement != "hot" or not _within(lead.last_activity, since, self.today):
                continue
            _, figures = engagement_of(lead, self.today, self.profile)
            text = self.ctx.say("digest", "junior_hot_lead", name=lead.name, title=lead.title or "no title",
                                    engagement=verdict.engagement, figures=figures, next_move=verdict.next_move)
            items.append(self.item("junior_hot_lead", text, [self.by_ref.get(lead.ref)], str(lead.last_activity)))
        return items


def _wanted(owner: Owner | None, only: str | None) -> bool:
    return only is None or (owner is not None and owner.email.lower() == only)


def build_digests(snapshot: Snapshot, ctx: Context, *, last_digests: LastDigests | None = None,
                  only: str | None = None, match: Matcher | None = None) -> DigestReport:
    """Each owner's lines. `last_digests(owners)`: the as_of of each one's last digest by owner key, asked once for
    every account owner (missing: `lookback_days` back). `only`: one owner's email. `match`: owners to Slack users
    (None: no Slack, `slack_user` stays null)."""
    started = time.monotonic()
    profile, today = ctx.profile, ctx.date
    book = OwnerBook(snapshot.owners)
    default_since = today - timedelta(days=profile.digest.lookback_days - 1)
    only = only.strip().lower() if only else None
    accounts = [(entry, account_owner(entry, book, ctx)) for entry in snapshot.accounts.values()
                if entry.account is not None]  # records linked to an account the exports do not hold: skipped
    account_owners = list({o.key: o for _, o in accounts if o is not None and _wanted(o, only)}.values())
    lasts = last_digests(account_owners) if last_digests and account_owners else {}
    sinces = {key: min(last, today) for key, last in lasts.items()}

    items: dict[str, list[Item]] = {}
    owned: Counter[str] = Counter()
    people: dict[str, Owner] = {}
    unowned: list[str] = []
    for entry, owner in accounts:
        view = _AccountView(entry, ctx)
        # a deal's lines go to the deal's owner, the account's lines to the account's
        lines: list[tuple[Item, Owner | None]] = [
            (item, book.resolve(_owner_reference(deal.record)) or owner) for item, deal in view.deal_items()]
        if owner is None:
            if only is None:
                unowned.append(entry.name)
        elif _wanted(owner, only):
            owned[owner.key] += 1
            people[owner.key] = owner
            account_since = sinces.get(owner.key, default_since)
            lines += [(item, owner) for item in view.new_triggers(account_since)]
            lines += [(item, owner) for item in view.junior_hot_leads(account_since)]
            gap = view.no_executive()
            if gap is not None:
                lines.append((gap, owner))
        for item, to in lines:
            if to is not None and _wanted(to, only):
                people.setdefault(to.key, to)
                items.setdefault(to.key, []).append(item)

    asked = {o.key for o in account_owners}
    deal_owners = [o for key, o in people.items() if key not in asked]  # owning deals only: asked now
    if last_digests and deal_owners:
        sinces.update({key: min(last, today) for key, last in last_digests(deal_owners).items()})
    order = {kind: rank for rank, kind in enumerate(KINDS)}
    unmatched: list[dict[str, Any]] = []
    slack: dict[str, Match] = {}
    sendable = [o for o in people.values() if o.listed and o.active and o.email]
    if match is not None and sendable:
        slack = match(sendable)
    digests = []
    for key, owner in sorted(people.items(), key=lambda kv: (kv[1].label.lower(), kv[0])):
        reason = _unsendable(owner)
        found = slack.get(key)
        if reason is None and found is not None:
            reason = found.reason if found.slack_user is None else None
        if reason:
            unmatched.append({"id": owner.id or None, "name": owner.name or None, "email": owner.email or None,
                              "reason": reason, "accounts": owned.get(key, 0)})
        ordered = sorted(items.get(key, []), key=lambda i: (order[i.kind], _newest_first(i.date), i.account))
        digests.append(OwnerDigest(owner, ordered, sinces.get(key, default_since),
                                   found.slack_user if found is not None else None))
    return DigestReport(today, digests, unmatched, sorted(set(unowned)), time.monotonic() - started)


def _newest_first(day: str) -> str:
    # ISO dates sort as text: invert each digit so the newest comes first and an empty date last
    return "".join(chr(ord("9") - int(c) + ord("0")) if c.isdigit() else c for c in day) if day else "~"


def _unsendable(owner: Owner) -> str | None:
    if not owner.listed:
        return "named on CRM records but not in the users/owners export"
    if not owner.active:
        return "inactive in the CRM: their accounts need a new owner"
    if not owner.email:
        return "no email in the users/owners export"
    return None


# ---------------------------------------------------------------- alerts

@dataclass
class Alert:
    kind: str  # senior_lead | trigger
    key: str  # the alert's identity: sent once per destination, whatever replica or run finds it
    account: str
    account_id: str
    text: str
    sources: list[dict[str, Any]]
    owner: Owner | None
    date: str = ""

    @property
    def command(self) -> str | None:
        return COMMANDS[self.kind] if self.account_id else None  # a lead at no known account: nothing to open



def find_alerts(snapshot: Snapshot, ctx: Context, *, since: date) -> list[Alert]:
    """Senior leads (VP and above in a buying function) active since `since`, and triggers dated since `since` at
    accounts with an open opportunity. Sent once each: the caller claims `alert.key` before sending."""
    profile, today = ctx.profile, ctx.date
    book = OwnerBook(snapshot.owners)
    alerts: list[Alert] = []

    def senior_lead(row: Row, entry: AccountRecords | None, owner: Owner | None) -> None:
        record = row.record
        if not _within(record.get("last_activity"), since, today):
            return
        info = profile.titles.read(str(record.get("title") or ""))
        if info.level not in SENIOR_LEVELS or not profile.is_buying_function(info.function):
            return
        account = entry.name if entry else str(record.get("company") or "an unknown company")
        lead = Lead.from_record(record, account_id=entry.id if entry else None, account_name=account)
        _, figures = engagement_of(lead, today, profile)
        text = ctx.say("digest", "alert_senior_lead", account=account, name=lead.name, title=lead.title,
                           level=info.level, function=info.function.replace("_", " "), figures=figures)
        rows: list[Row | None] = [entry.account if entry else None, row]
        alerts.append(Alert("senior_lead", f"senior_lead:{row.ref}", account, entry.id if entry else "", text,
                            _sources(rows), owner, str(record.get("last_activity") or "")))

    for entry in snapshot.accounts.values():
        if entry.account is None:
            continue
        owner = account_owner(entry, book, ctx)
        for row in entry.of("lead"):
            senior_lead(row, entry, owner)
        open_deals = [d for d in entry.of("opportunity") if deal_state(d.record, profile) == "open"]
        if not open_deals:
            continue
        view = _AccountView(entry, ctx)
        deal = sorted(open_deals, key=lambda d: str(d.record.get("close_date") or "9999"))[0].record
        for trigger in view.recent_triggers(since):
            text = ctx.say("digest", "alert_trigger", account=entry.name, deal=deal.get("name"),
                               stage=deal.get("stage") or "no stage", label=_capital(trigger.phrase),
                               date=trigger.date, sentence=trigger.sentence)
            alerts.append(Alert("trigger", f"trigger:{trigger.ref}:{trigger.kind}", entry.name, entry.id, text,
                                _sources([entry.account, view.by_ref.get(trigger.ref)]), owner, trigger.date))
    for row in snapshot.unlinked_leads:
        senior_lead(row, None, None)
    return sorted(alerts, key=lambda a: (a.date, a.key))


# ---------------------------------------------------------------- state shared by every replica

@dataclass(frozen=True)
class Subscription:
    """A Slack user's choices in App Home: the digest (on unless switched off) and alerts by DM."""

    digest: bool = True
    alerts: frozenset[str] = frozenset()

    def as_dict(self) -> dict[str, Any]:
        return {"digest": self.digest, "alerts": sorted(self.alerts)}

    @classmethod
    def from_dict(cls, value: dict[str, Any] | None) -> "Subscription":
        if not value:
            return cls()
        return cls(bool(value.get("digest", True)),
                   frozenset(k for k in value.get("alerts") or () if k in ALERT_KINDS))


class DigestState:
    """Subscriptions, the sent-log and the Slack-user cache in a ledger beside the knowledge, so every replica
    sees the same: a digest or an alert is claimed (written) before it is sent, and only the claimer sends.

    A collection of its own (`<prefix>_digest_ledger`) with a long life: the event ledger's week would forget an
    opt-out or a sent alert."""

    def __init__(self, client: Any, prefix: str):
        self.ledger = Ledger(client, f"{prefix}_digest", ttl=STATE_TTL)

    @classmethod
    def for_services(cls, services: Any) -> "DigestState":
        return cls(lambda: services.store.client, services.settings.collection_prefix)

    def subscription(self, user: str) -> Subscription:
        return self.subscriptions([user])[user]

    def subscriptions(self, users: Sequence[str]) -> dict[str, Subscription]:
        """Each user's switches, in one read."""
        found = self.ledger.get_many([f"sub:{user}" for user in dict.fromkeys(users)])
        return {user: Subscription.from_dict(found.get(f"sub:{user}")) for user in users}

    def subscribe(self, user: str, subscription: Subscription) -> None:
        self.ledger.put(f"sub:{user}", subscription.as_dict())

    def claim(self, key: str) -> bool:
        """True for exactly one caller across every replica: the one that sends."""
        return self.ledger.claim(f"sent:{key}")

    def claim_run(self, period: str) -> bool:
        """True for the one replica that computes and sends the digests of `period`; the others skip the run."""
        return self.ledger.claim(f"digest:run:{period}")

    def last_digests(self, owners: Sequence[Owner]) -> dict[str, date]:
        """The as_of of each owner's last digest (by owner key), in one read; owners never sent one are left out."""
        found = self.ledger.get_many([f"last:{owner.key}" for owner in owners])
        lasts = {}
        for owner in owners:
            entry = found.get(f"last:{owner.key}")
            try:
                if entry:
                    lasts[owner.key] = date.fromisoformat(str(entry["as_of"]))
            except (KeyError, ValueError):
                continue
        return lasts

    def record_digests(self, owners: Sequence[Owner], as_of: date) -> None:
        self.ledger.put_many({f"last:{owner.key}": {"as_of": as_of.isoformat()} for owner in owners})

    def last_alert_scan(self) -> date | None:
        found = self.ledger.get("alerts:last")
        try:
            return date.fromisoformat(str(found["as_of"])) if found else None
        except (KeyError, ValueError):
            return None

    def record_alert_scan(self, as_of: date) -> None:
        self.ledger.put("alerts:last", {"as_of": as_of.isoformat()})

    def cached_people(self, emails: Sequence[str]) -> dict[str, dict[str, Any]]:
        """What Slack said about these emails (by lower-case email), those still fresh, in one read."""
        keys = {email.lower(): f"person:{email.lower()}" for email in emails}
        found = self.ledger.get_many(list(keys.values()))
        now, fresh = time.time(), {}
        for email, key in keys.items():
            entry = found.get(key)
            if entry and now - float(entry.get("at") or 0) < (PERSON_TTL if entry.get("user") else NO_PERSON_TTL):
                fresh[email] = entry
        return fresh

    def cache_people(self, entries: dict[str, dict[str, Any]]) -> None:
        now = time.time()
        self.ledger.put_many({f"person:{email.lower()}": {**entry, "at": now} for email, entry in entries.items()})

    def forget_person(self, email: str) -> None:
        self.ledger.put(f"person:{email.lower()}", {"at": 0})
