"""``anchor export``: one ``<uuid>.json`` per holder: the credential with its proof set (its
``eddsa-rdfc-2022`` signature, made at issuance and stored with the document, and its anchor
receipt), and the other forms asked for (:mod:`anchor.app.badge_forms`: VC-JWT, baked PNG and
SVG). A credential stored without a signature is signed here when a signer is given.

Only batches whose anchoring is confirmed are exported (no proof before the anchor is final):
all of them, one (``batch_root``), or only the credentials no export has written yet
(``only_new``; each credential records when it was first exported). ``manifest.csv`` lists the
badges written, with their holders and links (:mod:`anchor.app.manifest`).
Streams batch by batch: one tree and one page of documents in memory at a time. A crash never
leaves a half-written badge: a fresh export is built in a hidden staging directory renamed into
place when complete; an export into a directory that already holds files writes each file under
a temporary name and renames it. Export is idempotent and can simply be run again.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import shutil
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from anchor.app.manifest import Links, write_manifest
from anchor.core import merkle
from anchor.core.credential import uuid_of
from anchor.core.errors import InputError, NotFound, StoreError
from anchor.core.proof import ReceiptRenderer
from anchor.core.status import BatchStatus
from anchor.store import Batch, Issuer, Store

MANIFEST = "manifest.csv"


@dataclass
class ExportReport:
    directory: Path
    files: int = 0  # badges written (each in every form asked for)
    batches: int = 0
    unconfirmed_batches: int = 0
    pending_credentials: int = 0
    manifest_rows: int = 0
    newly_exported: int = 0  # credentials written for the first time


def file_stem(credential_id: str) -> str:
    """``urn:uuid:1234…`` → ``1234…`` (anything else would be a path we must not write)."""
    uuid = uuid_of(credential_id)
    if uuid is None:
        raise StoreError(f"credential id {credential_id!r} in the database is not a urn:uuid; refusing to use it as a file name")
    return uuid


def file_name(credential_id: str) -> str:
    return file_stem(credential_id) + ".json"


Sign = Callable[[bytes], bytes]  # a credential's canonical JSON → its signature proof entry (JSON text)
Forms = Callable[[str, bytes], list[tuple[str, bytes]]]  # (uuid, badge JSON) → the files to write


def receipts_for(batch: Batch, issuer_address: str) -> ReceiptRenderer:
    """The renderer of the batch's anchor receipts."""
    assert batch.chain_id is not None and batch.tx_hash is not None and batch.block_time is not None
    assert batch.registry_address is not None and batch.block_number is not None
    return ReceiptRenderer(chain_id=batch.chain_id, registry=batch.registry_address, issuer_address=issuer_address,
                           root=batch.root, leaf_count=batch.leaf_count, tx_hash=batch.tx_hash,
                           block_number=batch.block_number, block_time=batch.block_time)


def credential_with_proof(document: bytes, receipt: bytes, signature: bytes | None = None) -> bytes:
    """The delivered badge: the stored document with its proof set appended as the last member:
    the signature entry (when signed), then the anchor receipt."""
    proofs = (signature, b",", receipt) if signature else (receipt,)
    return b"".join((document[:-1], b',"proof":[', *proofs, b"]}"))


class _Writer:
    """Writes files on a second thread while the caller renders the next ones: the open, write
    and rename system calls release the GIL, so the two overlap.

    ``atomic``: each file is written under a temporary name and renamed, so a crash never leaves
    a half-written badge in place. Without it, files are written directly: only for a staging
    directory that is itself renamed into place once complete.
    """

    _FLAGS = os.O_WRONLY | os.O_CREAT | os.O_TRUNC

    def __init__(self, directory: Path, *, atomic: bool) -> None:
        self.atomic = atomic
        self.dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
        self.queue: queue.Queue[list[tuple[str, bytes]] | None] = queue.Queue(maxsize=8)
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="anchor-export-writer", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        fd_dir = self.dir_fd
        while (items := self.queue.get()) is not None:
            if self.error is not None:
                continue
            try:
                for name, body in items:
                    target = name + ".tmp" if self.atomic else name
                    fd = os.open(target, self._FLAGS, 0o644, dir_fd=fd_dir)
                    try:
                        os.write(fd, body)
                    finally:
                        os.close(fd)
                    if self.atomic:
                        os.replace(target, name, src_dir_fd=fd_dir, dst_dir_fd=fd_dir)
            except BaseException as e:  # reported on the caller's thread
                self.error = e

    def put(self, items: list[tuple[str, bytes]]) -> None:
        if self.error is not None:
            raise self.error
        self.queue.put(items)

    def close(self) -> None:
        if self.thread.is_alive():
            self.queue.put(None)
            self.thread.join()
            os.close(self.dir_fd)
        if self.error is not None:
            raise self.error


def _staging_for(directory: Path) -> Path | None:
    """A fresh export (no directory, or an empty one) is written to a hidden sibling directory
    renamed into place at the end: one rename instead of one per file, and still all-or-nothing.
    Leftovers of an export that crashed are removed first."""
    parent = directory.parent
    parent.mkdir(parents=True, exist_ok=True)
    for stale in parent.glob(f".{directory.name}.partial-*"):
        shutil.rmtree(stale, ignore_errors=True)
    if directory.exists() and any(directory.iterdir()):
        return None
    staging = parent / f".{directory.name}.partial-{os.getpid()}"
    staging.mkdir()
    return staging


SPLIT_MIN = 20_000  # leaves in a batch before its export is shared with a second process
_LEAF_CHUNK = 4096  # leaves per top-down proof chunk (merkle.iter_path_json)


def _export_range(store: Store, batch: Batch, levels: list[bytes], receipts: ReceiptRenderer, sign: Sign | None,
                  forms: Forms | None, first: int, stop: int, writer: _Writer, progress: Callable[[int], None] | None,
                  sparse: bool = False) -> int:
    """Render and hand to ``writer`` the badges of leaves ``[first, stop)`` of ``batch``
    (``sparse``: only those no export has written yet; the others' proofs are skipped)."""
    pending: list[tuple[str, bytes]] = []
    done = count = 0
    paths = merkle.iter_path_json(levels, chunk_bits=_LEAF_CHUNK.bit_length() - 1, first=first, stop=stop)
    documents = store.iter_signed_documents(batch.id, first=first, stop=stop, only_unexported=sparse)
    expected = first
    for index, credential_id, document, stored in documents:
        if index != expected:
            if not sparse or index < expected:
                raise StoreError(f"batch {batch.id} has no credential at leaf {expected}; the database was altered")
            for _ in range(index - expected):
                next(paths)
            expected = index
        path = next(paths, None)
        if path is None:
            raise StoreError(f"batch {batch.id} has a credential at leaf {index}, beyond its {batch.leaf_count} leaves")
        expected += 1
        signature = stored if stored is not None else sign(document) if sign is not None else None
        badge = credential_with_proof(document, receipts.render(index, path), signature)
        if forms is None:
            pending.append((file_name(credential_id), badge))
        else:
            pending.extend(forms(file_stem(credential_id), badge))
        count += 1
        if count == 1000:
            writer.put(pending)
            done += count
            if progress:
                progress(count)
            pending, count = [], 0
    writer.put(pending)
    done += count
    if progress and count:
        progress(count)
    if not sparse and done != stop - first:
        raise StoreError(f"batch {batch.id} has {done} credentials in leaves {first}..{stop - 1}, expected {stop - first}")
    return done


def _fork_range(store: Store, batch: Batch, levels: list[bytes], receipts: ReceiptRenderer, sign: Sign | None,
                forms: Forms | None, first: int, stop: int, directory: Path, atomic: bool) -> Any:
    """Export leaves ``[first, stop)`` in a forked process (its own database connection and
    writer; the inherited ones are never touched). Returns the process, to be joined."""
    ctx = multiprocessing.get_context("fork")

    def run() -> None:
        code = 1
        try:
            own = Store.open(store.url, create=False)
            writer = _Writer(directory, atomic=atomic)
            try:
                _export_range(own, batch, levels, receipts, sign, forms, first, stop, writer, None)
            finally:
                writer.close()
            code = 0
        except BaseException as e:  # the parent reports the exit code
            print(f"export worker: {e}", file=sys.stderr)
        finally:
            os._exit(code)  # no finalizers: inherited database handles stay untouched

    proc = ctx.Process(target=run, daemon=True)
    proc.start()
    return proc


def _selected_batches(store: Store, issuer_id: int, batch_root: bytes | None, only_new: bool,
                      report: ExportReport) -> list[tuple[Batch, bool]]:
    """The confirmed batches to export, each with whether only some of its credentials are
    (``only_new`` and the batch was partly exported before)."""
    if batch_root is not None:
        batch = store.batch_by_root(issuer_id, batch_root)
        if batch is None:
            raise NotFound(f"no batch with root 0x{batch_root.hex()} of this issuer in the database")
        if batch.status is not BatchStatus.CONFIRMED:
            raise InputError(f"batch {batch.id} (root 0x{batch_root.hex()}) is not anchored yet ({batch.status}); "
                             "run `anchor anchor` first")
        batches = [batch]
    else:
        batches = store.batches(issuer_id)
    unexported = store.unexported_batches(issuer_id) if only_new else {}
    out = []
    for batch in batches:
        if batch.status is not BatchStatus.CONFIRMED:
            report.unconfirmed_batches += 1
            continue
        if only_new:
            left = unexported.get(batch.id, 0)
            if not left:
                continue
            out.append((batch, left < batch.leaf_count))
        else:
            out.append((batch, False))
    return out


def _write_manifest(store: Store, issuer: Issuer, batches: list[tuple[Batch, bool]], target: Path, *, atomic: bool,
                    only_new: bool, file_suffix: str) -> int:
    """``manifest.csv`` in ``target``, listing the badges of ``batches`` (before they are marked exported)."""
    links = Links(issuer)
    rows = (row for batch, _ in batches for row in store.holder_rows(batch.id, only_unexported=only_new))
    path = target / (MANIFEST + ".tmp" if atomic else MANIFEST)
    with open(path, "w", encoding="utf-8", newline="") as out:
        count = write_manifest(out, rows, links, file_suffix)
    if atomic:
        os.replace(path, target / MANIFEST)
    return count


def export_credentials(
    store: Store, issuer_id: int, issuer_address: str, directory: Path, *, sign: Sign | None = None,
    forms: Forms | None = None, progress: Callable[[int], None] | None = None, batch_root: bytes | None = None,
    only_new: bool = False, issuer: Issuer | None = None, file_suffix: str = ".json",
) -> ExportReport:
    """Write the badges of the issuer's confirmed batches to ``directory``; see the module doc.

    ``issuer`` (its record): also write ``manifest.csv``, whose rows name ``<uuid><file_suffix>``.
    A large batch is shared with a forked second process (the upper half of its leaves): rendering
    is CPU-bound Python, so on two cores this nearly halves the time. Credentials are marked
    exported once the files are in place (a crash before that exports them again next time).
    """
    report = ExportReport(directory)
    selected = _selected_batches(store, issuer_id, batch_root, only_new, report)
    staging = _staging_for(directory)
    if staging is None:
        directory.mkdir(parents=True, exist_ok=True)
    target = staging or directory
    writer = _Writer(target, atomic=staging is None)
    helpers: list[tuple[Any, int]] = []
    try:
        for batch, sparse in selected:
            report.batches += 1
            receipts = receipts_for(batch, issuer_address)
            levels = store.levels(batch.id)
            n = batch.leaf_count
            chunk = min(_LEAF_CHUNK, 1 << (len(levels) - 1))  # the split must fall on a proof chunk
            can_fork = n >= SPLIT_MIN and not sparse and "fork" in multiprocessing.get_all_start_methods()
            mid = (n // 2 // chunk + 1) * chunk if can_fork else n
            if mid < n:
                helpers.append((_fork_range(store, batch, levels, receipts, sign, forms, mid, n, target, staging is None), n - mid))
            else:
                mid = n
            report.files += _export_range(store, batch, levels, receipts, sign, forms, 0, mid, writer, progress, sparse)
        writer.close()
        for proc, count in helpers:
            proc.join()
            if proc.exitcode != 0:
                raise StoreError(f"an export worker failed (exit code {proc.exitcode}); nothing was published, run export again")
            report.files += count
            if progress:
                progress(count)
        if issuer is not None and selected:
            report.manifest_rows = _write_manifest(store, issuer, selected, target, atomic=staging is None, only_new=only_new,
                                                   file_suffix=file_suffix)
    except BaseException:
        writer.close()
        for proc, _ in helpers:
            if proc.is_alive():
                proc.kill()
            proc.join()
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
        raise
    if staging is not None:
        if directory.exists():
            directory.rmdir()  # empty, checked above
        os.replace(staging, directory)
    at = int(time.time())
    report.newly_exported = sum(store.mark_exported(batch.id, at) for batch, _ in selected)
    report.pending_credentials = store.counts(issuer_id).pending
    return report
