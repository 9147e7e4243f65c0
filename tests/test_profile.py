"""The seller profile (knowledge/seller.yaml) and the composer's wording files: loading, validation, fallbacks."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from bot.profile import ProfileError, load_profile
from bot.wording import WordingError, article, load_wording, plural_role


def write_profile(folder: Path, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "seller.yaml"
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return folder


# ---------------------------------------------------------------- a bad file fails with its line and key

@pytest.mark.parametrize("text, where, says", [
    ("""
     seller: Acme Payroll
     personas:
       - name: CHRO
         role: decision_maker
     """, ":4", "personas.0.role"),
    ("""
     seller: Acme Payroll
     engagement:
       window_days: -5
     """, ":3", "engagement.window_days"),
    ("""
     seller: Acme Payroll
     colour: blue
     """, ":2", "unknown key"),
    ("""
     buying_functions: [finance, wellbeing]
     """, "", "'wellbeing' is not a known function"),
    ("""
     seller: [unclosed
     """, ":2", "not valid YAML"),
    ("""
     functions:
       Supply Chain: [logistics]
     """, ":2", "lower-case identifier"),
])
def test_a_bad_profile_fails_at_start_naming_line_and_key(tmp_path: Path, text: str, where: str, says: str) -> None:
    folder = write_profile(tmp_path / "knowledge", text)

    with pytest.raises(ProfileError) as raised:
        load_profile(folder)

    message = str(raised.value)
    assert message.startswith(f"{folder / 'seller.yaml'}{where}"), message
    assert says in message
    assert "\n" not in message


def test_functions_the_team_declares_can_be_buying_functions(tmp_path: Path) -> None:
    folder = write_profile(tmp_path / "knowledge", """
        functions:
          payroll: [payroll, paie, Lohnbuchhaltung, nómina]
        buying_functions: [payroll, finance]
        """)
    profile = load_profile(folder)

    head = profile.titles.read("Leiterin Lohnbuchhaltung")
    assert (head.level, head.function, head.budget_authority) == ("director", "payroll", True)
    # a director outside the team's buying functions holds no budget for this seller
    assert profile.titles.read("Director of Operations").budget_authority is False


# ---------------------------------------------------------------- defaults and what the content says

def test_no_profile_means_generic_defaults_that_name_no_seller(tmp_path: Path) -> None:
    profile = load_profile(tmp_path / "empty")

    assert profile.source == "defaults"
    assert profile.seller == "" and profile.products == () and profile.industries == ()
    assert [p.name for p in profile.economic_buyers()] == ["CEO", "CFO"]
    assert profile.engagement.window_days == 90
    assert profile.stage_state("Closed Won") == "won" and profile.stage_state("Negociación") == "open"


def test_without_a_profile_the_content_names_the_personas_industries_and_modules(tmp_path: Path) -> None:
    content = tmp_path / "knowledge" / "content"
    content.mkdir(parents=True)
    (content / "persona-chro.md").write_text(textwrap.dedent("""\
        ---
        title: Persona messaging, the CHRO
        type: Persona
        personas: [CHRO]
        industries: [Hospitality, Healthcare]
        ---
        # Who they are
        """), encoding="utf-8")
    (content / "product-overview.html").write_text(
        "<html><body><h1>Overview</h1><h2>Modules</h2><h3>RotaPlan: shift scheduling</h3><p>Text.</p>"
        "<h3>PayCheck</h3><p>Text.</p><h2>Security</h2><h3>SSO</h3></body></html>", encoding="utf-8")

    profile = load_profile(tmp_path / "knowledge")

    chro = profile.persona_named("chro")
    assert chro is not None and chro.functions == ("hr",) and set(chro.industries) == {"Hospitality", "Healthcare"}
    assert profile.industries == ("Healthcare", "Hospitality")
    assert profile.products == ("RotaPlan", "PayCheck")  # the module names, not their descriptions or "SSO"


def test_the_profiles_own_keys_win_over_the_content(tmp_path: Path) -> None:
    folder = write_profile(tmp_path / "knowledge", """
        personas:
          - name: CFO
            role: economic_buyer
            functions: [finance]
            outcomes: [cash]
        """)
    (folder / "content").mkdir()
    (folder / "content" / "persona-cio.md").write_text("---\ntype: persona\npersonas: [CIO]\n---\n", encoding="utf-8")

    assert [p.name for p in load_profile(folder).personas] == ["CFO"]


def test_team_trigger_kinds_come_first_and_extend_the_generic_phrases(tmp_path: Path) -> None:
    folder = write_profile(tmp_path / "knowledge", """
        triggers:
          pay_transparency:
            label: the pay-transparency deadline
            phrases: [Entgelttransparenz, pay transparency]
          leadership_change: [nouvelle DRH]
        """)
    profile = load_profile(folder)
    kinds = [kind for kind, _ in profile.trigger_patterns]

    assert kinds[:2] == ["pay_transparency", "leadership_change"]
    assert profile.trigger_label("pay_transparency") == "the pay-transparency deadline"
    patterns = dict(profile.trigger_patterns)
    assert patterns["leadership_change"].search("nouvelle drh nommee")  # the team's phrase (folded text)
    assert patterns["leadership_change"].search("a new cfo joined")  # and the generic ones still
    assert patterns["pay_transparency"].search("entgelttransparenz ab 2026")


def test_both_sample_profiles_load_and_name_their_own_seller() -> None:
    repo = Path(__file__).resolve().parent.parent
    sellers = {load_profile(repo / folder).seller for folder in ("knowledge", "examples/hr-software")}
    assert len(sellers) == 2 and "" not in sellers


# ---------------------------------------------------------------- wording files

def test_a_template_using_an_undeclared_variable_fails_at_load(tmp_path: Path) -> None:
    (tmp_path / "draft.yaml").write_text("variables: [company]\ntemplates:\n  subject: '{company}: {headline}'\n",
                                         encoding="utf-8")
    with pytest.raises(WordingError, match="'subject' uses undeclared \\['headline'\\]"):
        load_wording("draft", tmp_path)


def test_saying_a_template_without_its_values_fails(tmp_path: Path) -> None:
    (tmp_path / "brief.yaml").write_text("variables: [name]\ntemplates:\n  head: 'Account {name}.'\n", encoding="utf-8")
    wording = load_wording("brief", tmp_path)

    assert wording.say("head", name="Kestrel") == "Account Kestrel."
    with pytest.raises(WordingError, match="no value for \\['name'\\]"):
        wording.say("head")


@pytest.mark.parametrize("role, plural", [
    ("CFO", "CFOs"), ("VP Operations", "VPs of Operations"), ("Head of Procurement", "Heads of Procurement"),
    ("Chief Financial Officer", "Chief Financial Officers"), ("IT Director", "IT Directors"),
    ("Directeur financier", "people in the Directeur financier role"),
])
def test_roles_take_real_plurals(role: str, plural: str) -> None:
    assert plural_role(role) == plural


@pytest.mark.parametrize("phrase, expected", [
    ("HR director", "an"), ("CFO", "a"), ("SVP", "an"), ("operations leader", "an"), ("VP", "a"),
    ("university", "a"), ("hour", "an"), ("FP&A lead", "an"),
])
def test_articles_follow_the_sound(phrase: str, expected: str) -> None:
    assert article(phrase) == expected


def test_the_assistant_pane_suggests_prompts_about_this_sellers_personas() -> None:
    from bot.listeners.assistant import suggested_prompts
    from bot.services.context import default_context

    repo = Path(__file__).resolve().parent.parent
    hr = suggested_prompts(default_context(repo / "examples" / "hr-software"))
    generic = suggested_prompts(default_context(None))

    assert hr[0]["title"] == "Proof for a CHRO" and "CHROs" in hr[0]["message"]
    assert len(hr) == 4 and not [p for p in hr if "working capital" in p["message"]]
    assert generic[0]["title"] == "Proof for a CEO"


def test_the_command_line_stops_with_one_line_naming_the_bad_key(tmp_path: Path, capsys) -> None:
    from bot.cli import main
    from bot.settings import load_settings

    folder = write_profile(tmp_path / "knowledge", """
        seller: Acme Payroll
        engagement:
          window_days: many
        """)
    settings = load_settings(env_file=None, knowledge_path=folder, chroma_path=tmp_path / "chroma")

    status = main(["brief", "--json", "Anything"], settings=settings)

    captured = capsys.readouterr()
    assert status == 2
    assert "Traceback" not in captured.err
    assert f"{folder / 'seller.yaml'}:3: engagement.window_days" in captured.err
    assert '"error"' in captured.out and "engagement.window_days" in captured.out
