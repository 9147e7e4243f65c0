"""CRM exports (Salesforce, HubSpot, Marketo-style CSV/JSON) load unedited, linked to their accounts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.cli import run_ingest
from bot.knowledge.crm import parse_number, read_crm_file, to_record


def load(knowledge, name: str, text: str, *, dedent: bool = True):
    path = knowledge.crm(name, text, dedent=dedent)
    return read_crm_file(path, f"crm/{name}")


def only(parsed) -> dict:
    assert not parsed.errors, parsed.errors
    assert len(parsed.records) == 1, parsed.records
    return parsed.records[0][1]


def by_id(parsed) -> dict[str, dict]:
    return {str(record["id"]): record for _, record in parsed.records}


# ---------------------------------------------------------------- accounts

@pytest.mark.parametrize("id_header", ["id", "account_id", "AccountId", "Account ID", "Record ID", "Company ID"])
@pytest.mark.parametrize("name_header", ["name", "Account Name", "Company name", "Company"])
def test_account_id_and_name_headers(knowledge, id_header: str, name_header: str) -> None:
    parsed = load(knowledge, "accounts.csv", f"{id_header},{name_header},Industry\nA-1,Acme Corporation,Manufacturing\n")
    record = only(parsed)
    assert parsed.role == "account"
    assert record["id"] == "A-1"
    assert record["name"] == "Acme Corporation"
    assert record["industry"] == "Manufacturing"


@pytest.mark.parametrize("employees_header", ["NumberOfEmployees", "Employees", "Number of Employees"])
@pytest.mark.parametrize("revenue_header", ["AnnualRevenue", "Annual Revenue"])
def test_account_size_and_revenue_headers(knowledge, employees_header: str, revenue_header: str) -> None:
    parsed = load(knowledge, "accounts.csv",
                  f'Id,Name,Industry,{employees_header},{revenue_header}\n001A,Acme Corporation,Manufacturing,"1,200","250,000,000"\n')
    record = only(parsed)
    assert record["employees"] == 1200
    assert record["revenue"] == 250_000_000


def test_hubspot_companies_export(knowledge) -> None:
    parsed = load(knowledge, "hubspot-companies.csv", """\
        Record ID,Company name,Industry,Number of Employees,Annual Revenue,Country/Region
        9001,Brightwater Foods,Food & Beverage,800,90000000,United States
        """)
    record = only(parsed)
    assert parsed.role == "account"
    assert (record["id"], record["name"], record["employees"], record["revenue"]) == ("9001", "Brightwater Foods", 800, 90_000_000)


@pytest.mark.parametrize("id_header, name_header", [
    ("account_id", "account_name"),
    ("ACCOUNT ID", "ACCOUNT NAME"),
    ("Account_Id", "Account__Name"),
    (" account id ", "  Account  Name "),
    ("accountid", "ACCOUNTNAME"),
])
def test_headers_match_ignoring_case_spaces_and_underscores(knowledge, id_header: str, name_header: str) -> None:
    record = only(load(knowledge, "accounts.csv", f"{id_header},{name_header}\n001A,Acme Corporation\n"))
    assert (record["id"], record["name"]) == ("001A", "Acme Corporation")


# ---------------------------------------------------------------- contacts

@pytest.mark.parametrize("header, row, expected", [
    ("Id,FirstName,LastName,Title,Email,Department,AccountId",
     "003A,Dana,Reyes,Chief Financial Officer,dana@acme.example,Finance,001A",
     {"id": "003A", "name": "Dana Reyes", "title": "Chief Financial Officer", "email": "dana@acme.example",
      "department": "Finance", "account_id": "001A"}),
    ("Record ID,First Name,Last Name,Job Title,Email,Associated Company ID",
     "501,Dana,Reyes,CFO,dana@acme.example,001A",
     {"id": "501", "name": "Dana Reyes", "title": "CFO", "email": "dana@acme.example", "account_id": "001A"}),
    ("Name,Title,Email,Account ID",
     "Dana Reyes,CFO,dana@acme.example,001A",
     {"name": "Dana Reyes", "title": "CFO", "account_id": "001A"}),
    ("First Name,Last Name,Job Title,Account Name",
     "Dana,Reyes,CFO,Acme Corporation",
     {"name": "Dana Reyes", "title": "CFO", "account_name": "Acme Corporation"}),
    ("First Name,Last Name,Job Title,Company name",
     "Dana,Reyes,CFO,Acme Corporation",
     {"name": "Dana Reyes", "account_name": "Acme Corporation"}),
    ("First Name,Last Name,Title,Company",
     "Dana,Reyes,CFO,Acme Corporation",
     {"name": "Dana Reyes", "account_name": "Acme Corporation"}),
])
def test_contact_headers(knowledge, header: str, row: str, expected: dict) -> None:
    parsed = load(knowledge, "contacts.csv", f"{header}\n{row}\n")
    record = only(parsed)
    assert parsed.role == "contact"
    assert {key: record.get(key) for key in expected} == expected


# ---------------------------------------------------------------- opportunities

@pytest.mark.parametrize("header, row", [
    ("Id,Name,StageName,Amount,CloseDate,NextStep,Owner,AccountId",
     '006A,Acme renewal,Negotiation,"1,200,000",2024-06-30,Send MSA redlines,Jordan Lee,001A'),
    ("Opportunity Name,Stage,Amount,Close Date,Next Step,Owner,Account ID",
     'Acme renewal,Negotiation,1200000,06/30/2024,Send MSA redlines,Jordan Lee,001A'),
    ("Record ID,Deal Name,Deal Stage,Amount,Close Date,Next Step,Owner,Associated Company ID",
     '006A,Acme renewal,Negotiation,1200000.00,2024-06-30T00:00:00Z,Send MSA redlines,Jordan Lee,001A'),
])
def test_opportunity_headers(knowledge, header: str, row: str) -> None:
    parsed = load(knowledge, "opportunities.csv", f"{header}\n{row}\n")
    record = only(parsed)
    assert parsed.role == "opportunity"
    assert record["name"] == "Acme renewal"
    assert record["stage"] == "Negotiation"
    assert record["amount"] == 1_200_000
    assert record["close_date"] == "2024-06-30"
    assert record["next_step"] == "Send MSA redlines"
    assert record["owner"] == "Jordan Lee"
    assert record["account_id"] == "001A"


def test_hubspot_stage_ids_become_labels(knowledge) -> None:
    parsed = load(knowledge, "deals.csv", """\
        Record ID,Deal Name,Deal Stage,Amount
        1,First,appointmentscheduled,100
        2,Second,qualifiedtobuy,100
        3,Third,presentationscheduled,100
        4,Fourth,decisionmakerboughtin,100
        5,Fifth,contractsent,100
        6,Sixth,closedwon,100
        7,Seventh,closedlost,100
        """)
    assert not parsed.errors
    stages = [record["stage"] for _, record in parsed.records]
    assert stages == ["Appointment scheduled", "Qualified to buy", "Presentation scheduled",
                      "Decision maker bought-in", "Contract sent", "Closed Won", "Closed Lost"]


@pytest.mark.parametrize("raw, expected", [
    ("1200000", 1_200_000),
    ("1,200,000", 1_200_000),
    ("$1,200,000", 1_200_000),
    ("1,200,000.50", 1_200_000.5),
    ("USD 75,000", 75_000),
    ("1.200.000", 1_200_000),
    ("1.200.000,00 €", 1_200_000),
    ("1 200 000", 1_200_000),
    ("-2,500", -2_500),
    ("12.5", 12.5),
])
def test_amounts_in_common_export_formats(knowledge, raw: str, expected: float) -> None:
    record = only(load(knowledge, "opportunities.csv", f'Name,Amount\nAcme renewal,"{raw}"\n'))
    assert record["amount"] == expected


@pytest.mark.parametrize("raw, expected", [
    ("EUR 90k", 90_000),
    ("90k EUR", 90_000),
    ("€90k", 90_000),
    ("$1.2M", 1_200_000),
    ("GBP 2.5m", 2_500_000),
    ("45%", 45),
    ("1.250.000,00", 1_250_000),
])
def test_amounts_with_a_currency_and_a_multiplier(raw: str, expected: float) -> None:
    assert parse_number(raw) == expected


@pytest.mark.parametrize("raw", ["TBD (~60k)", "~60k", "60k?", "approx 60000", "lots", "a lot", "n/a", "1.2.3",
                                 "call me", "", "9" * 400])  # the last one is no amount: float() made it inf
def test_a_number_with_words_around_it_is_not_a_number(raw: str) -> None:
    """A guess would be worse than an empty field: 'TBD (~60k)' is not 60,000."""
    with pytest.raises(ValueError):
        parse_number(raw)


def test_a_guessed_amount_is_reported_with_file_and_line_and_the_deal_still_loads(knowledge) -> None:
    parsed = load(knowledge, "opportunities.csv", """\
        Id,Name,StageName,Amount,CloseDate
        006A,Acme renewal,Negotiation,EUR 90k,2024-06-30
        006B,Acme pilot,Prospecting,TBD (~60k),2024-09-30
        """)
    records = by_id(parsed)
    assert sorted(records) == ["006A", "006B"]
    assert records["006A"]["amount"] == 90_000
    assert "amount" not in records["006B"]  # not 60000, not the text: empty
    assert (records["006B"]["name"], records["006B"]["stage"], records["006B"]["close_date"]) == (
        "Acme pilot", "Prospecting", "2024-09-30")
    assert [(e.file, e.line) for e in parsed.errors] == [("crm/opportunities.csv", 3)]
    assert "Amount" in parsed.errors[0].error and "'TBD (~60k)'" in parsed.errors[0].error
    assert "crm/opportunities.csv" in str(parsed.errors[0]) and "3" in str(parsed.errors[0])


def test_to_record_returns_the_record_and_the_problems_found() -> None:
    mapping = {"Name": "name", "Amount": "amount", "CloseDate": "close_date"}
    record, problems = to_record("opportunity", {"Name": "Acme pilot", "Amount": "TBD (~60k)",
                                                 "CloseDate": "end of Q3"}, mapping)
    assert record["name"] == "Acme pilot" and record["record_type"] == "opportunity"
    assert "amount" not in record and "close_date" not in record
    assert len(problems) == 2
    assert "Amount" in problems[0] and "TBD (~60k)" in problems[0]
    assert "CloseDate" in problems[1] and "end of Q3" in problems[1]
    clean, none = to_record("opportunity", {"Name": "Acme renewal", "Amount": "$1.2M", "CloseDate": "2024-06-30"},
                            mapping)
    assert (clean["amount"], clean["close_date"], none) == (1_200_000, "2024-06-30", [])


def test_a_row_without_a_name_is_still_refused_and_names_its_other_problems() -> None:
    with pytest.raises(ValueError) as caught:
        to_record("opportunity", {"Name": "", "Amount": "lots"}, {"Name": "name", "Amount": "amount"})
    assert "missing an opportunity name" in str(caught.value)
    assert "lots" in str(caught.value)


def test_a_stage_the_seller_profile_does_not_know_is_reported_and_kept(knowledge) -> None:
    known = {"negotiation", "closed won"}
    path = knowledge.crm("opportunities.csv", "Id,Name,StageName\n006A,Acme renewal,Negotiation\n"
                                              "006B,Acme pilot,Waiting for Godot\n")
    parsed = read_crm_file(path, "crm/opportunities.csv", known_stage=lambda stage: stage.lower() in known)
    assert by_id(parsed)["006B"]["stage"] == "Waiting for Godot"
    assert [(e.file, e.line) for e in parsed.errors] == [("crm/opportunities.csv", 3)]
    assert "Waiting for Godot" in parsed.errors[0].error


@pytest.mark.parametrize("raw", ["2024-06-30", "2024/06/30", "06/30/2024", "30.06.2024", "2024-06-30T09:15:00Z",
                                 "2024-06-30 09:15", "Jun 30, 2024", "30 Jun 2024", "1719705600000"])
def test_dates_in_common_export_formats(knowledge, raw: str) -> None:
    record = only(load(knowledge, "opportunities.csv", f'Name,CloseDate\nAcme renewal,"{raw}"\n'))
    assert record["close_date"] == "2024-06-30"


# ---------------------------------------------------------------- activities

@pytest.mark.parametrize("header, row", [
    ("Id,ActivityDate,Type,Subject,Description,WhoId,WhatId",
     "00T1,2024-03-01,Call,Discovery call,CFO wants payback under 12 months,003A,001A"),
    ("Date,Activity type,Subject,Notes,Contact ID,AccountId",
     "2024-03-01,Call,Discovery call,CFO wants payback under 12 months,003A,001A"),
    ("Activity date,Type,Subject,Body,WhoId,WhatId",
     "03/01/2024,Call,Discovery call,CFO wants payback under 12 months,003A,001A"),
])
def test_activity_headers(knowledge, header: str, row: str) -> None:
    parsed = load(knowledge, "activities.csv", f"{header}\n{row}\n")
    record = only(parsed)
    assert parsed.role == "activity"
    assert record["date"] == "2024-03-01"
    assert record["type"] == "Call"
    assert record["subject"] == "Discovery call"
    assert record["description"] == "CFO wants payback under 12 months"
    assert record["contact_id"] == "003A"
    assert record["account_id"] == "001A"


# ---------------------------------------------------------------- leads

@pytest.mark.parametrize("header, row", [
    ("FirstName,LastName,Title,Company,Lead Score,Page Views,Downloads,Lead Source",
     "Ana,Lopez,Marketing Intern,Acme Corp,92,41,6,Webinar"),
    ("First Name,Last Name,Job Title,Company Name,HubSpot Score,Number of Pageviews,Number of Form Submissions,Original Source",
     "Ana,Lopez,Marketing Intern,Acme Corp,92,41,6,Webinar"),
    ("First Name,Last Name,Email Address,Job Title,Company Name,Score,Number of Pageviews,Downloads,Lead Source",
     "Ana,Lopez,ana@acme.example,Marketing Intern,Acme Corp,92,41,6,Webinar"),
])
def test_lead_headers(knowledge, header: str, row: str) -> None:
    parsed = load(knowledge, "leads.csv", f"{header}\n{row}\n")
    record = only(parsed)
    assert parsed.role == "lead"
    assert record["name"] == "Ana Lopez"
    assert record["title"] == "Marketing Intern"
    assert record["company"] == "Acme Corp"
    assert record["score"] == 92
    assert record["page_views"] == 41
    assert record["form_submissions"] == 6
    assert record["source"] == "Webinar"


def test_marketo_email_address_header(knowledge) -> None:
    record = only(load(knowledge, "marketo-export.csv", "Email Address,Job Title,Company Name,Score\nana@acme.example,Intern,Acme Corp,80\n"))
    assert record["email"] == "ana@acme.example"


# ---------------------------------------------------------------- role detection

@pytest.mark.parametrize("name, role", [
    ("accounts.csv", "account"), ("Salesforce Accounts.csv", "account"), ("hubspot-companies.csv", "account"),
    ("contacts.csv", "contact"), ("people.csv", "contact"),
    ("opportunities.csv", "opportunity"), ("hubspot-deals.csv", "opportunity"),
    ("activities.csv", "activity"), ("tasks.csv", "activity"),
    ("leads.csv", "lead"), ("marketo_prospects.csv", "lead"),
])
def test_role_from_file_name(knowledge, name: str, role: str) -> None:
    # a header that would not tell the role on its own
    parsed = load(knowledge, name, "Name,Email,Subject,Title\nAcme renewal,x@acme.example,Hello,CFO\n")
    assert parsed.role == role


@pytest.mark.parametrize("header, row, role", [
    ("Account Name,Industry,Employees", "Acme Corporation,Manufacturing,1200", "account"),
    ("Record ID,First Name,Last Name,Job Title,Email,Associated Company ID", "1,Dana,Reyes,CFO,d@a.example,001A", "contact"),
    ("Deal Name,Deal Stage,Amount", "Acme renewal,closedwon,1000", "opportunity"),
    ("Activity date,Activity type,Subject,Notes", "2024-03-01,Call,Discovery,Notes here", "activity"),
    ("First Name,Job Title,Company Name,HubSpot Score", "Ana,Intern,Acme Corp,92", "lead"),
    ("Email Address,Job Title,Company Name,Number of Pageviews", "ana@acme.example,Intern,Acme Corp,41", "lead"),
])
def test_role_from_header_when_the_name_is_neutral(knowledge, header: str, row: str, role: str) -> None:
    parsed = load(knowledge, "export.csv", f"{header}\n{row}\n")
    assert parsed.role == role
    assert len(parsed.records) == 1 and not parsed.errors


def test_a_file_whose_role_cannot_be_told_is_reported(knowledge) -> None:
    parsed = load(knowledge, "export.csv", "Foo,Bar\n1,2\n")
    assert parsed.records == []
    assert [(e.file, e.line) for e in parsed.errors] == [("crm/export.csv", 1)]


# ---------------------------------------------------------------- JSON formats

def test_json_array(knowledge) -> None:
    parsed = load(knowledge, "accounts.json", json.dumps([
        {"Id": "001A", "Name": "Acme Corporation", "Industry": "Manufacturing", "NumberOfEmployees": 1200},
        {"Id": "001B", "Name": "Brightwater Foods", "Industry": "Food", "NumberOfEmployees": "800"},
    ], indent=2))
    assert not parsed.errors
    records = by_id(parsed)
    assert records["001A"]["name"] == "Acme Corporation" and records["001A"]["employees"] == 1200
    assert records["001B"]["employees"] == 800


def test_hubspot_api_results_with_properties(knowledge) -> None:
    parsed = load(knowledge, "deals.json", json.dumps({
        "results": [
            {"id": "7001", "properties": {"dealname": "Acme renewal", "dealstage": "closedwon", "amount": "1200000",
                                          "closedate": "2024-06-30T00:00:00.000Z", "associatedcompanyid": "9001"}},
            {"id": "7002", "properties": {"dealname": "Acme pilot", "dealstage": "appointmentscheduled", "amount": "25000"}},
        ],
        "paging": {"next": {"after": "7003"}},
    }, indent=2))
    assert not parsed.errors
    records = by_id(parsed)
    assert records["7001"]["name"] == "Acme renewal"
    assert records["7001"]["stage"] == "Closed Won"
    assert records["7001"]["amount"] == 1_200_000
    assert records["7001"]["close_date"] == "2024-06-30"
    assert records["7001"]["account_id"] == "9001"
    assert records["7002"]["stage"] == "Appointment scheduled"


def test_json_lines(knowledge) -> None:
    lines = [
        {"Id": "003A", "FirstName": "Dana", "LastName": "Reyes", "Title": "CFO", "AccountId": "001A"},
        {"Id": "003B", "FirstName": "Sam", "LastName": "Ortiz", "Title": "Analyst", "AccountId": "001A"},
    ]
    parsed = load(knowledge, "contacts.jsonl", "\n".join(json.dumps(line) for line in lines) + "\n")
    assert not parsed.errors
    assert [(line, record["name"]) for line, record in parsed.records] == [(1, "Dana Reyes"), (2, "Sam Ortiz")]


def test_json_lines_of_hubspot_api_objects(knowledge) -> None:
    """One API object per line loads exactly like the same objects inside {"results": [...]}."""
    lines = [
        {"id": "7001", "properties": {"dealname": "Acme renewal", "dealstage": "closedwon", "amount": "1200000"}},
        {"id": "7002", "properties": {"dealname": "Acme pilot", "dealstage": "contractsent", "amount": "25000"}},
    ]
    parsed = load(knowledge, "deals.jsonl", "\n".join(json.dumps(line) for line in lines) + "\n")
    assert parsed.errors == []
    records = by_id(parsed)
    assert records["7001"]["name"] == "Acme renewal" and records["7001"]["stage"] == "Closed Won"
    assert records["7002"]["amount"] == 25_000


def test_windows_1252_export_keeps_accents(knowledge) -> None:
    path = knowledge.write_bytes("crm/accounts.csv", "Id,Name,City\n001D,Groupe Laurentín SA,Montréal\n".encode("cp1252"))
    loaded = read_crm_file(path, "crm/accounts.csv")
    assert [e.error for e in loaded.errors] == [
        "read as cp1252, not UTF-8 (loaded; save the file as UTF-8 to be sure every character is right)"]
    (_, record), = loaded.records
    assert record["name"] == "Groupe Laurentín SA"


# ---------------------------------------------------------------- linking, through a real ingest

def test_records_are_linked_to_their_account(services, small_crm) -> None:
    knowledge = small_crm
    knowledge.crm("unlinked-contacts.csv", "Id,FirstName,LastName,Title,Email\n003D,Lee,Park,VP Operations,lee@acme.example\n")
    # a second contacts export that names the account instead of giving its id
    knowledge.crm("more-contacts.csv", """\
        First Name,Last Name,Job Title,Account Name
        Noor,Haddad,Head of Supply Chain,Acme Corporation
        """)
    knowledge.crm("activities.csv", """\
        Id,ActivityDate,Type,Subject,Description,WhoId
        00T1,2024-03-01,Call,Discovery call,CFO wants payback under 12 months,003A
        """)
    knowledge.crm("leads.csv", """\
        First Name,Last Name,Job Title,Company,Lead Score
        Ana,Lopez,Marketing Intern,Acme Corp,92
        Ben,Kurz,Einkaufsleiter,ACME Corp.,40
        """)
    report = run_ingest(services, [], show_progress=False)
    assert report.errors == []

    acme = services.retriever.account_records("001A")
    texts = {hit.metadata["type"]: [] for hit in acme}
    for hit in acme:
        texts[hit.metadata["type"]].append(hit.text)
        assert hit.metadata["account_name"] == "Acme Corporation"

    contacts = " ".join(texts["contact"])
    assert "Dana Reyes" in contacts and "Sam Ortiz" in contacts  # by id
    assert "Noor Haddad" in contacts  # by account name
    assert "Lee Park" not in contacts  # no account given
    assert any("Discovery call" in t and "Acme Corporation" in t for t in texts["activity"])  # through its contact
    assert any("Dana Reyes" in t for t in texts["activity"])
    leads = " ".join(texts["lead"])
    assert "Ana Lopez" in leads and "Ben Kurz" in leads  # "Acme Corp" -> "Acme Corporation"
    assert "Acme Corporation" in leads

    laurentin = services.retriever.account_records("001D")
    assert [hit.metadata["type"] for hit in laurentin] == ["account", "contact"]


def test_activity_logged_on_an_opportunity_belongs_to_its_account(services, small_crm) -> None:
    """In Salesforce a task's WhatId is often the opportunity it was logged on, not the account."""
    small_crm.crm("opportunities.csv", "Id,Name,StageName,AccountId\n006A,Acme renewal,Negotiation,001A\n")
    small_crm.crm("activities.csv", """\
        Id,ActivityDate,Type,Subject,Description,WhatId
        00T9,2024-05-02,Call,Pricing call,Procurement pushed for a multi-year discount,006A
        """)
    run_ingest(services, [], show_progress=False)
    activities = services.retriever.account_records("001A", "activity")
    assert [hit.record["subject"] for hit in activities] == ["Pricing call"]
    assert "Acme Corporation" in activities[0].text


def test_opportunity_shows_its_account_and_readable_amount(services, small_crm) -> None:
    knowledge = small_crm
    knowledge.crm("deals.csv", """\
        Record ID,Deal Name,Deal Stage,Amount,Close Date,Associated Company ID
        7001,Acme renewal,decisionmakerboughtin,"1,200,000",2024-06-30,001A
        """)
    run_ingest(services, [], show_progress=False)
    [deal] = services.retriever.account_records("001A", "opportunity")
    assert "Acme renewal" in deal.text
    assert "Acme Corporation" in deal.text
    assert "Decision maker bought-in" in deal.text
    assert "1,200,000" in deal.text
    assert "decisionmakerboughtin" not in deal.text


# ---------------------------------------------------------------- bad rows: reported with file and line, the rest loads

def test_csv_row_with_wrong_column_count(knowledge) -> None:
    parsed = load(knowledge, "opportunities.csv", """\
        Id,Name,StageName,Amount
        006A,Acme renewal,Negotiation,1000
        006B,Acme expansion,Prospecting,2000,EXTRA
        006C,Acme services,Closed Won,3000
        006D,Acme short
        """)
    assert sorted(by_id(parsed)) == ["006A", "006C"]
    assert [(e.file, e.line) for e in parsed.errors] == [("crm/opportunities.csv", 3), ("crm/opportunities.csv", 5)]
    assert "column" in parsed.errors[0].error


def test_csv_embedded_newline_shifts_later_line_numbers(knowledge) -> None:
    parsed = load(knowledge, "activities.csv", """\
        Id,ActivityDate,Type,Subject,Description
        00T1,2024-03-01,Call,Discovery,"First line of notes
        second line, with a comma
        third line"
        00T2,2024-03-02,Email,Follow-up,fine
        00T3,2024-03-03,Call,Bad,too,many,columns
        00T4,2024-03-04,Meeting,Review,fine
        """)
    records = by_id(parsed)
    assert sorted(records) == ["00T1", "00T2", "00T4"]
    assert records["00T1"]["description"] == "First line of notes\nsecond line, with a comma\nthird line"
    assert [line for line, _ in parsed.records] == [2, 5, 7]
    assert [(e.file, e.line) for e in parsed.errors] == [("crm/activities.csv", 6)]


def test_csv_blank_lines_do_not_shift_line_numbers(knowledge) -> None:
    parsed = load(knowledge, "opportunities.csv", "Name,Amount\nFirst,1\n\nSecond,lots\n")
    assert [(e.line) for e in parsed.errors] == [4]
    assert [line for line, _ in parsed.records] == [2, 4]  # the deal with a bad amount still loads


def test_csv_bad_number_and_bad_date(knowledge) -> None:
    parsed = load(knowledge, "opportunities.csv", """\
        Id,Name,Amount,CloseDate
        006A,Acme renewal,1000,2024-06-30
        006B,Acme expansion,a lot,2024-06-30
        006C,Acme services,3000,next quarter
        006D,Acme training,4000,2024-02-30
        006E,Acme support,5000,2024-07-31
        """)
    # every deal loads; a value that does not parse is reported and left empty, never guessed
    records = by_id(parsed)
    assert sorted(records) == ["006A", "006B", "006C", "006D", "006E"]
    errors = {e.line: e for e in parsed.errors}
    assert sorted(errors) == [3, 4, 5]
    assert all(e.file == "crm/opportunities.csv" for e in parsed.errors)
    assert "Amount" in errors[3].error and "'a lot'" in errors[3].error and "not a number" in errors[3].error
    assert "CloseDate" in errors[4].error and "'next quarter'" in errors[4].error and "not a date" in errors[4].error
    assert "CloseDate" in errors[5].error and "'2024-02-30'" in errors[5].error
    assert "amount" not in records["006B"] and records["006B"]["close_date"] == "2024-06-30"
    assert "close_date" not in records["006C"] and records["006C"]["amount"] == 3000
    assert "close_date" not in records["006D"] and records["006D"]["amount"] == 4000
    assert (records["006E"]["amount"], records["006E"]["close_date"]) == (5000, "2024-07-31")


def test_csv_doubled_quotes_inside_a_field_load_anywhere_in_the_file(knowledge) -> None:
    """RFC 4180 escapes a quote as "" — Salesforce does it in notes; the row must load wherever it appears."""
    rows = "".join(f"00T{i:03d},2024-03-02,Email,Follow-up {i},Sent the deck and pricing sheet to the buying team\n"
                   for i in range(80))
    quoted = '00TQ,2024-03-01,Call,Kickoff,"Customer said ""we need SOC 2"", asked for pricing"\n'
    parsed = load(knowledge, "activities.csv", "Id,ActivityDate,Type,Subject,Description\n" + rows + quoted, dedent=False)
    assert parsed.errors == []
    assert by_id(parsed)["00TQ"]["description"] == 'Customer said "we need SOC 2", asked for pricing'


def test_json_record_with_bad_value_reported_at_its_opening_brace(knowledge) -> None:
    parsed = load(knowledge, "opportunities.json", """\
        [
          {"Id": "006A", "Name": "Acme renewal", "Amount": "1000"},
          {
            "Id": "006B",
            "Name": "Acme expansion",
            "Notes": "a {brace} and \\"quote\\" in a string",
            "Amount": "lots"
          },
          {"Id": "006C", "Name": "Acme services", "CloseDate": "someday"},
          {"Id": "006D", "Name": "Acme support", "Amount": 4000}
        ]
        """)
    records = by_id(parsed)
    assert sorted(records) == ["006A", "006B", "006C", "006D"]
    assert [(e.file, e.line) for e in parsed.errors] == [("crm/opportunities.json", 3), ("crm/opportunities.json", 9)]
    assert "Amount" in parsed.errors[0].error and "'lots'" in parsed.errors[0].error
    assert "CloseDate" in parsed.errors[1].error and "'someday'" in parsed.errors[1].error
    assert "amount" not in records["006B"] and "close_date" not in records["006C"]
    assert records["006D"]["amount"] == 4000


def test_hubspot_results_bad_record_line(knowledge) -> None:
    parsed = load(knowledge, "deals.json", """\
        {
          "results": [
            {
              "id": "7001",
              "properties": {"dealname": "Acme renewal", "amount": "1000"}
            },
            {
              "id": "7002",
              "properties": {"dealname": "Acme pilot", "amount": "n/a"}
            }
          ]
        }
        """)
    records = by_id(parsed)
    assert sorted(records) == ["7001", "7002"]
    assert "amount" not in records["7002"] and records["7001"]["amount"] == 1000
    assert [(e.file, e.line) for e in parsed.errors] == [("crm/deals.json", 7)]
    assert "'n/a'" in parsed.errors[0].error


def test_hubspot_results_bad_record_line_when_paging_comes_first(knowledge) -> None:
    """Keys sorted alphabetically (json.dumps(sort_keys=True)) put "paging" before "results"."""
    parsed = load(knowledge, "deals.json", """\
        {
          "paging": {"next": {"after": "7003"}},
          "results": [
            {"id": "7001", "properties": {"dealname": "Acme renewal", "amount": "1000"}},
            {"id": "7002", "properties": {"dealname": "Acme pilot", "amount": "n/a"}}
          ]
        }
        """)
    assert sorted(by_id(parsed)) == ["7001", "7002"]
    assert [(e.file, e.line) for e in parsed.errors] == [("crm/deals.json", 5)]


def test_malformed_json_file_reported_with_its_line(knowledge) -> None:
    parsed = load(knowledge, "accounts.json", """\
        [
          {"Id": "001A", "Name": "Acme Corporation"},
          {"Id": "001B" "Name": "Brightwater Foods"}
        ]
        """)
    assert parsed.records == []
    assert [(e.file, e.line) for e in parsed.errors] == [("crm/accounts.json", 3)]
    assert "JSON" in parsed.errors[0].error


def test_json_lines_bad_line_reported_the_rest_loads(knowledge) -> None:
    parsed = load(knowledge, "contacts.jsonl", """\
        {"Id": "003A", "Name": "Dana Reyes", "Title": "CFO"}
        {"Id": "003B", "Name": "Sam Ortiz", "Title": "Analyst"
        {"Id": "003C", "Name": "Claire Dubois", "Title": "COO"}
        """)
    assert sorted(by_id(parsed)) == ["003A", "003C"]
    assert [(e.file, e.line) for e in parsed.errors] == [("crm/contacts.jsonl", 2)]



def test_json_lines_are_split_at_newlines_only(knowledge) -> None:
    """JSON leaves U+2028, U+0085 and form feeds unescaped inside strings: they do not end a JSON line (nor
    count as one), and a file written on Windows reads the same."""
    notes = "Met the CFO\u2028then the COO\u0085next week\x0c"
    lines = [json.dumps({"Id": "003A", "Name": "Dana Reyes", "Title": "CFO", "Description": notes}, ensure_ascii=False),
             json.dumps({"Id": "003B", "Name": "Sam Ortiz", "Title": "Analyst"}),
             '{"Id": "003C", "Name": ',
             json.dumps({"Id": "003D", "Name": "Claire Dubois", "Title": "COO"})]
    parsed = load(knowledge, "contacts.jsonl", "\r\n".join(lines) + "\r\n", dedent=False)
    assert [(line, record["id"]) for line, record in parsed.records] == [(1, "003A"), (2, "003B"), (4, "003D")]
    assert [(e.line, e.error.split(":")[0]) for e in parsed.errors] == [(3, "invalid JSON")]


def test_a_header_written_twice_keeps_its_first_column(knowledge) -> None:
    """A report with two "Name" columns (the deal's, then its contact's): the deal is named by the first."""
    parsed = load(knowledge, "opportunities.csv", """\
        Id,Name,StageName,Amount,AccountId,Name
        006A,Acme renewal,Negotiation,1000,001A,Dana Reyes
        """)
    assert only(parsed)["name"] == "Acme renewal"


def test_json_lines_in_a_file_named_json_load_line_by_line(knowledge) -> None:
    parsed = load(knowledge, "contacts.json", """\
        {"Id": "003A", "Name": "Dana Reyes", "Title": "CFO"}
        {"Id": "003B", "Name": "Sam Ortiz", "Title": "Analyst"

        {"Id": "003C", "Name": "Claire Dubois", "Title": "COO"}
        """)
    assert [(line, record["id"]) for line, record in parsed.records] == [(1, "003A"), (4, "003C")]
    assert [(e.line, e.error.split(":")[0]) for e in parsed.errors] == [(2, "invalid JSON")]


def test_two_pretty_printed_objects_one_after_the_other_are_still_one_error(knowledge) -> None:
    parsed = load(knowledge, "contacts.json", '{\n  "Id": "003A"\n}\n{\n  "Id": "003B"\n}\n', dedent=False)
    assert parsed.records == [] and [(e.line, e.error) for e in parsed.errors] == [(4, "invalid JSON: Extra data")]


@pytest.mark.parametrize("end", ["\r", "mixed"])
def test_a_semicolon_export_with_old_mac_or_mixed_line_ends_loads_every_row(knowledge, end: str) -> None:
    lines = ["Id;Name;Industry;AnnualRevenue", "001A;Acme;Retail;1.250.000,50", "001B;Bright;Retail;3.900",
             "001C;Cee;Retail;12"]
    text = "\r".join(lines) + "\r" if end == "\r" else f"{lines[0]}\r\n{lines[1]}\n{lines[2]}\r{lines[3]}\n"
    parsed = load(knowledge, "accounts.csv", text, dedent=False)
    assert parsed.errors == []
    assert [(line, r["id"], r["revenue"]) for line, r in parsed.records] == [(2, "001A", 1250000.5), (3, "001B", 3900),
                                                                             (4, "001C", 12)]


def test_a_long_first_note_full_of_semicolons_does_not_make_a_comma_export_a_semicolon_one(knowledge) -> None:
    note = "Agenda; pricing; legal; next steps\n" * 200  # the first 4 KB are nearly all this note
    parsed = load(knowledge, "activities.csv", f'Id,ActivityDate,Type,Subject,Description\n'
                                               f'00T1,2024-03-01,Meeting,Kickoff,"{note}"\n00T2,2024-03-02,Call,Next,Plain\n',
                  dedent=False)
    assert parsed.errors == []
    assert [(line, r["id"]) for line, r in parsed.records] == [(2, "00T1"), (203, "00T2")]


@pytest.mark.parametrize("header, delimiter", [
    ("Id,Name,Industry", ","), ("Id;Name;Industry", ";"), ("Id\tName\tIndustry", "\t"), ("Id|Name|Industry", "|"),
    ('Id;"Revenue, EUR";Name', ";"), ("Email", ","),
])
def test_the_header_decides_the_delimiter(header: str, delimiter: str) -> None:
    from bot.knowledge.crm import _sniff_delimiter

    assert _sniff_delimiter(header + "\r\n001A,x,y;z\n") == delimiter


@pytest.mark.parametrize("text, first_row", [
    ("sep=;\nId;Name;Industry\n001A;Acme;Retail\n", 3),  # Excel's line naming the delimiter
    ("\n\nId,Name,Industry\n001A,Acme,Retail\n", 4),  # blank lines above the header
    ("Id,Name,Industry\n001A,Acme,Retail,,\n", 2),  # empty cells right of the last column
], ids=["sep-line", "blank-lines-first", "trailing-empty-cells"])
def test_what_surrounds_the_table_in_a_spreadsheet_export_loses_no_row(knowledge, text: str, first_row: int) -> None:
    parsed = load(knowledge, "accounts.csv", text, dedent=False)
    assert parsed.errors == []
    assert [(line, r["id"], r["name"], r["industry"]) for line, r in parsed.records] == [
        (first_row, "001A", "Acme", "Retail")]


def test_a_header_left_open_after_blank_lines_is_reported_on_its_own_line(knowledge) -> None:
    parsed = load(knowledge, "accounts.csv", '\nId,"Name,Industry\n001A,Acme,Retail\n', dedent=False)
    assert [(e.line, e.error.split(" (")[0]) for e in parsed.errors] == [
        (2, "unreadable header: a quote on line 2 is never closed")]


def test_json_records_under_a_key_of_their_own_load(knowledge) -> None:
    parsed = load(knowledge, "contacts.json", """\
        {"exported": "2025-11-20", "contacts": [
          {"Id": "003A", "Name": "Dana Reyes", "Title": "CFO"},
          {"Id": "003B", "Name": "Sam Ortiz", "Title": "Analyst"}
        ]}
        """)
    assert parsed.errors == []
    assert [(line, r["id"]) for line, r in parsed.records] == [(2, "003A"), (3, "003B")]
    # one contact with a list of its emails is still one contact
    parsed = load(knowledge, "contacts.json", '{"Id": "003C", "Name": "Claire Dubois", "Title": "COO", '
                                              '"Emails": [{"type": "work", "value": "claire@example.com"}]}')
    assert [r["id"] for _, r in parsed.records] == ["003C"]


def test_a_json_item_that_is_not_an_object_does_not_shift_the_lines_of_the_records_below(knowledge) -> None:
    parsed = load(knowledge, "contacts.json", """\
        [
          null,
          {"Id": "003A", "Name": "Dana Reyes", "Title": "CFO"},
          {"Id": "003B", "Name": "Sam Ortiz", "Title": "Analyst"}
        ]
        """)
    assert [(line, r["id"]) for line, r in parsed.records] == [(3, "003A"), (4, "003B")]
    assert [e.error for e in parsed.errors] == ["record is not a JSON object"]


def test_json_records_beside_another_list_of_objects_keep_their_own_lines(knowledge) -> None:
    parsed = load(knowledge, "contacts.json", """\
        {"included": [
          {"type": "company", "id": "1"},
          {"type": "company", "id": "2"}
         ],
         "data": [
          {"Id": "003A", "Name": "Dana Reyes", "Title": "CFO", "Note": "a \\"quoted\\" [word]"},
          {"Id": "003B", "Name": "Sam Ortiz", "Title": "Analyst"}
        ]}
        """)
    assert parsed.errors == []
    assert [(line, r["id"]) for line, r in parsed.records] == [(6, "003A"), (7, "003B")]

def test_malformed_json_does_not_stop_other_files(services, knowledge) -> None:
    knowledge.crm("accounts.csv", "Id,Name\n001A,Acme Corporation\n")
    knowledge.crm("contacts.json", '[\n  {"Id": "003A", "Name": "Dana Reyes",\n]\n')
    report = run_ingest(services, [], show_progress=False)
    assert [(e.file, e.line) for e in report.errors] == [("crm/contacts.json", 3)]
    assert len(services.retriever.account_records("001A")) == 1


def test_missing_required_field_reported(knowledge) -> None:
    parsed = load(knowledge, "accounts.csv", "Id,Name,Industry\n001A,Acme Corporation,Manufacturing\n001B,,Retail\n")
    assert sorted(by_id(parsed)) == ["001A"]
    assert [(e.file, e.line) for e in parsed.errors] == [("crm/accounts.csv", 3)]


def test_unreadable_path_is_an_error_not_a_crash(tmp_path: Path) -> None:
    parsed = read_crm_file(tmp_path / "nope.csv", "crm/nope.csv")
    assert parsed.records == []
    assert [e.file for e in parsed.errors] == ["crm/nope.csv"]


def test_a_european_export_reads_dots_as_thousands_in_every_number(knowledge) -> None:
    """Excel in Germany or France writes '3.900' employees and '410.000.000,00' revenue in the same file."""
    parsed = load(knowledge, "companies.csv", """\
        Company ID;Company name;Industry;Number of Employees;Annual Revenue
        C1;Hotelgruppe Sonnfeld GmbH;Hospitality;3.900;410.000.000,00
        C2;Klinik am See GmbH;Healthcare;850;62.500.000,50
        """)
    assert parsed.errors == []
    rows = {r["name"]: r for _, r in parsed.records}
    assert rows["Hotelgruppe Sonnfeld GmbH"]["employees"] == 3900
    assert rows["Hotelgruppe Sonnfeld GmbH"]["revenue"] == 410_000_000
    assert rows["Klinik am See GmbH"]["revenue"] == 62_500_000.5


def test_a_us_export_keeps_commas_as_thousands(knowledge) -> None:
    parsed = load(knowledge, "accounts.csv", """\
        Id,Name,Industry,NumberOfEmployees,AnnualRevenue
        001A,Acme Corporation,Manufacturing,"1,200","250,000,000.00"
        001B,Brightwater Foods,Food & Beverage,3.5,"90,000,000"
        """)
    rows = {r["name"]: r for _, r in parsed.records}
    assert rows["Acme Corporation"]["employees"] == 1200 and rows["Acme Corporation"]["revenue"] == 250_000_000
    assert rows["Brightwater Foods"]["revenue"] == 90_000_000


def test_a_tab_separated_export_named_tsv_loads(services, knowledge) -> None:
    knowledge.crm("accounts.tsv", "Id\tName\tIndustry\n001A\tAcme, Inc.\tRetail\n")
    report = run_ingest(services, [], show_progress=False)
    assert report.errors == [] and report.added == 1
    assert [record["name"] for _, _, meta in services.store.get({"source": "crm/accounts.tsv"})
            for record in [json.loads(meta["data"])]] == ["Acme, Inc."]


SALESFORCE_REPORT = """\
"Account ID","Account Name","Industry"
"001A","Acme Corporation","Manufacturing"
"001B","Brightwater Foods","Food & Beverage"

"Grand Totals (2 records)"


"Confidential Information - Do Not Distribute"
"Copyright (c) 2000-2025 salesforce.com, inc. All rights reserved."
"""


def test_a_salesforce_report_footer_is_one_note_not_an_error_per_line(knowledge) -> None:
    parsed = load(knowledge, "accounts.csv", SALESFORCE_REPORT, dedent=False)
    assert [r["id"] for _, r in parsed.records] == ["001A", "001B"]
    assert [(e.line, e.error) for e in parsed.errors] == [
        (5, "lines 5 to 9 below the table hold one cell each (a report's footer?): not read")]


def test_one_cell_lines_followed_by_rows_are_each_an_error(knowledge) -> None:
    parsed = load(knowledge, "accounts.csv", SALESFORCE_REPORT + '"001C","Cee","Retail"\n', dedent=False)
    assert [r["id"] for _, r in parsed.records] == ["001A", "001B", "001C"]
    assert [(e.line, e.error) for e in parsed.errors] == [(line, "expected 3 columns, found 1") for line in (5, 8, 9)]
