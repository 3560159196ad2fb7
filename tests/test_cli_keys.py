"""The issuer's signing keys through the CLI, as a new user runs them: a did:web issuer rotates its
key (`anchor issuer key new`, `bind`, `list`, `did-document`) and badges signed before and after
both verify; a did:key issuer cannot rotate (its DID is its key)."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from anchor.chain.anvil import DevChain
from anchor.core.ed25519 import key_of_verification_method, public_multibase
from tests.helpers import EXAMPLES, Cli, write_roster

PASSWORD = "correct horse battery"


def signature_key(badge: dict[str, object]) -> str:
    (entry,) = [p for p in badge["proof"] if isinstance(p, dict) and p.get("cryptosuite") == "eddsa-rdfc-2022"]  # type: ignore[attr-defined]
    return public_multibase(key_of_verification_method(entry["verificationMethod"]))


def issue_anchor_export(cli: Cli, tmp_path: Path, name: str, prefix: str) -> list[Path]:
    roster = write_roster(tmp_path / f"{name}.csv", 2, prefix=prefix)
    cli.ok("issue", str(roster), "--achievement", str(EXAMPLES / "achievement.yaml"))
    cli.ok("anchor")
    out = tmp_path / name
    cli.ok("export", str(out), "--new")
    return sorted(out.glob("*.json"))


def test_a_did_web_issuer_rotates_its_key_and_old_badges_keep_verifying(
        tmp_path: Path, anvil: DevChain, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    cli = Cli(tmp_path / "home", anvil.rpc_url, capsys)
    cli.ok("deploy")
    out = cli.ok("issuer", "register", "--name", "Uni", "--did", "web", "--url", "https://uni.example")
    did = next(line.split(" registered as ")[1] for line in out.splitlines() if " registered as " in line).strip()
    assert did.startswith("did:web:127.0.0.1%3A8000:issuers:0x")
    first = issue_anchor_export(cli, tmp_path, "first", "a")
    old_key = signature_key(json.loads(first[0].read_text()))

    monkeypatch.setenv("KEY_PASSWORD", PASSWORD)
    keyfile = tmp_path / "signing-2.pem"
    made = cli.ok("issuer", "key", "new", str(keyfile), "--password-env", "KEY_PASSWORD")
    assert stat.S_IMODE(keyfile.stat().st_mode) == 0o600 and "PRIVATE" not in made
    new_key = made.split("Ed25519 signing key ")[1].strip()
    assert new_key != old_key and new_key in made
    monkeypatch.setenv("ANCHOR_SIGNING_KEYSTORE", str(keyfile))
    monkeypatch.setenv("ANCHOR_SIGNING_KEYSTORE_PASSWORD", PASSWORD)
    bound = cli.ok("issuer", "key", "bind")
    assert f"bound signing key {new_key}" in bound and "2 bound in all" in bound
    assert "already bound" in cli.ok("issuer", "key", "bind")  # a rerun sends nothing
    listed = cli.ok("issuer", "key", "list").splitlines()
    assert [line.split()[1] for line in listed] == [old_key, new_key] and listed[1].endswith("(current)")

    second = issue_anchor_export(cli, tmp_path, "second", "b")
    assert signature_key(json.loads(second[0].read_text())) == new_key
    for badge in first + second:  # signed before and after the rotation
        verdict = cli.ok("verify", str(badge))
        assert verdict.startswith("VALID") and "ok   signature" in verdict
    document = json.loads(cli.ok("issuer", "did-document"))
    assert document["id"] == did
    assert [m["publicKeyMultibase"] for m in document["verificationMethod"]] == [old_key, new_key]


def test_a_did_key_issuer_cannot_rotate(tmp_path: Path, anvil: DevChain, capsys: pytest.CaptureFixture[str],
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    cli = Cli(tmp_path / "home", anvil.rpc_url, capsys)
    cli.setup_issuer()
    monkeypatch.setenv("KEY_PASSWORD", PASSWORD)
    keyfile = tmp_path / "signing-2.pem"
    cli.ok("issuer", "key", "new", str(keyfile), "--password-env", "KEY_PASSWORD")
    monkeypatch.setenv("ANCHOR_SIGNING_KEYSTORE", str(keyfile))
    monkeypatch.setenv("ANCHOR_SIGNING_KEYSTORE_PASSWORD", PASSWORD)
    code, out, err = cli("issuer", "key", "bind")
    assert code == 3 and "a did:key names one key forever" in err and out == ""
    monkeypatch.setenv("SHORT", "short")
    code, _, err = cli("issuer", "key", "new", str(tmp_path / "other.pem"), "--password-env", "SHORT")
    assert code == 2 and "at least 8 characters" in err
