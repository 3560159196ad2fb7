"""How a holder shares a credential: its page URL, LinkedIn's add-to-profile link, a QR code.

One place builds each, so the credential page, the export manifest and the delivery email give
the same links.

* :func:`page_url`: ``<issuer public_url>/credentials/<uuid>``, the page the service serves for
  credentials in the issuer's database (the bare UUID: shorter, and what LinkedIn shows as the id).
* :func:`linkedin_url`: LinkedIn's documented "add certification" URL
  (``https://www.linkedin.com/profile/add?startTask=CERTIFICATION_NAME&...``), prefilled with the
  achievement, the issuer, the issue and expiry month, the page URL and the credential id. Without
  an expiry the expiration parameters are left out (LinkedIn then shows "does not expire").
* :func:`qr_svg`: the page URL as an inline SVG QR code (``segno``: pure Python, no I/O), scalable
  (a ``viewBox``, no fixed size) and labelled for screen readers.

Pure: no I/O.
"""

from __future__ import annotations

import io
from datetime import datetime
from urllib.parse import quote, urlencode

import segno

from anchor.core.credential import credential_urn
from anchor.core.errors import InputError

__all__ = ["LINKEDIN_ADD", "linkedin_url", "page_url", "qr_matrix", "qr_svg"]

LINKEDIN_ADD = "https://www.linkedin.com/profile/add"
QR_ERROR = "m"  # 15% of the code can be damaged (a crease in a printed certificate) and it still reads
QR_BORDER = 4  # the quiet zone the QR specification asks for, in modules


def _uuid(credential_id: str) -> str:
    return credential_urn(credential_id).removeprefix("urn:uuid:")


def page_url(public_url: str, credential_id: str) -> str:
    """``https://badges.example/credentials/<uuid>`` for a credential id (urn or bare UUID).

    ``public_url`` is the issuer's public base URL (a trailing slash is allowed); InputError
    when it is not an http(s) URL, or the id is not a credential id."""
    base = public_url.strip().rstrip("/")
    if not base.startswith(("https://", "http://")) or any(c in base for c in " ?#\"<>"):
        raise InputError(f"the public URL {public_url!r} is not an http(s) base URL", reason="bad_public_url")
    return f"{base}/credentials/{_uuid(credential_id)}"


def linkedin_url(name: str, organization: str, issued: datetime, expires: datetime | None, cert_url: str, cert_id: str) -> str:
    """LinkedIn's add-certification URL for a credential.

    ``name`` is the achievement's name, ``organization`` the issuer's name, ``issued`` and
    ``expires`` (None: does not expire) give the months LinkedIn asks for (UTC), ``cert_url`` the
    credential's page and ``cert_id`` its id (shown on the profile). Parameters are in the order
    LinkedIn documents them, values percent-encoded (spaces as ``%20``)."""
    params: list[tuple[str, str]] = [
        ("startTask", "CERTIFICATION_NAME"),
        ("name", name),
        ("organizationName", organization),
        ("issueYear", str(issued.year)),
        ("issueMonth", str(issued.month)),
    ]
    if expires is not None:
        params += [("expirationYear", str(expires.year)), ("expirationMonth", str(expires.month))]
    params += [("certUrl", cert_url), ("certId", cert_id)]
    return f"{LINKEDIN_ADD}?{urlencode(params, quote_via=quote)}"


def _qr(url: str) -> segno.QRCode:
    return segno.make(url, error=QR_ERROR, micro=False, boost_error=False)


def qr_matrix(url: str) -> tuple[tuple[bool, ...], ...]:
    """The QR code's modules for ``url`` (True: dark), without the quiet zone."""
    return tuple(tuple(bool(m) for m in row) for row in _qr(url).matrix)


def qr_svg(url: str, *, label: str | None = None) -> str:
    """``url`` as a QR code: an SVG element (no XML declaration) to inline in a page.

    Scales to its container (``viewBox`` only); one path of dark modules on a white square with
    the quiet zone, so it reads on a dark background too; ``role="img"`` with a ``<title>``
    (``label``, default "QR code of <url>")."""
    qr = _qr(url)
    out = io.BytesIO()
    qr.save(out, kind="svg", xmldecl=False, svgns=True, nl=False, border=QR_BORDER, omitsize=True,
            dark="#000", light="#fff", title=label or f"QR code of {url}", svgclass="qr-code", lineclass="qr-dark")
    return out.getvalue().decode("utf-8").replace("<svg ", '<svg role="img" ', 1)
