"""``anchor audit issuer`` on stacked credentials (issue 12): a component revoked on chain after its
stack was issued is a finding naming both, with when each happened; real Anvil, real SQLite."""

from __future__ import annotations

from pathlib import Path

import pytest

from anchor.app.auditing import issuer_audit, read_history
from anchor.app.stacking import stack_pathway
from anchor.app.verifying import Verifier, VerifyOptions
from anchor.chain.anvil import DevChain
from anchor.chain.node import Chain
from anchor.chain.reader import RegistryReader
from anchor.chain.signer import dev_signer
from anchor.chain.writer import Registry
from anchor.cli.audit_output import issuer_json, issuer_table
from anchor.core.pathway import parse_pathway
from anchor.core.status import Severity
from anchor.core.timefmt import format_ts, from_unix
from tests.test_stacking import UNI, Org, pathway_text, raw_achievement

pytestmark = pytest.mark.chain

STACK_CODES = ("stack_component_revoked", "stack_over_revoked_component")


def test_a_component_revoked_after_stacking_is_reported_and_one_revoked_before_is_not(anvil: DevChain, chain: Chain,
                                                                                     tmp_path: Path) -> None:
    admin = dev_signer(0)
    registry, _ = Registry.deploy(chain, admin)
    uni = Org(chain, registry, admin, dev_signer(1), "Uni", tmp_path)
    view = RegistryReader.connect(anvil.rpc_url, registry.address, head_ttl=0)
    verifier = Verifier(lambda a: RegistryReader.connect(anvil.rpc_url, a, head_ttl=0), VerifyOptions(registry=registry.address))
    sql, py = raw_achievement(UNI + "sql", "SQL"), raw_achievement(UNI + "python", "Python")
    holders = ["ada@example.org", "cat@example.org", "dan@example.org"]
    uni.issue(sql, holders)
    uni.issue(py, holders)
    uni.anchor()
    before = uni.badges()
    uni.revoke(before[("cat", UNI + "python")]["id"])  # revoked before stacking: cat gets no stack

    def stack_codes() -> list[dict[str, object]]:
        report = issuer_audit(uni.store, read_history(view), uni.account.address)
        return [f.to_json() for f in report.findings if f.code in STACK_CODES]

    pathway = parse_pathway(pathway_text(UNI + "analyst", [(UNI + "sql", None), (UNI + "python", None)]))
    run = stack_pathway(uni.store, uni.row, pathway, verifier, sign=uni.sign())
    assert run.created == 2 and "cat@example.org" in dict(run.short)
    assert stack_codes() == []  # stacks pending: nothing revoked under them
    uni.anchor()
    badges = uni.badges()
    assert ("cat", UNI + "analyst") not in badges
    assert stack_codes() == []  # cat's revoked python has no stack over it

    stack_dan, python_dan = badges[("dan", UNI + "analyst")], badges[("dan", UNI + "python")]
    uni.revoke(python_dan["id"])  # after stacking
    state = read_history(view)
    report = issuer_audit(uni.store, state, uni.account.address)
    found = [f for f in report.findings if f.code in STACK_CODES]
    assert len(found) == 1, [f.to_json() for f in found]
    f = found[0]
    assert (f.severity, f.code) == (Severity.WARNING, "stack_component_revoked")
    s = f.subject
    assert (s["stack"], s["component"], s["componentName"]) == (stack_dan["id"], python_dan["id"], "Python")
    revocation = state.revocations[-1]
    assert (s["componentRevokedBlock"], s["componentRevokedAt"]) == (revocation.block, format_ts(from_unix(revocation.time)))
    assert s["componentRevokedTransaction"] == "0x" + revocation.tx_hash.hex() and s["wholeBatch"] is False
    stack_batch = next(b for b in state.batches.values() if b.block == s["stackBlock"])
    assert s["stackBlock"] < s["componentRevokedBlock"] and s["stackAnchoredAt"] == format_ts(from_unix(stack_batch.time))
    assert stack_dan["id"] in f.message and python_dan["id"] in f.message and f"block {revocation.block}" in f.message
    assert "after the stack was issued" in f.message
    assert any(line.strip().startswith("WARNING  stack_component_revoked:") for line in issuer_table(report))
    assert any(j["code"] == "stack_component_revoked" for j in issuer_json(report)["findings"])

    # A stack revoked itself is left out (the issuer acted); a component of it revoked later is not reported.
    stack_ada = badges[("ada", UNI + "analyst")]
    uni.revoke(stack_ada["id"])
    uni.revoke(badges[("ada", UNI + "sql")]["id"])
    assert [(f["subject"]["stack"], f["subject"]["component"]) for f in stack_codes()] == [(stack_dan["id"], python_dan["id"])]


def test_a_whole_batch_revoked_under_stacks_and_a_stack_issued_over_a_revoked_component(anvil: DevChain, chain: Chain,
                                                                                        tmp_path: Path) -> None:
    from sqlalchemy import update

    from anchor.app.revoking import request_batch_revocation, submit_revocations
    from anchor.store.schema import CredentialRow
    from tests.receipts import receipt_of

    admin = dev_signer(0)
    registry, _ = Registry.deploy(chain, admin)
    uni = Org(chain, registry, admin, dev_signer(1), "Uni", tmp_path)
    view = RegistryReader.connect(anvil.rpc_url, registry.address, head_ttl=0)
    verifier = Verifier(lambda a: RegistryReader.connect(anvil.rpc_url, a, head_ttl=0), VerifyOptions(registry=registry.address))
    uni.issue(raw_achievement(UNI + "sql", "SQL"), ["ada@example.org", "dan@example.org"])
    uni.issue(raw_achievement(UNI + "python", "Python"), ["ada@example.org", "dan@example.org"])
    uni.anchor()
    pathway = parse_pathway(pathway_text(UNI + "analyst", [(UNI + "sql", None), (UNI + "python", None)]))
    assert stack_pathway(uni.store, uni.row, pathway, verifier, sign=uni.sign()).created == 2
    uni.anchor()
    badges = uni.badges()
    root = bytes.fromhex(receipt_of(badges[("ada", UNI + "sql")])["merkleRoot"][2:])
    assert request_batch_revocation(uni.store, uni.row.id, root, 1, "whole batch")
    submit_revocations(uni.store, registry, uni.account, uni.row.id)
    state = read_history(view)
    found = [f for f in issuer_audit(uni.store, state, uni.account.address).findings if f.code in STACK_CODES]
    assert sorted((f.subject["stack"], f.subject["componentName"]) for f in found) == sorted(
        (badges[(who, UNI + "analyst")]["id"], name) for who in ("ada", "dan") for name in ("SQL", "Python"))
    batch = state.batches[(uni.account.address, root)]
    assert all(f.code == "stack_component_revoked" and f.subject["wholeBatch"] is True and f.subject["componentRevokedTransaction"] is None
               and f.subject["componentRevokedBlock"] == batch.revoked_block and "its whole batch was revoked" in f.message for f in found)

    # A stack the database says was issued after its component's revocation: anchor stack never does that.
    with uni.store.session() as s:
        s.execute(update(CredentialRow).where(CredentialRow.credential_id == badges[("ada", UNI + "analyst")]["id"])
                  .values(created_at=int(batch.revoked_time or 0) + 3600))
    found = [f for f in issuer_audit(uni.store, state, uni.account.address).findings if f.code in STACK_CODES]
    before = [f for f in found if f.code == "stack_over_revoked_component"]
    assert len(before) == 2 and {f.severity for f in before} == {Severity.ERROR}
    assert all(f.subject["stack"] == badges[("ada", UNI + "analyst")]["id"] and "before the stack was issued" in f.message for f in before)


def test_the_cli_audit_names_the_stack_and_its_revoked_component(anvil: DevChain, tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    import json

    import yaml

    from anchor.core.credential import recipient_matches
    from tests.helpers import Cli

    cli = Cli(tmp_path / "home", anvil.rpc_url, capsys)
    cli.setup_issuer()
    for key, name in (("sql", "SQL"), ("python", "Python")):
        (tmp_path / f"{key}.yaml").write_text(yaml.safe_dump(raw_achievement(UNI + key, name)))
        (tmp_path / "ada.csv").write_text("name,email\nAda,ada@example.org\n")
        cli.ok("issue", str(tmp_path / "ada.csv"), "--achievement", str(tmp_path / f"{key}.yaml"))
    cli.ok("anchor")
    (tmp_path / "pathway.yaml").write_text(pathway_text(UNI + "analyst", [(UNI + "sql", None), (UNI + "python", None)]))
    assert "issued 1 pending stacked credential(s)" in cli.ok("stack", str(tmp_path / "pathway.yaml"))
    cli.ok("anchor")
    cli.ok("export", str(tmp_path / "badges"))
    badges = {b["credentialSubject"]["achievement"]["id"]: b for b in (json.loads(p.read_text()) for p in (tmp_path / "badges").glob("*.json"))
              if recipient_matches(b, "ada@example.org")}
    stack, python = badges[UNI + "analyst"], badges[UNI + "python"]
    assert "stack_component" not in cli.ok("audit", "issuer")
    cli.ok("revoke", python["id"].removeprefix("urn:uuid:"), "--reason", "issued_in_error")
    out = cli.ok("audit", "issuer")  # a warning: below the default --fail-on error
    line = next(x for x in out.splitlines() if "stack_component_revoked" in x)
    assert line.strip().startswith("WARNING  stack_component_revoked: stacked credential " + stack["id"])
    assert python["id"] in line and "'Python'" in line
    code, out, _ = cli("audit", "issuer", "--json", "--fail-on", "warning")
    found = [f for f in json.loads(out)["findings"] if f["code"] == "stack_component_revoked"]
    assert code == 1 and [(f["subject"]["stack"], f["subject"]["component"]) for f in found] == [(stack["id"], python["id"])]
