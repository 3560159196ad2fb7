"""Roster CSV parsing: every bad row reported with its line number and reason."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from anchor.core.errors import InputError
from anchor.core.roster import parse_roster


def test_good_roster_with_optional_columns() -> None:
    text = (
        "\ufeffName,EMAIL,evidence_url,valid_until,awarded_date,narrative\n"
        "Ada  Lovelace , Ada@Example.org ,https://x.example/e,2027-12-31,2026-01-02T10:00:00+02:00,Capstone\n"
        "\n"
        "Alan Turing,alan@example.org,,,,\n"
    )
    roster = parse_roster(text)
    assert roster.errors == []
    ada, alan = roster.rows
    assert (ada.line, ada.name, ada.email) == (2, "Ada Lovelace", "ada@example.org")
    assert ada.valid_until == datetime(2027, 12, 31, 23, 59, 59, tzinfo=UTC)
    assert ada.awarded == datetime(2026, 1, 2, 8, 0, tzinfo=UTC)
    assert alan.line == 4 and alan.evidence_url is None and alan.valid_until is None


def test_bad_rows_are_all_reported_with_line_numbers() -> None:
    text = (
        "name,email,evidence_url,valid_from,valid_until\n"
        "Ok Person,ok@example.org,,,\n"
        ",noname@example.org,,,\n"
        "Bad Mail,not-an-email,,,\n"
        "Bad Url,u@example.org,ftp://x,,\n"
        "Bad Date,d@example.org,,2026-13-01,\n"
        "No Zone,z@example.org,,2026-01-01T10:00:00,\n"
        "Backwards,b@example.org,,2027-01-01,2026-01-01\n"
        "Dup,OK@example.org,,,\n"
        "Short,s@example.org\n"
    )
    roster = parse_roster(text)
    assert [r.name for r in roster.rows] == ["Ok Person"]
    reasons = {e.line: e.reason for e in roster.errors}
    assert set(reasons) == {3, 4, 5, 6, 7, 8, 9, 10}
    assert "name is empty" in reasons[3]
    assert "not a valid address" in reasons[4]
    assert "not an http(s) URL" in reasons[5]
    assert "not a real date" in reasons[6] or "not an ISO 8601" in reasons[6]
    assert "no timezone" in reasons[7]
    assert "not after valid_from" in reasons[8]
    assert "already appears in row 2" in reasons[9]
    assert "has 2 fields" in reasons[10]
    assert str(roster.errors[0]).startswith("row 3: ")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "roster is empty"),
        ("name,email\n", "no rows"),
        ("name,mail_address\nA,a@x.org\n", "unknown column(s) mail_address"),
        ("name,evidence_url\nA,x\n", "missing column(s) email"),
        ("name,email,email\nA,a@x.org,b@x.org\n", "duplicate column(s) email"),
    ],
)
def test_bad_headers(text: str, message: str) -> None:
    with pytest.raises(InputError) as e:
        parse_roster(text)
    assert message in str(e.value)
