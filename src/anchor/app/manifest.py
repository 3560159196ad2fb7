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
from collections.abc import Iterable
from datetime import datetime
from typing import IO

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
    """The page URL and LinkedIn link of an issuer's credentials (dates converted once per value)."""

    def __init__(self, issuer: Issuer) -> None:
        self.public_url = issuer.public_url
        self.organization = issuer_name(issuer)
        self._times: dict[int, datetime] = {}

    def _time(self, ts: int) -> datetime:
        moment = self._times.get(ts)
        if moment is None:
            moment = self._times[ts] = from_unix(ts)
        return moment

    def page(self, credential_id: str) -> str | None:
        return page_url(self.public_url, credential_id) if self.public_url else None

    def linkedin(self, credential_id: str, achievement_name: str, valid_from: int, valid_until: int | None,
                 page: str | None) -> str:
        return linkedin_url(achievement_name, self.organization, self._time(valid_from),
                            self._time(valid_until) if valid_until is not None else None, page or "",
                            credential_id.removeprefix("urn:uuid:"))


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
