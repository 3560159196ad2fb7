"""``anchor db`` as a new user meets it: on a home that does not exist yet (as ``scripts/demo`` runs
it before anything else), and run twice."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import Cli


def test_db_upgrade_creates_a_new_home_at_the_head_and_a_rerun_does_nothing(tmp_path: Path,
                                                                           capsys: pytest.CaptureFixture[str]) -> None:
    cli = Cli(tmp_path / "new" / "home", "http://127.0.0.1:9", capsys)  # no chain needed
    first = cli.ok("db", "upgrade")
    assert "a new database -> schema" in first and (tmp_path / "new" / "home" / "anchor.db").is_file()
    assert "nothing to do" in cli.ok("db", "upgrade")
    current = cli.ok("db", "current")
    assert "run `anchor db upgrade`" not in current
