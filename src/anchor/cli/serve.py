"""``anchor serve``: the public verification API and page under gunicorn."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from anchor.cli.app import App, pass_app, say

BIND_ENV = "ANCHOR_SERVICE_BIND"  # host:port the service listens on, for `serve` and `demo`
DEFAULT_BIND = "127.0.0.1:8000"


F = TypeVar("F", bound=Callable[..., Any])


def bind_option(fn: F) -> F:
    return click.option("--bind", default=DEFAULT_BIND, show_default=True, envvar=BIND_ENV, show_envvar=True,
                        help="Address (host:port) for gunicorn to listen on.")(fn)


@click.command()
@bind_option
@click.option("--workers", type=click.IntRange(min=1), default=2, show_default=True, help="gunicorn worker processes.")
@click.option("--threads", type=click.IntRange(min=1), default=1, show_default=True, help="Threads per worker.")
@click.option("--detach", is_flag=True, help="Run in the background (pid and log under <home>/service).")
@click.option("--stop", is_flag=True, help="Stop a service started with --detach.")
@pass_app
def serve(app: App, bind: str, workers: int, threads: int, detach: bool, stop: bool) -> None:
    """Serve the public verification API and page with gunicorn.

    The registry is --registry, else the one `anchor deploy` recorded in the database, else
    <home>/deployment.json: a replica needs only --db and --rpc (see the README)."""
    from anchor.cli import serving

    if stop:
        say("service stopped" if serving.stop(app.settings) else "no detached service is running")
        return
    app.existing_store()  # opening checks the schema: an older one is refused, naming `anchor db upgrade`
    choice = app.registry_choice  # looked up once here; the workers get the address and chain id
    if detach:
        url = serving.start_detached(app.settings, choice, bind=bind, workers=workers, threads=threads)
        say(f"serving {url} (registry {choice.address} from {_SOURCES[choice.source]}); log {serving.log_file(app.settings)}; "
            "stop with `anchor serve --stop`")
        return
    serving.run_foreground(app.settings, choice, bind=bind, workers=workers, threads=threads)


_SOURCES = {"settings": "the settings", "database": "the database", "deployment.json": "deployment.json"}
