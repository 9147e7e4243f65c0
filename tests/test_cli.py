"""`python -m bot …`: exit codes, one JSON object with --json, candidates for unknown/ambiguous accounts."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.cli import main
from bot.runtime import build_services

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def run(settings, fake_embeddings):
    """Runs a command in-process; returns (status, stdout text)."""

    def run_command(*argv: str, stdin: str = "") -> tuple[int, str]:
        out = io.StringIO()
        status = main(list(argv), settings=settings,
                      services_factory=lambda s: build_services(s, embeddings=fake_embeddings),
                      stdin=io.StringIO(stdin), stdout=out)
        return status, out.getvalue()

    return run_command


@pytest.fixture
def sample(small_crm):
    small_crm.crm("opportunities.csv", """\
        Id,Name,StageName,Amount,AccountId
        006A,Acme renewal,Negotiation,1200000,001A
        006B,Acme expansion,Prospecting,lots,001A
        """)
    small_crm.content("cfo-persona.md", "---\ntitle: The CFO\ntype: persona\n---\nThe CFO cares about payback and cash.\n")
    return small_crm


def one_json_object(text: str) -> dict:
    value = json.loads(text)  # fails on anything but exactly one JSON value
    assert isinstance(value, dict)
    return value


# ---------------------------------------------------------------- ingest

def test_ingest_json_prints_one_report(run, sample) -> None:
    status, out = run("ingest", "--json")
    assert status == 0
    report = one_json_object(out)
    assert set(report) == {"added", "updated", "unchanged", "removed", "errors"}
    assert (report["added"], report["updated"], report["unchanged"], report["removed"]) == (4, 0, 0, 0)
    assert report["errors"] == [{"file": "crm/opportunities.csv", "line": 3, "error": report["errors"][0]["error"]}]
    assert "Amount" in report["errors"][0]["error"]

    status, out = run("ingest", "--json")
    assert status == 0
    again = one_json_object(out)
    assert (again["added"], again["unchanged"]) == (0, 4)
    assert again["errors"] == report["errors"]


def test_ingest_rebuild_json(run, sample) -> None:
    run("ingest", "--json")
    status, out = run("ingest", "--rebuild", "--json")
    assert status == 0
    assert one_json_object(out)["added"] == 4


def test_ingest_human_summary(run, sample) -> None:
    status, out = run("ingest")
    assert status == 0
    assert "4 added" in out
    assert "crm/opportunities.csv:3" in out


def test_ingest_missing_path_exits_2(run, sample, tmp_path: Path) -> None:
    status, out = run("ingest", "--json", str(tmp_path / "no-such-folder"))
    assert status == 2
    report = one_json_object(out)
    assert report["errors"][0]["error"] == "no such file or folder"
    assert "no-such-folder" in report["errors"][0]["file"]


def test_bad_usage_exits_2(run, capsys) -> None:
    assert run("frobnicate")[0] == 2
    assert run("ask")[0] == 2  # the question is missing
    assert "usage" in capsys.readouterr().err


# ---------------------------------------------------------------- ask

def test_ask_json_shape(run, sample, services) -> None:
    run("ingest")
    [(_, passage, _)] = services.store.get({"source": "content/cfo-persona.md"})
    status, out = run("ask", "--json", passage)
    assert status == 0
    answer = one_json_object(out)
    assert set(answer) == {"answer", "sources", "grounded"}
    assert answer["grounded"] is True
    assert "[1]" in answer["answer"]
    assert answer["sources"][0] == {"id": "content/cfo-persona.md", "title": "The CFO", "type": "persona",
                                    "account": None, "path": "content/cfo-persona.md"}
    for source in answer["sources"]:
        assert {"id", "title", "type", "account", "path"} <= set(source)


def test_ask_json_about_a_crm_record_names_its_account(run, sample, services) -> None:
    run("ingest")
    [(_, passage, _)] = services.store.get({"record_id": "006A"})
    status, out = run("ask", "--json", "--account", "ACME Corp.", passage)
    assert status == 0
    answer = one_json_object(out)
    assert answer["grounded"] is True
    first = answer["sources"][0]
    assert (first["type"], first["account"], first["path"]) == ("opportunity", "Acme Corporation", "crm/opportunities.csv")


def test_ask_with_empty_store_does_not_know(run) -> None:
    status, out = run("ask", "--json", "What is the next step on the Acme renewal?")
    assert status == 0
    answer = one_json_object(out)
    assert answer["grounded"] is False and answer["sources"] == []
    assert "I don't know" in answer["answer"]


def test_ask_ambiguous_account_lists_candidates(run, sample) -> None:
    run("ingest")
    status, out = run("ask", "--json", "--account", "brightwater", "what is the latest?")
    assert status == 2
    answer = one_json_object(out)
    assert sorted(answer["candidates"]) == ["Brightwater Foods", "Brightwater Health"]
    assert answer["grounded"] is False and answer["sources"] == []

    status, text = run("ask", "--account", "brightwater", "what is the latest?")
    assert status == 2
    assert "Brightwater Foods" in text and "Brightwater Health" in text
    assert "Traceback" not in text


def test_ask_unknown_account_gives_closest_names(run, sample) -> None:
    run("ingest")
    status, out = run("ask", "--json", "--account", "Zzyzx Holdings", "any news?")
    assert status == 2
    answer = one_json_object(out)
    assert "Closest names" in answer["answer"] and answer["candidates"]
    assert all(name in answer["answer"] for name in answer["candidates"])
    assert answer["grounded"] is False and answer["sources"] == []

    # two typos are still understood as the account a person meant
    status, out = run("ask", "--json", "--account", "Acne Corporaton", "any news?")
    assert status == 0

    status, text = run("ask", "--account", "Zzyzx Holdings", "any news?")
    assert status == 2
    assert "Zzyzx Holdings" in text and "Closest names" in text


def test_ask_human_output_lists_sources(run, sample, services) -> None:
    run("ingest")
    [(_, passage, _)] = services.store.get({"source": "content/cfo-persona.md"})
    status, out = run("ask", passage)
    assert status == 0
    assert "Sources:" in out
    assert "[1] The CFO — content/cfo-persona.md" in out


# ---------------------------------------------------------------- chat

def test_chat_answers_then_says_bye_at_end_of_input(run, sample) -> None:
    run("ingest")
    status, out = run("chat", stdin="What is the weather on Mars?\n")
    assert status == 0
    assert "What is the weather on Mars?" in out
    assert "I don't know" in out or "Here is what the knowledge base says" in out
    assert out.rstrip().endswith("Bye.")


def test_chat_exit_command(run) -> None:
    status, out = run("chat", stdin="exit\nthis is never asked\n")
    assert status == 0
    assert "this is never asked" not in out
    assert out.rstrip().endswith("Bye.")


# ---------------------------------------------------------------- settings errors

@pytest.mark.parametrize("variable, value", [("PORT", "abc"), ("EMBEDDINGS", "foo"), ("CHROMA_PORT", "99999"),
                                             ("LOG_LEVEL", "chatty"), ("AS_OF", "someday")])
def test_invalid_setting_exits_2_with_one_line_naming_it(monkeypatch, capsys, variable: str, value: str) -> None:
    monkeypatch.setenv(variable, value)
    out = io.StringIO()
    status = main(["ask", "--json", "hello"], stdout=out)
    assert status == 2
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert variable in lines[0]
    assert "Traceback" not in err


def test_openai_embeddings_without_a_key(monkeypatch, capsys) -> None:
    monkeypatch.setenv("EMBEDDINGS", "openai")
    assert main(["ingest"], stdout=io.StringIO()) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "OPENAI_API_KEY" in lines[0]


# ---------------------------------------------------------------- a real process

@pytest.mark.slow  # the command line builds the real local model
def test_subprocess_ask_json_is_one_object_on_stdout(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith(("SLACK_", "OPENAI_"))}
    env.update({
        "CHROMA_PATH": str(tmp_path / "empty-store"),
        "CHROMA_HOST": "",
        "KNOWLEDGE_PATH": str(tmp_path / "knowledge"),
        "EMBEDDINGS": "local",
        "LOG_LEVEL": "DEBUG",  # whatever is logged must go to stderr
        "PYTHONWARNINGS": "always",  # and so must every warning
    })
    done = subprocess.run(
        [sys.executable, "-m", "bot", "ask", "--json", "What is the next step on the Acme renewal?"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=180,
    )
    assert done.returncode == 0, done.stderr
    answer = one_json_object(done.stdout)
    assert set(answer) == {"answer", "sources", "grounded"}
    assert answer["grounded"] is False and answer["sources"] == []
    assert '"grounded"' not in done.stderr  # the answer went to stdout only


def test_run_rebuilds_a_store_made_with_another_embedding_model(settings, sample, capsys) -> None:
    from langchain_core.embeddings import DeterministicFakeEmbedding

    from bot.knowledge.embeddings import Named

    old = Named(DeterministicFakeEmbedding(size=64), "fake:an-older-model")
    main(["ingest"], settings=settings, services_factory=lambda s: build_services(s, embeddings=old),
         stdin=io.StringIO(""), stdout=io.StringIO())
    new = Named(DeterministicFakeEmbedding(size=32), "fake:the-new-default")
    out = io.StringIO()
    status = main(["run"], settings=settings, services_factory=lambda s: build_services(s, embeddings=new),
                  stdin=io.StringIO("what is the next step on the Acme renewal?\n"), stdout=out)
    assert status == 0
    assert "rebuilding it with fake:the-new-default" in capsys.readouterr().err
    assert "Acme" in out.getvalue()  # the console answered from the rebuilt store


def test_ask_without_a_question_is_bad_usage(run, capsys) -> None:
    status, out = run("ask", "   ")
    assert status == 2
    assert out == ""
    assert "needs a question" in capsys.readouterr().err
