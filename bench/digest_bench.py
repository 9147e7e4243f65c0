"""Weekly digests at scale: 500 owners and 20,000 accounts, computed, then sent through a rate-limited mock Slack.

    .venv/bin/python bench/digest_bench.py [--owners 500] [--accounts 20000] [--keep DIR]

1. Writes a deterministic CRM export (users, accounts, contacts, activities, opportunities, leads; seeded RNG) into
   a temporary knowledge folder and ingests it with a STAND-IN deterministic embedding (LangChain's
   DeterministicFakeEmbedding, 64 dimensions) instead of the local model, for speed: the digest reads records and
   never embeds, so the figures below do not depend on the embedding.
2. Computes every owner's digest from the store (one paged read of the CRM metadata, then the rules), no Slack.
3. Sends them through a mock Slack Web API that enforces rate limits with token buckets and answers 429 with a
   Retry-After when pushed: chat.postMessage one per second per channel (bursts of 2) and 10 per second across the
   workspace (bursts of 20: our assumption; Slack documents "a workspace-wide limit" without a figure); users.list
   tier 2 (20/min), users.lookupByEmail tier 3 (50/min), users.info tier 4 (100/min).
   a. as the scheduler sends (the default pacing), with the team's alerts to one channel;
   b. pushed: four replicas at once with pacing switched off; one claims the run (`digest:run:<period>`) and sends
      it, so the mock's limits answer 429 and every one must be waited out;
   c. the team's alerts pushed into one new channel with pacing off: one message per second per channel is the
      limit Slack documents, so this is where 429s come for sure.
   Each run checks that every matched owner got exactly one DM and that no 429 was left unhandled.
"""

from __future__ import annotations

import argparse
import math
import random
import shutil
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import date, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from slack_mock import Call, SlackMock  # noqa: E402

TODAY = date(2026, 11, 26)
FIRST = ["Ana", "Ben", "Chloé", "Dario", "Eva", "Femi", "Greta", "Hugo", "Ines", "Jonas", "Kofi", "Lena", "Mateo",
         "Nora", "Omar", "Pia", "Quentin", "Rosa", "Sven", "Tara", "Uma", "Viktor", "Wen", "Yara", "Zoltan"]
LAST = ["Adler", "Berg", "Costa", "Dubois", "Evans", "Fischer", "García", "Hansen", "Ito", "Jansen", "Kowalski",
        "Larsen", "Moreau", "Novak", "Okafor", "Petit", "Quinn", "Rossi", "Silva", "Tanaka", "Ulrich", "Vidal",
        "Weber", "Xu", "Young", "Zimmer"]
SENIOR = ["Chief Financial Officer", "CEO", "Chief Operating Officer", "VP Operations", "VP Finance",
          "Director of Procurement", "Head of IT"]
MIDDLE = ["Supply Chain Manager", "Procurement Manager", "IT Manager"]
JUNIOR = ["Procurement Analyst", "Supply Chain Intern", "Finance Assistant", "Logistics Trainee", "Inventory Analyst",
          "Marketing Coordinator"]
NEWS = ["Announced a cost reduction programme for next year.", "They appointed a new CFO in October.",
        "Completed the acquisition of a regional distributor."]  # trigger events: in about one note in twelve
NOTES = ["Discussed the project timeline.", "Reviewed the integration plan.", "Follow-up on pricing questions.",
         "Walked through the reporting requirements.", "Agreed on next steps for the evaluation."]
STAGES = ["Prospecting", "Qualification", "Proposal", "Negotiation", "Closed Won", "Closed Lost"]


def write_crm(folder: Path, owners: int, accounts: int) -> dict[str, int]:
    """A deterministic export; returns the row count of each file."""
    rng = random.Random(13)
    crm = folder / "crm"
    crm.mkdir(parents=True)
    counts: Counter[str] = Counter()

    def person(n: int) -> tuple[str, str]:
        return FIRST[n % len(FIRST)], LAST[(n // len(FIRST)) % len(LAST)]

    with (crm / "users.csv").open("w", encoding="utf-8") as f:
        f.write("Id,FirstName,LastName,Email,IsActive\n")
        for n in range(owners):
            first, last = person(n * 7)
            f.write(f"005U{n:07d},{first},{last} {n},rep{n}@seller.example,true\n")
            counts["users"] += 1
    files = {name: (crm / f"{name}.csv").open("w", encoding="utf-8") for name in
             ("accounts", "contacts", "activities", "opportunities", "leads")}
    files["accounts"].write("Id,Name,Industry,NumberOfEmployees,OwnerId\n")
    files["contacts"].write("Id,AccountId,FirstName,LastName,Title,Email\n")
    files["activities"].write("Id,ActivityDate,Type,Subject,Description,WhoId,WhatId\n")
    files["opportunities"].write("Id,AccountId,Name,StageName,Amount,CloseDate,OwnerId\n")
    files["leads"].write("Id,FirstName,LastName,Title,Company,Email,Lead Score,Number of Pageviews,"
                         "Last Activity Date\n")
    for a in range(accounts):
        account_id, name, owner = f"001A{a:07d}", f"Account {a:05d} Holdings", f"005U{a % owners:07d}"
        files["accounts"].write(f"{account_id},{name},Manufacturing,{rng.randint(200, 20000)},{owner}\n")
        counts["accounts"] += 1
        contacts = []
        for c in range(3):
            pool = SENIOR if (c == 0 and rng.random() < 0.6) else (MIDDLE if c == 1 else JUNIOR)
            first, last = person(rng.randrange(10**6))
            contact_id = f"003C{a:07d}{c}"
            contacts.append(contact_id)
            files["contacts"].write(f"{contact_id},{account_id},{first},{last},{rng.choice(pool)},"
                                    f"{first.lower()}.{last.lower()}.{a}{c}@customer.example\n")
            counts["contacts"] += 1
        for t in range(2):
            day = TODAY - timedelta(days=min(120, int(rng.expovariate(1 / 12))))  # most accounts are worked weekly
            kind = rng.choice(["Meeting", "Call", "Email", "Note"])
            files["activities"].write(f"00TA{a:07d}{t},{day.isoformat()},{kind},Touch point {t},"
                                      f"\"{rng.choice(NEWS) if rng.random() < 0.08 else rng.choice(NOTES)}\","
                                      f"{rng.choice(contacts)},{account_id}\n")
            counts["activities"] += 1
        close = TODAY + timedelta(days=rng.randint(-40, 200))
        files["opportunities"].write(f"006O{a:07d},{account_id},{name} - Platform,{rng.choice(STAGES)},"
                                     f"{rng.randint(10, 500) * 1000},{close.isoformat()},{owner}\n")
        counts["opportunities"] += 1
        if a % 2 == 0:
            first, last = person(rng.randrange(10**6))
            title = rng.choice(JUNIOR + JUNIOR + SENIOR)
            seen = TODAY - timedelta(days=rng.randint(0, 60))
            files["leads"].write(f"00QL{a:07d},{first},{last},{title},{name},lead{a}@customer.example,"
                                 f"{rng.randint(10, 99)},{rng.randint(0, 80)},{seen.isoformat()}\n")
            counts["leads"] += 1
    for f in files.values():
        f.close()
    return dict(counts)


# ---------------------------------------------------------------- a Slack that enforces its rate limits

class Bucket:
    def __init__(self, per_second: float, burst: float):
        self.rate, self.burst, self.tokens, self.at = per_second, burst, burst, time.monotonic()

    def take(self) -> float:
        """0 when allowed, else the seconds until a token is back."""
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
        self.at = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.rate


class LimitedSlack(SlackMock):
    """tests/slack_mock.py's SlackMock (its request handler and loopback server) answering from token buckets."""

    LIMITS = {"chat.postMessage": (10.0, 20), "users.list": (20 / 60, 5), "users.lookupByEmail": (50 / 60, 10),
              "users.info": (100 / 60, 20), "conversations.info": (50 / 60, 10)}
    PER_CHANNEL = (1.0, 2)

    def __init__(self, members: dict[str, dict[str, Any]]):
        super().__init__(poll_interval=0.05)
        self.members = members
        self.buckets = {method: Bucket(*limit) for method, limit in self.LIMITS.items()}
        self.channels: dict[str, Bucket] = {}
        self.limited: Counter[str] = Counter()
        self.delivered: Counter[str] = Counter()  # channel -> messages accepted
        self.posted_at: list[float] = []  # when each accepted message arrived
        self.start()

    def answer(self, call: Call) -> tuple[int, dict[str, str], dict[str, Any]]:
        method, body = call.method, call.body
        with self.lock:
            wait = self.buckets[method].take() if method in self.buckets else 0.0
            channel = str(body.get("channel") or "")
            if not wait and method == "chat.postMessage":
                bucket = self.channels.setdefault(channel, Bucket(*self.PER_CHANNEL))
                wait = bucket.take()
                if wait:
                    self.buckets[method].tokens += 1  # the workspace token was not used after all
            if wait:
                self.limited[method] += 1
                return 429, {"Retry-After": str(max(1, math.ceil(wait)))}, {"ok": False, "error": "ratelimited"}
            if method == "chat.postMessage":
                self.delivered[channel] += 1
                self.posted_at.append(time.monotonic())
                return 200, {}, {"ok": True, "channel": channel, "ts": f"{time.time():.6f}"}
        if method == "users.list":
            members = list(self.members.values())
            start = int(body.get("cursor") or 0)
            page = members[start:start + int(body.get("limit") or 200)]
            after = start + len(page)
            return 200, {}, {"ok": True, "members": page,
                             "response_metadata": {"next_cursor": str(after) if after < len(members) else ""}}
        if method == "users.lookupByEmail":
            member = self.members.get(str(body.get("email") or "").lower())
            return 200, {}, ({"ok": True, "user": member} if member else {"ok": False, "error": "users_not_found"})
        if method == "users.info":
            user = next((m for m in self.members.values() if m["id"] == body.get("user")), {"id": body.get("user")})
            return 200, {}, {"ok": True, "user": user}
        if method == "conversations.info":
            return 200, {}, {"ok": True, "channel": {"id": body.get("channel"), "is_ext_shared": False}}
        return 200, {}, {"ok": True}

    def methods(self) -> Counter[str]:
        """How many times each Web API method was called (429s included)."""
        with self.lock:
            return Counter(call.method for call in self.calls)


# ---------------------------------------------------------------- the runs

def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--owners", type=int, default=500)
    parser.add_argument("--accounts", type=int, default=20000)
    parser.add_argument("--keep", type=Path, help="keep the generated knowledge and store in this folder")
    args = parser.parse_args()

    import logging

    logging.basicConfig(level=logging.WARNING)
    from langchain_core.embeddings import DeterministicFakeEmbedding
    from slack_sdk import WebClient

    from bot.cli import run_ingest
    from bot.knowledge.embeddings import Named
    from bot.listeners.digest import Sender, run_alerts, run_digests
    from bot.listeners.guard import Guard
    from bot.runtime import build_services
    from bot.services.digest import DigestState, build_digests, load_snapshot
    from bot.settings import load_settings

    folder = args.keep or Path(tempfile.mkdtemp(prefix="digest-bench-"))
    knowledge = folder / "knowledge"
    if knowledge.exists():
        shutil.rmtree(knowledge)
    started = time.monotonic()
    counts = write_crm(knowledge, args.owners, args.accounts)
    print(f"generated {sum(counts.values()):,} CRM rows in {time.monotonic() - started:.1f} s: "
          + ", ".join(f"{k} {v:,}" for k, v in counts.items()))
    members = {}
    for n in range(args.owners):
        if n % 50 == 7:
            continue  # 2% of the reps have no Slack account with their CRM email
        members[f"rep{n}@seller.example"] = {
            "id": f"UREP{n:05d}", "profile": {"email": f"rep{n}@seller.example"}, "deleted": False, "is_bot": False,
            "is_restricted": n % 100 == 11, "is_ultra_restricted": False}  # 1% are guests: never sent CRM data
    slack = LimitedSlack(members)
    settings = load_settings(env_file=None, chroma_path=folder / "chroma", knowledge_path=knowledge, as_of=TODAY,
                             slack_bot_token="xoxb-bench", slack_signing_secret="bench", slack_api_url=slack.url,
                             alert_channel="CALERTS", log_level="WARNING")
    embeddings = Named(DeterministicFakeEmbedding(size=64), "fake:deterministic")

    def replica_services() -> Any:
        return build_services(settings, embeddings=embeddings)

    services = replica_services()
    started = time.monotonic()
    report = run_ingest(services, [], show_progress=False)
    print(f"ingested with the stand-in deterministic embedding (not the local model) in "
          f"{time.monotonic() - started:.1f} s: {report.chunks:,} chunks embedded, {report.unchanged} file(s) "
          f"unchanged, {len(report.errors)} problem(s)")
    ledger = DigestState.for_services(services).ledger.name  # a kept folder: no digest sent, no Slack user known
    if ledger in {getattr(c, "name", c) for c in services.store.client.list_collections()}:
        services.store.client.delete_collection(ledger)

    # -- 2. compute
    started = time.monotonic()
    snapshot = load_snapshot(services.store)
    loaded = time.monotonic() - started
    digests = build_digests(snapshot, services.context())
    computed = time.monotonic() - started
    with_lines = [d for d in digests.digests if d.items]
    kinds = Counter(i.kind for d in digests.digests for i in d.items)
    print(f"\ncomputed digests for {len(digests.digests)} owners / {len(snapshot.accounts):,} accounts in "
          f"{computed:.1f} s (reading {loaded:.1f} s, rules {computed - loaded:.1f} s; target < 60 s): "
          f"{len(with_lines)} owners with lines, {sum(kinds.values()):,} lines "
          + ", ".join(f"{k} {v:,}" for k, v in kinds.most_common()))

    # -- 3a. sent as the scheduler sends them, then the alerts
    def send(label: str, period: str, replicas: int = 1, **options: Any) -> None:
        before_calls, before_limited = slack.methods(), Counter(slack.limited)
        before_delivered, first_post = Counter(slack.delivered), len(slack.posted_at)
        runs: list[tuple[Any, Any, Any]] = []
        lock = threading.Lock()

        def replica() -> None:
            own = replica_services()  # a replica: its own services over the same store
            sender = Sender(WebClient(token="xoxb-bench", base_url=slack.url), **options)
            result = run_digests(own, sender=sender, state=DigestState.for_services(own), guard=Guard(settings),
                                 period=period)
            with lock:
                runs.append((*result, sender))

        started = time.monotonic()
        threads = [threading.Thread(target=replica) for _ in range(replicas)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.monotonic() - started
        sent = [s for _, delivery, _ in runs for s in delivery.sent]
        skipped = list({s["email"]: s for _, delivery, _ in runs for s in delivery.skipped
                        if "already sent" not in s["reason"]}.values())  # each replica saw the same unmatched
        reports = [r for r, _, _ in runs if r is not None]  # the one replica that claimed the run computed it
        report = reports[0]
        delivered = slack.delivered - before_delivered
        dms = {c: n for c, n in delivered.items() if c.startswith("U")}
        limited = slack.limited - before_limited
        calls = slack.methods() - before_calls
        waited = sum(sender.rate_limited for _, _, sender in runs)
        expected = {d.slack_user for d in report.digests if d.items and d.slack_user}
        unhandled = [s for s in skipped if "ratelimited" in s["reason"]]
        posted = slack.posted_at[first_post:]
        window = (posted[-1] - posted[0]) if len(posted) > 1 else 0.0
        print(f"\n{label}: the run took {elapsed:.1f} s (reading and rules, matching, sending); {len(sent)} DMs "
              f"sent over the last {window:.1f} s of it ({len(sent) / max(window, 0.001):.1f}/s)"
              + (f" by {replicas} replicas ({', '.join(str(len(d.sent)) for _, d, _ in runs)}; "
                 f"{len(reports)} computed the run)" if replicas > 1 else "")
              + f"; not sent: {dict(Counter(s['reason'].split(' (')[0] for s in skipped))}; "
              f"unmatched owners {len(report.unmatched)} ({dict(Counter(u['reason'][:30] for u in report.unmatched))})")
        print(f"  Web API calls {dict(calls)}; 429s answered by the mock {dict(limited) or 0}, waited out by the "
              f"senders {waited}, left unhandled {len(unhandled)}")
        print(f"  every matched owner with lines got exactly one DM: {set(dms) == expected and set(dms.values()) <= {1}}"
              f" ({len(dms)} of {len(expected)}; max per user {max(dms.values(), default=0)})")

    send("3a. paced as in serve (postMessage every 0.2 s, 1/s per channel)", "bench-paced")
    before_limited, before_delivered = Counter(slack.limited), Counter(slack.delivered)
    started = time.monotonic()
    alert_sender = Sender(WebClient(token="xoxb-bench", base_url=slack.url))
    alerts = run_alerts(services, sender=alert_sender, state=DigestState.for_services(services),
                        guard=Guard(settings))
    channel_posts = (slack.delivered - before_delivered).get("CALERTS", 0)
    print(f"  alerts: {len([s for s in alerts.sent if s['to'] == 'CALERTS'])} to #CALERTS in {channel_posts} "
          f"message(s) and {len([s for s in alerts.sent if s['to'] != 'CALERTS'])} by DM, "
          f"{time.monotonic() - started:.1f} s; 429s {dict(slack.limited - before_limited) or 0}, waited out "
          f"{alert_sender.rate_limited}, not sent {len(alerts.skipped)}")

    # -- 3b. pushed: four replicas at once, no pacing, the mock's limits answer
    send("3b. pushed (4 replicas, pacing off: the mock answers 429 + Retry-After)", "bench-pushed", replicas=4,
         gaps={m: 0.0 for m in ("chat_postMessage", "users_lookupByEmail", "users_list", "users_info")},
         per_channel=0.0)
    # -- 3c. alerts pushed into one channel, pacing off: Slack's per-channel limit answers
    from datetime import timedelta as days

    from bot.listeners.digest import SlackPeople, deliver_alerts
    from bot.services.digest import find_alerts

    ctx = services.context()
    found = find_alerts(load_snapshot(services.store), ctx,
                        since=ctx.date - days(days=ctx.profile.digest.lookback_days - 1))
    before_limited, first_post = Counter(slack.limited), len(slack.posted_at)
    sender = Sender(WebClient(token="xoxb-bench", base_url=slack.url), gaps={"chat_postMessage": 0.0},
                    per_channel=0.0)
    state = DigestState.for_services(services)
    started = time.monotonic()
    pushed = deliver_alerts(found, sender=sender, state=state, guard=Guard(settings),
                            people=SlackPeople(sender, state), channel="CPUSHED")
    elapsed = time.monotonic() - started
    posts = slack.delivered.get("CPUSHED", 0)
    window = slack.posted_at[-1] - slack.posted_at[first_post] if len(slack.posted_at) > first_post + 1 else 0.0
    unhandled = [s for s in pushed.skipped if "ratelimited" in s["reason"]]
    print(f"\n3c. {len(found)} alerts pushed into one channel (pacing off): {posts} message(s) accepted over "
          f"{window:.1f} s ({posts / max(window, 0.001):.2f}/s), run {elapsed:.1f} s; 429s answered by the mock "
          f"{dict(slack.limited - before_limited) or 0}, waited out {sender.rate_limited}, left unhandled "
          f"{len(unhandled)}; every alert posted once: {len(pushed.sent) == len(found) and not pushed.skipped}")
    slack.stop()
    if not args.keep:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
