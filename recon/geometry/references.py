"""Files a mesh file names, judged by where they really lead, and copies that name only safe ones.

A raw mesh names other files: an OBJ its material libraries (``mtllib``, and the ``<stem>.mtl``
next to it that Blender's importer reads even unnamed), an MTL its texture images (``map_Kd``,
``map_Ka``, ``map_Bump``, ``bump``, ``disp``, ``decal``, ``refl``, ``norm``, any ``map_*``, with
options such as ``-s 1 1 1 -bm 0.5``) and spectral curves (``Kd spectral file.rfl``), a GLB its
external buffers and images (``uri``), a PLY its texture (``comment TextureFile``). Datasets are
untrusted input: such a name may lead anywhere (``mtllib ../../../../etc/passwd``,
``map_Kd /etc/shadow``, an ``images/`` file that is a symlink to a private file).

Every name must lead inside the **shape's folder** (:func:`shape_folder`): ``<synset>/<id>/``
for ShapeNet v1 and v2 (v2's ``models/model_normalized.mtl`` rightly points at ``../images/``),
the mesh's own folder for a plain folder of meshes. A name is judged twice, and must pass both:

- as a path string, ``..`` removed lexically (as Blender normalizes ``mtllib`` paths);
- as the kernel resolves it, one component at a time from the shape folder's real path, following
  each symlink. The walk stops at the first component outside the folder, so no path outside it
  is ever opened, nor even ``stat``-ed.

Files are then opened with :func:`open_in_folder`, one ``O_NOFOLLOW`` directory at a time, so a
symlink swapped in after the check is refused rather than followed.

:func:`sanitized_copy` writes an OBJ with its MTL files and textures into a folder of the
caller's (a job's temporary folder): only the references that stay inside the shape folder, each
texture copied under a plain name (``textures/tex0.png``), every other statement that could name
a file removed. Readers (Blender) are given that copy, never the dataset's file.
:func:`find_references` judges the same references without copying (for the ingest ledger), and
:func:`dropped_note` words the ledger note.
"""

from __future__ import annotations

import contextlib
import json
import os
import posixpath
import re
import shutil
import stat
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO
from urllib.parse import unquote

__all__ = [
    "MISSING",
    "OUTSIDE",
    "OUTSIDE_NOTE",
    "OutsideFolderError",
    "Reference",
    "SanitizedMesh",
    "ShapeFolder",
    "dropped_note",
    "find_references",
    "open_in_folder",
    "sanitized_copy",
    "shape_folder",
]

#: Problem of a reference that leads outside the shape's folder.
OUTSIDE = "outside"
#: Problem of a reference inside the folder that names no regular file.
MISSING = "missing"

#: Ledger note of a shape with a reference outside its folder (which was dropped).
OUTSIDE_NOTE = "material path outside the shape folder: dropped"
#: Ledger note of a shape whose material names a file that does not exist (dropped too).
MISSING_NOTE = "material file missing: dropped"

_MAX_SYMLINKS = 40  # as Linux's MAXSYMLINKS
_WHITESPACE = " \t\r\v\f"


class OutsideFolderError(PermissionError):
    """A file name that leads outside the shape's folder; ``str(err)`` names it."""


def shape_folder(source_path: str, kind: str) -> str:
    """The folder, relative to the source root, whose files a shape's mesh may name.

    Args:
        source_path: the mesh file relative to the source root, POSIX style.
        kind: ``shapenet_v1`` or ``shapenet_v2`` (``<synset>/<id>``), or ``folder`` (the mesh's
            own folder; ``""`` for a file directly in the root).
    """
    if kind == "folder":
        return posixpath.dirname(source_path)
    if kind in ("shapenet_v1", "shapenet_v2"):
        parts = source_path.split("/")
        if len(parts) < 3:
            raise ValueError(f"not a ShapeNet mesh path (<synset>/<id>/...): {source_path!r}")
        return "/".join(parts[:2])
    raise ValueError(f"unknown source kind {kind!r}")


# -- judging one name ---------------------------------------------------------------------------


def _components(path: str) -> list[str]:
    return [c for c in path.split("/") if c]


def _place(parts: list[str], root: list[str]) -> str:
    """``inside`` (the root or below), ``above`` (an ancestor of the root) or ``outside``."""
    if len(parts) < len(root):
        return "above" if parts == root[: len(parts)] else OUTSIDE
    return "inside" if parts[: len(root)] == root else OUTSIDE


@dataclass(frozen=True)
class _Resolved:
    path: str | None  # real path (a regular file, inside) when problem is None
    problem: str | None


class ShapeFolder:
    """A shape's folder, and the judge of every name its files use.

    Args:
        path: the folder (made absolute; symlinks in it are followed once, to find its real path).
    """

    def __init__(self, path: Path | str) -> None:
        self.path = os.path.abspath(os.fspath(path))
        self.real = os.path.realpath(self.path)
        self._root = _components(self.real)

    def contains(self, path: Path | str) -> bool:
        """Whether ``path``, as a string (``..`` removed), lies inside the folder (given or real path)."""
        path = os.path.normpath(os.path.abspath(os.fspath(path)))
        return any(path == top or path.startswith(top.rstrip("/") + "/") for top in (self.path, self.real))

    def resolve(self, name: str, base: str | None = None) -> _Resolved:
        """Where ``name`` leads from the folder ``base`` (default: the shape folder).

        Args:
            name: a file name as written in a file (relative or absolute).
            base: the directory relative names start from, as a path inside the folder.

        Returns:
            ``path`` (the real path of a regular file inside the folder) with ``problem`` None;
            or ``problem`` :data:`OUTSIDE` (by string or by the kernel's resolution) or
            :data:`MISSING` (no such regular file).
        """
        base = self.path if base is None else os.path.abspath(base)
        if not self.contains(base):
            raise ValueError(f"{base} is not inside the shape folder {self.path}")
        if "\x00" in name:
            return _Resolved(None, MISSING)
        if not self.contains(os.path.join(base, name)):
            return _Resolved(None, OUTSIDE)
        if name.startswith("/"):
            start: list[str] = []
        else:
            inner = os.path.relpath(os.path.normpath(base), self.path)
            if inner.startswith(".."):  # base given by its real path
                inner = os.path.relpath(os.path.normpath(base), self.real)
            name = name if inner == "." else f"{inner}/{name}"
            start = list(self._root)
        return self._walk(start, name)

    def _walk(self, parts: list[str], name: str) -> _Resolved:
        """Resolve ``name`` from the real directory ``parts`` as the kernel does, never leaving the folder."""
        pending = list(reversed(name.split("/")))
        links = 0
        exists = True  # False once a component is missing: the rest is judged as a string
        last_mode = stat.S_IFDIR
        while pending:
            comp = pending.pop()
            if comp in ("", "."):
                continue
            if exists and not stat.S_ISDIR(last_mode):
                exists = False  # "file/x" or "file/..": not a directory (ENOTDIR)
            if comp == "..":
                if parts:
                    parts.pop()
            else:
                parts.append(comp)
            place = _place(parts, self._root)
            if place == OUTSIDE:
                return _Resolved(None, OUTSIDE)
            if place == "above" or not exists or comp == "..":
                # Ancestors of the real root are real directories; the parent of a real
                # directory is real; a missing path has no symlinks left to follow.
                last_mode = stat.S_IFDIR
                continue
            try:
                info = os.lstat("/" + "/".join(parts))
            except (OSError, ValueError):
                exists = False
                continue
            if stat.S_ISLNK(info.st_mode):
                links += 1
                if links > _MAX_SYMLINKS:
                    return _Resolved(None, MISSING)  # a loop: the kernel gives ELOOP
                try:
                    target = os.readlink("/" + "/".join(parts))
                except OSError:
                    return _Resolved(None, MISSING)
                parts.pop()
                if target.startswith("/"):
                    parts = []
                pending.extend(reversed(target.split("/")))
                last_mode = stat.S_IFDIR
                continue
            last_mode = info.st_mode
        if _place(parts, self._root) != "inside":
            return _Resolved(None, OUTSIDE)  # a directory above the folder ("..")
        if not exists or not stat.S_ISREG(last_mode):
            return _Resolved(None, MISSING)
        return _Resolved("/" + "/".join(parts), None)


@contextlib.contextmanager
def open_in_folder(folder: ShapeFolder, name: Path | str, base: str | None = None) -> Iterator[BinaryIO]:
    """Open a file of the shape folder for reading, refusing any that leads outside it.

    ``name`` is resolved with :meth:`ShapeFolder.resolve`; the file is then opened one
    directory at a time from the folder's real path with ``O_NOFOLLOW``, so a symlink put in
    place after the check makes the open fail instead of leading elsewhere.

    Raises:
        OutsideFolderError: the name leads outside the folder.
        FileNotFoundError: no such regular file inside it.
    """
    resolved = folder.resolve(os.fspath(name), base)
    if resolved.problem == OUTSIDE:
        raise OutsideFolderError(f"{name} leads outside the shape folder")
    if resolved.problem is not None:
        raise FileNotFoundError(f"no such file: {name}")
    inner = _components(resolved.path)[len(folder._root) :]
    fd = os.open(folder.real, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for comp in inner[:-1]:
            next_fd = os.open(comp, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fd)
            os.close(fd)
            fd = next_fd
        last = os.open(inner[-1], os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=fd)
    except OSError as err:
        raise FileNotFoundError(f"cannot open {name}: {err.strerror}") from err
    finally:
        os.close(fd)
    if not stat.S_ISREG(os.fstat(last).st_mode):
        os.close(last)
        raise FileNotFoundError(f"not a regular file: {name}")
    with os.fdopen(last, "rb") as f:
        yield f


# -- references of a file -------------------------------------------------------------------------


@dataclass(frozen=True)
class Reference:
    """One file name found in a mesh or material file.

    Attributes:
        source: the file holding the name (its path inside the shape folder, POSIX style).
        line: 1-based line of the statement; 0 for a name no line states (Blender's
            ``<stem>.mtl``, a GLB ``uri``).
        statement: the keyword as written (``mtllib``, ``map_Kd``, ``bump``, ``uri``, ...).
        name: the file name as written.
        target: real path of the file it leads to, when kept.
        problem: None (kept), :data:`OUTSIDE` or :data:`MISSING` (dropped).
    """

    source: str
    line: int
    statement: str
    name: str
    target: str | None = None
    problem: str | None = None

    def __str__(self) -> str:
        return f"{self.statement} {self.name}"


@dataclass
class SanitizedMesh:
    """A mesh copy that names only files inside its shape folder.

    Attributes:
        path: the copy to give to readers.
        references: every reference found, kept and dropped.
    """

    path: Path
    references: list[Reference] = field(default_factory=list)

    @property
    def dropped(self) -> list[Reference]:
        """The references left out of the copy."""
        return [r for r in self.references if r.problem is not None]


def dropped_note(references: list[Reference], limit: int = 300) -> str | None:
    """The ledger note for a shape's dropped references, or None when nothing was dropped.

    :data:`OUTSIDE_NOTE` and/or :data:`MISSING_NOTE`, each followed by the statements, e.g.
    ``material path outside the shape folder: dropped (map_Kd /etc/shadow)``; one line.
    """
    notes = []
    for problem, text in ((OUTSIDE, OUTSIDE_NOTE), (MISSING, MISSING_NOTE)):
        names = [" ".join(str(r).split()) for r in references if r.problem == problem]
        if names:
            listing = ", ".join(dict.fromkeys(names))
            if len(listing) > limit:
                listing = listing[: limit - 3] + "..."
            notes.append(f"{text} ({listing})")
    return "; ".join(notes) or None


def _unquote(name: str) -> str:
    name = name.strip(_WHITESPACE)
    if len(name) > 2 and name[0] == name[-1] == '"':
        name = name[1:-1]
    return name


def _judge(
    folder: ShapeFolder, base: str, name: str, fallback_basename: bool
) -> tuple[str | None, str | None]:
    """Resolve a name as the OBJ importer looks it up, never trying a path outside the folder.

    Candidates in Blender's order: the name under ``base`` (an absolute name too: Blender
    appends it to the ``.mtl``'s folder), the name itself when absolute, and (textures) its base
    name under ``base``. The first that leads outside the folder makes the reference :data:`OUTSIDE`;
    otherwise the first existing file is kept.
    """
    candidates = [(name.lstrip("/"), base)]
    if name.startswith("/"):
        candidates.append((name, None))
    if fallback_basename:
        leaf = re.split(r"[/\\]", name)[-1]
        if leaf not in ("", ".", "..") and leaf != name.lstrip("/"):
            candidates.append((leaf, base))
    problem = MISSING
    for candidate, start in candidates:
        if not candidate:
            continue
        resolved = folder.resolve(candidate, start)
        if resolved.problem is None:
            return resolved.path, None
        if resolved.problem == OUTSIDE:
            return None, OUTSIDE
    return None, problem


# Continuation lines: a backslash, blanks, then the end of the line (Blender turns both into spaces).
_CONTINUATION = re.compile(rb"\\([ \t\r\v\f]*)\n")
# OBJ statements that name files: material libraries (rewritten), and the rest of the
# specification's (no reader reads them; removed).
_OBJ_FILE_KEYWORDS = (b"mtllib", b"call", b"csh", b"maplib", b"shadow_obj", b"trace_obj")


def _file_statements(data: bytes) -> list[tuple[int, int, str]]:
    """``(start, end, keyword as written)`` of every OBJ line that is a file-naming statement.

    A statement is its keyword (any case) first on the line, then a blank or control character
    or the line's end. Found with plain substring search (a regular expression anchored at
    every line is several times slower on a large OBJ).
    """
    low = data.lower()
    found = []
    for keyword in _OBJ_FILE_KEYWORDS:
        at = low.find(keyword)
        while at >= 0:
            start = low.rfind(b"\n", 0, at) + 1
            after = at + len(keyword)
            if not low[start:at].strip(b" \t\r\v\f") and (after == len(low) or low[after] <= 0x20):
                end = low.find(b"\n", after)
                end = len(low) if end < 0 else end
                found.append((start, end, data[at:after].decode("ascii")))
            at = low.find(keyword, after)
    return sorted(found)


#: MTL statements kept as they are: names, colours and scalars (nothing names a file).
_MTL_KEEP = {
    "newmtl", "ka", "kd", "ks", "ke", "tf", "ns", "ni", "d", "tr", "illum", "sharpness",
    "pr", "pm", "ps", "pc", "pcr", "aniso", "anisor",
}  # fmt: skip
#: MTL texture statements besides every ``map_*``.
_MTL_MAPS = {"bump", "disp", "decal", "refl", "norm"}
_COLOURS = {"ka", "kd", "ks", "ke", "tf"}

_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
_ON_OFF = frozenset({"on", "off"})
_CUBE = frozenset({"sphere", "cube_top", "cube_bottom", "cube_front", "cube_back", "cube_left", "cube_right"})
#: Texture options: (most numbers taken, allowed words); a word option takes one argument.
_MAP_OPTIONS: dict[str, tuple[int, frozenset | None]] = {
    "-blendu": (1, _ON_OFF),
    "-blendv": (1, _ON_OFF),
    "-cc": (1, _ON_OFF),
    "-clamp": (1, _ON_OFF),
    "-imfchan": (1, frozenset("rgbmlz")),
    "-type": (1, _CUBE),
    "-bm": (1, None),
    "-boost": (1, None),
    "-texres": (1, None),
    "-mm": (2, None),
    "-o": (3, None),
    "-s": (3, None),
    "-t": (3, None),
}


def _parse_map(rest: str) -> tuple[list[str], str]:
    """Split a texture statement's arguments into (well-formed options, file name).

    Options are those of the MTL specification, numbers taken greedily (``-s 1 1 1``,
    ``-bm 0.5``); what follows them, inner spaces kept, is the file name (Blender removes
    every double quote from it). Malformed options are skipped and not written back.
    """
    tokens = list(re.finditer(r"[^ \t\r\v\f]+", rest))
    options: list[str] = []
    i = 0
    while i < len(tokens) and tokens[i].group() in _MAP_OPTIONS:
        option = tokens[i].group()
        most, words = _MAP_OPTIONS[option]
        i += 1
        if words is not None:
            if i < len(tokens):
                if tokens[i].group().lower() in words:
                    options += [option, tokens[i].group().lower()]
                i += 1
            continue
        values = []
        while i < len(tokens) and len(values) < most and _NUMBER.fullmatch(tokens[i].group()):
            values.append(tokens[i].group())
            i += 1
        if values:
            options += [option, *values]
    name = rest[tokens[i].start() :] if i < len(tokens) else ""
    return options, name.strip(_WHITESPACE).replace('"', "")


def _lines(data: bytes) -> list[str]:
    return data.decode("utf-8", errors="surrogateescape").split("\n")


def _inner(folder: ShapeFolder, path: str) -> str:
    """A path inside the folder, for messages: relative to the folder, POSIX style."""
    for top in (folder.path, folder.real):
        rel = os.path.relpath(path, top)
        if not rel.startswith(".."):
            return rel
    return os.path.basename(path)


class _Collector:
    """Judges the references of one OBJ and its MTL files; optionally writes the sanitized copy."""

    def __init__(self, folder: ShapeFolder, out_dir: Path | None) -> None:
        self.folder = folder
        self.out_dir = out_dir
        self.references: list[Reference] = []
        self.libraries: dict[str, str] = {}  # real MTL path -> name of its copy
        self.textures: dict[str, str] = {}  # real texture path -> name of its copy

    def add(self, ref: Reference) -> Reference:
        self.references.append(ref)
        return ref

    def library(self, source: str, line: int, statement: str, name: str, base: str) -> str | None:
        """Judge an MTL library name; return the name of its copy (None when dropped)."""
        target, problem = _judge(self.folder, base, name, fallback_basename=False)
        self.add(Reference(source, line, statement, name, target, problem))
        if problem is not None:
            return None
        if target not in self.libraries:
            self.libraries[target] = f"lib{len(self.libraries)}.mtl"
            # Textures are relative to the folder the reader finds the library in.
            mtl_dir = os.path.dirname(os.path.normpath(os.path.join(base, name.lstrip("/"))))
            if not self.folder.contains(mtl_dir):
                mtl_dir = os.path.dirname(target)
            self._material_file(target, name, mtl_dir, self.libraries[target])
        return self.libraries[target]

    def _material_file(self, target: str, name: str, mtl_dir: str, copy_name: str) -> None:
        try:
            with open_in_folder(self.folder, target) as f:
                data = f.read()
        except (OSError, ValueError):
            data = b""
        source = _inner(self.folder, target)
        kept: list[str] = []
        for number, line in enumerate(_lines(data), start=1):
            text = line.strip(_WHITESPACE)
            if not text:
                continue
            keyword, rest = [*re.split(r"[ \t\r\v\f]+", text, maxsplit=1), ""][:2]
            low = keyword.lower()
            if low.startswith("map_") or low in _MTL_MAPS:
                options, image = _parse_map(rest)
                if not image:
                    continue
                tex_target, problem = _judge(self.folder, mtl_dir, image, fallback_basename=True)
                copy = self._texture(tex_target) if problem is None else None
                if problem is None and copy is None:
                    tex_target, problem = None, MISSING  # vanished or swapped since the check
                self.add(Reference(source, number, keyword, image, tex_target, problem))
                if copy is not None:
                    kept.append(" ".join([keyword, *options, copy]))
            elif low in _COLOURS and rest.split()[:1] and rest.split()[0].lower() == "spectral":
                # A spectral curve file: no reader supports it, so the line goes; it is judged
                # only to report one that leads outside.
                curve = [*rest.split(), ""][1]
                if curve and _judge(self.folder, mtl_dir, curve, False)[1] == OUTSIDE:
                    self.add(Reference(source, number, f"{keyword} spectral", curve, None, OUTSIDE))
            elif low in _MTL_KEEP:
                kept.append(text)
        if self.out_dir is not None:
            text = "\n".join(kept) + "\n"
            (self.out_dir / copy_name).write_bytes(text.encode("utf-8", errors="surrogateescape"))

    def _texture(self, target: str) -> str | None:
        """The name of a texture's copy (copied on first use); None when it cannot be opened."""
        if target not in self.textures:
            suffix = os.path.splitext(target)[1]
            suffix = suffix.lower() if re.fullmatch(r"\.[A-Za-z0-9]{1,8}", suffix) else ""
            name = f"textures/tex{len(self.textures)}{suffix}"
            if self.out_dir is not None:
                copy = self.out_dir / name
                copy.parent.mkdir(exist_ok=True)
                try:
                    with open_in_folder(self.folder, target) as src, open(copy, "wb") as dst:
                        shutil.copyfileobj(src, dst, 1 << 20)
                except OSError:
                    copy.unlink(missing_ok=True)
                    return None
            self.textures[target] = name
        return self.textures[target]


def _mesh_start(folder: ShapeFolder, mesh: Path | str) -> tuple[str, str]:
    """(absolute mesh path, its folder) of a mesh that must be inside the shape folder."""
    mesh = os.path.abspath(os.fspath(mesh))
    if not folder.contains(mesh):
        raise OutsideFolderError(f"{mesh} is not inside the shape folder {folder.path}")
    return mesh, os.path.dirname(mesh)


def _obj(folder: ShapeFolder, mesh: str, data: bytes, out_dir: Path | None) -> _Collector:
    """Judge (and copy) an OBJ's references; writes ``out_dir/mesh.obj`` when ``out_dir`` is set."""
    base = os.path.dirname(mesh)
    source = _inner(folder, mesh)
    collector = _Collector(folder, out_dir)
    original = data
    data = _CONTINUATION.sub(lambda m: b" " + m.group(1) + b" ", data)  # same length

    pieces, done = [], 0
    for start, end, keyword in _file_statements(data):
        pieces.append(data[done:start])
        done = end
        if keyword.lower() != "mtllib":
            continue  # removed
        name = _unquote(os.fsdecode(data[start:end]).strip(_WHITESPACE)[len(keyword) :])
        if name:
            line = original.count(b"\n", 0, start) + 1
            copy = collector.library(source, line, keyword, name, base)
            if copy:
                pieces.append(f"{keyword} {copy}".encode())  # the keyword as written
    pieces.append(data[done:])
    # Blender's importer also reads the .mtl named like the OBJ, named or not.
    default = os.path.splitext(os.path.basename(mesh))[0] + ".mtl"
    resolved = folder.resolve(default, base)
    extra = b""
    if resolved.problem == OUTSIDE or (resolved.problem is None and resolved.path not in collector.libraries):
        copy = collector.library(source, 0, "mtllib", default, base)
        extra = f"\nmtllib {copy}\n".encode() if copy else b""
    if out_dir is not None:
        (out_dir / "mesh.obj").write_bytes(b"".join([*pieces, extra]))
    return collector


def _glb_names(data: bytes) -> list[tuple[str, str]]:
    """``(field, uri)`` of every external buffer and image of a GLB (data URIs excluded)."""
    if len(data) < 20 or data[:4] != b"glTF":
        return []
    length, kind = struct.unpack_from("<II", data, 12)
    if kind != 0x4E4F534A:  # "JSON"
        return []
    try:
        header = json.loads(data[20 : 20 + length])
    except (ValueError, RecursionError):  # not JSON, or nested too deep: no reader gets further
        return []
    names = []
    for section in ("buffers", "images"):
        entries = header.get(section, []) if isinstance(header, dict) else []
        for entry in entries if isinstance(entries, list) else []:
            uri = entry.get("uri") if isinstance(entry, dict) else None
            if isinstance(uri, str) and not uri.startswith("data:"):
                names.append((f"{section} uri", uri))
                if unquote(uri) != uri:  # URIs are percent-encoded; judge both spellings
                    names.append((f"{section} uri", unquote(uri)))
    return names


def _ply_names(data: bytes) -> list[tuple[str, str]]:
    """Texture files a PLY header names (``comment TextureFile <name>``)."""
    end = data.find(b"end_header")
    header = data[: end if end >= 0 else 65536]
    names = []
    for line in _lines(header):
        words = line.strip(_WHITESPACE).split(None, 2)
        if len(words) == 3 and words[0] == "comment" and words[1].lower() == "texturefile":
            names.append(("TextureFile", words[2].strip(_WHITESPACE)))
    return names


def find_references(
    mesh: Path | str, folder: ShapeFolder | Path | str, file_type: str, data: bytes | None = None
) -> list[Reference]:
    """Judge every file a mesh file names (recursively through its MTL files), copying nothing.

    Args:
        mesh: the mesh file (inside ``folder``).
        folder: the shape's folder.
        file_type: ``obj``, ``glb``, ``ply`` (``off`` and ``stl`` name no files).
        data: the mesh file's bytes when already read (else it is read with :func:`open_in_folder`).

    Returns:
        The references in file order, each kept (``problem`` None) or dropped.
    """
    folder = folder if isinstance(folder, ShapeFolder) else ShapeFolder(folder)
    mesh, base = _mesh_start(folder, mesh)
    if file_type not in ("obj", "glb", "ply"):
        return []
    if data is None:
        with open_in_folder(folder, mesh) as f:
            data = f.read()
    if file_type == "obj":
        return _obj(folder, mesh, data, None).references
    names = _glb_names(data) if file_type == "glb" else _ply_names(data)
    source = _inner(folder, mesh)
    return [
        Reference(source, 0, statement, name, *_judge(folder, base, name, fallback_basename=False))
        for statement, name in names
    ]


def sanitized_copy(mesh: Path | str, folder: ShapeFolder | Path | str, out_dir: Path | str) -> SanitizedMesh:
    """Write an OBJ that names only files inside its shape folder, for a reader such as Blender.

    Args:
        mesh: the OBJ file (inside ``folder``; itself judged like a reference).
        folder: the shape's folder (:func:`shape_folder`).
        out_dir: an empty or missing folder of the caller (a job's temporary folder); it gets
            ``mesh.obj``, ``lib<i>.mtl`` and ``textures/tex<i>.<ext>``.

    Returns:
        The copy's path and the references (:attr:`SanitizedMesh.dropped`: those left out).

    The copy keeps every OBJ statement except the file-naming ones (``mtllib`` is rewritten to
    the kept libraries; ``call``, ``csh``, ``maplib``, ``shadow_obj`` and ``trace_obj`` are
    removed; continuation lines are joined first, as readers join them). Each kept library keeps
    its names, colours and scalars and its kept texture statements (well-formed options, the
    copied texture's name); anything else in it is removed. A texture that is missing is
    dropped too, so the material keeps its ``Kd`` colour instead of a placeholder image.

    Raises:
        OutsideFolderError: the OBJ itself leads outside the folder.
        FileNotFoundError: no such OBJ.
    """
    folder = folder if isinstance(folder, ShapeFolder) else ShapeFolder(folder)
    mesh, _ = _mesh_start(folder, mesh)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    with open_in_folder(folder, mesh) as f:
        data = f.read()
    collector = _obj(folder, mesh, data, out_dir)
    return SanitizedMesh(out_dir / "mesh.obj", collector.references)
