"""One exception family for the whole package.

Every error anchor raises on purpose derives from :class:`AnchorError`. Families are split by
cause, and each carries a machine-readable ``reason`` (a short snake_case code that API clients
and tests match on) next to its human sentence. Edges translate them: the CLI into one line and
an exit code, the API into RFC 9457 problem documents.
"""

from __future__ import annotations


class AnchorError(Exception):
    """Base of every deliberate anchor error."""

    reason: str = "error"

    def __init__(self, message: str, *, reason: str | None = None) -> None:
        super().__init__(message)
        if reason is not None:
            self.reason = reason

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else ""


class InputError(AnchorError):
    """Input from outside (a file, a flag, a request body) is malformed or inconsistent."""

    reason = "invalid_input"


class ConfigError(AnchorError):
    """Configuration is missing or contradictory (no key, no registry address, ...)."""

    reason = "invalid_config"


class VerificationError(AnchorError):
    """A credential, proof or record failed a check; ``reason`` says which."""

    reason = "verification_failed"


class ChainError(AnchorError):
    """Talking to the chain failed: unreachable RPC, reverted or dropped transaction."""

    reason = "chain_error"


class ChainUnavailable(ChainError):
    """The RPC endpoint cannot be reached; nothing can be concluded from the chain."""

    reason = "chain_unavailable"


class ContractRevert(ChainError):
    """The registry reverted; ``reason`` is the custom error's name in snake_case."""

    def __init__(self, message: str, *, reason: str, error_name: str, args: tuple[object, ...] = ()) -> None:
        super().__init__(message, reason=reason)
        self.error_name = error_name
        self.error_args = args


class NotFound(AnchorError):
    """The thing asked for does not exist (credential id, batch root, issuer)."""

    reason = "not_found"


class StoreError(AnchorError):
    """The issuer database is missing, unreadable or inconsistent."""

    reason = "store_error"
