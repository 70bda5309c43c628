"""HTML reports: shaded meshes against analytic silhouettes and shading, SDF slices against an analytic
sphere, SVG charts as XML, escaping and determinism of the writer, and the page in headless Chromium."""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
import trimesh
from scipy.spatial import ConvexHull

from recon.geometry.cameras import camera_center, focal_from_fov, intrinsics, look_at, project
from recon.io.images import write_png
from recon.report import (
    Figure,
    ImageGrid,
    Report,
    Section,
    Table,
    Text,
    line_chart_svg,
    sdf_slices,
    shade_mesh,
    write_report,
)
from recon.report.images import DEFAULT_LIGHT
from tests.browser import browser_or_skip, inspect_page

SVG = "{http://www.w3.org/2000/svg}"
EVIL = '<script>alert("x")</script> & co'


def _camera(size, az, el, dist, fov):
    """(K, [R|t]) of shade_mesh's camera, built from the data contract's camera functions."""
    r, t = look_at(camera_center(az, el, dist))
    k = intrinsics(focal_from_fov(fov, 36.0), 36.0, size, size)
    return k, np.concatenate([r, t[:, None]], axis=1)


def _convex_mask(uv: np.ndarray, size: int) -> np.ndarray:
    """(size, size) bool: pixel centres inside the convex hull of (N, 2) pixel points."""
    hull = ConvexHull(uv)
    cols, rows = np.meshgrid(np.arange(size), np.arange(size))
    pts = np.stack([cols.ravel(), rows.ravel(), np.ones(size * size)], axis=1)
    return np.all(pts @ hull.equations.T <= 0, axis=1).reshape(size, size)


# ---------------------------------------------------------------------------------------------------
# shade_mesh
# ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("az", "el"), [(30.0, 20.0), (200.0, -35.0), (90.0, 0.0)])
def test_box_silhouette_matches_projected_hull(az, el):
    """The silhouette of a box is the convex hull of its projected corners (area and position)."""
    size, dist, fov = 128, 3.0, 40.0
    box = trimesh.creation.box((1.0, 0.6, 0.8))
    box.apply_translation([0.1, 0.2, -0.05])  # off-centre: the image axes' directions matter
    image = shade_mesh(box.vertices, box.faces, size, az, el, dist, fov)
    assert image.shape == (size, size, 4) and image.dtype == np.uint8
    mask = image[..., 3] > 0
    assert set(np.unique(image[..., 3])) <= {0, 255}
    uv, _ = project(*_camera(size, az, el, dist, fov), box.vertices)
    expected = _convex_mask(uv, size)
    area = ConvexHull(uv).volume
    assert abs(mask.sum() - area) / area < 0.02
    assert (mask ^ expected).sum() / area < 0.04  # only boundary pixels may differ
    assert np.all(image[~mask] == 0)  # transparent (and black) background
    assert image[0, 0, 3] == image[-1, -1, 3] == 0


def test_supersampled_alpha_covers_the_same_area():
    box = trimesh.creation.box((1.0, 1.0, 1.0))
    size, az, el, dist, fov = 96, 45.0, 25.0, 2.5, 40.0
    image = shade_mesh(box.vertices, box.faces, size, az, el, dist, fov, supersample=2)
    alpha = image[..., 3].astype(float) / 255.0
    assert np.count_nonzero((alpha > 0) & (alpha < 1)) > 0  # antialiased edges
    area = ConvexHull(project(*_camera(size, az, el, dist, fov), box.vertices)[0]).volume
    assert abs(alpha.sum() - area) / area < 0.01


def test_up_is_up_and_empty_mesh_is_transparent():
    small = trimesh.creation.box((0.2, 0.2, 0.2))
    small.apply_translation([0.0, 0.5, 0.0])
    mask = shade_mesh(small.vertices, small.faces, 64, 0.0, 0.0, 2.5, 40.0)[..., 3] > 0
    rows = np.nonzero(mask.any(axis=1))[0]
    assert rows.max() < 32  # +Y appears in the upper half
    empty = shade_mesh(np.zeros((0, 3)), np.zeros((0, 3), int), 32)
    assert empty.shape == (32, 32, 4) and not empty.any()


def test_sphere_shading_follows_the_light():
    """Every pixel's shade is ambient + diffuse of the analytic sphere normal (facets aside)."""
    size, az, el, dist, fov, ambient = 96, 45.0, 25.0, 3.0, 50.0, 0.2
    sphere = trimesh.creation.icosphere(subdivisions=4, radius=1.0)
    color = (1.0, 1.0, 1.0)
    image = shade_mesh(sphere.vertices, sphere.faces, size, az, el, dist, fov, color, ambient=ambient)
    k, rt = _camera(size, az, el, dist, fov)
    rot, center = rt[:, :3], camera_center(az, el, dist)
    cols, rows = np.meshgrid(np.arange(size), np.arange(size))
    cam = np.stack([(cols - k[0, 2]) / k[0, 0], (rows - k[1, 2]) / k[1, 1], np.ones_like(cols, float)], -1)
    d = cam.reshape(-1, 3) @ rot
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    b = d @ center
    disc = b * b - (center @ center - 1.0)
    inside = (disc > 0.05).reshape(size, size)  # away from the rim, where facets and sphere differ
    t = -b - np.sqrt(np.maximum(disc, 0.0))
    normal = center + t[:, None] * d
    light = rot.T @ np.asarray(DEFAULT_LIGHT)
    light /= np.linalg.norm(light)
    expected = (ambient + (1 - ambient) * np.clip(normal @ light, 0, None)).reshape(size, size)
    shade = image[..., 0].astype(float) / 255.0
    assert np.all(image[inside, 3] == 255)
    assert np.mean(np.abs(shade[inside] - expected[inside])) < 0.03
    assert np.corrcoef(shade[inside], expected[inside])[0, 1] > 0.98
    # The side facing the light (upper left by default) is brighter than the opposite side.
    lit = inside & (cols < size / 2) & (rows < size / 2)
    dark = inside & (cols > size / 2) & (rows > size / 2)
    assert shade[lit].mean() > shade[dark].mean() + 0.2


def test_shade_mesh_rejects_bad_parameters():
    box = trimesh.creation.box()
    with pytest.raises(ValueError):
        shade_mesh(box.vertices, box.faces, size=0)
    with pytest.raises(ValueError):
        shade_mesh(box.vertices, box.faces, fov_deg=180.0)


# ---------------------------------------------------------------------------------------------------
# sdf_slices
# ---------------------------------------------------------------------------------------------------


def _sphere_sdf(res: int, half: float, center, radius: float) -> np.ndarray:
    x = np.linspace(-half, half, res)
    xx, yy, zz = np.meshgrid(x, x, x, indexing="ij")
    return np.sqrt((xx - center[0]) ** 2 + (yy - center[1]) ** 2 + (zz - center[2]) ** 2) - radius


def test_sdf_contour_lies_on_the_sphere():
    res, half, radius = 65, 1.0, 0.55
    spacing = 2 * half / (res - 1)
    image = sdf_slices(_sphere_sdf(res, half, (0, 0, 0), radius), half)
    assert image.shape == (res, 3 * res, 3) and image.dtype == np.uint8
    c = res // 2
    for p in range(3):
        panel = image[:, p * res : (p + 1) * res].astype(int)
        rows, cols = np.nonzero(np.all(panel == 0, axis=-1))
        r = np.hypot(rows - c, cols - c) * spacing
        assert len(r) > 0.8 * 2 * math.pi * radius / spacing  # a closed line, not a few dots
        assert np.all(np.abs(r - radius) <= spacing)
        assert panel[c, c, 2] > panel[c, c, 0] + 100  # inside: blue
        assert panel[0, 0, 0] > panel[0, 0, 2] + 100  # outside: red


def test_sdf_slices_orientation():
    """Each panel shows its slice as shade_mesh would from that axis (docstring of sdf_slices)."""
    res, half = 65, 1.0
    spacing = 2 * half / (res - 1)
    image = sdf_slices(_sphere_sdf(res, half, (0.4, 0.3, -0.2), 0.55), half).astype(int)
    c = res // 2
    # (right, up) world coordinates of the sphere centre in the x, y and z panels.
    for p, (right, up) in enumerate([(0.2, 0.3), (0.4, 0.2), (0.4, 0.3)]):
        panel = image[:, p * res : (p + 1) * res]
        rows, cols = np.nonzero(panel[..., 2] > panel[..., 0] + 60)  # clearly inside
        assert abs((cols.mean() - c) * spacing - right) < 0.03
        assert abs((c - rows.mean()) * spacing - up) < 0.03


def test_sdf_slices_saturation_and_nan():
    grid = np.full((5, 5, 5), 0.1)
    grid[2, 2, 2] = np.nan
    image = sdf_slices(grid, 1.0, saturation=0.1)
    assert np.all(image[0, 0] == [191, 31, 31])  # saturated red
    assert np.all(image[2, 2] == [128, 128, 128])  # NaN: grey
    with pytest.raises(ValueError):
        sdf_slices(np.zeros((4, 4, 5)), 1.0)


# ---------------------------------------------------------------------------------------------------
# line_chart_svg
# ---------------------------------------------------------------------------------------------------


def _polyline_points(poly) -> list[tuple[float, float]]:
    return [tuple(map(float, p.split(","))) for p in poly.get("points").split()]


def test_line_chart_is_xml_with_one_polyline_per_series():
    series = {
        "train": (list(range(5)), [1.0, 0.5, 0.3, 0.2, 0.15]),
        "val <&>": (np.arange(7) * 0.7, [1.2, 0.8, float("nan"), 0.5, 0.45, 0.44, 0.43]),
    }
    svg = line_chart_svg(series, EVIL, "epoch", "loss")
    root = ET.fromstring(svg)
    polys = root.findall(f".//{SVG}polyline")
    assert [p.get("data-series") for p in polys] == ["train", "val <&>"]
    assert [len(_polyline_points(p)) for p in polys] == [5, 6]  # the NaN point is left out
    assert polys[0].get("stroke") != polys[1].get("stroke")
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert EVIL in texts and "val <&>" in texts and "epoch" in texts
    width, height = float(root.get("width")), float(root.get("height"))
    for poly in polys:  # inside the canvas
        assert all(0 <= x <= width and 0 <= y <= height for x, y in _polyline_points(poly))
    # Decreasing loss goes down the image (SVG y grows downward).
    ys = [y for _, y in _polyline_points(polys[0])]
    assert ys == sorted(ys)


def _tick_labels(svg: str) -> list[str]:
    root = ET.fromstring(svg)
    return [t.text for g in root.findall(f"{SVG}g") if g.get("text-anchor") for t in g.iter(f"{SVG}text")]


def test_line_chart_ticks_are_readable():
    labels = _tick_labels(line_chart_svg({"a": ([0, 1000], [0.1, 0.3])}, "t", "step", "iou"))
    assert "0" in labels and "1000" in labels and "0.10" in labels and "0.30" in labels
    assert all(len(s) <= 6 for s in labels)
    log_labels = _tick_labels(
        line_chart_svg({"a": ([1, 2, 3], [1e-4, 1e-2, 1.0])}, "t", "x", "y", log_y=True)
    )
    assert {"1e-4", "0.01", "1"} <= set(log_labels)
    root = ET.fromstring(line_chart_svg({"a": ([1, 2, 3], [0.0, 1e-2, 1.0])}, "t", "x", "y", log_y=True))
    assert len(_polyline_points(root.find(f".//{SVG}polyline"))) == 2  # y <= 0 left out on a log axis


def test_line_chart_degenerate_inputs():
    for series in ({}, {"one": ([3.0], [2.0])}, {"flat": ([0, 1, 2], [5.0, 5.0, 5.0])}):
        ET.fromstring(line_chart_svg(series, "t", "x", "y"))
    with pytest.raises(ValueError):
        line_chart_svg({"bad": ([0, 1], [1.0])}, "t", "x", "y")


# ---------------------------------------------------------------------------------------------------
# write_report
# ---------------------------------------------------------------------------------------------------


class _Links(HTMLParser):
    """Every src/href of a page, and whether it has scripts."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.scripts = 0

    def handle_starttag(self, tag, attrs):
        self.scripts += tag == "script"
        self.links += [v for k, v in attrs if k in ("src", "href") and v is not None]


def _sample_report(tmp_path: Path, mesh_size: int = 64) -> Report:
    sphere = trimesh.creation.icosphere(subdivisions=2, radius=0.45)
    shaded = shade_mesh(sphere.vertices, sphere.faces, mesh_size)
    slices = sdf_slices(_sphere_sdf(33, 1.0, (0, 0, 0), 0.45), 1.0)
    existing = write_png(tmp_path / "inputs" / "view.png", np.full((8, 12, 3), 200, np.uint8))
    chart = line_chart_svg(
        {"train": ([0, 1, 2], [1.0, 0.6, 0.4]), "val": ([0, 2], [1.1, 0.7])}, "Loss", "epoch", "L"
    )
    return Report(
        title="Evaluation",
        meta={"config": "abc123", "recon": "0.1.0"},
        sections=[
            Section(
                "Metrics: preset A",
                [
                    Table(
                        ["category", "chamfer", "iou", "n"],
                        [
                            {"category": "chair", "chamfer": 0.0123456, "iou": 0.5, "n": 12},
                            ["table", 1.5e-5, None, np.int64(7)],
                        ],
                        caption="Per category",
                    ),
                    Text("First paragraph.\n\nSecond paragraph."),
                ],
            ),
            Section(
                "Pictures",
                [
                    ImageGrid([("chair/1 prediction", shaded), ("chair/1 sdf", slices), ("input", existing)]),
                    Section("Curves", [Figure(chart, caption="Training loss")]),
                ],
            ),
        ],
    )


def test_report_files_names_and_links(tmp_path):
    index = write_report(_sample_report(tmp_path), tmp_path / "report")
    assert index == tmp_path / "report" / "index.html"
    html = index.read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>")
    names = sorted(p.name for p in (tmp_path / "report" / "img").iterdir())
    assert names == ["pictures--chair-1-prediction.png", "pictures--chair-1-sdf.png", "pictures--input.png"]
    parser = _Links()
    parser.feed(html)
    assert parser.scripts == 0
    for link in parser.links:  # relative links only, and every file link resolves
        assert not re.match(r"^([a-z]+:|/)", link), link
        if not link.startswith("#"):
            assert (index.parent / link).is_file(), link
    anchors = set(re.findall(r'id="([^"]+)"', html))
    assert {link[1:] for link in parser.links if link.startswith("#")} <= anchors
    assert {"metrics-preset-a", "pictures", "curves"} <= anchors
    assert "0.01235" in html and "1.5e-05" in html and '<td class="num">7</td>' in html


def test_report_is_deterministic_and_replaces_old_output(tmp_path):
    out = tmp_path / "report"
    write_report(_sample_report(tmp_path), out)
    first = {p.relative_to(out): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}
    (out / "img" / "stale.png").write_bytes(b"old")
    write_report(_sample_report(tmp_path), out)
    second = {p.relative_to(out): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}
    assert first == second  # same bytes; the stale file is gone
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary leftovers


def test_duplicate_labels_get_unique_names(tmp_path):
    img = np.zeros((4, 4), np.uint8)
    report = Report("r", [Section("S", [ImageGrid([("a b", img), ("a-b", img)]), ImageGrid([("a b", img)])])])
    write_report(report, tmp_path / "out")
    names = sorted(p.name for p in (tmp_path / "out" / "img").iterdir())
    assert names == ["s--a-b-2.png", "s--a-b-3.png", "s--a-b.png"]


def test_everything_is_escaped(tmp_path):
    report = Report(
        EVIL,
        [
            Section(
                EVIL,
                [
                    Table([EVIL], [[EVIL]], caption=EVIL),
                    Text(EVIL),
                    ImageGrid([(EVIL, np.zeros((4, 4, 3), np.uint8))], caption=EVIL),
                    Figure(line_chart_svg({EVIL: ([0, 1], [0, 1])}, EVIL, EVIL, EVIL), caption=EVIL),
                ],
            )
        ],
        meta={EVIL: EVIL},
    )
    html = write_report(report, tmp_path / "out").read_text(encoding="utf-8")
    assert "<script" not in html
    assert html.count("&lt;script&gt;") >= 12
    parser = _Links()
    parser.feed(html)
    assert parser.scripts == 0


def test_bad_blocks_fail_and_keep_the_old_report(tmp_path):
    out = tmp_path / "out"
    write_report(Report("ok", [Section("a", [Text("fine")])]), out)
    before = (out / "index.html").read_bytes()
    with pytest.raises(FileNotFoundError):
        write_report(Report("x", [Section("a", [ImageGrid([("gone", tmp_path / "missing.png")])])]), out)
    with pytest.raises(ValueError):
        write_report(Report("x", [Section("a", [Table(["a", "b"], [[1]])])]), out)
    with pytest.raises(TypeError):
        write_report(Report("x", [Section("a", [object()])]), out)
    assert (out / "index.html").read_bytes() == before


# ---------------------------------------------------------------------------------------------------
# In a real browser
# ---------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser():
    driver = browser_or_skip()
    yield driver
    driver.quit()


def test_report_in_headless_chromium(browser, tmp_path):
    index = write_report(_sample_report(tmp_path), tmp_path / "report")
    page = inspect_page(browser, index)
    assert page.image_count == 3 and page.broken_images == []
    assert page.script_count == 0 and page.missing_anchors == []
    metrics = next(t for t in page.tables if t and t[0] == ["category", "chamfer", "iou", "n"])
    assert metrics[1:] == [["chair", "0.01235", "0.5", "12"], ["table", "1.5e-05", "", "7"]]
    assert page.tables[0] == [["config", "abc123"], ["recon", "0.1.0"]]  # meta
    assert len(page.svg_boxes) == 1 and all(w > 100 and h > 50 for w, h in page.svg_boxes)
    assert "Second paragraph." in page.text and "chair/1 prediction" in page.text


def test_browser_check_detects_a_missing_image(browser, tmp_path):
    index = write_report(_sample_report(tmp_path), tmp_path / "report")
    (index.parent / "img" / "pictures--chair-1-sdf.png").unlink()
    page = inspect_page(browser, index)
    assert page.broken_images == ["img/pictures--chair-1-sdf.png"]
