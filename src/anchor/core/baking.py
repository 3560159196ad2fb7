"""Baked badges: an Open Badges 3.0 credential carried inside its PNG or SVG image (OB 3.0 §5.3).

* **PNG**: one uncompressed ``iTXt`` chunk with the keyword ``openbadgecredential`` (compression
  flag 0, method 0, empty language tag and translated keyword), inserted just before ``IEND``. Its
  text is the credential JSON or the compact VC-JWT. The baking rules OB 3.0 takes over from OB 2.0
  say compression MUST NOT be used and the chunk MUST NOT appear more than once; baking an image
  that already carries one replaces it.
* **SVG**: an ``<openbadges:credential>`` element in the namespace
  ``https://purl.imsglobal.org/ob/v3p0``, directly after the opening ``<svg>`` tag, with
  ``xmlns:openbadges`` on the root. A VC-JWT goes in its ``verify`` attribute; a JSON credential
  (Data Integrity proof) goes in a CDATA section as its text. The ``openbadges`` prefix is the
  one every reader looks for (openbadgeslib matches the qualified name), so the element also
  declares it itself, whatever the root declares. Baking replaces an existing element.

Both readers run on hostile input before any signature is checked, so they are strict and
bounded: PNG signature, every chunk's CRC, chunk lengths within the file, ``IHDR`` first, ``IEND``
last and nothing after it, a cap on size and chunk count, exactly one credential chunk (a
``tEXt``/``zTXt`` or compressed ``iTXt`` under our keyword is refused, not guessed at). SVG is
parsed by expat with no DTD internal subset (so no entity can be declared: no entity expansion
bombs, no external entities), external entities and parameter entities off, a size cap and a
depth cap; the document must be UTF-8 with an ``svg`` root in the SVG namespace, and must hold
exactly one credential element. Every refusal is an :class:`~anchor.core.errors.InputError`
with a precise ``reason``.

The splice preserves the rest of the image byte for byte (other PNG chunks keep their CRCs;
the SVG text outside the inserted element is untouched). Pure: no I/O, standard library only.
"""

from __future__ import annotations

import re
import struct
import zlib
from dataclasses import dataclass, field
from typing import NoReturn
from xml.parsers import expat

from anchor.core.errors import InputError

__all__ = [
    "ITXT_KEYWORD",
    "MAX_PAYLOAD_BYTES",
    "MAX_PNG_BYTES",
    "MAX_SVG_BYTES",
    "PNG_SIGNATURE",
    "SVG_NAMESPACE",
    "bake_png",
    "bake_svg",
    "unbake_png",
    "unbake_svg",
]

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
ITXT_KEYWORD = b"openbadgecredential"
SVG_NAMESPACE = "https://purl.imsglobal.org/ob/v3p0"
SVG_PREFIX = "openbadges"
_SVG_ROOT_NS = "http://www.w3.org/2000/svg"

#: Largest baked payload (credential JSON or compact JWT), in bytes of UTF-8.
MAX_PAYLOAD_BYTES = 512 * 1024
#: Largest PNG read or written. Badge images are tens of kilobytes; this leaves room for large
#: artwork while bounding the CRC pass (about 10 ms at the cap).
MAX_PNG_BYTES = 16 * 1024 * 1024
#: Most chunks in a PNG (8 KiB IDAT chunks fill 16 MiB with 2,048); bounds the parsing loop.
MAX_PNG_CHUNKS = 16_384
#: Largest SVG read or written, in bytes of UTF-8.
MAX_SVG_BYTES = 4 * 1024 * 1024
#: Deepest SVG element nesting accepted.
MAX_SVG_DEPTH = 256

_MAX_CHUNK_LENGTH = 2**31 - 1  # PNG spec


def _refuse(message: str, reason: str) -> NoReturn:
    raise InputError(message, reason=reason)


def _payload_bytes(payload: str, where: str) -> bytes:
    """The payload's UTF-8, checked: text, non-empty, bounded, no NUL."""
    if not isinstance(payload, str) or not payload.strip():
        _refuse(f"nothing to bake into the {where}: the payload is empty", "bake_payload")
    if len(payload) > MAX_PAYLOAD_BYTES:
        _refuse(f"payload to bake is over {MAX_PAYLOAD_BYTES} bytes", "too_large")
    try:
        data = payload.encode("utf-8")
    except UnicodeEncodeError:
        _refuse("payload to bake is not UTF-8 (lone surrogate)", "not_utf8")
    if len(data) > MAX_PAYLOAD_BYTES:
        _refuse(f"payload to bake is {len(data)} bytes, over {MAX_PAYLOAD_BYTES}", "too_large")
    if b"\0" in data:
        _refuse("payload to bake contains a NUL character", "bake_payload")
    return data


def _payload_text(data: bytes, where: str) -> str:
    if len(data) > MAX_PAYLOAD_BYTES:
        _refuse(f"the credential in the {where} is {len(data)} bytes, over {MAX_PAYLOAD_BYTES}", "too_large")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        _refuse(f"the credential in the {where} is not UTF-8 (byte {exc.start})", "not_utf8")


# ================================================================================ PNG


@dataclass(frozen=True)
class _Chunk:
    type: bytes
    start: int  # offset of the length field
    data_start: int
    data_end: int  # offset of the CRC

    @property
    def end(self) -> int:
        return self.data_end + 4


def _png_chunks(png: bytes) -> list[_Chunk]:
    """Every chunk of ``png`` from IHDR to IEND, each checked (see the module docstring)."""
    if not isinstance(png, bytes | bytearray | memoryview):
        _refuse("PNG must be bytes", "png_format")
    png = bytes(png)
    if len(png) > MAX_PNG_BYTES:
        _refuse(f"PNG is too large: {len(png)} bytes, at most {MAX_PNG_BYTES}", "too_large")
    if not png.startswith(PNG_SIGNATURE):
        _refuse("not a PNG: the 8-byte PNG signature is missing", "png_signature")
    view = memoryview(png)
    chunks: list[_Chunk] = []
    pos = len(PNG_SIGNATURE)
    while True:
        if len(chunks) >= MAX_PNG_CHUNKS:
            _refuse(f"PNG has more than {MAX_PNG_CHUNKS} chunks", "too_large")
        if pos + 8 > len(png):
            _refuse(f"PNG ends inside a chunk header at offset {pos} (no IEND)", "png_truncated")
        (length,) = struct.unpack_from(">I", png, pos)
        ctype = png[pos + 4 : pos + 8]
        if length > _MAX_CHUNK_LENGTH:
            _refuse(f"PNG chunk at offset {pos} declares {length} bytes, over the 2^31-1 the format allows", "png_chunk_length")
        if not ctype.isalpha() or not ctype.isascii():
            _refuse(f"PNG chunk at offset {pos} has an invalid type {ctype!r}", "png_chunk_type")
        data_start = pos + 8
        data_end = data_start + length
        if data_end + 4 > len(png):
            _refuse(f"PNG chunk {ctype.decode()} at offset {pos} declares {length} bytes but the file ends first", "png_truncated")
        (crc,) = struct.unpack_from(">I", png, data_end)
        if zlib.crc32(view[pos + 4 : data_end]) != crc:  # the CRC covers type and data
            _refuse(f"PNG chunk {ctype.decode()} at offset {pos} fails its CRC check", "png_crc")
        chunk = _Chunk(ctype, pos, data_start, data_end)
        if not chunks and (ctype != b"IHDR" or length != 13):
            _refuse("PNG does not start with a 13-byte IHDR chunk", "png_ihdr")
        chunks.append(chunk)
        pos = chunk.end
        if ctype == b"IEND":
            if length:
                _refuse("PNG IEND chunk is not empty", "png_iend")
            break
    if pos != len(png):
        _refuse(f"PNG has {len(png) - pos} bytes after IEND", "png_trailing_data")
    if not any(c.type == b"IDAT" for c in chunks):
        _refuse("PNG has no image data (IDAT)", "png_no_image")
    return chunks


def _is_credential_chunk(png: bytes, chunk: _Chunk) -> bool:
    """A text chunk (tEXt, zTXt, iTXt) under our keyword, well-formed or not."""
    return chunk.type in (b"tEXt", b"zTXt", b"iTXt") and png.startswith(ITXT_KEYWORD + b"\0", chunk.data_start)


def _itxt(keyword: bytes, text: bytes) -> bytes:
    """A complete uncompressed iTXt chunk: keyword, NUL, flag 0, method 0, empty language, NUL,
    empty translated keyword, NUL, text."""
    body = b"iTXt" + keyword + b"\0\0\0\0\0" + text
    return struct.pack(">I", len(body) - 4) + body + struct.pack(">I", zlib.crc32(body))


def bake_png(png: bytes, payload: str) -> bytes:
    """``png`` with ``payload`` (credential JSON or compact JWT) in an ``openbadgecredential``
    iTXt chunk before IEND; an existing credential chunk is replaced. Other chunks are kept as
    they are."""
    text = _payload_bytes(payload, "PNG")
    data = bytes(png)
    chunks = _png_chunks(data)
    parts = [PNG_SIGNATURE]
    parts += [data[c.start : c.end] for c in chunks[:-1] if not _is_credential_chunk(data, c)]
    parts += [_itxt(ITXT_KEYWORD, text), data[chunks[-1].start : chunks[-1].end]]
    out = b"".join(parts)
    if len(out) > MAX_PNG_BYTES:
        _refuse(f"baked PNG would be {len(out)} bytes, over {MAX_PNG_BYTES}", "too_large")
    return out


def unbake_png(data: bytes) -> str:
    """The credential text baked into a PNG (exactly one uncompressed ``openbadgecredential``
    iTXt chunk), or :class:`InputError`."""
    png = bytes(data) if isinstance(data, bytes | bytearray | memoryview) else data
    found = [c for c in _png_chunks(png) if _is_credential_chunk(png, c)]
    if not found:
        _refuse("PNG carries no Open Badges 3.0 credential (no 'openbadgecredential' iTXt chunk)", "no_credential")
    if len(found) > 1:
        _refuse(f"PNG carries {len(found)} 'openbadgecredential' chunks; exactly one is allowed", "duplicate_credential")
    chunk = found[0]
    if chunk.type != b"iTXt":
        _refuse(f"PNG carries the credential in a {chunk.type.decode()} chunk; OB 3.0 uses iTXt", "png_credential_chunk")
    rest = png[chunk.data_start + len(ITXT_KEYWORD) + 1 : chunk.data_end]
    if len(rest) < 2 or rest[0] != 0 or rest[1] != 0:
        _refuse("PNG credential chunk is compressed (or has an unknown compression method); OB 3.0 forbids compression",
                "png_compressed_credential")
    fields = rest[2:].split(b"\0", 2)  # language tag, translated keyword, text
    if len(fields) != 3:
        _refuse("PNG credential chunk is malformed (language tag or translated keyword not terminated)", "png_itxt")
    text = _payload_text(fields[2], "PNG")
    if not text.strip():
        _refuse("PNG credential chunk is empty", "no_credential")
    return text


# ================================================================================ SVG

_XML_DECL_ENCODING = re.compile(rb"""\A<\?xml\s[^>]*?\bencoding\s*=\s*["']([A-Za-z0-9._-]+)["']""")
_NOT_XML_CHAR = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_BOM = b"\xef\xbb\xbf"


class _Refused(Exception):
    """Raised inside expat handlers to stop the parse; turned into InputError outside."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass
class _Element:
    start: int  # offset of '<'
    end: int = -1  # offset just past the element
    verify: str | None = None
    text: list[str] = field(default_factory=list)


@dataclass
class _SvgScan:
    root_start: int = -1
    root_tag_end: int = -1  # offset of the '>' closing the root's start tag
    root_declares_prefix: bool = False
    credentials: list[_Element] = field(default_factory=list)


# A start tag (attribute values quoted, so a '>' inside one does not end it) or an end tag.
_TAG = re.compile(rb"""<[^\s/>]+(?:\s+[^\s=/>]+\s*=\s*(?:"[^"]*"|'[^']*'))*\s*/?>|</[^\s>]+\s*>""")


def _tag_end(data: bytes, start: int) -> int:
    """Offset of the ``>`` closing the tag that starts at ``start`` (expat has accepted it)."""
    match = _TAG.match(data, start)
    if match is None:  # not expected once expat accepted the document; refuse rather than guess
        raise _Refused(f"SVG tag at offset {start} could not be delimited", "svg_invalid")
    return match.end() - 1


def _scan_svg(data: bytes) -> _SvgScan:
    """Parse ``data`` (UTF-8) with expat, safely, and locate the root tag and credential elements."""
    scan = _SvgScan()
    stack: list[_Element | None] = []  # the open elements; an _Element for a credential
    pending_prefixes: set[str] = set()
    parser = expat.ParserCreate(encoding="UTF-8", namespace_separator=" ")
    parser.namespace_prefixes = True
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)

    def doctype(name: str, system_id: str | None, public_id: str | None, has_internal_subset: int) -> None:
        # A bare <!DOCTYPE svg PUBLIC ...> (as some editors write) declares nothing and is never
        # fetched; an internal subset is where entities (bombs, external files) are declared.
        if has_internal_subset:
            raise _Refused("SVG has a DTD internal subset (entity declarations are refused)", "svg_dtd")

    def entity(*_: object) -> None:
        raise _Refused("SVG declares or references an entity; only the XML built-ins are allowed", "svg_entity")

    def external(*_: object) -> int:
        raise _Refused("SVG references an external entity", "svg_entity")

    def namespace(prefix: str | None, uri: str) -> None:
        if not stack and scan.root_start < 0:
            pending_prefixes.add(prefix or "")

    def start(name: str, attrs: dict[str, str]) -> None:
        if len(stack) >= MAX_SVG_DEPTH:
            raise _Refused(f"SVG nests elements more than {MAX_SVG_DEPTH} deep", "svg_too_deep")
        parts = name.split(" ")  # "local", "uri local" or "uri local prefix"
        if len(parts) == 1:
            parts.insert(0, "")
        uri, local, prefix = (*parts, "")[:3]
        offset = parser.CurrentByteIndex
        if scan.root_start < 0:
            if uri != _SVG_ROOT_NS or local != "svg":
                raise _Refused(f"not an SVG document: the root element is {local!r} in namespace {uri!r}", "svg_root")
            scan.root_start = offset
            scan.root_tag_end = _tag_end(data, offset)
            scan.root_declares_prefix = SVG_PREFIX in pending_prefixes
        if stack and isinstance(stack[-1], _Element):
            raise _Refused("the SVG credential element contains other elements", "svg_credential")
        element: _Element | None = None
        if local == "credential" and (uri == SVG_NAMESPACE or prefix == SVG_PREFIX):
            if uri != SVG_NAMESPACE:
                raise _Refused(f"<openbadges:credential> is in namespace {uri!r}, not {SVG_NAMESPACE!r}", "svg_credential")
            element = _Element(offset, verify=attrs.get("verify"))
            tag_end = _tag_end(data, offset)
            if data[tag_end - 1] == 0x2F:  # '/': an empty element ends with its start tag
                element.end = tag_end + 1
            scan.credentials.append(element)
        stack.append(element)

    def end(name: str) -> None:
        element = stack.pop()
        if element is not None and element.end < 0:
            element.end = _tag_end(data, parser.CurrentByteIndex) + 1

    def characters(text: str) -> None:
        if stack and isinstance(stack[-1], _Element):
            stack[-1].text.append(text)

    parser.StartDoctypeDeclHandler = doctype
    parser.EntityDeclHandler = entity
    parser.UnparsedEntityDeclHandler = entity
    parser.NotationDeclHandler = entity
    parser.ExternalEntityRefHandler = external
    parser.SkippedEntityHandler = entity
    parser.StartNamespaceDeclHandler = namespace
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = characters
    try:
        parser.Parse(data, True)
    except _Refused as exc:
        _refuse(str(exc), exc.reason)
    except expat.ExpatError as exc:
        _refuse(f"SVG is not well-formed XML: {exc}", "svg_invalid")
    if scan.root_start < 0:
        _refuse("not an SVG document: no root element", "svg_root")
    return scan


def _svg_bytes(svg: bytes | bytearray | memoryview | str) -> bytes:
    """The SVG as UTF-8 bytes without BOM, bounded; refuses a declared encoding other than UTF-8."""
    if isinstance(svg, str):
        if len(svg) > MAX_SVG_BYTES:
            _refuse(f"SVG is too large: over {MAX_SVG_BYTES} bytes", "too_large")
        try:
            data = svg.encode("utf-8")
        except UnicodeEncodeError:
            _refuse("SVG text is not UTF-8 (lone surrogate)", "not_utf8")
    elif isinstance(svg, bytes | bytearray | memoryview):
        data = bytes(svg)
    else:
        _refuse("SVG must be text or bytes", "svg_invalid")
    if len(data) > MAX_SVG_BYTES:
        _refuse(f"SVG is too large: {len(data)} bytes, at most {MAX_SVG_BYTES}", "too_large")
    if data.startswith(_BOM):
        data = data[len(_BOM) :]
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        _refuse(f"SVG is not UTF-8: byte 0x{data[exc.start]:02x} at offset {exc.start}", "not_utf8")
    declared = _XML_DECL_ENCODING.match(data)
    if declared and declared.group(1).lower() not in (b"utf-8", b"utf8"):
        _refuse(f"SVG declares the encoding {declared.group(1).decode()!r}; only UTF-8 is read", "svg_encoding")
    return data


def _credential_element(payload: str) -> str:
    """The element to bake: a JWT in ``verify``, a JSON credential in CDATA."""
    from anchor.core.jwt import looks_like_jwt  # local: keep the module's import surface small

    _payload_bytes(payload, "SVG")
    open_tag = f'<{SVG_PREFIX}:credential xmlns:{SVG_PREFIX}="{SVG_NAMESPACE}"'
    if payload.lstrip().startswith("{"):
        bad = _NOT_XML_CHAR.search(payload)
        if bad:
            _refuse(f"the credential contains U+{ord(bad.group()):04X}, which XML cannot carry", "bake_payload")
        cdata = payload.replace("]]>", "]]]]><![CDATA[>")
        return f"{open_tag}><![CDATA[{cdata}]]></{SVG_PREFIX}:credential>"
    if looks_like_jwt(payload):
        return f'{open_tag} verify="{payload}"/>'
    _refuse("payload to bake is neither a JSON credential nor a compact JWT", "bake_payload")


def bake_svg(svg: str, payload: str) -> str:
    """``svg`` with ``payload`` in an ``<openbadges:credential>`` element right after the opening
    ``<svg>`` tag (``xmlns:openbadges`` added to the root when it has none); an existing credential
    element is replaced, everything else is kept as written."""
    element = _credential_element(payload).encode("utf-8")
    data = _svg_bytes(svg)
    scan = _scan_svg(data)
    root_end = scan.root_tag_end
    self_closing = data[root_end - 1] == 0x2F
    insert_at = root_end - 1 if self_closing else root_end  # where the start tag's '/>' or '>' begins
    declaration = b"" if scan.root_declares_prefix else f' xmlns:{SVG_PREFIX}="{SVG_NAMESPACE}"'.encode()
    if self_closing:
        qname = re.match(rb"<([^\s/>]+)", data[scan.root_start :])
        assert qname is not None  # expat accepted the tag
        new_root = declaration + b">" + element + b"</" + qname.group(1) + b">"
        out = data[:insert_at] + new_root + data[root_end + 1 :]
    else:
        pieces = [data[:insert_at], declaration, b">", element]
        pos = root_end + 1
        for old in scan.credentials:  # in document order, all after the root start tag
            pieces.append(data[pos : old.start])
            pos = old.end
        pieces.append(data[pos:])
        out = b"".join(pieces)
    if len(out) > MAX_SVG_BYTES:
        _refuse(f"baked SVG would be {len(out)} bytes, over {MAX_SVG_BYTES}", "too_large")
    return out.decode("utf-8")


def unbake_svg(data: bytes | str) -> str:
    """The credential baked into an SVG: the ``verify`` attribute (a JWT) or the text (JSON) of
    its single ``<openbadges:credential>`` element, or :class:`InputError`."""
    scan = _scan_svg(_svg_bytes(data))
    if not scan.credentials:
        _refuse("SVG carries no Open Badges 3.0 credential (no <openbadges:credential> element)", "no_credential")
    if len(scan.credentials) > 1:
        _refuse(f"SVG carries {len(scan.credentials)} <openbadges:credential> elements; exactly one is allowed",
                "duplicate_credential")
    element = scan.credentials[0]
    text = "".join(element.text).strip()
    if element.verify is not None:
        if text:
            _refuse("SVG credential element has both a verify attribute and text; which one is the credential?",
                    "svg_credential")
        text = element.verify.strip()
    if not text:
        _refuse("SVG credential element is empty", "no_credential")
    _payload_text(text.encode("utf-8"), "SVG")
    return text
