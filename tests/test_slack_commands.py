"""Slash commands through the real Bolt app: ack at once, the result on the response_url, and the buttons."""

from __future__ import annotations

import json
import time

import pytest
from slack_helpers import SECRET_PATTERN, Harness, action_ids, blocks_of, button, harness, mock, sample, visible_text  # noqa: F401

from bot.blocks import FEEDBACK_HELPFUL, FEEDBACK_NOT_HELPFUL, PICK_ACCOUNT, SHARE_IN_CHANNEL
from bot.services.feedback import FeedbackStore

RESULT_TIMEOUT = 15


def ack_text(response) -> str:
    """The text of a slash command's ack: Bolt answers plain text, or JSON when there are blocks."""
    assert response.status == 200, response.body
    try:
        body = json.loads(response.body)
    except ValueError:
        return response.body
    return body.get("text", "") if isinstance(body, dict) else response.body


def result_of(harness: Harness, path: str):
    (call,) = harness.mock.wait_for(path, timeout=RESULT_TIMEOUT)
    return call


# ---------------------------------------------------------------- each command: ack, then the result

@pytest.mark.parametrize("command, text, header", [
    ("/brief", "Acme", "Account brief: Acme Corporation"),
    ("/leads", "Brightwater Health", "Leads at Brightwater Health"),
    ("/ask", "what is the next step on the Acme deal?", "knowledge base"),
    ("/campaign", "CFO --industry Retail", "Campaign: CFO"),
])
def test_command_is_acked_at_once_and_the_result_arrives_with_share_button(harness, command, text, header) -> None:
    started = time.perf_counter()
    response, path = harness.command(command, text)
    elapsed = time.perf_counter() - started

    assert "Working on" in ack_text(response)
    assert elapsed < 1.5, f"ack took {elapsed:.2f}s"
    call = result_of(harness, path)
    assert call.body["response_type"] == "ephemeral"
    blocks = blocks_of(call)
    assert blocks, call.body
    assert header in visible_text(call.body)
    assert SHARE_IN_CHANNEL in action_ids(blocks)
    assert FEEDBACK_HELPFUL in action_ids(blocks) and FEEDBACK_NOT_HELPFUL in action_ids(blocks)


def test_leads_in_slack_show_the_contract_verdicts_for_the_sample_account(harness) -> None:
    """Brightwater Health in the sample: an engaged analyst is a way in (nurture), the engaged procurement
    intern is not worth chasing and is sent to a senior on file, the CFO is pursued."""
    _, path = harness.command("/leads", "Brightwater Health")
    text = visible_text(result_of(harness, path).body)
    assert "🌱 Nurture: *Emily Tran* — Supply Chain Analyst" in text
    assert "🚫 Not worth chasing: *Jordan Miles* — Procurement Intern" in text
    assert "🎯 Pursue: *Catherine Moore* — Chief Financial Officer" in text
    jordan = text[text.index("*Jordan Miles*"):]
    move = jordan[jordan.index("→"):].splitlines()[0]
    assert "bottom-up" in move.lower()
    assert any(senior in move for senior in ("Catherine Moore", "Alan Pierce", "Marcus Bell")), move


def test_draft_goes_only_to_the_asker_without_share_button(harness) -> None:
    response, path = harness.command("/draft", "Acme --persona CFO")
    assert "Working on" in ack_text(response)
    call = result_of(harness, path)
    assert call.body["response_type"] == "ephemeral"
    text = visible_text(call.body)
    assert "Outreach draft" in text and "Subject:" in text
    assert SHARE_IN_CHANNEL not in action_ids(blocks_of(call))
    # nothing went anywhere else: no channel message, no DM to a prospect
    assert harness.mock.find("chat.postMessage") == []


@pytest.mark.parametrize("command", ["/brief", "/draft", "/campaign", "/leads", "/ask"])
def test_empty_text_gets_usage_in_the_ack_and_nothing_later(harness, command) -> None:
    response, _ = harness.command(command, "   ")
    text = ack_text(response)
    assert command in text
    assert "How to use" in visible_text(json.loads(response.body))
    assert "Working on" not in text
    harness.assert_nothing_posted(settle=0.4)


# ---------------------------------------------------------------- ambiguous account: the picker

def test_ambiguous_brief_offers_candidates_and_a_pick_delivers_that_brief(harness) -> None:
    response, path = harness.command("/brief", "brightwater")
    assert "Working on" in ack_text(response)
    call = result_of(harness, path)
    text = visible_text(call.body)
    assert "Brightwater Foods" in text and "Brightwater Health" in text
    blocks = blocks_of(call)
    picks = [b for b in action_ids(blocks) if b.startswith(f"{PICK_ACCOUNT}_")]
    assert len(picks) == 2, action_ids(blocks)
    assert SHARE_IN_CHANNEL not in action_ids(blocks)  # nothing to share yet

    health = next(b for b in blocks_of(call) if b.get("type") == "actions")["elements"]
    chosen = next(e for e in health if e["text"]["text"] == "Brightwater Health")
    response, pick_path = harness.click(chosen["action_id"], chosen["value"], block_id="candidates")
    assert response.status == 200
    picked = result_of(harness, pick_path)
    assert picked.body["replace_original"] is True
    assert picked.body.get("response_type", "ephemeral") == "ephemeral"
    shown = visible_text(picked.body)
    assert "Account brief: Brightwater Health" in shown
    assert "Brightwater Foods" not in shown
    assert SHARE_IN_CHANNEL in action_ids(blocks_of(picked))


def test_share_in_channel_posts_the_result_in_channel(harness) -> None:
    _, path = harness.command("/brief", "Acme")
    share = button(blocks_of(result_of(harness, path)), SHARE_IN_CHANNEL)
    response, share_path = harness.click(SHARE_IN_CHANNEL, share["value"], block_id="share")
    assert response.status == 200
    shared = result_of(harness, share_path)
    assert shared.body["response_type"] == "in_channel"
    assert shared.body.get("replace_original") is not True
    assert "Account brief: Acme Corporation" in visible_text(shared.body)
    assert SHARE_IN_CHANNEL not in action_ids(blocks_of(shared))  # already in the channel


def test_share_after_a_pick_shares_the_picked_account(harness) -> None:
    _, path = harness.command("/leads", "brightwater")
    elements = next(b for b in blocks_of(result_of(harness, path)) if b.get("type") == "actions")["elements"]
    foods = next(e for e in elements if e["text"]["text"] == "Brightwater Foods")
    _, pick_path = harness.click(foods["action_id"], foods["value"], block_id="candidates")
    picked = result_of(harness, pick_path)
    share = button(blocks_of(picked), SHARE_IN_CHANNEL)
    _, share_path = harness.click(SHARE_IN_CHANNEL, share["value"], block_id="share")
    shared = result_of(harness, share_path)
    assert shared.body["response_type"] == "in_channel"
    assert "Leads at" in visible_text(shared.body)
    assert "Brightwater Health" not in visible_text(shared.body)


def test_leads_after_a_pick_name_the_picked_account(harness) -> None:
    """After choosing "Brightwater Foods" among the candidates, the result must say which Brightwater it is."""
    _, path = harness.command("/leads", "brightwater")
    elements = next(b for b in blocks_of(result_of(harness, path)) if b.get("type") == "actions")["elements"]
    foods = next(e for e in elements if e["text"]["text"] == "Brightwater Foods")
    _, pick_path = harness.click(foods["action_id"], foods["value"], block_id="candidates")
    picked = result_of(harness, pick_path)
    assert picked.body["replace_original"] is True
    assert "Brightwater Foods" in visible_text(picked.body), visible_text(picked.body)[:300]


def test_share_works_for_a_long_question(harness) -> None:
    """A long /ask (a pasted email, say) still has a working "Share in channel" button."""
    question = "what is the next step on the Acme deal? " + "Context from the customer's email: " * 60
    assert len(question) > 2000
    _, path = harness.command("/ask", question)
    share = button(blocks_of(result_of(harness, path)), SHARE_IN_CHANNEL)
    response, share_path = harness.click(SHARE_IN_CHANNEL, share["value"], block_id="share")
    assert response.status == 200
    shared = result_of(harness, share_path)
    assert "Sorry" not in shared.body.get("text", ""), shared.body.get("text")
    assert shared.body["response_type"] == "in_channel"


def test_a_burst_of_commands_is_acked_fast_and_every_result_arrives(harness) -> None:
    from concurrent.futures import ThreadPoolExecutor

    commands = [("/brief", "Acme"), ("/leads", "Brightwater Health"), ("/draft", "Acme --persona CFO"),
                ("/ask", "what is the next step on the Acme deal?"), ("/campaign", "CFO --industry Retail")] * 4

    def send(item):
        started = time.perf_counter()
        response, path = harness.command(*item)
        return time.perf_counter() - started, ack_text(response), path

    with ThreadPoolExecutor(max_workers=len(commands)) as pool:
        sent = list(pool.map(send, commands))
    assert all("Working on" in text for _, text, _ in sent)
    assert max(elapsed for elapsed, _, _ in sent) < 2.0, sorted(e for e, _, _ in sent)
    for _, _, path in sent:
        (call,) = harness.mock.wait_for(path, timeout=30)
        assert blocks_of(call)


# ---------------------------------------------------------------- feedback buttons

@pytest.mark.parametrize("action_id, helpful", [(FEEDBACK_HELPFUL, True), (FEEDBACK_NOT_HELPFUL, False)])
def test_feedback_is_stored_durably_and_thanked(harness, action_id, helpful) -> None:
    _, path = harness.command("/brief", "Acme")
    vote = button(blocks_of(result_of(harness, path)), action_id)
    voter = f"UVOTE{int(helpful)}{time.monotonic_ns()}"
    response, vote_path = harness.click(action_id, vote["value"], user=voter, block_id="feedback")
    assert response.status == 200
    thanks = result_of(harness, vote_path)
    assert "Thanks" in thanks.body["text"]
    assert thanks.body.get("replace_original") is not True  # the result stays on screen

    fresh = FeedbackStore(harness.services.store.client, harness.settings.collection_prefix)
    votes = [v for v in fresh.all() if v["user"] == voter]
    assert len(votes) == 1
    assert votes[0]["helpful"] is helpful
    assert votes[0]["kind"] == "brief"
    assert "Acme" in votes[0]["reference"]


def test_feedback_on_an_answer_in_a_thread_is_stored(harness) -> None:
    _, path = harness.command("/ask", "what is the next step on the Acme deal?")
    vote = button(blocks_of(result_of(harness, path)), FEEDBACK_HELPFUL)
    voter = f"UVOTEA{time.monotonic_ns()}"
    _, vote_path = harness.click(FEEDBACK_HELPFUL, vote["value"], user=voter, block_id="feedback")
    result_of(harness, vote_path)
    votes = [v for v in FeedbackStore(harness.services.store.client, "sales").all() if v["user"] == voter]
    assert [(v["kind"], v["helpful"]) for v in votes] == [("answer", True)]


# ---------------------------------------------------------------- the language model is down

class _BrokenChat:
    """A chat model that fails the way a dependency does, with secrets in its error text."""

    def invoke(self, messages, *args, **kwargs):  # noqa: ARG002
        raise ConnectionError("upstream refused: api_key=sk-live-SECRET123 token=xoxb-123-SECRET")


@pytest.fixture
def broken_model_harness(sample, mock) -> Harness:
    from bot.llm import Model
    from bot.prompts import load_prompts

    services = sample.build_services(model=Model(_BrokenChat(), load_prompts(), name="broken"))
    return Harness(sample, mock, services=services)


@pytest.mark.parametrize("command, text", [("/brief", "Acme"), ("/ask", "what is the next step on the Acme deal?"),
                                           ("/draft", "Acme --persona CFO"), ("/campaign", "CFO --industry Retail")])
def test_llm_outage_still_delivers_and_says_so(broken_model_harness, command, text) -> None:
    harness = broken_model_harness
    response, path = harness.command(command, text)
    assert "Working on" in ack_text(response)
    call = result_of(harness, path)
    shown = visible_text(call.body)
    assert blocks_of(call), call.body
    assert "language model was unavailable" in shown
    raw = harness.posted_raw()
    assert "Traceback" not in raw and "SECRET" not in raw
    assert not SECRET_PATTERN.search(raw), raw


def test_llm_outage_with_the_real_openai_client_against_a_failing_endpoint(sample, mock) -> None:
    """The real openai client (through langchain-openai) against a local endpoint answering 500."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    seen: list[str] = []

    class Failing(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

        def do_POST(self) -> None:  # noqa: N802
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            seen.append(self.path)
            data = json.dumps({"error": {"message": "boom", "type": "server_error"}}).encode()
            self.send_response(500)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("retry-after-ms", "10")
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Failing)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        services = sample.build_services(openai_api_key="sk-test-DONOTLEAK", openai_timeout=1,
                                         openai_base_url=f"http://127.0.0.1:{server.server_address[1]}/v1")
        assert services.model is not None
        harness = Harness(sample, mock, services=services)
        started = time.perf_counter()
        response, path = harness.command("/ask", "what is the next step on the Acme deal?")
        assert "Working on" in ack_text(response)
        assert time.perf_counter() - started < 1.5  # the ack does not wait for the model
        call = result_of(harness, path)
    finally:
        server.shutdown()
        server.server_close()
    assert seen, "the model endpoint was never called"
    shown = visible_text(call.body)
    assert "language model was unavailable" in shown and "server error 500" in shown
    assert "[1]" in shown  # the grounded composer answered with citations
    raw = harness.posted_raw()
    assert "Traceback" not in raw and "DONOTLEAK" not in raw
    assert not SECRET_PATTERN.search(raw), raw


# ---------------------------------------------------------------- the local console runs the same commands

def test_console_runs_the_slash_commands_then_says_bye(sample) -> None:
    import io

    from bot.cli import main

    out = io.StringIO()
    status = main(["chat"], settings=sample.settings(slack_bot_token=None, slack_signing_secret=None),
                  services_factory=lambda _settings: sample.services,
                  stdin=io.StringIO("/brief Acme\n/leads brightwater\n/draft Acme --persona CFO\n"), stdout=out)
    text = out.getvalue()
    assert status == 0
    brief_at = text.index("ACCOUNT BRIEF — Acme Corporation")
    candidates_at = text.index("matches several accounts")
    draft_at = text.index("Subject:")
    assert brief_at < candidates_at < draft_at
    assert "Brightwater Foods" in text[candidates_at:draft_at] and "Brightwater Health" in text[candidates_at:draft_at]
    assert "Buying committee:" in text[brief_at:candidates_at]
    assert "To: " in text[candidates_at:] and "Checks (" in text[draft_at:]
    assert "Traceback" not in text
    assert text.rstrip().endswith("Bye.")


def test_feedback_on_a_long_non_english_question_keeps_what_it_was_about(harness) -> None:
    question = "Какой следующий шаг по сделке с Acme и кто входит в закупочный комитет? " * 6
    _, path = harness.command("/ask", question)
    vote = button(blocks_of(result_of(harness, path)), FEEDBACK_NOT_HELPFUL)
    voter = f"UVOTER{time.monotonic_ns()}"
    _, vote_path = harness.click(FEEDBACK_NOT_HELPFUL, vote["value"], user=voter, block_id="feedback")
    assert "Thanks" in result_of(harness, vote_path).body["text"]
    votes = [v for v in FeedbackStore(harness.services.store.client, "sales").all() if v["user"] == voter]
    assert len(votes) == 1 and votes[0]["helpful"] is False
    assert votes[0]["kind"] == "answer", votes[0]
    assert votes[0]["reference"].startswith("Какой следующий шаг"), votes[0]
