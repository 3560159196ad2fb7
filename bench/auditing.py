"""Audit speed: rebuild a big registry's history from events, and cross-check a big database.

    python bench/auditing.py [--batches 5000] [--revocations 50000] [--credentials 100000] [--spread 120000] [--mined 20000]

Set-up (not timed), on a fresh Anvil: one issuer anchors ``--batches`` synthetic batches and
revokes ``--revocations`` credentials in them (5 indices per transaction, scattered over words),
at most 50 transactions a block, on a chain that starts at block ``--spread`` minus ``--mined``
(a genesis block number: Anvil's cost per mined block grows with the blocks it holds), with
``--mined`` empty blocks mined among those blocks (``anvil_mine``), as on a real chain where one
registry's events are far apart: an auditor reading from block 0 reads ``eth_getLogs`` in
``--spread`` / 10,000 pages or more; another issuer,
with a real SQLite database, issues and anchors ``--credentials`` credentials in batches of
10,000. Timed, each in a fresh child process so peak RSS is its own:

1. ``anchor audit history``'s work: every event read in pages (the count of ``eth_getLogs``
   pages is printed), replayed, then every batch, issuer and revocation word re-read from the
   contract's views and compared;
2. ``anchor audit issuer``'s work for the real issuer: the history again, then every stored
   credential's leaf recomputed from its document and every batch root rebuilt.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from eth_account import Account  # noqa: E402

from _world import issue_and_anchor  # noqa: E402
from anchor.app.auditing import history_audit, issuer_audit, read_history  # noqa: E402
from anchor.chain import anvil  # noqa: E402
from anchor.chain.anvil import DevChain  # noqa: E402
from anchor.chain.node import Chain  # noqa: E402
from anchor.chain.reader import RegistryReader  # noqa: E402
from anchor.chain.signer import ANVIL_DEV_KEYS, dev_signer  # noqa: E402
from anchor.chain.writer import Registry  # noqa: E402
from anchor.store import Store  # noqa: E402

TARGET_HISTORY_S = 10.0
TARGET_CROSSCHECK_S = 15.0


def send_many(view: RegistryReader, key: str, calls: list[tuple[str, tuple[Any, ...]]], *, gas: int, chain_id: int,
              per_block: int = 50, spread: int = 0) -> None:
    """Sign calls locally and push them with batched eth_sendRawTransaction, a block at a time
    (at most ``per_block`` transactions), with empty blocks mined between those blocks so the
    whole takes about ``spread`` blocks."""
    account = Account.from_key(key)
    nonce = int(view.rpc.batch([("eth_getTransactionCount", [account.address, "pending"])])[0], 16)
    raws = []
    for i, (fn, args) in enumerate(calls):
        tx = {"to": view.address, "data": view.abi.fn(fn).data(*args), "gas": gas, "maxFeePerGas": 10**11,
              "maxPriorityFeePerGas": 10**9, "nonce": nonce + i, "chainId": chain_id, "value": 0}
        raws.append("0x" + bytes(account.sign_transaction(tx).raw_transaction).hex())
    per_block = max(1, min(per_block, 29_000_000 // gas))  # what fits in one block's gas limit
    blocks = -(-len(raws) // per_block)
    gap = max(0, spread // max(1, blocks) - 1)
    for start in range(0, len(raws), per_block):
        view.rpc.batch([("eth_sendRawTransaction", [r]) for r in raws[start : start + per_block]])
        view.rpc.batch([("evm_mine", [])])
        if gap:
            view.rpc.batch([("anvil_mine", [hex(gap), "0x1"])])  # empty blocks, 1 s apart
    # A block holds only so much gas: mine until every transaction is in.
    while int(view.rpc.batch([("eth_getTransactionCount", [account.address, "latest"])])[0], 16) < nonce + len(raws):
        view.rpc.batch([("evm_mine", [])])


def start_chain(tmp: Path, first_block: int, hardfork: str) -> DevChain:
    """Anvil whose chain starts at block ``first_block`` (a genesis ``number``): the blocks below it
    cost nothing, while each block Anvil mines costs more the more it holds (~0.3 ms at height 0,
    ~4 ms at 14,000 on Cancun here; Prague's EIP-2935 history makes it worse: 100,000 mined blocks
    would take most of an hour)."""
    forks = {"homesteadBlock": 0, "eip150Block": 0, "eip155Block": 0, "eip158Block": 0, "byzantiumBlock": 0,
             "constantinopleBlock": 0, "petersburgBlock": 0, "istanbulBlock": 0, "berlinBlock": 0, "londonBlock": 0,
             "shanghaiTime": 0, "cancunTime": 0, "terminalTotalDifficulty": 0, "terminalTotalDifficultyPassed": True}
    if hardfork == "prague":
        forks["pragueTime"] = 0
    genesis = {"config": {"chainId": 31337, **forks}, "number": hex(first_block), "timestamp": hex(int(time.time()) - 86_400),
               "gasLimit": hex(30_000_000), "difficulty": "0x0", "baseFeePerGas": hex(10**9), "alloc": {}}
    (tmp / "genesis.json").write_text(json.dumps(genesis))
    port = anvil.free_port()
    # --prune-history: no state per block kept, neither in memory nor on disk (Anvil otherwise writes
    # each one it drops from memory under ~/.foundry: GBs for this bench).
    proc = subprocess.Popen([str(anvil.anvil_binary()), "--host", "127.0.0.1", "--port", str(port), "--chain-id", "31337",
                             "--hardfork", hardfork, "--init", str(tmp / "genesis.json"), "--prune-history", "--silent"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    node = DevChain(port=port, process=proc)
    deadline = time.monotonic() + 20
    while True:
        try:
            Chain(node.rpc_url).block_number()
            return node
        except Exception:
            if time.monotonic() > deadline or proc.poll() is not None:
                node.stop()
                raise SystemExit("Anvil did not start with the bench's genesis") from None
            time.sleep(0.2)


def setup(n_batches: int, n_revocations: int, n_credentials: int, tmp: Path, spread: int = 0, mined: int = 20_000,
          hardfork: str = "cancun") -> dict[str, Any]:
    """The registry of the bench. Its events cover about ``spread`` blocks from block 0: the chain
    starts at block ``spread - mined`` and ``mined`` blocks are mined among the transactions
    (``anvil_mine``), so an auditor reading from block 0 pages through all of them. Cancun: the
    registry needs its opcodes (Shanghai answers NotActivated), and Anvil mines its blocks ~3x
    faster than Prague's."""
    mined = min(mined, spread)
    node = start_chain(tmp, max(0, spread - mined), hardfork)
    try:
        return _setup_on(node, n_batches, n_revocations, n_credentials, tmp, mined)
    except BaseException:
        node.stop()  # never leave an Anvil behind
        raise


def _setup_on(node: DevChain, n_batches: int, n_revocations: int, n_credentials: int, tmp: Path, spread: int) -> dict[str, Any]:
    chain = Chain(node.rpc_url)
    first_block = chain.block_number()
    view_admin = dev_signer(0)
    registry, _ = Registry.deploy(chain, view_admin)
    bulk, real = dev_signer(2), dev_signer(1)
    registry.add_issuer(view_admin, bulk.address, "https://bulk.example/issuer")
    view = RegistryReader.connect(node.rpc_url, registry.address, head_ttl=0, timeout=300)
    view.rpc.batch([("evm_setAutomine", [False])])
    rng = random.Random(5)
    leaf_count = 4096
    roots = [rng.randbytes(32) for _ in range(n_batches)]
    t = time.perf_counter()
    anchor_share = spread * n_batches // max(1, n_batches + n_revocations // 5)
    send_many(view, ANVIL_DEV_KEYS[2], [("anchor", (r, leaf_count)) for r in roots], gas=80_000, chain_id=chain.chain_id,
              spread=anchor_share)
    per_tx = 5
    revokes = []
    taken: set[tuple[bytes, int]] = set()
    while len(revokes) * per_tx < n_revocations:
        root = roots[rng.randrange(n_batches)]
        words: dict[int, int] = {}
        while sum(bin(m).count("1") for m in words.values()) < per_tx:
            index = rng.randrange(leaf_count)
            if (root, index) in taken:
                continue
            taken.add((root, index))
            words[index >> 8] = words.get(index >> 8, 0) | 1 << (index & 0xFF)
        revokes.append(("revoke", (root, sorted(words.items()), rng.randrange(6))))
    send_many(view, ANVIL_DEV_KEYS[2], revokes, gas=200_000, chain_id=chain.chain_id, spread=spread - anchor_share)
    view.rpc.batch([("evm_setAutomine", [True])])
    chain_setup = time.perf_counter() - t

    t = time.perf_counter()
    db_url = f"sqlite:///{tmp / 'issuer.db'}"
    issue_and_anchor(registry, real, view_admin, db_url, n_credentials, max_batch=10_000).close()
    db_setup = time.perf_counter() - t
    state = read_history(view)
    return {"node": node, "registry": registry.address, "first_block": first_block, "db_url": db_url, "issuer": real.address,
            "events": state.events, "blocks": state.last_block, "batches": len(state.batches),
            "revoked": sum(r.count for r in state.revocations), "chain_setup": chain_setup, "db_setup": db_setup}


def measure(kind: str, rpc: str, registry: str, db_url: str, issuer: str) -> dict[str, Any]:
    """Runs in a child process: the timed work and its peak RSS."""
    view = RegistryReader.connect(rpc, registry, head_ttl=0, timeout=60)
    pager = {"pages": 0, "calls": 0}
    get_logs, batch = view.rpc.get_logs, view.rpc.batch

    def counted_get_logs(*a: Any, **kw: Any) -> Any:
        for page in get_logs(*a, **kw):
            pager["pages"] += 1
            yield page

    def counted_batch(calls: Any) -> Any:
        pager["calls"] += sum(1 for method, _ in calls if method == "eth_getLogs")
        return batch(calls)

    view.rpc.get_logs, view.rpc.batch = counted_get_logs, counted_batch  # type: ignore[method-assign]
    start = time.perf_counter()
    if kind == "history":
        report = history_audit(view)
        out = {"findings": len(report.findings), "events": report.state.events, "codes": sorted({f.code for f in report.findings})}
    else:
        state = read_history(view)
        store = Store.open(db_url, create=False)
        result = issuer_audit(store, state, issuer)
        out = {"findings": len(result.findings), "credentials": result.credentials_checked, "batches": result.batches_checked,
               "codes": sorted({f.code for f in result.findings})}
    out["seconds"] = time.perf_counter() - start
    out["http_requests"], out["rpc_calls"] = view.http_requests, view.rpc_calls
    out["log_pages"], out["log_calls"] = pager["pages"], pager["calls"]
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batches", type=int, default=5000)
    ap.add_argument("--revocations", type=int, default=50_000)
    ap.add_argument("--credentials", type=int, default=100_000)
    ap.add_argument("--spread", type=int, default=120_000, help="blocks the synthetic events spread over (≥ 100,000: many log pages)")
    ap.add_argument("--mined", type=int, default=20_000, help="of --spread, the blocks actually mined among the events (see setup())")
    ap.add_argument("--hardfork", default="cancun", help="Anvil's hardfork for this bench (see setup())")
    ap.add_argument("--measure", nargs=5, metavar=("KIND", "RPC", "REGISTRY", "DB", "ISSUER"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.measure:
        print(json.dumps(measure(*args.measure)))
        return 0
    base = Path("/dev/shm") if Path("/dev/shm").is_dir() else None
    with tempfile.TemporaryDirectory(prefix="anchor-abench-", dir=base) as tmp_s:
        print(f"  set-up: {args.batches:,} batches and {args.revocations:,} revocations on chain, "
              f"{args.credentials:,} credentials in a database (not timed) ...", flush=True)
        w = setup(args.batches, args.revocations, args.credentials, Path(tmp_s), args.spread, args.mined, args.hardfork)
        try:
            results = {}
            for kind in ("history", "issuer"):
                out = subprocess.run([sys.executable, __file__, "--measure", kind, w["node"].rpc_url, w["registry"], w["db_url"], w["issuer"]],
                                     capture_output=True, text=True, check=True).stdout
                results[kind] = json.loads(out.strip().splitlines()[-1])
        finally:
            w["node"].stop()
    h, c = results["history"], results["issuer"]
    print()
    print(f"registry: {w['batches']:,} batches, {w['revoked']:,} revoked credentials, {w['events']:,} events in blocks "
          f"{w['first_block']:,} to {w['blocks']:,} (the chain starts at {w['first_block']:,}; an auditor reads from block 0) "
          f"(set-up {w['chain_setup']:.0f} s on chain, {w['db_setup']:.0f} s for the database; Anvil {args.hardfork})")
    print(f"{'audit':<44}{'seconds':>9}{'HTTP req':>10}{'RPC calls':>11}{'peak RSS':>10}  target")
    for kind, r in (("history", h), ("issuer", c)):
        print(f"  {kind}: {r['log_pages']:,} eth_getLogs pages ({r['log_calls']:,} calls, refused ranges halved included)")
    print(f"{'history rebuilt from events + views compared':<44}{h['seconds']:>9.2f}{h['http_requests']:>10,}{h['rpc_calls']:>11,}"
          f"{h['peak_rss_mb']:>8.0f}MB  ≤ {TARGET_HISTORY_S:.0f} s → {'met' if h['seconds'] <= TARGET_HISTORY_S else 'MISSED'}"
          f"  ({h['findings']} findings{': ' + ', '.join(h['codes']) if h['codes'] else ''})")
    print(f"{'issuer cross-check, ' + format(c['credentials'], ',') + ' credentials':<44}{c['seconds']:>9.2f}{c['http_requests']:>10,}"
          f"{c['rpc_calls']:>11,}{c['peak_rss_mb']:>8.0f}MB  ≤ {TARGET_CROSSCHECK_S:.0f} s → "
          f"{'met' if c['seconds'] <= TARGET_CROSSCHECK_S else 'MISSED'}  ({c['findings']} findings{': ' + ', '.join(c['codes']) if c['codes'] else ''}, "
          f"{c['batches']} batches rebuilt)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
