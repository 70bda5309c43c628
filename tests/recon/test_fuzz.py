"""Fuzzing ingest: a few hundred mutated meshes of every format; none may crash the job.

The cases (:mod:`tests.fuzz`) are seeded: the same bytes on every run. Each runs through
``ingest_shape``, the function the ``ingest_shape`` rule calls: it must return (a malformed
file is quarantined with a one-line reason), and every mesh it accepts must be finite with valid
face indices in its store. ``python -m tests.fuzz --cases 1000 --out DIR`` is the longer run
(sdf, render and voxelize of the accepted shapes too).
"""

from __future__ import annotations

import warnings
from collections import Counter

import pytest

from recon.config import resolve_config
from recon.geometry.references import find_references
from recon.ingest.stage import SOURCE_COLUMNS, build_ledger
from recon.io.tables import read_tsv, write_tsv
from tests.fuzz import (
    MUTATIONS,
    SEED_FILES,
    _ingest_job,
    check_accepted,
    fuzz_cases,
    fuzz_config,
    reason_kind,
    report,
    run,
    write_case,
)
from tests.meshes import REPO, ingest_file, write_obj

CASES = 300


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    """``[(case, ledger row or the exception raised)]`` for cases 0..CASES-1 of seed 0."""
    out = tmp_path_factory.mktemp("fuzz")
    config = fuzz_config(out)
    results = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # overflow in a mutated mesh's arithmetic
        for case in fuzz_cases(0, CASES):
            try:
                results.append((case, _ingest_job(case, out, config), out))
            except Exception as err:  # what the test is about
                results.append((case, err, out))
    return results


def test_no_mutated_mesh_crashes_ingest(results):
    crashed = [
        f"{case.name}: {type(row).__name__}: {row}" for case, row, _ in results if isinstance(row, Exception)
    ]
    assert crashed == []


def test_every_accepted_mesh_is_finite_with_valid_indices(results):
    accepted = [(case, out) for case, row, out in results if isinstance(row, dict) and row["status"] == "ok"]
    assert len(accepted) >= 20  # the fuzzer still reaches past the readers
    for case, out in accepted:
        check_accepted(out / "results" / "ingest" / "shapes" / "fuzz" / f"{case.name}.zarr")


def test_quarantine_reasons_are_one_line(results):
    rows = [row for _, row, _ in results if isinstance(row, dict) and row["status"] == "quarantined"]
    assert len(rows) >= CASES // 2
    for row in rows:
        assert row["reason"] and "\n" not in row["reason"] and len(row["reason"]) < 400, row["reason"]
    kinds = Counter(reason_kind(row["reason"]) for row in rows)
    assert len(kinds) >= 8, kinds  # many different failures, each named


def test_the_cases_cover_every_format_and_mutation_kind(results):
    cases = [case for case, _, _ in results]
    assert {case.kind for case in cases} == set(SEED_FILES)
    drawn = {(case.kind, case.mutation.split("+")[0]) for case in cases}
    every = {(kind, mutation) for kind, mutations in MUTATIONS.items() for mutation in mutations}
    assert len(drawn) >= 0.8 * len(every), sorted(every - drawn)


def test_cases_are_the_same_bytes_every_time():
    first, again = fuzz_cases(0, 20), fuzz_cases(0, 20, start=0)
    assert [c.files for c in first] == [c.files for c in again]
    assert fuzz_cases(0, 5, start=15)[0].files == first[15].files  # a case does not depend on the count
    assert [c.files for c in fuzz_cases(1, 20)] != [c.files for c in first]


#: Files the fuzzer found (tests/data/fuzz): what each did before it was fixed, and the reason
#: it is quarantined with now.
REGRESSIONS = {
    # crashed ingest: trimesh returned (V, 2) or (V, 1) vertex arrays, reshaped outside the try
    "obj_two_coordinates.obj": "unreadable obj file: ValueError: vertices of shape (122, 2), expected (N, 3)",
    "obj_truncated.obj": "unreadable obj file: ValueError: vertices of shape (50, 1), expected (N, 3)",
    # crashed ingest: the reference scan's json.loads recursed past Python's limit
    "deep_json.glb": "absurdly deep: glTF JSON nested 5001 levels > ingest.max_gltf_depth = 64",
    # crashed ingest: the reference scan iterated over a "buffers" that is a number
    "buffers_not_a_list.glb": "unreadable glb file: buffers is not a list of objects",
    # accepted, rendered empty: trimesh read UTF-16 text, Blender's importer reads bytes
    "obj_utf16.obj": "unreadable obj file: NUL bytes",
    "obj_nul_in_number.obj": "unreadable obj file: NUL bytes",
    # accepted with part of the file lost: NumPy's text parser stopped at the NUL and only warned
    "stl_ascii_nul.stl": "unreadable stl file: a number that does not parse",
    # quarantined, but as "zero surface area": the bounding box's diagonal overflowed
    "coordinates_1e308.obj": "coordinates out of range: lengths overflow float64 (|coordinate| up to 1e+308)",
    # accepted, with a vertex stored as inf: 1e308 scaled into the canonical frame overflows float32
    "far_unreferenced_vertex.off": "coordinates out of range: 1 vertices overflow float32",
    # quarantined before, kept for the reason's wording
    "letter_in_coordinate.obj": "unreadable obj file: a number that does not parse",
}


def test_regression_files_are_all_listed():
    assert sorted(p.name for p in (REPO / "tests" / "data" / "fuzz").iterdir()) == sorted(REGRESSIONS)


@pytest.mark.parametrize("name", sorted(REGRESSIONS))
def test_regression_file_is_quarantined_with_its_reason(tmp_path, name):
    source = REPO / "tests" / "data" / "fuzz" / name
    config = resolve_config({"source": {"kind": "folder", "path": str(source.parent)}})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        row = ingest_file(source, tmp_path / "s.zarr", config)
    assert row["status"] == "quarantined"
    assert row["reason"].startswith(REGRESSIONS[name]), row["reason"]


@pytest.mark.parametrize("error", [MemoryError, ImportError])
@pytest.mark.parametrize("where", ["trimesh.load", "recon.ingest.stage.find_references"])
def test_a_failure_of_the_machine_still_stops_the_job(tmp_path, monkeypatch, error, where):
    """Out of memory or a missing package is not the file's fault: the job fails, nothing is quarantined."""

    def fail(*args, **kwargs):
        raise error("the machine, not the file")

    monkeypatch.setattr(where, fail)
    source = REPO / "tests" / "data" / "fuzz" / "far_unreferenced_vertex.off"
    if where.endswith("find_references"):
        source = write_case(fuzz_cases(0, 1)[0], tmp_path / "shape")  # any file: the scan runs on all
    config = resolve_config({"source": {"kind": "folder", "path": str(source.parent)}})
    with pytest.raises(error, match="the machine"):
        ingest_file(source, tmp_path / "s.zarr", config)
    assert not (tmp_path / "s.zarr").exists()


@pytest.mark.parametrize("name", ["deep_json.glb", "buffers_not_a_list.glb"])
def test_the_reference_scan_reads_any_glb_json_without_raising(name):
    """The scan runs before the limits; what crashed it (deep nesting, a number for a list) names nothing."""
    source = REPO / "tests" / "data" / "fuzz" / name
    assert find_references(source, source.parent, "glb") == []


def test_the_long_run_carries_accepted_shapes_through_sdf_render_and_voxelize(tmp_path):
    """``python -m tests.fuzz`` in small: every stage job of every accepted case runs, none crashes."""
    pytest.importorskip("bpy")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        counts = run(0, 40, tmp_path, ("sdf", "render", "voxelize"), render_batch=8)
    assert counts["crashes"] == [] and counts["disagree"] == []
    assert counts["accepted"] >= 2 and counts["accepted"] + sum(counts["quarantined"].values()) == 40
    results = tmp_path / "results"
    for stage in ("sdf", "voxelize"):
        assert len(list((results / stage / "fuzz").glob("*.zarr"))) == counts["accepted"]
    assert len(list((results / "render" / "fuzz").glob("batch*/*.zarr"))) == counts["accepted"]
    assert "crashed jobs: 0" in report(counts)


def test_a_name_of_any_bytes_reaches_the_ledger_as_text(tmp_path):
    """Found by the fuzzer (an ``.mtl`` naming ``map_Kd \\xff\\xfe\\xfd.png``): the note quoted the name
    with lone surrogates, which no UTF-8 log, ledger or test report could write."""
    folder = tmp_path / "shape"
    write_obj(folder / "model.obj", [[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]], [[0, 1, 2], [0, 1, 3]])
    (folder / "model.obj").write_bytes(b"mtllib model.mtl\n" + (folder / "model.obj").read_bytes())
    (folder / "model.mtl").write_bytes(b"newmtl a\nKd 1 0 0\nmap_Kd \xff\xfe\xfd.png\n")
    config = resolve_config({"source": {"kind": "folder", "path": str(tmp_path)}})
    row = ingest_file(folder / "model.obj", tmp_path / "s.zarr", config)
    assert row["status"] == "ok"
    assert row["note"].endswith("(map_Kd \\xff\\xfe\\xfd.png)"), row["note"]
    row["note"].encode("utf-8")
    write_tsv(
        tmp_path / "sources.tsv", [{"category": "c", "shape_id": "model", "split": "train"}], SOURCE_COLUMNS
    )
    build_ledger(
        tmp_path / "sources.tsv", [tmp_path / "s.zarr"], *(tmp_path / n for n in ("l.tsv", "m.tsv", "s.tsv"))
    )
    assert read_tsv(tmp_path / "l.tsv")[0]["note"] == row["note"]
