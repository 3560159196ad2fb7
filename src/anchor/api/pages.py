"""``/credentials/<id>``: the public page of a credential in this issuer's database.

The page a holder shares and an employer opens: what was earned, by whom, from whom, until when,
and a verdict checked live against the chain (the complete badge is assembled from the stored
document, its stored signature and its anchor receipt, then verified as ``POST /api/v1/verify``
would). The same data is served as JSON when the client prefers ``application/json`` (content
negotiation, ``Vary: Accept``), and the badge itself in every form the service can produce
(``badge.json``, baked ``badge.png`` and ``badge.svg``; the VC-JWT needs the issuer's key, which
the service does not hold).

Issuers can turn public pages off and a holder's page can be hidden: such a page answers 404
exactly as an unknown id does, so hiding never reveals that a credential exists.
"""

from __future__ import annotations

import functools
import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, Response, request
from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

from anchor.api.credentials import service
from anchor.api.openapi import PROBLEM, operation, path_param
from anchor.api.problems import problem_response
from anchor.api.service import Service
from anchor.api.stack_page import PathwayView, pathway_view
from anchor.app.badge_forms import FormRenderer
from anchor.app.exporting import credential_with_proof
from anchor.app.verifying import Report, Verifier, VerifyOptions
from anchor.core.badge_image import badge_png, badge_svg
from anchor.core.credential import credential_urn
from anchor.core.errors import InputError, NotFound
from anchor.core.records import Issuer
from anchor.core.sharing import linkedin_url, page_url, qr_svg
from anchor.core.summary import date_in_words, headline, issued_on, issuer_name, moment_of, pending_headline
from anchor.core.timefmt import format_ts
from anchor.core.uri import is_http_url
from anchor.core.verdict import CheckStatus

bp = Blueprint("pages", __name__)

templates = Environment(loader=PackageLoader("anchor", "templates"), autoescape=select_autoescape(["html"]),
                        trim_blocks=True, lstrip_blocks=True)

ID = path_param("credential_id", "The credential id: a uuid, or urn:uuid:<uuid>")
# One answer for all three, so hiding reveals nothing; an HTML page instead when the client prefers text/html.
_NOT_FOUND = {404: ("No public page: unknown id, hidden by the holder, or the issuer serves no public pages", PROBLEM)}

# What the verdict banner says first, in one or two words, per state.
STATE_WORDS = {"valid": "Verified", "revoked": "Revoked", "expired": "Expired", "not_yet_valid": "Not valid yet",
               "invalid": "Not valid", "pending": "Pending", "untrusted_registry": "Not confirmed", "unknown": "Cannot check now"}
# What the verdict means for someone deciding whether to rely on the credential, when it is not plainly valid.
ADVICE = {"revoked": "The issuer has withdrawn this credential: it no longer certifies what it says below.",
          "expired": "This credential has expired: what it says below held only until its expiry date.",
          "not_yet_valid": "This credential does not hold yet: it starts on the date above.",
          "invalid": "Do not rely on the details below: they are what the badge claims, and the claim does not hold.",
          "pending": "The issuer has issued this credential but not yet recorded it on the blockchain, so it cannot be checked yet.",
          "untrusted_registry": "The check ran against a registry this service does not trust: treat it as unchecked.",
          "unknown": "The details below are what the badge says; whether it still holds could not be checked just now."}
COMPONENT_ADVICE = ("This credential stands on the components listed below, and one of them no longer holds: "
                    "the credential does not hold as a whole.")
DOWNLOADS = (("json", "application/ld+json", "Credential (JSON)"), ("png", "image/png", "Baked image (PNG)"),
             ("svg", "image/svg+xml", "Baked image (SVG)"))


@functools.lru_cache(maxsize=2048)
def page_qr(url: str) -> Markup:
    """The page URL's QR code (5 ms to compute, ~3 KB kept): the same for every visit."""
    return Markup(qr_svg(url, label="QR code of the link to this page"))


def nonce() -> str:
    return secrets.token_urlsafe(18)


def csp(nonce_value: str, *, images: str = "'self' data:") -> str:
    """A page's Content-Security-Policy: only this origin, and inline code carrying the nonce."""
    return (f"default-src 'none'; script-src 'nonce-{nonce_value}'; style-src 'nonce-{nonce_value}'; img-src {images}; "
            "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")


def html_response(body: str, status: int = 200, *, policy: str) -> Response:
    r = Response(body, status=status, mimetype="text/html")
    r.headers["Content-Security-Policy"] = policy
    r.headers["X-Content-Type-Options"] = "nosniff"
    r.headers["Referrer-Policy"] = "no-referrer"
    return r


def json_script(value: object) -> Markup:
    """``value`` as JSON safe inside ``<script type="application/ld+json">``: ``<``, ``>`` and
    ``&`` escaped as JSON ``\\u`` escapes, so no ``</script>`` (or ``<!--``) in a value can end the
    element; the parsed JSON is unchanged."""
    text = json.dumps(value, ensure_ascii=False, indent=1)
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return Markup(text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def prefers_json() -> bool:
    return request.accept_mimetypes.best_match(["text/html", "application/json"], default="text/html") == "application/json"


def not_found(raw_id: str) -> Response:
    """The one answer for an unknown, hidden or unpublished credential page."""
    if request.accept_mimetypes.best_match(["application/problem+json", "application/json", "text/html"]) == "text/html":
        n = nonce()
        r = html_response(templates.get_template("notfound.html").render(nonce=n), 404, policy=csp(n))
    else:
        r = problem_response(404, "Not Found", f"there is no public credential page for {raw_id[:80]!r}", "not-found")
    r.headers["Vary"] = "Accept"
    r.headers["Cache-Control"] = "no-cache"
    return r


# ------------------------------------------------------------------------ the credential's data


@dataclass
class Page:
    """One credential's page: the badge (complete when anchored), its issuer and its verdict."""

    credential_id: str
    uuid: str
    credential: dict[str, Any]  # the complete badge when anchored; else the document with its signature
    badge: bytes | None  # the complete badge's bytes; None until anchored
    issuer: Issuer
    base: str  # the public base URL pages and images are named under
    report: Report | None  # None until anchored
    pathway: PathwayView | None = None  # a stacked credential's components (anchor.api.stack_page)

    @property
    def url(self) -> str:
        return page_url(self.base, self.uuid)

    @property
    def state(self) -> str:
        if self.pathway is not None and self.pathway.report is not None:  # a failing component decides
            return self.pathway.report.verdict.value
        return self.report.verdict.value if self.report is not None else "pending"

    @property
    def headline(self) -> str:
        if self.pathway is not None and self.pathway.headline is not None:
            return self.pathway.headline
        return headline(self.report, self.credential) if self.report is not None else pending_headline(self.credential)


def load_page(svc: Service, raw_id: str) -> Page | None:
    """The page of ``raw_id``, or None when it has none (unknown, hidden, or pages off)."""
    if svc.config.database_url is None:  # a verification-only service: no issuer database, no pages
        return None
    try:
        cid = credential_urn(raw_id)
    except InputError:
        return None
    store = svc.store
    visibility = store.visibility(cid)
    if visibility is None or visibility[0] or not visibility[1]:
        return None
    stored = store.document_of(cid)
    try:
        loc = svc.locate(cid)
    except NotFound:
        return None
    issuer = store.issuer(loc.issuer_address)
    if stored is None or issuer is None:
        return None
    document, signature = stored
    base = issuer.public_url or request.host_url
    uuid = cid.removeprefix("urn:uuid:")
    if loc.batch_status != "confirmed":
        unanchored = credential_with_proof(document, signature, None) if signature else document
        page = Page(cid, uuid, json.loads(unanchored), None, issuer, base, None)
    else:
        entry = json.dumps(json.loads(svc.proof_json(cid))["proof"], separators=(",", ":")).encode()
        badge = credential_with_proof(document, entry, signature)
        page = Page(cid, uuid, json.loads(badge), badge, issuer, base, verify_badge(svc, badge))
    page.pathway = pathway_view(svc, page.credential, page.report, base, lambda b: verify_badge(svc, b))
    return page


def verify_badge(svc: Service, badge: bytes) -> Report:
    """The verdict on a complete badge, exactly as ``POST /api/v1/verify`` gives it."""
    from anchor.api.verify import parse_body

    prepared = svc.prepared(badge, parse_body)
    options = VerifyOptions(registry=svc.view.address, confirmations=svc.config.confirmations)
    return Verifier(lambda _address: svc.view, options).check(prepared)


def _text(value: object) -> str | None:
    return " ".join(value.split()) if isinstance(value, str) and value.strip() else None


def _image_url(value: object) -> str | None:
    """An image's URL when a page may show it: https, or an inline data: image."""
    url = value.get("id") if isinstance(value, Mapping) else value
    if isinstance(url, str) and (url.startswith("https://") or url.startswith("data:image/")) and '"' not in url:
        return url
    return None


def holder_name(credential: Mapping[str, Any]) -> str | None:
    """The holder's name: the credential subject's identifier of identityType ``name``."""
    subject = credential.get("credentialSubject")
    identifiers = subject.get("identifier") if isinstance(subject, Mapping) else None
    for ident in identifiers if isinstance(identifiers, list) else []:
        if isinstance(ident, Mapping) and ident.get("identityType") == "name" and not ident.get("hashed"):
            return _text(ident.get("identityHash"))
    return None


def facts(page: Page) -> dict[str, Any]:
    """What the page shows, as plain values: the JSON view, and the template's input."""
    credential = page.credential
    subject = credential.get("credentialSubject") if isinstance(credential.get("credentialSubject"), Mapping) else {}
    achievement = subject.get("achievement") if isinstance(subject.get("achievement"), Mapping) else {}
    issuer = credential.get("issuer") if isinstance(credential.get("issuer"), Mapping) else {}
    criteria = achievement.get("criteria") if isinstance(achievement.get("criteria"), Mapping) else {}
    alignments = achievement.get("alignment") if isinstance(achievement.get("alignment"), list) else []
    issued, expires = issued_on(credential), moment_of(credential.get("validUntil"))
    credits = achievement.get("creditsAvailable")
    base = page.base.rstrip("/")
    name = _text(achievement.get("name")) or _text(credential.get("name")) or "Badge"
    organization = issuer_name(credential) or ""
    return {
        "credentialId": page.credential_id,
        "pageUrl": page.url,
        "status": page.state,
        "headline": page.headline,
        "anchored": page.badge is not None,
        "holder": holder_name(credential),
        "achievement": {
            "id": achievement.get("id") if isinstance(achievement.get("id"), str) else None,
            "name": name,
            "description": _text(achievement.get("description")),
            "type": achievement.get("achievementType") if isinstance(achievement.get("achievementType"), str) else None,
            "criteria": {"narrative": criteria.get("narrative") if isinstance(criteria.get("narrative"), str) else None,
                         "url": criteria.get("id") if is_http_url(criteria.get("id")) else None},
            "image": _image_url(achievement.get("image")),
            "alignments": [
                {"name": _text(a.get("targetName")), "framework": _text(a.get("targetFramework")),
                 "code": _text(a.get("targetCode")), "url": a.get("targetUrl") if is_http_url(a.get("targetUrl")) else None}
                for a in alignments if isinstance(a, Mapping) and _text(a.get("targetName"))
            ],
            "credits": credits if isinstance(credits, int | float) and not isinstance(credits, bool) else None,
        },
        "issuer": {
            "id": issuer.get("id") if isinstance(issuer.get("id"), str) else None,
            "name": organization or None,
            "url": issuer.get("url") if is_http_url(issuer.get("url")) else None,
            "image": _image_url(issuer.get("image")),
        },
        "issued": format_ts(issued) if issued else None,
        "expires": format_ts(expires) if expires else None,
        "verification": page_report_json(page),
        "pathway": page.pathway.to_json() if page.pathway is not None else None,
        "links": {
            # Only a badge that verifies is offered for a profile: a revoked, expired or altered one is not.
            "linkedin": linkedin_url(name, organization, issued, expires, page.url, page.uuid)
            if issued and page.state == "valid" else None,
            "image": f"{base}/credentials/{page.uuid}/image.png",
            "downloads": {form: f"{base}/credentials/{page.uuid}/badge.{form}" for form, _, _ in DOWNLOADS}
            if page.badge is not None else {},
        },
        "credential": credential,
    }


def page_report_json(page: Page) -> dict[str, Any] | None:
    if page.report is None:
        return None
    body = page.report.to_json()
    body["headline"] = page.headline
    return body


# ------------------------------------------------------------------------ routes


def _page_or_404(credential_id: str) -> Page | Response:
    page = load_page(service(), credential_id)
    return not_found(credential_id) if page is None else page


@bp.get("/credentials/<credential_id>")
@operation(
    summary="The public page of a credential",
    tag="page",
    description="HTML by default; the same data as JSON when the client prefers application/json (Vary: Accept). "
                "The verdict is checked live against the chain.",
    parameters=[ID],
    responses={200: ("The page (text/html), or its data (application/json: credentialId, pageUrl, status, headline, anchored, "
                     "holder, achievement, issuer, issued, expires, verification (the report), links, credential)", None),
               **_NOT_FOUND, 503: ("Database unavailable", PROBLEM)},
)
def credential_page(credential_id: str) -> Response:
    page = _page_or_404(credential_id)
    if isinstance(page, Response):
        return page
    data = facts(page)
    if prefers_json():
        r = Response(json.dumps(data, ensure_ascii=False), mimetype="application/json")
    else:
        n = nonce()
        html = templates.get_template("credential.html").render(
            nonce=n, page=data, uuid=page.uuid, state_word=STATE_WORDS.get(page.state, page.state), checks=_checks(page),
            advice=COMPONENT_ADVICE if page.pathway is not None and page.pathway.problem else ADVICE.get(page.state),
            badge_svg=Markup(badge_svg(data["achievement"]["name"], data["issuer"]["name"] or "",
                                       seed=data["achievement"]["id"] or data["achievement"]["name"])),
            qr=page_qr(page.url), jsonld=json_script(page.credential),
            issued_words=date_in_words(issued) if (issued := issued_on(page.credential)) else None,
            expires_words=date_in_words(until) if (until := moment_of(page.credential.get("validUntil"))) else None,
            downloads=DOWNLOADS if page.badge is not None else (),
        )
        r = html_response(html, policy=csp(n, images="'self' https: data:"))
    r.headers["Vary"] = "Accept"
    r.headers["Cache-Control"] = "no-cache"
    return r


def _checks(page: Page) -> list[dict[str, str]]:
    if page.report is None:
        return []
    words = {CheckStatus.PASSED: "passed", CheckStatus.FAILED: "failed", CheckStatus.SKIPPED: "skipped"}
    return [{"name": c.name, "status": words.get(CheckStatus(c.status), c.status), "message": c.message} for c in page.report.checks]


@bp.get("/credentials/<credential_id>/badge.<form>")
@operation(
    summary="The badge of a credential, as a file",
    tag="page",
    description="`json`: the credential with its proof set (signature and anchor receipt); `png`, `svg`: a generated image "
                "with that credential baked in (Open Badges 3.0 baking). The VC-JWT form needs the issuer's key and comes "
                "with the issuer's export only.",
    parameters=[ID, path_param("form", "json, png or svg", "^(json|png|svg)$")],
    responses={200: ("The badge file: application/ld+json, image/png or image/svg+xml", None),
               **_NOT_FOUND, 503: ("Database unavailable", PROBLEM)},
)
def badge_file(credential_id: str, form: str) -> Response:
    media = next((m for f, m, _ in DOWNLOADS if f == form), None)
    if media is None:
        return not_found(credential_id)
    page = _page_or_404(credential_id)
    if isinstance(page, Response):
        return page
    if page.badge is None:
        return problem_response(404, "Not Found", f"credential {page.credential_id} is not anchored yet; its badge files are "
                                "released once it is", "not-anchored")
    ((_name, content),) = FormRenderer((form,), None)(page.uuid, page.badge)
    r = Response(content, mimetype=media)
    r.headers["Content-Disposition"] = f'attachment; filename="{page.uuid}.{form}"'
    r.headers["Cache-Control"] = "no-cache"
    r.headers["X-Content-Type-Options"] = "nosniff"
    if form == "svg":
        r.headers["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'"
    return r


@bp.get("/credentials/<credential_id>/image.<kind>")
@operation(
    summary="The generated picture of a credential's badge (not baked): for link previews",
    tag="page",
    parameters=[ID, path_param("kind", "svg or png", "^(svg|png)$")],
    responses={200: ("The image: image/svg+xml or image/png", None), **_NOT_FOUND,
               503: ("Database unavailable", PROBLEM)},
)
def badge_picture(credential_id: str, kind: str) -> Response:
    if kind not in ("svg", "png"):
        return not_found(credential_id)
    page = _page_or_404(credential_id)
    if isinstance(page, Response):
        return page
    achievement = page.credential.get("credentialSubject", {}).get("achievement", {})
    name = str(achievement.get("name", ""))
    seed = str(achievement.get("id", name))
    if kind == "png":
        r = Response(badge_png(seed), mimetype="image/png")
    else:
        r = Response(badge_svg(name, issuer_name(page.credential) or "", seed=seed), mimetype="image/svg+xml")
        r.headers["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'"
    r.headers["Cache-Control"] = "public, max-age=3600"
    r.headers["X-Content-Type-Options"] = "nosniff"
    return r
