"""Query parameters: each one declared once, for both its OpenAPI entry and its parsing, so the
document and the behaviour cannot disagree. A value outside what the document allows is a 422
problem naming the parameter and its allowed range; nothing is silently clamped."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from flask import request

from anchor.api.openapi import query_param
from anchor.api.problems import Problem

_DIGITS = re.compile(r"[0-9]{1,19}")  # ASCII only: str.isdigit() also accepts "²" and "٣"


@dataclass(frozen=True)
class IntParam:
    name: str
    description: str
    default: int
    minimum: int
    maximum: int

    def spec(self) -> dict[str, Any]:
        return query_param(self.name, f"{self.description} ({self.minimum} to {self.maximum:,}; default {self.default})",
                           {"type": "integer", "minimum": self.minimum, "maximum": self.maximum, "default": self.default})

    def get(self) -> int:
        """The parameter's value from the current request, or its default when absent."""
        raw = request.args.get(self.name)
        if raw is None:
            return self.default
        allowed = f"an integer from {self.minimum} to {self.maximum:,}"
        if not _DIGITS.fullmatch(raw):
            raise Problem(422, "Unprocessable Content", f"query parameter {self.name} must be {allowed}, got {raw[:40]!r}",
                          kind="invalid-parameter", parameter=self.name, minimum=self.minimum, maximum=self.maximum)
        value = int(raw)
        if not self.minimum <= value <= self.maximum:
            raise Problem(422, "Unprocessable Content", f"query parameter {self.name} must be {allowed}, got {value}",
                          kind="parameter-out-of-range", parameter=self.name, minimum=self.minimum, maximum=self.maximum)
        return value
