"""Salesforce through simple-salesforce: what changed since the checkpoint, as the rows a Salesforce export holds.

Objects: User (owners), Account, Contact, Opportunity, Lead, Task and Event (activities). Each record becomes a
Change whose row carries Salesforce's API field names, the headers `bot.knowledge.crm` maps for exports, so a
synced record reads exactly like an exported one.

Incremental by SystemModstamp: ``WHERE SystemModstamp > :since ORDER BY SystemModstamp, Id`` through queryAll, so
deleted records come back too (IsDeleted = true -> a deleted Change) and converted leads drop out of the leads.
Many records share one SystemModstamp (a mass update writes them all in the same second), so a batch only ever
ends where the timestamp changes: the checkpoint (one ISO timestamp per object) then means "everything up to and
including this instant was delivered", and the next window's strict ``>`` neither loses nor repeats a record.

A first (or --full) sync of an object with more records than `bulk_threshold` reads it through a Bulk API 2.0
query job instead of REST pages. Bulk results come in no order, so the object's checkpoint moves only when the job
is read to the end, to the newest SystemModstamp read *before* the job started (records changed while it ran are
newer than that and come with the next incremental window).

What the connected user cannot see (field-level security hides a field; an object not shared) is read from
describe, so a query never names a field it would be refused: the field comes out empty. A custom field whose
label is a header the CRM mapping knows for that role ("Lead Score", "Page Views") comes out under its label,
as a report export writes it.

REQUEST_LIMIT_EXCEEDED, 5xx and dropped connections are retried with exponential backoff a bounded number of
times; an expired session logs in again once; an expired query cursor restarts the window from the checkpoint.
A record that cannot be read (no Id, a malformed date or number) is a SyncProblem with its object and id.
"""

from __future__ import annotations

import csv
import io
import logging
import math
import re
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from functools import partial
from typing import Any, TypeVar
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import (
    SalesforceAuthenticationFailed,
    SalesforceError,
    SalesforceExpiredSession,
    SalesforceOperationError,
)
from simple_salesforce.login import SalesforceLogin

from bot.knowledge.crm import ALIASES, map_headers, normalize_header
from bot.settings import Settings, SettingsError
from bot.sync.base import Batch, Change, CrmAuthError, Retries, SyncError, SyncProblem

logger = logging.getLogger(__name__)

API_VERSION = "59.0"
DEFAULT_BULK_THRESHOLD = 10_000
T = TypeVar("T")


@dataclass(frozen=True)
class SObject:
    name: str
    role: str
    headers: tuple[str, ...]  # the row's headers, in export order
    reads: tuple[str, ...] = ()  # fields read only to fill a header (a fallback), not rows of their own
    scope: str = ""  # the records of this object the product syncs at all (a SOQL condition)


# The order matters: owners and accounts before the records that point at them.
OBJECTS: tuple[SObject, ...] = (
    SObject("User", "owner", ("Id", "Name", "Email", "IsActive"), scope="UserType = 'Standard'"),
    SObject("Account", "account", ("Id", "Name", "Industry", "NumberOfEmployees", "AnnualRevenue", "BillingCountry",
                                   "BillingCity", "Website", "OwnerId")),
    SObject("Contact", "contact", ("Id", "AccountId", "FirstName", "LastName", "Title", "Email", "Department",
                                   "OwnerId")),
    # a deal shows its owner's name, as an opportunities export does; accounts point at the owner by id
    SObject("Opportunity", "opportunity", ("Id", "AccountId", "Name", "StageName", "Amount", "CloseDate", "NextStep",
                                           "Probability", "OwnerId", "Owner"), reads=("Owner.Name",)),
    SObject("Lead", "lead", ("Id", "FirstName", "LastName", "Title", "Company", "Email", "LeadSource", "Country",
                             "LastActivityDate", "OwnerId"), reads=("IsConverted",)),
    # a task's Type is often empty where its subtype says Call or Email; WhatId falls back to the account
    SObject("Task", "activity", ("Id", "ActivityDate", "Type", "Subject", "Description", "WhoId", "WhatId",
                                 "OwnerId"), reads=("TaskSubtype", "AccountId")),
    # an Event is a calendar meeting: its date is the start's when ActivityDate is empty
    SObject("Event", "activity", ("Id", "ActivityDate", "Type", "Subject", "Description", "WhoId", "WhatId",
                                  "OwnerId"), reads=("StartDateTime", "AccountId")),
)
EVENT_TYPE = "Meeting"  # an Event with no Type: what Salesforce's calendar event is
_RELATIONS = {"Owner.Name": "OwnerId"}  # a relationship field is readable when the id it follows is
_LOOPBACK = {"127.0.0.1", "localhost", "::1"}


class SalesforceSyncError(SyncError):
    """A call that failed for good (after its retries), with Salesforce's errorCode when there was one."""

    def __init__(self, message: str, *, code: str = "", status: int = 0):
        super().__init__(message)
        self.code, self.status = code, status


@dataclass
class _Plan:
    """One object as this org's describe shows it to the connected user."""

    spec: SObject
    types: dict[str, str]  # readable field -> Salesforce type
    labelled: dict[str, str] = field(default_factory=dict)  # custom field -> the header (its label) it fills

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def deletable(self) -> bool:
        return "IsDeleted" in self.types

    @property
    def select(self) -> list[str]:
        wanted = [*self.spec.headers, *self.spec.reads, *self.labelled, "SystemModstamp"]
        if self.deletable:
            wanted.append("IsDeleted")
        fields = [f for f in dict.fromkeys(wanted) if f in self.types or _RELATIONS.get(f, "") in self.types]
        return fields if "Id" in fields else ["Id", *fields]

    def conditions(self, *, live_only: bool) -> list[str]:
        """`scope` always; with `live_only` also what excludes records that are gone (for a full pull and the ids)."""
        conditions = [self.spec.scope] if self.spec.scope else []
        if live_only and self.deletable:
            conditions.append("IsDeleted = false")
        if live_only and "IsConverted" in self.types:
            conditions.append("IsConverted = false")
        return conditions

    def soql(self, fields: Iterable[str], *, live_only: bool, since: str | None = None, until: str | None = None,
             ordered: bool = True) -> str:
        conditions = self.conditions(live_only=live_only)
        if since:
            conditions.append(f"SystemModstamp > {_soql_datetime(since)}")
        if until:
            conditions.append(f"SystemModstamp <= {_soql_datetime(until)}")
        text = f"SELECT {', '.join(fields)} FROM {self.name}"
        if conditions:
            text += " WHERE " + " AND ".join(conditions)
        return text + (" ORDER BY SystemModstamp, Id" if ordered else "")


class SalesforceConnector:
    """The Connector for Salesforce (see bot.sync.base)."""

    system = "salesforce"

    def __init__(self, *, username: str | None = None, password: str | None = None,
                 security_token: str | None = None, domain: str = "login", instance_url: str | None = None,
                 session_id: str | None = None, session: requests.Session | None = None,
                 bulk_threshold: int = DEFAULT_BULK_THRESHOLD, bulk_page_size: int = 50_000,
                 bulk_poll: float = 2.0, batch_size: int = 2000, max_retries: int = 5, backoff: float = 1.0,
                 max_backoff: float = 60.0, sleep: Callable[[float], None] = time.sleep):
        if session_id and not instance_url and not (username and password):
            raise CrmAuthError("SALESFORCE_INSTANCE_URL: required with SALESFORCE_SESSION_ID (the org's "
                                "https://<My Domain>.my.salesforce.com)")
        if not ((username and password) or (session_id and instance_url)):
            raise CrmAuthError(
                "SALESFORCE_USERNAME: required with SALESFORCE_PASSWORD (and SALESFORCE_SECURITY_TOKEN unless the "
                "network is trusted), or set SALESFORCE_SESSION_ID with SALESFORCE_INSTANCE_URL")
        self._username, self._password, self._token = username, password, security_token
        self._session_id = session_id
        self._domain = _login_domain(domain)
        self._instance_url = instance_url.rstrip("/") if instance_url else None
        self._session = _transport(self._instance_url, session)
        self.bulk_threshold, self.bulk_page_size, self.bulk_poll = bulk_threshold, bulk_page_size, bulk_poll
        self.batch_size, self.max_retries = max(1, batch_size), max_retries
        self.retries = Retries("Salesforce", attempts=max_retries + 1, backoff=backoff, max_backoff=max_backoff,
                               sleep=sleep)
        self._sf: Salesforce | None = None
        self._plans: dict[str, _Plan] = {}
        self._problems: list[SyncProblem] = []

    @classmethod
    def from_settings(cls, settings: Settings, **options: Any) -> SalesforceConnector:
        """`options`: the transport (`session`) and the tuning knobs of __init__ (tests shrink them)."""
        return cls(username=settings.salesforce_username, password=settings.salesforce_password,
                   security_token=settings.salesforce_security_token, domain=settings.salesforce_domain,
                   instance_url=settings.salesforce_instance_url, session_id=settings.salesforce_session_id,
                   **options)

    @property
    def problems(self) -> list[SyncProblem]:
        return list(self._problems)

    # ------------------------------------------------------------------ the Connector interface

    def batches(self, checkpoint: dict[str, Any] | None, *, full: bool = False) -> Iterator[Batch]:
        self._problems = []
        self._plans = {}  # describe again each run: an admin may have changed what the user can see
        state = {} if full else _valid_checkpoint(checkpoint)
        for spec in OBJECTS:
            plan = self._plan(spec, strict=False)
            if plan is None:
                continue
            if spec.name not in state and self._count(plan) > self.bulk_threshold:
                yield from self._bulk_pull(plan, state)
            else:
                yield from self._rest_pull(plan, state)

    def current_ids(self, role: str) -> set[str]:
        specs = [spec for spec in OBJECTS if spec.role == role]
        if not specs:
            raise ValueError(f"Salesforce has no {role!r} records")
        ids: set[str] = set()
        for spec in specs:
            plan = self._plan(spec, strict=True)
            assert plan is not None
            if self._count(plan) > self.bulk_threshold:
                soql = plan.soql(["Id"], live_only=True, ordered=False)
                for rows in self._bulk_pages(plan, soql):
                    ids.update(row["Id"] for row in rows if row.get("Id"))
            else:
                for page, _ in self._pages(plan.soql(["Id"], live_only=True, ordered=False), every=plan.deletable):
                    ids.update(str(record["Id"]) for record in page if record.get("Id"))
        return ids

    # ------------------------------------------------------------------ pulls

    def _rest_pull(self, plan: _Plan, state: dict[str, Any]) -> Iterator[Batch]:
        """Pages of one ORDER BY SystemModstamp, Id query; a batch ends only where the timestamp changes."""
        live_only = plan.name not in state  # a first pull has no deletions to report
        restarts = 0
        while True:
            since = state.get(plan.name)
            complete = since  # every record up to this timestamp is in `ready` or was yielded
            ready: list[Change] = []
            group: list[Change] = []  # the records of the newest timestamp seen: more may follow on the next page
            group_at: str | None = None
            try:
                for page, last in self._pages(plan.soql(plan.select, live_only=live_only, since=since),
                                              every=plan.deletable):
                    for record in page:
                        modified, change = self._read(plan, _flatten(record))
                        if modified is None:
                            continue
                        if modified != group_at:
                            if group_at is not None:
                                ready.extend(group)
                                complete = group_at
                            group, group_at = [], modified
                        if change is not None:
                            group.append(change)
                    if last and group_at is not None:  # the query is read to the end: its newest group is whole
                        ready.extend(group)
                        complete, group, group_at = group_at, [], None
                    if complete != state.get(plan.name) or ready:
                        if complete is not None:
                            state[plan.name] = complete
                        yield Batch(ready, dict(state))
                        ready = []
            except SalesforceSyncError as exc:
                if exc.code != "INVALID_QUERY_LOCATOR" or restarts >= self.max_retries:
                    raise
                restarts += 1  # the cursor timed out while the runner wrote: read again from the checkpoint
                logger.warning("Salesforce %s: the query cursor expired; reading again from %s", plan.name,
                               state.get(plan.name) or "the start")
                continue
            return

    def _bulk_pull(self, plan: _Plan, state: dict[str, Any]) -> Iterator[Batch]:
        """A Bulk API 2.0 job over every current record up to the newest SystemModstamp as the job starts."""
        newest = self._call(f"{plan.name} newest change", lambda sf: sf.query(
            plan.soql(["SystemModstamp"], live_only=True, ordered=False) + " ORDER BY SystemModstamp DESC LIMIT 1",
            include_deleted=plan.deletable))
        records = newest.get("records") or []
        if not records:
            return
        mark = _iso_datetime(records[0].get("SystemModstamp"))
        logger.info("Salesforce %s: first sync through Bulk API 2.0 (more than %d records)", plan.name,
                    self.bulk_threshold)
        soql = plan.soql(plan.select, live_only=True, until=mark, ordered=False)
        held: list[Change] | None = None  # one batch kept back, so the last one carries the new checkpoint
        for rows in self._bulk_pages(plan, soql):
            changes = [change for row in rows for change in [self._read(plan, row)[1]] if change is not None]
            for start in range(0, len(changes), self.batch_size):
                if held is not None:
                    yield Batch(held, dict(state))
                held = changes[start:start + self.batch_size]
        state[plan.name] = mark
        yield Batch(held or [], dict(state))

    def _bulk_pages(self, plan: _Plan, soql: str) -> Iterator[list[dict[str, str]]]:
        """The job's CSV pages as rows. A job that fails part-way is run again, skipping the ids already given."""
        seen: set[str] = set()
        attempt = 0
        while True:
            try:
                bulk = getattr(self._client().bulk2, plan.name)
                query = bulk.query_all if plan.deletable else bulk.query
                for page in query(soql, max_records=self.bulk_page_size, wait=self.bulk_poll):  # type: ignore[arg-type]
                    rows = [row for row in csv.DictReader(io.StringIO(str(page)))
                            if not row.get("Id") or row["Id"] not in seen]
                    seen.update(row["Id"] for row in rows if row.get("Id"))
                    yield rows
                return
            except (SalesforceError, SalesforceOperationError, requests.RequestException) as exc:
                self._after_failure(f"{plan.name} bulk query", exc, attempt)
                attempt += 1

    def _pages(self, soql: str, *, every: bool) -> Iterator[tuple[list[dict[str, Any]], bool]]:
        """(records, last) for each page of a query, through nextRecordsUrl; `every`: queryAll (deleted and
        archived records too)."""
        result = self._call("query", lambda sf: sf.query(soql, include_deleted=every))
        while True:
            last = bool(result.get("done", True)) or not result.get("nextRecordsUrl")
            yield list(result.get("records") or []), last
            if last:
                return
            result = self._call("query page", partial(_more, url=str(result["nextRecordsUrl"])))

    def _count(self, plan: _Plan) -> int:
        result = self._call(f"{plan.name} count", lambda sf: sf.query(
            plan.soql(["COUNT()"], live_only=True, ordered=False), include_deleted=plan.deletable))
        return int(result.get("totalSize") or 0)

    # ------------------------------------------------------------------ records

    def _read(self, plan: _Plan, values: dict[str, Any]) -> tuple[str | None, Change | None]:
        """(SystemModstamp, Change); the Change is None for a record that cannot be read (reported)."""
        record_id = str(values.get("Id") or "").strip()
        try:
            modified = _iso_datetime(values.get("SystemModstamp"))
        except ValueError:
            self._problem(plan, record_id, f"SystemModstamp: not a date and time ({values.get('SystemModstamp')!r})")
            return None, None
        if not record_id:
            self._problem(plan, "", f"a record without an Id (modified {modified})")
            return modified, None
        text: dict[str, str] = {}
        errors: list[str] = []
        for name in plan.select:
            kind = "string" if name in _RELATIONS else plan.types.get(name, "string")
            try:
                text[name] = _text(kind, values.get(name))
            except ValueError:
                errors.append(f"{name}: not {_KIND_WORDS.get(kind, 'a ' + kind)} ({values.get(name)!r}); left empty")
                text[name] = ""
        if errors:
            self._problem(plan, record_id, "; ".join(errors))
        row = _row(plan, text)
        deleted = text.get("IsDeleted") == "true" or text.get("IsConverted") == "true"
        return modified, Change(plan.spec.role, record_id, row, deleted)

    def _problem(self, plan: _Plan, record_id: str, error: str) -> None:
        logger.warning("Salesforce %s %s: %s", plan.name, record_id or "(no id)", error)
        self._problems.append(SyncProblem(plan.spec.role, record_id, f"Salesforce {plan.name}: {error}"))

    def _plan(self, spec: SObject, *, strict: bool) -> _Plan | None:
        if spec.name in self._plans:
            return self._plans[spec.name]
        try:
            described = self._call(f"{spec.name} describe", lambda sf: getattr(sf, spec.name).describe())
        except SalesforceSyncError as exc:
            if strict or not (exc.status in (403, 404) or exc.code in ("NOT_FOUND", "INSUFFICIENT_ACCESS")):
                raise
            self._problems.append(SyncProblem(spec.role, "", f"Salesforce {spec.name}: not readable by the connected "
                                                            f"user ({exc}); skipped"))
            return None
        fields = [f for f in (described or {}).get("fields") or [] if isinstance(f, dict) and f.get("name")]
        types = {str(f["name"]): str(f.get("type") or "string") for f in fields}
        plan = _Plan(spec, types, _labelled_fields(spec, fields))
        self._plans[spec.name] = plan
        return plan

    # ------------------------------------------------------------------ calls, retries, login

    def _client(self) -> Salesforce:
        if self._sf is None:
            self._sf = self._connect()
        return self._sf

    def _connect(self) -> Salesforce:
        if self._session_id and self._instance_url:
            return Salesforce(session_id=self._session_id, instance_url=self._instance_url, session=self._session,
                              version=API_VERSION)
        # With an instance URL (a My Domain) the SOAP login goes there; else to {domain}.salesforce.com.
        session_id, instance = SalesforceLogin(
            username=self._username, password=self._password, security_token=self._token or "",
            domain=self._domain, session=self._session, sf_version=API_VERSION, scratch_url=self._instance_url)
        return Salesforce(session_id=session_id, instance=instance, session=self._session, version=API_VERSION)

    def _call(self, what: str, call: Callable[[Salesforce], T]) -> T:
        attempt = 0
        while True:
            try:
                return call(self._client())
            except (SalesforceError, SalesforceOperationError, requests.RequestException) as exc:
                self._after_failure(what, exc, attempt)
                attempt += 1

    def _after_failure(self, what: str, exc: Exception, attempt: int) -> None:
        """Wait before the next attempt, or raise SalesforceSyncError when there is none."""
        code, status = _error_code(exc)
        if isinstance(exc, SalesforceAuthenticationFailed):
            raise CrmAuthError(
                f"SALESFORCE_USERNAME, SALESFORCE_PASSWORD, SALESFORCE_SECURITY_TOKEN: Salesforce refused the login "
                f"({exc.code}); check them and SALESFORCE_DOMAIN") from exc
        if isinstance(exc, SalesforceExpiredSession):
            if self._username and self._password and attempt == 0:
                logger.info("Salesforce session expired; logging in again")
                self._sf = None
                return
            raise CrmAuthError(f"SALESFORCE_SESSION_ID: Salesforce refused it on {what} (expired or invalid); "
                               "set a new one, or SALESFORCE_USERNAME and SALESFORCE_PASSWORD") from exc
        limited = code == "REQUEST_LIMIT_EXCEEDED"
        transient = (limited or status >= 500 or code in ("SERVER_UNAVAILABLE", "UNABLE_TO_LOCK_ROW")
                     or isinstance(exc, (requests.ConnectionError, requests.Timeout, SalesforceOperationError)))
        reason = str(code or status or type(exc).__name__)
        # an API limit needs longer than a hiccup: the org's other clients share it
        if not transient or not self.retries.wait(what, reason, attempt,
                                                  self.retries.delay(attempt, factor=4 if limited else 1)):
            tried = f" after {attempt + 1} attempts" if transient else ""
            raise SalesforceSyncError(f"Salesforce {what} failed{tried}: {reason}: {_error_message(exc)}",
                                      code=code, status=status) from exc


# ---------------------------------------------------------------------- helpers


def _more(sf: Salesforce, *, url: str) -> Any:
    return sf.query_more(url, identifier_is_url=True)


def _row(plan: _Plan, values: dict[str, str]) -> dict[str, str]:
    row = {header: values.get(header, "") for header in plan.spec.headers}
    if "Owner" in row:
        row["Owner"] = values.get("Owner.Name", "")
    if plan.name == "Task":
        row["Type"] = row["Type"] or values.get("TaskSubtype", "")
    if plan.name == "Event":
        row["Type"] = row["Type"] or EVENT_TYPE
        row["ActivityDate"] = row["ActivityDate"] or values.get("StartDateTime", "")[:10]
    if "WhatId" in row:
        row["WhatId"] = row["WhatId"] or values.get("AccountId", "")
    for name, header in plan.labelled.items():
        row[header] = values.get(name, "")
    return row


def _labelled_fields(spec: SObject, fields: list[dict[str, Any]]) -> dict[str, str]:
    """Custom fields whose label is a header the CRM mapping knows for the role, for fields the standard ones
    leave empty: {"Lead_Score__c": "Lead Score"}."""
    aliases = ALIASES.get(spec.role)
    if not aliases:
        return {}
    covered = set(map_headers(spec.role, list(spec.headers)).values())
    found: dict[str, str] = {}
    for item in fields:
        name, label = str(item.get("name")), str(item.get("label") or "")
        if not (item.get("custom") and label):
            continue
        wanted = normalize_header(label)
        canonical = next((c for c, names in aliases.items() if wanted in names and c not in covered), None)
        if canonical is not None:
            covered.add(canonical)
            found[name] = label
    return found


def _flatten(record: dict[str, Any]) -> dict[str, Any]:
    """A REST record as the columns a Bulk CSV has: {"Owner": {"Name": x}} -> {"Owner.Name": x}."""
    flat: dict[str, Any] = {}
    for key, value in record.items():
        if key == "attributes":
            continue
        if isinstance(value, dict):
            for inner, item in value.items():
                if inner != "attributes":
                    flat[f"{key}.{inner}"] = item
        else:
            flat[key] = value
    return flat


_KIND_WORDS = {"date": "a date (YYYY-MM-DD)", "datetime": "a date and time", "boolean": "true or false",
               "int": "a whole number", "double": "a number", "currency": "an amount", "percent": "a percentage"}
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _text(kind: str, value: Any) -> str:
    """A REST (JSON) or Bulk (CSV) value as the text an export cell holds; ValueError when it is not a `kind`."""
    if value is None or value == "":
        return ""
    if kind == "boolean":
        if isinstance(value, bool):
            return "true" if value else "false"
        if str(value).strip().lower() in ("true", "false"):
            return str(value).strip().lower()
        raise ValueError
    if kind in ("int", "double", "currency", "percent"):
        if isinstance(value, bool):
            raise ValueError
        number = float(value)
        if not math.isfinite(number):
            raise ValueError
        return str(int(number)) if number.is_integer() and abs(number) < 1e15 else repr(number)
    if kind == "date":
        text = str(value).strip()
        if not _DATE.fullmatch(text):
            raise ValueError
        date.fromisoformat(text)
        return text
    if kind == "datetime":
        return _iso_datetime(value)
    return str(value)


def _iso_datetime(value: Any) -> str:
    """2025-01-06T09:00:00.000+0000 (REST) or ...000Z (Bulk) -> 2025-01-06T09:00:00.000Z; sorts as it reads."""
    text = str(value or "").strip()
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?(Z|[+-]\d{2}:?\d{2})", text):
        raise ValueError(text)
    text = re.sub(r"([+-]\d{2})(\d{2})$", r"\1:\2", text.replace("Z", "+00:00"))
    moment = datetime.fromisoformat(text).astimezone(timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _soql_datetime(iso: str) -> str:
    """The SOQL literal (no quotes); whole seconds as the documented YYYY-MM-DDThh:mm:ssZ."""
    return iso.replace(".000Z", "Z")


def _valid_checkpoint(checkpoint: dict[str, Any] | None) -> dict[str, Any]:
    state: dict[str, Any] = {}
    known = {spec.name for spec in OBJECTS}
    for name, value in (checkpoint or {}).items():
        try:
            if name in known:
                state[name] = _iso_datetime(value)
        except ValueError:
            logger.warning("Salesforce checkpoint for %s is not a timestamp (%r): that object syncs in full", name, value)
    return state


def _error_code(exc: Exception) -> tuple[str, int]:
    status = int(getattr(exc, "status", 0) or 0)
    if isinstance(exc, requests.HTTPError) and exc.response is not None:
        status = exc.response.status_code
    content = getattr(exc, "content", None)
    if isinstance(content, list) and content and isinstance(content[0], dict):
        return str(content[0].get("errorCode") or ""), status
    if isinstance(content, dict):
        return str(content.get("errorCode") or content.get("error") or ""), status
    return "", status


def _error_message(exc: Exception) -> str:
    content = getattr(exc, "content", None)
    if isinstance(content, list) and content and isinstance(content[0], dict):
        return str(content[0].get("message") or "")
    return str(exc)[:300]


def _login_domain(domain: str) -> str:
    """'login', 'test', 'acme.my', or a My Domain written as a URL or host -> what goes before .salesforce.com."""
    text = (domain or "login").strip()
    host = urlsplit(text).hostname if "://" in text else text.split("/")[0]
    return (host or "login").removesuffix(".salesforce.com")


class _PlainHttp(HTTPAdapter):
    """simple-salesforce writes https:// before the instance; a local stand-in on loopback speaks plain HTTP."""

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        if request.url and request.url.startswith("https://"):
            request.url = "http://" + request.url[len("https://"):]
        return super().send(request, *args, **kwargs)


def _transport(instance_url: str | None, session: requests.Session | None) -> requests.Session:
    session = session or requests.Session()
    if instance_url:
        parts = urlsplit(instance_url)
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise SettingsError(f"SALESFORCE_INSTANCE_URL: not a URL ({instance_url!r})")
        if parts.scheme == "http":
            if parts.hostname not in _LOOPBACK:
                raise SettingsError("SALESFORCE_INSTANCE_URL: must be https:// (plain http only on loopback, "
                                    "for a local stand-in)")
            session.mount(f"https://{parts.netloc}", _PlainHttp())
    return session


def from_settings(settings: Settings) -> SalesforceConnector:
    """The connector the sync runner builds from SALESFORCE_* (bot.sync.runner.connector_for)."""
    return SalesforceConnector.from_settings(settings)
