"""The baseline for bench/verifying.py: a bare Flask endpoint returning a constant, served by
the same gunicorn configuration as the real service."""

from flask import Flask, Response

app = Flask(__name__)


@app.get("/bare")
def bare() -> Response:
    return Response('{"ok": true}', mimetype="application/json")
