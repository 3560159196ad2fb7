"""``anchor chain up|down|status``: the local Anvil the embedded defaults use, kept running
in the background between commands, its state persisted under ``var/chain/``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from anchor.app.processes import running_pid, terminate
from anchor.chain.anvil import DevChain, rpc_ready
from anchor.config import Settings, shown_rpc_url
from anchor.core.errors import ChainUnavailable


@dataclass(frozen=True)
class ChainStatus:
    running: bool
    rpc_url: str  # as shown: scheme, host and port (never a hosted RPC's API key)
    pid: int | None
    state_file: Path


def _pid_file(settings: Settings) -> Path:
    return settings.home / "chain" / "anvil.pid"


def _read_pid(settings: Settings) -> int | None:
    return running_pid(_pid_file(settings))


def status(settings: Settings) -> ChainStatus:
    return ChainStatus(rpc_ready(settings.rpc_url), shown_rpc_url(settings.rpc_url), _read_pid(settings), settings.chain_state_file)


def up(settings: Settings) -> tuple[ChainStatus, bool]:
    """Start the local chain unless something already answers at the RPC URL.

    Returns the status and whether this call started it.
    """
    if rpc_ready(settings.rpc_url):
        return status(settings), False
    if not settings.is_local_chain():
        raise ChainUnavailable(f"cannot reach {shown_rpc_url(settings.rpc_url)}, and it is not a local chain anchor can start")
    log = settings.home / "chain" / "anvil.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    port = urlparse(settings.rpc_url).port or 8545
    node = DevChain.start(port=port, state_file=settings.chain_state_file, log_file=log, detach=True)
    _pid_file(settings).write_text(f"{node.process.pid}\n")
    return status(settings), True


def down(settings: Settings, timeout: float = 15.0) -> bool:
    """Stop the chain ``up`` started (Anvil writes its state file on the way out)."""
    pid = _read_pid(settings)
    if pid is None:
        return False
    terminate(pid, timeout)
    _pid_file(settings).unlink(missing_ok=True)
    return True
