"""Settings, read once: defaults < ``anchor.toml`` < environment < command-line flags.

The embedded defaults are a local Anvil on 127.0.0.1:8545 and a SQLite file under ``var/``.
``anchor deploy`` records the registry it deployed in ``var/deployment.json``; without an explicit
registry address, that record is used.

A chain profile (``chain = "base"``; see :data:`CHAIN_PROFILES`, or a ``[chains.<name>]`` table
of the TOML file) fills in the chain's settings (chain id, finality, fee caps...) under whatever
the file, the environment or a flag sets explicitly.
"""

from __future__ import annotations

import json
import os
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlparse, urlsplit

from anchor.core.errors import ConfigError

ENV_PREFIX = "ANCHOR_"


@dataclass(frozen=True)
class Settings:
    home: Path = Path("var")  # local state: chain state file, deployment record, database, logs
    # A named chain profile (base, optimism, ethereum, sepolia, anvil, or a [chains.<name>] table):
    # its chain id, finality, confirmations and fee caps, under explicit settings.
    chain: str | None = None
    rpc_url: str = "http://127.0.0.1:8545"
    # Fallback RPC URLs, tried in order when rpc_url fails or rate-limits (TOML list or comma-separated env).
    rpc_urls: tuple[str, ...] = ()
    # The chain the registry lives on: when set, a node answering with another chain id is refused
    # (unset: every RPC URL must serve the chain of the first one that answers).
    chain_id: int | None = None
    registry: str | None = None  # registry address; default: the one in var/deployment.json
    database_url: str | None = None  # default: sqlite under `home`
    # What counts as settled: "latest" (`confirmations` blocks deep), or the node's "safe" or
    # "finalized" block (a batch's block at or below it), for anchoring and verifying alike.
    finality: str = "latest"
    confirmations: int = 1  # blocks (the anchoring block included) before a proof is released; finality "latest" only
    # EIP-1559 caps, in gwei per gas (unset: no cap). A write the market prices above max_fee_gwei is
    # refused before anything is signed; re-pricing a stuck one never goes above the caps either.
    max_fee_gwei: float | None = None
    max_priority_fee_gwei: float | None = None
    rpc_timeout: float = 10.0  # seconds per RPC request
    rpc_retry_seconds: float = 20.0  # seconds one call may spend failing over and backing off before giving up
    rpc_backoff: float = 0.5  # first back-off (s) after a rate limit without Retry-After; doubled each time, jittered
    rpc_cooldown: float = 30.0  # seconds a failed RPC URL is skipped while another one answers
    receipt_timeout: float = 300.0  # seconds to wait for an anchoring transaction
    reprice_after: float = 180.0  # seconds without inclusion before a stuck transaction is re-priced (0: never)
    issuer_keystore: Path | None = None  # encrypted keystore; password in $ANCHOR_KEYSTORE_PASSWORD
    admin_keystore: Path | None = None
    # The issuer's Ed25519 credential-signing key: $ANCHOR_SIGNING_KEY (hex seed) or this encrypted
    # PKCS#8 file (`anchor issuer key new`), password in $ANCHOR_SIGNING_KEYSTORE_PASSWORD.
    signing_keystore: Path | None = None
    # Where the service answers for this issuer: status lists, DID documents and pages live under
    # it, and credentials name it, so set it to the public address before issuing.
    public_url: str = "http://127.0.0.1:8000"
    # Registries a verifier trusts besides `registry` (addresses; TOML list or comma-separated env).
    # A badge anchored anywhere else is never called valid: the best it gets is untrusted_registry.
    trusted_registries: tuple[str, ...] = ()
    # `anchor notify`: the SMTP server that emails holders their badges. The password comes only
    # from $ANCHOR_SMTP_PASSWORD (never from the TOML file, never shown in a repr or a message).
    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_user: str | None = None
    smtp_password: str | None = field(default=None, repr=False)
    smtp_from: str | None = None  # the sender, e.g. "Demo University <badges@uni.example>"
    smtp_starttls: bool = True  # upgrade the connection with STARTTLS before logging in (port 587)
    smtp_timeout: float = 30.0  # seconds per SMTP command
    smtp_attempts: int = 3  # tries per message on a temporary failure (4xx reply, lost connection)
    smtp_backoff: float = 2.0  # seconds before the second try, doubled before each next one
    # The service's cache of Merkle proofs and tree levels, per worker (bytes): bounded, so a worker's
    # memory does not grow with the size of the batches it answers for.
    proof_cache_bytes: int = 64 * 1024 * 1024
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.home / 'anchor.db').resolve()}"

    @property
    def rpc_endpoints(self) -> tuple[str, ...]:
        """``rpc_url`` then its fallbacks, each once."""
        return tuple(dict.fromkeys((self.rpc_url, *self.rpc_urls)))

    @property
    def deployment_file(self) -> Path:
        return self.home / "deployment.json"

    @property
    def chain_state_file(self) -> Path:
        return self.home / "chain" / "anvil-state.json"

    def is_local_chain(self) -> bool:
        host = urlparse(self.rpc_url).hostname or ""
        return host in {"127.0.0.1", "localhost", "::1"}

    def registry_address(self) -> str:
        """The configured registry, or the one ``anchor deploy`` recorded."""
        if self.registry:
            return self.registry
        record = read_deployment(self.deployment_file)
        if record is None:
            raise ConfigError(
                "no registry address: pass --registry / set $ANCHOR_REGISTRY, or run `anchor deploy` first"
            )
        return str(record["registry"])

    def with_overrides(self, **values: Any) -> Settings:
        """These settings with the flags given (None: not given), checked as the file's and the
        environment's are (a flag cannot bring in what ``anchor.toml`` would be refused for)."""
        settings = replace(self, **{k: v for k, v in values.items() if v is not None})
        if settings != self:
            _check_chain_settings(settings)
        return settings


_TYPES = {f.name: f.type for f in fields(Settings)}

FINALITIES = ("latest", "safe", "finalized")
# Named chains: what a profile fills in. L2s (OP Stack) count a block settled once "safe" (its data
# is posted to Ethereum, minutes); Ethereum once "finalized" (two epochs, ~13 minutes). The fee caps
# are well above these chains' usual fees and below a runaway spike; raise them if you must.
CHAIN_PROFILES: dict[str, dict[str, Any]] = {
    "anvil": {"chain_id": 31337, "finality": "latest", "confirmations": 1},
    "sepolia": {"chain_id": 11155111, "finality": "latest", "confirmations": 3, "max_fee_gwei": 100.0,
                "max_priority_fee_gwei": 5.0},
    "ethereum": {"chain_id": 1, "finality": "finalized", "max_fee_gwei": 60.0, "max_priority_fee_gwei": 2.0,
                 "receipt_timeout": 1800.0, "reprice_after": 300.0},
    "base": {"chain_id": 8453, "finality": "safe", "max_fee_gwei": 1.0, "max_priority_fee_gwei": 0.1,
             "receipt_timeout": 1800.0},
    "optimism": {"chain_id": 10, "finality": "safe", "max_fee_gwei": 1.0, "max_priority_fee_gwei": 0.1,
                 "receipt_timeout": 1800.0},
}
# What a [chains.<name>] table may set: the chain's own settings.
PROFILE_KEYS = frozenset({"chain_id", "rpc_url", "rpc_urls", "finality", "confirmations", "max_fee_gwei",
                          "max_priority_fee_gwei", "receipt_timeout", "reprice_after", "rpc_timeout",
                          "rpc_retry_seconds", "rpc_backoff", "rpc_cooldown", "registry"})
# Secrets are read from the environment only: a settings file is copied, committed and shown.
_ENV_ONLY = {"smtp_password"}
_TRUE, _FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off"}


def _coerce(name: str, value: Any) -> Any:
    kind = str(_TYPES[name])
    if kind.startswith("tuple"):
        items = value.split(",") if isinstance(value, str) else value
        if not isinstance(items, list | tuple) or not all(isinstance(i, str) for i in items):
            raise ConfigError(f"setting {name!r} must be a list of strings, got {value!r}")
        return tuple(i.strip() for i in items if i.strip())
    if kind.startswith("bool"):
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in _TRUE | _FALSE:
            return text in _TRUE
        raise ConfigError(f"setting {name!r} must be true or false, got {value!r}")
    try:
        if "Path" in kind:
            return Path(value)
        if kind.startswith("int"):
            return int(value)
        if kind.startswith("float"):
            return float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"setting {name!r} must be a {kind.split()[0]}, got {value!r}") from None
    return str(value)


def load_settings(config_file: Path | None = None, env: dict[str, str] | None = None) -> Settings:
    """Defaults, then the TOML file (``$ANCHOR_CONFIG`` or ``./anchor.toml`` if present), then env."""
    env = dict(os.environ if env is None else env)
    values: dict[str, Any] = {}
    profiles = {name: dict(p) for name, p in CHAIN_PROFILES.items()}
    path = config_file or (Path(env["ANCHOR_CONFIG"]) if env.get("ANCHOR_CONFIG") else Path("anchor.toml"))
    if path.exists():
        try:
            data = tomllib.loads(path.read_text())
        except tomllib.TOMLDecodeError as e:
            raise ConfigError(f"{path} is not valid TOML: {e}") from None
        for name, table in _custom_profiles(path, data.pop("chains", {})).items():
            profiles[name] = {**profiles.get(name, {}), **table}
        for key, value in data.items():
            name = key.replace("-", "_")
            if name not in _TYPES or name == "extra":
                raise ConfigError(f"{path}: unknown setting {key!r}")
            if name in _ENV_ONLY:
                raise ConfigError(f"{path}: {key} is a secret and is read only from ${ENV_PREFIX}{name.upper()}")
            values[name] = _coerce(name, value)
    elif config_file is not None:
        raise ConfigError(f"config file not found: {config_file}")
    for name in _TYPES:
        raw = env.get(ENV_PREFIX + name.upper())
        if raw and name != "extra":
            values[name] = _coerce(name, raw)
    if values.get("chain"):
        profile = profiles.get(values["chain"])
        if profile is None:
            raise ConfigError(f"unknown chain {values['chain']!r}: one of {', '.join(sorted(profiles))}, "
                              "or define it in a [chains.<name>] table")
        explicit = set(values)
        for name, value in profile.items():  # explicit settings win over the profile
            values.setdefault(name, _coerce(name, value))
        _yield_to_explicit(values, explicit)
    # Which file was read, so that a process started for these settings (a service worker) reads it too.
    settings = Settings(**values, extra={"config_file": str(path.resolve())} if path.exists() else {})
    _check_chain_settings(settings)
    if settings.confirmations < 1:
        raise ConfigError("confirmations must be at least 1 (the anchoring block itself)")
    if settings.smtp_attempts < 1 or settings.smtp_backoff < 0 or settings.smtp_timeout <= 0:
        raise ConfigError("smtp_attempts must be at least 1, smtp_backoff at least 0 and smtp_timeout positive")
    return settings


def _yield_to_explicit(values: dict[str, Any], explicit: set[str]) -> None:
    """A profile's value that contradicts an explicit setting gives way to it, instead of making the
    settings refuse a value their author never wrote: its confirmations under an explicit
    ``finality`` other than "latest", its tip cap above an explicit ``max_fee_gwei`` (held to it).
    A profile that contradicts itself (a ``[chains.<name>]`` table) is still refused."""
    if "confirmations" not in explicit and "finality" in explicit and values["finality"] != "latest":
        values.pop("confirmations", None)
    cap, tip = values.get("max_fee_gwei"), values.get("max_priority_fee_gwei")
    if "max_priority_fee_gwei" not in explicit and "max_fee_gwei" in explicit and cap is not None and tip is not None \
            and tip > cap:
        values["max_priority_fee_gwei"] = cap


def _custom_profiles(path: Path, tables: Any) -> dict[str, dict[str, Any]]:
    """The ``[chains.<name>]`` tables of a settings file, checked: chain settings only."""
    if not isinstance(tables, dict) or not all(isinstance(t, dict) for t in tables.values()):
        raise ConfigError(f"{path}: chains is a set of [chains.<name>] tables")
    out: dict[str, dict[str, Any]] = {}
    for name, table in tables.items():
        keys = {k.replace("-", "_"): v for k, v in table.items()}
        unknown = sorted(set(keys) - PROFILE_KEYS)
        if unknown:
            raise ConfigError(f"{path}: [chains.{name}] cannot set {', '.join(unknown)} (only {', '.join(sorted(PROFILE_KEYS))})")
        out[str(name)] = {k: _coerce(k, v) for k, v in keys.items()}
    return out


def shown_rpc_url(url: str) -> str:
    """``url`` as errors and files may show it: scheme, host and port only (hosted RPCs carry
    their API key in the path, the query or the user info)."""
    try:
        parts = urlsplit(url)
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "<an unparsable URL>"
    if not parts.hostname:
        return f"{parts.scheme}://..." if parts.scheme else "<an unparsable URL>"
    return f"{parts.scheme}://{parts.hostname}{port}"


def _check_chain_settings(s: Settings) -> None:
    """One-line errors for chain settings that cannot work."""
    for url in s.rpc_endpoints:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(f"an RPC URL is http(s)://host[:port][/path], got {shown_rpc_url(url)!r} (rpc_url / rpc_urls)")
    if s.chain_id is not None and s.chain_id < 1:
        raise ConfigError(f"chain_id must be a positive integer, got {s.chain_id}")
    if s.finality not in FINALITIES:
        raise ConfigError(f"finality must be one of {', '.join(FINALITIES)}, got {s.finality!r}")
    if s.finality != "latest" and s.confirmations != 1:
        raise ConfigError(f"confirmations counts blocks only with finality = 'latest'; with {s.finality!r} the node's "
                          f"{s.finality} block decides: drop confirmations or set finality = 'latest'")
    for name in ("max_fee_gwei", "max_priority_fee_gwei"):
        cap = getattr(s, name)
        if cap is not None and not cap > 0:
            raise ConfigError(f"{name} must be a positive number of gwei, got {cap}")
    if s.max_fee_gwei is not None and s.max_priority_fee_gwei is not None and s.max_priority_fee_gwei > s.max_fee_gwei:
        raise ConfigError(f"max_priority_fee_gwei ({s.max_priority_fee_gwei}) cannot exceed max_fee_gwei ({s.max_fee_gwei})")
    if not s.rpc_timeout > 0 or s.rpc_retry_seconds < 0 or s.rpc_backoff < 0 or s.rpc_cooldown < 0:
        raise ConfigError("rpc_timeout must be positive; rpc_retry_seconds, rpc_backoff and rpc_cooldown at least 0")


def read_deployment(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except ValueError as e:
        raise ConfigError(f"{path} is not valid JSON: {e}") from None
    if not isinstance(data, dict) or "registry" not in data:
        raise ConfigError(f"{path} has no registry address")
    return data


def write_deployment(path: Path, record: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(record, indent=2) + "\n")
    os.replace(tmp, path)
