"""What the browser tests share: Debian's Chromium driven by Playwright, axe-core, screenshots, print.

Playwright drives the Chromium that ``scripts/setup`` installs from Debian (``/usr/bin/chromium``,
or ``ANCHOR_CHROMIUM``); its own browser download is never used. A missing browser or axe-core is
a failure naming the fix, never a skip: the pages are part of the product.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path(os.environ.get("ANCHOR_CHROMIUM", "/usr/bin/chromium"))
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
ARTIFACTS = ROOT / "test-artifacts"

DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}  # an iPhone 12-15 sized viewport: the 390 px

# Headless flags: without the background-networking ones Chromium keeps dialling Google's hosts,
# which this closed network refuses; --no-sandbox only where it must (as root, e.g. in CI).
FLAGS = ["--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage", "--disable-default-apps", "--disable-extensions",
         "--font-render-hinting=none"]
if hasattr(os, "geteuid") and os.geteuid() == 0:
    FLAGS.append("--no-sandbox")

SERIOUS = ("serious", "critical")


def require_tools() -> None:
    """Fail (not skip) with what to run when the browser or axe-core is missing."""
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"the browser tests need Chromium at {CHROMIUM}: run scripts/setup (it installs Debian's "
                    "chromium with apt-get), or set ANCHOR_CHROMIUM to a Chromium binary", pytrace=False)
    if not AXE.is_file():
        pytest.fail(f"the browser tests need axe-core at {AXE}: run scripts/setup (npm ci)", pytrace=False)


# ---------------------------------------------------------------------------- checks


def axe(page: Page) -> list[dict[str, Any]]:
    """axe-core's serious and critical violations on the page as it is now (WCAG 2.x A/AA and best
    practice rules), each reduced to id, impact, help and the offending nodes' selectors and
    summaries, so an assertion message says what to fix. axe is injected by the context's init
    script (see conftest), so the page's Content-Security-Policy does not stand in its way."""
    result = page.evaluate("""async () => {
        const r = await window.axe.run(document, {resultTypes: ["violations"]});
        return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
            nodes: v.nodes.map(n => ({target: n.target.join(" "), summary: n.failureSummary}))}));
    }""")
    return [v for v in result if v["impact"] in SERIOUS]


def overflow(page: Page) -> tuple[int, int, list[str]]:
    """(the document's scroll width, the viewport's width, the elements sticking out on the right)."""
    width, viewport, wide = page.evaluate("""() => {
        const vw = window.innerWidth;
        const wide = [];
        for (const el of document.body.querySelectorAll("*")) {
            const r = el.getBoundingClientRect();
            if (r.right > vw + 0.5 && r.width > 0) {
                const id = el.id ? "#" + el.id : "";
                const cls = typeof el.className === "string" && el.className ? "." + el.className.trim().split(/\\s+/).join(".") : "";
                wide.push(`${el.tagName.toLowerCase()}${id}${cls} (right edge ${Math.round(r.right)} px)`);
            }
        }
        return [document.scrollingElement.scrollWidth, vw, wide.slice(0, 8)];
    }""")
    return width, viewport, wide


def no_horizontal_overflow(page: Page) -> None:
    """Nothing scrolls sideways: the document is no wider than the viewport."""
    width, viewport, wide = overflow(page)
    assert width <= viewport, f"the page is {width} px wide in a {viewport} px viewport; sticking out: {wide}"


DOCS_SCREENSHOTS = ROOT / "docs" / "screenshots"


def publish(shot: Path, name: str) -> Path:
    """A small copy of a screenshot for the README, docs/screenshots/<name>.png (128 colours,
    optimized: about a third of the size), written only when ANCHOR_DOCS_SCREENSHOTS=1 is set:
    ``ANCHOR_DOCS_SCREENSHOTS=1 scripts/test tests/browser -p no:xdist`` refreshes them."""
    from PIL import Image

    path = DOCS_SCREENSHOTS / f"{name}.png"
    if os.environ.get("ANCHOR_DOCS_SCREENSHOTS") == "1":
        DOCS_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        with Image.open(shot) as image:
            small = image.convert("RGB").quantize(colors=128, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE)
            small.save(path, "PNG", optimize=True)
    return path


def screenshot(page: Page, name: str) -> Path:
    """A full-page PNG of the page as it is now, in test-artifacts/<name>.png (kept for people)."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


_PAGE_OBJECT = re.compile(rb"/Type\s*/Page(?![A-Za-z])")
_MEDIA_BOX = re.compile(rb"/MediaBox\s*\[\s*([-\d.]+)\s+([-\d.]+)\s+([-\d.]+)\s+([-\d.]+)\s*\]")
A4_POINTS = (595.28, 841.89)


def print_pages(page: Page) -> int:
    """How many pages the page prints on: print media, backgrounds on, the page size its
    stylesheet asks for (A4 if none); the page objects of the PDF Chromium prints, which Skia
    writes uncompressed. Each page must be A4, upright or landscape (AssertionError if not)."""
    page.emulate_media(media="print")  # what page.pdf uses anyway, unless screen media was emulated
    try:
        pdf = page.pdf(format="A4", print_background=True, prefer_css_page_size=True)
    finally:
        page.emulate_media(media="null")  # back to no emulation: the page's own media
    for box in _MEDIA_BOX.findall(pdf):
        x0, y0, x1, y1 = (float(v) for v in box)
        size = sorted((abs(x1 - x0), abs(y1 - y0)))
        assert all(abs(a - b) < 3 for a, b in zip(size, A4_POINTS, strict=True)), f"a printed page is {size} pt, not A4"
    return len(_PAGE_OBJECT.findall(pdf))


def save_pdf(page: Page, name: str) -> Path:
    """The page as printed (print media, A4 unless its stylesheet asks another page size), in
    test-artifacts/<name>.pdf."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.pdf"
    page.emulate_media(media="print")
    try:
        page.pdf(path=str(path), format="A4", print_background=True, prefer_css_page_size=True)
    finally:
        page.emulate_media(media="null")
    return path


def tab_to(page: Page, selector: str, *, limit: int = 30) -> int:
    """Press Tab until the element matching ``selector`` has the focus; how many presses it took
    (fails if it never does: the control is not reachable by keyboard)."""
    target = page.locator(selector).first
    for presses in range(1, limit + 1):
        page.keyboard.press("Tab")
        if target.evaluate("el => el === document.activeElement"):
            return presses
    raise AssertionError(f"{selector} never took the focus in {limit} presses of Tab")


def focus_visible(page: Page) -> bool:
    """Whether the focused element shows that it has the focus (an outline or a box shadow)."""
    return bool(page.evaluate("""() => {
        const s = getComputedStyle(document.activeElement);
        return (s.outlineStyle !== "none" && parseFloat(s.outlineWidth) > 0) || s.boxShadow !== "none";
    }"""))
