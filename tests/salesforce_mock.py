"""A local mock of the parts of Salesforce's APIs the connector uses, for the real simple-salesforce client.

Stdlib ThreadingHTTPServer on 127.0.0.1, port 0, plain HTTP. It speaks:

- SOAP login (``POST /services/Soap/u/VER``): username + password + security token -> a session id and a
  serverUrl on this server; a wrong password is the INVALID_LOGIN fault simple-salesforce parses;
- REST ``query`` / ``queryAll`` with a small SOQL subset (``SELECT f, Rel.Field FROM Obj [WHERE a op v AND
  ...] [ORDER BY f [DESC], ...] [LIMIT n]``, ``COUNT()``), paged with ``nextRecordsUrl`` (2,000 a page), the
  cursor a snapshot taken when the query ran, as Salesforce's query locators are;
- ``sobjects/Obj/describe`` (the fields the connected user can see: a hidden field is left out of describe
  and refused by a query, as field-level security does);
- Bulk API 2.0 query jobs: create, poll (InProgress, then JobComplete), CSV results in pages with
  ``Sforce-Locator`` / ``Sforce-NumberOfRecords``, rows in no particular order;
- faults on demand: REQUEST_LIMIT_EXCEEDED (403), a 500, an expired session (401), an expired query locator.

Every request is recorded (method, path with query string) so a test can tell REST from Bulk.
Data is deterministic: `generate()` builds the same org for the same arguments.
"""

from __future__ import annotations

import base64
import csv
import html
import io
import itertools
import json
import re
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import requests
from requests.adapters import HTTPAdapter
from sync_helpers import LoopbackServer

API_VERSION = "59.0"
ORG_ID = "00DMOCK0000000001"
PAGE_SIZE = 2000

# object -> field -> (type, label); what describe reports and what a query may select
SCHEMA: dict[str, dict[str, tuple[str, str]]] = {
    "User": {
        "Id": ("id", "User ID"), "Name": ("string", "Full Name"), "FirstName": ("string", "First Name"),
        "LastName": ("string", "Last Name"), "Email": ("email", "Email"), "IsActive": ("boolean", "Active"),
        "UserType": ("picklist", "User Type"), "SystemModstamp": ("datetime", "System Modstamp"),
    },
    "Account": {
        "Id": ("id", "Account ID"), "Name": ("string", "Account Name"), "Industry": ("picklist", "Industry"),
        "NumberOfEmployees": ("int", "Employees"), "AnnualRevenue": ("currency", "Annual Revenue"),
        "BillingCountry": ("string", "Billing Country"), "BillingCity": ("string", "Billing City"),
        "Website": ("url", "Website"), "OwnerId": ("reference", "Owner ID"),
        "IsDeleted": ("boolean", "Deleted"), "SystemModstamp": ("datetime", "System Modstamp"),
    },
    "Contact": {
        "Id": ("id", "Contact ID"), "AccountId": ("reference", "Account ID"), "FirstName": ("string", "First Name"),
        "LastName": ("string", "Last Name"), "Name": ("string", "Full Name"), "Title": ("string", "Title"),
        "Email": ("email", "Email"), "Department": ("string", "Department"), "OwnerId": ("reference", "Owner ID"),
        "IsDeleted": ("boolean", "Deleted"), "SystemModstamp": ("datetime", "System Modstamp"),
    },
    "Opportunity": {
        "Id": ("id", "Opportunity ID"), "AccountId": ("reference", "Account ID"), "Name": ("string", "Name"),
        "StageName": ("picklist", "Stage"), "Amount": ("currency", "Amount"), "CloseDate": ("date", "Close Date"),
        "NextStep": ("string", "Next Step"), "Probability": ("percent", "Probability (%)"),
        "OwnerId": ("reference", "Owner ID"), "IsDeleted": ("boolean", "Deleted"),
        "SystemModstamp": ("datetime", "System Modstamp"),
    },
    "Lead": {
        "Id": ("id", "Lead ID"), "FirstName": ("string", "First Name"), "LastName": ("string", "Last Name"),
        "Name": ("string", "Full Name"), "Title": ("string", "Title"), "Company": ("string", "Company"),
        "Email": ("email", "Email"), "LeadSource": ("picklist", "Lead Source"), "Country": ("string", "Country"),
        "LastActivityDate": ("date", "Last Activity"), "IsConverted": ("boolean", "Converted"),
        "OwnerId": ("reference", "Owner ID"), "IsDeleted": ("boolean", "Deleted"),
        "SystemModstamp": ("datetime", "System Modstamp"),
        "Lead_Score__c": ("double", "Lead Score"), "Page_Views__c": ("double", "Page Views"),
        "Favourite_Colour__c": ("string", "Favourite Colour"),
    },
    "Task": {
        "Id": ("id", "Activity ID"), "Subject": ("combobox", "Subject"), "ActivityDate": ("date", "Due Date Only"),
        "Type": ("picklist", "Type"), "TaskSubtype": ("picklist", "Task Subtype"),
        "Description": ("textarea", "Comments"), "WhoId": ("reference", "Name ID"),
        "WhatId": ("reference", "Related To ID"), "AccountId": ("reference", "Account ID"),
        "OwnerId": ("reference", "Assigned To ID"), "IsDeleted": ("boolean", "Deleted"),
        "SystemModstamp": ("datetime", "System Modstamp"),
    },
    "Event": {
        "Id": ("id", "Activity ID"), "Subject": ("combobox", "Subject"), "ActivityDate": ("date", "Due Date Only"),
        "StartDateTime": ("datetime", "Start"), "Type": ("picklist", "Type"),
        "EventSubtype": ("picklist", "Event Subtype"), "Description": ("textarea", "Description"),
        "WhoId": ("reference", "Name ID"), "WhatId": ("reference", "Related To ID"),
        "AccountId": ("reference", "Account ID"), "OwnerId": ("reference", "Assigned To ID"),
        "IsDeleted": ("boolean", "Deleted"), "SystemModstamp": ("datetime", "System Modstamp"),
    },
}
RELATIONSHIPS = {"Owner": "OwnerId", "Account": "AccountId"}  # relationship name -> the id field it follows
ID_PREFIX = {"User": "005", "Account": "001", "Contact": "003", "Opportunity": "006", "Lead": "00Q",
             "Task": "00T", "Event": "00U"}
BASE_TIME = datetime(2025, 1, 6, 9, 0, 0, tzinfo=timezone.utc)


def sf_id(obj: str, number: int) -> str:
    """A Salesforce-looking 18-character id: the object's key prefix, the org's pod, a number."""
    return f"{ID_PREFIX[obj]}MK{number:013d}"


def rest_datetime(value: datetime) -> str:
    """How the REST API writes a dateTime: 2025-01-06T09:00:00.000+0000."""
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}+0000"


def bulk_datetime(value: datetime) -> str:
    """How Bulk API 2.0 CSV writes a dateTime: 2025-01-06T09:00:00.000Z."""
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def parse_datetime(text: str) -> datetime:
    text = text.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    text = re.sub(r"([+-]\d{2})(\d{2})$", r"\1:\2", text)
    return datetime.fromisoformat(text).astimezone(timezone.utc)


class SoqlError(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code, self.message = code, message


@dataclass
class Fault:
    """A canned error answer for the next `times` requests whose path contains `path` (and method, if given)."""

    status: int
    code: str
    message: str
    path: str = ""
    method: str = ""
    times: int = 1


@dataclass
class _Cursor:
    rows: list[dict[str, Any]]
    offset: int
    endpoint: str


@dataclass
class _Job:
    id: str
    operation: str
    query: str
    obj: str
    rows: list[dict[str, Any]] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)
    polls: int = 0


@dataclass
class _Query:
    fields: list[str]
    obj: str
    where: list[tuple[str, str, Any]]
    order: list[tuple[str, bool]]  # (field, descending)
    limit: int | None
    count: bool


class SalesforceMock(LoopbackServer):
    def __init__(self, *, page_size: int = PAGE_SIZE, username: str = "sync@example.com",
                 password: str = "s3cret", security_token: str = "TOKEN123", polls_before_complete: int = 1):
        self.page_size = page_size
        self.username, self.password, self.security_token = username, password, security_token
        self.polls_before_complete = polls_before_complete
        self.session_ids = {"00DMOCK!direct-session"}
        self.records: dict[str, list[dict[str, Any]]] = {obj: [] for obj in SCHEMA}
        self.hidden: dict[str, set[str]] = {}  # object -> fields the connected user cannot see
        self.requests: list[tuple[str, str]] = []
        self.redirected: list[str] = []  # the https:// URLs transport() sent here, as the client wrote them
        self.faults: list[Fault] = []
        self.logins = 0
        self._cursors: dict[str, _Cursor] = {}
        self._jobs: dict[str, _Job] = {}
        self._counter = itertools.count(1)
        self._clock = BASE_TIME
        self.lock = threading.RLock()

    # ------------------------------------------------------------------ lifecycle

    def handler(self) -> type[BaseHTTPRequestHandler]:
        mock = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go out in two writes

            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def do_GET(self) -> None:  # noqa: N802
                mock._handle(self, "GET")

            def do_POST(self) -> None:  # noqa: N802
                mock._handle(self, "POST")

            def do_PATCH(self) -> None:  # noqa: N802
                mock._handle(self, "PATCH")

            def do_DELETE(self) -> None:  # noqa: N802
                mock._handle(self, "DELETE")

        return Handler

    @property
    def session_id(self) -> str:
        """A session id the mock accepts, for the session id + instance URL path."""
        return "00DMOCK!direct-session"

    def transport(self) -> requests.Session:
        """A requests.Session that sends every https:// request to this server over plain HTTP.

        simple-salesforce builds https://{domain}.salesforce.com for the SOAP login and https://{instance}
        for every call; this is the transport override that points all of it here.
        """
        session = requests.Session()
        session.mount("https://", _ToMock(self.url, self.redirected))
        return session

    # ------------------------------------------------------------------ data

    def tick(self, seconds: float = 1.0) -> datetime:
        """Advance the org's clock; returns the new time."""
        with self.lock:
            self._clock += timedelta(seconds=seconds)
            return self._clock

    @property
    def now(self) -> datetime:
        return self._clock

    def add(self, obj: str, fields: dict[str, Any], *, at: datetime | None = None) -> dict[str, Any]:
        """Add a record; values as Python values (str, int, float, bool, None, date strings, datetime)."""
        with self.lock:
            record = dict(fields)
            if "Id" not in record:
                record["Id"] = sf_id(obj, next(self._counter))
            record.setdefault("SystemModstamp", at or self.tick())
            if "IsDeleted" in SCHEMA[obj]:
                record.setdefault("IsDeleted", False)
            if obj == "Lead":
                record.setdefault("IsConverted", False)
            if obj == "User":
                record.setdefault("IsActive", True)
                record.setdefault("UserType", "Standard")
            self.records[obj].append(record)
            return record

    def get(self, obj: str, record_id: str) -> dict[str, Any]:
        for record in self.records[obj]:
            if record.get("Id") == record_id:
                return record
        raise KeyError(record_id)

    def update(self, obj: str, record_id: str, *, at: datetime | None = None, **fields: Any) -> dict[str, Any]:
        with self.lock:
            record = self.get(obj, record_id)
            record.update(fields)
            record["SystemModstamp"] = at or self.tick()
            return record

    def delete(self, obj: str, record_id: str, *, at: datetime | None = None) -> None:
        """To the recycle bin: queryAll still returns it, with IsDeleted = true."""
        self.update(obj, record_id, at=at, IsDeleted=True)

    def purge(self, obj: str, record_id: str) -> None:
        """Gone for good (emptied recycle bin): no query returns it."""
        with self.lock:
            self.records[obj] = [r for r in self.records[obj] if r.get("Id") != record_id]

    def count(self, obj: str) -> int:
        return sum(1 for r in self.records[obj] if not r.get("IsDeleted"))

    def generate(self, *, accounts: int = 10, contacts_per_account: int = 3, opportunities_per_account: int = 1,
                 tasks_per_account: int = 2, events_per_account: int = 1, leads: int = 5, users: int = 3,
                 same_second: int = 3) -> None:
        """A deterministic org. Every `same_second` records in a row share one SystemModstamp, as a mass
        update or an import writes them, so window boundaries fall inside groups of equal timestamps."""
        industries = ["Manufacturing", "Retail", "Logistics", "Healthcare", "Financial Services"]
        titles = ["Chief Financial Officer", "VP Operations", "Procurement Manager", "Supply Chain Analyst",
                  "Head of IT", "Operations Intern"]
        stages = ["Prospecting", "Qualification", "Proposal", "Negotiation", "Closed Won", "Closed Lost"]
        serial = itertools.count()

        def stamp() -> datetime:
            return BASE_TIME + timedelta(seconds=next(serial) // max(1, same_second))

        with self.lock:
            owners = [self.add("User", {"Id": sf_id("User", i + 1), "FirstName": f"Owner{i + 1}",
                                        "LastName": "Rep", "Name": f"Owner{i + 1} Rep",
                                        "Email": f"owner{i + 1}@seller.example", "IsActive": i != users - 1},
                               at=stamp())["Id"] for i in range(users)]
            n = itertools.count(1)
            for a in range(accounts):
                account_id = sf_id("Account", 100000 + a)
                self.add("Account", {
                    "Id": account_id, "Name": f"Company {a:05d} Ltd", "Industry": industries[a % len(industries)],
                    "NumberOfEmployees": 100 + 37 * a, "AnnualRevenue": float(1_000_000 * (a + 1)),
                    "BillingCountry": "United States", "BillingCity": f"City {a % 7}",
                    "Website": f"www.company{a:05d}.example", "OwnerId": owners[a % len(owners)],
                }, at=stamp())
                contact_ids = []
                for c in range(contacts_per_account):
                    contact_id = sf_id("Contact", 200000 + next(n))
                    contact_ids.append(contact_id)
                    self.add("Contact", {
                        "Id": contact_id, "AccountId": account_id, "FirstName": f"First{a}x{c}",
                        "LastName": f"Last{a}x{c}", "Name": f"First{a}x{c} Last{a}x{c}",
                        "Title": titles[(a + c) % len(titles)], "Email": f"p{a}x{c}@company{a:05d}.example",
                        "Department": "Operations", "OwnerId": owners[a % len(owners)],
                    }, at=stamp())
                for o in range(opportunities_per_account):
                    self.add("Opportunity", {
                        "Id": sf_id("Opportunity", 300000 + next(n)), "AccountId": account_id,
                        "Name": f"Company {a:05d} - Deal {o}", "StageName": stages[(a + o) % len(stages)],
                        "Amount": 25000.0 * (a % 9 + 1) + 0.5 * o, "CloseDate": f"2026-{(a % 12) + 1:02d}-15",
                        "NextStep": f"Review with CFO, step {o}", "Probability": float(10 * ((a + o) % 10)),
                        "OwnerId": owners[a % len(owners)],
                    }, at=stamp())
                for t in range(tasks_per_account):
                    self.add("Task", {
                        "Id": sf_id("Task", 400000 + next(n)), "Subject": f"Call {t} with Company {a:05d}",
                        "ActivityDate": f"2025-{(t % 12) + 1:02d}-{(a % 27) + 1:02d}",
                        "Type": "Call" if t % 2 == 0 else None, "TaskSubtype": "Call" if t % 2 == 0 else "Email",
                        "Description": f"Notes of touch {t}.", "WhoId": contact_ids[t % len(contact_ids)]
                        if contact_ids else None, "WhatId": None if t % 2 else account_id, "AccountId": account_id,
                        "OwnerId": owners[a % len(owners)],
                    }, at=stamp())
                for e in range(events_per_account):
                    start = datetime(2025, 3, 1, 14, 30, tzinfo=timezone.utc) + timedelta(days=a + e)
                    self.add("Event", {
                        "Id": sf_id("Event", 500000 + next(n)), "Subject": f"Meeting {e} at Company {a:05d}",
                        "ActivityDate": start.date().isoformat() if e % 2 == 0 else None, "StartDateTime": start,
                        "Type": None if e % 2 == 0 else "Demo", "EventSubtype": "Event",
                        "Description": f"Agenda {e}.", "WhoId": contact_ids[0] if contact_ids else None,
                        "WhatId": account_id, "AccountId": account_id, "OwnerId": owners[a % len(owners)],
                    }, at=stamp())
            for i in range(leads):
                self.add("Lead", {
                    "Id": sf_id("Lead", 600000 + i), "FirstName": f"Lead{i}", "LastName": "Person",
                    "Name": f"Lead{i} Person", "Title": titles[i % len(titles)], "Company": f"Prospect {i} Inc",
                    "Email": f"lead{i}@prospect{i}.example", "LeadSource": "Web", "Country": "Germany",
                    "LastActivityDate": "2025-05-01", "Lead_Score__c": float(10 * i % 100),
                    "Page_Views__c": float(i), "Favourite_Colour__c": "blue", "OwnerId": owners[0],
                }, at=stamp())
            self._clock = max(self._clock, BASE_TIME + timedelta(seconds=next(serial) // max(1, same_second) + 1))

    def load_export(self, folder: Path) -> None:
        """Load Salesforce-shaped CSV exports (users, accounts, contacts, opportunities, activities) as this org's
        records: the same data the files hold. An opportunity's `Owner` name is the User of that name (one is
        created when the users export has none)."""
        files = {"users.csv": "User", "accounts.csv": "Account", "contacts.csv": "Contact",
                 "opportunities.csv": "Opportunity", "activities.csv": "Task"}
        for filename, obj in files.items():
            path = folder / filename
            if not path.exists():
                continue
            with path.open(encoding="utf-8", newline="") as handle:
                for row in csv.DictReader(handle):
                    record: dict[str, Any] = {}
                    for key, value in row.items():
                        if key == "Owner":
                            record["OwnerId"] = self._user_named(value) if value else None
                        elif key in SCHEMA[obj]:
                            record[key] = _typed(SCHEMA[obj][key][0], value)
                    if obj in ("User", "Contact") and "Name" not in record:
                        record["Name"] = " ".join(p for p in (record.get("FirstName"), record.get("LastName")) if p)
                    self.add(obj, record)

    def _user_named(self, name: str) -> str:
        found = next((u for u in self.records["User"] if u.get("Name") == name), None)
        return str(found["Id"] if found else self.add("User", {"Name": name})["Id"])

    # ------------------------------------------------------------------ faults

    def fail(self, status: int, code: str, message: str = "", *, path: str = "", method: str = "",
             times: int = 1) -> None:
        self.faults.append(Fault(status, code, message or code, path, method, times))

    def limit_exceeded(self, *, path: str = "/query", times: int = 1) -> None:
        self.fail(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.", path=path, times=times)

    def server_error(self, *, path: str = "/query", times: int = 1) -> None:
        self.fail(500, "UNKNOWN_EXCEPTION", "An unexpected error occurred. Please include this ErrorId.",
                  path=path, times=times)

    def expire_sessions(self) -> None:
        """Every session id stops working (an admin logged the user out, or the session timed out)."""
        with self.lock:
            self.session_ids.clear()

    def expire_cursors(self) -> None:
        """Query locators time out (15 minutes without a fetch on a real org)."""
        with self.lock:
            self._cursors.clear()

    def paths(self, contains: str = "") -> list[str]:
        return [path for _, path in self.requests if contains in path]

    # ------------------------------------------------------------------ HTTP

    def _handle(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        with self.lock:
            self.requests.append((method, handler.path))
            fault = next((f for f in self.faults if f.times > 0 and f.path in handler.path
                          and (not f.method or f.method == method)), None)
            if fault is not None:
                fault.times -= 1
        if fault is not None:
            self._send_json(handler, fault.status, [{"message": fault.message, "errorCode": fault.code}])
            return
        parts = urlsplit(handler.path)
        path, params = parts.path, {k: v[-1] for k, v in parse_qs(parts.query).items()}
        try:
            if re.fullmatch(r"/services/Soap/u/[\d.]+/?", path) and method == "POST":
                self._login(handler, body.decode("utf-8", "replace"))
                return
            match = re.fullmatch(r"/services/data/v[\d.]+/(.*)", path)
            if not match:
                self._send_json(handler, 404, [{"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}])
                return
            if (handler.headers.get("Authorization") or "").removeprefix("Bearer ") not in self.session_ids:
                self._send_json(handler, 401, [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}])
                return
            self._route(handler, method, match.group(1).rstrip("/"), params, body)
        except SoqlError as exc:
            self._send_json(handler, 400, [{"message": exc.message, "errorCode": exc.code}])

    def _route(self, handler: BaseHTTPRequestHandler, method: str, rest: str, params: dict[str, str],
               body: bytes) -> None:
        if rest in ("query", "queryAll") and method == "GET":
            self._send_json(handler, 200, self._query(params.get("q", ""), include_deleted=rest == "queryAll"))
        elif re.fullmatch(r"(query|queryAll)/[\w-]+", rest) and method == "GET":
            self._send_json(handler, 200, self._more(rest.split("/", 1)[1]))
        elif (describe := re.fullmatch(r"sobjects/(\w+)/describe", rest)) and method == "GET":
            obj = describe.group(1)
            if obj not in SCHEMA:
                self._send_json(handler, 404, [{"errorCode": "NOT_FOUND", "message": f"sObject type '{obj}' is not supported."}])
                return
            self._send_json(handler, 200, self._describe(obj))
        elif rest == "jobs/query" and method == "POST":
            self._send_json(handler, 200, self._create_job(json.loads(body or b"{}")))
        elif (job := re.fullmatch(r"jobs/query/(\w+)", rest)) and method == "GET":
            self._send_json(handler, 200, self._job_info(job.group(1)))
        elif (job := re.fullmatch(r"jobs/query/(\w+)/results", rest)) and method == "GET":
            self._job_results(handler, job.group(1), params)
        else:
            self._send_json(handler, 404, [{"errorCode": "NOT_FOUND", "message": f"no resource {rest}"}])

    def _login(self, handler: BaseHTTPRequestHandler, body: str) -> None:
        def element(name: str) -> str:
            found = re.search(rf"<(?:\w+:)?{name}>(.*?)</(?:\w+:)?{name}>", body, re.S)
            return html.unescape(found.group(1)) if found else ""

        if element("username") != self.username or element("password") != self.password + self.security_token:
            fault = ('<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope '
                     'xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
                     'xmlns:sf="urn:fault.partner.soap.sforce.com"><soapenv:Body><soapenv:Fault>'
                     '<faultcode>sf:INVALID_LOGIN</faultcode><faultstring>INVALID_LOGIN: Invalid username, '
                     'password, security token; or user locked out.</faultstring><detail><sf:LoginFault>'
                     '<sf:exceptionCode>INVALID_LOGIN</sf:exceptionCode><sf:exceptionMessage>Invalid username, '
                     'password, security token; or user locked out.</sf:exceptionMessage></sf:LoginFault>'
                     '</detail></soapenv:Fault></soapenv:Body></soapenv:Envelope>')
            self._send(handler, 500, fault.encode(), "text/xml; charset=utf-8")
            return
        with self.lock:
            self.logins += 1
            session_id = f"{ORG_ID}!login-{self.logins}"
            self.session_ids.add(session_id)
        server = f"{self.url}/services/Soap/u/{API_VERSION}/{ORG_ID}"
        answer = ('<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope '
                  'xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns="urn:partner.soap.sforce.com">'
                  '<soapenv:Body><loginResponse><result>'
                  f'<metadataServerUrl>{self.url}/services/Soap/m/{API_VERSION}/{ORG_ID}</metadataServerUrl>'
                  '<passwordExpired>false</passwordExpired><sandbox>false</sandbox>'
                  f'<serverUrl>{server}</serverUrl><sessionId>{session_id}</sessionId>'
                  f'<userId>{sf_id("User", 1)}</userId></result></loginResponse></soapenv:Body></soapenv:Envelope>')
        self._send(handler, 200, answer.encode(), "text/xml; charset=utf-8")

    def _send_json(self, handler: BaseHTTPRequestHandler, status: int, payload: Any) -> None:
        self._send(handler, status, json.dumps(payload).encode(), "application/json;charset=UTF-8")

    @staticmethod
    def _send(handler: BaseHTTPRequestHandler, status: int, data: bytes, content_type: str,
              headers: dict[str, str] | None = None) -> None:
        handler.send_response(status)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            handler.send_header(key, value)
        handler.end_headers()
        handler.wfile.write(data)

    # ------------------------------------------------------------------ REST query

    def _describe(self, obj: str) -> dict[str, Any]:
        hidden = self.hidden.get(obj, set())
        return {"name": obj, "queryable": True, "fields": [
            {"name": name, "type": kind, "label": label, "custom": name.endswith("__c")}
            for name, (kind, label) in SCHEMA[obj].items() if name not in hidden]}

    def _query(self, soql: str, *, include_deleted: bool) -> dict[str, Any]:
        query = self._parse(soql)
        with self.lock:
            rows = self._select(query, include_deleted=include_deleted)
        if query.count:
            return {"totalSize": len(rows), "done": True, "records": []}
        out = [self._json_row(query, row) for row in rows]
        return self._page(_Cursor(out, 0, "queryAll" if include_deleted else "query"))

    def _more(self, locator: str) -> dict[str, Any]:
        with self.lock:
            cursor = self._cursors.pop(locator.split("-")[0], None)
        if cursor is None or f"{cursor.offset}" != locator.split("-")[-1]:
            raise SoqlError("INVALID_QUERY_LOCATOR", "invalid query locator")
        return self._page(cursor)

    def _page(self, cursor: _Cursor) -> dict[str, Any]:
        page = cursor.rows[cursor.offset:cursor.offset + self.page_size]
        result: dict[str, Any] = {"totalSize": len(cursor.rows), "done": True, "records": page}
        following = cursor.offset + self.page_size
        if following < len(cursor.rows):
            key = f"01gMOCK{next(self._counter)}"
            with self.lock:
                self._cursors[key] = _Cursor(cursor.rows, following, cursor.endpoint)
            result["done"] = False
            result["nextRecordsUrl"] = f"/services/data/v{API_VERSION}/{cursor.endpoint}/{key}-{following}"
        return result

    def _parse(self, soql: str) -> _Query:
        text = " ".join(soql.split())
        match = re.fullmatch(r"SELECT (?P<fields>.+?) FROM (?P<obj>\w+)(?: WHERE (?P<where>.+?))?"
                             r"(?: ORDER BY (?P<order>.+?))?(?: LIMIT (?P<limit>\d+))?", text, re.I)
        if not match:
            raise SoqlError("MALFORMED_QUERY", f"unexpected token in: {text[:80]}")
        obj = match.group("obj")
        if obj not in SCHEMA:
            raise SoqlError("INVALID_TYPE", f"sObject type '{obj}' is not supported.")
        fields = [f.strip() for f in match.group("fields").split(",")]
        count = fields == ["COUNT()"]
        if not count:
            for name in fields:
                self._check_field(obj, name)
        where: list[tuple[str, str, Any]] = []
        if match.group("where"):
            for clause in re.split(r" AND ", match.group("where"), flags=re.I):
                cond = re.fullmatch(r"([\w.]+) *(=|!=|<=|>=|<|>) *(.+)", clause.strip())
                if not cond:
                    raise SoqlError("MALFORMED_QUERY", f"unexpected token: {clause}")
                name, op, literal = cond.groups()
                self._check_field(obj, name)
                where.append((name, op, self._literal(obj, name, literal.strip())))
        order: list[tuple[str, bool]] = []
        if match.group("order"):
            for part in match.group("order").split(","):
                words = part.split()
                self._check_field(obj, words[0])
                order.append((words[0], len(words) > 1 and words[1].upper() == "DESC"))
        limit = int(match.group("limit")) if match.group("limit") else None
        return _Query(fields, obj, where, order, limit, count)

    def _check_field(self, obj: str, name: str) -> None:
        if "." in name:
            relation, target = name.split(".", 1)
            if relation in RELATIONSHIPS and RELATIONSHIPS[relation] in SCHEMA[obj] and target in ("Name", "Id"):
                return
        elif name in SCHEMA[obj] and name not in self.hidden.get(obj, set()):
            return
        raise SoqlError("INVALID_FIELD", f"No such column '{name}' on entity '{obj}'.")

    @staticmethod
    def _literal(obj: str, name: str, literal: str) -> Any:
        kind = SCHEMA[obj].get(name, ("string", ""))[0]
        if literal.lower() == "null":
            return None
        if literal.lower() in ("true", "false"):
            return literal.lower() == "true"
        if literal.startswith("'") and literal.endswith("'"):
            return re.sub(r"\\(.)", r"\1", literal[1:-1])
        if kind == "datetime":
            if not re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,3})?(Z|[+-]\d{2}:\d{2})", literal):
                raise SoqlError("MALFORMED_QUERY", f"value of filter criterion for field '{name}' must be of type "
                                                   "dateTime and should not be enclosed in quotes")
            return parse_datetime(literal)
        try:
            return float(literal)
        except ValueError:
            raise SoqlError("MALFORMED_QUERY", f"unexpected token: {literal}") from None

    def _value(self, obj: str, row: dict[str, Any], name: str) -> Any:
        if "." in name:
            relation, target = name.split(".", 1)
            related_id = row.get(RELATIONSHIPS[relation])
            related = self._find(related_id) if related_id else None
            return related.get(target) if related else None
        return row.get(name)

    def _find(self, record_id: str) -> dict[str, Any] | None:
        for obj, prefix in ID_PREFIX.items():
            if record_id.startswith(prefix):
                return next((r for r in self.records[obj] if r.get("Id") == record_id), None)
        return None

    def _select(self, query: _Query, *, include_deleted: bool) -> list[dict[str, Any]]:
        def keep(row: dict[str, Any]) -> bool:
            if row.get("IsDeleted") and not include_deleted:
                return False
            for name, op, wanted in query.where:
                value = row.get(name)
                if isinstance(wanted, datetime) and isinstance(value, str):
                    value = parse_datetime(value)
                if op in ("=", "!="):
                    if (value == wanted or (value is None and wanted is False)) != (op == "="):
                        return False
                    continue
                if value is None:
                    return False
                try:
                    ok = {"<": value < wanted, ">": value > wanted, "<=": value <= wanted, ">=": value >= wanted}[op]
                except TypeError:
                    raise SoqlError("MALFORMED_QUERY", f"cannot compare {name}") from None
                if not ok:
                    return False
            return True

        rows = [row for row in self.records[query.obj] if keep(row)]
        for name, descending in reversed(query.order):
            rows.sort(key=lambda r, n=name: (r.get(n) is None, _sortable(r.get(n))), reverse=descending)
        return rows[:query.limit] if query.limit is not None else rows

    def _json_row(self, query: _Query, row: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {"attributes": {"type": query.obj,
                                              "url": f"/services/data/v{API_VERSION}/sobjects/{query.obj}/{row.get('Id')}"}}
        for name in query.fields:
            if "." in name:
                relation, target = name.split(".", 1)
                related_id = row.get(RELATIONSHIPS[relation])
                related = self._find(related_id) if related_id else None
                out[relation] = None if related is None else {
                    "attributes": {"type": "User" if relation == "Owner" else relation}, target: related.get(target)}
            else:
                value = row.get(name)
                out[name] = rest_datetime(value) if isinstance(value, datetime) else value
        return out

    # ------------------------------------------------------------------ Bulk API 2.0

    def _create_job(self, payload: dict[str, Any]) -> dict[str, Any]:
        operation = payload.get("operation")
        if operation not in ("query", "queryAll"):
            raise SoqlError("INVALIDJOB", f"unsupported operation {operation}")
        query = self._parse(str(payload.get("query", "")))
        if query.count:
            raise SoqlError("INVALIDJOB", "Aggregate Relationships not supported in Bulk Query")
        if query.order:
            raise SoqlError("INVALIDJOB", "ORDER BY is not supported in this mock's Bulk API 2.0 queries")
        with self.lock:
            rows = self._select(query, include_deleted=operation == "queryAll")
            job = _Job(f"750MOCK{next(self._counter):010d}", operation, payload["query"], query.obj,
                       columns=query.fields)
            # results come in no particular order: a stable shuffle keyed on the id
            job.rows = sorted(rows, key=lambda r: _scramble(str(r.get("Id"))))
            job.rows = [{name: self._value(query.obj, r, name) for name in query.fields} for r in job.rows]
            self._jobs[job.id] = job
        return {"id": job.id, "operation": operation, "object": query.obj, "state": "UploadComplete",
                "concurrencyMode": "Parallel", "contentType": "CSV", "apiVersion": float(API_VERSION),
                "lineEnding": payload.get("lineEnding", "LF"), "columnDelimiter": payload.get("columnDelimiter", "COMMA")}

    def _job_info(self, job_id: str) -> dict[str, Any]:
        job = self._jobs.get(job_id)
        if job is None:
            raise SoqlError("NOT_FOUND", f"job {job_id} not found")
        job.polls += 1
        state = "JobComplete" if job.polls > self.polls_before_complete else "InProgress"
        return {"id": job.id, "operation": job.operation, "object": job.obj, "state": state,
                "numberRecordsProcessed": len(job.rows) if state == "JobComplete" else 0}

    def _job_results(self, handler: BaseHTTPRequestHandler, job_id: str, params: dict[str, str]) -> None:
        job = self._jobs.get(job_id)
        if job is None or job.polls <= self.polls_before_complete:
            raise SoqlError("INVALIDJOB", "job is not complete")
        size = int(params.get("maxRecords") or 50000)
        start = int(base64.b64decode(unquote(params["locator"])).decode()) if params.get("locator") else 0
        page = job.rows[start:start + size]
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(job.columns)
        for row in page:
            writer.writerow([_csv_value(row.get(name)) for name in job.columns])
        following = start + size
        locator = base64.b64encode(str(following).encode()).decode() if following < len(job.rows) else "null"
        self._send(handler, 200, out.getvalue().encode("utf-8"), "text/csv",
                   {"Sforce-Locator": locator, "Sforce-NumberOfRecords": str(len(page))})


class _ToMock(HTTPAdapter):
    def __init__(self, base: str, record: list[str]):
        super().__init__()
        self.base, self.record = base, record

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        self.record.append(request.url or "")
        parts = urlsplit(request.url or "")
        request.url = self.base + parts.path + (f"?{parts.query}" if parts.query else "")
        return super().send(request, *args, **kwargs)


def _typed(kind: str, value: str) -> Any:
    if value == "":
        return None
    if kind in ("int",):
        return int(float(value))
    if kind in ("currency", "double", "percent"):
        return float(value)
    if kind == "boolean":
        return value.lower() == "true"
    if kind == "datetime":
        return parse_datetime(value)
    return value


def _csv_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return bulk_datetime(value)
    return str(value)


def _sortable(value: Any) -> Any:
    if isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}T.*", value):
        return parse_datetime(value)
    return value if value is not None else ""


def _scramble(text: str) -> str:
    return "".join(reversed(text))
