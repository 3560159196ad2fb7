"""The registry contract's compiled artifact: compile with py-solc-x, ship, load.

The ABI and bytecode are shipped inside the package (``anchor/artifacts/``) so a verifier or an
auditor who installs only the Python package can talk to a deployed registry without node or
solc. Developers regenerate the artifact with ``python -m anchor.chain.artifact`` (needs the npm
toolchain: ``npm ci``); a test fails when the shipped artifact differs from a fresh compile.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from anchor.core.errors import ConfigError

CONTRACT_NAME = "CredentialRegistry"
SOURCES = ("ICredentialRegistry.sol", "CredentialRegistry.sol")
SOLC_VERSION = "0.8.37"
EVM_VERSION = "prague"
OPTIMIZER_RUNS = 10_000
ARTIFACT_FILE = f"{CONTRACT_NAME}.json"


@dataclass(frozen=True)
class Artifact:
    """What it takes to deploy and call the registry."""

    abi: list[dict[str, Any]]
    bytecode: str  # creation code, 0x-prefixed
    deployed_bytecode: str  # runtime code, 0x-prefixed
    compiler: str

    def to_json(self) -> str:
        payload = {
            "contractName": CONTRACT_NAME,
            "compiler": self.compiler,
            "evmVersion": EVM_VERSION,
            "optimizerRuns": OPTIMIZER_RUNS,
            "abi": self.abi,
            "bytecode": self.bytecode,
            "deployedBytecode": self.deployed_bytecode,
        }
        return json.dumps(payload, indent=1, sort_keys=True) + "\n"


def project_root() -> Path:
    """The source checkout this package runs from (only meaningful in a development install)."""
    return Path(__file__).resolve().parents[3]


def solc_binary() -> Path:
    """The solc shim around npm's WebAssembly compiler (``tools/solc``), or ``$ANCHOR_SOLC``."""
    configured = os.environ.get("ANCHOR_SOLC")
    path = Path(configured) if configured else project_root() / "tools" / "solc"
    if not path.exists():
        raise ConfigError(f"solc shim not found at {path}; run from a source checkout after `npm ci`")
    if not (project_root() / "node_modules" / "solc").exists() and not configured:
        raise ConfigError("npm package solc is not installed; run `npm ci` in the project root")
    return path


def standard_input(contracts_dir: Path) -> dict[str, Any]:
    """The solc standard-JSON input: every source inline, so the compile needs no file access."""
    return {
        "language": "Solidity",
        "sources": {name: {"content": (contracts_dir / name).read_text()} for name in SOURCES},
        "settings": {
            "optimizer": {"enabled": True, "runs": OPTIMIZER_RUNS},
            "evmVersion": EVM_VERSION,
            "outputSelection": {"*": {"*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"]}},
        },
    }


def compile_registry(contracts_dir: Path | None = None) -> Artifact:
    """Compile ``CredentialRegistry.sol`` with py-solc-x through the npm solc shim."""
    import solcx  # development dependency path only; imported lazily

    contracts_dir = contracts_dir or project_root() / "contracts"
    binary = solc_binary()
    out = solcx.compile_standard(standard_input(contracts_dir), solc_binary=str(binary))
    errors = [e for e in out.get("errors", []) if e.get("severity") == "error"]
    if errors:
        raise ConfigError("solc failed: " + "; ".join(e.get("formattedMessage", e["message"]) for e in errors))
    contract = out["contracts"]["CredentialRegistry.sol"][CONTRACT_NAME]
    version = _solc_version(binary)
    return Artifact(
        abi=contract["abi"],
        bytecode="0x" + contract["evm"]["bytecode"]["object"],
        deployed_bytecode="0x" + contract["evm"]["deployedBytecode"]["object"],
        compiler=version,
    )


def _solc_version(binary: Path) -> str:
    import subprocess

    out = subprocess.run([str(binary), "--version"], capture_output=True, text=True, check=True).stdout
    return out.strip().splitlines()[-1].removeprefix("Version: ").strip()


@cache
def load_artifact() -> Artifact:
    """The artifact shipped in the package (no compiler needed)."""
    data = json.loads(resources.files("anchor.artifacts").joinpath(ARTIFACT_FILE).read_text())
    return Artifact(
        abi=data["abi"],
        bytecode=data["bytecode"],
        deployed_bytecode=data["deployedBytecode"],
        compiler=data["compiler"],
    )


def write_artifact(artifact: Artifact) -> Path:
    """Write ``artifact`` into the package's artifact directory (source checkout only)."""
    path = Path(__file__).resolve().parents[1] / "artifacts" / ARTIFACT_FILE
    path.write_text(artifact.to_json())
    return path


def main() -> int:
    """``python -m anchor.chain.artifact``: recompile and refresh the shipped artifact."""
    artifact = compile_registry()
    path = write_artifact(artifact)
    print(f"wrote {path} ({len(artifact.deployed_bytecode) // 2 - 1} bytes of runtime code, solc {artifact.compiler})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
