"""Request limits of the public service, in one place: the app enforces them and the OpenAPI
document and gunicorn's configuration are derived from them.

The app answers ``414`` (problem+json) for a request target (path and query, as sent) longer than
:data:`MAX_URL_BYTES`. gunicorn's own request-line limit sits well above that, so an over-long
URL normally reaches the app and gets a problem document; only a request line past gunicorn's
limit is refused by gunicorn itself, and :mod:`anchor.api.gunicorn_conf` makes that answer a
problem document too.
"""

from __future__ import annotations

MAX_URL_BYTES = 4096  # path + "?" + query string, percent-encoded as sent
MAX_BODY_BYTES = 256 * 1024  # default request body limit (ServiceConfig.max_body)

# gunicorn (the only server anchor runs the app under); see anchor.api.gunicorn_conf.
GUNICORN_LIMIT_REQUEST_LINE = 8190  # bytes of "METHOD target HTTP/1.1"; gunicorn's maximum
GUNICORN_LIMIT_REQUEST_FIELDS = 100  # header fields per request
GUNICORN_LIMIT_REQUEST_FIELD_SIZE = 8190  # bytes per header field

assert MAX_URL_BYTES + len("OPTIONS  HTTP/1.1") < GUNICORN_LIMIT_REQUEST_LINE
