"""Timestamps as credentials carry them: ISO 8601 / RFC 3339 in UTC, second precision."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta

from anchor.core.errors import InputError

_DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def format_ts(moment: datetime) -> str:
    """``2026-11-27T10:00:00Z``."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def from_unix(ts: int) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def parse_ts(text: str, *, what: str = "timestamp", end_of_day: bool = False) -> datetime:
    """Parse an ISO 8601 date-time with a timezone, or a bare date (UTC; start or end of day).

    Raises :class:`InputError` naming ``what`` for anything else, including date-times without
    a timezone (ambiguous by hours).
    """
    text = text.strip()
    if _DATE_ONLY.match(text):
        try:
            day = date.fromisoformat(text)
        except ValueError:
            raise InputError(f"{what}: {text!r} is not a real date") from None
        moment = datetime.combine(day, time(23, 59, 59) if end_of_day else time(0, 0, 0), UTC)
        return moment
    try:
        moment = datetime.fromisoformat(text.replace("z", "Z"))
    except ValueError:
        raise InputError(f"{what}: {text!r} is not an ISO 8601 date or date-time") from None
    if moment.tzinfo is None:
        raise InputError(f"{what}: {text!r} has no timezone (add Z for UTC, or an offset like +02:00)")
    try:
        return moment.astimezone(UTC).replace(microsecond=0)
    except OverflowError:  # 0001-01-01T00:00:00+14:00 is in year 0 in UTC
        raise InputError(f"{what}: {text!r} is outside the representable years 1 to 9999 in UTC") from None


def parse_credential_ts(text: object, *, what: str) -> datetime:
    """A credential's own timestamp (``validFrom`` and friends): a full date-time with zone."""
    if not isinstance(text, str) or _DATE_ONLY.match(text.strip()):
        raise InputError(f"{what} must be an ISO 8601 date-time with a timezone, got {text!r}")
    return parse_ts(text, what=what)


def utcnow() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def days(n: float) -> timedelta:
    return timedelta(days=n)
