"""Deterministic random streams derived from one project seed.

Every random draw in recon comes from :func:`rng`, keyed by the config's single
``seed`` plus the identity of what is being drawn (a stage name, a category, a
shape id, a view index, ...). The key is hashed with SHA-256, so the stream for
one shape does not depend on which other shapes exist, on the order in which jobs
run, or on the machine (``numpy.random.PCG64`` is specified bit-for-bit).

Example:
    >>> from recon.seeding import rng
    >>> a = rng(0, "render", "03001627", "1a2b3c", 5).uniform(size=3)
    >>> b = rng(0, "render", "03001627", "1a2b3c", 5).uniform(size=3)
    >>> bool((a == b).all())
    True
"""

from __future__ import annotations

import hashlib

import numpy as np

__all__ = ["rng", "stable_hash", "stable_int"]


def stable_hash(*keys: object) -> str:
    """SHA-256 hex digest of ``keys`` joined by ``/`` (each converted with ``str``).

    Args:
        *keys: anything with a stable ``str`` (ints, strings); ``None`` is spelled ``"None"``.

    Returns:
        64-character lowercase hex string.
    """
    text = "/".join(str(k) for k in keys)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def stable_int(*keys: object, bits: int = 128) -> int:
    """Non-negative integer of ``bits`` bits taken from :func:`stable_hash` of ``keys``."""
    return int(stable_hash(*keys), 16) >> (256 - bits)


def rng(seed: int, *keys: object) -> np.random.Generator:
    """A NumPy generator seeded from ``(seed, *keys)``.

    Args:
        seed: the project seed (``config["seed"]``).
        *keys: what the draw is for, most general first, e.g.
            ``("split", category)`` or ``("render", category, shape_id, view)``.

    Returns:
        ``numpy.random.Generator`` over PCG64, identical on every platform for the same keys.
    """
    return np.random.Generator(np.random.PCG64(stable_int(int(seed), *keys)))
