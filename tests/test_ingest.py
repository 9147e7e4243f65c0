"""Idempotent ingestion into a real Chroma PersistentClient (fake embeddings)."""

from __future__ import annotations

import io
import json

import pytest
from langchain_core.embeddings import DeterministicFakeEmbedding, Embeddings

from bot.cli import main, run_ingest
from bot.knowledge.embeddings import Named
from bot.knowledge.store import EmbeddingMismatch
from bot.runtime import build_services


class CountingEmbeddings(Embeddings):
    """Deterministic fake vectors, counting how many texts were embedded."""

    def __init__(self, name: str = "fake:deterministic"):
        self.inner = DeterministicFakeEmbedding(size=64)
        self.name = name
        self.embedded = 0

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        self.embedded += len(texts)
        return self.inner.embed_documents(texts)

    def embed_query(self, text: str) -> list[float]:
        return self.inner.embed_query(text)


@pytest.fixture
def counting() -> CountingEmbeddings:
    return CountingEmbeddings()


@pytest.fixture
def counted_services(settings, counting):
    return build_services(settings, embeddings=counting)


@pytest.fixture
def corpus(small_crm):
    k = small_crm
    k.crm("opportunities.csv", """\
        Id,Name,StageName,Amount,CloseDate,AccountId
        006A,Acme renewal,Negotiation,"1,200,000",2024-06-30,001A
        006B,Brightwater pilot,Prospecting,50000,2024-09-30,001B
        """)
    k.content("northwind-case-study.md", """\
        ---
        title: Northwind cuts freight spend 18%
        type: case_study
        ---
        Northwind cut freight spend by 18% and paid back the project in 7 months.
        """)
    k.content("cfo-persona.md", "# The CFO\n\nCares about payback period and predictable spend.\n")
    return k


def texts_of(services, source: str) -> list[str]:
    return [text for _, text, _ in services.store.get({"source": source})]


def ids_of(services) -> set[str]:
    return set(services.store.chunks.get(include=[])["ids"])


def ingest(services, *paths, rebuild: bool = False):
    return run_ingest(services, list(paths), rebuild=rebuild, show_progress=False)


def test_first_run_adds_everything(counted_services, corpus, counting) -> None:
    report = ingest(counted_services)
    assert (report.added, report.updated, report.unchanged, report.removed) == (5, 0, 0, 0)
    assert report.errors == []
    # 4 accounts + 3 contacts + 2 opportunities + 2 content chunks
    assert counted_services.store.count() == 11
    assert counting.embedded == 11
    assert texts_of(counted_services, "content/cfo-persona.md")
    assert len(texts_of(counted_services, "crm/accounts.csv")) == 4


def test_second_run_changes_nothing_and_embeds_nothing(counted_services, corpus, counting) -> None:
    ingest(counted_services)
    before = ids_of(counted_services)
    counting.embedded = 0
    report = ingest(counted_services)
    assert (report.added, report.updated, report.unchanged, report.removed) == (0, 0, 5, 0)
    assert counting.embedded == 0
    assert ids_of(counted_services) == before


def test_nothing_is_re_embedded_in_a_new_process(settings, corpus) -> None:
    first = CountingEmbeddings()
    ingest(build_services(settings, embeddings=first))
    again = CountingEmbeddings()
    report = ingest(build_services(settings, embeddings=again))
    assert report.unchanged == 5 and again.embedded == 0


def test_changed_file_is_updated_and_its_old_chunks_are_gone(counted_services, corpus, counting) -> None:
    ingest(counted_services)
    corpus.content("cfo-persona.md", "# The CFO\n\nWants a board-ready business case with a 12-month payback.\n")
    counting.embedded = 0
    report = ingest(counted_services)
    assert (report.added, report.updated, report.unchanged, report.removed) == (0, 1, 4, 0)
    assert counting.embedded == 1
    texts = texts_of(counted_services, "content/cfo-persona.md")
    assert len(texts) == 1
    assert "board-ready business case" in texts[0]
    assert counted_services.store.count() == 11


def test_changed_crm_file_drops_removed_rows(counted_services, corpus) -> None:
    ingest(counted_services)
    corpus.crm("opportunities.csv", "Id,Name,StageName,Amount,AccountId\n006A,Acme renewal,Closed Won,1300000,001A\n")
    report = ingest(counted_services)
    assert report.updated == 1
    texts = texts_of(counted_services, "crm/opportunities.csv")
    assert len(texts) == 1 and "Closed Won" in texts[0] and "1,300,000" in texts[0]
    assert counted_services.retriever.account_records("001B", "opportunity") == []


def test_file_that_became_unreadable_leaves_no_stale_chunks(counted_services, corpus) -> None:
    ingest(counted_services)
    corpus.crm("opportunities.csv", "Id,Name,Amount\n006A,,1000\n")  # a deal with no name cannot be loaded
    report = ingest(counted_services)
    assert report.updated == 1
    assert [(e.file, e.line) for e in report.errors] == [("crm/opportunities.csv", 2)]
    assert "missing an opportunity name" in report.errors[0].error
    assert texts_of(counted_services, "crm/opportunities.csv") == []


def test_deleted_file_is_removed_with_its_chunks(counted_services, corpus) -> None:
    ingest(counted_services)
    (corpus.root / "content" / "cfo-persona.md").unlink()
    report = ingest(counted_services)
    assert (report.added, report.updated, report.unchanged, report.removed) == (0, 0, 4, 1)
    assert texts_of(counted_services, "content/cfo-persona.md") == []
    assert counted_services.store.count() == 10


def test_run_after_deleting_a_crm_file_is_quiet(counted_services, corpus, counting) -> None:
    """Deleting an export is one change: the run after the removal has nothing left to do."""
    corpus.crm("unlinked-contacts.csv", "Id,FirstName,LastName,Title\n003Z,Pat,Kim,Analyst\n")
    ingest(counted_services)
    (corpus.root / "crm" / "unlinked-contacts.csv").unlink()
    assert ingest(counted_services).removed == 1
    counting.embedded = 0
    report = ingest(counted_services)
    assert (report.added, report.updated, report.unchanged, report.removed) == (0, 0, 5, 0)
    assert counting.embedded == 0


def test_ingesting_a_single_file(counted_services, corpus, counting) -> None:
    ingest(counted_services)
    corpus.content("cfo-persona.md", "# The CFO\n\nNew: wants the payback in the first budget year.\n")
    corpus.content("northwind-case-study.md", "# Northwind\n\nEdited too, but not asked for.\n")
    counting.embedded = 0
    report = ingest(counted_services, corpus.root / "content" / "cfo-persona.md")
    assert (report.added, report.updated, report.unchanged, report.removed) == (0, 1, 0, 0)
    assert counting.embedded == 1
    assert "first budget year" in texts_of(counted_services, "content/cfo-persona.md")[0]
    # other files are neither re-read nor removed
    assert "18%" in texts_of(counted_services, "content/northwind-case-study.md")[0]
    assert len(texts_of(counted_services, "crm/accounts.csv")) == 4


def test_single_file_into_an_empty_store_keeps_its_knowledge_relative_name(counted_services, corpus) -> None:
    report = ingest(counted_services, corpus.root / "crm" / "contacts.csv")
    assert report.added == 1
    assert len(texts_of(counted_services, "crm/contacts.csv")) == 3
    # no account is in the store yet: each contact is loaded, and said to be loaded without one
    assert [(e.file, e.line) for e in report.errors] == [("crm/contacts.csv", 2), ("crm/contacts.csv", 3),
                                                          ("crm/contacts.csv", 4)]
    assert report.errors[0].error == ("account '001A' matches no account in the CRM exports; "
                                      "loaded without an account")


def test_once_the_accounts_arrive_the_contacts_are_linked_and_no_longer_reported(counted_services, corpus) -> None:
    assert ingest(counted_services, corpus.root / "crm" / "contacts.csv").errors
    report = ingest(counted_services)
    assert report.errors == []
    contacts = counted_services.retriever.account_records("001A", "contact")
    assert sorted(hit.metadata["title"] for hit in contacts) == ["Dana Reyes at Acme Corporation",
                                                                 "Sam Ortiz at Acme Corporation"]
    assert ingest(counted_services).errors == []


def test_single_contacts_file_links_to_accounts_already_in_the_store(counted_services, corpus) -> None:
    ingest(counted_services, corpus.root / "crm" / "accounts.csv")
    ingest(counted_services, corpus.root / "crm" / "contacts.csv")
    contacts = counted_services.retriever.account_records("001A", "contact")
    assert sorted(hit.metadata["title"] for hit in contacts) == ["Dana Reyes at Acme Corporation",
                                                                 "Sam Ortiz at Acme Corporation"]


def test_renamed_account_re_embeds_the_records_that_name_it(counted_services, corpus) -> None:
    ingest(counted_services)
    accounts = (corpus.root / "crm" / "accounts.csv").read_text(encoding="utf-8")
    corpus.crm("accounts.csv", accounts.replace("Acme Corporation", "Acme Industries"), dedent=False)
    report = ingest(counted_services)
    assert report.updated >= 3  # accounts, contacts and opportunities name the account
    assert report.unchanged == 2  # content does not
    contacts = counted_services.retriever.account_records("001A", "contact")
    assert contacts and all("Acme Industries" in hit.text for hit in contacts)
    assert all("Acme Corporation" not in hit.text for hit in contacts)
    [deal] = counted_services.retriever.account_records("001A", "opportunity")
    assert "Acme Industries" in deal.text
    # and the run after that is quiet again
    assert ingest(counted_services).unchanged == 5


def test_editing_an_account_detail_re_embeds_only_that_file(counted_services, corpus, counting) -> None:
    ingest(counted_services)
    accounts = (corpus.root / "crm" / "accounts.csv").read_text(encoding="utf-8")
    corpus.crm("accounts.csv", accounts.replace("Manufacturing", "Industrial Manufacturing"), dedent=False)
    counting.embedded = 0
    report = ingest(counted_services)
    assert (report.updated, report.unchanged) == (1, 4)
    assert counting.embedded == 1  # only the edited account's text is new
    [acme] = counted_services.retriever.account_records("001A", "account")
    assert "Industrial Manufacturing" in acme.text


def test_errors_of_an_unchanged_bad_file_are_reported_again(counted_services, corpus) -> None:
    corpus.crm("opportunities.csv", """\
        Id,Name,Amount,AccountId
        006A,Acme renewal,1000,001A
        006B,Acme expansion,a lot,001A
        """)
    first = ingest(counted_services)
    again = ingest(counted_services)
    assert [(e.file, e.line) for e in first.errors] == [("crm/opportunities.csv", 3)]
    assert again.unchanged == 5
    assert [e.as_dict() for e in again.errors] == [e.as_dict() for e in first.errors]


# ---------------------------------------------------------------- broken references and values: reported, still loaded

def test_a_contact_whose_account_matches_no_account_is_reported_with_file_and_line(counted_services, corpus) -> None:
    corpus.crm("contacts.csv", """\
        Id,FirstName,LastName,Title,Email,Department,AccountId
        003A,Dana,Reyes,Chief Financial Officer,dana.reyes@acme.example,Finance,001A
        003Z,Pat,Kim,Buyer,pat.kim@nowhere.example,Procurement,001Z
        """)
    report = ingest(counted_services)
    assert [(e.file, e.line, e.error) for e in report.errors] == [
        ("crm/contacts.csv", 3, "account '001Z' matches no account in the CRM exports; loaded without an account")]
    texts = texts_of(counted_services, "crm/contacts.csv")
    assert len(texts) == 2 and any("Pat Kim" in text for text in texts)  # loaded all the same
    [pat] = [meta for _, text, meta in counted_services.store.get({"source": "crm/contacts.csv"}) if "Pat Kim" in text]
    assert pat["account_id"] == ""  # not linked to a made-up account
    assert [hit.metadata["title"] for hit in counted_services.retriever.account_records("001A", "contact")] == [
        "Dana Reyes at Acme Corporation"]


def test_a_contact_with_a_wrong_account_id_but_a_known_account_name_is_linked_by_name(counted_services,
                                                                                      corpus) -> None:
    corpus.crm("contacts.csv", """\
        Id,FirstName,LastName,Title,AccountId,Account Name
        003Z,Pat,Kim,Buyer,001Z,Acme Corporation
        """)
    report = ingest(counted_services)
    assert [(e.file, e.line) for e in report.errors] == [("crm/contacts.csv", 2)]
    assert "'001Z' matches no account" in report.errors[0].error
    assert "linked to Acme Corporation" in report.errors[0].error
    assert [hit.metadata["title"] for hit in counted_services.retriever.account_records("001A", "contact")] == [
        "Pat Kim at Acme Corporation"]


def test_an_activity_whose_contact_matches_no_contact_is_reported_with_file_and_line(counted_services,
                                                                                     corpus) -> None:
    corpus.crm("activities.csv", """\
        Id,ActivityDate,Type,Subject,WhoId,WhatId
        00T1,2024-03-01,Call,Discovery,003A,001A
        00T2,2024-03-02,Call,Follow-up,003Z,001A
        00T3,2024-03-03,Email,Proposal sent,003A,006A
        """)
    report = ingest(counted_services)
    # 00T3 is logged on a deal (WhatId 006A): a real reference, not reported
    assert [(e.file, e.line, e.error) for e in report.errors] == [
        ("crm/activities.csv", 3, "contact '003Z' matches no contact in the CRM exports; loaded without a contact")]
    activities = counted_services.retriever.account_records("001A", "activity")
    assert sorted(hit.record["id"] for hit in activities) == ["00T1", "00T2", "00T3"]


def test_an_activity_whose_account_and_contact_match_nothing_reports_both(counted_services, corpus) -> None:
    corpus.crm("activities.csv", "Id,ActivityDate,Type,Subject,WhoId,WhatId\n00T9,2024-03-01,Call,Hello,003Z,001Z\n")
    report = ingest(counted_services)
    assert [(e.file, e.line) for e in report.errors] == [("crm/activities.csv", 2), ("crm/activities.csv", 2)]
    errors = " ".join(e.error for e in report.errors)
    assert "account '001Z' matches no account" in errors and "contact '003Z' matches no contact" in errors
    assert len(texts_of(counted_services, "crm/activities.csv")) == 1


def test_a_guessed_amount_is_reported_by_ingest_and_the_deal_loads_without_one(counted_services, corpus) -> None:
    corpus.crm("opportunities.csv", """\
        Id,Name,StageName,Amount,CloseDate,AccountId
        006A,Acme renewal,Negotiation,"1,200,000",2024-06-30,001A
        006B,Brightwater pilot,Prospecting,TBD (~60k),2024-09-30,001B
        """)
    report = ingest(counted_services)
    assert [(e.file, e.line) for e in report.errors] == [("crm/opportunities.csv", 3)]
    assert "TBD (~60k)" in report.errors[0].error and "Amount" in report.errors[0].error
    [deal] = counted_services.retriever.account_records("001B", "opportunity")
    assert deal.record["name"] == "Brightwater pilot" and "amount" not in deal.record
    assert "60,000" not in deal.text and "60000" not in deal.text
    assert "Prospecting" in deal.text


def test_an_unparseable_date_is_reported_by_ingest_and_left_empty(counted_services, corpus) -> None:
    corpus.crm("opportunities.csv", """\
        Id,Name,StageName,Amount,CloseDate,AccountId
        006A,Acme renewal,Negotiation,"1,200,000",end of Q3,001A
        """)
    report = ingest(counted_services)
    assert [(e.file, e.line) for e in report.errors] == [("crm/opportunities.csv", 2)]
    assert "CloseDate" in report.errors[0].error and "end of Q3" in report.errors[0].error
    [deal] = counted_services.retriever.account_records("001A", "opportunity")
    assert "close_date" not in deal.record and deal.record["amount"] == 1_200_000
    assert "end of Q3" not in deal.text


def test_chunk_ids_are_stable_across_stores_and_runs(make_settings, corpus, tmp_path) -> None:
    one = build_services(make_settings(chroma_path=tmp_path / "one"), embeddings=CountingEmbeddings())
    two = build_services(make_settings(chroma_path=tmp_path / "two"), embeddings=CountingEmbeddings())
    ingest(one)
    ingest(two)
    assert ids_of(one) == ids_of(two)
    assert len(ids_of(one)) == 11


def test_rebuild_embeds_everything_again_with_the_same_ids(counted_services, corpus, counting) -> None:
    ingest(counted_services)
    before = ids_of(counted_services)
    counting.embedded = 0
    report = ingest(counted_services, rebuild=True)
    assert (report.added, report.updated, report.unchanged, report.removed) == (5, 0, 0, 0)
    assert counting.embedded == 11
    assert ids_of(counted_services) == before


def test_missing_path_and_unsupported_file_are_reported(counted_services, corpus) -> None:
    corpus.write("content/logo.png", "not an image")
    report = ingest(counted_services, corpus.root / "nope", corpus.root / "content" / "logo.png", corpus.root / "content")
    assert {e.error for e in report.errors} == {"no such file or folder", "unsupported file type .png"}
    assert report.added == 2


def test_hidden_folders_are_skipped(counted_services, corpus) -> None:
    corpus.content(".drafts/secret.md", "# Secret\n\nNot for the bot.\n")
    report = ingest(counted_services)
    assert report.added == 5
    assert counted_services.store.get({"title": "Secret"}) == []


def test_a_corrupt_file_does_not_stop_the_run(counted_services, corpus) -> None:
    corpus.write_bytes("content/broken.pdf", b"%PDF-1.4\ngarbage\n")
    report = ingest(counted_services)
    assert [e.file for e in report.errors] == ["content/broken.pdf"]
    assert counted_services.store.count() == 11


# ---------------------------------------------------------------- embedding-model guard

def test_store_built_with_another_model_is_refused(settings, corpus) -> None:
    first = build_services(settings, embeddings=Named(DeterministicFakeEmbedding(size=64), "fake:model-a"))
    ingest(first)
    second = build_services(settings, embeddings=Named(DeterministicFakeEmbedding(size=64), "fake:model-b"))
    with pytest.raises(EmbeddingMismatch) as caught:
        second.retriever.search("anything")
    message = str(caught.value)
    assert "fake:model-a" in message and "fake:model-b" in message
    assert "--rebuild" in message


def test_another_collection_prefix_keeps_both_models_apart(make_settings, corpus) -> None:
    ingest(build_services(make_settings(), embeddings=Named(DeterministicFakeEmbedding(size=64), "fake:model-a")))
    other = build_services(make_settings(collection_prefix="minilm"),
                           embeddings=Named(DeterministicFakeEmbedding(size=64), "fake:model-b"))
    assert ingest(other).added == 5


def test_the_suggested_rebuild_fixes_a_model_mismatch(settings, corpus) -> None:
    ingest(build_services(settings, embeddings=Named(DeterministicFakeEmbedding(size=64), "fake:model-a")))
    model_b = Named(DeterministicFakeEmbedding(size=32), "fake:model-b")
    out = io.StringIO()
    status = main(["ingest", "--rebuild", "--json"], settings=settings,
                  services_factory=lambda s: build_services(s, embeddings=model_b), stdout=out)
    assert status == 0, out.getvalue()
    assert json.loads(out.getvalue())["added"] == 5
    # and the store now belongs to model B
    assert build_services(settings, embeddings=model_b).store.count() == 11


def test_a_deeply_nested_json_file_is_reported_and_the_rest_still_loads(small_crm, services) -> None:
    from bot.cli import run_ingest

    small_crm.crm("companies-nested.json", "[" * 5000 + "]" * 5000)  # 10 KB: past Python's recursion limit
    small_crm.crm("deals-nested.jsonl", '{"a": ' * 3000 + "1" + "}" * 3000 + "\n")
    report = run_ingest(services, [], show_progress=False)
    problems = {e.file: e.error for e in report.errors}
    assert "nested too deeply" in problems["crm/companies-nested.json"]
    assert "nested too deeply" in problems["crm/deals-nested.jsonl"]
    assert report.added >= 3  # accounts.csv, contacts.csv and the rest were stored
    assert services.retriever.resolve_account("Acme Corporation").account is not None


def test_exports_in_cp1252_utf16_and_latin1_load_with_the_encoding_named(small_crm, services) -> None:
    from bot.cli import run_ingest

    opportunities = ("Id,Name,StageName,Amount,NextStep,AccountId\n"
                     "006X,Acme – “Renewal” 2027,Negotiation,1200000,Send the ROI model — by Friday,001A\n")
    small_crm.write_bytes("crm/opportunities-cp1252.csv", opportunities.encode("cp1252"))
    activities = ("Id,ActivityDate,Type,Subject,Description,WhoId,WhatId\n"
                  "00TX,2026-11-20,Call,Réunion,Claire veut une réduction des stocks de 12 %,003C,001D\n")
    small_crm.write_bytes("crm/activities-utf16.csv", activities.encode("utf-16"))  # Excel "Unicode text", BOM
    small_crm.write_bytes("content/note-latin1.md", "---\ntitle: Réunion\ntype: faq\n---\nDélai de paiement: "
                          "30 jours nets.\n".encode("latin-1"))
    report = run_ingest(services, [], show_progress=False)
    notes = {e.file: e.error for e in report.errors}
    assert "read as cp1252" in notes["crm/opportunities-cp1252.csv"]
    assert "crm/activities-utf16.csv" not in notes  # UTF-16 is Unicode: nothing to warn about
    assert "read as cp1252" in notes["content/note-latin1.md"]
    texts = [text for _, text, _ in services.store.get({"kind": {"$in": ["crm", "content"]}})]
    assert any("Acme – “Renewal” 2027" in t for t in texts)  # the dash and quotes, not \x96 \x93 controls
    assert not any("\x96" in t or "\x93" in t for t in texts)
    assert any("réduction des stocks de 12 %" in t for t in texts)  # UTF-16 rows all loaded
    assert any("Délai de paiement" in t for t in texts)


def test_a_link_out_of_the_knowledge_folder_and_an_empty_file_are_reported_not_loaded(small_crm, services,
                                                                                      tmp_path) -> None:
    from bot.cli import run_ingest

    secret = tmp_path / "outside" / "secret.txt"
    secret.parent.mkdir()
    secret.write_text("root:x:0:0 the host's secrets", encoding="utf-8")
    (small_crm.root / "content" / "notes.txt").symlink_to(secret)
    small_crm.write_bytes("content/empty.md", b"")
    small_crm.crm("leads-header-only.csv", "First Name,Last Name,Job Title,Company\n")
    report = run_ingest(services, [], show_progress=False)
    notes = {e.file: e.error for e in report.errors}
    assert "outside the knowledge folder" in notes["content/notes.txt"]
    assert "empty file" in notes["content/empty.md"]
    assert "no records" in notes["crm/leads-header-only.csv"]
    texts = [text for _, text, _ in services.store.get({"kind": "content"})]
    assert not any("secrets" in t for t in texts)


def test_files_that_hold_nothing_are_reported_by_their_source_name_even_with_an_encoding_note(small_crm,
                                                                                                services) -> None:
    """A header-only export or a text-less document in cp1252 is still reported as holding nothing (the encoding
    note alone hid that), and a run over a subfolder names files as a run over the whole folder does."""
    small_crm.write_bytes("crm/leads-header-only.csv", "Prénom,Nom,Fonction,Société\n".encode("cp1252"))
    small_crm.write_bytes("content/cover.md", "---\ntitle: Présentation\n---\n".encode("cp1252"))
    small_crm.write_bytes("crm/empty.csv", b"")
    report = ingest(services, small_crm.root / "crm", small_crm.root / "content")
    notes: dict[str, list[str]] = {}
    for error in report.errors:
        notes.setdefault(error.file, []).append(error.error)
    assert any("read as cp1252" in note for note in notes["crm/leads-header-only.csv"])
    assert any("no records" in note for note in notes["crm/leads-header-only.csv"])
    assert any("no text found" in note for note in notes["content/cover.md"])
    assert notes["crm/empty.csv"] == ["empty file: nothing to load"]


def test_links_are_judged_against_the_knowledge_folder_and_a_linked_folder_is_reported(small_crm, services,
                                                                                        tmp_path) -> None:
    shared = tmp_path / "shared-content"
    shared.mkdir()
    (shared / "playbook.md").write_text("# Playbook\n\nOpen with the CFO's numbers.\n", encoding="utf-8")
    (small_crm.root / "content" / "shared").symlink_to(shared, target_is_directory=True)
    small_crm.content("pricing.md", "# Pricing\n\nPer shipment, billed monthly.\n")
    (small_crm.root / "crm" / "pricing-note.md").symlink_to(small_crm.root / "content" / "pricing.md")
    report = ingest(services, small_crm.root / "crm")  # a part of the folder: the link into content/ is fine
    assert report.errors == []
    report = ingest(services)
    assert [(e.file, e.error) for e in report.errors] == [
        ("content/shared", "a symbolic link to a folder: not followed, none of its files is read")]
    assert not any("Open with the CFO" in text for _, text, _ in services.store.get({"kind": "content"}))


def test_a_folder_that_cannot_be_listed_is_reported_and_keeps_what_it_gave_before(corpus, services,
                                                                                   monkeypatch) -> None:
    import os

    ingest(services)
    locked = str(corpus.root / "content")
    listing = os.scandir

    def scandir(path="."):  # as a folder owned by another user with mode 0700 (the tests run as root)
        if os.fspath(path) == locked:
            raise PermissionError(13, "Permission denied", locked)
        return listing(path)

    monkeypatch.setattr(os, "scandir", scandir)
    report = ingest(services)
    assert [(e.file, e.error) for e in report.errors] == [
        ("content", "cannot read this folder (Permission denied): none of its files is loaded")]
    assert report.removed == 0 and report.unchanged == 3
    assert sorted(services.store.source_states()) == ["content/cfo-persona.md", "content/northwind-case-study.md",
                                                      "crm/accounts.csv", "crm/contacts.csv", "crm/opportunities.csv"]


def test_a_binary_file_under_a_text_name_is_reported_not_stored_as_text(small_crm, services) -> None:
    import zipfile

    from bot.knowledge.content import load_front_matter

    with zipfile.ZipFile(small_crm.root / "crm" / "leads.csv", "w") as workbook:  # an .xlsx saved as .csv
        workbook.writestr("xl/workbook.xml", "<workbook/>" * 50)
    small_crm.write_bytes("content/proposal.md", b"\xd0\xcf\x11\xe0" + bytes(range(256)) * 8)  # a .doc named .md
    report = ingest(services)
    notes = {e.file: e.error for e in report.errors}
    assert notes["crm/leads.csv"].startswith("a binary file, not text")
    assert "a binary file, not text" in notes["content/proposal.md"]
    assert services.store.get({"source": {"$in": ["crm/leads.csv", "content/proposal.md"]}}) == []
    assert load_front_matter(small_crm.root / "content" / "proposal.md") == {}


def test_a_spreadsheet_or_document_ingest_cannot_read_is_named_not_skipped_in_silence(small_crm, services) -> None:
    small_crm.write_bytes("crm/pipeline.xlsx", b"PK\x03\x04")
    small_crm.write_bytes("content/battlecard.docx", b"PK\x03\x04")
    small_crm.write_bytes("content/logo.png", b"\x89PNG")  # beside the documents: passed over without a word
    small_crm.write_bytes("crm/~$pipeline.xlsx", b"\x05jdoe")  # Office's lock file while the workbook is open
    report = ingest(services)
    assert [(e.file, e.error.split(" (")[0]) for e in report.errors] == [
        ("content/battlecard.docx", "not read: ingest reads no .docx file"),
        ("crm/pipeline.xlsx", "not read: ingest reads no .xlsx file")]
