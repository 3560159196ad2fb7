"""The export manifest, ``manifest.csv``: which badge file belongs to whom.

One row per badge the export wrote: its id, the holder's name and email (kept by the issuer,
never in the badge), the badge file, the public page URL and LinkedIn's add-to-profile link
(:mod:`anchor.core.sharing`, the same links the credential page and ``anchor notify`` give).

The manifest is opened by people in spreadsheets, so it is safe against CSV (formula)
injection: a cell that a spreadsheet would run as a formula (starting with ``=``, ``+``, ``-``,
``@``, a tab or a carriage return) is prefixed with ``'`` (OWASP's advice). Names come from
rosters, which anyone may have typed.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterable
from datetime import datetime
from typing import IO
from urllib.parse import quote

from anchor.core.sharing import linkedin_url, page_url
from anchor.core.timefmt import from_unix
from anchor.store import HolderRow, Issuer

COLUMNS = ("id", "name", "email", "file", "page_url", "linkedin_url")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: str | None) -> str:
    """``value`` as a spreadsheet shows it and never runs it."""
    text = value or ""
    return "'" + text if text.startswith(_FORMULA_START) else text


def issuer_name(issuer: Issuer) -> str:
    try:
        name = json.loads(issuer.profile_json).get("name")
    except ValueError:
        name = None
    return str(name) if name else issuer.profile_uri


class Links:
    """The page URL and LinkedIn link of an issuer's credentials, fast enough for a million rows:
    the LinkedIn URL differs between credentials only by their page and id, so it is built once
    per (achievement, issue date, expiry) by :func:`anchor.core.sharing.linkedin_url` with
    markers, and the two values are percent-encoded into it per credential (as that function
    encodes them: ``quote(value, safe="")``)."""

    _URL, _ID = "\ue000url\ue000", "\ue000id\ue000"

    def __init__(self, issuer: Issuer) -> None:
        self.public_url = issuer.public_url
        self.public_pages = issuer.public_pages
        self.organization = issuer_name(issuer)
        self._times: dict[int, datetime] = {}
        self._templates: dict[tuple[str, int, int | None], tuple[str, str, str]] = {}
        self._page_prefix = page_url(self.public_url, _SAMPLE_ID).removesuffix(_SAMPLE_UUID) if self.public_url else None
        self._quoted_prefix: str | None = None

    def _time(self, ts: int) -> datetime:
        moment = self._times.get(ts)
        if moment is None:
            moment = self._times[ts] = from_unix(ts)
        return moment

    def page(self, credential_id: str) -> str | None:
        if self._page_prefix is None:
            return None
        uuid = credential_id.removeprefix("urn:uuid:")
        return self._page_prefix + uuid if _UUID.match(uuid) else page_url(self.public_url or "", credential_id)

    def linkedin(self, credential_id: str, achievement_name: str, valid_from: int, valid_until: int | None,
                 page: str | None) -> str:
        key = (achievement_name, valid_from, valid_until)
        parts = self._templates.get(key)
        if parts is None:
            url = linkedin_url(achievement_name, self.organization, self._time(valid_from),
                               self._time(valid_until) if valid_until is not None else None, self._URL, self._ID)
            head, rest = url.split(quote(self._URL, safe=""), 1)
            middle, tail = rest.split(quote(self._ID, safe=""), 1)
            parts = self._templates[key] = (head, middle, tail)
            if len(self._templates) > 10_000:
                self._templates.clear()
        head, middle, tail = parts
        uuid = credential_id.removeprefix("urn:uuid:")
        if self._page_prefix is not None and page == self._page_prefix + uuid and _UUID.match(uuid):
            # A UUID is all unreserved characters: quoting leaves it as it is.
            if self._quoted_prefix is None:
                self._quoted_prefix = quote(self._page_prefix, safe="")
            return f"{head}{self._quoted_prefix}{uuid}{middle}{uuid}{tail}"
        return f"{head}{quote(page or '', safe='')}{middle}{quote(uuid, safe='')}{tail}"


_SAMPLE_UUID = "00000000-0000-4000-8000-000000000000"
_SAMPLE_ID = "urn:uuid:" + _SAMPLE_UUID
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\Z")


def write_manifest(out: IO[str], rows: Iterable[HolderRow], links: Links, file_suffix: str) -> int:
    """Write the manifest of ``rows`` to ``out`` (CSV with a header); returns the number of rows.
    ``file_suffix``: the badge file each row names (``.json``, or the first form written)."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    n = 0
    for row in rows:
        uuid = row.credential_id.removeprefix("urn:uuid:")
        page = links.page(row.credential_id)
        writer.writerow((row.credential_id, safe_cell(row.holder_name), safe_cell(row.holder_email), uuid + file_suffix,
                         page or "", links.linkedin(row.credential_id, row.achievement_name, row.valid_from, row.valid_until,
                                                    page)))
        n += 1
    return n
