"""The part of the config a workflow rule declares, and a record of the keys its stage reads.

Snakemake reruns a job when its ``params`` change (``--rerun-triggers params``, on by default), so a
rule declares in ``params.config`` exactly the config keys its stage reads (:func:`select`), and the
adapter in ``workflow/scripts`` hands the stage that mapping and nothing else
(:func:`rule_config`). Changing a key then reruns the rules that read it, and only those (and what
depends on their outputs). Snakemake compares params by their ``repr``, so :func:`select` returns
the keys sorted at every level: reordering keys in a config file changes nothing.

When the environment variable ``RECON_CONFIG_READS`` names a folder, :func:`rule_config` wraps the
mapping in a :class:`ReadRecorder` and, when the job ends, writes the dotted keys its stage read to
``<folder>/<rule>.<pid>.txt``, one a line (``tests/workflow/test_params.py`` checks with it that
every rule declares what its stage reads and nothing more).
"""

from __future__ import annotations

import atexit
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from recon.config import plain

__all__ = ["READS_ENV", "ReadRecorder", "rule_config", "select"]

#: Environment variable naming the folder where jobs record the config keys they read.
READS_ENV = "RECON_CONFIG_READS"


def select(config: Mapping, *keys: str) -> dict:
    """The sub-config of the dotted ``keys`` (``"seed"``, ``"sdf"``, ``"ingest.normalization"``).

    Returns:
        A new nested dict holding only those keys, sorted at every level (a section is copied whole).

    Raises:
        KeyError: a key is not in ``config``.
    """
    out: dict = {}
    for key in keys:
        *parents, leaf = key.split(".")
        src, dst = config, out
        for part in parents:
            src = src[part]
            dst = dst.setdefault(part, {})
        dst[leaf] = src[leaf]
    return plain(out)


class ReadRecorder(Mapping):
    """A read-only view of a config mapping that notes the dotted path of every leaf value read.

    A nested mapping comes back wrapped (so reads below it are noted); a list or scalar is a leaf.
    Converting the view to plain data (:func:`recon.config.plain`, as provenance does) reads every
    leaf below it.
    """

    def __init__(self, data: Mapping, reads: set[str], prefix: str = ""):
        self._data = data
        self._reads = reads
        self._prefix = prefix

    def __getitem__(self, key: str) -> Any:
        value = self._data[key]
        path = f"{self._prefix}{key}"
        if isinstance(value, Mapping):
            return ReadRecorder(value, self._reads, f"{path}.")
        self._reads.add(path)
        return value

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __repr__(self) -> str:
        return f"ReadRecorder({self._prefix or '<root>'})"


def rule_config(snakemake: Any) -> Mapping:
    """The config a rule declares (``params.config``), for its adapter to hand to the stage.

    With ``RECON_CONFIG_READS`` set, the mapping records the keys read, written when the job ends.
    """
    config = snakemake.params.config
    folder = os.environ.get(READS_ENV)
    if not folder:
        return config
    reads: set[str] = set()

    def write() -> None:
        path = Path(folder) / f"{snakemake.rule}.{os.getpid()}.txt"
        path.write_text("".join(f"{key}\n" for key in sorted(reads)))

    atexit.register(write)
    return ReadRecorder(config, reads)
