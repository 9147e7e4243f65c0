"""Resolving the account a person typed: case, legal suffixes, typos, accents, initials, ambiguity."""

from __future__ import annotations

import pytest

from bot.knowledge.accounts import Account, AccountResolver

ACCOUNTS = [
    Account("001A", "Acme Corporation", "Manufacturing"),
    Account("001B", "Brightwater Foods", "Food & Beverage"),
    Account("001C", "Brightwater Health", "Healthcare"),
    Account("001D", "Groupe Laurentín SA", "Retail", "France"),
    Account("001E", "Northwind Logistics Partners", "Logistics"),
    Account("001F", "Globex Industries", "Energy"),
    Account("001G", "Initech", "Software"),
    Account("001H", "Hooli GmbH", "Software", "Germany"),
]


@pytest.fixture
def resolver() -> AccountResolver:
    return AccountResolver(ACCOUNTS)


@pytest.mark.parametrize("typed", ["acme", "ACME", "ACME Corp.", "Acme Corp", "Acme Corporation", "acme corporation",
                                   "  Acme Inc  ", "Acmee", "Acme corp"])
def test_names_for_acme(resolver: AccountResolver, typed: str) -> None:
    resolution = resolver.resolve(typed)
    assert resolution.account is not None, resolution.describe_miss()
    assert resolution.account.name == "Acme Corporation"
    assert not resolution.ambiguous


@pytest.mark.parametrize("typed", ["Groupe Laurentin", "groupe laurentín sa", "Laurentin", "LAURENTIN S.A.",
                                   "Groupe Laurentín"])
def test_accents_and_legal_words(resolver: AccountResolver, typed: str) -> None:
    resolution = resolver.resolve(typed)
    assert resolution.account is not None and resolution.account.id == "001D"


def test_accented_name_typed_without_accent_when_stored_without_accent() -> None:
    resolver = AccountResolver([Account("1", "Groupe Laurentin"), Account("2", "Acme Corporation")])
    assert resolver.resolve("Groupe Laurentín SA").account == Account("1", "Groupe Laurentin")


@pytest.mark.parametrize("typed, expected", [("NLP", "Northwind Logistics Partners"), ("nlp", "Northwind Logistics Partners"),
                                             ("Northwind", "Northwind Logistics Partners"),
                                             ("northwind logistics", "Northwind Logistics Partners"),
                                             ("Globex", "Globex Industries"), ("hooli", "Hooli GmbH")])
def test_initials_and_leading_words(resolver: AccountResolver, typed: str, expected: str) -> None:
    resolution = resolver.resolve(typed)
    assert resolution.account is not None, resolution.describe_miss()
    assert resolution.account.name == expected


def test_ambiguous_name_lists_the_candidates(resolver: AccountResolver) -> None:
    resolution = resolver.resolve("brightwater")
    assert resolution.account is None
    assert resolution.ambiguous
    assert sorted(a.name for a in resolution.candidates) == ["Brightwater Foods", "Brightwater Health"]
    message = resolution.describe_miss()
    assert "Brightwater Foods" in message and "Brightwater Health" in message


def test_ambiguous_name_with_legal_suffix(resolver: AccountResolver) -> None:
    resolution = resolver.resolve("Brightwater Inc")
    assert resolution.ambiguous
    assert {a.id for a in resolution.candidates} == {"001B", "001C"}


def test_the_rest_of_the_name_settles_the_ambiguity(resolver: AccountResolver) -> None:
    assert resolver.resolve("brightwater health").account.id == "001C"
    assert resolver.resolve("Brightwater foods").account.id == "001B"


def test_unknown_name_gives_closest_names_and_is_not_ambiguous(resolver: AccountResolver) -> None:
    resolution = resolver.resolve("Globox Energy")
    assert resolution.account is None
    assert not resolution.ambiguous
    names = [a.name for a in resolution.candidates]
    assert names and names[0] == "Globex Industries"
    assert len(names) <= 3
    message = resolution.describe_miss()
    assert "Globox Energy" in message and "Globex Industries" in message
    assert "several" not in message


def test_typo_in_the_legal_suffix_at_least_suggests_the_account(resolver: AccountResolver) -> None:
    resolution = resolver.resolve("Acme Corporatoin")
    chosen = resolution.account or resolution.candidates[0]
    assert chosen.name == "Acme Corporation"


def test_closest_names_put_the_nearest_full_name_first(resolver: AccountResolver) -> None:
    """Two typos ("Acne Corporaton") are still closest to "Acme Corporation", not to "Groupe Laurentín SA"."""
    resolution = resolver.resolve("Acne Corporaton")
    assert resolution.account is None or resolution.account.name == "Acme Corporation"
    if resolution.account is None:
        assert resolution.candidates[0].name == "Acme Corporation", [a.name for a in resolution.candidates]


def test_unrelated_name_still_suggests_something(resolver: AccountResolver) -> None:
    resolution = resolver.resolve("Zyxwvut Telecom")
    assert resolution.account is None and not resolution.ambiguous
    assert resolution.candidates  # the closest names, even if far
    assert "Closest names" in resolution.describe_miss()


def test_no_accounts_at_all() -> None:
    resolution = AccountResolver([]).resolve("Acme")
    assert resolution.account is None and not resolution.ambiguous and resolution.candidates == ()
    assert "no accounts" in resolution.describe_miss()


def test_lookup_by_exact_id(resolver: AccountResolver) -> None:
    assert resolver.resolve("001C").account.name == "Brightwater Health"
    assert resolver.get("001D").name == "Groupe Laurentín SA"
    assert resolver.get("nope") is None


def test_mentioned_in_free_text(resolver: AccountResolver) -> None:
    def names(text: str) -> list[str]:
        return sorted(a.name for a in resolver.mentioned_in(text))

    assert names("What's the next step on the Acme deal?") == ["Acme Corporation"]
    assert names("who is the CFO at ACME Corp.?") == ["Acme Corporation"]
    assert names("Any news from Groupe Laurentín?") == ["Groupe Laurentín SA"]
    assert names("brief me on northwind logistics partners") == ["Northwind Logistics Partners"]
    assert names("compare Initech and Hooli") == ["Hooli GmbH", "Initech"]
    assert names("how is brightwater doing?") == ["Brightwater Foods", "Brightwater Health"]
    assert names("best case study for a CFO in manufacturing?") == []
    assert names("acmeville plant tour") == []  # whole words only
