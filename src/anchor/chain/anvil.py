"""A local Anvil node the project starts itself: for the demo, the tests and the benchmarks.

Anvil comes from npm (``@foundry-rs/anvil``); :func:`anvil_binary` finds it in the project's
``node_modules`` (or ``$ANCHOR_ANVIL``, or ``anvil`` on PATH). With a state file, Anvil loads it
at start and dumps it on exit and every few seconds, so a restart loses nothing.
"""

from __future__ import annotations

import glob
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests

from anchor.chain.artifact import project_root
from anchor.core.errors import ChainUnavailable, ConfigError

HARDFORK = "prague"  # the EVM version the registry is compiled for


def anvil_binary() -> Path:
    """Path of the anvil executable, or :class:`ConfigError` saying how to get one."""
    configured = os.environ.get("ANCHOR_ANVIL")
    if configured:
        return Path(configured)
    pattern = str(project_root() / "node_modules" / "@foundry-rs" / "anvil-*" / "bin" / "anvil")
    found = sorted(glob.glob(pattern))
    if found:
        return Path(found[0])
    on_path = shutil.which("anvil")
    if on_path:
        return Path(on_path)
    raise ConfigError("anvil not found: run `npm ci` in the project root (or set $ANCHOR_ANVIL)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rpc_ready(url: str, timeout: float = 0.5) -> bool:
    try:
        r = requests.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}, timeout=timeout)
        return r.ok and "result" in r.json()
    except (requests.RequestException, ValueError):
        return False


@dataclass
class DevChain:
    """A running Anvil process."""

    port: int
    process: subprocess.Popen[bytes]
    state_file: Path | None = None
    log_file: Path | None = None
    chain_id: int = 31337
    _log: object = field(default=None, repr=False)
    # Where Anvil writes the states it no longer keeps in memory (one per block: a run that mines
    # 100,000 blocks writes tens of GB). Ours, not ~/.foundry's, so that stopping removes it.
    cache_dir: Path | None = None

    @property
    def rpc_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @classmethod
    def start(
        cls,
        *,
        port: int | None = None,
        state_file: Path | None = None,
        log_file: Path | None = None,
        chain_id: int = 31337,
        block_time: float | None = None,
        slots_in_an_epoch: int | None = None,
        base_fee: int | None = None,
        detach: bool = False,
        timeout: float = 20.0,
    ) -> DevChain:
        """Start Anvil on 127.0.0.1 and wait until it answers RPC calls.

        ``detach`` starts it in its own session so it outlives this process (the demo).
        ``slots_in_an_epoch``: Anvil's ``safe`` block is this many blocks behind the head and its
        ``finalized`` block twice as many (default 32). ``base_fee``: the genesis base fee (wei).
        """
        port = port or free_port()
        args = [
            str(anvil_binary()),
            "--host", "127.0.0.1",
            "--port", str(port),
            "--chain-id", str(chain_id),
            "--hardfork", HARDFORK,
            "--silent",
        ]  # fmt: skip
        if block_time:
            args += ["--block-time", str(block_time)]
        if slots_in_an_epoch is not None:
            args += ["--slots-in-an-epoch", str(slots_in_an_epoch)]
        if base_fee is not None:
            args += ["--block-base-fee-per-gas", str(base_fee)]
        if state_file is not None:
            state_file.parent.mkdir(parents=True, exist_ok=True)
            args += ["--state", str(state_file), "--state-interval", "1"]
        cache_dir = Path(tempfile.mkdtemp(prefix="anchor-anvil-")) if not detach else None
        if cache_dir is not None:
            args += ["--cache-path", str(cache_dir)]
        log = open(log_file, "ab") if log_file else subprocess.DEVNULL
        process = subprocess.Popen(
            args, stdout=log, stderr=subprocess.STDOUT if log_file else subprocess.DEVNULL, start_new_session=detach
        )
        chain = cls(port, process, state_file, log_file, chain_id, log, cache_dir)
        deadline = time.monotonic() + timeout
        while not rpc_ready(chain.rpc_url):
            if process.poll() is not None:
                raise ChainUnavailable(f"anvil exited with code {process.returncode} before answering on port {port}")
            if time.monotonic() > deadline:
                chain.stop()
                raise ChainUnavailable(f"anvil did not answer on port {port} within {timeout:.0f} s")
            time.sleep(0.05)
        return chain

    def stop(self, timeout: float = 10.0) -> None:
        """Stop gracefully (Anvil dumps its state on SIGTERM), then hard if it hangs."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if hasattr(self._log, "close"):
            self._log.close()  # type: ignore[union-attr]
        self._remove_cache()

    def _remove_cache(self) -> None:
        if self.cache_dir is not None and self.process.poll() is not None:
            shutil.rmtree(self.cache_dir, ignore_errors=True)

    def kill(self) -> None:
        """Stop abruptly, as a crash would (state since the last periodic dump is lost)."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self._remove_cache()

    def __enter__(self) -> DevChain:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
