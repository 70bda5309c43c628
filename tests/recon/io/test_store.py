"""Atomic outputs, TSV tables and Zarr stores with provenance."""

from __future__ import annotations

import numpy as np
import pytest

from recon.io.atomic import atomic_path, atomic_write_text
from recon.io.store import FORMAT_VERSION, open_store, provenance, write_array, write_store
from recon.io.tables import format_value, read_tsv, write_tsv


def test_atomic_path_leaves_nothing_on_failure(tmp_path):
    out = tmp_path / "store.zarr"
    with pytest.raises(RuntimeError), atomic_path(out) as tmp:
        tmp.mkdir()
        (tmp / "half").write_text("written")
        raise RuntimeError("interrupted")
    assert list(tmp_path.iterdir()) == []


def test_atomic_path_removes_leftovers_of_a_killed_writer(tmp_path):
    stale = tmp_path / ".s.zarr.tmp-123-abcd"
    (stale / "c").mkdir(parents=True)
    other = tmp_path / ".t.zarr.tmp-123-abcd"
    other.mkdir()
    with atomic_path(tmp_path / "s.zarr") as tmp:
        tmp.mkdir()
    assert sorted(p.name for p in tmp_path.iterdir()) == [".t.zarr.tmp-123-abcd", "s.zarr"]


def test_atomic_path_replaces_existing(tmp_path):
    out = tmp_path / "d"
    (out / "old").mkdir(parents=True)
    with atomic_path(out) as tmp:
        tmp.mkdir()
        (tmp / "new").write_text("x")
    assert [p.name for p in out.iterdir()] == ["new"]
    atomic_write_text(tmp_path / "f.txt", "é")
    assert (tmp_path / "f.txt").read_text(encoding="utf-8") == "é"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d", "f.txt"]


def test_tsv_round_trip_and_formatting(tmp_path):
    rows = [{"a": 1, "b": True, "c": 0.1, "d": None, "e": [1.5, -2.0], "f": "x\ty"}]
    write_tsv(tmp_path / "t.tsv", rows, ["a", "b", "c", "d", "e", "f"])
    assert (tmp_path / "t.tsv").read_text() == "a\tb\tc\td\te\tf\n1\ttrue\t0.1\t\t1.5,-2.0\tx y\n"
    assert read_tsv(tmp_path / "t.tsv") == [
        {"a": "1", "b": "true", "c": "0.1", "d": "", "e": "1.5,-2.0", "f": "x y"}
    ]
    assert format_value(False) == "false"


def test_store_arrays_attributes_and_provenance(tmp_path):
    prov = provenance("ingest", {"seed": 3, "ingest": {"normalization": "unit_sphere"}}, 3, "ab" * 32)
    assert prov["format_version"] == FORMAT_VERSION
    assert prov["packages"]["zarr"].startswith("3.")
    data = np.arange(12, dtype=np.float32).reshape(4, 3)
    with write_store(tmp_path / "s.zarr", {"provenance": prov, "shape": {"shape_id": "x"}}) as root:
        write_array(root, "mesh/vertices", data, ("vertex", "xyz"), attributes={"frame": "world"})
        write_array(root, "empty", np.zeros((0, 3), np.int32), ("face", "corner"))
    store = open_store(tmp_path / "s.zarr")
    np.testing.assert_array_equal(store["mesh/vertices"][...], data)
    assert store["mesh/vertices"].metadata.dimension_names == ("vertex", "xyz")
    assert store["mesh/vertices"].attrs["frame"] == "world"
    assert store["empty"].shape == (0, 3)
    assert store.attrs["provenance"]["config_digest"] == prov["config_digest"]
    assert store.attrs["provenance"]["source_sha256"] == "ab" * 32


def test_config_digest_depends_on_content_only():
    a = provenance("x", {"a": 1, "b": {"c": 2}}, 0)
    b = provenance("x", {"b": {"c": 2}, "a": 1}, 0)
    c = provenance("x", {"a": 2, "b": {"c": 2}}, 0)
    assert a["config_digest"] == b["config_digest"] != c["config_digest"]


def test_failed_store_write_leaves_no_store(tmp_path):
    with pytest.raises(ValueError), write_store(tmp_path / "s.zarr", {}) as root:
        write_array(root, "a", np.ones(3), ("i",))
        raise ValueError("boom")
    assert not (tmp_path / "s.zarr").exists()
    assert list(tmp_path.iterdir()) == []


def test_reordered_config_keys_write_identical_store_bytes(tmp_path):
    """sdf.grid's keys in another order (as another config file writes them): the same zarr.json."""
    grids = [
        {"resolution": 40, "box": "fixed", "half_extent": 1.1},
        {"half_extent": 1.1, "box": "fixed", "resolution": 40},
    ]
    texts = []
    for i, grid in enumerate(grids):
        prov = provenance("sdf", {"seed": 0, "sdf": {"iso": 0.003, "grid": grid}}, 0)
        attrs = {"shape": {"shape_id": "x", "category": "c"}, "provenance": prov}
        with write_store(tmp_path / f"{i}.zarr", attrs) as root:
            write_array(root, "a", np.ones(3), ("i",), attributes={"units": "m", "frame": "world"})
        texts.append(
            (
                (tmp_path / f"{i}.zarr" / "zarr.json").read_bytes(),
                (tmp_path / f"{i}.zarr" / "a" / "zarr.json").read_bytes(),
            )
        )
    assert texts[0] == texts[1]
    recorded = open_store(tmp_path / "0.zarr").attrs["provenance"]["config"]
    assert list(recorded) == ["sdf", "seed"] and list(recorded["sdf"]["grid"]) == [
        "box",
        "half_extent",
        "resolution",
    ]
    # A stage without random draws records no seed.
    assert provenance("ingest", {"ingest": {}}, None)["seed"] is None
