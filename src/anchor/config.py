"""Settings, read once: defaults < ``anchor.toml`` < environment < command-line flags.

The embedded defaults are a local Anvil on 127.0.0.1:8545 and a SQLite file under ``var/``.
``anchor deploy`` records the registry it deployed in ``var/deployment.json``; without an explicit
registry address, that record is used.
"""

from __future__ import annotations

import json
import os
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from anchor.core.errors import ConfigError

ENV_PREFIX = "ANCHOR_"


@dataclass(frozen=True)
class Settings:
    home: Path = Path("var")  # local state: chain state file, deployment record, database, logs
    rpc_url: str = "http://127.0.0.1:8545"
    # The chain the registry lives on: when set, a node answering with another chain id is refused.
    chain_id: int | None = None
    registry: str | None = None  # registry address; default: the one in var/deployment.json
    database_url: str | None = None  # default: sqlite under `home`
    confirmations: int = 1  # blocks (the anchoring block included) before a proof is released
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
        return replace(self, **{k: v for k, v in values.items() if v is not None})


_TYPES = {f.name: f.type for f in fields(Settings)}
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
    path = config_file or (Path(env["ANCHOR_CONFIG"]) if env.get("ANCHOR_CONFIG") else Path("anchor.toml"))
    if path.exists():
        try:
            data = tomllib.loads(path.read_text())
        except tomllib.TOMLDecodeError as e:
            raise ConfigError(f"{path} is not valid TOML: {e}") from None
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
    settings = Settings(**values)
    if settings.confirmations < 1:
        raise ConfigError("confirmations must be at least 1 (the anchoring block itself)")
    if settings.smtp_attempts < 1 or settings.smtp_backoff < 0 or settings.smtp_timeout <= 0:
        raise ConfigError("smtp_attempts must be at least 1, smtp_backoff at least 0 and smtp_timeout positive")
    return settings


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
