"""``GET /``: a page a person can use to check a badge (paste or upload), no build step."""

from __future__ import annotations

from importlib import resources

from flask import Blueprint, Response

from anchor.api.openapi import operation

bp = Blueprint("page", __name__)
_PAGE = resources.files("anchor.templates").joinpath("verify.html").read_text()


@bp.get("/")
@operation(summary="The verification page", tag="page", responses={200: ("An HTML page", None)})
def page() -> Response:
    return Response(_PAGE, mimetype="text/html", headers={
        "Content-Security-Policy": "default-src 'none'; script-src 'self' 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'",
        "X-Content-Type-Options": "nosniff",
    })
