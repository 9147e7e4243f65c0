"""Production-grade ingest: a bad quote never loses the rows below it, a big file is embedded and written in
bounded batches, and a run that was stopped is finished by the next one without embedding anything twice."""

from __future__ import annotations

from pathlib import Path

import pytest
from langchain_core.embeddings import DeterministicFakeEmbedding, Embeddings

from bot.knowledge import crm
from bot.knowledge import ingest as ingest_module
from bot.knowledge import store as store_module
from bot.knowledge.crm import CrmExport, read_crm_file
from bot.knowledge.encoding import decode
from bot.knowledge.ingest import ingest
from bot.knowledge.records import Directory, crm_chunks
from bot.runtime import build_services

HEADER = "Id,ActivityDate,Type,Subject,Description\n"


def row(number: int, notes: str | None = None) -> str:
    return f"00T{number:04d},2024-03-{1 + number % 28:02d},Call,Check-in {number},{notes or f'Notes of call {number}'}\n"


class Embedder(Embeddings):
    """Deterministic vectors; counts calls and texts, and can fail on a given call like a model that dies."""

    def __init__(self, *, fail_on_call: int | None = None, name: str = "fake:deterministic"):
        self.inner = DeterministicFakeEmbedding(size=32)
        self.name = name
        self.fail_on_call = fail_on_call
        self.calls = 0
        self.texts: list[str] = []

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        self.calls += 1
        if self.calls == self.fail_on_call:
            raise RuntimeError("the embedding model died")
        self.texts.extend(texts)
        return self.inner.embed_documents(texts)

    def embed_query(self, text: str) -> list[float]:
        return self.inner.embed_query(text)


def snapshot(services) -> tuple[dict, dict]:
    """Everything the store holds: chunks (text, metadata, vector) by id, and the manifest of sources."""
    got = services.store.chunks.get(include=["documents", "metadatas", "embeddings"])
    chunks = {i: (d, m, tuple(float(x) for x in v))
              for i, d, m, v in zip(got["ids"], got["documents"], got["metadatas"], got["embeddings"])}
    manifest = {s: (st.digest, st.chunks, st.errors) for s, st in services.store.source_states().items()}
    return chunks, manifest


def assert_same_store(one: tuple[dict, dict], other: tuple[dict, dict]) -> None:
    """Same ids, texts, metadata and manifest; vectors equal but for float32 rounding (a vector reused from the
    store went through Chroma once more than a freshly embedded one)."""
    (chunks, manifest), (other_chunks, other_manifest) = one, other
    assert manifest == other_manifest
    assert {i: c[:2] for i, c in chunks.items()} == {i: c[:2] for i, c in other_chunks.items()}
    assert all(max(abs(a - b) for a, b in zip(chunks[i][2], other_chunks[i][2])) < 1e-5 for i in chunks)


def run(services, embedder, root: Path, **kwargs):
    return ingest(services.store, embedder, [root], root=root, profile=services.profile, **kwargs)


# ---------------------------------------------------------------- a quote that is never closed

def test_an_unclosed_quote_keeps_the_rows_below_it_and_names_its_line(knowledge) -> None:
    rows = [row(n) for n in range(1, 9)]
    rows[3] = '00T0004,2024-03-05,Call,Pricing,"Asked for a discount, then\n'  # the quote never closes
    path = knowledge.crm("activities.csv", HEADER + "".join(rows))
    parsed = read_crm_file(path, "crm/activities.csv")
    assert [r["id"] for _, r in parsed.records] == ["00T0001", "00T0002", "00T0003", "00T0005", "00T0006",
                                                    "00T0007", "00T0008"]
    assert [line for line, _ in parsed.records] == [2, 3, 4, 6, 7, 8, 9]  # the lines an editor shows
    [error] = parsed.errors
    assert (error.file, error.line) == ("crm/activities.csv", 5)
    assert "unclosed quote" in error.error and "rows below it" in error.error


def test_an_unclosed_quote_that_a_later_quote_closes_loses_nothing_else(knowledge) -> None:
    path = knowledge.crm("activities.csv", HEADER + row(1, '"Left a voicemail, no answer') + row(2) + row(3)
                         + row(4, '"Met the CFO, agreed next steps"') + row(5, '"Two lines\nof notes"') + row(6))
    parsed = read_crm_file(path, "crm/activities.csv")
    records = {r["id"]: (line, r) for line, r in parsed.records}
    assert sorted(records) == ["00T0002", "00T0003", "00T0004", "00T0005", "00T0006"]
    assert records["00T0004"][1]["description"] == "Met the CFO, agreed next steps"
    assert records["00T0005"][1]["description"] == "Two lines\nof notes"
    assert [records[i][0] for i in ("00T0002", "00T0005", "00T0006")] == [3, 6, 8]
    assert [(e.line, "unclosed quote" in e.error) for e in parsed.errors] == [(2, True)]


def test_an_unclosed_quote_in_a_big_file_does_not_swallow_the_rest_of_it(knowledge) -> None:
    """Past the CSV reader's field limit (128 KB) the open quote is given up and every row below still loads."""
    rows = [row(n, "Notes " + "x" * 200) for n in range(1, 2001)]
    rows[9] = '00T0010,2024-03-11,Call,Kickoff,"The quote of this note is never closed\n'
    path = knowledge.crm("activities.csv", HEADER + "".join(rows))
    parsed = read_crm_file(path, "crm/activities.csv")
    assert len(parsed.records) == 1999
    assert [(e.line, "unclosed quote" in e.error) for e in parsed.errors] == [(11, True)]
    assert parsed.records[-1] == (2001, parsed.records[-1][1]) and parsed.records[-1][1]["id"] == "00T2000"


def test_multi_line_notes_and_doubled_quotes_still_load(knowledge) -> None:
    path = knowledge.crm("activities.csv", HEADER
                         + row(1, '"First line of notes\nsecond line, with a comma\nthird line"')
                         + row(2, '"Customer said ""we need SOC 2"", asked for pricing"')
                         # a note with a line that happens to hold as many commas as a row: still one note
                         + row(3, '"Attendees:\nDana, Sam, Pat, Lee, Kim\nall agreed to a pilot"')
                         + row(4))
    parsed = read_crm_file(path, "crm/activities.csv")
    assert parsed.errors == []
    notes = {r["id"]: r["description"] for _, r in parsed.records}
    assert notes == {"00T0001": "First line of notes\nsecond line, with a comma\nthird line",
                     "00T0002": 'Customer said "we need SOC 2", asked for pricing',
                     "00T0003": "Attendees:\nDana, Sam, Pat, Lee, Kim\nall agreed to a pilot",
                     "00T0004": "Notes of call 4"}
    assert [line for line, _ in parsed.records] == [2, 5, 6, 9]



def test_a_two_line_note_whose_last_line_holds_as_many_commas_as_a_row_is_one_note(knowledge) -> None:
    """Valid CSV (every quote closed, followed by a comma or the end of the line) is never taken for an unclosed
    quote: the note stays whole and its second line is not stored as a record of its own."""
    path = knowledge.crm("activities.csv", HEADER + row(1, '"Attendees:\nDana, Sam, Pat, Lee, Kim"') + row(2)
                         + '00T0003,2024-03-04,Meeting,Pilot,"Agenda:\nscope, pricing, legal, dates, owners"\n' + row(4))
    parsed = read_crm_file(path, "crm/activities.csv")
    assert parsed.errors == []
    assert [(line, r["id"]) for line, r in parsed.records] == [(2, "00T0001"), (4, "00T0002"), (5, "00T0003"),
                                                               (7, "00T0004")]
    assert parsed.records[0][1]["description"] == "Attendees:\nDana, Sam, Pat, Lee, Kim"


def test_an_unclosed_quote_in_the_header_is_reported_not_read_as_a_file_without_rows(knowledge) -> None:
    path = knowledge.crm("activities.csv", 'Id,"ActivityDate,Type,Subject,Description\n' + row(1) + row(2))
    parsed = read_crm_file(path, "crm/activities.csv")
    assert parsed.records == []
    [error] = parsed.errors
    assert error.line == 1 and "unreadable header" in error.error and "lines 2 to 3" in error.error

def test_an_unclosed_quote_is_reported_by_ingest_and_the_rows_below_it_are_stored(small_crm, services) -> None:
    from bot.cli import run_ingest

    small_crm.crm("activities.csv", HEADER + row(1) + row(2, '"Discussed the renewal') + row(3) + row(4))
    report = run_ingest(services, [], show_progress=False)
    assert [(e.file, e.line) for e in report.errors] == [("crm/activities.csv", 3)]
    texts = [text for _, text, _ in services.store.get({"source": "crm/activities.csv"})]
    assert sorted(t.split(":")[1].split(".")[0].strip() for t in texts) == ["Check-in 1", "Check-in 3",
                                                                            "Check-in 4"]


NOTES = HEADER + row(1, '"Réunion – “budget” validé, 12 €"') + row(2, '"Deux lignes\nde notes"') + row(3)


@pytest.mark.parametrize("data, name", [
    (NOTES.encode("utf-8"), "utf-8"),
    (b"\xef\xbb\xbf" + NOTES.encode("utf-8"), "utf-8"),
    (NOTES.encode("utf-16"), "utf-16"),  # Excel "Unicode text", with a BOM
    (NOTES.encode("utf-16-le"), "utf-16-le"),  # no BOM
    (NOTES.encode("cp1252"), "cp1252"),
    (NOTES.replace("–", "\x81").replace("“", "").replace("”", "").replace("€", "").encode("latin-1"), "latin-1"),
    ((HEADER + row(1) * 40000 + row(2, "Réunion – validé")).encode("cp1252"), "cp1252"),  # the one dash is far down
], ids=["utf-8", "utf-8-bom", "utf-16", "utf-16-le", "cp1252", "latin-1", "cp1252-late"])
def test_a_streamed_export_reads_every_encoding_as_the_whole_file_would(knowledge, data: bytes, name: str) -> None:
    path = knowledge.write_bytes("crm/activities.csv", data)
    text, expected = decode(data)
    assert expected == name
    assert list(CrmExport(path, "crm/activities.csv").rows()) == list(crm.iter_rows(path, text))
    parsed = read_crm_file(path, "crm/activities.csv")
    assert any(r["description"].startswith("Réunion") for _, r in parsed.records)
    notes = [e.error for e in parsed.errors]
    assert notes == ([f"read as {name}, not UTF-8 (loaded; save the file as UTF-8 to be sure every character is "
                      "right)"] if name in ("cp1252", "latin-1") else [])


# ---------------------------------------------------------------- bounded batches, progress kept

@pytest.fixture
def big_crm(small_crm):
    """The small CRM and an activities export of 50 rows on its accounts."""
    small_crm.crm("activities.csv", HEADER.replace("\n", ",WhatId\n")
                  + "".join(row(n).replace("\n", f",001{'ABCD'[n % 4]}\n") for n in range(1, 51)))
    return small_crm


def test_chunks_are_written_batch_by_batch_as_they_are_embedded(big_crm, settings) -> None:
    embedder = Embedder()
    services = build_services(settings, embeddings=embedder)
    stored_at_each_call: list[int] = []
    inner = embedder.embed_documents

    def spy(texts: list[str]) -> list[list[float]]:
        stored_at_each_call.append(services.store.count())
        return inner(texts)

    embedder.embed_documents = spy  # type: ignore[method-assign]
    report = run(services, embedder, big_crm.root, batch_size=10)
    # 4 accounts + 3 contacts + 50 activities, ten at a time: each call finds the previous batches stored
    assert report.chunks == 57 and services.store.count() == 57
    assert stored_at_each_call == [0, 10, 20, 30, 40, 50]
    assert max(len(t) for t in embedder.texts) < 200 and len(embedder.texts) == 57


def test_a_run_stopped_mid_file_keeps_its_batches_and_the_next_run_embeds_only_the_rest(big_crm, make_settings,
                                                                                        tmp_path) -> None:
    clean = build_services(make_settings(chroma_path=tmp_path / "clean"), embeddings=Embedder())
    run(clean, Embedder(), big_crm.root, batch_size=10)

    dying = Embedder(fail_on_call=4)  # three batches of ten are embedded and written, then the model dies
    services = build_services(make_settings(chroma_path=tmp_path / "resumed"), embeddings=dying)
    with pytest.raises(RuntimeError, match="died"):
        run(services, dying, big_crm.root, batch_size=10)
    assert services.store.count() == 30
    done = [source for source, state in services.store.source_states().items() if state.digest]
    assert done == ["crm/accounts.csv"]  # the activities, half written, are not marked complete
    first_texts = set(dying.texts)

    again = Embedder()
    report = run(services, again, big_crm.root, batch_size=10)
    assert (report.added, report.unchanged) == (2, 1)
    assert len(again.texts) == 27 and not first_texts & set(again.texts)  # nothing written before is embedded again
    assert snapshot(services) == snapshot(clean)  # exactly: nothing written before the stop was written again


def test_a_file_deleted_after_a_stopped_run_leaves_nothing_behind(big_crm, settings) -> None:
    dying = Embedder(fail_on_call=3)
    services = build_services(settings, embeddings=dying)
    with pytest.raises(RuntimeError):
        run(services, dying, big_crm.root, batch_size=10)
    assert services.store.get({"source": "crm/activities.csv"})  # half of it was written
    (big_crm.root / "crm" / "activities.csv").unlink()
    report = run(services, Embedder(), big_crm.root, batch_size=10)
    assert report.removed == 1
    assert services.store.get({"source": "crm/activities.csv"}) == []
    assert services.store.count() == 7 and sorted(services.store.source_states()) == ["crm/accounts.csv",
                                                                                       "crm/contacts.csv"]


def test_an_export_sorted_differently_reuses_every_vector(big_crm, settings, monkeypatch) -> None:
    monkeypatch.setattr(store_module, "READ_PAGE", 2)  # the store is read back and cleaned a few rows at a time
    embedder = Embedder()
    services = build_services(settings, embeddings=embedder)
    run(services, embedder, big_crm.root, batch_size=10)
    path = big_crm.root / "crm" / "activities.csv"
    header, *rows = path.read_text(encoding="utf-8").splitlines(keepends=True)
    path.write_text(header + row(99).replace("\n", ",001A\n") + "".join(reversed(rows)), encoding="utf-8")
    embedder.texts.clear()
    report = run(services, embedder, big_crm.root, batch_size=10)
    assert report.updated == 1
    assert len(embedder.texts) == 1 and "Check-in 99" in embedder.texts[0]  # every row moved: ids changed, texts not
    assert services.store.count() == 58  # and the chunks under the old ids are gone
    fresh = build_services(settings.model_copy(update={"chroma_path": settings.chroma_path.parent / "fresh"}),
                           embeddings=Embedder())
    run(fresh, Embedder(), big_crm.root, batch_size=10)
    assert_same_store(snapshot(services), snapshot(fresh))


def test_a_file_read_in_record_batches_gets_the_ids_of_a_whole_file_read(big_crm, services, monkeypatch) -> None:
    monkeypatch.setattr(ingest_module, "RECORD_BATCH", 7)
    monkeypatch.setattr(ingest_module, "FINGERPRINT_BATCH", 9)
    report = run(services, services.embeddings, big_crm.root, batch_size=4)
    assert report.errors == []
    directory = Directory()
    for name in ("accounts.csv", "contacts.csv"):
        for _, record in read_crm_file(big_crm.root / "crm" / name, f"crm/{name}").records:
            directory.add(record)
    whole, _ = crm_chunks(read_crm_file(big_crm.root / "crm" / "activities.csv", "crm/activities.csv"),
                          "crm/activities.csv", directory)
    stored = services.store.get({"source": "crm/activities.csv"})
    assert sorted(i for i, _, _ in stored) == sorted(c.id for c in whole)
    again = run(services, services.embeddings, big_crm.root, batch_size=4)
    assert (again.unchanged, again.updated, again.added) == (3, 0, 0)


# ---------------------------------------------------------------- what a run leaves behind equals a clean run

def test_a_file_emptied_or_replaced_by_a_link_out_of_the_folder_loses_its_old_chunks(big_crm, settings) -> None:
    services = build_services(settings, embeddings=Embedder())
    run(services, Embedder(), big_crm.root)
    activities = big_crm.root / "crm" / "activities.csv"
    activities.write_text("", encoding="utf-8")  # an export that came out empty
    outside = big_crm.root.parent / "outside.md"
    outside.write_text("# Not knowledge\n\nA file outside the knowledge folder.\n", encoding="utf-8")
    contacts = big_crm.root / "crm" / "contacts.csv"
    contacts.unlink()
    contacts.symlink_to(outside)
    report = run(services, Embedder(), big_crm.root)
    assert report.removed == 2
    assert sorted(services.store.source_states()) == ["crm/accounts.csv"]
    assert services.store.count() == 4
    assert [(e.file, e.error.split(":")[0]) for e in report.errors] == [
        ("crm/activities.csv", "empty file"), ("crm/contacts.csv", "a symbolic link to a file outside the knowledge folder")]


def test_a_plain_ingest_keeps_synced_objects_and_removes_a_deleted_file_under_a_sync_folder(small_crm, services) -> None:
    from bot.knowledge.documents import Chunk

    note = small_crm.write("sync/notes.md", "# Sync notes\n\nHow the CRM sync is scheduled.\n")
    run(services, services.embeddings, small_crm.root)
    synced = "sync/hubspot/contact/901"  # what `sync` writes: an object, not a file
    services.store.add([Chunk(f"{synced}#0:x", "Dana Reyes, CFO", {"kind": "crm", "source": synced})],
                       services.embeddings.embed_documents(["Dana Reyes, CFO"]))
    services.store.record_source(synced, "d", 1, [])
    note.unlink()
    report = run(services, services.embeddings, small_crm.root)
    assert report.removed == 1
    assert sorted(services.store.source_states()) == ["crm/accounts.csv", "crm/contacts.csv", synced]
    assert services.store.get({"source": synced})


def test_a_file_reverted_after_a_stopped_update_holds_what_a_clean_run_holds(big_crm, make_settings, tmp_path) -> None:
    clean = build_services(make_settings(chroma_path=tmp_path / "clean"), embeddings=Embedder())
    run(clean, Embedder(), big_crm.root, batch_size=10)

    services = build_services(make_settings(chroma_path=tmp_path / "reverted"), embeddings=Embedder())
    run(services, Embedder(), big_crm.root, batch_size=10)
    path = big_crm.root / "crm" / "activities.csv"
    original = path.read_bytes()
    path.write_text(original.decode().replace("Notes of call", "Minutes of call"), encoding="utf-8")
    dying = Embedder(fail_on_call=3)  # the edited file is half written when the model dies
    with pytest.raises(RuntimeError, match="died"):
        run(services, dying, big_crm.root, batch_size=10)
    path.write_bytes(original)  # the edit is undone before the next run

    report = run(services, Embedder(), big_crm.root, batch_size=10)
    assert (report.unchanged, report.updated) == (2, 1)
    assert_same_store(snapshot(services), snapshot(clean))
