"""The issuer's Ed25519 signing key (anchor.app.signing_keys): from the environment, from an
encrypted keystore written 0600 atomically, or a development key on the local chain only; the
secret never appears in errors or reprs."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

import pytest

from anchor.app.signing_keys import (
    KEYSTORE_PASSWORD_ENV,
    SIGNING_KEY_ENV,
    dev_signing_key_for,
    is_dev_key,
    key_from_hex,
    load_keystore,
    resolve_signing_key,
    write_keystore,
)
from anchor.chain.signer import ANVIL_DEV_KEYS, dev_signer
from anchor.core.ed25519 import SigningKey
from anchor.core.errors import ConfigError

SEED = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"  # RFC 8032 test 1 secret
PUBLIC = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
ISSUER = dev_signer(1).address


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(SIGNING_KEY_ENV, raising=False)
    monkeypatch.delenv(KEYSTORE_PASSWORD_ENV, raising=False)


def test_key_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SIGNING_KEY_ENV, "0x" + SEED.upper() + "\n")
    key, source = resolve_signing_key(keystore=None, issuer_address=ISSUER, local_dev_chain=False)
    assert key.public_key.hex() == PUBLIC  # RFC 8032 section 7.1, test 1
    assert source == f"${SIGNING_KEY_ENV}"
    assert SEED not in repr(key) and SEED not in source


@pytest.mark.parametrize("text", ["", "zz" * 32, SEED[:-2], SEED + "00", "0x"])
def test_malformed_keys_are_refused_without_echoing_them(text: str) -> None:
    with pytest.raises(ConfigError) as e:
        key_from_hex(text)
    assert text.strip() == "" or text not in str(e.value)
    assert "32-byte seed" in str(e.value)


def test_keystore_round_trip_is_private_and_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "keys" / "signing.pem"
    path.parent.mkdir()
    path.write_text("an old, world-readable file")
    os.chmod(path, 0o644)
    key = key_from_hex(SEED)
    assert write_keystore(key, path, "correct horse") == key.public_multibase
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    text = path.read_text()
    assert text.startswith("-----BEGIN ENCRYPTED PRIVATE KEY-----") and SEED not in text
    assert [p.name for p in path.parent.iterdir()] == ["signing.pem"]  # no temporary file left behind
    assert load_keystore(path, "correct horse") == key
    monkeypatch.setenv(KEYSTORE_PASSWORD_ENV, "correct horse")
    loaded, source = resolve_signing_key(keystore=path, issuer_address=ISSUER, local_dev_chain=False)
    assert loaded == key and source == f"signing keystore {path}"


def test_keystore_never_follows_a_planted_link(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "elsewhere"
    target.write_text("untouched")
    import anchor.chain.signer as chain_signer  # the one private-file writer both keystores use

    monkeypatch.setattr(chain_signer.secrets, "token_hex", lambda n: "fixed")
    (tmp_path / ".signing.pem.fixed.tmp").symlink_to(target)
    with pytest.raises(FileExistsError):
        write_keystore(key_from_hex(SEED), tmp_path / "signing.pem", "pw")
    assert target.read_text() == "untouched"
    assert not (tmp_path / "signing.pem").exists()


def test_keystore_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "signing.pem"
    write_keystore(key_from_hex(SEED), path, "pw")
    with pytest.raises(ConfigError, match="wrong password"):
        load_keystore(path, "not the password")
    with pytest.raises(ConfigError, match="not found"):
        load_keystore(tmp_path / "missing.pem", "pw")
    with pytest.raises(ConfigError, match=KEYSTORE_PASSWORD_ENV):
        resolve_signing_key(keystore=path, issuer_address=ISSUER, local_dev_chain=False)
    with pytest.raises(ConfigError, match="non-empty password"):
        write_keystore(key_from_hex(SEED), path, "")
    (tmp_path / "rsa.pem").write_text("-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----\n")
    with pytest.raises(ConfigError):
        load_keystore(tmp_path / "rsa.pem", "pw")


def test_development_keys_exist_on_the_local_chain_only(monkeypatch: pytest.MonkeyPatch) -> None:
    key, source = resolve_signing_key(keystore=None, issuer_address=ISSUER, local_dev_chain=True)
    assert "local chain only" in source
    again, _ = resolve_signing_key(keystore=None, issuer_address=ISSUER.lower(), local_dev_chain=True)
    assert again == key  # deterministic: the demo's did:key stays the same
    assert is_dev_key(key)
    assert dev_signing_key_for(dev_signer(2).address) != key  # one per Anvil account
    with pytest.raises(ConfigError, match="no signing key"):
        resolve_signing_key(keystore=None, issuer_address=ISSUER, local_dev_chain=False)
    with pytest.raises(ConfigError, match="development accounts"):
        resolve_signing_key(keystore=None, issuer_address="0x" + "11" * 20, local_dev_chain=True)
    # the same public key given explicitly for a real chain is refused: anyone can derive it
    derived = hashlib.sha256(b"anchor/dev-ed25519-signing-key/v1\x00" + bytes.fromhex(ANVIL_DEV_KEYS[1][2:])).hexdigest()
    assert SigningKey.from_seed(bytes.fromhex(derived)) == key  # anyone can derive it from Anvil's published keys
    monkeypatch.setenv(SIGNING_KEY_ENV, derived)
    with pytest.raises(ConfigError, match="public development keys"):
        resolve_signing_key(keystore=None, issuer_address=ISSUER, local_dev_chain=False)
    assert resolve_signing_key(keystore=None, issuer_address=ISSUER, local_dev_chain=True)[0] == key


def test_an_explicit_key_wins_over_the_development_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SIGNING_KEY_ENV, SEED)
    key, source = resolve_signing_key(keystore=None, issuer_address=ISSUER, local_dev_chain=True)
    assert key.public_key.hex() == PUBLIC and not is_dev_key(key)
