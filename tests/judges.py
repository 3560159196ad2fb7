"""Independent judges for anchor's credentials: other people's verifiers, run offline.

anchor's own verifier agreeing with anchor's own signer proves little; these wrappers ask
Digital Bazaar's @digitalbazaar/vc (eddsa-rdfc-2022 Data Integrity) and jsonld.js safe mode,
through ``tests/js/judge.mjs`` (one node process per call, one JSON request on stdin, one JSON
result on stdout). The judge resolves contexts only from the request and the contexts anchor ships
in ``src/anchor/schemas/``, did:key from the key itself, anything else from ``controllers``; it
never touches the network.

A judge's verdict comes back as a :class:`JudgeResult`. Anything that is not a verdict (node
missing, ``npm ci`` not run, a crash, a timeout, output that is not the expected JSON) raises
:class:`JudgeHarnessError` with the judge's stderr: a broken harness must never read as
"verified" nor as "rejected".
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
JUDGE = ROOT / "tests" / "js" / "judge.mjs"
NODE_MODULES = ROOT / "node_modules"
DEFAULT_TIMEOUT = 60.0


class JudgeHarnessError(RuntimeError):
    """The judge could not give a verdict (not: the judge said no)."""


@dataclass(frozen=True)
class JudgeResult:
    """One judge's verdict.

    ``passed`` is the judge's own boolean ("verified" for verify-di and verify-status, "ok" for
    expand-safe); ``errors`` its error entries ({"name", "message", ...}); ``raw`` the whole
    result (evaluated and ignored proofs, the documents it loaded and from where, the expansion).
    """

    passed: bool
    errors: list[dict[str, Any]] = field(default_factory=list)
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def verified(self) -> bool:
        return self.passed

    @property
    def ok(self) -> bool:
        return self.passed

    @property
    def messages(self) -> list[str]:
        """Error messages, each followed by its event code or cause when the judge gave one."""
        out = []
        for e in self.errors:
            text = str(e.get("message"))
            if e.get("event"):
                text += f" [{e['event'].get('code')}: {json.dumps(e['event'].get('details'))}]"
            if e.get("cause"):
                text += f" (cause: {e['cause']})"
            out.append(text)
        return out


def _node() -> str:
    node = shutil.which("node")
    if node is None:
        raise JudgeHarnessError("node is not on PATH; the JS judges need Node.js 20+")
    if not (NODE_MODULES / "@digitalbazaar" / "vc").is_dir() or not (NODE_MODULES / "jsonld").is_dir():
        raise JudgeHarnessError(f"the JS judges are not installed in {NODE_MODULES}: run scripts/setup (npm ci)")
    return node


def run_judge(request: Mapping[str, Any], *, timeout: float = DEFAULT_TIMEOUT) -> dict[str, Any]:
    """Send one request to tests/js/judge.mjs and return its JSON result; raise on harness failure."""
    try:
        payload = json.dumps(request)
    except (TypeError, ValueError) as exc:
        raise JudgeHarnessError(f"request is not JSON: {exc}") from exc
    try:
        proc = subprocess.run(
            [_node(), str(JUDGE)],
            input=payload,
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=ROOT,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise JudgeHarnessError(f"judge {request.get('op')} timed out after {timeout} s; stderr: {exc.stderr!r}") from exc
    if proc.returncode != 0:
        raise JudgeHarnessError(f"judge {request.get('op')} failed (exit {proc.returncode}): {proc.stderr.strip()}")
    try:
        result = json.loads(proc.stdout)
    except ValueError as exc:
        raise JudgeHarnessError(f"judge output is not JSON: {proc.stdout[:500]!r}; stderr: {proc.stderr.strip()}") from exc
    if not isinstance(result, dict):
        raise JudgeHarnessError(f"judge output is not a JSON object: {proc.stdout[:500]!r}")
    return result


def _verdict(result: dict[str, Any], key: str, errors: list[dict[str, Any]]) -> JudgeResult:
    passed = result.get(key)
    if not isinstance(passed, bool):
        raise JudgeHarnessError(f"judge result has no boolean {key!r}: {json.dumps(result)[:500]}")
    return JudgeResult(passed=passed, errors=errors, raw=result)


def _request(op: str, document: Any, **extra: Any) -> dict[str, Any]:
    if not isinstance(document, Mapping):
        raise JudgeHarnessError(f"document must be a JSON object, got {type(document).__name__}")
    request: dict[str, Any] = {"op": op, "document": document}
    request.update({k: v for k, v in extra.items() if v is not None})
    return request


def di_verify(
    document: Mapping[str, Any],
    contexts: Mapping[str, Any] | None = None,
    controllers: Mapping[str, Any] | None = None,
    *,
    now: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> JudgeResult:
    """@digitalbazaar/vc ``verifyCredential`` with the eddsa-rdfc-2022 suite (credentialStatus not checked).

    ``contexts`` adds context documents by URL; ``controllers`` maps a DID or verification method id
    to its document (did:web; did:key needs none); ``now`` is the verifier's clock (ISO 8601).
    ``raw["proofs"]`` lists the proof-set entries the judge evaluated, ``raw["ignoredProofs"]``
    those it skipped because no suite matched their (type, cryptosuite).
    """
    req = _request("verify-di", document, contexts=contexts, controllers=controllers, now=now)
    result = run_judge(req, timeout=timeout)
    return _verdict(result, "verified", list(result.get("errors") or []))


def jsonld_safe_expand(
    document: Mapping[str, Any],
    contexts: Mapping[str, Any] | None = None,
    *,
    timeout: float = DEFAULT_TIMEOUT,
) -> JudgeResult:
    """jsonld.js ``expand(document, {safe: true})``: fails on any term no context defines, any
    dropped value, any context it cannot load offline. ``raw["expanded"]`` holds the expansion."""
    result = run_judge(_request("expand-safe", document, contexts=contexts), timeout=timeout)
    error = result.get("error")
    return _verdict(result, "ok", [error] if isinstance(error, dict) else [])


def status_check(
    document: Mapping[str, Any],
    status_lists: Mapping[str, Any],
    contexts: Mapping[str, Any] | None = None,
    controllers: Mapping[str, Any] | None = None,
    *,
    timeout: float = DEFAULT_TIMEOUT,
) -> JudgeResult:
    """@digitalbazaar/vc-bitstring-status-list ``checkStatus``: loads each statusListCredential from
    ``status_lists`` (URL -> signed BitstringStatusListCredential), verifies its eddsa-rdfc-2022
    proof and that its issuer is the credential's, decodes the bit. ``passed`` means the CHECK
    succeeded; the bits are in ``raw["statuses"][i]["status"]`` (True = set, i.e. revoked)."""
    req = _request("verify-status", document, statusLists=status_lists, contexts=contexts, controllers=controllers)
    result = run_judge(req, timeout=timeout)
    return _verdict(result, "verified", list(result.get("errors") or []))
