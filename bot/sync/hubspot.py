"""HubSpot through hubspot-api-client, with a private app's token: companies, contacts, deals, engagements
(notes, meetings, calls, emails) and owners, each as the row HubSpot's own export would give.

What changed comes from the CRM Search API, sorted by last-modified time, ascending. Every page restarts the
search from the last timestamp written (keyset paging) and skips the ids already written at exactly that
timestamp: a result offset (`after`) stops at 10,000 and shifts when a record changes during the scan (a record
modified mid-scan moves to the end and the one behind it is skipped), a timestamp does neither. When more
records share one timestamp than a page holds, they are read by id at that instant. The checkpoint (per object
type: the timestamp and the ids written at it) only moves forward with what was yielded, so a run stopped
anywhere resumes with nothing lost; the runner writes a batch before it stores the batch's checkpoint.

Deletions: HubSpot lists deleted (archived) records with `archived=true`; records gone without trace (merged,
purged) are found by the runner's prune, which lists the current ids (`current_ids`).

Faults: a 429 waits for Retry-After (else the rate-limit window HubSpot names, else a backoff) and a 5xx or a
dropped connection backs off, each a bounded number of times within a bounded wait; HubSpot's
X-HubSpot-RateLimit-* headers pause the calls before the limit is hit. Nothing loops forever.
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from html.parser import HTMLParser
from typing import Any

from bot.sync.base import Batch, Change, CrmAuthError, Retries, SyncError, SyncProblem

logger = logging.getLogger(__name__)

SYSTEM = "hubspot"
DEFAULT_URL = "https://api.hubapi.com"
PAGE = 100  # search results per request (HubSpot allows 200; 100 keeps association reads in one call)
LIST_PAGE = 100  # the list endpoints' maximum
# HubSpot's search index trails writes by a few seconds: a finished scan leaves its checkpoint this far behind
# the moment it started, so the next run reads again (as unchanged) what the index may not have shown yet.
LAG_MS = 5 * 60 * 1000
ATTEMPTS = 6  # tries per call
MAX_WAIT = 120.0  # seconds one call may spend waiting (Retry-After and backoff together) before the run gives up
TIMEOUT = (5.0, 60.0)  # connect, read


class HubSpotError(SyncError):
    """HubSpot refused or kept failing; the message says what to do."""


@dataclass(frozen=True)
class Kind:
    api: str  # the object type in HubSpot's URLs
    role: str  # the export role (bot.knowledge.crm)
    modified: str  # the last-modified property, filtered and sorted on
    properties: tuple[str, ...]
    links: tuple[str, ...] = ()  # associated object types read with each record
    label: str = ""  # for engagements: the activity type an export shows


KINDS = (
    Kind("companies", "account", "hs_lastmodifieddate",
         ("name", "industry", "numberofemployees", "annualrevenue", "city", "country", "domain", "hubspot_owner_id")),
    Kind("contacts", "contact", "lastmodifieddate",
         ("firstname", "lastname", "jobtitle", "email", "company", "hubspot_owner_id"), ("companies",)),
    Kind("deals", "opportunity", "hs_lastmodifieddate",
         ("dealname", "dealstage", "pipeline", "amount", "closedate", "hs_next_step", "hubspot_owner_id"),
         ("companies",)),
    Kind("notes", "activity", "hs_lastmodifieddate", ("hs_timestamp", "hs_note_body", "hubspot_owner_id"),
         ("companies", "contacts", "deals"), "NOTE"),
    Kind("meetings", "activity", "hs_lastmodifieddate",
         ("hs_timestamp", "hs_meeting_title", "hs_meeting_body", "hubspot_owner_id"),
         ("companies", "contacts", "deals"), "MEETING"),
    Kind("calls", "activity", "hs_lastmodifieddate", ("hs_timestamp", "hs_call_title", "hs_call_body", "hubspot_owner_id"),
         ("companies", "contacts", "deals"), "CALL"),
    Kind("emails", "activity", "hs_lastmodifieddate",
         ("hs_timestamp", "hs_email_subject", "hs_email_text", "hs_email_html", "hubspot_owner_id"),
         ("companies", "contacts", "deals"), "EMAIL"),
)
# enumeration properties whose internal values the API returns and an export shows as labels
ENUMERATIONS = (("companies", "industry"),)
# the association HubSpot marks as a record's main one (contact -> its company, deal -> its company)
PRIMARY_LABEL = "Primary"


@dataclass
class _Context:
    """What rows name instead of ids: owners, deal stages, enumeration labels."""

    owners: dict[str, str] = field(default_factory=dict)  # owner id -> name
    stages: dict[str, str] = field(default_factory=dict)  # stage id -> label
    labels: dict[tuple[str, str], dict[str, str]] = field(default_factory=dict)  # (type, property) -> value -> label

    def owner(self, owner_id: str | None) -> str:
        return self.owners.get(str(owner_id or ""), "")

    def label(self, api: str, name: str, value: str | None) -> str | None:
        if not value:
            return value
        return self.labels.get((api, name), {}).get(value, value)


def from_settings(settings: Any) -> HubSpotConnector:
    """The connector the settings describe (HUBSPOT_TOKEN, HUBSPOT_API_URL)."""
    if not settings.hubspot_token:
        raise CrmAuthError("HUBSPOT_TOKEN: required to sync HubSpot (a private app's access token)")
    return HubSpotConnector(settings.hubspot_token, base_url=settings.hubspot_api_url)


class HubSpotConnector:
    system = SYSTEM

    def __init__(self, token: str, *, base_url: str = DEFAULT_URL, page_size: int = PAGE,
                 sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.time,
                 attempts: int = ATTEMPTS, max_wait: float = MAX_WAIT, timeout: tuple[float, float] = TIMEOUT):
        from hubspot import HubSpot
        from urllib3.util.retry import Retry

        # No retries inside urllib3: its Retry would sleep through a GET's Retry-After unseen (and never retry a
        # POST); every retry is decided in `_call`, bounded and logged.
        self.client = HubSpot(access_token=token, host=base_url.rstrip("/"),
                              retry=Retry(total=0, redirect=0, raise_on_status=False))
        # each `client.crm...` attribute builds a new API client (configuration, connection pool): build each once,
        # so calls reuse their connections
        crm = self.client.crm
        self._search_api = crm.objects.search_api
        self._objects_api = crm.objects.basic_api
        self._associations_api = crm.associations.v4.batch_api
        self._owners_api = crm.owners.owners_api
        self._pipelines_api = crm.pipelines.pipelines_api
        self._properties_api = crm.properties.core_api
        self.page_size = page_size
        self.sleep = sleep
        self.clock = clock
        self.retries = Retries("HubSpot", attempts=attempts, backoff=1.0, max_backoff=30.0, max_wait=max_wait,
                               sleep=sleep)
        self.timeout = timeout
        self._problems: list[SyncProblem] = []
        self._paused_until = 0.0
        self._owners_now: dict[str, tuple[dict[str, str], int]] | None = None  # listed by this run's batches()

    @property
    def problems(self) -> list[SyncProblem]:
        return self._problems

    # ------------------------------------------------------------------ the changes

    def batches(self, checkpoint: dict[str, Any] | None, *, full: bool = False) -> Iterator[Batch]:
        state: dict[str, Any] = {} if full or not checkpoint else copy.deepcopy(checkpoint)
        started = int(self.clock() * 1000)
        owners = self._owners_now = self._owners()
        since = int(state.get("owners", 0))
        changed = [Change("owner", owner_id, row) for owner_id, (row, updated) in owners.items()
                   if updated >= since]
        state["owners"] = started - LAG_MS
        for start in range(0, max(len(changed), 1), self.page_size):
            last = start + self.page_size >= len(changed)
            yield Batch(changed[start:start + self.page_size], copy.deepcopy(state) if last else {})
        context = _Context(owners={owner_id: row["Name"] for owner_id, (row, _) in owners.items()},
                           stages=self._stages(), labels=self._enum_labels())
        for kind in KINDS:
            yield from self._changed(kind, state, started, context)
            yield from self._archived(kind, state, started)

    def _changed(self, kind: Kind, state: dict[str, Any], started: int, context: _Context) -> Iterator[Batch]:
        mark = state.get(kind.api) or {}
        since, seen = int(mark.get("since", 0)), set(mark.get("seen", ()))
        while True:
            page = self._search(kind, [("GTE", kind.modified, str(since))], sort=kind.modified)
            fresh = [o for o in page if not (_millis(o, kind) == since and str(o.id) in seen)]
            if not fresh:
                if len(page) < self.page_size:
                    break
                # a whole page already written, all at `since`: more records share this instant than a page holds
                yield from self._same_instant(kind, since, seen, state, context)
                since, seen = since + 1, set()
                state[kind.api] = {"since": since, "seen": []}
                continue
            last = _millis(fresh[-1], kind)
            at_last = {str(o.id) for o in fresh if _millis(o, kind) == last}
            seen = seen | at_last if last == since else at_last
            since = last
            state[kind.api] = {"since": since, "seen": sorted(seen)}
            yield Batch(self._changes(kind, fresh, context), copy.deepcopy(state))
            if len(page) < self.page_size:
                break
        floor = started - LAG_MS
        if since > floor:  # finished: the next run looks back over what the search index may still be missing
            state[kind.api] = {"since": floor, "seen": []}
            yield Batch([], copy.deepcopy(state))

    def _same_instant(self, kind: Kind, instant: int, seen: set[str], state: dict[str, Any],
                      context: _Context) -> Iterator[Batch]:
        """Every record modified at exactly `instant`, read in id order (HubSpot orders equal timestamps
        arbitrarily, and a page of them from offset 0 can keep showing the same ones)."""
        cursor = "0"
        while True:
            page = self._search(kind, [("GTE", kind.modified, str(instant)), ("LTE", kind.modified, str(instant)),
                                       ("GT", "hs_object_id", cursor)], sort="hs_object_id")
            fresh = [o for o in page if str(o.id) not in seen]
            if fresh:
                seen.update(str(o.id) for o in fresh)
                state[kind.api] = {"since": instant, "seen": sorted(seen)}
                yield Batch(self._changes(kind, fresh, context), copy.deepcopy(state))
            if len(page) < self.page_size:
                return
            cursor = str(page[-1].id)

    def _archived(self, kind: Kind, state: dict[str, Any], started: int) -> Iterator[Batch]:
        """Records deleted in HubSpot since the last run (HubSpot keeps them listed as archived for a while)."""
        key = f"{kind.api}:archived"
        since = int(state.get(key, 0))
        changes: list[Change] = []
        for record in self._list(kind.api, archived=True):
            at = _datetime_millis(getattr(record, "archived_at", None))
            if at is None or at >= since:
                changes.append(Change(kind.role, str(record.id), {}, deleted=True))
            if len(changes) >= self.page_size:
                yield Batch(changes, {})  # no checkpoint: a stopped run lists the archive again
                changes = []
        state[key] = started - LAG_MS
        yield Batch(changes, copy.deepcopy(state))

    def _changes(self, kind: Kind, records: Sequence[Any], context: _Context) -> list[Change]:
        ids = [str(r.id) for r in records]
        links = {to: self._associations(kind.api, to, ids) for to in kind.links}
        changes = []
        for record in records:
            record_id = str(record.id)
            try:
                row = _ROWS[kind.role](kind, record_id, record.properties or {},
                                       {to: found.get(record_id, []) for to, found in links.items()}, context)
                changes.append(Change(kind.role, record_id, row))
            except (TypeError, ValueError, KeyError) as exc:  # one unreadable record never stops the rest
                self._problems.append(SyncProblem(kind.role, record_id, f"HubSpot {kind.api}: {exc}"))
        return changes

    # ------------------------------------------------------------------ the prune

    def current_ids(self, role: str) -> set[str]:
        if role == "owner":  # listed once a run: the batches just read them all
            return set(self._owners_now if self._owners_now is not None else self._owners())
        ids: set[str] = set()
        for kind in KINDS:
            if kind.role == role:
                ids.update(str(record.id) for record in self._list(kind.api, archived=False))
        return ids

    # ------------------------------------------------------------------ API calls

    def _search(self, kind: Kind, filters: list[tuple[str, str, str]], *, sort: str) -> list[Any]:
        from hubspot.crm.objects import Filter, FilterGroup, PublicObjectSearchRequest

        request = PublicObjectSearchRequest(
            filter_groups=[FilterGroup(filters=[Filter(property_name=name, operator=op, value=value)
                                                for op, name, value in filters])],
            sorts=[{"propertyName": sort, "direction": "ASCENDING"}],  # type: ignore[list-item]
            properties=list(dict.fromkeys((*kind.properties, kind.modified))), limit=self.page_size,
        )
        page = self._call(f"search {kind.api}", self._search_api.do_search_with_http_info,
                          kind.api, request)
        return list(page.results or [])

    def _list(self, api: str, *, archived: bool) -> Iterator[Any]:
        return self._paged(f"list {'archived ' if archived else ''}{api}", self._objects_api.get_page_with_http_info,
                           api, properties=["hs_object_id"], archived=archived)

    def _paged(self, what: str, method: Callable[..., Any], *args: Any, **kwargs: Any) -> Iterator[Any]:
        """Every result of a list endpoint, page after page (LIST_PAGE at a time) as its `paging.next` leads."""
        after: str | None = None
        while True:
            page = self._call(what, method, *args, limit=LIST_PAGE, after=after, **kwargs)
            yield from page.results or []
            after = page.paging.next.after if page.paging and page.paging.next else None
            if not after:
                return

    def _associations(self, from_api: str, to_api: str, ids: list[str]) -> dict[str, list[str]]:
        """id -> associated ids: the one labelled Primary first, then by id (a stable choice for the row)."""
        from hubspot.crm.associations.v4 import (
            BatchInputPublicFetchAssociationsBatchRequest,
            PublicFetchAssociationsBatchRequest,
        )

        found: dict[str, list[tuple[bool, int, str]]] = {}
        pending = [(record_id, None) for record_id in ids]
        while pending:
            request = BatchInputPublicFetchAssociationsBatchRequest(
                inputs=[PublicFetchAssociationsBatchRequest(id=record_id, after=after) for record_id, after in pending])
            response = self._call(f"associations {from_api} -> {to_api}",
                                  self._associations_api.get_page_with_http_info,
                                  from_api, to_api, request)
            pending = []
            for result in response.results or []:
                source = str(result._from.id)
                for target in result.to or []:
                    primary = any(getattr(t, "label", None) == PRIMARY_LABEL for t in target.association_types or [])
                    found.setdefault(source, []).append((not primary, int(target.to_object_id), str(target.to_object_id)))
                paging = getattr(result, "paging", None)
                if paging is not None and paging.next is not None and paging.next.after:
                    pending.append((source, paging.next.after))
        return {source: list(dict.fromkeys(t[2] for t in sorted(targets))) for source, targets in found.items()}

    def _owners(self) -> dict[str, tuple[dict[str, str], int]]:
        """Every owner, active or not: id -> (export row, last update in ms)."""
        owners: dict[str, tuple[dict[str, str], int]] = {}
        for archived in (False, True):
            for owner in self._paged("list owners", self._owners_api.get_page_with_http_info, archived=archived):
                name = " ".join(p for p in (owner.first_name, owner.last_name) if p) or owner.email or str(owner.id)
                row = {"Id": str(owner.id), "Name": name, "Email": owner.email or "",
                       "IsActive": "false" if archived or owner.archived else "true"}
                owners[str(owner.id)] = (row, _datetime_millis(owner.updated_at) or 0)
        return owners

    def _stages(self) -> dict[str, str]:
        """Deal stage id -> the label people read, from every deal pipeline."""
        pipelines = self._call("deal pipelines", self._pipelines_api.get_all_with_http_info, "deals")
        return {str(stage.id): str(stage.label) for pipeline in pipelines.results or [] for stage in pipeline.stages or []}

    def _enum_labels(self) -> dict[tuple[str, str], dict[str, str]]:
        labels: dict[tuple[str, str], dict[str, str]] = {}
        for api, name in ENUMERATIONS:
            try:
                found = self._call(f"property {api}.{name}", self._properties_api.get_by_name_with_http_info,
                                   api, name)
            except HubSpotError as exc:  # a portal without it: the values are shown as they come
                logger.warning("HubSpot %s.%s labels unavailable (%s): values are kept as HubSpot stores them",
                               api, name, exc)
                continue
            labels[(api, name)] = {str(o.value): str(o.label) for o in found.options or []}
        return labels

    def _call(self, what: str, method: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """One API call, retried on 429 / 5xx / a dropped connection as `self.retries` allows."""
        import urllib3

        waited = 0.0
        for attempt in range(self.retries.attempts):
            pause = self._paused_until - self.clock()
            if pause > 0:
                self.sleep(pause)
            backoff = self.retries.delay(attempt)
            try:
                data, _, headers = method(*args, _request_timeout=self.timeout, **kwargs)
            except urllib3.exceptions.HTTPError as exc:  # refused, reset, timed out
                wait, reason = backoff, f"connection failed ({type(exc).__name__})"
            except Exception as exc:
                status = getattr(exc, "status", None)
                if not isinstance(status, int):
                    raise
                wait, reason = self._retry_after(what, status, getattr(exc, "headers", None) or {},
                                                 getattr(exc, "body", None), backoff)
            else:
                self._note_limits(headers or {})
                return data
            if not self.retries.wait(what, reason, attempt, wait, waited=waited):
                raise HubSpotError(f"HubSpot {what}: {reason}; gave up after {attempt + 1} attempt(s) and "
                                   f"{waited:.0f} s of waiting (the next sync resumes from the last checkpoint)")
            waited += wait
        raise AssertionError("unreachable")  # pragma: no cover

    def _retry_after(self, what: str, status: int, headers: Any, body: Any, backoff: float) -> tuple[float, str]:
        """(seconds to wait, why) for a response worth retrying; HubSpotError for one that is not."""
        if status == 429:
            text = body.decode(errors="replace") if isinstance(body, bytes) else str(body or "")
            if "DAILY" in text:
                raise HubSpotError(f"HubSpot {what}: the portal's daily API limit is used up; sync again tomorrow")
            retry_after = _number(headers.get("Retry-After"))
            interval = _number(headers.get("X-HubSpot-RateLimit-Interval-Milliseconds"))
            wait = retry_after if retry_after is not None else (interval / 1000 if interval else backoff)
            return max(wait, 0.1), "rate limited (429)"
        if status >= 500 or status == 0:
            return backoff, f"HubSpot error {status}"
        if status in (401, 403):
            raise CrmAuthError(f"HUBSPOT_TOKEN: HubSpot refused it ({status} on {what}): the token is wrong or "
                               "revoked, or the private app lacks a scope (see README, 'Live CRM sync')")
        raise HubSpotError(f"HubSpot {what}: HTTP {status}: {_short(body)}")

    def _note_limits(self, headers: Any) -> None:
        """Pause before HubSpot would refuse: its headers say how many calls are left in which window."""
        remaining = _number(headers.get("X-HubSpot-RateLimit-Remaining"))
        interval = _number(headers.get("X-HubSpot-RateLimit-Interval-Milliseconds"))
        if remaining is not None and remaining <= 0 and interval:
            self._paused_until = max(self._paused_until, self.clock() + interval / 1000)
        if _number(headers.get("X-HubSpot-RateLimit-Secondly-Remaining")) == 0:
            self._paused_until = max(self._paused_until, self.clock() + 1.0)


# ---------------------------------------------------------------------- export-shaped rows

def _company(kind: Kind, record_id: str, p: dict[str, Any], links: dict[str, list[str]],
             context: _Context) -> dict[str, Any]:
    return {
        "Record ID": record_id, "Company name": p.get("name"),
        "Industry": context.label(kind.api, "industry", p.get("industry")),
        "Number of Employees": p.get("numberofemployees"), "Annual Revenue": p.get("annualrevenue"),
        "City": p.get("city"), "Country/Region": p.get("country"), "Company Domain Name": p.get("domain"),
        "Company owner": context.owner(p.get("hubspot_owner_id")), "Owner ID": p.get("hubspot_owner_id"),
    }


def _contact(kind: Kind, record_id: str, p: dict[str, Any], links: dict[str, list[str]],
             context: _Context) -> dict[str, Any]:
    return {
        "Record ID": record_id, "First Name": p.get("firstname"), "Last Name": p.get("lastname"),
        "Job Title": p.get("jobtitle"), "Email": p.get("email"),
        "Associated Company ID": _first(links.get("companies")), "Company Name": p.get("company"),
        "Contact owner": context.owner(p.get("hubspot_owner_id")), "Owner ID": p.get("hubspot_owner_id"),
    }


def _deal(kind: Kind, record_id: str, p: dict[str, Any], links: dict[str, list[str]],
          context: _Context) -> dict[str, Any]:
    stage = p.get("dealstage")
    return {
        "Record ID": record_id, "Deal Name": p.get("dealname"),
        "Deal Stage": context.stages.get(str(stage), stage) if stage else stage,
        "Amount": p.get("amount"), "Close Date": p.get("closedate"), "Next Step": p.get("hs_next_step"),
        "Deal owner": context.owner(p.get("hubspot_owner_id")), "Owner ID": p.get("hubspot_owner_id"),
        "Associated Company ID": _first(links.get("companies")),
    }


_SUBJECT = {"meetings": "hs_meeting_title", "calls": "hs_call_title", "emails": "hs_email_subject"}
_BODY = {"notes": ("hs_note_body",), "meetings": ("hs_meeting_body",), "calls": ("hs_call_body",),
         "emails": ("hs_email_text", "hs_email_html")}


def _activity(kind: Kind, record_id: str, p: dict[str, Any], links: dict[str, list[str]],
              context: _Context) -> dict[str, Any]:
    body = next((p[name] for name in _BODY[kind.api] if p.get(name)), None)
    row = {
        "Activity ID": record_id, "Activity date": p.get("hs_timestamp"), "Activity type": kind.label,
        "Subject": p.get(_SUBJECT[kind.api]) if kind.api in _SUBJECT else None,
        "Notes": plain_text(body), "Contact ID": _first(links.get("contacts")), "Owner ID": p.get("hubspot_owner_id"),
    }
    company = _first(links.get("companies"))
    if company:
        row["Associated Company ID"] = company
    elif links.get("deals"):
        # logged on a deal only: the deal stands where Salesforce's WhatId would, and links the activity to the
        # deal's company
        row["WhatId"] = _first(links["deals"])
    return row


_ROWS: dict[str, Callable[[Kind, str, dict[str, Any], dict[str, list[str]], _Context], dict[str, Any]]] = {
    "account": _company, "contact": _contact, "opportunity": _deal, "activity": _activity,
}


class _Text(HTMLParser):
    _BREAKS = {"br", "p", "div", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._BREAKS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._BREAKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def plain_text(value: str | None) -> str | None:
    """HubSpot keeps note, meeting and call bodies as HTML; an export shows their text."""
    if not value or "<" not in value:
        return value
    parser = _Text()
    parser.feed(value)
    parser.close()
    lines = (" ".join(line.split()) for line in "".join(parser.parts).splitlines())
    return "\n".join(line for line in lines if line)


def _first(ids: list[str] | None) -> str | None:
    return ids[0] if ids else None


def _millis(record: Any, kind: Kind) -> int:
    value = (record.properties or {}).get(kind.modified)
    if value:
        return _text_millis(str(value))
    return _datetime_millis(getattr(record, "updated_at", None)) or 0


def _text_millis(value: str) -> int:
    if value.isdigit():
        return int(value)
    return int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() * 1000)


def _datetime_millis(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
        return int(moment.timestamp() * 1000)
    return _text_millis(str(value))


def _number(value: Any) -> float | None:
    try:
        return float(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def _short(body: Any) -> str:
    text = body.decode(errors="replace") if isinstance(body, bytes) else str(body or "")
    return " ".join(text.split())[:200]
