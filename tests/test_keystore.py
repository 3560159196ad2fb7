"""Keystore files: written atomically, mode 0600 whatever was at the path before."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from eth_account import Account

from anchor.chain.signer import ANVIL_DEV_KEYS, Signer, dev_signer, write_keystore
from anchor.cli.main import main

PASSWORD = "correct horse battery"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def decrypts_to(path: Path, key: str) -> bool:
    return bytes(Account.decrypt(json.loads(path.read_text()), PASSWORD)).hex() == key.removeprefix("0x")


def test_force_over_a_world_readable_file_leaves_mode_600(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    ks = tmp_path / "issuer.json"
    ks.write_text("old, world-readable")
    ks.chmod(0o644)
    monkeypatch.setenv("KS_PASS", PASSWORD)
    monkeypatch.setenv("KS_KEY", ANVIL_DEV_KEYS[3])
    code = main(["--home", str(tmp_path / "home"), "keystore", str(ks), "--force", "--import-env", "KS_KEY", "--password-env", "KS_PASS"])
    out = capsys.readouterr().out
    assert code == 0 and "mode 600" in out and dev_signer(3).address in out
    assert mode(ks) == 0o600, oct(mode(ks))
    assert decrypts_to(ks, ANVIL_DEV_KEYS[3])
    assert Signer.from_keystore(ks, PASSWORD).address == dev_signer(3).address
    assert [p.name for p in tmp_path.iterdir() if p.name != "home"] == ["issuer.json"], "no temporary file left behind"


@pytest.mark.parametrize("umask", [0o000, 0o277])
def test_new_file_is_600_whatever_the_umask(tmp_path: Path, umask: int) -> None:
    old = os.umask(umask)
    try:
        ks = tmp_path / "keys" / "admin.json"
        write_keystore(ANVIL_DEV_KEYS[2], ks, PASSWORD)
    finally:
        os.umask(old)
    assert mode(ks) == 0o600


def test_a_planted_symlink_is_replaced_not_followed(tmp_path: Path) -> None:
    """Someone who can write the directory plants a link to a file they can read: the key must
    not be written through it."""
    target = tmp_path / "attacker-readable.txt"
    target.write_text("bait")
    target.chmod(0o644)
    ks = tmp_path / "issuer.json"
    ks.symlink_to(target)
    write_keystore(ANVIL_DEV_KEYS[4], ks, PASSWORD)
    assert target.read_text() == "bait" and mode(target) == 0o644
    assert not ks.is_symlink() and mode(ks) == 0o600 and decrypts_to(ks, ANVIL_DEV_KEYS[4])


def test_a_failed_write_keeps_the_old_keystore_and_leaves_no_temporary_file(tmp_path: Path,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    ks = tmp_path / "issuer.json"
    write_keystore(ANVIL_DEV_KEYS[3], ks, PASSWORD)
    before = ks.read_bytes()

    def disk_full(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(OSError, match="No space left"):
        write_keystore(ANVIL_DEV_KEYS[5], ks, PASSWORD)
    assert ks.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["issuer.json"]
