"""``anchor issuer key bind``: bind the issuer's Ed25519 credential-signing key to its account on chain.

The binding is what lets anchor's verifier trust a Data Integrity signature from the chain alone:
the proof names a key, and the registry says whether (and since which block) the batch's issuer
account bound it. Bindings are never undone, so rotating to a new key keeps the old one listed
and the credentials it signed keep verifying.

Binding is idempotent: the view is read first and an already bound key is reported, not sent
again; when another run's binding of the key is pending (the registry refuses ours at the gas
estimate) or got mined first (ours reverts), that binding is waited for and reported the same way.
Only the registry decides who may bind, and its refusals come back as anchor errors with a
sentence saying what to do.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from anchor.chain.node import Receipt
from anchor.chain.signer import Signer
from anchor.chain.writer import Registry
from anchor.core.ed25519 import public_multibase
from anchor.core.errors import ChainError, ContractRevert, InputError

__all__ = ["BindReport", "bind_signing_key", "check_public_key"]

PUBLIC_KEY_BYTES = 32
_POLL = 0.1  # seconds between reads while someone else's binding is pending


@dataclass(frozen=True, slots=True)
class BindReport:
    """Where the key stands on chain after :func:`bind_signing_key`."""

    issuer: str  # the issuer account the key is bound to
    public_key: bytes  # raw 32-byte Ed25519 public key
    sent: bool  # False: it was bound already, nothing was sent
    block: int  # block of the binding
    index: int  # its number in the issuer's key history (0 = first)
    keys: int  # how many keys the issuer has bound in all
    tx_hash: bytes | None  # the binding transaction (None if its event could not be found)

    @property
    def summary(self) -> str:
        key = public_multibase(self.public_key)  # as verification methods and DID documents spell it
        where = f"in block {self.block} (key index {self.index}; {self.keys} bound in all)"
        if self.sent:
            return f"bound signing key {key} to issuer {self.issuer} {where}"
        return f"signing key {key} was already bound to issuer {self.issuer} {where}: nothing sent"


def check_public_key(public_key: bytes) -> bytes:
    """``public_key`` if it can be bound: 32 raw bytes, not all zero (InputError otherwise)."""
    if not isinstance(public_key, bytes | bytearray) or len(public_key) != PUBLIC_KEY_BYTES:
        size = len(public_key) if isinstance(public_key, bytes | bytearray) else type(public_key).__name__
        raise InputError(f"a signing key is a raw {PUBLIC_KEY_BYTES}-byte Ed25519 public key, got {size}",
                         reason="bad_signing_key")
    if not any(public_key):
        raise InputError("the all-zero signing key cannot be bound", reason="zero_signing_key")
    return bytes(public_key)


def bind_signing_key(registry: Registry, public_key: bytes, *, issuer: Signer, confirmations: int = 1,
                     receipt_timeout: float = 120.0) -> BindReport:
    """Bind ``public_key`` to ``issuer``'s account unless it is bound already. Either way, return
    once the binding is ``confirmations`` blocks deep on the canonical chain.

    Raises InputError (``bad_signing_key``, ``zero_signing_key``) for a key the registry would
    refuse; ContractRevert ``unauthorized_issuer`` when ``issuer`` is not an active issuer;
    ChainError ``insufficient_funds`` before sending, ``tx_timeout``, ``tx_reverted`` or
    ``binding_pending`` (someone else's binding of the key not mined in time) after.
    """
    key = check_public_key(public_key)
    who = issuer.address
    if registry.signing_key_block(who, key):
        return _settled(registry, who, key, None, confirmations=confirmations, timeout=receipt_timeout)
    try:
        receipt = registry.bind_signing_key(issuer, key, confirmations=confirmations, timeout=receipt_timeout)
    except ContractRevert as e:
        if e.reason == "signing_key_already_bound":  # by a transaction mined, or pending, since our read
            return _settled(registry, who, key, None, confirmations=confirmations, timeout=receipt_timeout)
        raise _explained(e, registry, who) from None
    except ChainError as e:
        # Reverted on chain although the estimate passed: an earlier transaction (e.g. sent through
        # another node) bound the key first. Then it is bound, and that is what was asked.
        if e.reason == "tx_reverted" and registry.signing_key_block(who, key):
            return _settled(registry, who, key, None, confirmations=confirmations, timeout=receipt_timeout)
        raise
    return _settled(registry, who, key, receipt, confirmations=confirmations, timeout=receipt_timeout)


def _settled(registry: Registry, who: str, key: bytes, receipt: Receipt | None, *, confirmations: int,
             timeout: float) -> BindReport:
    """The binding as the chain records it once ``confirmations`` deep: ours (``receipt``), or an
    earlier one (waited for if it is still pending, then for its confirmations)."""
    deadline = time.monotonic() + timeout
    while not registry.signing_key_block(who, key):
        if receipt is not None:
            raise ChainError(f"signing key 0x{key.hex()} is not bound to {who} although its binding was confirmed "
                             "(a reorg dropped it?): run the command again", reason="binding_missing")
        if time.monotonic() > deadline:
            raise ChainError(f"a transaction binding signing key 0x{key.hex()} to {who} is pending but was not mined "
                             f"within {timeout:.0f} s: run the command again once it is", reason="binding_pending")
        time.sleep(_POLL)
    found: tuple[int, bytes] | None = None
    if receipt is not None:
        found = next(((int(args["index"]), receipt.tx_hash) for name, args in registry.receipt_events(receipt)
                      if name == "SigningKeyBound" and bytes(args["publicKey"]) == key), None)
    if found is None:
        block = registry.signing_key_block(who, key)
        topics = ["0x" + registry.event_topic("SigningKeyBound").hex(), "0x" + bytes(12).hex() + who[2:].lower(),
                  "0x" + key.hex()]
        found = next(((int(ev.args["index"]), ev.tx_hash) for ev in registry.events(from_block=block, to_block=block, topics=topics)),
                     None)
    index, tx_hash = found if found is not None else (_index_in_history(registry, who, key), None)
    if receipt is None and tx_hash is not None:  # an earlier binding: as deep as ours would have been
        registry.chain.wait_for_receipt(tx_hash, confirmations=confirmations, timeout=max(deadline - time.monotonic(), 1.0))
    block = registry.signing_key_block(who, key)
    if not block:
        raise ChainError(f"signing key 0x{key.hex()} is no longer bound to {who} (a reorg dropped it): run the command again",
                         reason="binding_missing")
    return BindReport(issuer=who, public_key=key, sent=receipt is not None, block=block, index=index,
                      keys=registry.signing_key_count(who), tx_hash=tx_hash)


def _index_in_history(registry: Registry, who: str, key: bytes) -> int:
    for i, record in enumerate(registry.signing_keys(who)):
        if record.public_key == key:
            return i
    raise ChainError(f"signing key 0x{key.hex()} is bound to {who} but missing from its key history", reason="binding_missing")


def _explained(e: ContractRevert, registry: Registry, who: str) -> ContractRevert | InputError:
    """The registry's refusal, with what to do about it (same reason code)."""
    if e.reason == "unauthorized_issuer":
        info = registry.issuer_info(who)
        state = "was removed as an issuer" if info.id else "was never added as an issuer"
        return ContractRevert(f"{who} {state} of registry {registry.address} on chain {registry.chain_id}: only an "
                              "active issuer binds signing keys (the registry's admin adds it with `anchor issuer register`)",
                              reason=e.reason, error_name=e.error_name, args=e.error_args)
    if e.reason == "zero_signing_key":
        return InputError("the all-zero signing key cannot be bound", reason="zero_signing_key")
    return e
