"""Tab-separated tables (manifest, ledger, summaries): one header line, one row per record.

Values are written with :func:`format_value`, so the same rows always give the same bytes:
booleans as ``true``/``false``, floats with ``repr`` precision, ``None`` as an empty cell,
lists as comma-separated values. Tabs and newlines inside values are replaced by spaces.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from recon.io.atomic import atomic_write_text

__all__ = ["format_value", "read_tsv", "write_tsv"]


def format_value(value: Any) -> str:
    """Text of one cell (see module docstring)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return ",".join(format_value(v) for v in value)
    return str(value).replace("\t", " ").replace("\n", " ").replace("\r", " ")


def write_tsv(path: Path | str, rows: Iterable[Mapping[str, Any]], columns: Sequence[str]) -> int:
    """Write ``rows`` (only ``columns``, in that order) to ``path`` atomically.

    Returns:
        The number of rows written.
    """
    lines = ["\t".join(columns)]
    for row in rows:
        lines.append("\t".join(format_value(row.get(c)) for c in columns))
    atomic_write_text(path, "\n".join(lines) + "\n")
    return len(lines) - 1


def read_tsv(path: Path | str) -> list[dict[str, str]]:
    """Read a table written by :func:`write_tsv` as a list of ``{column: text}`` dicts."""
    with open(path, encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
