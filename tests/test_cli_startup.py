"""The command line starts without loading the heavy libraries: ``anchor --help`` and every
subcommand's ``--help`` work, and none of them imports web3, eth-account, SQLAlchemy, Flask,
requests (or the other libraries a command loads only when it runs)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

HEAVY = ("web3", "eth_account", "eth_abi", "eth_utils", "sqlalchemy", "flask", "requests", "tqdm", "jsonschema")


def anchor_command() -> list[str]:
    """The installed ``anchor`` console script next to this interpreter, else ``python -m anchor.cli``."""
    script = Path(sys.executable).with_name("anchor")
    return [str(script)] if script.exists() else [sys.executable, "-m", "anchor.cli"]


def test_help_exits_zero() -> None:
    top = subprocess.run([*anchor_command(), "--help"], capture_output=True, text=True, timeout=60)
    assert top.returncode == 0, top.stderr
    for command in ("chain", "deploy", "issuer", "issue", "anchor", "export", "revoke", "status", "verify", "audit",
                    "reanchor", "serve", "demo", "keystore"):
        assert f"\n  {command} " in top.stdout, f"{command} missing from anchor --help"
    verify = subprocess.run([*anchor_command(), "verify", "--help"], capture_output=True, text=True, timeout=60)
    assert verify.returncode == 0, verify.stderr
    assert "Usage: anchor verify [OPTIONS] BADGE" in verify.stdout and "--rpc" in verify.stdout


def test_python_m_anchor_cli_returns_the_exit_code() -> None:
    ok = subprocess.run([sys.executable, "-m", "anchor.cli", "--help"], capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0 and "Usage: anchor" in ok.stdout
    bad = subprocess.run([sys.executable, "-m", "anchor.cli", "no-such-command"], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "No such command" in bad.stderr


PROBE = """
import contextlib, io, json, sys
import click
from anchor.cli.main import cli, main

heavy = {heavy!r}
loaded = {{"import": sorted(m for m in heavy if m in sys.modules)}}
paths = [[]]
def walk(group, prefix):
    for name, command in group.commands.items():
        paths.append(prefix + [name])
        if isinstance(command, click.Group):
            walk(command, prefix + [name])
walk(cli, [])
codes = {{}}
for path in paths:
    with contextlib.redirect_stdout(io.StringIO()):
        codes[" ".join(path)] = main([*path, "--help"])
loaded["help"] = sorted(m for m in heavy if m in sys.modules)
loaded["codes"] = codes
print(json.dumps(loaded))
"""


def test_importing_and_every_help_load_no_heavy_library() -> None:
    probe = subprocess.run([sys.executable, "-c", PROBE.format(heavy=HEAVY)], capture_output=True, text=True, timeout=120)
    assert probe.returncode == 0, probe.stderr
    result = json.loads(probe.stdout)
    assert result["import"] == [], f"importing anchor.cli.main loads {result['import']}"
    assert result["help"] == [], f"some --help loads {result['help']}"
    codes = result["codes"]
    assert {"", "verify", "chain up", "issuer register", "audit history", "serve", "demo"} <= set(codes)
    assert set(codes.values()) == {0}, codes
