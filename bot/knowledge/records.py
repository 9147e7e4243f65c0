"""CRM records into readable, linked documents (one chunk per record)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

from bot.knowledge.accounts import core_name
from bot.knowledge.crm import CrmFile
from bot.knowledge.documents import Chunk, LoadError, MetaValue, chunk_id
from bot.knowledge.titles import DEFAULT_READER, TitleReader


@dataclass
class Directory:
    """Accounts, contacts and deals of the whole CRM, so every record can name its account."""

    accounts: dict[str, dict[str, object]] = field(default_factory=dict)
    contacts: dict[str, dict[str, object]] = field(default_factory=dict)
    opportunities: dict[str, dict[str, object]] = field(default_factory=dict)
    _by_core: dict[str, str] = field(default_factory=dict)
    _by_email: dict[str, str] = field(default_factory=dict)

    def add(self, record: dict[str, object]) -> None:
        record_id = str(record["id"])
        if record["record_type"] == "account":
            self.accounts[record_id] = record
            self._by_core.setdefault(core_name(str(record["name"])), record_id)
        elif record["record_type"] == "contact":
            self.contacts[record_id] = record
            if record.get("email"):
                self._by_email[str(record["email"]).lower()] = record_id
        elif record["record_type"] == "opportunity":
            self.opportunities[record_id] = record

    def account_id_for(self, record: dict[str, object]) -> str | None:
        """The account a record belongs to: by id, by its contact, else by company name."""
        account_id = record.get("account_id")
        if account_id and str(account_id) in self.accounts:
            return str(account_id)
        # a Salesforce task logged on a deal: WhatId is the opportunity
        deal = self.opportunities.get(str(account_id or ""))
        if deal and deal is not record:
            linked = self.account_id_for(deal)
            if linked:
                return linked
        contact = self.contacts.get(str(record.get("contact_id", "")))
        if contact:
            linked = self.account_id_for(contact)
            if linked:
                return linked
        # a marketing lead who is also a CRM contact belongs to that contact's account
        known = self._by_email.get(str(record.get("email") or "").lower())
        if known and record.get("record_type") == "lead":
            linked = self.account_id_for(self.contacts[known])
            if linked:
                return linked
        for key in ("account_name", "company"):
            if record.get(key):
                found = self._by_core.get(core_name(str(record[key])))
                if found:
                    return found
        return None

    def dangling(self, record: dict[str, object]) -> list[str]:
        """References to records that do not exist: what a CRM admin would fix at the source."""
        kind = record.get("record_type")
        problems = []
        account_id = str(record.get("account_id") or "")
        if kind in ("contact", "opportunity", "activity") and account_id and account_id not in self.accounts \
                and account_id not in self.opportunities and account_id not in self.contacts:
            linked = self.account_id_for(record)
            how = (f"; linked to {self.accounts[linked].get('name')} by {'its contact' if record.get('contact_id') else 'name'}"
                   if linked else "; loaded without an account")
            problems.append(f"account {account_id!r} matches no account in the CRM exports{how}")
        contact_id = str(record.get("contact_id") or "")
        if kind == "activity" and contact_id and contact_id not in self.contacts:
            problems.append(f"contact {contact_id!r} matches no contact in the CRM exports; loaded without a contact")
        return problems

    def fingerprint_for(self, records: list[dict[str, object]]) -> str:
        """What these records show of other records (account names, contact names and titles).

        Part of a file's ingest digest: renaming an account re-embeds the files that mention it,
        and only those.
        """
        shown: set[str] = set()
        for record in records:
            account_id = self.account_id_for(record)
            account = self.accounts.get(account_id or "")
            shown.add(f"a|{account_id}|{account.get('name') if account else ''}")
            contact = self.contacts.get(str(record.get("contact_id", "")))
            if contact:
                shown.add(f"c|{contact.get('id')}|{contact.get('name')}|{contact.get('title')}")
        return hashlib.sha256("\n".join(sorted(shown)).encode()).hexdigest()[:16]


def format_amount(value: object, missing: str = "—") -> str:
    """12500000 -> '12,500,000'; text stays as given; nothing -> the dash."""
    if isinstance(value, (int, float)):
        return f"{value:,.0f}"
    return str(value) if value not in (None, "") else missing


def owner_is_active(record: dict[str, object]) -> bool:
    """An owner row's IsActive / Active as exported ('true', 'false', '0', 'No'); missing means active."""
    value = str(record.get("active") if record.get("active") is not None else "").strip().lower()
    return value not in ("false", "0", "no", "n", "inactive", "f")


def _seniority(title: object, titles: TitleReader) -> str:
    """Titles in French, German or Spanish become searchable in plain English ("DSI" -> IT executive)."""
    if not title:
        return ""
    info = titles.read(str(title))
    if info.level == "unknown":
        return ""
    function = {"it": "IT", "hr": "HR", "general_management": "general management"}.get(
        info.function, info.function.replace("_", " "))
    level = {"vp": "vice president", "individual": "individual contributor"}.get(info.level, info.level)
    return f" Role: {level}" + (f", {function}" if info.function != "other" else "") + "."


def describe(record: dict[str, object], account_name: str | None, directory: Directory,
             titles: TitleReader = DEFAULT_READER) -> tuple[str, str]:
    """(title, text) a person can read and the model can embed."""
    get = record.get
    at = f" at {account_name}" if account_name else ""
    kind = record["record_type"]
    if kind == "account":
        parts = [f"Account: {get('name')}."]
        if get("industry"):
            parts.append(f"Industry: {get('industry')}.")
        place = ", ".join(str(get(k)) for k in ("city", "country") if get(k))
        if place:
            parts.append(f"Location: {place}.")
        if get("employees"):
            parts.append(f"Employees: {format_amount(get('employees'))}.")
        if get("revenue"):
            parts.append(f"Annual revenue: {format_amount(get('revenue'))}.")
        if get("website"):
            parts.append(f"Website: {get('website')}.")
        return str(get("name")), " ".join(parts)
    if kind == "contact":
        role = ", ".join(str(get(k)) for k in ("title", "department") if get(k))
        text = f"Contact: {get('name')}{', ' + role if role else ''}{at}.{_seniority(get('title'), titles)}"
        if get("email"):
            text += f" Email: {get('email')}."
        return f"{get('name')}{at}", text
    if kind == "opportunity":
        parts = [f"Opportunity: {get('name')}{at}."]
        for label, key in (("Stage", "stage"), ("Amount", "amount"), ("Close date", "close_date"),
                           ("Probability", "probability"), ("Next step", "next_step"), ("Owner", "owner")):
            if get(key) not in (None, ""):
                value = format_amount(get(key)) if key == "amount" else get(key)
                parts.append(f"{label}: {value}.")
        return f"{get('name')}{at}", " ".join(parts)
    if kind == "activity":
        contact = directory.contacts.get(str(get("contact_id", "")))
        who = ""
        if contact:
            who = f" with {contact.get('name')}" + (f" ({contact.get('title')})" if contact.get("title") else "")
        kind_label = str(get("type") or "Activity")
        head = f"{kind_label} on {get('date') or 'an unknown date'}{at}{who}"
        subject = f": {get('subject')}." if get("subject") else "."
        notes = f" Notes: {get('description')}" if get("description") else ""
        return f"{kind_label}: {get('subject') or get('date')}{at}", head + subject + notes
    if kind == "owner":
        # a CRM user who owns accounts and deals (the digest's recipient), not a person at a customer
        who = str(get("name") or get("email") or "")
        inactive = " (inactive)" if not owner_is_active(record) else ""
        email = f" Email: {get('email')}." if get("email") else ""
        return who, f"CRM user: {who}{inactive}, owner of accounts and deals on our side.{email}"
    # lead
    title_part = f", {get('title')}" if get("title") else ""
    company = account_name or get("company") or "an unknown company"
    parts = [f"Marketing lead: {get('name') or get('email')}{title_part} at {company}.{_seniority(get('title'), titles)}"]
    engagement = [
        f"{label} {get(key)}" for label, key in
        (("score", "score"), ("page views", "page_views"), ("form submissions", "form_submissions")) if get(key) is not None
    ]
    if engagement:
        parts.append("Engagement: " + ", ".join(engagement) + ".")
    if get("source"):
        parts.append(f"Source: {get('source')}.")
    if get("last_activity"):
        parts.append(f"Last activity: {get('last_activity')}.")
    return f"{get('name') or get('email')}{title_part}", " ".join(parts)


def crm_chunks(parsed: CrmFile, source: str, directory: Directory, *,
               titles: TitleReader = DEFAULT_READER) -> tuple[list[Chunk], list[LoadError]]:
    """One chunk per record, and the broken references found while linking them."""
    chunks: list[Chunk] = []
    problems: list[LoadError] = []
    for ordinal, (line, record) in enumerate(parsed.records):
        problems.extend(LoadError(source, line, problem) for problem in directory.dangling(record))
        account_id = directory.account_id_for(record)
        account = directory.accounts.get(account_id or "")
        account_name = str(account["name"]) if account else str(record.get("account_name") or "") or None
        if record["record_type"] == "account":
            account_id, account_name = str(record["id"]), str(record["name"])
        title, text = describe(record, account_name, directory, titles)
        record_type = str(record["record_type"])
        metadata: dict[str, MetaValue] = {
            "kind": "crm",
            "type": record_type,
            "record_id": str(record["id"]),
            "ref": f"{record_type}:{record['id']}",
            "title": title,
            "source": source,
            "line": line,
            "account_id": account_id or "",
            "account_name": account_name or "",
            "date": str(record.get("date") or record.get("close_date") or record.get("last_activity") or ""),
            "data": json.dumps(record, ensure_ascii=False, sort_keys=True),
        }
        chunks.append(Chunk(chunk_id(source, ordinal, text), text, metadata))
    return chunks, problems
