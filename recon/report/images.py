"""Report images: shaded mesh views, SDF slices and line charts (inline SVG).

Everything here is pure NumPy / pure Python except the ray caster (numba); no matplotlib and no
OpenGL, so pictures come out the same on every machine. PNG files are written by
:mod:`recon.io.images`.

- :func:`shade_mesh`: a perspective view of a mesh with one exact ray per (sub)pixel
  (:func:`recon.geometry.raycast.first_hit`), flat Lambertian shading plus ambient.
- :func:`sdf_slices`: the three central axis-aligned slices of an SDF grid in a diverging colour
  map, with the iso contour in black.
- :func:`line_chart_svg`: a small line chart (training curves) as a standalone SVG string.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from html import escape

import numpy as np

from recon.geometry.cameras import camera_center, look_at

__all__ = ["line_chart_svg", "sdf_slices", "shade_mesh"]

#: Direction toward the light in camera coordinates (OpenCV: x right, y down, z forward): from the
#: upper left, in front of the object. Not normalized.
DEFAULT_LIGHT = (-0.5, -0.8, -1.0)

# ---------------------------------------------------------------------------------------------------
# Shaded meshes
# ---------------------------------------------------------------------------------------------------


def _camera_rays(
    size: int, azimuth_deg: float, elevation_deg: float, distance: float, fov_deg: float, supersample: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """World-frame rays through a ``size x size`` image, ``supersample^2`` per pixel.

    Returns:
        ``(center, directions, rotation)``: (3,) float64 camera centre, (size, s, size, s, 3) float64
        unnormalized ray directions (pixel row, sub-row, pixel column, sub-column) and the (3, 3)
        world-to-camera rotation.
    """
    center = camera_center(azimuth_deg, elevation_deg, distance)
    rotation, _ = look_at(center)
    focal = 0.5 * size / math.tan(math.radians(fov_deg) / 2.0)
    c = (size - 1) / 2.0
    sub = (np.arange(supersample) + 0.5) / supersample - 0.5
    coords = (np.arange(size)[:, None] + sub[None, :] - c) / focal  # (size, s)
    cam = np.empty((size, supersample, size, supersample, 3))
    cam[..., 0] = coords[None, None, :, :]
    cam[..., 1] = coords[:, :, None, None]
    cam[..., 2] = 1.0
    return center, cam @ rotation, rotation


def shade_mesh(
    vertices: np.ndarray,
    faces: np.ndarray,
    size: int = 256,
    azimuth_deg: float = 45.0,
    elevation_deg: float = 25.0,
    distance: float = 2.5,
    fov_deg: float = 40.0,
    color: Sequence[float] = (0.55, 0.65, 0.8),
    *,
    light_dir: Sequence[float] = DEFAULT_LIGHT,
    ambient: float = 0.3,
    supersample: int = 1,
) -> np.ndarray:
    """A perspective view of a mesh, shaded, on a transparent background.

    The camera is the data contract's (:mod:`recon.geometry.cameras`): world frame +Y up, camera at
    ``distance * (cos(el) cos(az), sin(el), cos(el) sin(az))`` (azimuth around +Y from +X toward +Z,
    elevation above the XZ plane) looking at the origin with image up along +Y; ``fov_deg`` is the
    full field of view across the (square) image. One ray per sub-pixel is cast with the exact ray
    caster :func:`recon.geometry.raycast.first_hit`. Shading is flat (face normals), two-sided (the
    normal is flipped toward the camera) and Lambertian: ``color * (ambient + (1 - ambient) *
    max(n . l, 0))``. With ``supersample = s`` each pixel averages ``s x s`` rays: alpha is the hit
    fraction and the colour the mean over the hits (straight, not premultiplied, alpha).

    Framing: with the default distance and field of view, a mesh normalized to ``[-0.5, 0.5]^3``
    (``unit_cube``) just fits (its corners reach the image border); the unit ball (``unit_sphere``)
    seen from distance 2.5 is 47 degrees wide and gets cropped. ``distance=3.2`` frames both with a
    margin (the unit ball is then 36 degrees wide).

    Args:
        vertices: (V, 3) float vertex positions in the world frame.
        faces: (F, 3) int triangle vertex indices (F may be 0).
        size: image width and height in pixels, >= 1.
        azimuth_deg: camera azimuth in degrees.
        elevation_deg: camera elevation in degrees, in [-90, 90].
        distance: camera distance from the origin, > 0.
        fov_deg: full field of view in degrees, in (0, 180).
        color: (3,) RGB in [0, 1] of a fully lit surface.
        light_dir: (3,) direction toward the light in camera coordinates (x right, y down, z forward);
            the default lights from the upper left front.
        ambient: shade of a surface facing away from the light, in [0, 1].
        supersample: rays per pixel along each image axis, >= 1 (2 costs 4 times the rays).

    Returns:
        (size, size, 4) uint8 RGBA image; alpha 0 where no triangle is hit (everywhere for an empty
        mesh).

    Raises:
        ValueError: bad sizes or camera parameters, or bad mesh arrays (see ``first_hit``).
    """
    from recon.geometry.raycast import first_hit

    size, supersample = int(size), int(supersample)
    if size < 1 or supersample < 1:
        raise ValueError(f"size and supersample must be >= 1, got {size} and {supersample}")
    if not (distance > 0 and 0 < fov_deg < 180 and 0 <= ambient <= 1):
        raise ValueError(
            f"need distance > 0, 0 < fov_deg < 180, 0 <= ambient <= 1; got {distance}, {fov_deg}"
        )
    v = np.asarray(vertices, dtype=np.float64).reshape(-1, 3)
    f = np.asarray(faces, dtype=np.int64).reshape(-1, 3)
    image = np.zeros((size, size, 4), np.uint8)
    if len(f) == 0:
        return image
    center, dirs, rotation = _camera_rays(size, azimuth_deg, elevation_deg, distance, fov_deg, supersample)
    flat = dirs.reshape(-1, 3)
    _, tri = first_hit(v, f, np.broadcast_to(center, flat.shape), flat)
    hit = tri >= 0
    normals = np.cross(v[f[tri[hit], 1]] - v[f[tri[hit], 0]], v[f[tri[hit], 2]] - v[f[tri[hit], 0]])
    normals /= np.linalg.norm(normals, axis=1, keepdims=True)
    normals *= np.where(np.einsum("ij,ij->i", normals, flat[hit]) > 0, -1.0, 1.0)[:, None]
    light = rotation.T @ np.asarray(light_dir, dtype=np.float64).reshape(3)
    if not np.linalg.norm(light) > 0:
        raise ValueError(f"light_dir must be a non-zero (3,) vector, got {light_dir}")
    light /= np.linalg.norm(light)
    shade = np.zeros(len(flat))
    shade[hit] = ambient + (1.0 - ambient) * np.clip(normals @ light, 0.0, None)
    n_sub = supersample * supersample
    hits = hit.reshape(size, supersample, size, supersample).sum(axis=(1, 3))
    mean_shade = shade.reshape(size, supersample, size, supersample).sum(axis=(1, 3)) / np.maximum(hits, 1)
    rgb = mean_shade[..., None] * np.clip(np.asarray(color, dtype=np.float64), 0.0, 1.0)
    image[..., :3] = np.where(hits[..., None] > 0, np.round(255.0 * rgb), 0).astype(np.uint8)
    image[..., 3] = np.round(255.0 * hits / n_sub).astype(np.uint8)
    return image


# ---------------------------------------------------------------------------------------------------
# SDF slices
# ---------------------------------------------------------------------------------------------------

_INSIDE_RGB = np.array([0.13, 0.35, 0.75])  # saturated negative end (blue)
_OUTSIDE_RGB = np.array([0.75, 0.12, 0.12])  # saturated positive end (red)
_NAN_RGB = np.array([0.5, 0.5, 0.5])


def _diverging(t: np.ndarray) -> np.ndarray:
    """(…) values in [-1, 1] -> (…, 3) float64 RGB: blue at -1, white at 0, red at +1; NaN grey."""
    t = np.asarray(t, dtype=np.float64)
    a = np.abs(np.nan_to_num(t))[..., None]
    end = np.where((t < 0)[..., None], _INSIDE_RGB, _OUTSIDE_RGB)
    rgb = (1.0 - a) + a * end
    return np.where(np.isnan(t)[..., None], _NAN_RGB, rgb)


def _contour(d: np.ndarray) -> np.ndarray:
    """(H, W) bool: pixels next to a sign change of ``d`` (4-neighbours), the closer side of each pair.

    For every pair of 4-neighbours whose values have opposite signs (``d < 0`` against ``d >= 0``),
    the pixel with the smaller ``|d|`` is marked (both on a tie), so the line is one pixel thick and
    lies within one pixel of the true zero crossing. Non-finite pixels are never marked.
    """
    neg = d < 0
    ok = np.isfinite(d)
    mag = np.abs(d)
    out = np.zeros(d.shape, bool)
    for axis in (0, 1):
        a = [slice(None)] * 2
        b = [slice(None)] * 2
        a[axis], b[axis] = slice(None, -1), slice(1, None)
        a, b = tuple(a), tuple(b)
        change = (neg[a] != neg[b]) & ok[a] & ok[b]
        out[a] |= change & (mag[a] <= mag[b])
        out[b] |= change & (mag[b] <= mag[a])
    return out


def sdf_slices(
    grid: np.ndarray, half_extent: float, iso: float = 0.0, saturation: float | None = None
) -> np.ndarray:
    """The three central axis-aligned slices of a cubic SDF grid, side by side, colour-mapped.

    Grids in this project are node grids indexed ``[i, j, k]`` <-> ``(x, y, z)``, node ``i`` at
    ``-half_extent + i * 2 half_extent / (R - 1)`` (:class:`recon.geometry.grid.GridSpec` with
    ``lo = -hi``). The slices are taken at index ``R // 2`` (the plane through the origin for odd R)
    and laid out left to right, each seen from the positive end of its axis exactly as
    :func:`shade_mesh` would show it (image up = +Y, or -Z looking down):

    - **x slice** ``grid[R // 2, :, :]``, as from ``azimuth_deg=0, elevation_deg=0``: right = -z, up = +y;
    - **y slice** ``grid[:, R // 2, :]``, as from ``elevation_deg=90`` (top view): right = +x, up = -z
      (the object's front, -Z, at the top);
    - **z slice** ``grid[:, :, R // 2]``, as from ``azimuth_deg=90, elevation_deg=0``: right = +x, up = +y.

    Colours: ``t = clip((value - iso) / saturation, -1, 1)`` on a diverging map, blue for negative
    (inside), white at ``iso``, red for positive (outside); ``saturation`` defaults to
    ``0.25 * half_extent``; NaN is grey. The iso contour (:func:`_contour`: pixels at a sign change
    of ``value - iso`` toward a finite 4-neighbour, the closer side) is black.

    Args:
        grid: (R, R, R) float SDF values, R >= 2.
        half_extent: half the side of the cube the grid spans, > 0 (1.1 for the default GridSpec).
        iso: level of the drawn contour.
        saturation: ``|value - iso|`` at which the colours saturate, > 0.

    Returns:
        (R, 3 R, 3) uint8 RGB image: the x, y and z slices left to right.

    Raises:
        ValueError: the grid is not cubic, or non-positive ``half_extent`` / ``saturation``.
    """
    g = np.asarray(grid, dtype=np.float64)
    if g.ndim != 3 or not g.shape[0] == g.shape[1] == g.shape[2] or g.shape[0] < 2:
        raise ValueError(f"grid must be (R, R, R) with R >= 2, got {g.shape}")
    scale = 0.25 * half_extent if saturation is None else saturation
    if not (half_extent > 0 and scale > 0):
        raise ValueError(f"half_extent and saturation must be > 0, got {half_extent} and {scale}")
    c = g.shape[0] // 2
    # Rows of each view run from top to bottom, columns from left to right.
    views = [
        g[c, ::-1, ::-1],  # x slice (y, z): rows from +y down, columns from +z to -z
        g[:, c, :].T,  # y slice (z, x): rows from -z down, columns from -x to +x
        g[:, ::-1, c].T,  # z slice (y, x): rows from +y down, columns from -x to +x
    ]
    panels = []
    for view in views:
        d = view - iso
        rgb = _diverging(np.clip(d / scale, -1.0, 1.0))
        rgb[_contour(d)] = 0.0
        panels.append(rgb)
    return np.round(255.0 * np.concatenate(panels, axis=1)).astype(np.uint8)


# ---------------------------------------------------------------------------------------------------
# Line charts
# ---------------------------------------------------------------------------------------------------

#: Series colours (Tableau 10), cycled.
PALETTE = (
    "#4e79a7",
    "#f28e2b",
    "#e15759",
    "#76b7b2",
    "#59a14f",
    "#edc948",
    "#b07aa1",
    "#ff9da7",
    "#9c755f",
    "#bab0ac",
)


def _nice_step(span: float, target: int) -> float:
    """A 1-2-5 multiple of a power of ten close to ``span / target``."""
    raw = span / max(target, 1)
    power = 10.0 ** math.floor(math.log10(raw))
    for m in (1.0, 2.0, 5.0, 10.0):
        if raw <= m * power * (1 + 1e-9):
            return m * power
    return 10.0 * power


def _linear_ticks(lo: float, hi: float, target: int = 5) -> list[float]:
    """Ticks at multiples of a 1-2-5 step covering [lo, hi] (the range is widened to the outer ticks)."""
    step = _nice_step(hi - lo, target)
    first, last = math.floor(lo / step + 1e-9), math.ceil(hi / step - 1e-9)
    return [i * step for i in range(first, last + 1)]


def _format_tick(value: float, step: float) -> str:
    """A short label: as many decimals as the step needs, scientific notation for extreme magnitudes."""
    if value == 0:
        return "0"
    mag = abs(value)
    if mag >= 1e5 or mag < 1e-3:
        digits = max(0, min(3, round(-math.log10(step / 10 ** math.floor(math.log10(mag)))) + 1))
        text = f"{value:.{digits}e}"
        mantissa, exponent = text.split("e")
        if "." in mantissa:
            mantissa = mantissa.rstrip("0").rstrip(".")
        return f"{mantissa}e{int(exponent)}"
    decimals = max(0, -math.floor(math.log10(step) + 1e-9))
    return f"{value:.{decimals}f}"


def _log_ticks(lo: float, hi: float) -> tuple[list[float], list[str], tuple[float, float]]:
    """Ticks of a log axis over log10 values ``[lo, hi]``: positions (log10), labels and the axis range.

    The axis spans the data plus 3 % on each side. Ticks are the whole decades inside (every n-th
    one for long ranges); with fewer than three of them, the 1, 2, 5 multiples inside; with fewer
    than two of those, linear 1-2-5 ticks.
    """
    pad = 0.03 * (hi - lo)
    lo, hi = lo - pad, hi + pad
    decades = list(range(math.ceil(lo), math.floor(hi) + 1))
    if len(decades) >= 3:
        decades = decades[:: max(1, math.ceil(len(decades) / 7))]
        return [float(e) for e in decades], [_format_tick(10.0**e, 10.0**e) for e in decades], (lo, hi)
    values = [m * 10.0**e for e in range(math.floor(lo), math.ceil(hi) + 1) for m in (1, 2, 5)]
    values = [v for v in values if lo <= math.log10(v) <= hi]
    if len(values) >= 2:
        return [math.log10(v) for v in values], [_format_tick(v, v) for v in values], (lo, hi)
    values = [v for v in _linear_ticks(10**lo, 10**hi, 4) if v > 0 and lo <= math.log10(v) <= hi]
    step = values[1] - values[0] if len(values) > 1 else 10 ** math.floor(hi)
    return [math.log10(v) for v in values], [_format_tick(v, step) for v in values], (lo, hi)


def _clean_series(xs: Iterable[float], ys: Iterable[float], log_y: bool) -> np.ndarray:
    """(N, 2) float64 finite points of one series (and y > 0 if ``log_y``; then y is log10 y)."""
    x = np.asarray(list(xs), dtype=np.float64).ravel()
    y = np.asarray(list(ys), dtype=np.float64).ravel()
    if x.shape != y.shape:
        raise ValueError(f"x and y of a series must have the same length, got {len(x)} and {len(y)}")
    keep = np.isfinite(x) & np.isfinite(y)
    if log_y:
        keep &= y > 0
        y = np.where(keep, np.log10(np.where(keep, y, 1.0)), y)
    return np.stack([x[keep], y[keep]], axis=1)


def _padded_range(values: np.ndarray, default: tuple[float, float]) -> tuple[float, float]:
    if values.size == 0:
        return default
    lo, hi = float(values.min()), float(values.max())
    if hi - lo <= 1e-12 * max(1.0, abs(lo)):
        pad = 0.5 * abs(lo) if lo != 0 else 1.0
        lo, hi = lo - pad, hi + pad
    return lo, hi


def _num(v: float) -> str:
    return f"{v:.2f}".rstrip("0").rstrip(".")


def line_chart_svg(
    series: Mapping[str, tuple[Sequence[float], Sequence[float]]],
    title: str,
    xlabel: str,
    ylabel: str,
    width: int = 480,
    height: int = 300,
    log_y: bool = False,
) -> str:
    """A line chart as a standalone SVG document string (pure Python; inline it in HTML or save it).

    Linear axes span the data widened to round 1-2-5 ticks, labelled with as few decimals as needed
    (scientific notation below 1e-3 and from 1e5); a log y axis spans the data plus 3 % with ticks
    at decades (or 1-2-5 multiples within a short range). Each series is one ``<polyline>`` (with
    its name in ``data-series``) in its own colour (:data:`PALETTE`, cycled) and has a legend entry
    in the top right corner. Points with a non-finite coordinate (and, with ``log_y``, y <= 0) are
    left out of their polyline. All text is XML-escaped; the result parses as XML.

    Args:
        series: name -> (x values, y values), equal lengths; drawn in the mapping's order.
        title: chart title.
        xlabel: x-axis label.
        ylabel: y-axis label.
        width: SVG width in pixels.
        height: SVG height in pixels.
        log_y: logarithmic y axis.

    Returns:
        The ``<svg xmlns=...>...</svg>`` markup.

    Raises:
        ValueError: a series with x and y of different lengths.
    """
    data = {str(name): _clean_series(xs, ys, log_y) for name, (xs, ys) in series.items()}
    points = np.concatenate([p for p in data.values()] or [np.zeros((0, 2))], axis=0)
    x_lo, x_hi = _padded_range(points[:, 0], (0.0, 1.0))
    y_lo, y_hi = _padded_range(points[:, 1], (0.0, 1.0))
    x_ticks = _linear_ticks(x_lo, x_hi)
    x_lo, x_hi = min(x_lo, x_ticks[0]), max(x_hi, x_ticks[-1])
    if log_y:
        y_ticks, y_labels, (y_lo, y_hi) = _log_ticks(y_lo, y_hi)
    else:
        y_ticks = _linear_ticks(y_lo, y_hi)
        y_lo, y_hi = min(y_lo, y_ticks[0]), max(y_hi, y_ticks[-1])
        y_step = y_ticks[1] - y_ticks[0] if len(y_ticks) > 1 else 1.0
        y_labels = [_format_tick(t, y_step) for t in y_ticks]
    x_step = x_ticks[1] - x_ticks[0] if len(x_ticks) > 1 else 1.0
    x_labels = [_format_tick(t, x_step) for t in x_ticks]

    left, right, top, bottom = 62.0, 24.0, 30.0, 44.0
    pw, ph = max(width - left - right, 10.0), max(height - top - bottom, 10.0)

    def sx(x: float) -> float:
        return left + (x - x_lo) / (x_hi - x_lo) * pw

    def sy(y: float) -> float:
        return top + (1.0 - (y - y_lo) / (y_hi - y_lo)) * ph

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11" role="img">',
        f"<title>{escape(title)}</title>",
        f'<rect x="0" y="0" width="{width}" height="{height}" fill="#fff"/>',
        f'<text x="{width / 2:.1f}" y="18" text-anchor="middle" font-size="13" font-weight="bold">'
        f"{escape(title)}</text>",
    ]
    out.append('<g stroke="#e3e3e3" stroke-width="1">')
    out += [f'<line x1="{left}" x2="{left + pw}" y1="{_num(sy(t))}" y2="{_num(sy(t))}"/>' for t in y_ticks]
    out += [f'<line x1="{_num(sx(t))}" x2="{_num(sx(t))}" y1="{top}" y2="{top + ph}"/>' for t in x_ticks]
    out.append("</g>")
    out.append(f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="none" stroke="#333"/>')
    out.append('<g text-anchor="middle">')
    out += [
        f'<text x="{_num(sx(t))}" y="{_num(top + ph + 14)}">{escape(s)}</text>'
        for t, s in zip(x_ticks, x_labels, strict=True)
    ]
    out.append("</g>")
    out.append('<g text-anchor="end">')
    out += [
        f'<text x="{_num(left - 5)}" y="{_num(sy(t) + 4)}">{escape(s)}</text>'
        for t, s in zip(y_ticks, y_labels, strict=True)
    ]
    out.append("</g>")
    out.append(
        f'<text x="{_num(left + pw / 2)}" y="{height - 8}" text-anchor="middle">{escape(xlabel)}</text>'
    )
    ylabel_text = escape(ylabel + (" (log)" if log_y else ""))
    out.append(
        f'<text x="14" y="{_num(top + ph / 2)}" text-anchor="middle" '
        f'transform="rotate(-90 14 {_num(top + ph / 2)})">{ylabel_text}</text>'
    )
    for i, (name, pts) in enumerate(data.items()):
        coords = " ".join(f"{_num(sx(x))},{_num(sy(y))}" for x, y in pts)
        out.append(
            f'<polyline data-series="{escape(name)}" fill="none" stroke="{PALETTE[i % len(PALETTE)]}" '
            f'stroke-width="1.8" stroke-linejoin="round" points="{coords}"/>'
        )
    out += _legend(list(data), left + pw - 8, top + 8)
    out.append("</svg>")
    return "\n".join(out)


def _legend(names: list[str], right_x: float, top_y: float) -> list[str]:
    """SVG elements of a legend box whose top-right corner is at (right_x, top_y)."""
    if not names:
        return []
    box_w = 26 + 6.5 * max(len(n) for n in names)
    box_h = 8 + 15 * len(names)
    x0 = right_x - box_w
    out = [
        f'<g class="legend"><rect x="{_num(x0)}" y="{_num(top_y)}" width="{_num(box_w)}" height="{box_h}" '
        'fill="#fff" fill-opacity="0.85" stroke="#bbb"/>'
    ]
    for i, name in enumerate(names):
        y = top_y + 12 + 15 * i
        colour = PALETTE[i % len(PALETTE)]
        out.append(
            f'<line x1="{_num(x0 + 5)}" x2="{_num(x0 + 19)}" y1="{_num(y)}" y2="{_num(y)}" '
            f'stroke="{colour}" stroke-width="2.5"/>'
        )
        out.append(f'<text x="{_num(x0 + 23)}" y="{_num(y + 4)}">{escape(name)}</text>')
    out.append("</g>")
    return out
