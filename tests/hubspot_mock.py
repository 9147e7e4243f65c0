"""A local HubSpot API for the sync tests and the bench: enough of CRM v3/v4 for the real hubspot-api-client.

A stdlib ThreadingHTTPServer on 127.0.0.1:0 that serves:
- GET  /crm/v3/objects/{type}?limit&after&properties&archived      list pages with `after` cursors (archived listing)
- POST /crm/v3/objects/{type}/search                               filterGroups, one sort, limit <= 200, the
                                                                   10,000-result cap (an `after` past it is a 400)
- POST /crm/v4/associations/{from}/{to}/batch/read                 associations with their type ids and labels
- GET  /crm/v3/pipelines/deals                                     stages with labels
- GET  /crm/v3/owners/?limit&after&archived                        owners
- GET  /crm/v3/properties/{type}/{name}                            an enumeration's options (value -> label)
Every request needs `Authorization: Bearer <token>`. Faults are queued with `fail(...)` (a 429 with Retry-After,
a 500, ...); `rate_limit(...)` adds HubSpot's rate-limit headers and answers 429 past the limit.

Objects are generated deterministically (`generate(n)`), modified (`update`), archived (`archive`: listed with
archived=true) or deleted outright (`remove`: only a prune notices). Timestamps are wall-clock milliseconds, as
HubSpot's are; equal modification times are common on purpose (HubSpot imports stamp many records alike).
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlparse

from sync_helpers import LoopbackServer

TYPES = ("companies", "contacts", "deals", "notes", "meetings", "calls", "emails")
ENGAGEMENTS = ("notes", "meetings", "calls", "emails")
# HubSpot names the last-modified property of contacts differently from every other object
MODIFIED = {"contacts": "lastmodifieddate"}
DATETIME_PROPERTIES = {"createdate", "hs_createdate", "hs_lastmodifieddate", "lastmodifieddate", "hs_timestamp",
                       "closedate"}
NUMERIC_PROPERTIES = {"hs_object_id", "amount", "numberofemployees", "annualrevenue"}
DEFAULT_PROPERTIES = {
    "companies": ("name", "domain"),
    "contacts": ("firstname", "lastname", "email"),
    "deals": ("dealname", "amount", "closedate", "pipeline", "dealstage"),
}
# HubSpot's default association type ids (HUBSPOT_DEFINED), and the ones labelled Primary
ASSOCIATION_TYPES = {
    ("contacts", "companies"): 279, ("companies", "contacts"): 280,
    ("deals", "companies"): 341, ("companies", "deals"): 342,
    ("deals", "contacts"): 3, ("contacts", "deals"): 4,
    ("notes", "companies"): 190, ("notes", "contacts"): 202, ("notes", "deals"): 214,
    ("meetings", "companies"): 188, ("meetings", "contacts"): 200, ("meetings", "deals"): 212,
    ("calls", "companies"): 182, ("calls", "contacts"): 194, ("calls", "deals"): 206,
    ("emails", "companies"): 186, ("emails", "contacts"): 198, ("emails", "deals"): 210,
}
PRIMARY_TYPES = {("contacts", "companies"): 1, ("deals", "companies"): 5}
# HubSpot's default sales pipeline, as its pipelines API labels it
DEFAULT_STAGES = (
    ("appointmentscheduled", "Appointment Scheduled", "0.2"), ("qualifiedtobuy", "Qualified To Buy", "0.4"),
    ("presentationscheduled", "Presentation Scheduled", "0.6"),
    ("decisionmakerboughtin", "Decision Maker Bought-In", "0.8"), ("contractsent", "Contract Sent", "0.9"),
    ("closedwon", "Closed Won", "1.0"), ("closedlost", "Closed Lost", "0.0"),
)
SEARCH_LIMIT = 200
SEARCH_CAP = 10_000
GENERATED_FROM = datetime(2025, 1, 6, tzinfo=timezone.utc).timestamp()


def iso(seconds: float) -> str:
    """HubSpot's timestamp format: 2025-01-06T09:30:00.000Z."""
    moment = datetime.fromtimestamp(seconds, tz=timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def millis(value: str | float | int | None) -> int | None:
    """A datetime property or filter value (ISO text or epoch milliseconds) in epoch milliseconds."""
    if value is None or value == "":
        return None
    text = str(value)
    if re.fullmatch(r"-?\d+", text):
        return int(text)
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)


@dataclass
class Record:
    type: str
    id: str
    properties: dict[str, str | None]
    created: float
    modified: float
    archived_at: float | None = None
    associations: dict[str, list[str]] = field(default_factory=dict)

    def property(self, name: str) -> str | None:
        if name == "hs_object_id":
            return self.id
        if name in ("createdate", "hs_createdate"):
            return iso(self.created)
        if name == MODIFIED.get(self.type, "hs_lastmodifieddate"):
            return iso(self.modified)
        return self.properties.get(name)

    def number(self, name: str) -> float | None:
        """A datetime (epoch ms) or numeric property as a number, without formatting and parsing it again."""
        if name == "hs_object_id":
            return float(self.id)
        if name in ("createdate", "hs_createdate"):
            return float(int(self.created * 1000))
        if name == MODIFIED.get(self.type, "hs_lastmodifieddate"):
            return float(int(self.modified * 1000))
        value = self.properties.get(name)
        if value in (None, ""):
            return None
        return float(millis(value) or 0) if name in DATETIME_PROPERTIES else float(value)  # type: ignore[arg-type]

    def as_json(self, wanted: Iterable[str]) -> dict[str, Any]:
        names = ["hs_object_id", "createdate", MODIFIED.get(self.type, "hs_lastmodifieddate"), *wanted]
        body: dict[str, Any] = {
            "id": self.id,
            "properties": {name: self.property(name) for name in dict.fromkeys(names)},
            "createdAt": iso(self.created), "updatedAt": iso(self.modified),
            "archived": self.archived_at is not None,
        }
        if self.archived_at is not None:
            body["archivedAt"] = iso(self.archived_at)
        return body


@dataclass
class Fault:
    method: str
    path: str  # a prefix of the request path
    status: int
    times: int
    headers: dict[str, str]
    body: dict[str, Any]


class HubSpotMock(LoopbackServer):
    def __init__(self, *, token: str = "pat-test-token", search_cap: int = SEARCH_CAP,
                 clock: Callable[[], float] = time.time):
        self.token = token
        self.search_cap = search_cap
        self.clock = clock
        self.records: dict[str, dict[str, Record]] = {name: {} for name in TYPES}
        self.owners: dict[str, dict[str, Any]] = {}
        # enumeration properties: internal value -> label (HubSpot's API returns values, its exports labels)
        self.options: dict[tuple[str, str], dict[str, str]] = {
            ("companies", "industry"): {enum_value(label): label for label in INDUSTRY}}
        self.requests: list[tuple[str, str, dict[str, Any]]] = []  # method, path, parsed body or query
        self.faults: list[Fault] = []
        self.served_429 = 0
        self._limit: tuple[int, int] | None = None  # (requests, window in ms)
        self._window: tuple[float, int] = (0.0, 0)
        self._lock = threading.RLock()
        self._next_id = 1000

    # -------------------------------------------------------------- life cycle

    def handler(self) -> type[BaseHTTPRequestHandler]:
        return _handler_for(self)

    # -------------------------------------------------------------- data

    def new_id(self) -> str:
        with self._lock:
            self._next_id += 1
            return str(self._next_id)

    def add(self, type_: str, properties: dict[str, Any], *, associations: dict[str, Iterable[str]] | None = None,
            modified: float | None = None, id: str | None = None) -> str:
        record_id = id or self.new_id()
        now = self.clock() if modified is None else modified
        values = {k: (None if v is None else str(v)) for k, v in properties.items()}
        with self._lock:
            self.records[type_][record_id] = Record(type_, record_id, values, created=now, modified=now)
            for to_type, ids in (associations or {}).items():
                for other in ids:
                    self.associate(type_, record_id, to_type, str(other))
        return record_id

    def associate(self, from_type: str, from_id: str, to_type: str, to_id: str) -> None:
        with self._lock:
            mine = self.records[from_type][from_id].associations.setdefault(to_type, [])
            if to_id not in mine:
                mine.append(to_id)
            other = self.records.get(to_type, {}).get(to_id)
            if other is not None:
                theirs = other.associations.setdefault(from_type, [])
                if from_id not in theirs:
                    theirs.append(from_id)

    def update(self, type_: str, record_id: str, *, modified: float | None = None, **properties: Any) -> None:
        with self._lock:
            record = self.records[type_][record_id]
            record.properties.update({k: (None if v is None else str(v)) for k, v in properties.items()})
            record.modified = self.clock() if modified is None else modified

    def archive(self, type_: str, record_id: str) -> None:
        """Deleted in HubSpot's UI: gone from search and lists, listed with archived=true."""
        with self._lock:
            record = self.records[type_][record_id]
            record.archived_at = self.clock()
            record.modified = record.archived_at

    def remove(self, type_: str, record_id: str) -> None:
        """Gone without a trace (purged, merged away): only a prune notices."""
        with self._lock:
            del self.records[type_][record_id]

    def add_owner(self, first: str, last: str, email: str, *, archived: bool = False, id: str | None = None,
                  updated: float | None = None) -> str:
        owner_id = id or self.new_id()
        moment = iso(self.clock() if updated is None else updated)
        self.owners[owner_id] = {
            "id": owner_id, "email": email, "firstName": first, "lastName": last, "userId": int(owner_id),
            "userIdIncludingInactive": int(owner_id), "type": "PERSON", "createdAt": moment, "updatedAt": moment,
            "archived": archived, "teams": [],
        }
        return owner_id

    def live(self, type_: str) -> list[Record]:
        return [r for r in self.records[type_].values() if r.archived_at is None]

    # -------------------------------------------------------------- faults and limits

    def fail(self, method: str, path: str, status: int, *, times: int = 1, headers: dict[str, str] | None = None,
             body: dict[str, Any] | None = None) -> None:
        """The next `times` requests whose path starts with `path` get this status."""
        default = {"status": "error", "message": f"mock fault {status}", "correlationId": "mock",
                   "category": "RATE_LIMITS" if status == 429 else "INTERNAL_ERROR"}
        if status == 429:
            default |= {"errorType": "RATE_LIMIT", "policyName": "TEN_SECONDLY_ROLLING"}
        with self._lock:
            self.faults.append(Fault(method.upper(), path, status, times, headers or {}, body or default))

    def rate_limit(self, requests: int, window_ms: int) -> None:
        """HubSpot's X-HubSpot-RateLimit-* headers on every answer; past `requests` in the window: 429."""
        self._limit = (requests, window_ms)

    def searches(self, type_: str | None = None) -> list[dict[str, Any]]:
        return [body for method, path, body in self.requests
                if method == "POST" and path.endswith("/search") and (type_ is None or f"/{type_}/" in path)]

    # -------------------------------------------------------------- deterministic data

    def generate(self, n: int, *, owners: int = 12, base: float = GENERATED_FROM, step: float = 60.0,
                 bad: int = 0) -> dict[str, int]:
        """n objects: 10% companies, 30% contacts, 15% deals, the rest engagements, linked as a CRM would be.

        Object i is modified at base + (i // 3) * step: three objects share each timestamp, so every page and
        restart boundary falls among equal timestamps. `bad` companies have no name (a record that cannot be
        read). The same arguments always give the same data, ids included."""
        owner_ids = [self.add_owner(_pick(FIRST, k), _pick(LAST, k + 3), f"owner{k}@seller.example",
                                    id=str(900 + k), updated=base) for k in range(owners)]
        counts = {"companies": max(1, n // 10), "contacts": (n * 3) // 10, "deals": (n * 15) // 100}
        counts["engagements"] = n - sum(counts.values())
        ordinal = 0

        def stamp() -> float:
            nonlocal ordinal
            ordinal += 1
            return base + ((ordinal - 1) // 3) * step

        companies: list[str] = []
        for k in range(counts["companies"]):
            name = "" if k < bad else f"{_pick(PREFIX, k)} {_pick(SECTOR_WORD, k // 7)} {k:05d}"
            companies.append(self.add("companies", {
                "name": name, "industry": enum_value(_pick(INDUSTRY, k)), "numberofemployees": 50 + (k * 37) % 5000,
                "annualrevenue": 1_000_000 * (1 + (k * 13) % 900), "city": _pick(CITY, k), "country": _pick(COUNTRY, k),
                "hubspot_owner_id": _pick(owner_ids, k),
            }, modified=stamp(), id=str(10_000_000 + k)))
        contacts: list[str] = []
        for k in range(counts["contacts"]):
            company = companies[k % len(companies)]
            first, last = _pick(FIRST, k), _pick(LAST, k // len(FIRST))
            contacts.append(self.add("contacts", {
                "firstname": first, "lastname": last, "jobtitle": _pick(TITLE, k),
                "email": f"{first.lower()}.{last.lower()}.{k}@customer{k % len(companies)}.example",
                "hubspot_owner_id": _pick(owner_ids, k),
            }, associations={"companies": [company]}, modified=stamp(), id=str(20_000_000 + k)))
        deals: list[str] = []
        for k in range(counts["deals"]):
            company = companies[(k * 7) % len(companies)]
            stage = DEFAULT_STAGES[k % len(DEFAULT_STAGES)][0]
            deals.append(self.add("deals", {
                "dealname": f"{_pick(DEAL_WORD, k)} {k:05d}", "dealstage": stage, "pipeline": "default",
                "amount": 5_000 * (1 + (k * 11) % 200), "closedate": iso(base + 86_400 * (30 + k % 300)),
                "hs_next_step": _pick(NEXT_STEP, k), "hubspot_owner_id": _pick(owner_ids, k),
            }, associations={"companies": [company]}, modified=stamp(), id=str(30_000_000 + k)))
        for k in range(counts["engagements"]):
            kind = ENGAGEMENTS[k % len(ENGAGEMENTS)]
            contact = contacts[(k * 5) % len(contacts)] if contacts else None
            company = self.records["contacts"][contact].associations["companies"][0] if contact else companies[0]
            links: dict[str, list[str]] = {"companies": [company]}
            if contact:
                links["contacts"] = [contact]
            if deals and k % 4 == 0:
                links["deals"] = [deals[(k * 3) % len(deals)]]
            when = iso(base - 86_400 * (k % 200))
            topic, detail = _pick(TOPIC, k), _pick(DETAIL, k // 4)
            properties = {"hs_timestamp": when, "hubspot_owner_id": _pick(owner_ids, k)}
            if kind == "notes":
                properties["hs_note_body"] = f"<p>{topic}: {detail} &amp; next review in Q{1 + k % 4}.</p>"
            elif kind == "meetings":
                properties |= {"hs_meeting_title": topic, "hs_meeting_body": f"<p>{detail}</p><p>Agenda item {k}.</p>"}
            elif kind == "calls":
                properties |= {"hs_call_title": f"Call: {topic}", "hs_call_body": f"{detail} (call {k})"}
            else:
                properties |= {"hs_email_subject": f"Re: {topic}", "hs_email_text": f"{detail}\n\nThread {k}."}
            self.add(kind, properties, associations=links, modified=stamp(), id=str(40_000_000 + k))
        return counts

    # -------------------------------------------------------------- request handling

    def handle(self, method: str, path: str, query: dict[str, list[str]], body: dict[str, Any],
               headers: Any) -> tuple[int, dict[str, str], Any]:
        self.requests.append((method, path, body if method == "POST" else {k: v for k, v in query.items()}))
        if headers.get("Authorization") != f"Bearer {self.token}":
            return 401, {}, {"status": "error", "category": "INVALID_AUTHENTICATION",
                             "message": "Authentication credentials not found."}
        with self._lock:
            for fault in self.faults:
                if fault.times > 0 and fault.method == method and path.startswith(fault.path):
                    fault.times -= 1
                    self.served_429 += fault.status == 429
                    return fault.status, fault.headers, fault.body
        limit_headers = self._count_against_limit()
        if limit_headers is None:
            self.served_429 += 1
            return 429, {"Retry-After": "1"}, {"status": "error", "errorType": "RATE_LIMIT",
                                               "policyName": "TEN_SECONDLY_ROLLING", "message": "rate limit"}
        status, payload = self._route(method, path, query, body)
        return status, limit_headers, payload

    def _count_against_limit(self) -> dict[str, str] | None:
        if self._limit is None:
            return {}
        allowed, window_ms = self._limit
        with self._lock:
            started, used = self._window
            now = time.monotonic()
            if now - started >= window_ms / 1000:
                started, used = now, 0
            used += 1
            self._window = (started, used)
        if used > allowed:
            return None
        return {"X-HubSpot-RateLimit-Max": str(allowed), "X-HubSpot-RateLimit-Remaining": str(allowed - used),
                "X-HubSpot-RateLimit-Interval-Milliseconds": str(window_ms)}

    def _route(self, method: str, path: str, query: dict[str, list[str]], body: dict[str, Any]) -> tuple[int, Any]:
        parts = [p for p in path.split("/") if p]
        if method == "GET" and parts[:3] == ["crm", "v3", "objects"] and len(parts) == 4 and parts[3] in TYPES:
            return self._list(parts[3], query)
        if method == "POST" and parts[:3] == ["crm", "v3", "objects"] and parts[4:] == ["search"] and parts[3] in TYPES:
            return self._search(parts[3], body)
        if method == "POST" and parts[:3] == ["crm", "v4", "associations"] and parts[5:] == ["batch", "read"]:
            return self._associations(parts[3], parts[4], body)
        if method == "GET" and parts == ["crm", "v3", "pipelines", "deals"]:
            return 200, {"results": [self._pipeline()]}
        if method == "GET" and parts == ["crm", "v3", "owners"]:
            return self._owners(query)
        if method == "GET" and parts[:3] == ["crm", "v3", "properties"] and len(parts) == 5:
            return self._property(parts[3], parts[4])
        return 404, {"status": "error", "message": f"no route for {method} {path}", "category": "OBJECT_NOT_FOUND"}

    def _list(self, type_: str, query: dict[str, list[str]]) -> tuple[int, Any]:
        limit = int(query.get("limit", ["10"])[0])
        after = int(query.get("after", ["0"])[0] or 0)
        archived = query.get("archived", ["false"])[0].lower() == "true"
        wanted = [p for value in query.get("properties", []) for p in value.split(",") if p]
        if limit > 100:
            return 400, {"status": "error", "message": "limit must be at most 100", "category": "VALIDATION_ERROR"}
        with self._lock:
            rows = sorted((r for r in self.records[type_].values() if (r.archived_at is not None) == archived),
                          key=lambda r: int(r.id))
            page = rows[after:after + limit]
            results = [r.as_json(wanted or DEFAULT_PROPERTIES.get(type_, ())) for r in page]
        body: dict[str, Any] = {"results": results}
        if after + limit < len(rows):
            body["paging"] = {"next": {"after": str(after + limit), "link": "?after=" + str(after + limit)}}
        return 200, body

    def _search(self, type_: str, request: dict[str, Any]) -> tuple[int, Any]:
        limit = int(request.get("limit") or 10)
        after = int(request.get("after") or 0)
        sorts = request.get("sorts") or []
        groups = request.get("filterGroups") or []
        if limit > SEARCH_LIMIT:
            return 400, {"status": "error", "message": f"limit must be at most {SEARCH_LIMIT}",
                         "category": "VALIDATION_ERROR"}
        if after >= self.search_cap:
            return 400, {"status": "error", "category": "VALIDATION_ERROR",
                         "message": f"paging past {self.search_cap} results is not supported"}
        if len(sorts) > 1 or len(groups) > 5:
            return 400, {"status": "error", "message": "one sort and at most 5 filter groups",
                         "category": "VALIDATION_ERROR"}
        with self._lock:
            rows = [r for r in self.records[type_].values()
                    if r.archived_at is None and (not groups or any(_matches(r, g) for g in groups))]
            if sorts:
                sort = sorts[0] if isinstance(sorts[0], dict) else {  # the short form: "prop" or "-prop"
                    "propertyName": str(sorts[0]).lstrip("-"),
                    "direction": "DESCENDING" if str(sorts[0]).startswith("-") else "ASCENDING"}
                name = sort.get("propertyName", "")
                descending = str(sort.get("direction", "ASCENDING")).upper().startswith("DESC")
                # equal values come back in no particular order (here: a hash of the id), never by id
                rows.sort(key=lambda r: _tie(r.id))
                rows.sort(key=lambda r: _sort_key(r, name), reverse=descending)
            else:
                rows.sort(key=lambda r: int(r.id))
            total = len(rows)
            page = rows[after:after + limit]
            results = [r.as_json(request.get("properties") or DEFAULT_PROPERTIES.get(type_, ())) for r in page]
        body: dict[str, Any] = {"total": total, "results": results}
        if after + limit < total:
            body["paging"] = {"next": {"after": str(after + limit)}}
        return 200, body

    def _associations(self, from_type: str, to_type: str, request: dict[str, Any]) -> tuple[int, Any]:
        now = iso(self.clock())
        results = []
        with self._lock:
            for item in request.get("inputs") or []:
                record = self.records.get(from_type, {}).get(str(item.get("id")))
                if record is None:
                    continue
                to = []
                for other in record.associations.get(to_type, []):
                    target = self.records.get(to_type, {}).get(other)
                    if target is None or target.archived_at is not None:
                        continue
                    kinds = [{"category": "HUBSPOT_DEFINED", "typeId": ASSOCIATION_TYPES.get((from_type, to_type), 1),
                              "label": None}]
                    primary = PRIMARY_TYPES.get((from_type, to_type))
                    if primary and other == record.associations[to_type][0]:
                        kinds.insert(0, {"category": "HUBSPOT_DEFINED", "typeId": primary, "label": "Primary"})
                    to.append({"toObjectId": int(other), "associationTypes": kinds})
                if to:
                    results.append({"from": {"id": record.id}, "to": to})
        return 200, {"status": "COMPLETE", "results": results, "startedAt": now, "completedAt": now}

    def _pipeline(self) -> dict[str, Any]:
        moment = iso(GENERATED_FROM)
        return {
            "id": "default", "label": "Sales Pipeline", "displayOrder": 0, "archived": False,
            "createdAt": moment, "updatedAt": moment,
            "stages": [{"id": sid, "label": label, "displayOrder": order, "archived": False,
                        "metadata": {"isClosed": str(sid.startswith("closed")).lower(), "probability": probability},
                        "createdAt": moment, "updatedAt": moment, "writePermissions": "CRM_PERMISSIONS_ENFORCEMENT"}
                       for order, (sid, label, probability) in enumerate(DEFAULT_STAGES)],
        }

    def _property(self, type_: str, name: str) -> tuple[int, Any]:
        options = self.options.get((type_, name))
        if options is None:
            return 404, {"status": "error", "message": f"property {name} does not exist", "category": "OBJECT_NOT_FOUND"}
        moment = iso(GENERATED_FROM)
        return 200, {
            "name": name, "label": name.title(), "type": "enumeration", "fieldType": "select", "description": "",
            "groupName": "companyinformation", "hidden": False, "hubspotDefined": True, "createdAt": moment,
            "updatedAt": moment, "archived": False,
            "options": [{"value": value, "label": label, "hidden": False, "displayOrder": order}
                        for order, (value, label) in enumerate(options.items())],
        }

    def _owners(self, query: dict[str, list[str]]) -> tuple[int, Any]:
        limit = int(query.get("limit", ["100"])[0])
        after = int(query.get("after", ["0"])[0] or 0)
        archived = query.get("archived", ["false"])[0].lower() == "true"
        rows = sorted((o for o in self.owners.values() if o["archived"] == archived), key=lambda o: int(o["id"]))
        body: dict[str, Any] = {"results": rows[after:after + limit]}
        if after + limit < len(rows):
            body["paging"] = {"next": {"after": str(after + limit)}}
        return 200, body


def enum_value(label: str) -> str:
    """An enumeration option's internal value, as HubSpot writes them: "Food & Beverage" -> FOOD_BEVERAGE."""
    return re.sub(r"[^A-Z0-9]+", "_", label.upper()).strip("_")


def _tie(record_id: str) -> str:
    return hashlib.sha1(record_id.encode()).hexdigest()


def _sort_key(record: Record, name: str) -> tuple[int, Any]:
    if name in DATETIME_PROPERTIES or name in NUMERIC_PROPERTIES:
        number = record.number(name)
        return (1, 0.0) if number is None else (0, number)
    value = record.property(name)
    return (1, "") if value is None else (0, value.lower())


def _matches(record: Record, group: dict[str, Any]) -> bool:
    return all(_match(record, f) for f in group.get("filters") or [])


def _match(record: Record, rule: dict[str, Any]) -> bool:
    name, operator = rule.get("propertyName", ""), str(rule.get("operator", "EQ")).upper()
    raw = record.property(name)
    if operator == "HAS_PROPERTY":
        return raw not in (None, "")
    if operator == "NOT_HAS_PROPERTY":
        return raw in (None, "")
    if raw is None:
        return False
    numeric = name in DATETIME_PROPERTIES or name in NUMERIC_PROPERTIES

    def as_value(value: Any) -> Any:
        if name in DATETIME_PROPERTIES:
            return float(millis(value) or 0)
        if name in NUMERIC_PROPERTIES:
            return float(value)
        return str(value).lower()

    mine = record.number(name) if numeric else as_value(raw)
    if operator == "IN":
        return mine in {as_value(v) for v in rule.get("values") or []}
    if operator == "BETWEEN":
        return as_value(rule.get("value")) <= mine <= as_value(rule.get("highValue"))
    other = as_value(rule.get("value"))
    return {"EQ": mine == other, "NEQ": mine != other, "LT": mine < other, "LTE": mine <= other,
            "GT": mine > other, "GTE": mine >= other}.get(operator, False)


def _handler_for(mock: HubSpotMock) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # headers and body go out in two writes: without this, Nagle holds the body back for the client's
        # delayed ACK (40 ms a request on a kept-alive connection)
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            return

        def _serve(self, method: str) -> None:
            url = urlparse(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                body = json.loads(raw) if raw else {}
            except json.JSONDecodeError:
                self._reply(400, {}, {"status": "error", "message": "invalid JSON"})
                return
            status, headers, payload = mock.handle(method, url.path.rstrip("/") or "/", parse_qs(url.query), body,
                                                   self.headers)
            self._reply(status, headers, payload)

        def _reply(self, status: int, headers: dict[str, str], payload: Any) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json;charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:  # noqa: N802
            self._serve("GET")

        def do_POST(self) -> None:  # noqa: N802
            self._serve("POST")

    return Handler


def _pick(values: list[str] | tuple[str, ...], index: int) -> str:
    return values[index % len(values)]


PREFIX = ("Northwind", "Bluepeak", "Cedar", "Ironvale", "Lumen", "Harbor", "Quarry", "Solstice", "Tidewater",
          "Verdant", "Granite", "Meridian", "Oakridge", "Silverline", "Kestrel")
SECTOR_WORD = ("Foods", "Logistics", "Pharma", "Retail", "Manufacturing", "Health", "Motors", "Textiles", "Energy")
INDUSTRY = ("Food & Beverage", "Logistics", "Pharmaceuticals", "Retail", "Manufacturing", "Healthcare", "Automotive")
CITY = ("Lyon", "Hamburg", "Monterrey", "Porto", "Leeds", "Gdansk", "Turin", "Ghent")
COUNTRY = ("France", "Germany", "Mexico", "Portugal", "United Kingdom", "Poland", "Italy", "Belgium")
FIRST = ("Ana", "Bruno", "Chloé", "Dmitri", "Elena", "Farid", "Greta", "Hugo", "Ines", "Jonas", "Keiko", "Lucas",
         "Marta", "Nils", "Olga", "Pablo", "Quentin", "Rosa", "Sven", "Tariq")
LAST = ("Almeida", "Brandt", "Costa", "Dubois", "Eriksen", "Fischer", "García", "Hoffmann", "Ivanova", "Jensen",
        "Keller", "Lambert", "Moreau", "Novak", "Ortega", "Petit", "Quinn", "Rossi", "Schmidt", "Torres")
TITLE = ("Chief Financial Officer", "Procurement Analyst", "Directrice des opérations", "Leiter Einkauf",
         "Jefe de compras", "VP Operations", "Purchasing Assistant", "IT Director", "Stagiaire achats",
         "Supply Chain Manager", "Geschäftsführer", "Data Engineer", "Head of Finance", "Werkstudent Controlling")
DEAL_WORD = ("Spend analytics rollout", "Demand planning pilot", "Inventory optimisation", "Supplier risk review",
             "Renewal", "Expansion")
NEXT_STEP = ("Send the business case to finance", "Book the executive review", "Share the pilot results",
             "Agree the success criteria", "Align with procurement on terms")
TOPIC = ("Quarterly business review", "Discovery", "Pricing follow-up", "Pilot kickoff", "Security questionnaire",
         "Executive alignment", "Forecast accuracy workshop")
DETAIL = ("Finance wants spend visibility by plant", "They reported 3% forecast error on top SKUs",
          "The new COO asked for a payback estimate", "Procurement is comparing two vendors",
          "IT needs the ERP connector timeline", "Working capital is the board's priority this year",
          "Inventory write-offs reached EUR 2M last year")
