"""Every event and every custom error of the registry's interface carries NatSpec (@notice), and
the implementation documents each external function through @inheritdoc."""

from __future__ import annotations

import re

from tests.helpers import ROOT

INTERFACE = ROOT / "contracts" / "ICredentialRegistry.sol"
IMPLEMENTATION = ROOT / "contracts" / "CredentialRegistry.sol"


def _declarations(text: str, kind: str) -> list[tuple[str, str]]:
    """(name, the comment block right above it) for each ``kind`` declaration."""
    out = []
    lines = text.splitlines()
    for i, line in enumerate(lines):
        m = re.match(rf"\s*{kind}\s+(\w+)\s*\(", line)
        if not m:
            continue
        j, doc = i - 1, []
        while j >= 0 and lines[j].strip().startswith("///"):
            doc.insert(0, lines[j].strip())
            j -= 1
        out.append((m.group(1), " ".join(doc)))
    return out


def test_every_event_and_error_has_natspec() -> None:
    text = INTERFACE.read_text()
    for kind in ("event", "error", "function"):
        found = _declarations(text, kind)
        assert found, f"no {kind} declarations found: the parser is wrong"
        missing = [name for name, doc in found if "@notice" not in doc]
        assert not missing, f"{kind}s without @notice in {INTERFACE.name}: {missing}"


def test_every_external_function_of_the_implementation_inherits_its_doc() -> None:
    text = IMPLEMENTATION.read_text()
    missing = [name for name, doc in _declarations(text, "function")
               if "@inheritdoc" not in doc and not (name.startswith("_") and "@dev" in doc)]  # internals: @dev
    assert not missing, f"functions without /// @inheritdoc in {IMPLEMENTATION.name}: {missing}"
