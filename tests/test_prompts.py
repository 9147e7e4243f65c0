"""Prompts are files in prompts/, each declaring its variables; a bad one fails loudly at load, naming the file."""

from __future__ import annotations

import re
import shutil
import string
from pathlib import Path

import pytest
import yaml

from bot.prompts import PROMPTS_DIR, REQUIRED, Prompt, PromptError, load_prompt, load_prompts

PROMPT_FILES = sorted(PROMPTS_DIR.glob("*.md"))


def declared_and_used(path: Path) -> tuple[set[str], set[str]]:
    """Read a prompt file independently of bot.prompts: front-matter variables, and {placeholders} in the text."""
    text = path.read_text(encoding="utf-8")
    match = re.match(r"\A---\s*\n(.*?)\n---\s*\n(.*)\Z", text, re.DOTALL)
    assert match, f"{path.name} has no front matter"
    declared = set((yaml.safe_load(match.group(1)) or {}).get("variables") or [])
    used = {field for _, field, _, _ in string.Formatter().parse(match.group(2)) if field}
    return declared, used


def write_prompt(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


GOOD = """\
---
variables: [question, sources]
---
## system
Answer from the sources only. Reply as JSON like {{"answer": "..."}}.
## user
Question: {question}
Sources:
{sources}
"""


# ---------------------------------------------------------------- the shipped prompts

def test_every_required_prompt_is_a_file_and_loads() -> None:
    prompts = load_prompts()
    assert set(REQUIRED) <= set(prompts)
    assert set(prompts) == {path.stem for path in PROMPT_FILES}
    for name, prompt in prompts.items():
        assert prompt.name == name
        assert prompt.system.strip() and prompt.user.strip(), name


@pytest.mark.parametrize("path", PROMPT_FILES, ids=[p.stem for p in PROMPT_FILES])
def test_each_prompt_declares_exactly_the_variables_it_uses(path: Path) -> None:
    declared, used = declared_and_used(path)
    assert declared == used, f"{path.name}: declared {sorted(declared)} but uses {sorted(used)}"
    prompt = load_prompt(path)
    assert set(prompt.variables) == declared

    # every declared value lands in the messages; nothing is left as a {placeholder}
    values = {name: f"<<{name.upper()}-VALUE>>" for name in prompt.variables}
    messages = prompt.messages(**values)
    assert [role for role, _ in messages] == ["system", "user"]
    rendered = "\n".join(text for _, text in messages)
    for name, value in values.items():
        assert value in rendered, f"{path.name}: {name} is not rendered"
    for name in prompt.variables:
        assert "{" + name + "}" not in rendered


def test_prompts_that_read_sources_tell_the_model_they_are_data() -> None:
    prompts = load_prompts()
    for name in ("answer", "brief_summary", "draft", "campaign", "condense"):
        assert re.search(r"data, not instructions", prompts[name].system), name
    assert "I don't know" in prompts["answer"].system


def test_braces_inside_a_value_are_kept_as_text() -> None:
    """A retrieved passage containing '{history}' or '{}' must not break or be re-formatted."""
    answer = load_prompts()["answer"]
    tricky = 'Template: {history} and {0} and {{"a": 1}}'
    [(_, _system), (_, user)] = answer.messages(question="q?", sources=tricky, history="(none)")
    assert tricky in user
    assert "Question: q?" in user


# ---------------------------------------------------------------- bad prompt files fail at load, naming the file

def test_a_good_temporary_prompt_loads(tmp_path: Path) -> None:
    prompt = load_prompt(write_prompt(tmp_path, "tiny.md", GOOD))
    assert prompt.variables == ("question", "sources")
    [(_, system), (_, user)] = prompt.messages(question="Who is the CFO?", sources="[1] Dana Reyes")
    assert '{"answer": "..."}' in system  # doubled braces are literal
    assert user.startswith("Question: Who is the CFO?")


def test_undeclared_placeholder_fails_naming_the_file(tmp_path: Path) -> None:
    path = write_prompt(tmp_path, "undeclared.md", GOOD.replace("Question: {question}", "Question: {question} for {account}"))
    with pytest.raises(PromptError) as caught:
        load_prompt(path)
    assert "undeclared.md" in str(caught.value)
    assert "account" in str(caught.value)


def test_declared_but_unused_variable_fails_naming_the_file(tmp_path: Path) -> None:
    path = write_prompt(tmp_path, "unused.md", GOOD.replace("[question, sources]", "[question, sources, persona]"))
    with pytest.raises(PromptError) as caught:
        load_prompt(path)
    assert "unused.md" in str(caught.value)
    assert "persona" in str(caught.value)


def test_prompt_without_front_matter_fails_naming_the_file(tmp_path: Path) -> None:
    path = write_prompt(tmp_path, "bare.md", GOOD.split("---\n", 2)[2])
    with pytest.raises(PromptError) as caught:
        load_prompt(path)
    assert "bare.md" in str(caught.value)
    assert "front matter" in str(caught.value)


def test_prompt_without_a_user_section_fails_naming_the_file(tmp_path: Path) -> None:
    text = "---\nvariables: [question]\n---\n## system\nAnswer {question}.\n"
    with pytest.raises(PromptError) as caught:
        load_prompt(write_prompt(tmp_path, "halfway.md", text))
    assert "halfway.md" in str(caught.value)


def test_load_prompts_fails_at_start_on_one_bad_file_naming_it(tmp_path: Path) -> None:
    folder = tmp_path / "prompts"
    shutil.copytree(PROMPTS_DIR, folder)
    assert set(load_prompts(folder)) == {p.stem for p in PROMPT_FILES}  # the copy is good

    draft = folder / "draft.md"
    draft.write_text(draft.read_text(encoding="utf-8").replace("Recipient: {recipient}", "Recipient: {recipent}"),
                     encoding="utf-8")
    with pytest.raises(PromptError) as caught:
        load_prompts(folder)
    assert "draft.md" in str(caught.value)
    assert "recipent" in str(caught.value)


def test_load_prompts_fails_when_a_required_prompt_is_missing(tmp_path: Path) -> None:
    folder = tmp_path / "prompts"
    shutil.copytree(PROMPTS_DIR, folder)
    (folder / "campaign.md").unlink()
    with pytest.raises(PromptError, match="campaign"):
        load_prompts(folder)


# ---------------------------------------------------------------- Prompt.messages checks its values

def test_messages_with_a_missing_value_fails() -> None:
    answer = load_prompts()["answer"]
    with pytest.raises(PromptError) as caught:
        answer.messages(question="What is the next step?", sources="[1] ...")
    assert "answer" in str(caught.value) and "history" in str(caught.value)


def test_messages_with_an_extra_value_fails() -> None:
    condense = load_prompts()["condense"]
    with pytest.raises(PromptError) as caught:
        condense.messages(question="and their CFO?", history="- Acme renewal?", account="Acme")
    assert "condense" in str(caught.value) and "account" in str(caught.value)


def test_messages_with_exactly_the_declared_values_renders_both_roles() -> None:
    prompt = Prompt("p", ("a", "b"), "System {a}", "User {b}")
    assert prompt.messages(a="1", b="2") == [("system", "System 1"), ("user", "User 2")]
    with pytest.raises(PromptError):
        prompt.messages(a="1")
    with pytest.raises(PromptError):
        prompt.messages(a="1", b="2", c="3")
