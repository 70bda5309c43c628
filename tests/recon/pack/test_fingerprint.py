"""The dataset fingerprint's definitions, on small stores written here (the packed stores of a real
run are fingerprinted in tests/recon/pack/test_stage.py and tests/workflow)."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
import zarr
from zarr.codecs import ZstdCodec

from recon.cli import main
from recon.pack.fingerprint import array_digest, fingerprint_rows, format_rows, store_fingerprint

POINTS = np.arange(24, dtype=np.float32).reshape(2, 4, 3) / 7


def _store(path, split="train", points=POINTS, chunks=(1, 4, 3), compressors=None, ids=("a", "bé")):
    root = zarr.open_group(
        str(path), mode="w", zarr_format=3, attributes={"pack": {"split": split}, "noise": str(path)}
    )
    root.create_array(
        "index/shape_id", shape=(len(ids),), dtype=str, chunks=(len(ids),), attributes={"stage": "index"}
    )[...] = np.asarray(ids, dtype=object)
    arr = root.create_array(
        "sdf/points", shape=points.shape, dtype=points.dtype, chunks=chunks, compressors=compressors,
        attributes={"stage": "sdf", "units": "whatever"},
    )  # fmt: skip
    arr[...] = points
    root.create_array("voxels/8", shape=(2, 8), dtype=bool, chunks=(1, 8), attributes={"stage": "voxelize"})[
        ...
    ] = np.eye(2, 8, dtype=bool)
    return path


def test_array_digest_is_sha256_of_name_dtype_shape_and_little_endian_values(tmp_path):
    root = zarr.open_group(str(_store(tmp_path / "s.zarr")), mode="r")
    expected = hashlib.sha256(b"sdf/points\n<f4\n2,4,3\n" + POINTS.astype("<f4").tobytes()).hexdigest()
    assert array_digest("sdf/points", root["sdf/points"]) == expected
    strings = hashlib.sha256(b"index/shape_id\nstring\n2\n")
    for value in ("a", "bé"):
        strings.update(len(value.encode()).to_bytes(8, "little") + value.encode())
    assert array_digest("index/shape_id", root["index/shape_id"]) == strings.hexdigest()
    expected = hashlib.sha256(b"voxels/8\n|b1\n2,8\n" + np.eye(2, 8, dtype=bool).tobytes()).hexdigest()
    assert array_digest("voxels/8", root["voxels/8"]) == expected


def test_fingerprint_sees_values_not_storage(tmp_path):
    reference = fingerprint_rows([_store(tmp_path / "a" / "train.zarr")])
    # Other chunks, compression, path and attributes: the same fingerprint.
    stored_otherwise = _store(tmp_path / "b" / "train.zarr", chunks=(2, 2, 3), compressors=ZstdCodec(level=9))
    assert fingerprint_rows([stored_otherwise]) == reference
    digests = {(r["split"], r["stage"]): r["sha256"] for r in reference}
    assert [(r["split"], r["stage"], r["arrays"]) for r in reference] == [
        ("train", "index", 1), ("train", "sdf", 1), ("train", "voxelize", 1), ("train", "all", 3),
        ("all", "all", 3),
    ]  # fmt: skip
    lines = "".join(f"{s}\t{digests[('train', s)]}\n" for s in ("index", "sdf", "voxelize"))
    assert digests[("train", "all")] == hashlib.sha256(lines.encode()).hexdigest()
    assert (
        digests[("all", "all")]
        == hashlib.sha256(f"train\t{digests[('train', 'all')]}\n".encode()).hexdigest()
    )

    def changed(**kw):
        rows = fingerprint_rows([_store(tmp_path / "c" / "train.zarr", **kw)])
        return {(r["split"], r["stage"]): r["sha256"] for r in rows}

    one_value = POINTS.copy()
    one_value[1, 2, 0] = np.nextafter(one_value[1, 2, 0], np.float32(1))  # one byte of one value
    for kw, stage in (
        ({"points": one_value}, "sdf"),
        ({"points": POINTS.view(np.int32)}, "sdf"),  # the same bytes as another dtype
        ({"points": POINTS.reshape(2, 3, 4), "chunks": (1, 3, 4)}, "sdf"),  # ... or another shape
        ({"ids": ("a", "b")}, "index"),
    ):
        other = changed(**kw)
        assert {k for k in digests if other[k] != digests[k]} == {
            ("train", stage),
            ("train", "all"),
            ("all", "all"),
        }, kw


def test_splits_in_order_and_the_command_line(tmp_path, capsys):
    pack = tmp_path / "results" / "pack"
    for split in ("test", "train"):
        _store(pack / f"{split}.zarr", split=split)
    rows = fingerprint_rows([pack / "test.zarr", pack / "train.zarr"])
    assert [(r["split"], r["stage"]) for r in rows if r["stage"] == "all"] == [
        ("train", "all"), ("test", "all"), ("all", "all"),
    ]  # fmt: skip
    assert main(["fingerprint", str(tmp_path / "results")]) == 0
    assert capsys.readouterr().out == format_rows(rows)
    assert format_rows(rows).splitlines()[0] == "split\tstage\tarrays\tsha256"
    assert main(["fingerprint", str(tmp_path)]) == 2
    assert "no packed split store" in capsys.readouterr().err


def test_an_array_without_its_stage_is_refused(tmp_path):
    path = _store(tmp_path / "s.zarr")
    zarr.open_group(str(path), mode="r+").create_array("extra", shape=(1,), dtype="int8")
    with pytest.raises(ValueError, match="array extra has no 'stage' attribute"):
        store_fingerprint(path)
