"""Layout: a stage imports the geometry kernel, the stores' readers and the shared modules, never
another stage's internals.

Every module under ``recon/`` is parsed (not imported) and each of its ``recon.*`` imports is
checked, those inside functions and under ``TYPE_CHECKING`` included:

=====================  ===========================================================================
importer               may import
=====================  ===========================================================================
a stage                ``recon.geometry``, ``recon.io``, the shared modules and its own package;
                       ``train`` also ``recon.models``
``recon.models``       ``recon.geometry``, ``recon.io``, ``recon.config``, ``recon.seeding``
``recon.geometry``     itself and the shared modules (the kernel depends on no stage)
``recon.io``           itself and the shared modules
the shared modules     each other
``recon.cli``          anything (the command line dispatches to the stages)
=====================  ===========================================================================

The shared modules are ``recon.config``, ``recon.rule_config``, ``recon.seeding`` and
``recon.logs``; the package root ``recon`` (its version) may be imported by every module. The
exceptions, each with its reason, are listed in :data:`EXCEPTIONS`.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from tests.meshes import REPO

STAGES = ("demo", "ingest", "render", "sdf", "voxelize", "pack", "train", "evaluate", "report")
SHARED = ("recon.config", "recon.rule_config", "recon.seeding", "recon.logs")

#: Importer (a package or a top-level module) -> what it may import (modules, with their submodules);
#: None: anything.
RULES: dict[str, tuple[str, ...] | None] = {
    **{
        f"recon.{stage}": (f"recon.{stage}", "recon.geometry", "recon.io", *SHARED)
        + (("recon.models",) if stage == "train" else ())
        for stage in STAGES
    },
    "recon.models": ("recon.models", "recon.geometry", "recon.io", "recon.config", "recon.seeding"),
    "recon.geometry": ("recon.geometry", *SHARED),
    "recon.io": ("recon.io", *SHARED),
    **{name: SHARED for name in SHARED},
    "recon.cli": None,
    "recon": None,
}

#: (importer, imported module) -> why the import is allowed although the rule above forbids it.
EXCEPTIONS: dict[tuple[str, str], str] = {
    ("recon.report", "recon.evaluate.protocols"): (
        "the protocol registry is evaluate's public interface: the report titles each protocol's "
        "table with the protocol's source and which metrics are better higher, which the tables "
        "evaluate writes do not hold"
    ),
}


def _module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _owner(module: str) -> str:
    """The key of :data:`RULES` a module falls under: its subpackage of recon, or itself."""
    parts = module.split(".")
    if len(parts) > 1 and (REPO / "recon" / parts[1]).is_dir():
        return ".".join(parts[:2])
    return module


def recon_imports(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every ``recon`` import of a source file, wherever it stands in the file."""
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolved against the importing package
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            if base == "recon":  # ``from recon import x``: x is a submodule, or the root's own name
                found += [(node.lineno, f"recon.{alias.name}") for alias in node.names]
            else:
                found.append((node.lineno, base))
    return [(line, name) for line, name in found if name == "recon" or name.startswith("recon.")]


def _within(name: str, prefixes) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def _sources() -> list[Path]:
    return sorted((REPO / "recon").rglob("*.py"))


def test_every_package_of_recon_has_a_rule():
    packages = {_owner(_module_name(p)) for p in _sources()}
    assert sorted(packages - set(RULES)) == [], "add the new package to RULES in tests/test_layout.py"


def test_no_stage_imports_another_stage():
    violations, used = [], set()
    for path in _sources():
        importer = _owner(_module_name(path))
        allowed = RULES[importer]
        for line, name in recon_imports(path):
            if allowed is None or name == "recon" or _within(name, allowed):
                continue
            exception = next(
                (key for key in EXCEPTIONS if key[0] == importer and _within(name, [key[1]])), None
            )
            if exception is not None:
                used.add(exception)
                continue
            violations.append(f"{path.relative_to(REPO)}:{line}: {importer} imports {name}")
    assert violations == [], "imports across stages:\n" + "\n".join(violations)
    assert sorted(set(EXCEPTIONS) - used) == [], "exceptions no module needs any more"


def test_imports_are_found_inside_functions_and_relative(tmp_path, monkeypatch):
    monkeypatch.setattr("tests.test_layout.REPO", tmp_path)
    source = tmp_path / "recon" / "sdf" / "grid.py"
    source.parent.mkdir(parents=True)
    source.write_text(
        "from typing import TYPE_CHECKING\n"
        "import numpy\n"
        "if TYPE_CHECKING:\n    from recon.render.poses import Pose\n"
        "def f():\n    import recon.voxelize.stage\n    from . import samples\n    from ..io import store\n"
        "from recon import evaluate\n"
    )
    assert sorted(recon_imports(source)) == [
        (4, "recon.render.poses"),
        (6, "recon.voxelize.stage"),
        (7, "recon.sdf"),
        (8, "recon.io"),
        (9, "recon.evaluate"),
    ]


def _readme_layout_rows() -> list[str]:
    """The rows of the README's "Repository layout" table."""
    text = (REPO / "README.md").read_text()
    section = text.split("## Repository layout", 1)[1].split("\n## ", 1)[0]
    return [line for line in section.splitlines() if line.startswith("| `")]


def test_the_readme_layout_table_matches_the_tree():
    rows = _readme_layout_rows()
    assert rows, "README.md has no Repository layout table"
    # Every path the table names exists (<stage> and <family> stand for each package of the kind).
    named = [path for row in rows for path in re.findall(r"`([\w./<>-]+)`", row.split(" | ")[0])]
    for path in named:
        if "<" in path:
            assert (REPO / path.split("<")[0]).is_dir(), path
        else:
            assert (REPO / path.rstrip("/")).exists(), (
                f"the README's layout table names {path}, which is missing"
            )
    # Every package of recon (and every stage's entry) is in the table.
    table = "\n".join(rows)
    for package in sorted(p.parent for p in (REPO / "recon").glob("*/__init__.py")):
        name = package.name
        if name in STAGES:
            assert (package / "stage.py").is_file(), f"stage {name} has no stage.py"
            assert f"`{name}`" in table, f"stage {name} is missing from the README's layout table"
        else:
            assert f"`recon/{name}/" in table, f"recon/{name}/ is missing from the README's layout table"
    for family in sorted(p.parent.name for p in (REPO / "recon" / "models").glob("*/__init__.py")):
        assert f"`{family}`" in table, f"model family {family} is missing from the README's layout table"
