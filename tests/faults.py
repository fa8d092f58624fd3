"""Fault injection for the Dask tests: a worker process that dies mid-run, once.

Production code carries no hook for this. `worker_killed_once` registers a Dask worker
plugin for the duration of a block; the plugin watches the worker's task transitions and,
the first time a task starts executing on any worker, kills that worker's process
(`os._exit`, as a lost machine or an out-of-memory kill would) before the task's code
runs. The scheduler then sees the worker die with the task in flight, which is what the
retry (and `allowed_failures`) logic is about; the nanny starts a fresh worker, which
receives the plugin again but finds the marker file and lets everything run.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from distributed.diagnostics.plugin import WorkerPlugin


class KillWorkerOnce(WorkerPlugin):
    """Kill the worker process when a task starts executing, unless `marker` exists;
    the marker is created first (atomically), so exactly one worker dies, once."""

    name = "lowbase-test-kill-worker-once"

    def __init__(self, marker: str):
        self.marker = marker

    def transition(self, key, start: str, finish: str, **kwargs) -> None:
        if finish != "executing":
            return
        try:
            fd = os.open(self.marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            return
        os.close(fd)
        os._exit(1)


@contextmanager
def worker_killed_once(client, marker: Path) -> Iterator[Path]:
    """Inside the block, the first task to start executing on `client`'s cluster kills
    its worker (once: `marker` is created when it happens; it must not exist yet)."""
    if marker.exists():
        raise FileExistsError(f"{marker} exists: no worker would be killed")
    plugin = KillWorkerOnce(str(marker))
    client.register_plugin(plugin, name=plugin.name)
    try:
        yield marker
    finally:
        client.unregister_worker_plugin(plugin.name)
