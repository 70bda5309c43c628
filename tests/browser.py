"""Headless Chromium for tests: open a local HTML page and collect what the browser really shows.

Needs Debian's ``chromium`` and ``chromium-driver`` (or another Chrome and its chromedriver on PATH)
and the ``selenium`` package. :func:`browser_or_skip` skips the calling test when one of them is
missing, unless ``RECON_REQUIRE_BROWSER=1`` (set in CI), where it fails instead.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

#: Set to 1 to turn a missing browser into a test failure instead of a skip.
REQUIRE_ENV = "RECON_REQUIRE_BROWSER"

_BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
_DRIVERS = ("chromedriver",)

# Everything is read in one script, after the load event (all images have loaded or failed).
_INSPECT_JS = """
const imgs = Array.from(document.images);
return {
  broken: imgs.filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.getAttribute('src')),
  images: imgs.length,
  text: document.body ? document.body.innerText : '',
  tables: Array.from(document.querySelectorAll('table')).map(
    t => Array.from(t.rows).map(r => Array.from(r.cells).map(c => c.innerText.trim()))),
  svgs: Array.from(document.querySelectorAll('svg')).map(s => {
    const b = s.getBoundingClientRect(); return [b.width, b.height]; }),
  missing_anchors: Array.from(document.querySelectorAll('a[href^="#"]'))
    .map(a => a.getAttribute('href').slice(1))
    .filter(id => !document.getElementById(decodeURIComponent(id))),
  scripts: document.scripts.length,
};
"""


@dataclass
class PageCheck:
    """What the browser shows of a page.

    Attributes:
        broken_images: ``src`` of every ``<img>`` that is not ``complete`` with ``naturalWidth > 0``.
        image_count: number of ``<img>`` elements.
        text: the body's rendered text.
        tables: every table as rows of cell texts (header rows included).
        svg_boxes: (width, height) of every ``<svg>``'s bounding box in CSS pixels.
        missing_anchors: in-page link targets (``#id``) with no element of that id.
        script_count: number of ``<script>`` elements.
    """

    broken_images: list[str]
    image_count: int
    text: str
    tables: list[list[list[str]]]
    svg_boxes: list[tuple[float, float]]
    missing_anchors: list[str]
    script_count: int


def _find(names: tuple[str, ...]) -> str | None:
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    return None


def unavailable_reason() -> str | None:
    """Why no headless browser can be started here (None when everything is installed)."""
    missing = []
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("the selenium package (pip install selenium)")
    if _find(_BROWSERS) is None:
        missing.append("a Chromium binary (apt-get install chromium)")
    if _find(_DRIVERS) is None:
        missing.append("chromedriver (apt-get install chromium-driver)")
    return "headless browser tests need " + ", ".join(missing) if missing else None


def start_browser() -> Any:
    """A headless Chromium WebDriver (the caller quits it). Raises if it cannot be started."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = _find(_BROWSERS) or ""
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        options.add_argument(arg)
    options.add_argument("--window-size=1280,1600")
    driver = webdriver.Chrome(service=Service(executable_path=_find(_DRIVERS)), options=options)
    driver.set_page_load_timeout(30)
    return driver


def browser_or_skip() -> Any:
    """:func:`start_browser`, or skip the test (fail it if ``RECON_REQUIRE_BROWSER=1``) when impossible."""
    required = os.environ.get(REQUIRE_ENV) == "1"
    reason = unavailable_reason()
    if reason is None:
        try:
            return start_browser()
        except Exception as exc:  # any driver start-up failure means "no browser" here
            reason = f"headless Chromium did not start: {type(exc).__name__}: {exc}".splitlines()[0]
    if required:
        pytest.fail(f"{reason} ({REQUIRE_ENV}=1)")
    pytest.skip(reason)


def inspect_page(driver: Any, path: Path | str) -> PageCheck:
    """Open a local HTML file through ``file://`` and collect what the browser shows of it.

    Args:
        driver: a WebDriver from :func:`start_browser`.
        path: the HTML file.

    Returns:
        A :class:`PageCheck`.
    """
    driver.get(Path(path).resolve().as_uri())  # returns after the load event
    r = driver.execute_script(_INSPECT_JS)
    return PageCheck(
        broken_images=list(r["broken"]),
        image_count=int(r["images"]),
        text=r["text"],
        tables=r["tables"],
        svg_boxes=[(float(w), float(h)) for w, h in r["svgs"]],
        missing_anchors=list(r["missing_anchors"]),
        script_count=int(r["scripts"]),
    )
