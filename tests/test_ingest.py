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
    corpus.crm("opportunities.csv", "Id,Name,Amount\n006A,Acme renewal,lots\n")
    report = ingest(counted_services)
    assert report.updated == 1
    assert [(e.file, e.line) for e in report.errors] == [("crm/opportunities.csv", 2)]
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
    assert report.added == 1 and report.errors == []
    assert len(texts_of(counted_services, "crm/contacts.csv")) == 3


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
