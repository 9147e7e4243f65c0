"""CRM exports (Salesforce, HubSpot, Marketo-style CSV or JSON) into canonical records.

Headers are matched case-, space- and underscore-insensitively against the aliases
of the contract; a file's role comes from its name, else from its header.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import re
import unicodedata
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

from bot.knowledge.documents import LoadError
from bot.knowledge.encoding import Encoding, NotText, detect_file, encoding_note, open_text, read_text_file

TABLE_SUFFIXES = (".csv", ".tsv")  # delimited text, its delimiter read from the header line
ROLES = ("account", "contact", "opportunity", "activity", "lead", "owner")

# canonical field -> accepted headers (normalised: lower case, no spaces/underscores/punctuation)
ALIASES: dict[str, dict[str, tuple[str, ...]]] = {
    "account": {
        "id": ("id", "accountid", "recordid", "companyid"),
        "name": ("name", "accountname", "companyname", "company"),
        "industry": ("industry",),
        "employees": ("numberofemployees", "employees"),
        "revenue": ("annualrevenue",),
        "country": ("billingcountry", "country", "countryregion"),
        "city": ("billingcity", "city"),
        "website": ("website", "companydomainname", "domain"),
        "owner": ("owner", "accountowner", "companyowner"),
        "owner_id": ("ownerid", "accountownerid", "hubspotowner", "hubspotownerid", "companyownerid"),
    },
    "contact": {
        "id": ("id", "contactid", "recordid"),
        "first_name": ("firstname",),
        "last_name": ("lastname",),
        "name": ("name", "fullname"),
        "title": ("title", "jobtitle"),
        "email": ("email", "emailaddress"),
        "department": ("department",),
        "account_id": ("accountid", "associatedcompanyid", "companyid"),
        "account_name": ("accountname", "companyname", "company"),
    },
    "opportunity": {
        "id": ("id", "opportunityid", "dealid", "recordid"),
        "name": ("name", "opportunityname", "dealname"),
        "stage": ("stagename", "stage", "dealstage"),
        "amount": ("amount",),
        "close_date": ("closedate",),
        "next_step": ("nextstep",),
        "owner": ("owner", "dealowner", "opportunityowner"),
        "owner_id": ("ownerid", "opportunityownerid", "hubspotowner", "hubspotownerid", "dealownerid"),
        "probability": ("probability",),
        "account_id": ("accountid", "associatedcompanyid", "companyid"),
        "account_name": ("accountname", "companyname", "company"),
    },
    "activity": {
        "id": ("id", "activityid", "taskid", "recordid"),
        "date": ("activitydate", "date", "activitydatetime", "createddate"),
        "type": ("type", "activitytype"),
        "subject": ("subject",),
        "description": ("description", "notes", "body"),
        "contact_id": ("whoid", "contactid"),
        "account_id": ("whatid", "accountid", "associatedcompanyid"),
        "account_name": ("accountname", "companyname", "company"),
    },
    "lead": {
        "id": ("id", "leadid", "recordid", "personid"),
        "first_name": ("firstname",),
        "last_name": ("lastname",),
        "name": ("name", "fullname"),
        "title": ("title", "jobtitle"),
        "company": ("company", "companyname", "accountname"),
        "email": ("email", "emailaddress"),
        "score": ("leadscore", "hubspotscore", "score", "personscore", "behaviorscore"),
        "page_views": ("numberofpageviews", "pageviews"),
        "form_submissions": ("numberofformsubmissions", "downloads", "formsubmissions"),
        "source": ("leadsource", "originalsource", "source"),
        "last_activity": ("lastactivitydate", "lastactivity", "lastvisitdate"),
        "country": ("country", "countryregion"),
    },
    # the CRM's users (Salesforce) or owners (HubSpot): whom accounts and deals belong to
    "owner": {
        "id": ("id", "ownerid", "userid", "recordid"),
        "first_name": ("firstname",),
        "last_name": ("lastname",),
        "name": ("name", "fullname", "ownername"),
        "email": ("email", "emailaddress"),
        "active": ("isactive", "active"),
    },
}

_ROLE_BY_NAME = (
    ("opportunity", ("opportunit", "deal", "pipeline")),
    ("activity", ("activit", "task", "event", "engagement", "meeting", "call", "interaction")),
    ("lead", ("lead", "prospect", "mql", "marketo")),
    ("contact", ("contact", "people", "person")),
    ("account", ("account", "compan", "organi", "customer")),
    ("owner", ("owner", "user")),
)

_NUMBER_FIELDS = {"employees", "revenue", "amount", "probability", "score", "page_views", "form_submissions"}
# a value only a European export writes: '820.000.000,00', '12,5' (a US thousands group has three digits)
_DECIMAL_COMMA = re.compile(r"\d\.\d{3},\d{1,2}$|^\D*\d+,\d{1,2}\D*$")
_DATE_FIELDS = {"date", "close_date", "last_activity"}


def normalize_header(header: str) -> str:
    text = unicodedata.normalize("NFKD", header).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]", "", text.lower())


def detect_role(path: Path, headers: list[str]) -> str | None:
    """The file's role from its name, else from the fields its header carries."""
    stem = path.stem.lower()
    for role, needles in _ROLE_BY_NAME:
        if any(needle in stem for needle in needles):
            return role
    return role_from_headers(headers)


def role_from_headers(headers: list[str]) -> str | None:
    """The role a set of fields belongs to (a header line, a JSON object's keys), or None."""
    normalized = {normalize_header(h) for h in headers}

    def has(role: str, canonical: str) -> bool:
        return bool(normalized & set(ALIASES[role][canonical]))

    if has("opportunity", "stage"):
        return "opportunity"
    if has("lead", "score") or has("lead", "page_views"):
        return "lead"
    if has("activity", "subject") or has("activity", "date"):
        return "activity"
    if has("owner", "active") and not has("contact", "title"):
        return "owner"
    if has("contact", "title") or has("contact", "first_name"):
        return "contact"
    if has("account", "industry") or has("account", "employees") or has("account", "revenue"):
        return "account"
    return None


def map_headers(role: str, headers: list[str]) -> dict[str, str]:
    """Raw header -> canonical field, first alias wins (e.g. `Name` vs `Account Name`)."""
    mapping: dict[str, str] = {}
    taken: set[str] = set()
    normalized = {header: normalize_header(header) for header in headers}
    for canonical, aliases in ALIASES[role].items():
        for alias in aliases:
            header = next((h for h, n in normalized.items() if n == alias and h not in mapping), None)
            if header is not None and canonical not in taken:
                mapping[header] = canonical
                taken.add(canonical)
                break
    return mapping


# ---------------------------------------------------------------- raw rows

def iter_rows(path: Path, text: str) -> Iterator[tuple[int, dict[str, object] | None, str | None]]:
    """Yield (line, row, error) for CSV, JSON (array, {"records"|"results"|"data": [...]}) or JSON Lines."""
    suffix = path.suffix.lower()
    if suffix in TABLE_SUFFIXES:
        yield from _iter_csv(io.StringIO(text, newline=""), _sniff_delimiter(text[:4096]))
    elif suffix == ".jsonl":
        yield from _iter_json_lines(text)
    else:
        yield from _iter_json_array(text)


def _iter_json_lines(text: str) -> Iterator[tuple[int, dict[str, object] | None, str | None]]:
    # "\n" alone ends a JSON line: str.splitlines() also splits at U+2028, U+0085 or a form feed, which JSON
    # leaves unescaped inside strings, and so cut a record in two and numbered every line after it wrongly
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            yield number, None, f"invalid JSON: {exc.msg}"
            continue
        except RecursionError:
            yield number, None, "JSON nested too deeply to be a CRM record"
            continue
        yield (number, _unwrap(value), None) if isinstance(value, dict) else (number, None, "not an object")


_DELIMITERS = (",", ";", "\t", "|")  # in this order of preference when the header does not decide
_SEP_LINE = re.compile(r'"?sep=(.)"?[,;\t|]*')  # Excel's first line naming the delimiter: sep=;


def _sniff_delimiter(sample: str) -> str:
    """The delimiter that splits the header line (the first that holds anything) into the most fields, unless
    Excel's `sep=` line names it.

    Only the header decides: csv.Sniffer weighed the first 4 KB, so a first record with a long multi-line note
    full of semicolons made a comma export read as a semicolon one (every row lost), and it split its sample at
    "\n" alone (a "\r"-ended file was one line to it). A header holds names, rarely a delimiter of another kind.
    Quoting stays RFC 4180.
    """
    lines = sample.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    header = next((line.strip() for line in lines if line.strip()), "")
    named = _SEP_LINE.fullmatch(header)
    if named and named.group(1) in _DELIMITERS:
        return named.group(1)
    counts = [len(next(csv.reader([header], delimiter=delimiter), [])) for delimiter in _DELIMITERS]
    return _DELIMITERS[counts.index(max(counts))]


# A quoted field longer than this many lines is taken for a quote that was never closed.
MAX_QUOTED_LINES = 1000


class _RecordTooLong(Exception):
    pass


class _Lines:
    """The physical lines of a CSV, numbered as an editor shows them. The lines of the record being read are
    kept, so that when a quote turns out never to have been closed they can be given back and read again."""

    def __init__(self, lines: Iterable[str]):
        self._source = iter(lines)
        self._given_back: deque[tuple[int, str]] = deque()
        self.last = 0
        self.record: list[tuple[int, str]] = []

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        if self._given_back:
            number, line = self._given_back.popleft()
        else:
            line = next(self._source)
            self.last += 1
            number = self.last
        self.record.append((number, line))
        if len(self.record) > MAX_QUOTED_LINES + 1:
            raise _RecordTooLong
        return line

    def give_back(self, lines: list[tuple[int, str]]) -> None:
        self._given_back.extendleft(reversed(lines))


def _read_header(source: _Lines, delimiter: str) -> tuple[list[str] | None, str | None, int]:
    """(the header's names, or None for a file without one; why it cannot be read, or None; its line).

    Blank lines above it and Excel's `sep=;` line (which names the delimiter) are passed over."""
    reader = csv.reader(source, delimiter=delimiter)
    while True:
        source.record = []
        try:
            names = next(reader)
        except StopIteration:
            return None, None, source.last
        except (csv.Error, _RecordTooLong) as exc:
            line = source.record[0][0] if source.record else source.last
            return None, f"unreadable header: {str(exc) or 'a quoted field is never closed'}", line
        taken = source.record
        if any(name.strip() for name in names) and not _SEP_LINE.fullmatch(taken[0][1].strip()):
            break
    line = taken[0][0]
    if len(taken) > 1 and not _well_formed(taken, delimiter, len(names)):
        # a header with a quote left open: every line below it went into one header field, so none is a row
        return None, (f"unreadable header: a quote on line {line} is never closed (it runs over lines {line + 1} "
                      f"to {taken[-1][0]}); no row of this file can be read"), line
    return [name.strip().lstrip("\ufeff") for name in names], None, line


def _iter_csv(lines: Iterable[str], delimiter: str) -> Iterator[tuple[int, dict[str, object] | None, str | None]]:
    source = _Lines(lines)
    headers, problem, header_line = _read_header(source, delimiter)
    if problem:
        yield header_line, None, problem
    if headers is None:
        return
    reader = csv.reader(source, delimiter=delimiter)  # the reader keeps no state from one record to the next
    width = len(headers)
    # a header written twice (a report with two "Name" columns) keeps its first column, the one `map_headers` maps
    first = [index for index, header in enumerate(headers) if headers.index(header) == index]
    keys = [headers[index] for index in first]
    # Lines of one cell below a blank line are held: at the end of the file they are a report's footer (Salesforce's
    # "Grand Totals", "Confidential Information", "Generated By"), told once; a row after them makes them errors.
    blank_above = False
    footer: list[int] = []

    def held() -> Iterator[tuple[int, None, str]]:
        yield from ((number, None, f"expected {width} columns, found 1") for number in footer)
        footer.clear()

    while True:
        source.record = []
        try:
            values = next(reader)
        except StopIteration:
            if footer:
                yield footer[0], None, (f"lines {footer[0]} to {footer[-1]} below the table hold one cell each "
                                        "(a report's footer?): not read")
            return
        except (csv.Error, _RecordTooLong) as exc:
            yield from held()
            # the reader gave up inside a record (a field past the size limit, a NUL byte, a quote never closed)
            yield _unreadable(source, delimiter, width, str(exc) or f"a quoted field runs over {MAX_QUOTED_LINES} lines")
            continue
        taken = source.record
        line = taken[0][0]
        if not any(v.strip() for v in values):
            blank_above = True
            continue
        if width > 1 and len(values) == 1 and len(taken) == 1 and (blank_above or footer):
            footer.append(line)
            continue
        if footer:
            yield from held()
        blank_above = False
        if len(taken) > 1 and not _well_formed(taken, delimiter, width) and _swallowed_rows(taken[1:], delimiter, width):
            yield line, None, _unclosed_quote(taken)
            source.give_back(taken[1:])
            continue
        if len(values) > width and not any(value.strip() for value in values[width:]):
            values = values[:width]  # empty cells right of the last column (a stray "," at the end): nothing lost
        if len(values) != width:
            span = f" (one quoted field runs from line {line} to line {taken[-1][0]})" if len(taken) > 1 else ""
            yield line, None, f"expected {width} columns, found {len(values)}{span}"
            continue
        yield line, dict(zip(keys, [values[index] for index in first] if len(first) < width else values)), None


def _unreadable(source: _Lines, delimiter: str, width: int, reason: str) -> tuple[int, None, str]:
    taken = source.record
    line = taken[0][0] if taken else source.last
    if len(taken) > 1 and _swallowed_rows(taken[1:], delimiter, width):
        source.give_back(taken[1:])
        return line, None, _unclosed_quote(taken)
    if len(taken) > 1:  # one long quoted note that is not made of rows: nothing below it is lost but these lines
        return line, None, f"malformed CSV: {reason}; lines {line} to {taken[-1][0]} skipped"
    return line, None, f"malformed CSV: {reason}"


def _unclosed_quote(taken: list[tuple[int, str]]) -> str:
    return (f"unclosed quote: a field on this line opens a quote that is never closed (it ran over the next "
            f"{len(taken) - 1} line(s)); this row is skipped and the rows below it are read on their own")


def _well_formed(lines: list[tuple[int, str]], delimiter: str, width: int) -> bool:
    """Whether the lines hold one valid RFC 4180 record of the header's width: every quote closed and followed by a
    delimiter or the end of its line. Such a record is a multi-line field as written, whatever its lines look like
    (a note's last line may hold as many commas as a row); a quote left open never reads so but by a rare chance."""
    try:
        records = list(csv.reader((text for _, text in lines), delimiter=delimiter, strict=True))
    except csv.Error:
        return False
    return len(records) == 1 and len(records[0]) == width


def _swallowed_rows(lines: list[tuple[int, str]], delimiter: str, width: int) -> bool:
    """Whether the lines a quoted field ran over are rows of their own: a quote left open on the line above.

    A line reads as a row when it alone holds the header's number of fields. An open quote swallows whole
    rows up to the next quote, so nearly all of its lines read as rows; a real multi-line note may hold such
    a line by chance, rarely most of them (and one that is valid CSV is never asked: see `_well_formed`).
    """
    rows = filled = 0
    for _, line in lines:
        if not line.strip():
            continue
        filled += 1
        if len(next(csv.reader([line], delimiter=delimiter), [])) == width:
            rows += 1
    return rows * 2 > filled


def _iter_json_array(text: str) -> Iterator[tuple[int, dict[str, object] | None, str | None]]:
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        if exc.msg == "Extra data" and _object_per_line(text):
            # one object per line in a file named .json (what many tools export): read as JSON Lines
            yield from _iter_json_lines(text)
            return
        yield exc.lineno, None, f"invalid JSON: {exc.msg}"
        return
    except RecursionError:
        yield 1, None, "JSON nested too deeply to be a CRM export"
        return
    record_depth, records_key = 1, None
    if isinstance(document, dict):
        # {"records"|"results"|"data"|"items": [...]}, else the one list of objects held by an object that is no
        # record itself ({"exported": ..., "contacts": [...]}, not a contact with a list of its emails)
        lists = [key for key, value in document.items()
                 if isinstance(value, list) and value and all(isinstance(item, dict) for item in value)]
        wrapper = len(lists) == 1 and role_from_headers(list(document)) is None
        key = next((k for k in ("records", "results", "data", "items") if isinstance(document.get(k), list)),
                   lists[0] if wrapper else None)
        document, record_depth, records_key = (document[key], 2, key) if key is not None else ([document], 0, None)
    if not isinstance(document, list):
        yield 1, None, "expected a JSON array of records"
        return
    lines = iter(_object_lines(text, record_depth, records_key))  # the opening line of each object, in order
    line = 1
    for item in document:
        if not isinstance(item, dict):  # no line of its own is known: the last object's (a null, a number)
            yield line, None, "record is not a JSON object"
            continue
        line = next(lines, line)
        yield line, _unwrap(item), None


def _object_per_line(text: str) -> bool:
    """Whether the first line that holds anything is a whole JSON object by itself."""
    first = next((line for line in text.split("\n") if line.strip()), "")
    try:
        return isinstance(json.loads(first), dict)
    except (json.JSONDecodeError, RecursionError):
        return False


def _unwrap(item: dict[str, object]) -> dict[str, object]:
    """HubSpot API exports nest the fields under "properties"."""
    properties = item.get("properties")
    if isinstance(properties, dict):
        return {**{k: v for k, v in item.items() if k != "properties"}, **properties}
    return item


def _object_lines(text: str, record_depth: int, key: str | None = None) -> list[int]:
    """Line of each record's opening brace: an object directly inside an array at `record_depth`; at depth 2, only
    in the array under `key` (another list of objects beside it, {"included": [...], "data": [...]}, is not counted)."""
    lines: list[int] = []
    stack: list[str] = []
    line = 1
    in_string = escaped = False
    text_of_string: list[str] = []
    last_string = array_key = None  # the key of the top object's array being read
    for char in text:
        if char == "\n":
            line += 1
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
                if len(stack) == 1:
                    last_string = "".join(text_of_string)
                continue
            if len(stack) == 1:
                text_of_string.append(char)
        elif char == '"':
            in_string, text_of_string = True, []
        elif char in "[{":
            if char == "[" and len(stack) == 1:
                array_key = last_string
            if char == "{" and len(stack) == record_depth and (record_depth == 0 or stack[-1] == "[") \
                    and (record_depth != 2 or key is None or array_key == key):
                lines.append(line)
            stack.append(char)
        elif char in "]}" and stack:
            stack.pop()
    return lines


# ---------------------------------------------------------------- values

_NUMBER_TEXT = re.compile(
    r"^(?P<before>[A-Z]{3}|[$€£¥])?\s*(?P<sign>-)?\s*(?P<before2>[$€£¥])?\s*(?P<digits>\d[\d.,'\u00a0\u202f ]*)"
    r"\s*(?P<mult>k|K|m|M|mn|MM|bn|B)?\s*(?P<after>[A-Z]{3}|[$€£¥%])?$"
)
_MULTIPLIERS = {"k": 1e3, "K": 1e3, "m": 1e6, "M": 1e6, "mn": 1e6, "MM": 1e6, "bn": 1e9, "B": 1e9}


def parse_number(raw: str, *, decimal_comma: bool = False) -> float:
    """'1,200', '1.250.000,00', 'EUR 90k', '$1.2M', '45%'; anything with other words is not a number.

    'TBD (~60k)' raises instead of reading 60: a guess would be worse than an empty field.
    `decimal_comma`: the file writes numbers the European way, so '3.900' is three thousand nine hundred.
    """
    match = _NUMBER_TEXT.match(raw.strip())
    if not match:
        raise ValueError
    text = re.sub(r"[\s'\u00a0\u202f]", "", match.group("digits")).rstrip(".,")
    if decimal_comma:
        text = text.replace(".", "").replace(",", ".")
    elif "," in text and "." in text:
        decimal = "," if text.rfind(",") > text.rfind(".") else "."
        thousands = "." if decimal == "," else ","
        text = text.replace(thousands, "").replace(decimal, ".")
    elif "," in text:
        text = text.replace(",", "") if re.fullmatch(r"\d{1,3}(,\d{3})+", text) else text.replace(",", ".")
    elif re.fullmatch(r"\d{1,3}(\.\d{3}){2,}", text):
        text = text.replace(".", "")
    try:
        value = float(text)
    except ValueError:
        raise ValueError from None
    value *= _MULTIPLIERS.get(match.group("mult") or "", 1.0)
    if not math.isfinite(value):  # 400 digits read as inf, shown as "Amount: inf"
        raise ValueError
    return -value if match.group("sign") else value


_DATE_FORMATS = ("%Y-%m-%d", "%Y/%m/%d", "%m/%d/%Y", "%d.%m.%Y", "%d/%m/%Y", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S", "%b %d, %Y", "%d %b %Y")


def parse_date(raw: str) -> str:
    text = raw.strip()
    if re.fullmatch(r"\d{12,13}", text):  # HubSpot epoch milliseconds
        return datetime.utcfromtimestamp(int(text) / 1000).date().isoformat()
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).date().isoformat()
    except ValueError:
        pass
    for fmt in _DATE_FORMATS:
        try:
            return datetime.strptime(text, fmt).date().isoformat()
        except ValueError:
            continue
    raise ValueError


def _clean(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    return str(value).strip()


# HubSpot exports internal deal-stage ids; people read labels.
HUBSPOT_STAGES = {
    "appointmentscheduled": "Appointment scheduled", "qualifiedtobuy": "Qualified to buy",
    "presentationscheduled": "Presentation scheduled", "decisionmakerboughtin": "Decision maker bought-in",
    "contractsent": "Contract sent", "closedwon": "Closed Won", "closedlost": "Closed Lost",
}


StageCheck = Callable[[str], bool]


def uses_decimal_comma(rows: Iterable[dict[str, object]], mapping: dict[str, str]) -> bool:
    """Whether a file writes its numbers the European way, judged from all its number fields at once."""
    columns = [header for header, canonical in mapping.items() if canonical in _NUMBER_FIELDS]
    return any(_DECIMAL_COMMA.search(_clean(row.get(column))) for row in rows for column in columns)


def to_record(role: str, row: dict[str, object], mapping: dict[str, str], *,
              known_stage: StageCheck | None = None,
              decimal_comma: bool = False) -> tuple[dict[str, object], list[str]]:
    """A raw row into canonical fields, and the problems a CRM admin would want to hear about.

    A value that does not parse (a number, a date, a stage) is reported and left empty, never guessed;
    a row that is not usable at all (no name) raises ValueError.
    """
    record: dict[str, object] = {}
    problems: list[str] = []
    for header, canonical in mapping.items():
        value = _clean(row.get(header))
        if not value:
            continue
        if canonical in _NUMBER_FIELDS:
            try:
                number = parse_number(value, decimal_comma=decimal_comma)
            except ValueError:
                problems.append(f"{header}: not a number ({value!r}); left empty")
                continue
            record[canonical] = int(number) if number.is_integer() else number
        elif canonical in _DATE_FIELDS:
            try:
                record[canonical] = parse_date(value)
            except ValueError:
                problems.append(f"{header}: not a date ({value!r}); left empty")
        else:
            record[canonical] = value
    if "stage" in record:
        record["stage"] = HUBSPOT_STAGES.get(str(record["stage"]).lower(), record["stage"])
        if known_stage is not None and not known_stage(str(record["stage"])):
            problems.append(f"stage {record['stage']!r} is not a stage the seller profile knows "
                            "(kept as open; list it under `stages:` in seller.yaml)")
    if role in ("contact", "lead", "owner") and "name" not in record:
        full = " ".join(str(record[k]) for k in ("first_name", "last_name") if record.get(k))
        if full:
            record["name"] = full
    missing = {
        "account": "name" not in record,
        "contact": "name" not in record and "email" not in record,
        "opportunity": "name" not in record,
        "activity": "subject" not in record and "description" not in record,
        "lead": "name" not in record and "email" not in record and "title" not in record,
        "owner": "name" not in record and "email" not in record,
    }[role]
    if missing:
        wanted = {"account": "an account name", "contact": "a name or email", "opportunity": "an opportunity name",
                  "activity": "a subject or notes", "lead": "a name, email or title",
                  "owner": "a name or email"}[role]
        raise ValueError("; ".join([f"missing {wanted}", *problems]))
    record["record_type"] = role
    return record, problems


# ---------------------------------------------------------------- reading files

@dataclass
class CrmFile:
    role: str | None
    records: list[tuple[int, dict[str, object]]] = field(default_factory=list)
    errors: list[LoadError] = field(default_factory=list)


RecordItem = tuple[int, dict[str, object] | None, list[LoadError]]


class CrmExport:
    """One CRM export, read a row at a time so that a file of any size is never held whole.

    Opening it reads the header (a CSV) or the document (JSON, which is parsed whole) to learn the file's
    role and the mapping of its headers. `records()` reads the rows again on each call.
    """

    def __init__(self, path: Path, source: str, *, role: str | None = None,
                 known_stage: StageCheck | None = None):
        self.path, self.source, self.known_stage = path, source, known_stage
        self.errors: list[LoadError] = []  # about the file as a whole
        self._rows: list[tuple[int, dict[str, object] | None, str | None]] | None = None
        self._decimal_comma: bool | None = None
        self.role: str | None = None
        self.mapping: dict[str, str] = {}
        self.readable = True
        self._encoding = Encoding("utf-8", "strict", "utf-8")
        self._delimiter = ","
        headers: list[str] = []
        try:
            if path.suffix.lower() in TABLE_SUFFIXES:
                self._encoding = detect_file(path)
                name = self._encoding.name
                with open_text(path, self._encoding) as handle:
                    self._delimiter = _sniff_delimiter(handle.read(4096))
                with open_text(path, self._encoding) as handle:
                    header, _, _ = _read_header(_Lines(handle), self._delimiter)  # a problem is told by rows()
                headers = list(dict.fromkeys(header or []))
            else:
                text, name = read_text_file(path)
                self._rows = list(iter_rows(path, text))
                headers = list(dict.fromkeys(key for _, row, _ in self._rows if row for key in row))
        except OSError as exc:
            self.readable = False
            self.errors.append(LoadError(source, None, f"cannot read file: {exc.strerror}"))
            return
        except NotText as exc:
            self.readable = False
            self.errors.append(LoadError(source, None, str(exc)))
            return
        note = encoding_note(name)
        if note:
            self.errors.append(LoadError(source, None, note))
        self.role = role or detect_role(path, headers)
        if self.role is None:
            self.errors.append(LoadError(source, 1, "cannot tell which CRM records this file holds (name or header)"))
        self.mapping = map_headers(self.role, headers) if self.role else {}

    def rows(self) -> Iterator[tuple[int, dict[str, object] | None, str | None]]:
        """(line, raw row or None, error) in file order."""
        if self._rows is not None:
            yield from self._rows
            return
        with open_text(self.path, self._encoding) as handle:
            yield from _iter_csv(handle, self._delimiter)

    @property
    def decimal_comma(self) -> bool:
        """Whether the file writes numbers the European way: a pass over the rows, once."""
        if self._decimal_comma is None:
            self._decimal_comma = uses_decimal_comma((row for _, row, _ in self.rows() if row), self.mapping)
        return self._decimal_comma

    def records(self) -> Iterator[RecordItem]:
        """(line, canonical record or None, problems with their line) for every row, in file order."""
        if not self.readable or self.role is None:
            return
        role, decimal_comma = self.role, self.decimal_comma
        for line, row, error in self.rows():
            if error or row is None:
                yield line, None, [LoadError(self.source, line, error or "unreadable row")]
                continue
            try:
                record, problems = to_record(role, row, self.mapping, known_stage=self.known_stage,
                                             decimal_comma=decimal_comma)
            except ValueError as exc:
                yield line, None, [LoadError(self.source, line, str(exc))]
                continue
            if "id" not in record:
                record["id"] = f"{role}-{_short_hash(json.dumps(record, sort_keys=True))}"
            yield line, record, [LoadError(self.source, line, problem) for problem in problems]


def read_crm_file(path: Path, source: str, *, role: str | None = None,
                  known_stage: StageCheck | None = None) -> CrmFile:
    """Parse one export whole; bad rows become errors with their line, the rest load.

    `role` forces the record type (a triage export named `export.csv` holds leads).
    """
    export = CrmExport(path, source, role=role, known_stage=known_stage)
    result = CrmFile(export.role, errors=list(export.errors))
    for line, record, problems in export.records():
        result.errors.extend(problems)
        if record is not None:
            result.records.append((line, record))
    return result


def _short_hash(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()[:12]


def age_in_days(iso_date: str | None, today: date) -> int | None:
    if not iso_date:
        return None
    try:
        return (today - date.fromisoformat(iso_date)).days
    except ValueError:
        return None
