"""The errors people see: one line, the right exit code, never a traceback (issue 8 §5)."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest

from anchor.chain.anvil import DevChain
from tests.helpers import EXAMPLES, Cli, write_roster

pytestmark = pytest.mark.chain


def _one_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    return lines[0]


def test_an_unfunded_issuer_key_is_told_to_fund_it(anvil: DevChain, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cli = Cli(tmp_path / "home", anvil.rpc_url, capsys)
    key = "0x" + secrets.token_hex(32)  # a fresh account: authorized on chain, but holds no ether
    signing_key = secrets.token_hex(32)  # a fresh account has no development signing key: give it one
    cli.ok("deploy")
    # The admin authorizes the account (admin's ether); binding the signing key is the issuer's
    # own transaction, so registration is the first thing to ask for funds.
    register = cli.subprocess("issuer", "register", "--name", "Uni", ANCHOR_ISSUER_KEY=key, ANCHOR_SIGNING_KEY=signing_key)
    assert register.returncode == 5, register.stderr
    line = _one_line(register.stderr)
    assert "holds 0.000000 ETH" in line and "fund it and run the command again" in line
    assert key[2:] not in register.stderr + register.stdout and signing_key not in register.stderr + register.stdout
    issued = cli.subprocess("issue", str(write_roster(tmp_path / "r.csv", 3)), "--achievement", str(EXAMPLES / "achievement.yaml"),
                            ANCHOR_ISSUER_KEY=key, ANCHOR_SIGNING_KEY=signing_key)
    assert issued.returncode == 0, issued.stderr
    anchored = cli.subprocess("anchor", ANCHOR_ISSUER_KEY=key, ANCHOR_SIGNING_KEY=signing_key)
    assert anchored.returncode == 5
    line = _one_line(anchored.stderr)
    assert "holds 0.000000 ETH" in line and "fund it and run the command again" in line
    assert key[2:] not in anchored.stderr + anchored.stdout  # the key is never printed


def test_a_broken_database_file_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.db"
    bad.write_text("not a database at all\n")
    cli = Cli(tmp_path / "home", "http://127.0.0.1:1", capsys, db_url=f"sqlite:///{bad}")
    done = cli.subprocess("status", ANCHOR_ISSUER_KEY="0x" + "11" * 32)
    assert done.returncode == 7
    assert "file is not a database" in _one_line(done.stderr)


def test_an_unexpected_error_is_one_line_with_exit_70(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Anything that is not an anchor error (here: the home is a file, so it cannot be created)."""
    home = tmp_path / "home"
    home.write_text("a file where a directory should be")
    cli = Cli(home, "http://127.0.0.1:1", capsys)
    done = cli.subprocess("status", ANCHOR_ISSUER_KEY="0x" + "11" * 32)
    assert done.returncode == 70, done.stderr
    line = _one_line(done.stderr)
    assert line.startswith("error: unexpected FileExistsError") and "ANCHOR_DEBUG=1" in line
