"""Roster CSV files: one recipient per row, checked row by row. Pure: the caller opens the file.

Columns (header required, case-insensitive, any order):
``name``, ``email`` (required); ``evidence_url``, ``valid_from``, ``valid_until``,
``awarded_date``, ``narrative`` (optional). Unknown columns are an error, so a typo never drops
data silently.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

from anchor.core.credential import normalize_email
from anchor.core.errors import InputError
from anchor.core.timefmt import parse_ts
from anchor.core.uri import is_http_url

REQUIRED = ("name", "email")
OPTIONAL = ("evidence_url", "valid_from", "valid_until", "awarded_date", "narrative")
ALIASES = {"evidence": "evidence_url", "full_name": "name", "e-mail": "email", "mail": "email"}
MAX_NAME = 200
MAX_NARRATIVE = 5000
MAX_ROWS = 5_000_000
# Pragmatic address check: one @, a dot in the domain, no spaces; RFC 5322 in full accepts more
# but nothing a roster should contain.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# A fast path for the common plain URL (a roster has up to a million rows); anything it does not
# match is judged by the one validator, anchor.core.uri.
_HTTP_URL = re.compile(r"https?://[A-Za-z0-9.-]+(?::\d+)?(?:[/?#][^\s]*)?\Z")
EMAIL = re.compile(r"^[^@\s\"<>,;]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$")


@dataclass(frozen=True, slots=True)
class RosterRow:
    line: int  # 1-based line number in the file (the header is line 1)
    name: str
    email: str  # normalized (trimmed, lower case)
    evidence_url: str | None = None
    valid_from: datetime | None = None
    valid_until: datetime | None = None
    awarded: datetime | None = None
    narrative: str | None = None


@dataclass(frozen=True, slots=True)
class RowError:
    line: int
    reason: str

    def __str__(self) -> str:
        return f"row {self.line}: {self.reason}"


@dataclass(frozen=True)
class Roster:
    rows: list[RosterRow]
    errors: list[RowError]


def parse_roster(text: str, *, default_valid_from: datetime | None = None) -> Roster:
    """Parse and check every row; collect all row errors instead of stopping at the first."""
    if text.startswith("\ufeff"):
        text = text[1:]  # spreadsheet exports often start with a BOM
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        raise InputError("roster is empty (expected a header row with at least: name,email)") from None
    except csv.Error as e:
        raise InputError(f"roster is not valid CSV: {e}") from None
    columns = [ALIASES.get(h.strip().lower(), h.strip().lower()) for h in header]
    unknown = [h for h in columns if h not in REQUIRED + OPTIONAL]
    if unknown:
        raise InputError(f"roster header: unknown column(s) {', '.join(unknown)}; known: {', '.join(REQUIRED + OPTIONAL)}")
    missing = [c for c in REQUIRED if c not in columns]
    if missing:
        raise InputError(f"roster header: missing column(s) {', '.join(missing)}")
    dupes = {c for c in columns if columns.count(c) > 1}
    if dupes:
        raise InputError(f"roster header: duplicate column(s) {', '.join(sorted(dupes))}")

    rows: list[RosterRow] = []
    errors: list[RowError] = []
    seen: dict[str, int] = {}
    try:
        for values in reader:
            line = reader.line_num
            if not any(v.strip() for v in values):
                continue  # blank lines are not recipients
            if len(rows) + len(errors) >= MAX_ROWS:
                raise InputError(f"roster has more than {MAX_ROWS:,} rows; split it")
            if len(values) != len(columns):
                errors.append(RowError(line, f"has {len(values)} fields, the header has {len(columns)}"))
                continue
            try:
                row = _row(line, dict(zip(columns, values, strict=False)), default_valid_from)
            except InputError as e:
                errors.append(RowError(line, e.message))
                continue
            first = seen.get(row.email)
            if first is not None:
                errors.append(RowError(line, f"email {row.email} already appears in row {first}"))
                continue
            seen[row.email] = line
            rows.append(row)
    except csv.Error as e:
        raise InputError(f"roster is not valid CSV near line {reader.line_num}: {e}") from None
    if not rows and not errors:
        raise InputError("roster has a header but no rows")
    return Roster(rows, errors)


def _row(line: int, raw: dict[str, str], default_valid_from: datetime | None) -> RosterRow:
    name = " ".join(raw["name"].split())
    if not name:
        raise InputError("name is empty")
    if len(name) > MAX_NAME:
        raise InputError(f"name is longer than {MAX_NAME} characters")
    if _CONTROL.search(name):
        raise InputError("name contains control characters")
    email = normalize_email(raw["email"])
    if not email:
        raise InputError("email is empty")
    if len(email) > 254 or not EMAIL.match(email):
        raise InputError(f"email {raw['email'].strip()!r} is not a valid address")
    evidence = (raw.get("evidence_url") or "").strip() or None
    if evidence is not None and not (len(evidence) <= 2048 and _HTTP_URL.match(evidence)) and not is_http_url(evidence):
        raise InputError(f"evidence_url {evidence!r} is not an http(s) URL")
    valid_from = _ts(raw, "valid_from") or default_valid_from
    valid_until = _ts(raw, "valid_until", end_of_day=True)
    if valid_until is not None and valid_from is not None and valid_until <= valid_from:
        raise InputError(f"valid_until {raw['valid_until'].strip()} is not after valid_from")
    awarded = _ts(raw, "awarded_date")
    narrative = (raw.get("narrative") or "").strip() or None
    if narrative is not None and len(narrative) > MAX_NARRATIVE:
        raise InputError(f"narrative is longer than {MAX_NARRATIVE} characters")
    return RosterRow(line, name, email, evidence, valid_from, valid_until, awarded, narrative)


def _ts(raw: dict[str, str], column: str, *, end_of_day: bool = False) -> datetime | None:
    value = (raw.get(column) or "").strip()
    if not value:
        return None
    return _cached_ts(value, column, end_of_day)


@lru_cache(maxsize=4096)
def _cached_ts(value: str, column: str, end_of_day: bool) -> datetime:
    # Rosters repeat the same few dates over thousands of rows; errors are not cached.
    return parse_ts(value, what=column, end_of_day=end_of_day)
