"""A badge image for achievements that have none: an accessible SVG and a plain PNG, generated.

Baking needs an image (OB 3.0 bakes credentials into PNG or SVG), and an achievement definition
may not name one. :func:`badge_svg` draws a disc in a colour picked from the achievement, the
achievement name wrapped over up to four lines and the issuer name beneath; it has a
``<title>``/``<desc>`` pair referenced by ``aria-labelledby`` and ``role="img"``, so screen
readers announce it, and every palette colour keeps white text above the WCAG AA contrast ratio
(4.5:1). :func:`badge_png` is the same disc without text (a PNG with text would need a font
rasterizer), so ``--format png`` always has an image to bake.

Both are deterministic: the same inputs give the same bytes, so exports are reproducible and
the images can be cached. Text is normalized (control characters dropped, white space folded)
and XML-escaped. Pure: standard library only.
"""

from __future__ import annotations

import functools
import hashlib
import math
import re
import struct
import zlib
from xml.sax.saxutils import escape

__all__ = ["PALETTE", "badge_colour", "badge_png", "badge_svg", "wrap"]

#: Fill colours (Tailwind's 700 shades): each keeps white text at a contrast ratio of 4.5:1 or more.
PALETTE = ("#1D4ED8", "#047857", "#7E22CE", "#B91C1C", "#0F766E", "#C2410C", "#4338CA", "#374151", "#BE185D")

_FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, Helvetica, Arial, sans-serif"
_MAX_LINES = 4
_LINE_CHARS = 16  # characters per line of the name at the sizes below (a 240-unit disc)
_ISSUER_CHARS = 30
# Anything XML cannot carry or a reader would trip on: C0/C1 controls, surrogates, U+FFFE/U+FFFF.
_UNPRINTABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")


def _clean(text: str) -> str:
    return " ".join(_UNPRINTABLE.sub("", text).split())


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "\u2026"


def badge_colour(seed: str) -> str:
    """The palette colour for ``seed`` (an achievement id or name): stable across runs."""
    digest = hashlib.sha256(seed.encode("utf-8", "surrogatepass")).digest()
    return PALETTE[digest[0] % len(PALETTE)]


def wrap(text: str, width: int = _LINE_CHARS, max_lines: int = _MAX_LINES) -> list[str]:
    """``text`` in lines of at most ``width`` characters, broken at spaces (words longer than a
    line are cut), at most ``max_lines`` lines; text that does not fit ends in an ellipsis."""
    words = _clean(text).split(" ")
    lines: list[str] = []
    current = ""
    for word in words:
        while len(word) > width:  # a word longer than a line: cut it
            if current:
                lines.append(current)
                current = ""
            lines.append(word[:width])
            word = word[width:]
        if not current:
            current = word
        elif len(current) + 1 + len(word) <= width:
            current += " " + word
        else:
            lines.append(current)
            current = word
    if current:
        lines.append(current)
    if len(lines) > max_lines:
        lines = lines[:max_lines]
        lines[-1] = _clip(lines[-1] + " \u2026", width) if len(lines[-1]) < width else _clip(lines[-1] + "\u2026", width)
    return lines or [""]


def badge_svg(achievement_name: str, issuer_name: str, *, seed: str | None = None) -> str:
    """An SVG badge: a coloured disc with the achievement name and the issuer name on it.

    ``seed`` picks the colour (default: the achievement name); pass the achievement id so two
    badges of the same name from different achievements differ.
    """
    name = _clean(achievement_name) or "Badge"
    issuer = _clean(issuer_name)
    colour = badge_colour(seed if seed is not None else name)
    lines = wrap(name)
    longest = max(len(line) for line in lines)
    # A bold sans-serif glyph is about 0.6 em wide; keep the longest line within ~170 units (the
    # disc's chord is wider than that at every line's height).
    size = min({1: 22, 2: 20, 3: 17}.get(len(lines), 15), int(170 / (0.6 * max(longest, 1))))
    leading = round(size * 1.2)
    top = 112 - (len(lines) - 1) * leading / 2  # centre the block of lines a little above the middle
    tspans = "".join(
        f'<tspan x="120" y="{top + i * leading:g}">{escape(line)}</tspan>' for i, line in enumerate(lines)
    )
    desc = f"Open Badge \u201c{name}\u201d" + (f" issued by {issuer}" if issuer else "") + "."
    issuer_text = (
        f'<text x="120" y="184" font-size="11" text-anchor="middle" fill="#FFFFFF">{escape(_clip(issuer, _ISSUER_CHARS))}</text>'
        if issuer
        else ""
    )
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" width="240" height="240" viewBox="0 0 240 240" '
        'role="img" aria-labelledby="badge-title badge-desc">'
        f'<title id="badge-title">{escape(name)}</title>'
        f'<desc id="badge-desc">{escape(desc)}</desc>'
        f'<circle cx="120" cy="120" r="116" fill="{colour}"/>'
        '<circle cx="120" cy="120" r="104" fill="none" stroke="#FFFFFF" stroke-width="3" stroke-opacity="0.85"/>'
        '<path d="M120 34l6.2 12.6 13.9 2-10 9.8 2.4 13.8-12.5-6.6-12.5 6.6 2.4-13.8-10-9.8 13.9-2z" fill="#FFFFFF"/>'
        f'<text font-family="{_FONT}" font-size="{size}" font-weight="700" text-anchor="middle" '
        f'dominant-baseline="middle" fill="#FFFFFF">{tspans}</text>'
        f'<g font-family="{_FONT}">{issuer_text}</g>'
        "</svg>\n"
    )


# ------------------------------------------------------------------------------ PNG


def _chunk(ctype: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + ctype + data + struct.pack(">I", zlib.crc32(ctype + data))


@functools.lru_cache(maxsize=32)
def _disc_png(colour: str, size: int) -> bytes:
    r, g, b = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    centre = (size - 1) / 2
    outer = size / 2 - 1
    ring_mid, ring_half = outer * 0.9, max(size / 96, 0.75)  # a thin white ring inside the edge
    rows = []
    for y in range(size):
        row = bytearray(b"\0")  # filter type 0 (None)
        dy = y - centre
        for x in range(size):
            d = math.hypot(x - centre, dy)
            alpha = min(max(outer + 0.5 - d, 0.0), 1.0)  # anti-aliased edge: pixel coverage
            white = min(max(ring_half + 0.5 - abs(d - ring_mid), 0.0), 1.0)
            row += bytes((
                round(r + (255 - r) * white),
                round(g + (255 - g) * white),
                round(b + (255 - b) * white),
                round(255 * alpha),
            ))
        rows.append(bytes(row))
    header = struct.pack(">IIBBBBB", size, size, 8, 6, 0, 0, 0)  # 8-bit RGBA, no interlace
    return b"".join((
        b"\x89PNG\r\n\x1a\n",
        _chunk(b"IHDR", header),
        _chunk(b"IDAT", zlib.compress(b"".join(rows), 9)),
        _chunk(b"IEND", b""),
    ))


def badge_png(seed: str = "", *, size: int = 256) -> bytes:
    """A PNG badge: an anti-aliased disc in ``badge_colour(seed)`` with a white ring, on
    transparency, ``size`` pixels square (16 to 1024)."""
    if not 16 <= size <= 1024:
        raise ValueError(f"badge size must be 16 to 1024 pixels, got {size}")
    return _disc_png(badge_colour(seed), size)
