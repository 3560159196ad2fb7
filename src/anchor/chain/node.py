"""One chain node: blocks, balances, fees, and a transaction's life (broadcast, receipt, depth).

:class:`Chain` sits on :class:`~anchor.chain.rpc.JsonRpc`; the registry's reads and writes build on
it (``reader``, ``writer``). Sending is split in steps so a caller can persist between them (see
``app.submission``): sign (``writer``), :meth:`Chain.broadcast`, :meth:`Chain.wait_for_receipt`.

A chain's profile travels with it: its fee caps (:class:`FeeCaps`: :meth:`Chain.fees` refuses a
market it cannot pay under them) and its finality (:meth:`Chain.is_final`: ``latest`` counts
confirmations; ``safe``/``finalized`` ask the node for that block tag).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from anchor.chain.rpc import JsonRpc, RetryPolicy, RpcError
from anchor.core.addresses import checksum, keccak256
from anchor.core.errors import ChainError

if TYPE_CHECKING:
    from anchor.config import Settings

FINALITIES = ("latest", "safe", "finalized")
GWEI = 10**9
TAG_TTL = 1.0  # seconds a verifier reuses the safe/finalized block number it read


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


def gwei(wei: int) -> str:
    """``wei`` in gwei, as short as it reads well: 87.2, 0.0012, 50."""
    value = wei / GWEI
    return f"{value:.4g}" if value < 1 else f"{value:.1f}".removesuffix(".0")


class FeeCapExceeded(ChainError):
    """The market fee is above the configured cap: nothing was signed or sent."""

    reason = "fee_cap_exceeded"


@dataclass(frozen=True, slots=True)
class FeeCaps:
    """The most a transaction may offer per gas, in wei (None: no cap)."""

    max_fee: int | None = None
    max_priority_fee: int | None = None

    @classmethod
    def from_gwei(cls, max_fee: float | None, max_priority_fee: float | None) -> FeeCaps:
        return cls(None if max_fee is None else round(max_fee * GWEI),
                   None if max_priority_fee is None else round(max_priority_fee * GWEI))

    def price(self, base_fee: int, tip: int) -> Fees:
        """Fees for a market of ``base_fee`` and suggested ``tip``: the tip held to its cap, the fee
        cap twice the base fee plus the tip (room for six full blocks of +12.5%) held to
        ``max_fee``. :class:`FeeCapExceeded` when even ``base_fee + tip`` is over ``max_fee``:
        such a transaction could not be included now."""
        if self.max_priority_fee is not None:
            tip = min(tip, self.max_priority_fee)
        if self.max_fee is not None:
            tip = min(tip, self.max_fee)
            if base_fee + tip > self.max_fee:
                raise FeeCapExceeded(f"base fee {gwei(base_fee)} gwei + tip {gwei(tip)} gwei exceeds max_fee_gwei "
                                     f"{gwei(self.max_fee)}; raise the cap or wait")
            return Fees(tip, min(2 * base_fee + tip, self.max_fee))
        return Fees(tip, 2 * base_fee + tip)

    def allows(self, fees: Fees) -> bool:
        """Whether ``fees`` (e.g. a re-priced replacement) stays within the caps."""
        return ((self.max_fee is None or fees.max_fee <= self.max_fee)
                and (self.max_priority_fee is None or fees.max_priority_fee <= self.max_priority_fee))


class Chain:
    """One chain, through one or more JSON-RPC URLs (the first preferred, the others fallbacks)."""

    def __init__(self, rpc_url: str | Sequence[str], *, timeout: float = 10.0, chain_id: int | None = None,
                 finality: str = "latest", fee_caps: FeeCaps | None = None, retry: RetryPolicy | None = None) -> None:
        if finality not in FINALITIES:
            raise ChainError(f"finality must be one of {', '.join(FINALITIES)}, got {finality!r}", reason="bad_finality")
        self.rpc = JsonRpc(rpc_url, timeout=timeout, policy=retry, chain_id=chain_id)
        self.rpc_url = self.rpc.url
        self.finality = finality
        self.fee_caps = fee_caps or FeeCaps()
        self._settled: tuple[float, int] | None = None  # (when read, the finality tag's block)

    @classmethod
    def from_settings(cls, settings: Settings, *, timeout: float | None = None) -> Chain:
        """The chain ``settings`` describe: its URLs, chain id, finality, fee caps and retry policy."""
        return cls(settings.rpc_endpoints, timeout=settings.rpc_timeout if timeout is None else timeout,
                   chain_id=settings.chain_id, finality=settings.finality,
                   fee_caps=FeeCaps.from_gwei(settings.max_fee_gwei, settings.max_priority_fee_gwei),
                   retry=RetryPolicy(budget=settings.rpc_retry_seconds, backoff=settings.rpc_backoff,
                                     cooldown=settings.rpc_cooldown))

    @property
    def chain_id(self) -> int:
        return self.rpc.chain_id()

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

    def market(self) -> tuple[int, int]:
        """The latest block's base fee and the node's suggested tip, in wei."""
        latest, tip = self.rpc.batch([("eth_getBlockByNumber", ["latest", False]), ("eth_maxPriorityFeePerGas", [])])
        return _int(latest.get("baseFeePerGas") or 0), _int(tip)

    def fees(self) -> Fees:
        """A tip and a cap of twice the latest base fee plus the tip, within :attr:`fee_caps`;
        :class:`FeeCapExceeded` (one line, nothing sent) when the market is above them."""
        return self.fee_caps.price(*self.market())

    def finalized_block(self) -> int:
        """The number of the newest block that counts as final under :attr:`finality`
        (``latest``: the head; ``safe``/``finalized``: that block tag of the node)."""
        b = self.rpc.call("eth_getBlockByNumber", self.finality, False)
        if b is None:  # a node that has nothing safe/finalized yet (a fresh chain)
            return -1
        return _int(b["number"])

    def settled_head(self, head: int) -> int:
        """The block a verifier counts confirmations up to: ``head`` under ``latest``; the node's
        ``safe``/``finalized`` block otherwise (read at most every :data:`TAG_TTL` seconds: an
        older tag block only delays "confirmed", it never calls a block final too early)."""
        if self.finality == "latest":
            return head
        cached = self._settled
        if cached is not None and time.monotonic() - cached[0] < TAG_TTL:
            return min(cached[1], head)
        number = self.finalized_block()
        self._settled = (time.monotonic(), number)
        return min(number, head)

    def is_final(self, block_number: int, confirmations: int = 1) -> tuple[bool, int]:
        """Whether ``block_number`` is final, and how many confirmations it has: under ``latest``
        at least ``confirmations`` blocks deep (its own included); under ``safe``/``finalized``
        at or below that tag's block."""
        head = self.block_number()
        depth = head - block_number + 1
        if self.finality == "latest":
            return depth >= confirmations, depth
        return block_number <= self.finalized_block(), depth

    def estimate_gas(self, tx: dict[str, Any]) -> int:
        """Gas for ``tx`` (``from``, ``to``, ``data``); a revert raises :class:`RpcError` with its data."""
        return _int(self.rpc.call("eth_estimateGas", tx))

    def broadcast(self, raw: bytes) -> bytes:
        """Send a signed transaction. A node that already knows it is not an error, nor is "nonce
        too low" when the nonce went to this very transaction (a resend after a lost answer, or
        to a fallback URL after the first one took it: the same bytes can only land once)."""
        tx_hash = keccak256(raw)
        try:
            return _bytes(self.rpc.call("eth_sendRawTransaction", "0x" + raw.hex()))
        except RpcError as e:
            text = e.rpc_message.lower()
            if "already known" in text or "already imported" in text or "known transaction" in text:
                return tx_hash
            if "nonce too low" in text and self.transaction_known(tx_hash):
                return tx_hash
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
                final, depth = self.is_final(r.block_number, confirmations)
                if final and self.block(r.block_number).hash == r.block_hash:
                    return r
            if on_wait is not None and depth != shown:
                shown = depth
                on_wait(max(depth, 0), confirmations)
            if time.monotonic() > deadline:
                raise ChainError(f"transaction 0x{tx_hash.hex()} {self.not_final(r is not None, depth, confirmations)} "
                                 f"after {timeout:.0f} s", reason="tx_timeout")
            time.sleep(poll)

    def not_final(self, mined: bool, depth: int, confirmations: int) -> str:
        """How far a transaction got, for a timeout message."""
        if not mined:
            return "not mined"
        if self.finality == "latest":
            return f"mined but {max(depth, 0)} of {confirmations} confirmations"
        return f"mined ({max(depth, 0)} blocks deep) but not yet {self.finality}"

    def dev_rpc(self, method: str, *params: Any) -> Any:
        """A node-specific call (``anvil_mine``, ``evm_setAutomine``...): local chains and tests only."""
        return self.rpc.call_once(method, *params)
