"""``GET /``: a page a person can use to check a badge: paste it (JSON or VC-JWT), open or drop
its file (JSON, VC-JWT, baked PNG or SVG), or give the link to its page on this service. The
page sends the bytes as they are to ``POST /api/v1/verify`` and shows the report's plain
headline first, then the checks. No build step and nothing external: the page's own style and
script are inline, allowed by a per-response CSP nonce."""

from __future__ import annotations

from flask import Blueprint, Response

from anchor.api.openapi import operation
from anchor.api.pages import csp, html_response, nonce, templates

bp = Blueprint("page", __name__)


@bp.get("/")
@operation(summary="The verification page", tag="page", responses={200: ("An HTML page", None)})
def page() -> Response:
    n = nonce()
    r = html_response(templates.get_template("verify.html").render(nonce=n), policy=csp(n))
    r.headers["Cache-Control"] = "no-cache"
    return r
