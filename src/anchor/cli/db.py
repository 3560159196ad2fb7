"""``anchor db upgrade|current|history``: the issuer database's schema migrations.

Every other command refuses a database of an older schema with one line naming
``anchor db upgrade --db URL``; a new database is created at the current schema by any command.
"""

from __future__ import annotations

import click

from anchor.cli.app import App, pass_app, say


def _db_option(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
    if value is not None:
        app = ctx.ensure_object(App)
        app.settings = app.settings.with_overrides(database_url=value)


db_url_option = click.option("--db", "database_url", expose_value=False, callback=_db_option, is_eager=True,
                             help="Database URL (overrides the global option).")


@click.group()
def db() -> None:
    """The issuer database's schema: upgrade it, show its revision and the history."""


@db.command("upgrade")
@db_url_option
@click.option("--no-backup", is_flag=True, help="SQLite: skip the copy of the file taken before upgrading.")
@pass_app
def db_upgrade(app: App, no_backup: bool) -> None:
    """Bring the database to this anchor's schema, in one transaction (nothing changes if a step
    fails). SQLite: the file is copied next to itself first. PostgreSQL: take a pg_dump first."""
    from anchor.store import migrations, safe_url

    url = app.settings.db_url
    done = migrations.upgrade(url, backup=not no_backup)
    if done.before == done.after:
        say(f"{safe_url(url)} is at schema {int(done.after)} (revision {done.after}): nothing to do")
        return
    if done.backup is not None:
        say(f"backup: {done.backup}")
    found = "a new database" if done.before is None else \
        f"schema {int(done.before)}" + (" (recognised from its tables)" if done.stamped else "")
    say(f"upgraded {safe_url(url)}: {found} -> schema {int(done.after)} (revision {done.after})")


@db.command("current")
@db_url_option
@pass_app
def db_current(app: App) -> None:
    """The database's schema revision, and this anchor's."""
    from anchor.store import migrations, safe_url

    found = migrations.current(app.settings.db_url)
    state = "new (no tables)" if found is None else found
    hint = ("" if found in (None, migrations.HEAD) else
            ": made by a newer anchor; use the release that made it" if migrations.newer_than_head(found) else
            ": run `anchor db upgrade`")
    say(f"{safe_url(app.settings.db_url)}: {state}; this anchor: {migrations.HEAD}{hint}")


@db.command("history")
def db_history() -> None:
    """Every schema revision, oldest first."""
    from anchor.store import migrations

    for revision in migrations.history():
        say(f"{revision.revision}  {revision.title}")
