"""Quality measures against meshes whose answers are known by construction."""

from __future__ import annotations

import numpy as np
import pytest
import trimesh

from recon.geometry.quality import inspect_mesh, quarantine_reason


def _soup(mesh):
    """Every triangle with its own three vertex copies (how many ShapeNet OBJs come)."""
    return mesh.vertices[mesh.faces].reshape(-1, 3), np.arange(len(mesh.faces) * 3).reshape(-1, 3)


def test_closed_box():
    box = trimesh.creation.box((1, 2, 3))
    r = inspect_mesh(box.vertices, box.faces)
    assert (r["vertices"], r["faces"], r["components"]) == (8, 12, 1)
    assert r["watertight"] and r["winding_consistent"]
    assert r["degenerate_faces"] == r["duplicate_faces"] == r["nonfinite_vertices"] == 0
    assert r["surface_area"] == pytest.approx(2 * (2 + 3 + 6))
    assert r["bbox_min"] == [-0.5, -1.0, -1.5] and r["bbox_max"] == [0.5, 1.0, 1.5]
    assert quarantine_reason(r, max_faces=100) is None


def test_polygon_soup_is_merged_by_position():
    v, f = _soup(trimesh.creation.icosphere(2))
    r = inspect_mesh(v, f)
    assert r["vertices"] == 3 * 320
    assert r["components"] == 1 and r["watertight"] and r["winding_consistent"]


def test_open_flipped_duplicated_degenerate_parts():
    box = trimesh.creation.box()
    faces = box.faces.copy()
    faces[0] = faces[0][::-1]  # one flipped triangle
    faces = np.vstack([faces, faces[5:7]])  # two duplicated triangles
    faces = np.vstack([faces, [[0, 0, 1]]])  # a triangle repeating a vertex
    far = trimesh.creation.box().vertices + 10  # a second, separate component
    vertices = np.vstack([box.vertices, far])
    faces = np.vstack([faces, box.faces + 8])
    r = inspect_mesh(vertices, faces)
    assert r["faces"] == 12 + 2 + 1 + 12
    assert r["degenerate_faces"] == 1
    assert r["duplicate_faces"] == 2
    assert r["components"] == 2
    assert not r["watertight"]  # duplicated triangles put 4 faces on some edges
    assert not r["winding_consistent"]  # the flipped triangle
    assert quarantine_reason(r, max_faces=100) is None  # soups are usable

    open_box = inspect_mesh(box.vertices, box.faces[:-1])
    assert not open_box["watertight"] and open_box["winding_consistent"]


def test_flipped_whole_mesh_is_still_consistent():
    box = trimesh.creation.box()
    r = inspect_mesh(box.vertices, box.faces[:, ::-1])
    assert r["watertight"] and r["winding_consistent"]


def test_nonfinite_and_zero_area_and_empty():
    r = inspect_mesh([[np.inf, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]], [[0, 1, 2], [1, 2, 3]])
    assert r["nonfinite_vertices"] == 1 and r["faces"] == 2
    assert r["surface_area"] == pytest.approx(np.sqrt(3) / 2)  # only the finite triangle counts
    assert quarantine_reason(r, 100) == "1 vertices with NaN or infinite coordinates"

    flat = inspect_mesh([[0, 0, 0], [1, 1, 1], [2, 2, 2]], [[0, 1, 2]])
    assert flat["degenerate_faces"] == 1 and flat["surface_area"] == 0
    assert quarantine_reason(flat, 100) == "zero surface area (all 1 faces degenerate)"

    none = inspect_mesh(np.zeros((4, 3)), np.zeros((0, 3), int))
    assert quarantine_reason(none, 100) == "no faces (4 vertices)"


def test_too_many_faces():
    ico = trimesh.creation.icosphere(1)
    assert (
        quarantine_reason(inspect_mesh(ico.vertices, ico.faces), 79)
        == "absurdly large: 80 faces > ingest.max_faces = 79"
    )


def test_tiny_but_valid_mesh_is_not_degenerate():
    box = trimesh.creation.box((1e-4, 1e-4, 1e-4))
    r = inspect_mesh(box.vertices, box.faces)
    assert r["degenerate_faces"] == 0 and quarantine_reason(r, 100) is None


def test_a_mesh_stacked_in_place_is_quarantined_but_a_double_sided_one_is_not():
    ico = trimesh.creation.icosphere(1)  # 80 faces
    double = inspect_mesh(ico.vertices, np.vstack([ico.faces, ico.faces[:, ::-1]]))
    assert double["duplicate_faces"] == 80
    assert quarantine_reason(double, 1000, max_duplicate_fraction=0.5) is None
    stacked = inspect_mesh(ico.vertices, np.tile(ico.faces, (3, 1)))
    assert stacked["duplicate_faces"] == 160
    assert quarantine_reason(stacked, 1000, max_duplicate_fraction=0.5) == (
        "stacked copies: 160 of 240 faces repeat another face's corners "
        "(> ingest.max_duplicate_fraction = 0.5)"
    )
