"""Logging set-up shared by the workflow scripts and the command line."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

__all__ = ["setup_logging"]

_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def setup_logging(log_file: Path | str | None = None, level: int = logging.INFO) -> None:
    """Send ``logging`` records, and with ``log_file`` everything the process prints, to a log.

    With ``log_file``, the process's standard output and error are redirected at the file
    descriptor level, so output of compiled code (Blender's messages, for one) lands in the log
    too, along with tracebacks and tqdm progress.

    Args:
        log_file: file to write, e.g. ``snakemake.log[0]``; None logs to stderr.
        level: logging level of the root logger.
    """
    if log_file is not None:
        Path(log_file).parent.mkdir(parents=True, exist_ok=True)
        log = open(log_file, "w", buffering=1, encoding="utf-8")  # noqa: SIM115
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        sys.stdout = sys.stderr = log
    logging.basicConfig(level=level, format=_FORMAT, stream=sys.stderr, force=True)
