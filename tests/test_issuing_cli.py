"""The issuer's whole job through the ``anchor`` command, against a real Anvil and SQLite/PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from anchor.chain.anvil import DevChain
from anchor.chain.node import Chain
from anchor.chain.writer import Registry
from anchor.config import read_deployment
from anchor.core import merkle
from anchor.core.credential import check_schema, leaf_of, recipient_matches
from anchor.core.proof import account_method, find_anchor_proof, sides_for
from anchor.core.timefmt import format_ts, from_unix
from tests.helpers import EXAMPLES, Cli, write_roster
from tests.receipts import anchor_entry, receipt_of

pytestmark = pytest.mark.chain


@pytest.fixture
def cli(tmp_path: Path, anvil: DevChain, capsys: pytest.CaptureFixture[str], db_url: str) -> Cli:
    c = Cli(tmp_path / "home", anvil.rpc_url, capsys, db_url=db_url)
    c.setup_issuer()
    return c


def registry_of(cli: Cli) -> Registry:
    record = read_deployment(cli.home / "deployment.json")
    assert record is not None
    return Registry(Chain(cli.rpc_url), record["registry"])


def test_issue_anchor_export_verify(cli: Cli, tmp_path: Path) -> None:
    out = cli.ok("issue", str(EXAMPLES / "roster.csv"), "--achievement", str(EXAMPLES / "achievement.yaml"), "--valid-for-days", "365")
    assert "issued 12 pending credential(s)" in out
    assert "pending 12" in cli.ok("status")

    # No proof before the anchor: nothing to export yet.
    out = cli.ok("export", str(tmp_path / "early"))
    assert "wrote 0 badge(s) (json)" in out and "12 pending" in out
    assert not list((tmp_path / "early").glob("*.json"))

    out = cli.ok("anchor", "--max-batch", "5")
    assert out.count("(anchored)") == 3 and "anchored 12 credential(s) in 3 batch(es)" in out

    badges = tmp_path / "badges"
    assert "wrote 12 badge(s) (json) from 3 batch(es)" in cli.ok("export", str(badges))
    files = sorted(badges.glob("*.json"))
    assert len(files) == 12 and not list(badges.glob("*.tmp"))

    registry = registry_of(cli)
    holders = set()
    for f in files:
        badge = json.loads(f.read_text())
        check_schema(badge)
        assert f.name == badge["id"].removeprefix("urn:uuid:") + ".json"
        proof = find_anchor_proof(badge)
        assert proof.sides == sides_for(proof.index, proof.leaf_count)
        leaf = leaf_of(badge)
        merkle.verify_inclusion(leaf, proof.index, proof.leaf_count, proof.path, proof.root)
        assert registry.verify(proof.issuer_address, proof.root, leaf, proof.index, list(proof.path))
        info = registry.batch_info(proof.issuer_address, proof.root)
        assert (info.issuer, info.leaf_count, info.anchored_block) == (proof.issuer_address, proof.leaf_count, proof.block_number)
        entry = anchor_entry(badge)  # the receipt travels as a DataIntegrityProof naming the anchoring account
        assert {k: entry[k] for k in ("type", "cryptosuite", "proofPurpose")} == {
            "type": "DataIntegrityProof", "cryptosuite": "anchor-merkle-2026", "proofPurpose": "assertionMethod"}
        assert entry["verificationMethod"] == account_method(registry.chain.chain_id, info.issuer)
        assert entry["created"] == format_ts(from_unix(info.anchored_at))
        assert receipt_of(badge)["transactionHash"] != "0x" + "00" * 32
        assert badge["issuer"]["id"] == registry.issuer_info(info.issuer).profile_uri
        holders.add(badge["credentialSubject"]["identifier"][1]["identityHash"])
    assert "Ada Lovelace" in holders and len(holders) == 12
    ada = next(json.loads(f.read_text()) for f in files if "Ada Lovelace" in f.read_text())
    assert recipient_matches(ada, "ada.lovelace@example.org")
    assert ada["evidence"][0]["id"] == "https://demo-university.example/portfolio/ada"
    assert ada["validUntil"] == "2028-12-31T23:59:59Z"  # the row's date wins over --valid-for-days

    # Re-running the same roster issues nothing twice; re-anchoring finds nothing to do.
    assert "issued 0 pending" in cli.ok("issue", str(EXAMPLES / "roster.csv"), "--achievement", str(EXAMPLES / "achievement.yaml"))
    assert "nothing to anchor" in cli.ok("anchor")
    status = cli.ok("status")
    assert "pending 0" in status and "anchored 12" in status and status.count("confirmed") == 3


def test_bad_roster_is_refused_whole_unless_told(cli: Cli, tmp_path: Path) -> None:
    roster = tmp_path / "r.csv"
    roster.write_text("name,email\nGood,good@example.org\nBad,bad@\n,empty@example.org\n")
    code, out, err = cli("issue", str(roster), "--achievement", str(EXAMPLES / "achievement.yaml"))
    assert code == 2
    assert "2 bad row(s); nothing was issued" in err and "row 3:" in err and "row 4: name is empty" in err
    assert "pending 0" in cli.ok("status")
    out = cli.ok("issue", str(roster), "--achievement", str(EXAMPLES / "achievement.yaml"), "--skip-invalid")
    assert "issued 1 pending" in out and "skipped 2 bad row(s)" in out


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["issue", "missing.csv", "--achievement", "x.yaml"], 2, "does not exist"),
        (["anchor", "--max-batch", "0"], 2, "0 is not in the range"),
        (["revoke"], 2, "nothing to revoke"),
        (["revoke", "urn:uuid:00000000-0000-4000-8000-000000000000"], 6, "no credential"),
        (["revoke", "--batch", "0x1234"], 2, "32 bytes of hex"),
        (["revoke", "x", "--reason", "boredom"], 2, "unknown revocation reason"),
    ],
)
def test_errors_are_one_line_and_an_exit_code(cli: Cli, args: list[str], code: int, message: str) -> None:
    got, out, err = cli(*args)
    assert got == code, (out, err)
    assert message in err
    assert "Traceback" not in err


def test_issuing_requires_a_registered_issuer(tmp_path: Path, anvil: DevChain, capsys: pytest.CaptureFixture[str]) -> None:
    c = Cli(tmp_path / "fresh", anvil.rpc_url, capsys)
    c.ok("deploy")
    code, _, err = c("issue", str(EXAMPLES / "roster.csv"), "--achievement", str(EXAMPLES / "achievement.yaml"))
    assert code == 6 and "anchor issuer register" in err


def test_anchoring_is_refused_for_a_removed_issuer(cli: Cli, tmp_path: Path) -> None:
    from anchor.chain.signer import dev_signer

    cli.ok("issue", str(write_roster(tmp_path / "r.csv", 3)), "--achievement", str(EXAMPLES / "achievement.yaml"))
    cli.ok("issuer", "remove", dev_signer(1).address)
    code, _, err = cli("anchor")
    assert code == 3 and "was removed from registry" in err
    assert "pending 3" in cli.ok("status")


def test_revoke_by_id_file_and_batch(cli: Cli, tmp_path: Path) -> None:
    cli.ok("issue", str(write_roster(tmp_path / "r.csv", 600)), "--achievement", str(EXAMPLES / "achievement.yaml"))
    cli.ok("anchor", "--max-batch", "550")
    cli.ok("export", str(tmp_path / "b"))
    badges = [json.loads(f.read_text()) for f in sorted((tmp_path / "b").glob("*.json"))]
    big = [b for b in badges if receipt_of(b)["leafCount"] == 550]
    small = [b for b in badges if receipt_of(b)["leafCount"] == 50]
    victims = sorted(big, key=lambda b: receipt_of(b)["leafIndex"])[:300:3]  # 100 indices over two words
    ids = tmp_path / "ids.txt"
    ids.write_text("# revoked after the audit\n" + "\n".join(b["id"] for b in victims) + "\n")
    out = cli.ok("revoke", "--file", str(ids), "--reason", "issued_in_error", "--note", "wrong cohort")
    assert "recorded 100 revocation(s)" in out and "100 index(es)" in out and "in 1 transaction(s)" in out

    registry = registry_of(cli)
    root = bytes.fromhex(receipt_of(big[0])["merkleRoot"][2:])
    revoked = {receipt_of(b)["leafIndex"] for b in victims}
    for b in big:
        r = receipt_of(b)
        assert registry.is_revoked(r["issuerAddress"], root, r["leafIndex"]) == (r["leafIndex"] in revoked)
    events = [e for e in registry.events() if e.name == "CredentialsRevoked"]
    assert len(events) == 1 and events[0].args["reason"] == 1 and len(events[0].args["words"]) == 2

    again = cli.ok("revoke", victims[0]["id"])
    assert "1 already revoked" in again and "0 index(es)" in again

    small_root = receipt_of(small[0])["merkleRoot"]
    out = cli.ok("revoke", "--batch", small_root, "--reason", "key_compromise")
    assert "1 whole batch(es)" in out
    assert registry.is_batch_revoked(receipt_of(small[0])["issuerAddress"], bytes.fromhex(small_root[2:]))
    assert "revoked 150" in cli.ok("status")


def test_keystore_keys_work_and_are_never_printed(tmp_path: Path, anvil: DevChain, capsys: pytest.CaptureFixture[str],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from anchor.chain.signer import ANVIL_DEV_KEYS, dev_signer

    c = Cli(tmp_path / "home", anvil.rpc_url, capsys)
    monkeypatch.setenv("KS_PASS", "correct horse battery")
    monkeypatch.setenv("KS_KEY", ANVIL_DEV_KEYS[3])
    ks = tmp_path / "issuer.json"
    out = c.ok("keystore", str(ks), "--import-env", "KS_KEY", "--password-env", "KS_PASS")
    assert dev_signer(3).address in out and ANVIL_DEV_KEYS[3][2:] not in out and ANVIL_DEV_KEYS[3][2:] not in ks.read_text()
    assert oct(ks.stat().st_mode & 0o777) == "0o600"
    code, _, err = c("keystore", str(ks), "--password-env", "KS_PASS")
    assert code == 2 and "exists" in err
    (tmp_path / "anchor.toml").write_text(f'issuer_keystore = "{ks}"\n')
    c.ok("deploy")
    base = ["--config", str(tmp_path / "anchor.toml")]
    code, _, err = c(*base, "issuer", "show")
    assert code == 3 and "ANCHOR_KEYSTORE_PASSWORD" in err  # no password: a clear configuration error
    monkeypatch.setenv("ANCHOR_KEYSTORE_PASSWORD", "wrong password")
    code, _, err = c(*base, "issuer", "show")
    assert code == 3 and "wrong password or corrupt file" in err
    monkeypatch.setenv("ANCHOR_KEYSTORE_PASSWORD", "correct horse battery")
    out = c.ok(*base, "issuer", "register", "--name", "Keystore U", "--profile-id", "did:web:ks.example")
    assert dev_signer(3).address in out and "keystore" in out
    monkeypatch.setenv("ANCHOR_ISSUER_KEY", "0x" + "12" * 31 + "zz")
    code, out, err = c(*base, "issuer", "show")
    assert code == 3 and "malformed" in err and "12" * 31 not in err + out
