"""Logging set-up shared by the workflow scripts and the command line."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

__all__ = ["setup_logging"]

_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def setup_logging(log_file: Path | str | None = None, level: int = logging.INFO) -> None:
    """Send ``logging`` records (and, with ``log_file``, stderr: tracebacks, tqdm) to a log.

    Args:
        log_file: file to write, e.g. ``snakemake.log[0]``; None logs to stderr.
        level: logging level of the root logger.
    """
    if log_file is not None:
        Path(log_file).parent.mkdir(parents=True, exist_ok=True)
        sys.stderr = open(log_file, "w", buffering=1, encoding="utf-8")  # noqa: SIM115
    logging.basicConfig(level=level, format=_FORMAT, stream=sys.stderr, force=True)
