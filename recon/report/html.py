"""A small document model for static HTML reports, and its writer.

A :class:`Report` is a title, a few key/value facts (``meta``) and :class:`Section` s of blocks:
:class:`Table`, :class:`ImageGrid`, :class:`Figure` (inline SVG) and :class:`Text`; a section may
also hold sub-sections. :func:`write_report` turns it into one self-contained HTML5 page,
``index.html``, plus its pictures under ``img/``: inline CSS, no JavaScript, no external
resources, relative links only, so the folder can be copied, archived or opened through
``file://``. The same report gives the same bytes (image names derive from section and label, and
nothing time-dependent is written unless it is passed in ``meta``).
"""

from __future__ import annotations

import math
import numbers
import re
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from html import escape
from pathlib import Path
from typing import Any

import numpy as np

from recon.io.atomic import atomic_path
from recon.io.images import encode_png

__all__ = ["Figure", "ImageGrid", "Report", "Section", "Table", "Text", "slugify", "write_report"]

#: File suffixes an :class:`ImageGrid` copies as they are.
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".webp", ".svg")

#: Images whose longer side is shorter than this (pixels) fill their grid cell, scaled up by the browser
#: without smoothing (SDF slices of small grids stay crisp).
PIXELATED_BELOW = 256


@dataclass
class Table:
    """A table of values.

    Attributes:
        columns: column headers.
        rows: one Mapping (column -> value; missing columns are left empty, other keys ignored) or
            one Sequence (one value per column) per row.
        caption: shown above the table.
        number_format: ``str.format`` pattern for floats (integers and text are shown as they are;
            None as an empty cell). Numeric cells are right-aligned.
    """

    columns: list[str]
    rows: list[Mapping[str, Any] | Sequence[Any]]
    caption: str = ""
    number_format: str = "{:.4g}"


@dataclass
class ImageGrid:
    """Labelled images in a grid.

    Attributes:
        items: ``(label, image)`` pairs; an image is an existing file (PNG, JPEG, ...; copied into
            the report's ``img/`` folder) or an array (written there as PNG; see
            :func:`recon.io.images.to_uint8_image` for the accepted shapes and dtypes).
        caption: shown above the grid.
        columns: images per row.
    """

    items: list[tuple[str, str | Path | np.ndarray]]
    caption: str = ""
    columns: int = 4


@dataclass
class Figure:
    """An inline SVG figure (e.g. :func:`recon.report.images.line_chart_svg`).

    Attributes:
        svg: ``<svg>...</svg>`` markup, inserted as it is (trusted; it is not escaped).
        caption: shown below the figure.
    """

    svg: str
    caption: str = ""


@dataclass
class Text:
    """Plain text: paragraphs separated by blank lines, HTML-escaped (no markup is interpreted).

    Attributes:
        text: the text.
    """

    text: str


@dataclass
class Section:
    """A titled part of the report, listed in the table of contents.

    Attributes:
        title: heading.
        blocks: :class:`Table`, :class:`ImageGrid`, :class:`Figure`, :class:`Text` or nested
            :class:`Section` objects, in order.
        anchor: fragment id of the heading; derived from the title when None (made unique).
    """

    title: str
    blocks: list[Any] = field(default_factory=list)
    anchor: str | None = None


@dataclass
class Report:
    """A whole page.

    Attributes:
        title: page title and top heading.
        sections: top-level sections.
        meta: facts shown as a small key/value table at the top (config hash, versions, date, ...).
    """

    title: str
    sections: list[Section] = field(default_factory=list)
    meta: Mapping[str, str] = field(default_factory=dict)


_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0 auto;
  max-width: 1200px; padding: 1em 2em 4em; color: #222; line-height: 1.4; }
h1 { margin-bottom: 0.3em; } h2 { border-bottom: 1px solid #ccc; padding-bottom: 0.2em; margin-top: 2em; }
nav ul { margin: 0.2em 0; padding-left: 1.4em; } nav a, h2 a, h3 a { text-decoration: none; }
table { border-collapse: collapse; font-size: 0.9em; }
caption { caption-side: top; text-align: left; font-weight: 600; padding: 0.3em 0; }
th, td { padding: 0.25em 0.7em; border-bottom: 1px solid #e2e2e2; white-space: nowrap; }
th { position: sticky; top: 0; background: #eef1f5; text-align: left; z-index: 1; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
tbody tr:nth-child(even) { background: #f7f8fa; } tbody tr:hover { background: #fff6d8; }
.table-wrap { max-height: 80vh; overflow: auto; margin: 0.8em 0 1.2em; display: inline-block;
  max-width: 100%; border: 1px solid #ddd; }
table.meta { margin: 0.5em 0 1em; } table.meta th { position: static; }
.grid { display: grid; gap: 0.8em; margin: 0.8em 0 1.2em; }
.grid figure { margin: 0; text-align: center; }
.grid img { max-width: 100%; height: auto; background:
  repeating-conic-gradient(#eee 0% 25%, #fff 0% 50%) 50% / 16px 16px; }
img.pixelated { image-rendering: pixelated; width: 100%; }
figcaption { font-size: 0.85em; color: #444; word-break: break-word; }
.grid-caption { font-weight: 600; margin-top: 0.8em; }
figure.svg { margin: 0.8em 0 1.2em; } figure.svg svg { max-width: 100%; height: auto; }
p { max-width: 60em; }
""".strip()


def slugify(text: str, fallback: str = "item", max_len: int = 60) -> str:
    """A file- and URL-safe name: lower-case ``[a-z0-9]`` runs joined by ``-`` (``fallback`` if empty)."""
    slug = re.sub(r"[^a-z0-9]+", "-", str(text).lower()).strip("-")[:max_len].strip("-")
    return slug or fallback


class _Names:
    """Hands out unique names: ``base``, then ``base-2``, ``base-3``, ..."""

    def __init__(self) -> None:
        self._used: set[str] = set()

    def take(self, base: str, suffix: str = "") -> str:
        name, n = base, 1
        while name + suffix in self._used:
            n += 1
            name = f"{base}-{n}"
        self._used.add(name + suffix)
        return name + suffix


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Number | np.number) and not isinstance(value, bool | np.bool_)


def _cell_text(value: Any, number_format: str) -> str:
    if value is None:
        return ""
    if isinstance(value, numbers.Integral | np.integer) and not isinstance(value, bool | np.bool_):
        return str(int(value))
    if isinstance(value, numbers.Real | np.floating) and not isinstance(value, bool | np.bool_):
        v = float(value)
        return number_format.format(v) if math.isfinite(v) else str(v)
    return str(value)


def _row_values(row: Mapping[str, Any] | Sequence[Any], columns: list[str]) -> list[Any]:
    if isinstance(row, Mapping):
        return [row.get(c) for c in columns]
    values = list(row)
    if len(values) != len(columns):
        raise ValueError(f"a table row has {len(values)} values for {len(columns)} columns: {values!r}")
    return values


_NUM = ' class="num"'


def _render_table(table: Table) -> str:
    rows = [_row_values(r, list(table.columns)) for r in table.rows]
    # A column is right-aligned when all its cells are numbers (or empty).
    numeric = [all(v is None or _is_number(v) for v in col) for col in zip(*rows, strict=True)]
    numeric = numeric or [False] * len(table.columns)
    out = ['<div class="table-wrap"><table>']
    if table.caption:
        out.append(f"<caption>{escape(table.caption)}</caption>")
    head = "".join(
        f'<th scope="col"{_NUM if num else ""}>{escape(str(c))}</th>'
        for c, num in zip(table.columns, numeric, strict=True)
    )
    out.append(f"<thead><tr>{head}</tr></thead><tbody>")
    for values in rows:
        cells = "".join(
            f"<td{_NUM if _is_number(v) else ''}>{escape(_cell_text(v, table.number_format))}</td>"
            for v in values
        )
        out.append(f"<tr>{cells}</tr>")
    out.append("</tbody></table></div>")
    return "\n".join(out)


def _image_size(path: Path) -> tuple[int, int] | None:
    """(width, height) of a raster image file, or None if Pillow cannot read it (e.g. SVG)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            return im.size
    except (UnidentifiedImageError, OSError):
        return None


def _place_image(image: str | Path | np.ndarray, img_dir: Path, base: str, names: _Names) -> Path:
    """Write or copy one image into ``img_dir`` under a unique name derived from ``base``."""
    if isinstance(image, str | Path):
        src = Path(image)
        suffix = src.suffix.lower()
        if suffix not in IMAGE_SUFFIXES:
            raise ValueError(f"not an image file ({', '.join(IMAGE_SUFFIXES)}): {src}")
        if not src.is_file():
            raise FileNotFoundError(f"image file not found: {src}")
        dest = img_dir / names.take(base, ".jpg" if suffix == ".jpeg" else suffix)
        shutil.copyfile(src, dest)
        return dest
    dest = img_dir / names.take(base, ".png")
    dest.write_bytes(encode_png(image))  # img_dir is inside write_report's temporary folder
    return dest


def _render_grid(grid: ImageGrid, prefix: str, img_dir: Path, names: _Names) -> str:
    columns = max(1, int(grid.columns))
    out = []
    if grid.caption:
        out.append(f'<div class="grid-caption">{escape(grid.caption)}</div>')
    out.append(f'<div class="grid" style="grid-template-columns: repeat({columns}, minmax(0, 1fr))">')
    for label, image in grid.items:
        dest = _place_image(image, img_dir, f"{prefix}--{slugify(label)}", names)
        size = _image_size(dest)
        attrs = f' width="{size[0]}" height="{size[1]}"' if size else ""
        if size and max(size) < PIXELATED_BELOW:
            attrs += ' class="pixelated"'
        src = f"img/{dest.name}"
        out.append(
            f'<figure><img src="{escape(src)}" alt="{escape(str(label))}"{attrs}>'
            f"<figcaption>{escape(str(label))}</figcaption></figure>"
        )
    out.append("</div>")
    return "\n".join(out)


def _render_text(text: Text) -> str:
    paragraphs = [p.strip() for p in re.split(r"\n\s*\n", str(text.text)) if p.strip()]
    return "\n".join(f"<p>{escape(p)}</p>" for p in paragraphs)


def _render_figure(figure: Figure) -> str:
    caption = f"<figcaption>{escape(figure.caption)}</figcaption>" if figure.caption else ""
    return f'<figure class="svg">\n{figure.svg}\n{caption}</figure>'


class _Writer:
    """Renders sections to HTML, placing images and assigning anchors as it goes."""

    def __init__(self, img_dir: Path) -> None:
        self.img_dir = img_dir
        self.images = _Names()
        self.anchors = _Names()
        self.toc: list[tuple[int, str, str]] = []  # (depth, anchor, title)

    def section(self, section: Section, depth: int = 0) -> str:
        anchor = self.anchors.take(slugify(section.anchor or section.title, "section"))
        self.toc.append((depth, anchor, str(section.title)))
        level = min(2 + depth, 6)
        out = [
            f'<section id="{escape(anchor)}">',
            f'<h{level}><a href="#{escape(anchor)}">{escape(str(section.title))}</a></h{level}>',
        ]
        for block in section.blocks:
            out.append(self.block(block, anchor, depth))
        out.append("</section>")
        return "\n".join(out)

    def block(self, block: Any, anchor: str, depth: int) -> str:
        if isinstance(block, Section):
            return self.section(block, depth + 1)
        if isinstance(block, Table):
            return _render_table(block)
        if isinstance(block, ImageGrid):
            return _render_grid(block, anchor, self.img_dir, self.images)
        if isinstance(block, Figure):
            return _render_figure(block)
        if isinstance(block, Text):
            return _render_text(block)
        if isinstance(block, str):
            return _render_text(Text(block))
        raise TypeError(f"unsupported report block {type(block).__name__} in section {anchor!r}")

    def toc_html(self) -> str:
        out, depth = ["<nav><strong>Contents</strong>"], -1
        for d, anchor, title in self.toc:
            while depth < d:
                out.append("<ul>")
                depth += 1
            while depth > d:
                out.append("</ul>")
                depth -= 1
            out.append(f'<li><a href="#{escape(anchor)}">{escape(title)}</a></li>')
        out += ["</ul>"] * (depth + 1)
        out.append("</nav>")
        return "\n".join(out)


def _meta_html(meta: Mapping[str, str]) -> str:
    if not meta:
        return ""
    rows = "".join(
        f'<tr><th scope="row">{escape(str(k))}</th><td>{escape(str(v))}</td></tr>' for k, v in meta.items()
    )
    return f'<table class="meta"><tbody>{rows}</tbody></table>'


def render_html(report: Report, img_dir: Path) -> str:
    """The page's HTML; images are written into ``img_dir`` (which must exist) as a side effect."""
    writer = _Writer(img_dir)
    body = [writer.section(s) for s in report.sections]
    title = escape(str(report.title))
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{title}</title>",
        f"<style>\n{_CSS}\n</style>",
        "</head>",
        "<body>",
        f"<h1>{title}</h1>",
        _meta_html(report.meta),
        writer.toc_html() if writer.toc else "",
        *body,
        "</body>",
        "</html>",
    ]
    return "\n".join(p for p in parts if p) + "\n"


def write_report(report: Report, out_dir: Path | str) -> Path:
    """Write a report as ``out_dir/index.html`` and ``out_dir/img/*``, atomically.

    The whole folder is built in a temporary sibling and then replaces ``out_dir`` (an existing one,
    with everything in it, is replaced: stale images do not survive), see
    :func:`recon.io.atomic.atomic_path`. Image files are named ``<section anchor>--<label>.<ext>``
    (sanitized by :func:`slugify`, made unique with ``-2``, ``-3``, ...), so the same report gives
    byte-identical files.

    Args:
        report: the document.
        out_dir: output folder.

    Returns:
        Path of ``index.html``.

    Raises:
        FileNotFoundError: an image file of an :class:`ImageGrid` does not exist.
        ValueError, TypeError: malformed blocks (wrong row lengths, image shapes, unknown blocks).
    """
    out_dir = Path(out_dir)
    with atomic_path(out_dir) as tmp:
        (tmp / "img").mkdir(parents=True)
        html = render_html(report, tmp / "img")
        (tmp / "index.html").write_text(html, encoding="utf-8")
    return out_dir / "index.html"
