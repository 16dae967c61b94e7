"""The SOQL engine's grammar and names, operators, precedence and nulls, on the tiny org."""

from __future__ import annotations

import pytest

from connectors.sandbox.salesforce.soql.engine import SoqlQuery, parse_soql
from tests.sandbox.salesforce.soql_org import A1, A2, DESCRIBE, contacts, error, record_id, run

# --- parsing and names ------------------------------------------------------------------------


def test_parses_fields_with_canonical_names_and_case_insensitive_keywords() -> None:
    q = parse_soql("select id, EMAIL, account.industry, Account.Owner.name from CONTACT", DESCRIBE)
    assert isinstance(q, SoqlQuery)
    assert q.object_name == "Contact"
    assert q.fields == ["Id", "Email", "Account.Industry", "Account.Owner.Name"]
    assert not q.is_count


def test_object_name_may_prefix_a_field_path() -> None:
    q = parse_soql("SELECT Contact.FirstName, Contact.Account.Name FROM Contact", DESCRIBE)
    assert q.fields == ["FirstName", "Account.Name"]


def test_keywords_need_word_boundaries_and_non_reserved_words_stay_names() -> None:
    # NOT must not swallow the start of a field such as "NotAField"; ORDER and OFFSET are not
    # reserved, so they may name an object or a field.
    q = parse_soql("SELECT Id FROM Contact WHERE NOT LastName = 'x' ORDER BY Id", DESCRIBE)
    assert q.order_by[0].field.name == "Id"
    assert (
        "No such column 'NotAField'" in error("SELECT Id FROM Contact WHERE NotAField = 1").message
    )
    assert "sObject type 'Order'" in error("SELECT Id FROM Order ORDER BY Id").message
    assert "No such column 'Offset'" in error("SELECT Offset FROM Contact OFFSET 1").message
    assert "No such column 'Lastname_'" in error("SELECT Lastname_ FROM Contact").message


def test_custom_relationship_and_grandparent_paths() -> None:
    assert run("SELECT Id FROM Contact WHERE Referrer__r.FirstName = 'Ada'") == ["C3"]
    q = parse_soql("SELECT referrer__R.EMAIL, account.parent.name FROM contact", DESCRIBE)
    assert q.fields == ["Referrer__r.Email", "Account.Parent.Name"]
    assert contacts("Account.Owner.Name = 'Olivia Owner'") == {"C1", "C4", "C5"}
    assert run("SELECT Id FROM Account WHERE Parent.Name = 'acme'") == [A2]


# --- operators ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ("Score__c = 75", {"C2", "C4"}),
        ("Score__c != 75", {"C1", "C3", "C5", "C6"}),  # != keeps nulls (C3)
        ("Score__c <> 75", {"C1", "C3", "C5", "C6"}),
        ("Score__c < 75", {"C5"}),
        ("Score__c <= 75", {"C2", "C4", "C5"}),
        ("Score__c > 90.5", {"C6"}),
        ("Score__c >= 90.5", {"C1", "C6"}),
        ("Score__c > -1.5", {"C1", "C2", "C4", "C5", "C6"}),
        ("Score__c = 75.0", {"C2", "C4"}),
        ("Score__c IN (10, 100)", {"C5", "C6"}),
        ("Score__c NOT IN (10, 100)", {"C1", "C2", "C3", "C4"}),  # NOT IN keeps nulls
        ("LastName = 'LOVELACE'", {"C1"}),
        ("LastName != 'lovelace'", {"C2", "C3", "C4", "C5", "C6"}),
        ("LastName IN ('hopper', 'TURING')", {"C2", "C3"}),
        ("LastName NOT IN ('hopper', 'TURING')", {"C1", "C4", "C5", "C6"}),
        ("LastName < 'H'", {"C6"}),
        ("LastName >= 'johnson'", {"C1", "C4", "C5", "C3"}),
        ("Email LIKE '%@ACME.com'", {"C1"}),
        ("Email LIKE 'grace@%'", {"C2"}),
        ("LastName LIKE '_opper'", {"C2"}),
        ("LastName LIKE 'T%g'", {"C3"}),
        ("LastName LIKE 'tur'", set()),
        ("Email LIKE '%'", {"C1", "C2", "C4", "C6"}),  # null and '' never match
        ("Description LIKE 'line%two'", {"C3"}),  # % spans newlines
        ("Account.Industry = 'technology'", {"C1", "C4", "C5"}),
        ("Lifecycle_Stage__c IN ('customer')", {"C1", "C4", "C6"}),
    ],
)
def test_comparison_operators(where: str, expected: set[str]) -> None:
    assert contacts(where) == expected


def test_string_escapes_in_literals() -> None:
    assert contacts("LastName = 'O\\'Brien'") == {"C5"}
    assert contacts("Description = 'it\\'s a \\\\ backslash'") == {"C4"}
    assert contacts("Description = 'line one\\nline two'") == {"C3"}
    assert contacts("Description = 'line one\\Nline two'") == {"C3"}
    assert contacts("FirstName = '\\u0041da'") == {"C1"}


def test_like_escapes_match_wildcard_characters_literally() -> None:
    assert contacts("Description LIKE '50\\% off\\_sale'") == {"C1"}
    assert contacts("Description LIKE '50\\%%'") == {"C1"}
    assert contacts("Description LIKE '50\\_%'") == set()
    assert contacts("Description LIKE '%\\\\%'") == {"C4"}
    assert contacts("LastName LIKE 'O\\'%'") == {"C5"}


def test_like_escapes_are_an_error_outside_like() -> None:
    err = error("SELECT Id FROM Contact WHERE Description = '50\\% off'")
    assert err.error_code == "MALFORMED_QUERY"
    assert "Illegal character sequence '\\%' in string literal." in err.message


def test_unknown_escape_sequence_is_malformed() -> None:
    err = error("SELECT Id FROM Contact WHERE LastName = 'a\\qb'")
    assert err.error_code == "MALFORMED_QUERY"
    assert err.message.endswith(
        "Invalid string literal 'a\\qb'. Illegal character sequence '\\q' in string literal."
    )


def test_booleans() -> None:
    assert contacts("HasOptedOutOfEmail = true") == {"C2"}
    assert contacts("HasOptedOutOfEmail = FALSE") == {"C1", "C3", "C4", "C5", "C6"}
    assert run("SELECT Id FROM Lead WHERE IsConverted = false") == [record_id("00Q", 1)]


def test_ids_match_in_15_and_18_character_form() -> None:
    c2 = record_id("003", 2)
    assert contacts(f"Id = '{c2}'") == {"C2"}
    assert contacts(f"Id = '{c2[:15]}'") == {"C2"}
    assert contacts(f"AccountId IN ('{A2[:15]}', '{A1}')") == {"C1", "C2", "C4", "C5"}
    assert contacts(f"Id > '{record_id('003', 4)}'") == {"C5", "C6"}


# --- precedence ---------------------------------------------------------------------------------


def test_not_binds_tighter_than_and() -> None:
    # (NOT Score__c = 75) AND FirstName != null  -- not NOT (Score__c = 75 AND ...)
    assert contacts("NOT Score__c = 75 AND FirstName != null") == {"C1", "C3", "C6"}
    assert contacts("NOT (Score__c = 75 AND FirstName = 'Grace')") == {"C1", "C3", "C4", "C5", "C6"}
    assert contacts("NOT NOT LastName = 'Hopper'") == {"C2"}


def test_parentheses_group_and_within_or_and_vice_versa() -> None:
    assert contacts("Score__c = 75 OR (Score__c = 10 AND LastName LIKE 'O%')") == {"C2", "C4", "C5"}
    assert contacts("(Score__c = 75 OR Score__c = 10) AND Email != null") == {"C2", "C4"}
    assert contacts("LastName = 'Hopper' OR LastName = 'Turing' OR LastName = 'x'") == {"C2", "C3"}
    assert contacts("((Score__c > 50)) AND (Email LIKE '%.com' AND NOT Score__c = 75)") == {"C1"}


@pytest.mark.parametrize(
    ("where", "token"),
    [
        ("Score__c = 75 AND LastName = 'x' OR Score__c = 10", "OR"),
        ("Score__c = 75 OR LastName = 'x' AND Score__c = 10", "AND"),
        ("(Score__c = 75 OR LastName = 'x') AND Score__c = 10 or Email = null", "or"),
    ],
)
def test_mixing_and_with_or_needs_parentheses(where: str, token: str) -> None:
    text = f"SELECT Id FROM Contact WHERE {where}"
    err = error(text)
    assert err.error_code == "MALFORMED_QUERY"
    column = text.index(f" {token} ", text.index("WHERE")) + 2
    assert err.message.endswith(f"ERROR at Row:1:Column:{column}\nunexpected token: '{token}'")


# --- nulls --------------------------------------------------------------------------------------


def test_null_semantics() -> None:
    assert contacts("Email = null") == {"C3", "C5"}  # '' is null, as Salesforce stores it
    assert contacts("Email != null") == {"C1", "C2", "C4", "C6"}
    assert contacts("Score__c = null") == {"C3"}
    assert contacts("Score__c < 1000") == {"C1", "C2", "C4", "C5", "C6"}  # null never compares
    assert contacts("Score__c IN (75, null)") == {"C2", "C3", "C4"}
    assert contacts("Score__c NOT IN (75, null)") == {"C1", "C5", "C6"}
    assert contacts("Birthdate = null") == {"C3", "C4"}
    assert contacts("Lifecycle_Stage__c != 'Customer'") == {"C2", "C3", "C5"}


def test_boolean_null_means_false() -> None:
    # "WHERE Test_c = null is equivalent to WHERE Test_c = false" (SOQL reference, null)
    assert contacts("HasOptedOutOfEmail = null") == contacts("HasOptedOutOfEmail = false")
    assert contacts("HasOptedOutOfEmail != null") == {"C2"}


def test_missing_parent_reads_as_null() -> None:
    assert contacts("Account.Name = null") == {"C3", "C6"}
    assert contacts("Account.Name != null") == {"C1", "C2", "C4", "C5"}
    assert contacts("Account.Industry = null") == {"C2", "C3", "C6"}
    assert contacts("Account.Owner.Name = null") == {"C2", "C3", "C6"}
    assert contacts("Account.NumberOfEmployees > 10") == {"C1", "C2", "C4", "C5"}
