"""The export forms of a badge besides its JSON file (``anchor export --format``).

* ``json``: ``<uuid>.json``, the credential with its proof set (signature + anchor receipt).
* ``jwt``:  ``<uuid>.jwt``, a VC-JWT (compact JWS, EdDSA, ``kid`` = the verification method)
  whose payload is that same credential, proof set included, so anchor checks the chain from it.
* ``png``/``svg``: ``<uuid>.png`` / ``<uuid>.svg``, an image baked per the OB 3.0 baking rules
  with the JSON credential inside. The image is a generated badge (the achievement's name and
  issuer on a shape): an achievement's own image is a URL anchor does not fetch.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from anchor.app.signing import BadgeSigner
from anchor.core import jwt
from anchor.core.badge_image import badge_png, badge_svg
from anchor.core.baking import bake_png, bake_svg
from anchor.core.errors import InputError

FORMATS = ("json", "jwt", "png", "svg")


def parse_formats(text: str) -> tuple[str, ...]:
    """``"json,png"`` → ``("json", "png")``; InputError naming what is not a form."""
    wanted = tuple(dict.fromkeys(f.strip().lower() for f in text.split(",") if f.strip()))
    unknown = [f for f in wanted if f not in FORMATS]
    if unknown or not wanted:
        raise InputError(f"--format takes a comma-separated list of {', '.join(FORMATS)}; got {text!r}")
    return wanted


@dataclass
class FormRenderer:
    """``renderer(uuid, badge_json) -> [(file name, bytes), ...]`` for the chosen forms."""

    formats: tuple[str, ...]
    signer: BadgeSigner | None = None
    _images: dict[tuple[str, str, str], bytes] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if "jwt" in self.formats and self.signer is None:
            raise InputError("the jwt form needs the issuer's signing key")

    def _image(self, kind: str, credential: dict[str, Any]) -> bytes:
        achievement = credential.get("credentialSubject", {}).get("achievement", {})
        name, issuer = str(achievement.get("name", "")), str(credential.get("issuer", {}).get("name", ""))
        key = (kind, name, issuer)
        image = self._images.get(key)
        if image is None:
            seed = str(achievement.get("id", name))
            image = badge_png(seed) if kind == "png" else badge_svg(name, issuer, seed=seed).encode()
            self._images[key] = image
        return image

    def __call__(self, uuid: str, badge: bytes) -> list[tuple[str, bytes]]:
        out: list[tuple[str, bytes]] = []
        if "json" in self.formats:
            out.append((uuid + ".json", badge))
        if len(out) == len(self.formats):
            return out
        credential = json.loads(badge)
        text = badge.decode("utf-8")
        for form in self.formats:
            if form == "jwt":
                assert self.signer is not None
                token = jwt.encode(credential, self.signer.key.sign, self.signer.verification_method)
                out.append((uuid + ".jwt", token.encode()))
            elif form == "png":
                out.append((uuid + ".png", bake_png(self._image("png", credential), text)))
            elif form == "svg":
                out.append((uuid + ".svg", bake_svg(self._image("svg", credential).decode(), text).encode()))
        return out
