"""Job titles as they arrive in real CRM and marketing exports: level, function and budget authority.

The cases are written from the world (LinkedIn-style titles in English, French, German and Spanish),
not copied from the evaluation set, so they check that the rules generalise. The traps a sales leader
cares about each have a case of their own: assistants to executives are junior, an assistant vice
president is a VP, "Head of" is a director, a chief of staff has no budget, students and interns are
junior whatever their language, a second C-level role wins, and a product owner owns nothing.
"""

from __future__ import annotations

import pytest

from bot.knowledge.titles import FUNCTIONS, LEVELS, TitleReader, classify_title

# (title, level, function or None when the function is genuinely ambiguous, budget authority)
ENGLISH = [
    # C-level, by abbreviation and in full
    ("Fractional CFO", "executive", "finance", True),
    ("CEO, North America", "executive", "general_management", True),
    ("Interim COO", "executive", "operations", True),
    ("Chief Supply Chain Officer", "executive", "supply_chain", True),
    ("Chief Accounting Officer", "executive", "finance", True),
    ("Chief Information Security Officer", "executive", "security", True),
    ("Chief Executive", "executive", "general_management", True),
    ("President, Europe", "executive", "general_management", True),
    ("Co-owner", "executive", "general_management", True),
    # multi-role titles: the C-level role wins
    ("SVP & CFO", "executive", "finance", True),
    ("Co-Founder & CEO", "executive", "general_management", True),
    ("SVP and Chief Financial Officer", "executive", "finance", True),
    ("Co-founder and CTO", "executive", "it", True),
    ("Managing Director & Partner", "executive", "general_management", True),
    # vice presidents, including the assistant-VP trap
    ("SVP, Global Supply Chain", "vp", "supply_chain", True),
    ("EVP, Finance and Administration", "vp", "finance", True),
    ("AVP - Procurement Operations", "vp", "procurement", True),
    ("Assistant Vice President", "vp", None, True),
    ("Assistant Vice President, IT Infrastructure", "vp", "it", True),
    ("Associate Vice President – Supply Chain", "vp", "supply_chain", True),
    ("Sr. VP Sales", "vp", "sales", True),
    ("Vice President of Talent", "vp", "hr", True),
    # directors and "Head of ..."
    ("Head of Finance Transformation", "director", "finance", True),
    ("Global Head of Procurement", "director", "procurement", True),
    ("Head of IT Operations", "director", "it", True),
    ("Head of People", "director", "hr", False),
    ("Dir. Supply Chain Planning", "director", "supply_chain", True),
    ("Sr. Director, FP&A", "director", "finance", True),
    ("Associate Director, Procurement", "director", "procurement", True),
    # chief of staff: senior access, no budget of their own
    ("Chief of Staff", "director", None, False),
    ("Chief of Staff to the COO", "director", None, False),
    # managers and leads
    ("Sr. Mgr., Accounts Payable", "manager", "finance", False),
    ("Mgr. Logistics", "manager", "supply_chain", False),
    ("Category Manager, Packaging", "manager", "procurement", False),
    ("Lead Buyer", "manager", "procurement", False),
    ("Plant Manager", "manager", "operations", False),
    # individual contributors, including the "executive" and "owner" words that are not
    ("Sr. Financial Analyst", "individual", "finance", False),
    ("Purchasing Agent", "individual", "procurement", False),
    ("Accounts Payable Clerk", "individual", "finance", False),
    ("Demand Planner", "individual", "supply_chain", False),
    ("Account Executive", "individual", "sales", False),
    ("Product Owner", "individual", None, False),
    ("Senior Product Owner, ERP", "individual", "it", False),
    ("Business Process Owner, Procure-to-Pay", "individual", None, False),
    ("Finance Business Partner", "individual", "finance", False),
    ("HR Business Partner", "individual", "hr", False),
    ("Channel Partner Manager", "manager", None, False),
    # juniors: assistants to executives, interns, students
    ("Assistant to the CFO", "junior", "finance", False),
    ("Executive Assistant", "junior", None, False),
    ("Executive Assistant to the President", "junior", None, False),
    ("Administrative Assistant to the VP Operations", "junior", None, False),
    ("Working Student", "junior", None, False),
    ("Summer Intern - Operations", "junior", "operations", False),
    ("Jr. Procurement Analyst", "junior", "procurement", False),
    ("Trainee Accountant", "junior", "finance", False),
    ("Apprentice Buyer", "junior", "procurement", False),
    ("Intern, Office of the CFO", "junior", "finance", False),
]

FRENCH = [
    ("DAF Groupe", "executive", "finance", True),
    ("PDG et fondateur", "executive", "general_management", True),
    ("DG France", "executive", "general_management", True),
    ("Directrice générale", "executive", "general_management", True),
    ("Directeur financier groupe", "executive", "finance", True),
    ("Président du directoire", "executive", "general_management", True),
    ("Vice-président Finance", "vp", "finance", True),
    ("Directrice des achats indirects", "director", "procurement", True),
    ("Directrice de la supply chain", "director", "supply_chain", True),
    ("Directeur d'usine", "director", "operations", True),
    ("Responsable comptabilité fournisseurs", "manager", "finance", False),
    ("Responsable des ressources humaines", "manager", "hr", False),
    ("Chef comptable", "manager", "finance", False),
    ("Acheteur projets", "individual", "procurement", False),
    ("Gestionnaire des stocks", "individual", "supply_chain", False),
    ("Stagiaire", "junior", None, False),
    ("Stagiaire en contrôle de gestion", "junior", "finance", False),
    ("Alternante comptable", "junior", "finance", False),
    ("Apprentie acheteuse", "junior", "procurement", False),
    ("Assistante du PDG", "junior", None, False),
    ("Assistante de direction générale", "junior", None, False),
]

GERMAN = [
    ("GF", "executive", "general_management", True),
    ("Kfm. Geschäftsführer", "executive", "general_management", True),
    ("Vorstand Finanzen", "executive", "finance", True),
    ("Mitglied der Geschäftsleitung", "executive", "general_management", True),
    ("Leiterin Beschaffung", "director", "procurement", True),
    ("Bereichsleiter Logistik", "director", "supply_chain", True),
    ("Bereichsleitung Finanzen", "director", "finance", True),
    ("Abteilungsleiterin Rechnungswesen", "director", "finance", True),
    ("Leiter Einkauf (m/w/d)", "director", "procurement", True),
    ("Senior Manager Einkauf", "manager", "procurement", False),
    ("Finanzbuchhalterin", "individual", "finance", False),
    ("Einkäufer (m/w/d)", "individual", "procurement", False),
    ("Disponent", "individual", "supply_chain", False),
    ("Werkstudent", "junior", None, False),
    ("Werkstudent Supply Chain", "junior", "supply_chain", False),
    ("Praktikant Controlling", "junior", "finance", False),
    ("Praktikum Einkauf", "junior", "procurement", False),
    ("Auszubildender Kaufmann für Büromanagement", "junior", None, False),
    ("Duale Studentin BWL", "junior", None, False),
    ("Assistentin der Geschäftsleitung", "junior", None, False),
]

SPANISH = [
    ("Director Financiero Corporativo", "executive", "finance", True),
    ("CEO y Fundadora", "executive", "general_management", True),
    ("Presidente Ejecutivo", "executive", "general_management", True),
    ("Dueña", "executive", "general_management", True),
    ("Vicepresidenta de Finanzas", "vp", "finance", True),
    ("Directora de Compras", "director", "procurement", True),
    ("Jefa de logística", "director", "supply_chain", True),
    ("Jefe de Administración y Finanzas", "director", "finance", True),
    ("Gerente de Planta", "manager", "operations", False),
    ("Responsable de Tesorería", "manager", "finance", False),
    ("Jefe de Turno", "manager", None, False),
    ("Analista de Compras Senior", "individual", "procurement", False),
    ("Analista de inventarios", "individual", "supply_chain", False),
    ("Contadora de costos", "individual", "finance", False),
    ("Técnico de Recursos Humanos", "individual", "hr", False),
    ("Becario", "junior", None, False),
    ("Becaria de Finanzas", "junior", "finance", False),
    ("Practicante de Finanzas", "junior", "finance", False),
    ("Pasante de Compras", "junior", "procurement", False),
    ("Estudiante en prácticas", "junior", None, False),
    ("Asistente del Director General", "junior", None, False),
]


def _params(cases: list[tuple[str, str, str | None, bool]], language: str) -> list:
    return [pytest.param(title, level, function, budget, id=f"{language}:{title}")
            for title, level, function, budget in cases]


ALL_CASES = ENGLISH + FRENCH + GERMAN + SPANISH


@pytest.mark.parametrize(
    ("title", "level", "function", "budget"),
    _params(ENGLISH, "en") + _params(FRENCH, "fr") + _params(GERMAN, "de") + _params(SPANISH, "es"),
)
def test_title_level_function_and_budget(title: str, level: str, function: str | None, budget: bool) -> None:
    info = classify_title(title)
    got = (info.level, info.function if function else None, info.budget_authority)
    assert got == (level, function, budget), f"{title!r} read as {info.level}/{info.function} ({info.why})"


@pytest.mark.parametrize("title", [
    "Assistant Controller",      # runs the close under the controller: a manager, not an assistant
    "Assistant Plant Manager",   # second in command of a plant
])
def test_assistant_in_a_management_title_is_a_manager_not_a_junior(title: str) -> None:
    info = classify_title(title)
    assert info.level == "manager", f"{title!r} read as {info.level} ({info.why})"


@pytest.mark.parametrize("title", [
    "Secrétaire générale",   # a member of the French executive committee, not a secretary
    "Secretario General",
    "General Counsel",       # the company's chief legal officer
])
def test_senior_officer_titles_are_not_read_as_junior_or_unknown(title: str) -> None:
    info = classify_title(title)
    assert info.level in ("executive", "director"), f"{title!r} read as {info.level} ({info.why})"


def test_the_cases_cover_every_level_but_unknown_and_every_language() -> None:
    levels = {level for _, level, _, _ in ALL_CASES}
    assert levels == set(LEVELS) - {"unknown"}
    assert min(len(ENGLISH), len(FRENCH), len(GERMAN), len(SPANISH)) >= 15


@pytest.mark.parametrize("title", [title for title, *_ in ALL_CASES] + ["", "n/a", "Freelance", "Head of"])
def test_every_result_explains_itself_with_known_vocabulary(title: str) -> None:
    info = classify_title(title)
    assert info.why and info.why.strip()
    assert info.level in LEVELS
    assert info.function in FUNCTIONS
    assert isinstance(info.budget_authority, bool)


@pytest.mark.parametrize("title", [None, "", "   ", "n/a", "N/A", "NA", "-", "none"])
def test_missing_title_is_unknown_without_budget(title: str | None) -> None:
    info = classify_title(title)
    assert info.level == "unknown"
    assert info.budget_authority is False
    assert info.why


def test_classification_is_deterministic_and_does_not_depend_on_the_cache() -> None:
    titles = [title for title, *_ in ALL_CASES]
    first = [classify_title(t) for t in titles]
    fresh = TitleReader()  # its own, empty cache
    second = [fresh.read(t) for t in reversed(titles)]
    assert first == list(reversed(second))
    fresh.read.cache_clear()
    uncached = [fresh.read.__wrapped__(t) for t in titles]
    assert first == uncached


# ---------------------------------------------------------------- a seller's own vocabulary

@pytest.mark.parametrize("title", [title for title, *_ in ALL_CASES])
def test_classify_title_is_the_default_reader(title: str) -> None:
    assert classify_title(title) == TitleReader().read(title)


def test_a_sellers_function_words_are_read_before_the_built_in_vocabulary() -> None:
    plain = TitleReader()
    payroll = TitleReader(functions={"payroll": ["payroll", "paie", "Lohnbuchhaltung", "nómina"]},
                          buying_functions=["payroll", "finance"])
    for title in ("Head of Payroll", "Responsable paie", "Leiterin Lohnbuchhaltung", "Jefe de nómina"):
        info = payroll.read(title)
        assert info.function == "payroll", f"{title!r} read as {info.function}"
        assert plain.read(title).function != "payroll"
    # the level still comes from the built-in rules, and other titles read as before
    assert payroll.read("Head of Payroll").level == "director"
    assert payroll.read("Payroll Intern").level == "junior"
    assert payroll.read("Chief Financial Officer") == plain.read("Chief Financial Officer")


def test_buying_functions_decide_which_directors_hold_budget() -> None:
    generic = TitleReader()
    hr_buys = TitleReader(buying_functions=["hr"])
    assert generic.read("HR Director").budget_authority is False
    assert hr_buys.read("HR Director").budget_authority is True
    assert hr_buys.read("Director of Procurement").budget_authority is False
    # executives and VPs hold budget whatever their function; juniors never do
    assert hr_buys.read("Chief Marketing Officer").budget_authority is True
    assert hr_buys.read("HR Intern").budget_authority is False


def test_the_reader_fingerprint_changes_with_the_vocabulary() -> None:
    """Ingest re-embeds documents when the vocabulary that reads their titles changes."""
    generic = TitleReader()
    assert generic.fingerprint == TitleReader().fingerprint
    assert TitleReader(functions={"payroll": ["payroll"]}).fingerprint != generic.fingerprint
    assert TitleReader(buying_functions=["hr"]).fingerprint != generic.fingerprint


@pytest.mark.parametrize(("messy", "clean"), [
    ("  Head of Procurement  ", "Head of Procurement"),
    ("HEAD OF PROCUREMENT", "Head of Procurement"),
    ("assistant to the cfo", "Assistant to the CFO"),
    ("DIRECTRICE FINANCIÈRE", "Directrice financière"),
    ("Geschaeftsfuehrerin", "Geschäftsführerin"),
    ("Jefe de Compras", "jefe de compras"),
])
def test_case_spacing_and_accents_do_not_change_the_reading(messy: str, clean: str) -> None:
    a, b = classify_title(messy), classify_title(clean)
    assert (a.level, a.function, a.budget_authority) == (b.level, b.function, b.budget_authority)


def test_senior_flag_follows_the_level() -> None:
    assert classify_title("VP Procurement").senior
    assert classify_title("Head of Finance").senior
    assert not classify_title("Procurement Manager").senior
    assert not classify_title("Procurement Intern").senior
    assert classify_title("CFO").seniority > classify_title("Finance Manager").seniority > \
        classify_title("Finance Intern").seniority
