"""Resource limits of mesh files, checked on their bytes before any reader parses them.

A mesh file is untrusted: its header can declare 2^31 faces in a few bytes, an OBJ of 10^8 short
``v`` lines fits under ``ingest.max_file_mb``, a GLB can instance one mesh from a million nodes
or nest its JSON 10^5 levels deep. trimesh would allocate per such count (or recurse, or
concatenate every instance) before anything could judge the result. :func:`limit_reason` looks
at the bytes first, in time and memory linear in the file (byte counts, header parsing, a
vectorized token count; no trimesh) and returns the one-line ledger reason of a file that
declares or holds more than the limits of ``config["ingest"]``, or whose header disagrees with
its size; ``None`` when the file may be parsed. Per format:

- OBJ: ``v`` / ``vt`` / ``vn`` lines and the triangles of the ``f`` lines (a polygon of n corners
  gives n - 2), counted as trimesh reads them (line continuations joined; CRLF, tabs and
  leading blanks allowed);
- OFF: the counts line (``OFF``, ``COFF``, ``NOFF``, ... and ``#`` comments) against the limits
  and against the lines the file has;
- PLY: the header (``end_header`` within the first :data:`HEADER_BYTES`) against the
  limits; a binary body must hold at least the bytes its elements need (every fixed-size
  property, and each list's count field), an ASCII body exactly one line per declared row;
- OFF and ASCII PLY, whose reader keeps every line as Python objects: past
  :data:`FREE_LINES` lines, at least :data:`MIN_LINE_BYTES` bytes a line;
- STL: binary when ``84 + 50 n`` is the file's size, ASCII when it starts with ``solid`` and
  has a ``facet``; anything else is a binary header that disagrees with the file's size;
- GLB: the 12-byte header and every chunk against the file's size, the JSON's nesting depth
  (before it is parsed), buffers, buffer views and accessors against each other, the node
  hierarchy (no cycles, at most ``ingest.max_gltf_depth`` levels, ``ingest.max_gltf_nodes``
  node instances) and the vertices and triangles of every mesh times the instances the scenes
  make of it, also against the file's size (:data:`VERTEX_BYTES`).

Every reason starts with one of :data:`REASON_PREFIXES`, so the ledger can be counted by kind.

:func:`ingest_mem_mb` is the memory of one ingest job as a function of the mesh file's size
(the ``ingest_shape`` rule's ``mem_mb``), measured by ``bench/bench_ingest_memory.py``.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping

import numpy as np

__all__ = [
    "DEEP",
    "HEADER_BYTES",
    "LARGE",
    "MISMATCH",
    "REASON_PREFIXES",
    "VERTEX_BYTES",
    "ingest_mem_mb",
    "json_depth",
    "limit_reason",
    "obj_counts",
]

#: Reason prefix of a file that declares or holds more than a limit.
LARGE = "absurdly large"
#: Reason prefix of a file whose header declares more (or less) than the file holds.
MISMATCH = "header disagrees with file size"
#: Reason prefix of a glTF nested deeper than ``ingest.max_gltf_depth``.
DEEP = "absurdly deep"
#: Every prefix :func:`limit_reason` uses: also ``unreadable <format> file`` (as the readers'
#: reasons), for a header with negative counts or a glTF whose structure is broken.
REASON_PREFIXES = (LARGE, MISMATCH, DEEP, "unreadable")

#: A PLY header must end (``end_header``) within this many bytes; an OFF header not found in
#: them is left to the reader.
HEADER_BYTES = 1 << 20

#: Bytes of OBJ text tokenized at once by :func:`obj_counts` (its memory is at most about 40 times
#: this: a few index arrays of up to one entry per byte).
_CHUNK = 1 << 20


def _bytes_mb(n: int) -> str:
    return f"{n} bytes" if n < 2**20 else f"{n} bytes ({n / 2**20:.1f} MB)"


def _too_many(count: int, what: str, key: str, limits: Mapping, where: str) -> str | None:
    limit = limits[key]
    if count > limit:
        return f"{LARGE}: {count} {what} > ingest.{key} = {limit} ({where})"
    return None


def _first(*reasons: str | None) -> str | None:
    return next((r for r in reasons if r), None)


# --- OBJ -------------------------------------------------------------------------------------------


def obj_counts(data: bytes) -> dict[str, int]:
    """Lines and triangles of an OBJ file's text, counted without parsing a number.

    Args:
        data: the file's bytes.

    Returns:
        ``{"v": n, "vt": n, "vn": n, "f": n, "triangles": n}``: the lines whose first token is
        ``v``, ``vt``, ``vn`` or ``f``, and the triangles of the ``f`` lines (corners - 2 each, as
        trimesh fans polygons; a line with fewer than 3 corners gives none). Lines may start with
        blanks and use tabs and CRLF; ``\\``-continued lines are joined first, as trimesh does.

    Time and memory are linear: the text is tokenized in blocks of :data:`_CHUNK` bytes with
    NumPy (a token starts where a blank, any byte up to 32, is followed by a non-blank).
    """
    if b"\\\n" in data or b"\\\r\n" in data:
        data = data.replace(b"\\\r\n", b"").replace(b"\\\n", b"")
    counts = dict.fromkeys(("v", "vt", "vn", "f", "triangles"), 0)
    pos, n = 0, len(data)
    while pos < n:
        end = data.rfind(b"\n", pos, pos + _CHUNK) + 1 if pos + _CHUNK < n else n
        if end <= pos:  # a line longer than a block: the block ends with it
            end = data.find(b"\n", pos + _CHUNK) + 1 or n
        a = np.frombuffer(data, dtype=np.uint8, count=end - pos, offset=pos)
        pos = end
        blank = a <= 32  # ASCII blanks and control bytes
        start = ~blank
        start[1:] &= blank[:-1]  # a block starts at a line start: its first byte starts a token
        starts = np.flatnonzero(start)
        lines = np.flatnonzero(a == 10) + 1
        lines = np.concatenate([[0], lines[lines < len(a)]])  # where each line starts
        at = np.searchsorted(starts, lines)  # each line's first token (if it is before the next line)
        tokens = np.diff(np.append(at, len(starts)))  # tokens per line
        first = np.append(starts, len(a))[at]  # where each line's first token starts
        # The first token's bytes, padded with blanks past the block's end.
        padded = np.concatenate([a, np.full(3, 32, dtype=np.uint8)])
        c0, c1, c2 = padded[first], padded[first + 1], padded[first + 2]
        b1, b2 = c1 <= 32, c2 <= 32
        is_v = (c0 == ord("v")) & (tokens > 0)
        for key, mask in (
            ("v", is_v & b1),
            ("vt", is_v & (c1 == ord("t")) & b2),
            ("vn", is_v & (c1 == ord("n")) & b2),
        ):
            counts[key] += int(np.count_nonzero(mask))
        is_f = (c0 == ord("f")) & b1 & (tokens > 0)
        counts["f"] += int(np.count_nonzero(is_f))
        counts["triangles"] += int(np.maximum(tokens[is_f] - 3, 0).sum())
    return counts


def _obj_reason(data: bytes, limits: Mapping) -> str | None:
    c = obj_counts(data)
    where = "counted in the OBJ text"
    return _first(
        _too_many(c["triangles"], "faces", "max_faces", limits, where),
        _too_many(c["v"], "vertices", "max_vertices", limits, where),
        _too_many(c["vt"], "texture coordinates (vt)", "max_vertices", limits, where),
        _too_many(c["vn"], "normals (vn)", "max_vertices", limits, where),
    )


# --- text line counts (OFF, ASCII PLY) -------------------------------------------------------------

#: What Python's ``str.splitlines`` (trimesh's ASCII PLY and OFF readers) ends a line at, in ASCII.
_LINE_BREAKS = (b"\n", b"\r", b"\x0b", b"\x0c", b"\x1c", b"\x1d", b"\x1e")


def _content_end(data: bytes, start: int) -> int:
    """The index after the last non-blank byte of ``data[start:]`` (``start`` when all blank)."""
    end = len(data)
    while end > start:
        block = data[max(start, end - 4096) : end]
        stripped = block.rstrip()
        if stripped:
            return end - len(block) + len(stripped)
        end -= len(block)
    return start


def _lines(data: bytes, start: int, end: int) -> int:
    """Lines of ``data[start:end]`` as ``str.splitlines`` splits them (0 when empty)."""
    if end <= start:
        return 0
    breaks = sum(data.count(b, start, end) for b in _LINE_BREAKS) - data.count(b"\r\n", start, end)
    return breaks + (data[end - 1 : end] not in _LINE_BREAKS)


#: trimesh's OFF and ASCII PLY readers hold every line as Python objects, about 400 bytes of them:
#: past :data:`FREE_LINES` lines, a file must average :data:`MIN_LINE_BYTES` bytes a line (the
#: shortest vertex rows of real files have 20 or more), which keeps them under
#: :data:`MEM_PER_FILE_MB` per MB.
MIN_LINE_BYTES, FREE_LINES = 12, 100_000


def _short_lines(lines: int, size: int, what: str) -> str | None:
    if lines > max(FREE_LINES, size // MIN_LINE_BYTES):
        return f"{LARGE}: {lines} {what} in {_bytes_mb(size)}, fewer than {MIN_LINE_BYTES} bytes each"
    return None


# --- OFF -------------------------------------------------------------------------------------------

_OFF_KEYWORD = re.compile(rb"[A-Za-z0-9]*OFF")
_INTEGER = re.compile(rb"[+-]?\d{1,30}")  # longer: not a count (and past int()'s digit limit)


def _off_reason(data: bytes, limits: Mapping) -> str | None:
    """The OFF counts line (after the ``*OFF`` keyword, on its line or the next content line)."""
    pos, tokens, keyword = 0, [], False
    while len(tokens) < 2 and pos < len(data) and pos < HEADER_BYTES:
        end = data.find(b"\n", pos)
        end = len(data) if end < 0 else end + 1
        words = data[pos : min(end, pos + 4096)].split(b"#", 1)[0].split()[:4]  # a header line's words
        pos = end
        if not keyword and words:
            if not _OFF_KEYWORD.fullmatch(words[0]):
                return None  # not an OFF header: the reader says so
            keyword, words = True, words[1:]
        tokens += words
    if len(tokens) < 2 or not all(_INTEGER.fullmatch(t) for t in tokens[:2]):
        return None
    nv, nf = int(tokens[0]), int(tokens[1])
    if nv < 0 or nf < 0:
        return f"unreadable off file: negative counts in the header ({nv} vertices, {nf} faces)"
    have = _lines(data, pos, _content_end(data, pos))
    if nv + nf > have:
        return (
            f"{MISMATCH}: OFF header declares {nv} vertices and {nf} faces, which need {nv + nf} lines; "
            f"the file has {have} after the header"
        )
    where = "declared in the OFF header"
    return _first(
        _too_many(nf, "faces", "max_faces", limits, where),
        _too_many(nv, "vertices", "max_vertices", limits, where),
        _short_lines(have + data.count(b"#"), len(data), "OFF lines and # comments"),
    )


# --- PLY -------------------------------------------------------------------------------------------

#: Bytes of each PLY scalar type.
_PLY_TYPES = {
    b"char": 1,
    b"uchar": 1,
    b"int8": 1,
    b"uint8": 1,
    b"short": 2,
    b"ushort": 2,
    b"int16": 2,
    b"uint16": 2,
    b"int": 4,
    b"uint": 4,
    b"int32": 4,
    b"uint32": 4,
    b"float": 4,
    b"float32": 4,
    b"double": 8,
    b"float64": 8,
}


#: How a PLY element's rows are named in a reason.
_PLY_NAMES = {"vertex": "vertices", "face": "faces", "edge": "edges"}


def _ply_reason(data: bytes, limits: Mapping) -> str | None:
    if not data.startswith(b"ply"):
        return None  # the reader names what it is not
    end = data.find(b"end_header", 0, HEADER_BYTES)
    if end < 0:
        return (
            f"{MISMATCH}: PLY header has no end_header within its first {HEADER_BYTES} bytes "
            f"(the file has {len(data)})"
        )
    body = data.find(b"\n", end)
    body = len(data) if body < 0 else body + 1
    ascii_ = None
    elements: list[list] = []  # [name, count, minimal bytes per row or None when unknown]
    for raw in data[:end].splitlines():
        words = raw.split()
        if not words:
            continue
        if words[0] == b"format" and len(words) > 1:
            ascii_ = words[1] == b"ascii"
        elif words[0] == b"element" and len(words) == 3:
            if not _INTEGER.fullmatch(words[2]):
                return None
            elements.append([words[1].decode("latin-1"), int(words[2]), 0])
        elif words[0] == b"property" and elements:
            size = elements[-1][2]
            if len(words) == 5 and words[1] == b"list":  # list <count type> <item type> <name>
                row = _PLY_TYPES.get(words[2])  # an empty list holds just its count
            else:
                row = _PLY_TYPES.get(words[1]) if len(words) == 3 else None
            elements[-1][2] = None if size is None or row is None else size + row
    if ascii_ is None or not elements:
        return None
    negative = next((e for e in elements if e[1] < 0), None)
    if negative:
        return f"unreadable ply file: element {negative[0]} has a negative count ({negative[1]})"
    declared = " and ".join(
        f"{count} {_PLY_NAMES.get(name, repr(name) + ' rows')}" for name, count, _ in elements
    )
    if ascii_:
        rows = sum(count for _, count, _ in elements)
        have = _lines(data, body, _content_end(data, body))
        if rows != have:
            return (
                f"{MISMATCH}: PLY header declares {declared}, one line each: {rows} lines; "
                f"the file has {have} after the header"
            )
    elif all(size is not None for _, _, size in elements):
        need = sum(count * size for _, count, size in elements)
        if need > len(data) - body:
            return (
                f"{MISMATCH}: PLY header declares {declared}, which need at least {_bytes_mb(need)}; "
                f"the file has {_bytes_mb(len(data) - body)} after the header"
            )
    counts = {name: count for name, count, _ in elements}
    where = "declared in the PLY header"
    return _first(
        _too_many(counts.get("face", 0), "faces", "max_faces", limits, where),
        _too_many(counts.get("vertex", 0), "vertices", "max_vertices", limits, where),
        _short_lines(sum(counts.values()), len(data), "ASCII PLY rows") if ascii_ else None,
    )


# --- STL -------------------------------------------------------------------------------------------


def _stl_reason(data: bytes, limits: Mapping) -> str | None:
    n = int.from_bytes(data[80:84], "little") if len(data) >= 84 else None
    if n is not None and 84 + 50 * n == len(data):
        triangles, where = n, "declared in the binary STL header"
    elif data[:1024].lstrip()[:5].lower() == b"solid" and re.search(rb"(?i)facet", data):
        # trimesh reads three coordinates after every "vertex" of the lower-cased text
        vertices = data.lower().count(b"vertex")
        triangles, where = vertices // 3, "counted in the ASCII STL text"
    elif n is None:
        return f"{MISMATCH}: binary STL needs an 84-byte header, the file has {len(data)} bytes"
    else:
        return (
            f"{MISMATCH}: binary STL header says {n} triangles, which need 84 + 50 x {n} = "
            f"{_bytes_mb(84 + 50 * n)}; the file has {_bytes_mb(len(data))} (and is no ASCII STL)"
        )
    return _first(
        _too_many(triangles, "faces", "max_faces", limits, where),
        _too_many(3 * triangles, "vertices", "max_vertices", limits, where),
    )


# --- GLB -------------------------------------------------------------------------------------------

_GLB_MAGIC, _JSON_CHUNK, _BIN_CHUNK = b"glTF", 0x4E4F534A, 0x004E4942
#: Bytes of each glTF accessor component type.
_COMPONENT_BYTES = {5120: 1, 5121: 1, 5122: 2, 5123: 2, 5125: 4, 5126: 4}
#: Components of each glTF accessor type.
_TYPE_COMPONENTS = {"SCALAR": 1, "VEC2": 2, "VEC3": 3, "VEC4": 4, "MAT2": 4, "MAT3": 9, "MAT4": 16}
#: JSON escapes, then strings (escapes gone), removed before brackets are counted: two passes,
#: each linear (one pattern for strings with escapes would rescan the rest of the text from
#: every quote of ``"\\"\\"\\"...``).
_JSON_ESCAPE, _JSON_STRING = re.compile(rb"\\.", re.DOTALL), re.compile(rb'"[^"]*+"')
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
#: Accessors may hold at most this many times the file's bytes (the buffers read once, or
#: interleaved) plus :data:`_ACCESSOR_SLACK` bytes (zero-filled sparse or compressed placeholders).
_ACCESSOR_FACTOR, _ACCESSOR_SLACK = 2, 64 << 20


class _Broken(ValueError):
    """A glTF whose structure cannot be followed: the message is the reason's detail."""


def json_depth(text: bytes) -> int:
    """Deepest nesting of ``[`` / ``{`` in JSON text (strings skipped), without parsing it."""
    brackets = _JSON_STRING.sub(b"", _JSON_ESCAPE.sub(b"", text)).translate(None, _NOT_BRACKETS)
    depth, deepest = 0, 0
    for at in range(0, len(brackets), _CHUNK):
        a = np.frombuffer(brackets, dtype=np.uint8, count=min(_CHUNK, len(brackets) - at), offset=at)
        level = depth + np.cumsum(np.where((a == ord("[")) | (a == ord("{")), 1, -1), dtype=np.int64)
        deepest, depth = max(deepest, int(level.max())), int(level[-1])
    return deepest


def _index(value, size: int, what: str) -> int:
    if type(value) is not int or not 0 <= value < size:
        raise _Broken(f"{what} is {json.dumps(value)[:40]}, not an index below {size}")
    return value


def _natural(entry: dict, key: str, what: str, default: int | None = None) -> int:
    value = entry.get(key, default)
    if type(value) is not int or value < 0:
        raise _Broken(f"{what} {key} is {json.dumps(value)[:40]}, not a non-negative integer")
    return value


def _list(header: dict, key: str) -> list:
    value = header.get(key, [])
    if not isinstance(value, list) or not all(isinstance(e, dict) for e in value):
        raise _Broken(f"{key} is not a list of objects")
    return value


def _glb_chunks(data: bytes) -> tuple[bytes, int] | str | None:
    """The JSON chunk and the BIN chunk's length (-1 when none), or a reason."""
    if len(data) < 12 or data[:4] != _GLB_MAGIC:
        return None  # not a GLB: the reader says so
    version, length = int.from_bytes(data[4:8], "little"), int.from_bytes(data[8:12], "little")
    if version != 2:
        return None
    if length != len(data):
        return f"{MISMATCH}: GLB header says {_bytes_mb(length)}, the file has {_bytes_mb(len(data))}"
    pos, chunks = 12, []
    while pos < len(data):
        if len(data) - pos < 8:
            return f"{MISMATCH}: GLB chunk {len(chunks)} at byte {pos} is cut inside its 8-byte header"
        size = int.from_bytes(data[pos : pos + 4], "little")
        kind = int.from_bytes(data[pos + 4 : pos + 8], "little")
        name = {_JSON_CHUNK: "JSON", _BIN_CHUNK: "BIN"}.get(kind, f"0x{kind:08x}")
        if size > len(data) - pos - 8:
            return (
                f"{MISMATCH}: GLB {name} chunk declares {_bytes_mb(size)}, "
                f"only {_bytes_mb(len(data) - pos - 8)} follow its header"
            )
        chunks.append((kind, pos + 8, size))
        pos += 8 + size
    if not chunks or chunks[0][0] != _JSON_CHUNK:
        return "unreadable glb file: the first chunk is not JSON"
    _, start, size = chunks[0]
    bins = [size for kind, _, size in chunks[1:] if kind == _BIN_CHUNK]
    return data[start : start + size], bins[0] if bins else -1


def _glb_reason(data: bytes, limits: Mapping) -> str | None:
    chunks = _glb_chunks(data)
    if not isinstance(chunks, tuple):
        return chunks
    text, bin_size = chunks
    depth = json_depth(text)
    if depth > limits["max_gltf_depth"]:
        return f"{DEEP}: glTF JSON nested {depth} levels > ingest.max_gltf_depth = {limits['max_gltf_depth']}"
    try:
        header = json.loads(text)
    except ValueError:
        return None  # not JSON: the reader says so
    if not isinstance(header, dict):
        return None
    try:
        return _gltf_reason(header, bin_size, len(data), limits)
    except _Broken as err:
        return f"unreadable glb file: {err}"


def _gltf_reason(header: dict, bin_size: int, file_bytes: int, limits: Mapping) -> str | None:
    """Buffers, views, accessors, meshes and nodes of a glTF's JSON against the file and the limits."""
    buffers, views = _list(header, "buffers"), _list(header, "bufferViews")
    accessors, meshes, nodes = _list(header, "accessors"), _list(header, "meshes"), _list(header, "nodes")
    scenes = _list(header, "scenes")
    # Buffers: the GLB's own (no uri) lies in the BIN chunk; others are data: URIs in the JSON or
    # files of the shape folder, which may not be larger than a mesh file.
    sizes = []
    for i, buffer in enumerate(buffers):
        size = _natural(buffer, "byteLength", f"buffer {i}")
        if "uri" not in buffer and size > max(bin_size, 0):
            have = "no BIN chunk" if bin_size < 0 else f"a BIN chunk of {_bytes_mb(bin_size)}"
            return f"{MISMATCH}: glTF buffer {i} declares {_bytes_mb(size)}, the GLB has {have}"
        if size > limits["max_file_mb"] * 2**20:
            limit = limits["max_file_mb"]
            return f"{LARGE}: glTF buffer {i} of {_bytes_mb(size)} > ingest.max_file_mb = {limit}"
        sizes.append(size)
    for i, view in enumerate(views):
        b = _index(view.get("buffer"), len(buffers), f"bufferView {i} buffer")
        what = f"bufferView {i}"
        end = _natural(view, "byteOffset", what, 0) + _natural(view, "byteLength", what)
        if end > sizes[b]:
            return (
                f"{MISMATCH}: glTF bufferView {i} ends at byte {end}, "
                f"its buffer {b} has {_bytes_mb(sizes[b])}"
            )
        if "byteStride" in view:
            _natural(view, "byteStride", f"bufferView {i}")
    data_bytes = sum(sizes)
    view_bytes = sum(view["byteLength"] for view in views)
    if view_bytes > _ACCESSOR_FACTOR * data_bytes + _ACCESSOR_SLACK:
        return (
            f"{LARGE}: glTF bufferViews cover {_bytes_mb(view_bytes)}, more than {_ACCESSOR_FACTOR} x "
            f"the {_bytes_mb(data_bytes)} of their buffers"
        )
    counts, held = [], 0
    for i, accessor in enumerate(accessors):
        count = _natural(accessor, "count", f"accessor {i}")
        kind, form = accessor.get("componentType"), accessor.get("type")
        component = _COMPONENT_BYTES.get(kind) if type(kind) is int else None
        components = _TYPE_COMPONENTS.get(form) if isinstance(form, str) else None
        if component is None or components is None:
            raise _Broken(
                f"accessor {i} has componentType {json.dumps(accessor.get('componentType'))[:20]} "
                f"and type {json.dumps(accessor.get('type'))[:20]}"
            )
        item = component * components
        held += count * item
        if "bufferView" in accessor:
            v = _index(accessor["bufferView"], len(views), f"accessor {i} bufferView")
            stride = views[v].get("byteStride", item)
            if stride < item:
                raise _Broken(f"bufferView {v} byteStride {stride} < the {item}-byte items of accessor {i}")
            need = _natural(accessor, "byteOffset", f"accessor {i}", 0) + (
                stride * (count - 1) + item if count else 0
            )
            if need > views[v]["byteLength"]:
                return (
                    f"{MISMATCH}: glTF accessor {i} declares {count} items of {item} bytes, which need "
                    f"{_bytes_mb(need)}; its bufferView {v} has {_bytes_mb(views[v]['byteLength'])}"
                )
        counts.append(count)
    budget = _ACCESSOR_FACTOR * file_bytes + _ACCESSOR_SLACK
    if held > budget:
        return (
            f"{LARGE}: glTF accessors hold {_bytes_mb(held)}, more than {_ACCESSOR_FACTOR} x the file's "
            f"{_bytes_mb(file_bytes)} + {_bytes_mb(_ACCESSOR_SLACK)}"
        )
    # Meshes: vertices (POSITION) and triangles of every primitive.
    mesh_v, mesh_f = [], []
    for i, mesh in enumerate(meshes):
        primitives = mesh.get("primitives")
        if not isinstance(primitives, list) or not all(isinstance(p, dict) for p in primitives):
            raise _Broken(f"mesh {i} primitives is not a list of objects")
        nv = nf = 0
        for p in primitives:
            attributes = p.get("attributes", {})
            if not isinstance(attributes, dict):
                raise _Broken(f"mesh {i} attributes is not an object")
            for name, a in attributes.items():
                _index(a, len(accessors), f"mesh {i} attribute {name}")
            n = counts[attributes["POSITION"]] if "POSITION" in attributes else 0
            if "indices" in p:
                n_index = counts[_index(p["indices"], len(accessors), f"mesh {i} indices")]
            else:
                n_index = n
            mode = p.get("mode", 4)
            nv += n
            nf += n_index // 3 if mode == 4 else max(n_index - 2, 0) if mode in (5, 6) else 0
        mesh_v.append(nv)
        mesh_f.append(nf)
    # Nodes: each one's parent-free subtree totals (memoized), its depth, no cycles.
    children = []
    for i, node in enumerate(nodes):
        kids = node.get("children", [])
        if not isinstance(kids, list):
            raise _Broken(f"node {i} children is not a list")
        if kids and not (all(type(c) is int for c in kids) and min(kids) >= 0 and max(kids) < len(nodes)):
            for c in kids:
                _index(c, len(nodes), f"node {i} child")
        children.append(kids)
        if "mesh" in node:
            _index(node["mesh"], len(meshes), f"node {i} mesh")
    totals = _subtrees(nodes, children, mesh_v, mesh_f, limits["max_gltf_depth"])
    if isinstance(totals, str):
        return totals
    scene_roots = []
    for i, scene in enumerate(scenes):
        roots = scene.get("nodes", [])
        if not isinstance(roots, list):
            raise _Broken(f"scene {i} nodes is not a list")
        scene_roots.append([_index(r, len(nodes), f"scene {i} node") for r in roots])
    # Every mesh is read once; the scene trimesh loads adds one copy per instance.
    per_scene = [[sum(t[r] for r in roots) for t in totals] for roots in scene_roots]
    columns = list(zip(*per_scene, strict=True)) or [(0,)] * 4  # no scenes: no instances
    v_inst, f_inst, n_inst, n_nodes = (max(column) for column in columns)
    where = f"glTF: {len(meshes)} meshes, {n_inst} instances in the largest scene"
    faces, vertices = max(sum(mesh_f), f_inst), max(sum(mesh_v), v_inst)
    reason = _first(
        _too_many(n_nodes, "node instances", "max_gltf_nodes", limits, "in the largest glTF scene"),
        _too_many(faces, "faces", "max_faces", limits, where),
        _too_many(vertices, "vertices", "max_vertices", limits, where),
    )
    if reason:
        return reason
    # No format stores a triangle in less than a byte or a vertex in less than three; more come
    # only from instances or from accessors this reader fills with zeros (compressed or sparse data).
    for count, what, per in ((faces, "faces", 1), (vertices, "vertices", VERTEX_BYTES)):
        if count * per > file_bytes:
            return (
                f"{LARGE}: {count} {what} from a {file_bytes}-byte file, more than one per "
                f"{'byte' if per == 1 else f'{per} bytes'} ({where})"
            )
    return None


def _subtrees(
    nodes: list[dict], children: list[list[int]], mesh_v: list[int], mesh_f: list[int], max_depth: int
) -> tuple[list[int], list[int], list[int], list[int]] | str:
    """Vertices, triangles, mesh instances and nodes under each node (itself included), or a reason.

    The nodes in topological order (Kahn's algorithm): nodes left out lie on or below a cycle.
    Totals and depths then follow in reverse order, in time linear in nodes and edges. A node
    with several parents (which glTF forbids) counts under each.
    """
    n = len(nodes)
    parents = [0] * n
    for kids in children:
        for c in kids:
            parents[c] += 1
    order = [i for i in range(n) if not parents[i]]
    for i in order:  # grows while it is walked
        for c in children[i]:
            parents[c] -= 1
            if not parents[c]:
                order.append(c)
    if len(order) < n:  # walk up from a node left out until a node repeats: that one is on a cycle
        left = set(range(n)).difference(order)
        up = {c: i for i in left for c in children[i] if c in left}
        node, seen = min(left), set()
        while node not in seen:
            seen.add(node)
            node = up[node]
        return f"unreadable glb file: glTF node {node} is its own descendant (a cycle)"
    v, f, inst, under, depth = [0] * n, [0] * n, [0] * n, [1] * n, [1] * n
    for i in reversed(order):
        m = nodes[i].get("mesh")
        if m is not None:
            v[i], f[i], inst[i] = mesh_v[m], mesh_f[m], 1
        for c in children[i]:
            v[i] += v[c]
            f[i] += f[c]
            inst[i] += inst[c]
            under[i] += under[c]
            depth[i] = max(depth[i], depth[c] + 1)
        if depth[i] > max_depth:
            return (
                f"{DEEP}: glTF node hierarchy {depth[i]} levels deep below node {i} "
                f"> ingest.max_gltf_depth = {max_depth}"
            )
    return v, f, inst, under


# --- entry points ----------------------------------------------------------------------------------

_CHECKS = {"obj": _obj_reason, "off": _off_reason, "ply": _ply_reason, "stl": _stl_reason, "glb": _glb_reason}


def limit_reason(data: bytes, fmt: str, limits: Mapping) -> str | None:
    """Why a mesh file must not be parsed, from its bytes alone; None when it may be.

    Args:
        data: the file's bytes.
        fmt: its format (obj, off, ply, stl, glb; others are not checked).
        limits: the config's ``ingest`` section (``max_faces``, ``max_vertices``,
            ``max_gltf_depth``, ``max_file_mb``).

    Returns:
        A one-line ledger reason starting with one of :data:`REASON_PREFIXES`: the file declares
        or holds more faces (triangles), vertices or glTF nesting than the limits allow, its
        header disagrees with its size, or its glTF structure is broken in a way that would
        make a reader allocate or loop on it. None otherwise: a malformed file that is none of
        these is left to the reader, which names what is wrong with it.

    Counts are what the file declares (PLY, OFF, STL, GLB headers) or holds (OBJ lines), so
    the reader's own arrays cannot be larger; the check takes time and memory linear in the
    file (about 0.1 s per 10 MB of OBJ text).
    """
    check = _CHECKS.get(fmt.lower())
    return check(data, limits) if check and data else None


#: The fewest bytes a file spends on a vertex (three uint8 coordinates of a PLY or glTF); on a
#: triangle it is one (uint8 strip indices, polygon fans). :func:`limit_reason` holds glTF
#: instances to both, so no file yields more triangles or vertices than its size allows.
VERTEX_BYTES = 3

#: ``ingest_mem_mb``'s terms: a job's fixed memory (interpreter, NumPy, trimesh, zarr, and what
#: the limits let a tiny file cost: 10,000 glTF nodes, 100,000 text rows), MB; ...
MEM_BASE_MB = 350
#: ... MB per MB of mesh file (the readers' copies of the text, their per-line Python objects at
#: the 12 bytes a line the limits ask of OFF and ASCII PLY) ...
MEM_PER_FILE_MB = 35
#: ... and bytes per triangle and per vertex of the mesh (its arrays, glTF instances concatenated,
#: the quality checks, the normalization and the store).
MEM_PER_FACE, MEM_PER_VERTEX = 480, 240


def ingest_mem_mb(size_mb: float, limits: Mapping) -> int:
    """Memory, in MB, of one ``ingest_shape`` job on a mesh file of ``size_mb`` MB (2^20 bytes).

    Args:
        size_mb: the mesh file's size in MB (Snakemake's ``input.size_mb``; 0 for none).
        limits: the config's ``ingest`` section (``max_faces``, ``max_vertices``).

    Returns:
        ``MEM_BASE_MB + MEM_PER_FILE_MB * size_mb`` for reading the file, plus ``MEM_PER_FACE``
        bytes per triangle and ``MEM_PER_VERTEX`` per vertex of the most the file can yield:
        ``min(ingest.max_faces, bytes)`` triangles and ``min(ingest.max_vertices, bytes / 3)``
        vertices (:data:`VERTEX_BYTES`), rounded up. Every file :func:`limit_reason` lets
        through stays under it: ``bench/bench_ingest_memory.py`` measures each format and the
        densest files, ``tests/recon/geometry/test_mesh_limits.py`` checks them.
    """
    size = max(size_mb, 0.0) * 2**20
    faces = min(limits["max_faces"], size)
    vertices = min(limits["max_vertices"], size / VERTEX_BYTES)
    mesh_mb = (MEM_PER_FACE * faces + MEM_PER_VERTEX * vertices) / 2**20
    return math.ceil(MEM_BASE_MB + MEM_PER_FILE_MB * size_mb + mesh_mb)
