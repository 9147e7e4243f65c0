"""Digests and alerts in Slack: owners matched to Slack users, the digest DM, channel alerts, the schedule inside
`serve`, and the buttons and App Home switches that go with them.

What to say comes from `bot.services.digest`; this module decides who may receive it and sends it:
- an owner's Slack user is found by email (`users.lookupByEmail`; `users.list` once when many owners are new),
  cached in the shared ledger (30 days when found, a day when not); a failed lookup leaves the owner unmatched;
- a digest goes only to a full member (guests never receive CRM data), who has not switched it off in App Home,
  and only once per user and period: the sent-log entry is claimed before sending, so with several replicas
  exactly one sends (and they share the work);
- every call is paced (chat.postMessage: one per second per channel, a few per second overall); a 429 waits its
  Retry-After before the same call is tried again (slack_sdk's RateLimitErrorRetryHandler, counted).
"""

from __future__ import annotations

import functools
import logging
import re
import shlex
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler

from bot.blocks import (
    DIGEST_OPEN,
    DIGEST_SUBSCRIPTIONS,
    alert_fallback_text,
    build_alerts_blocks,
    build_digest_blocks,
    digest_fallback_text,
    read_button_value,
)
from bot.listeners.buttons import refused, rerun
from bot.listeners.guard import CACHE_SECONDS, Guard
from bot.services.digest import (
    ALERT_KINDS,
    Alert,
    DigestReport,
    DigestState,
    Match,
    Owner,
    Snapshot,
    Subscription,
    build_digests,
    find_alerts,
    load_snapshot,
)
from bot.settings import Settings

logger = logging.getLogger(__name__)

# Seconds between two calls of a method (Slack's tiers: postMessage a few per second per workspace and one per
# second per channel; lookupByEmail tier 3, 50+/min; users.list tier 2, 20+/min; users.info tier 4, 100+/min).
GAPS = {"chat_postMessage": 0.2, "users_lookupByEmail": 1.2, "users_list": 3.0, "users_info": 0.6,
        "conversations_info": 0.6}
PER_CHANNEL = 1.0
RETRIES = 4  # a 429 waits its Retry-After this many times before the call is given up (slack_sdk's handler)
ALERTS_PER_MESSAGE = 10  # alerts found together go out together: one channel post per ten, not one each
BULK_LOOKUP = 25  # more owners than this to look up: one pass over users.list instead of one call each
TICK = 20.0  # seconds between two looks at the clock in the scheduler
ALERT_EVERY = 300.0  # seconds between two alert scans (only when the store changed)
GUEST = "a guest in Slack: digests and alerts carry CRM data, so none is sent"  # an owner's unmatched reason
NOT_FOUND = "no Slack user with this email"


def proactive_client(settings: Settings) -> WebClient:
    """The app's Web API client (bot.app.build_client: a dropped connection and a 429 are tried again); a Sender
    given it takes over its 429 handling to count the waits."""
    from bot.app import build_client

    return build_client(settings)


# ---------------------------------------------------------------- pacing and 429s

class CountedRateLimitRetry(RateLimitErrorRetryHandler):
    """slack_sdk's own 429 handling (wait the Retry-After, make the same call again), counted for the report."""

    def __init__(self, max_retry_count: int):
        super().__init__(max_retry_count=max_retry_count)
        self.count = 0
        self._lock = threading.Lock()

    def prepare_for_next_attempt(self, **kwargs: Any) -> None:
        with self._lock:
            self.count += 1
        logger.info("rate-limited (HTTP 429): waiting the Retry-After Slack gave, then calling again")
        super().prepare_for_next_attempt(**kwargs)


class Sender:
    """Web API calls paced per method, and per channel for messages (Slack's one message per second per channel);
    a 429 is waited out and tried again by slack_sdk's RateLimitErrorRetryHandler, which the Sender installs on
    the client it is given (replacing one already there) so it can count them. Thread-safe."""

    def __init__(self, client: Any, *, gaps: dict[str, float] | None = None, per_channel: float = PER_CHANNEL,
                 retries: int = RETRIES, stop: threading.Event | None = None):
        self.client = client
        self.gaps = {**GAPS, **(gaps or {})}
        self.per_channel = per_channel
        self.stop = stop
        self.retry = CountedRateLimitRetry(retries)
        handlers = [h for h in getattr(client, "retry_handlers", None) or []
                    if not isinstance(h, RateLimitErrorRetryHandler)]
        client.retry_handlers = [*handlers, self.retry]
        self.calls = 0
        self._next: dict[str, float] = {}
        self._channels: dict[str, float] = {}
        self._lock = threading.Lock()

    @property
    def rate_limited(self) -> int:
        """429s received and waited out (a last one given up on included)."""
        return self.retry.count

    def _turn(self, method: str, channel: str | None) -> None:
        with self._lock:
            now = time.monotonic()
            at = max(now, self._next.get(method, 0.0), self._channels.get(channel, 0.0) if channel else 0.0)
            self._next[method] = at + self.gaps.get(method, 0.0)
            if channel:
                self._channels[channel] = at + self.per_channel
        if at > now:
            if self.stop is not None:
                self.stop.wait(at - now)
            else:
                time.sleep(at - now)

    def call(self, method: str, **kwargs: Any) -> Any:
        channel = str(kwargs.get("channel")) if method == "chat_postMessage" and kwargs.get("channel") else None
        self._turn(method, channel)
        with self._lock:
            self.calls += 1
        return getattr(self.client, method)(**kwargs)

    def post(self, channel: str, text: str, blocks: list[dict[str, Any]]) -> str | None:
        """None when posted, else Slack's error (the message is not sent)."""
        try:
            self.call("chat_postMessage", channel=channel, text=text, blocks=blocks, unfurl_links=False,
                      unfurl_media=False)
        except SlackApiError as exc:
            return str(exc.response.get("error") or f"HTTP {getattr(exc.response, 'status_code', '?')}")
        except Exception as exc:  # a timeout, a refused connection: reported, the next one is tried
            return type(exc).__name__
        return None


class PacedClient:
    """The Web API through a Sender, for code that calls the client itself (Guard's users.info)."""

    def __init__(self, sender: Sender):
        self._sender = sender

    def __getattr__(self, method: str) -> Callable[..., Any]:
        return functools.partial(self._sender.call, method)


# ---------------------------------------------------------------- owners to Slack users

@dataclass
class Person:
    user: str | None
    guest: bool = False
    reason: str | None = None
    checked: float = 0.0  # when Slack said so (epoch seconds), here or on another replica; 0: unknown

    def fresh(self) -> bool:
        """Recent enough to stand for Guard's users.info check (Guard itself caches that long)."""
        return bool(self.checked) and time.time() - self.checked < CACHE_SECONDS

    def cacheable(self) -> dict[str, Any]:
        return {"user": self.user, "guest": self.guest, "reason": self.reason, "checked": self.checked}


class SlackPeople:
    """Owner emails to Slack users: the ledger's cache first, then Slack; every answer but a failure is cached.

    The cache is shared: an answer another replica got from Slack in the last few minutes is as good as asking
    (replicas sending the same digest run do not all page through users.list)."""

    def __init__(self, sender: Sender, state: DigestState, *, bulk_after: int = BULK_LOOKUP):
        self.sender = sender
        self.state = state
        self.bulk_after = bulk_after
        self.people: dict[str, Person] = {}  # by lower-case email, this run
        self._answers: dict[str, dict[str, Any]] = {}  # Slack's answers of this match, cached in one write

    def match(self, owners: Sequence[Owner]) -> dict[str, Match]:
        emails = list(dict.fromkeys(o.email.lower() for o in owners if o.email and o.email.lower() not in self.people))
        self._answers = {}
        unknown: list[tuple[str, Person | None]] = []  # not answered by Slack in the last few minutes
        try:
            cache = self.state.cached_people(emails) if emails else {}
        except Exception:
            logger.warning("could not read the Slack-user cache", exc_info=True)
            cache = {}
        for email in emails:
            cached = cache.get(email)
            known = Person(cached.get("user"), bool(cached.get("guest")), cached.get("reason"),
                           float(cached.get("checked") or 0.0)) if cached else None
            if known is not None and known.fresh():  # another replica asked Slack moments ago: its answer stands
                self.people[email] = known
            else:
                unknown.append((email, known))
        # many owners: one pass over users.list answers them all, fresh (guest or not) for the sending that follows
        members = self._directory() if len(unknown) > self.bulk_after else None
        for email, known in unknown:
            if members is not None:
                self._settle(email, self._person(members.get(email)))
            elif known is not None:
                self.people[email] = known  # cached: Guard checks the user again before anything is sent
            else:
                self._settle(email, self._lookup(email))
        try:
            self.state.cache_people(self._answers)  # one write for all of Slack's answers
        except Exception:
            logger.warning("could not cache Slack users", exc_info=True)
        found = {}
        for owner in owners:
            known = self.people.get(owner.email.lower())
            if known is None:
                continue
            sendable = known.user if known.user and not known.guest and not known.reason else None
            found[owner.key] = Match(sendable, None if sendable else (known.reason or NOT_FOUND))
        return found

    def _settle(self, email: str, person: Person) -> None:
        self.people[email] = person
        if person.checked:  # Slack's answer, not a failure: kept for next time
            self._answers[email] = person.cacheable()

    @staticmethod
    def _person(member: dict[str, Any] | None) -> Person:
        now = time.time()
        if not member:
            return Person(None, reason=NOT_FOUND, checked=now)
        user = str(member.get("id") or "") or None
        if member.get("deleted"):
            return Person(user, reason="deactivated in Slack", checked=now)
        if member.get("is_bot"):
            return Person(user, reason="the email belongs to a bot user in Slack", checked=now)
        if member.get("is_restricted") or member.get("is_ultra_restricted"):
            return Person(user, guest=True, reason=GUEST, checked=now)
        return Person(user, checked=now)

    def _lookup(self, email: str) -> Person:
        try:
            response = self.sender.call("users_lookupByEmail", email=email)
        except SlackApiError as exc:
            error = exc.response.get("error") if hasattr(exc.response, "get") else None
            if error == "users_not_found":
                return Person(None, reason=NOT_FOUND, checked=time.time())
            status = getattr(exc.response, "status_code", "?")
            logger.warning("users.lookupByEmail failed for an owner (%s, HTTP %s)", error, status)
            if error == "missing_scope":  # the app was installed without users:read.email
                error = "missing_scope: the Slack app needs the users:read.email scope"
            return Person(None, reason=f"Slack lookup failed ({error or f'HTTP {status}'}); tried again next run")
        except Exception as exc:
            logger.warning("users.lookupByEmail failed for an owner (%s)", type(exc).__name__)
            return Person(None, reason=f"Slack lookup failed ({type(exc).__name__}); tried again next run")
        return self._person(response.get("user"))

    def _directory(self) -> dict[str, dict[str, Any]] | None:
        """Every member's email through users.list (a few calls instead of one per owner); None when it fails."""
        members: dict[str, dict[str, Any]] = {}
        cursor = None
        try:
            while True:
                response = self.sender.call("users_list", limit=200, cursor=cursor)
                for member in response.get("members") or []:
                    email = str((member.get("profile") or {}).get("email") or "").lower()
                    if email and not (email in members and member.get("deleted")):
                        members[email] = member
                cursor = (response.get("response_metadata") or {}).get("next_cursor")
                if not cursor:
                    return members
        except Exception as exc:
            detail = exc.response.get("error") if isinstance(exc, SlackApiError) else type(exc).__name__
            logger.warning("users.list failed (%s): owners are taken from the cache or looked up one by one", detail)
            return None

    def tell(self, guard: Guard) -> None:
        """Hands Slack's answers (this run's, or another replica's through the ledger) to Guard, which takes them
        for its users.info check while they are fresh; older ones are checked again before anything is sent."""
        for person in self.people.values():
            if person.user and person.checked:
                guard.remember_guest(person.user, person.guest, checked=person.checked)


# ---------------------------------------------------------------- sending

@dataclass
class Delivery:
    sent: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[dict[str, Any]] = field(default_factory=list)
    rate_limited: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {"sent": self.sent, "skipped": self.skipped, "rate_limited": self.rate_limited}


def deliver_digests(report: DigestReport, *, sender: Sender, state: DigestState, guard: Guard, people: SlackPeople,
                    period: str, max_items: int, stop: threading.Event | None = None,
                    cadence: str | None = None) -> Delivery:
    """Each owner's digest as one DM: claimed in the sent-log (user and period) first, sent only by the claimer."""
    delivery = Delivery()
    client = PacedClient(sender)
    as_of = report.as_of.isoformat()
    before = sender.rate_limited
    done: list[Owner] = []  # whose "since" moves to this digest's date, written a few at a time
    subscriptions = state.subscriptions([d.slack_user for d in report.digests if d.items and d.slack_user])
    people.tell(guard)
    for digest in report.digests:
        if len(done) >= 25:
            state.record_digests(done, report.as_of)
            done = []
        if not digest.items:
            continue
        who = {"email": digest.owner.email or None, "name": digest.owner.label}
        if stop is not None and stop.is_set():
            delivery.skipped.append({**who, "reason": "stopping: left for the next run"})
            continue
        user = digest.slack_user
        if not user:
            delivery.skipped.append({**who, "reason": "no Slack user (see unmatched_owners)"})
            continue
        if not subscriptions[user].digest:
            delivery.skipped.append({**who, "reason": "switched off in App Home"})
            continue
        refused = guard.user_refusal(client, user)
        if refused:
            delivery.skipped.append({**who, "reason": refused})
            continue
        if not state.claim(f"digest:{user}:{period}"):
            delivery.skipped.append({**who, "reason": f"already sent for {period}"})
            continue
        error = sender.post(user, digest_fallback_text(digest),
                            build_digest_blocks(digest, as_of=as_of, max_items=max_items, cadence=cadence,
                                                command_hint=f"python -m bot digest --user {digest.owner.email}"))
        if error:
            logger.warning("digest for %s not sent: %s", user, error)
            if error in ("channel_not_found", "user_not_found", "account_inactive", "user_disabled"):
                state.forget_person(digest.owner.email)  # looked up again next time
            delivery.skipped.append({**who, "reason": f"Slack refused it ({error})"})
            continue
        done.append(digest.owner)
        delivery.sent.append({**who, "slack_user": user, "items": len(digest.items)})
    state.record_digests(done, report.as_of)
    delivery.rate_limited = sender.rate_limited - before
    return delivery


def _record(delivery: Delivery, what: dict[str, Any], error: str | None) -> None:
    if error:
        delivery.skipped.append({**what, "reason": f"Slack refused it ({error})"})
    else:
        delivery.sent.append(what)


def deliver_alerts(alerts: list[Alert], *, sender: Sender, state: DigestState, guard: Guard, people: SlackPeople,
                   channel: str | None, stop: threading.Event | None = None) -> Delivery:
    """Each alert once to the team's channel, and once by DM to its owner when they switched that kind on."""
    delivery = Delivery()
    client = PacedClient(sender)
    before = sender.rate_limited
    to_channel = channel
    refused = guard.channel_refusal(client, channel) if channel else None
    if refused:
        logger.error("alerts are not posted to ALERT_CHANNEL %s: %s", channel, refused)
        to_channel = None
    owners = [a.owner for a in alerts if a.owner is not None and a.owner.email and a.owner.active]
    matches = people.match(owners) if owners else {}
    people.tell(guard)
    mentions: dict[str, str] = {}
    batches: dict[str, list[Alert]] = {}  # destination -> its alerts, each claimed for it before it is sent
    subscriptions = state.subscriptions([m.slack_user for m in matches.values() if m.slack_user])
    for alert in alerts:
        match = matches.get(alert.owner.key) if alert.owner is not None else None
        owner_user = match.slack_user if match else None
        if owner_user:
            mentions[alert.key] = owner_user
        if to_channel and state.claim(f"alert:{alert.key}:{to_channel}"):
            batches.setdefault(to_channel, []).append(alert)
        if not owner_user or alert.kind not in ALERT_KINDS:
            continue
        if alert.kind not in subscriptions[owner_user].alerts or guard.user_refusal(client, owner_user):
            continue
        if state.claim(f"alert:{alert.key}:{owner_user}"):
            batches.setdefault(owner_user, []).append(alert)
    for destination, found in batches.items():
        for start in range(0, len(found), ALERTS_PER_MESSAGE):
            batch = found[start:start + ALERTS_PER_MESSAGE]
            if stop is not None and stop.is_set():
                delivery.skipped += [{"alert": a.key, "to": destination, "reason": "stopping"} for a in batch]
                continue
            in_channel = destination == to_channel
            error = sender.post(destination, alert_fallback_text(batch),
                                build_alerts_blocks(batch, owners=mentions if in_channel else None))
            for alert in batch:
                _record(delivery, {"alert": alert.key, "to": destination}, error)
    delivery.rate_limited = sender.rate_limited - before
    return delivery


# ---------------------------------------------------------------- one run

def compute_digests(services: Any, state: DigestState, *, people: SlackPeople | None = None,
                    only: str | None = None, snapshot: Snapshot | None = None) -> DigestReport:
    """Every owner's digest as of the context's today, each since their last digest (from `snapshot` when the
    caller has read the store already)."""
    return build_digests(snapshot or load_snapshot(services.store), services.context(),
                         last_digests=state.last_digests, only=only,
                         match=people.match if people is not None else None)


def switched_off(report: DigestReport, state: DigestState) -> set[str]:
    """Owner keys whose Slack user switched the digest off in App Home (not sent, so not shown as to be sent)."""
    subscriptions = state.subscriptions([d.slack_user for d in report.digests if d.slack_user])
    return {d.owner.key for d in report.digests if d.slack_user and not subscriptions[d.slack_user].digest}


def run_digests(services: Any, *, sender: Sender, state: DigestState, guard: Guard, period: str,
                only: str | None = None, stop: threading.Event | None = None) -> tuple[DigestReport | None, Delivery]:
    """One scheduled run: computed and sent by the one replica that claims `period` (None, nothing sent, on the
    others). A replica that dies mid-run leaves the rest of that period unsent; each owner's next digest still
    covers everything since the last one they received."""
    if not state.claim_run(period):
        logger.info("digest %s: another replica is sending it", period)
        return None, Delivery()
    people = SlackPeople(sender, state)
    report = compute_digests(services, state, people=people, only=only)
    schedule = services.settings.digest_schedule
    delivery = deliver_digests(report, sender=sender, state=state, guard=guard, people=people, period=period,
                               max_items=services.profile.digest.max_items, stop=stop,
                               cadence=schedule.cadence if schedule is not None else None)
    logger.info("digest %s: %d sent, %d skipped, %d unmatched owner(s), %d rate-limit wait(s)", period,
                len(delivery.sent), len(delivery.skipped), len(report.unmatched), delivery.rate_limited)
    return report, delivery


def run_alerts(services: Any, *, sender: Sender, state: DigestState, guard: Guard,
               stop: threading.Event | None = None) -> Delivery:
    ctx = services.context()
    last = state.last_alert_scan()
    # a day of overlap: a record synced today may carry yesterday's date; the claims keep it to one alert
    since = min(last, ctx.date) - timedelta(days=1) if last else \
        ctx.date - timedelta(days=ctx.profile.digest.lookback_days - 1)
    alerts = find_alerts(load_snapshot(services.store), ctx, since=since)
    delivery = deliver_alerts(alerts, sender=sender, state=state, guard=guard, people=SlackPeople(sender, state),
                              channel=services.settings.alert_channel, stop=stop)
    state.record_alert_scan(ctx.date)
    if delivery.sent or delivery.skipped:
        logger.info("alerts: %d sent, %d not sent", len(delivery.sent), len(delivery.skipped))
    return delivery


# ---------------------------------------------------------------- the schedule

def _minutes(after: datetime, until: datetime) -> Iterator[datetime]:
    """The minutes in (after, until], at most a day of them (a suspended process does not replay a week)."""
    start = max(after, until - timedelta(days=1)) + timedelta(minutes=1)
    while start <= until:
        yield start
        start += timedelta(minutes=1)


def start_digest_scheduler(services: Any, stop: threading.Event, *, client: Any = None,
                           tick: float = TICK, clock: Callable[[], datetime] = datetime.now) -> threading.Thread | None:
    """Inside `serve`, when DIGEST_CRON or ALERT_CHANNEL is set: the digest at each DIGEST_CRON time, and an alert
    scan every few minutes after the store changed (to ALERT_CHANNEL when set, and by DM to whoever switched alerts
    on). Every replica runs it; the sent-log makes each message go out once."""
    settings = services.settings
    schedule = settings.digest_schedule  # read (and a bad one refused) when the settings load
    if not settings.slack_enabled or (schedule is None and not settings.alert_channel):
        return None
    sender = Sender(client or proactive_client(settings), stop=stop)
    state = DigestState.for_services(services)
    guard = Guard(settings)

    def loop() -> None:
        checked = clock().replace(second=0, microsecond=0)
        next_scan, seen = 0.0, None
        while not stop.wait(tick):
            try:
                now = clock().replace(second=0, microsecond=0)
                if schedule is not None:
                    due = [m for m in _minutes(checked, now) if schedule.matches(m)]
                    checked = max(checked, now)
                    if due:
                        run_digests(services, sender=sender, state=state, guard=guard, stop=stop,
                                    period=due[-1].isoformat(timespec="minutes"))
                if time.monotonic() >= next_scan:  # the channel's alerts, and the DM copies people switched on
                    next_scan = time.monotonic() + ALERT_EVERY
                    generation = services.store.generation()
                    if generation != seen:
                        run_alerts(services, sender=sender, state=state, guard=guard, stop=stop)
                        seen = generation
            except Exception:  # one failed run must not end the schedule
                logger.exception("proactive messages: a run failed; the schedule goes on")

    thread = threading.Thread(target=loop, name="digest-scheduler", daemon=True)
    thread.start()
    logger.info("digests %s; alerts %s", f"on schedule {schedule.expression!r}" if schedule else "off",
                f"to {settings.alert_channel} and by DM" if settings.alert_channel else "by DM only")
    return thread


# ---------------------------------------------------------------- buttons and App Home switches

def register(app: Any, *, services: Any, guard: Guard, ledger: Any) -> None:
    from bot.listeners.home import home_view

    state = DigestState.for_services(services)

    def handle_digest_open(ack: Any, body: dict[str, Any], action: dict[str, Any], respond: Any, client: Any) -> None:
        """A digest or alert line's button: the brief or the draft, privately, for the person who clicked."""
        ack()
        if refused(guard, body, respond, client):
            return
        value = read_button_value(action)
        command, account_id = str(value.get("command") or ""), str(value.get("account_id") or "")
        if command not in ("brief", "draft") or not account_id:
            respond(text="Sorry — that button no longer works. Run the command again.", response_type="ephemeral",
                    replace_original=False)
            return
        rerun(services, ledger, body, respond, command=command, text=shlex.quote(str(value.get("text") or account_id)),
              account_id=account_id, replace_original=False)

    def handle_subscriptions(ack: Any, body: dict[str, Any], action: dict[str, Any], client: Any) -> None:
        """App Home switches: stored in the shared ledger, so every replica sends (or not) accordingly."""
        ack()
        user = (body.get("user") or {}).get("id")
        if not user:
            return
        selected = {str(o.get("value")) for o in action.get("selected_options") or []}
        subscription = Subscription("digest" in selected,
                                    frozenset(k for k in ALERT_KINDS if f"alert:{k}" in selected))
        try:
            state.subscribe(user, subscription)
            client.views_publish(user_id=user, view=home_view(user, services, state=state))
        except Exception:
            logger.exception("could not save the digest settings of %s", user)

    app.action(re.compile(rf"^{DIGEST_OPEN}_\d+$"))(handle_digest_open)
    app.action(DIGEST_SUBSCRIPTIONS)(handle_subscriptions)


def digest_period(today: date | None = None) -> str:
    """The sent-log period of a digest sent by hand (`python -m bot digest`): once per day and user."""
    return f"manual:{(today or date.today()).isoformat()}"
