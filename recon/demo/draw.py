"""Recorded random draws: every value drawn for a shape lands in its ``params``.

Floats are rounded to 6 decimals *before* they are used, so the recorded parameters
reproduce the geometry exactly and serialize to stable JSON.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["Draw"]

_DECIMALS = 6


class Draw:
    """Wraps a :class:`numpy.random.Generator` and records named draws.

    Args:
        gen: the shape's generator (from :func:`recon.seeding.rng`).

    Attributes:
        params: ``dict`` of every named draw so far (JSON-serializable values).
    """

    def __init__(self, gen: np.random.Generator) -> None:
        self.gen = gen
        self.params: dict[str, Any] = {}

    def _record(self, name: str, value: Any) -> Any:
        if name in self.params:
            raise KeyError(f"parameter {name!r} drawn twice")
        self.params[name] = value
        return value

    def uniform(self, name: str, low: float, high: float) -> float:
        """A float uniformly in ``[low, high)``, rounded to 6 decimals."""
        return self._record(name, round(float(self.gen.uniform(low, high)), _DECIMALS))

    def integer(self, name: str, low: int, high: int) -> int:
        """An int uniformly in ``[low, high]`` (both inclusive)."""
        return self._record(name, int(self.gen.integers(low, high + 1)))

    def choice(self, name: str, options: Sequence[Any], p: Sequence[float] | None = None) -> Any:
        """One of ``options`` (ints, strings or bools), with optional probabilities ``p``."""
        idx = int(self.gen.choice(len(options), p=None if p is None else np.asarray(p, dtype=np.float64)))
        value = options[idx]
        if isinstance(value, (np.integer, np.bool_)):
            value = value.item()
        return self._record(name, value)

    def flag(self, name: str, p_true: float = 0.5) -> bool:
        """A bool that is ``True`` with probability ``p_true``."""
        return self._record(name, bool(self.gen.uniform() < p_true))

    def group(self, name: str) -> Draw:
        """A :class:`Draw` on the same generator whose draws are recorded in ``params[name]``."""
        sub = Draw(self.gen)
        self._record(name, sub.params)
        return sub

    def set(self, name: str, value: Any) -> Any:
        """Record a derived (non-random) value under ``name``; returns it."""
        return self._record(name, value)
