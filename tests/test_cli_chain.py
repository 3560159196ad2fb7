"""``anchor chain up|status|down``: the local Anvil kept running between commands, in a private
home on a free port, its state persisted across a restart."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests

from anchor.chain.anvil import free_port
from anchor.config import read_deployment
from tests.helpers import Cli, pid_running, port_open, wait_until

pytestmark = [pytest.mark.chain, pytest.mark.slow]


def rpc(url: str, method: str, *params: str) -> object:
    r = requests.post(url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}, timeout=5)
    return r.json()["result"]


def test_chain_up_status_down(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    port = free_port()
    cli = Cli(tmp_path / "home", f"http://127.0.0.1:{port}", capsys)
    state_file = cli.home / "chain" / "anvil-state.json"
    pid_file = cli.home / "chain" / "anvil.pid"
    try:
        status = cli.subprocess("chain", "status")
        assert status.returncode == 4 and f"127.0.0.1:{port}: down" in status.stdout

        up = cli.subprocess("chain", "up")
        assert up.returncode == 0, up.stderr
        assert f"chain started at http://127.0.0.1:{port} (state file {state_file})" in up.stdout
        pid = int(pid_file.read_text())
        assert pid_running(pid) and port_open(port)

        again = cli.subprocess("chain", "up")
        assert again.returncode == 0 and "chain already running" in again.stdout
        assert int(pid_file.read_text()) == pid  # no second Anvil

        status = cli.subprocess("chain", "status")
        assert status.returncode == 0 and f"up (pid {pid})" in status.stdout

        # Something worth keeping: a registry, then a restart.
        assert cli.subprocess("deploy").returncode == 0
        record = read_deployment(cli.home / "deployment.json")
        assert record is not None
        registry = str(record["registry"])
        assert rpc(cli.rpc_url, "eth_getCode", registry, "latest") != "0x"

        down = cli.subprocess("chain", "down")
        assert down.returncode == 0 and "chain stopped" in down.stdout
        assert wait_until(lambda: not pid_running(pid), 5) and not port_open(port)
        assert not pid_file.exists()
        assert state_file.stat().st_size > 0

        status = cli.subprocess("chain", "status")
        assert status.returncode == 4 and f"127.0.0.1:{port}: down" in status.stdout
        assert "no chain started by anchor is running" in cli.subprocess("chain", "down").stdout

        # The state file brings the registry back.
        up = cli.subprocess("chain", "up")
        assert up.returncode == 0 and "chain started" in up.stdout
        assert rpc(cli.rpc_url, "eth_getCode", registry, "latest") != "0x"
    finally:
        cli.subprocess("chain", "down")
    assert not port_open(port)


def test_anvils_persisted_states_go_to_a_directory_stopping_removes() -> None:
    """Anvil writes the states it stops keeping in memory to disk (about 0.2 GB per 1,000 blocks);
    under ~/.foundry they outlived every run (the auditing bench left 36 GB). Ours: removed on stop
    and on kill."""
    from anchor.chain.anvil import DevChain

    for end in ("stop", "kill"):
        chain = DevChain.start()
        cache = chain.cache_dir
        assert cache is not None and cache.is_dir() and str(cache) in " ".join(map(str, chain.process.args))  # type: ignore[arg-type]
        getattr(chain, end)()
        assert not cache.exists(), end
