"""Writes to the registry: build, estimate (reverts decoded), price, sign, send, wait.

:class:`Registry` is a :class:`~anchor.chain.reader.RegistryReader` that can also send. A call is
split so the caller can persist between steps (see ``app.submission``): :meth:`Registry.prepare`
returns a signed :class:`PreparedTx` (nothing sent yet); the node's ``broadcast`` and
``wait_for_receipt`` do the rest. eth-account signs (imported only when a key is loaded); no web3.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from anchor.chain.abi import encode
from anchor.chain.artifact import load_artifact
from anchor.chain.node import Chain, FeeCapExceeded, Fees, Receipt
from anchor.chain.reader import RegistryReader
from anchor.chain.rpc import RpcError
from anchor.core.addresses import checksum
from anchor.core.errors import ChainError, ContractRevert

if TYPE_CHECKING:
    from anchor.chain.signer import Signer

GAS_HEADROOM = (6, 5)  # 20%: the estimate is exact for the state it ran on, and the state may move
# How a refusal names the write (``anchoring refused: base fee ... exceeds max_fee_gwei ...``).
_ACTIONS = {None: "deployment", "anchor": "anchoring", "revoke": "revocation", "revokeBatch": "revocation",
            "addIssuer": "adding the issuer", "removeIssuer": "removing the issuer", "bindSigningKey": "binding the signing key"}


@dataclass(frozen=True, slots=True)
class PreparedTx:
    """A signed transaction, ready to persist and broadcast."""

    raw: bytes
    tx_hash: bytes
    nonce: int
    sender: str
    fees: Fees
    gas: int


class Registry(RegistryReader):
    """The ``CredentialRegistry`` at ``address`` on ``chain``: reads, and writes signed by a caller's key."""

    # ------------------------------------------------------------------ deployment

    @classmethod
    def deploy(cls, chain: Chain, signer: Signer, *, admin: str | None = None, confirmations: int = 1) -> tuple[Registry, Receipt]:
        """Deploy a new registry whose admin is ``admin`` (default: the deployer)."""
        artifact = load_artifact()
        data = bytes.fromhex(artifact.bytecode[2:]) + encode(["address"], [checksum(admin or signer.address)])
        prepared = _prepare(chain, signer, None, data)
        chain.broadcast(prepared.raw)
        receipt = chain.wait_for_receipt(prepared.tx_hash, confirmations=confirmations)
        if receipt.status != 1 or receipt.contract_address is None:
            raise ChainError("registry deployment failed", reason="deploy_failed")
        return cls(chain, receipt.contract_address, artifact=artifact), receipt

    # ------------------------------------------------------------------ transactions

    def prepare(self, signer: Signer, fn_name: str, *args: Any, nonce: int | None = None, fees: Fees | None = None) -> PreparedTx:
        """Build, gas-estimate (a revert raises :class:`ContractRevert`), price and sign a call.

        Raises ChainError ``insufficient_funds`` (one line saying how much is needed) when the
        sender cannot pay for it at current fees, and :class:`FeeCapExceeded` when the market is
        above the chain's fee caps, before anything is signed or sent.
        """
        try:
            return _prepare(self.chain, signer, self.address, self.abi.fn(fn_name).data(*args), nonce=nonce, fees=fees,
                            action=_ACTIONS.get(fn_name, fn_name))
        except RpcError as e:
            data = e.revert_data
            if data is not None:
                raise self.abi.decode_revert(data) from None
            if "revert" in e.rpc_message.lower():
                raise ContractRevert(f"the registry reverted: {e.rpc_message}", reason="reverted", error_name="") from None
            raise

    def transact(self, signer: Signer, fn_name: str, *args: Any, confirmations: int = 1, timeout: float = 120.0) -> Receipt:
        """Prepare, broadcast and wait; a reverted transaction raises :class:`ChainError` ``tx_reverted``."""
        prepared = self.prepare(signer, fn_name, *args)
        self.chain.broadcast(prepared.raw)
        receipt = self.chain.wait_for_receipt(prepared.tx_hash, confirmations=confirmations, timeout=timeout)
        if receipt.status != 1:
            raise ChainError(f"{fn_name} reverted in block {receipt.block_number}", reason="tx_reverted")
        return receipt

    def add_issuer(self, admin: Signer, issuer: str, profile_uri: str, **kw: Any) -> Receipt:
        return self.transact(admin, "addIssuer", checksum(issuer), profile_uri, **kw)

    def remove_issuer(self, admin: Signer, issuer: str, **kw: Any) -> Receipt:
        return self.transact(admin, "removeIssuer", checksum(issuer), **kw)

    def anchor(self, issuer: Signer, root: bytes, leaf_count: int, **kw: Any) -> Receipt:
        return self.transact(issuer, "anchor", root, leaf_count, **kw)

    def revoke(self, issuer: Signer, root: bytes, words: Sequence[tuple[int, int]], reason: int, **kw: Any) -> Receipt:
        return self.transact(issuer, "revoke", root, [tuple(w) for w in words], reason, **kw)

    def revoke_batch(self, issuer: Signer, root: bytes, reason: int, **kw: Any) -> Receipt:
        return self.transact(issuer, "revokeBatch", root, reason, **kw)

    def bind_signing_key(self, issuer: Signer, public_key: bytes, **kw: Any) -> Receipt:
        """Bind the raw 32-byte Ed25519 ``public_key`` to ``issuer``'s account, for good. The
        registry refuses (ContractRevert, before anything is sent) a caller that is not an active
        issuer (``unauthorized_issuer``), the zero key (``zero_signing_key``) and a key the
        caller already bound (``signing_key_already_bound``); see :mod:`anchor.app.keybinding`.
        A registry of a release before signing keys has no such function: ChainError
        ``registry_predates_signing_keys``, one line, before anything is signed."""
        self.require_signing_keys()
        return self.transact(issuer, "bindSigningKey", self._signing_key(public_key), **kw)


def _prepare(chain: Chain, signer: Signer, to: str | None, data: bytes, *, nonce: int | None = None,
             fees: Fees | None = None, action: str = "deployment") -> PreparedTx:
    call: dict[str, Any] = {"from": signer.address, "data": "0x" + data.hex()}
    if to is not None:
        call["to"] = to
    if fees is None:
        try:
            fees = chain.fees()
        except FeeCapExceeded as e:
            raise FeeCapExceeded(f"{action} refused: {e.message}") from None
    gas = chain.estimate_gas(call) * GAS_HEADROOM[0] // GAS_HEADROOM[1]
    need = gas * fees.max_fee
    balance = chain.balance_of(signer.address)
    if balance < need:
        raise ChainError(f"account {signer.address} holds {_eth(balance)} but this transaction may cost up to {_eth(need)} "
                         f"at current fees on chain {chain.chain_id}: fund it and run the command again",
                         reason="insufficient_funds")
    tx: dict[str, Any] = {"type": 2, "chainId": chain.chain_id, "nonce": chain.nonce_of(signer.address) if nonce is None else nonce,
                          "gas": gas, "value": 0, "data": data, **fees.as_tx()}
    if to is not None:
        tx["to"] = to
    raw, tx_hash = signer.sign_transaction(tx)
    return PreparedTx(raw=raw, tx_hash=tx_hash, nonce=int(tx["nonce"]), sender=signer.address, fees=fees, gas=gas)


def _eth(wei: int) -> str:
    return f"{wei / 10**18:.6f} ETH"


def fees_of(raw: bytes) -> Fees:
    """The EIP-1559 fee fields of a signed type-2 transaction, read back from its bytes."""
    import rlp  # a dependency of eth-account; only needed when re-pricing

    if raw[:1] != b"\x02":
        raise ChainError("not an EIP-1559 (type 2) transaction", reason="bad_transaction")
    fields = rlp.decode(raw[1:])
    return Fees(int.from_bytes(fields[2], "big"), int.from_bytes(fields[3], "big"))
