"""One chain node: blocks, balances, fees, and a transaction's life (broadcast, receipt, depth).

:class:`Chain` sits on :class:`~anchor.chain.rpc.JsonRpc`; the registry's reads and writes build on
it (``reader``, ``writer``). Sending is split in steps so a caller can persist between them (see
``app.submission``): sign (``writer``), :meth:`Chain.broadcast`, :meth:`Chain.wait_for_receipt`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from anchor.chain.rpc import JsonRpc, RpcError
from anchor.core.addresses import checksum, keccak256
from anchor.core.errors import ChainError


def _int(value: Any) -> int:
    return int(value, 16) if isinstance(value, str) else int(value)


def _bytes(value: Any) -> bytes:
    return bytes.fromhex(str(value)[2:])


@dataclass(frozen=True, slots=True)
class Block:
    number: int
    hash: bytes
    time: int
    base_fee: int  # 0 on chains without EIP-1559


@dataclass(frozen=True, slots=True)
class Receipt:
    tx_hash: bytes
    block_number: int
    block_hash: bytes
    gas_used: int
    status: int
    contract_address: str | None = None
    logs: tuple[dict[str, Any], ...] = field(repr=False, default=())


@dataclass(frozen=True, slots=True)
class Fees:
    """EIP-1559 fee fields of a transaction, in wei."""

    max_priority_fee: int
    max_fee: int

    def as_tx(self) -> dict[str, int]:
        return {"maxPriorityFeePerGas": self.max_priority_fee, "maxFeePerGas": self.max_fee}

    def bumped(self, other: Fees) -> Fees:
        """Fees that replace a pending transaction priced ``self``: at least +12.5% on both fields
        (what geth and anvil require of a replacement), and never below the market ``other``."""
        tip = max(other.max_priority_fee, self.max_priority_fee * 9 // 8 + 1)
        return Fees(tip, max(other.max_fee, self.max_fee * 9 // 8 + 1, tip))


class Chain:
    """One JSON-RPC endpoint."""

    def __init__(self, rpc_url: str, *, timeout: float = 10.0) -> None:
        self.rpc = JsonRpc(rpc_url, timeout=timeout)
        self.rpc_url = rpc_url
        self._chain_id: int | None = None

    @property
    def chain_id(self) -> int:
        if self._chain_id is None:
            self._chain_id = _int(self.rpc.call("eth_chainId"))
        return self._chain_id

    def block_number(self) -> int:
        return _int(self.rpc.call("eth_blockNumber"))

    def block(self, number: int | str = "latest") -> Block:
        tag = hex(number) if isinstance(number, int) else number
        b = self.rpc.call("eth_getBlockByNumber", tag, False)
        if b is None:
            raise ChainError(f"block {number} does not exist on chain {self.chain_id}", reason="no_block")
        return Block(_int(b["number"]), _bytes(b["hash"]), _int(b["timestamp"]), _int(b.get("baseFeePerGas") or 0))

    def block_time(self, number: int | str) -> int:
        return self.block(number).time

    def is_reachable(self) -> bool:
        try:
            self.block_number()
            return True
        except ChainError:
            return False

    def code_at(self, address: str) -> bytes:
        return _bytes(self.rpc.call("eth_getCode", checksum(address), "latest"))

    def nonce_of(self, address: str, block: str = "pending") -> int:
        return _int(self.rpc.call("eth_getTransactionCount", checksum(address), block))

    def balance_of(self, address: str) -> int:
        return _int(self.rpc.call("eth_getBalance", checksum(address), "latest"))

    def fees(self) -> Fees:
        """A tip and a cap of twice the latest base fee plus the tip."""
        latest, tip = self.rpc.batch([("eth_getBlockByNumber", ["latest", False]), ("eth_maxPriorityFeePerGas", [])])
        base = _int(latest.get("baseFeePerGas") or 0)
        return Fees(_int(tip), 2 * base + _int(tip))

    def estimate_gas(self, tx: dict[str, Any]) -> int:
        """Gas for ``tx`` (``from``, ``to``, ``data``); a revert raises :class:`RpcError` with its data."""
        return _int(self.rpc.call("eth_estimateGas", tx))

    def broadcast(self, raw: bytes) -> bytes:
        """Send a signed transaction. A node that already knows it is not an error."""
        try:
            return _bytes(self.rpc.call("eth_sendRawTransaction", "0x" + raw.hex()))
        except RpcError as e:
            text = e.rpc_message.lower()
            if "already known" in text or "already imported" in text or "known transaction" in text:
                return keccak256(raw)
            raise

    def receipt(self, tx_hash: bytes) -> Receipt | None:
        """The receipt of ``tx_hash`` if it is mined, else None."""
        r = self.rpc.call("eth_getTransactionReceipt", "0x" + tx_hash.hex())
        if r is None:
            return None
        created = r.get("contractAddress")
        return Receipt(_bytes(r["transactionHash"]), _int(r["blockNumber"]), _bytes(r["blockHash"]), _int(r["gasUsed"]),
                       _int(r["status"]), checksum(created) if created else None, tuple(r.get("logs") or ()))

    def transaction_known(self, tx_hash: bytes) -> bool:
        """Whether the node knows ``tx_hash`` at all (pending or mined)."""
        return self.rpc.call("eth_getTransactionByHash", "0x" + tx_hash.hex()) is not None

    def wait_for_receipt(self, tx_hash: bytes, *, confirmations: int = 1, timeout: float = 120.0, poll: float = 0.05,
                         on_wait: Callable[[int, int], None] | None = None) -> Receipt:
        """Wait until ``tx_hash`` is mined and has ``confirmations`` blocks (its own included).

        ``on_wait(have, want)`` is told the depth each time it changes. A receipt whose block left
        the canonical chain (reorg) is waited for again.
        """
        deadline = time.monotonic() + timeout
        shown = -1
        while True:
            r = self.receipt(tx_hash)
            depth = 0
            if r is not None:
                depth = self.block_number() - r.block_number + 1
                if depth >= confirmations and self.block(r.block_number).hash == r.block_hash:
                    return r
            if on_wait is not None and depth != shown:
                shown = depth
                on_wait(max(depth, 0), confirmations)
            if time.monotonic() > deadline:
                state = f"mined but {max(depth, 0)} of {confirmations} confirmations" if r else "not mined"
                raise ChainError(f"transaction 0x{tx_hash.hex()} {state} after {timeout:.0f} s", reason="tx_timeout")
            time.sleep(poll)

    def dev_rpc(self, method: str, *params: Any) -> Any:
        """A node-specific call (``anvil_mine``, ``evm_setAutomine``...): local chains and tests only."""
        return self.rpc.call(method, *params)
