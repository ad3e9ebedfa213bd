"""gunicorn server hooks for Prometheus' multiprocess mode (core.metrics).

Use: ``gunicorn -c python:core.gunicorn_hooks settings.wsgi`` with ``PROMETHEUS_MULTIPROC_DIR``
set to a directory of the web container's own (a tmpfs is best), the same for every worker.

- ``on_starting``: the master empties the directory first; files left by a previous run would
  otherwise be added to this run's counters (prometheus-client's documented requirement).
- ``child_exit``: a worker that exits (max_requests, a crash, a timeout) has its live gauges
  marked dead; its counters stay in the files, so totals never go backwards.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any


def _directory() -> Path | None:
    value = os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")
    return Path(value) if value else None


def on_starting(server: Any) -> None:
    directory = _directory()
    if directory is None:
        return
    directory.mkdir(parents=True, exist_ok=True)
    for entry in directory.iterdir():
        if entry.is_dir():
            shutil.rmtree(entry)
        else:
            entry.unlink()


def child_exit(server: Any, worker: Any) -> None:
    if _directory() is None:
        return
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
