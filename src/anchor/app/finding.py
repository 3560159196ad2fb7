"""Finding an issuer's credentials the way people name them.

* by holder (``anchor find --email`` / ``--name``): the issuer's database keeps each holder's
  name and email for this;
* by what a person has at hand (``anchor revoke``, ``anchor hide``): the id as ``urn:uuid:…`` or
  a bare UUID, or a badge file in any form (JSON, VC-JWT, baked PNG or SVG, read with
  :func:`anchor.core.forms.read_badge`), or just the file's name (``<uuid>.json`` from an export).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from anchor.core.credential import credential_urn, normalize_email
from anchor.core.errors import InputError
from anchor.core.forms import MAX_BADGE_BYTES, read_badge
from anchor.core.sharing import page_url
from anchor.store import HolderCredential, Issuer, Store

_UUID_NAME = re.compile(r"([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})\.(json|jwt|png|svg)\Z")


def credential_id_of(text: str) -> str:
    """The credential id ``text`` names: an id (``urn:uuid:<uuid>`` or ``<uuid>``), a badge file
    (its credential's ``id``), or an exported file's name (``<uuid>.json``/``.jwt``/``.png``/``.svg``)
    when no such file is here. InputError saying what was tried otherwise."""
    try:
        return credential_urn(text)
    except InputError:
        pass
    path = Path(text)
    if path.is_file():
        try:
            size = path.stat().st_size
            if size > MAX_BADGE_BYTES:
                raise InputError(f"{text} is not a badge: {size} bytes, at most {MAX_BADGE_BYTES}", reason="bad_credential_ref")
            data = path.read_bytes()
        except OSError as e:
            raise InputError(f"cannot read {text}: {e.strerror}", reason="bad_credential_ref") from None
        try:
            credential = read_badge(data, what=text).credential
        except InputError as e:
            raise InputError(f"{text} is a file but not a badge ({e.message})", reason="bad_credential_ref") from None
        cid = credential.get("id")
        if not isinstance(cid, str):
            raise InputError(f"the badge in {text} has no id", reason="bad_credential_ref")
        try:
            return credential_urn(cid)
        except InputError:
            raise InputError(f"the badge in {text} has id {cid!r}, not a urn:uuid credential id",
                             reason="bad_credential_ref") from None
    named = _UUID_NAME.match(path.name)
    if named:
        return "urn:uuid:" + named.group(1).lower()
    raise InputError(f"{text!r} is not a credential id (urn:uuid:<uuid> or <uuid>), nor a badge file (no such file), "
                     "nor an exported badge's file name (<uuid>.json, .jwt, .png or .svg)", reason="bad_credential_ref")


@dataclass(frozen=True)
class Found:
    credential: HolderCredential
    page_url: str | None
    file_name: str  # the name `anchor export` gives its JSON form


def find_holders(store: Store, issuer: Issuer, *, email: str | None = None, name: str | None = None, at: int,
                 limit: int = 200) -> list[Found]:
    """The issuer's credentials of the holder with this email and/or whose name contains ``name``."""
    if email is None and name is None:
        raise InputError("give --email or --name (or both)")
    if name is not None and not name.strip():
        raise InputError("--name must not be empty")
    if email is not None and "@" not in email:
        raise InputError(f"--email {email!r} is not an email address")
    found = store.find_credentials(issuer.id, email=normalize_email(email) if email is not None else None,
                                   name=name.strip() if name is not None else None, at=at, limit=limit)
    out = []
    for c in found:
        uuid = c.credential_id.removeprefix("urn:uuid:")
        out.append(Found(c, page_url(issuer.public_url, c.credential_id) if issuer.public_url else None, uuid + ".json"))
    return out
