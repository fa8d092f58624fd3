"""`--dask local:K | SCHEDULER_ADDRESS`: where the distributed work runs.

Parsing is separate from starting so a bad value exits 2 before any work. Dask is imported
only inside `dask_client`, so commands without `--dask` never load it (a test checks).
`local:K` starts a `LocalCluster` of K single-threaded worker processes (one per core:
the partition tasks are numpy code holding the GIL); an address joins a running cluster.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from bench.errors import ClusterError

_ADDRESS = re.compile(r"^((tcp|tls|ucx|ws|wss|inproc)://)?[A-Za-z0-9_.\-\[\]:]+:\d{1,5}$")
CONNECT_TIMEOUT_S = 20


@dataclass(frozen=True)
class DaskSpec:
    local_workers: int | None  # K for local:K
    address: str | None  # scheduler address otherwise

    def __str__(self) -> str:
        return f"local:{self.local_workers}" if self.address is None else self.address


def parse_dask(value: str | None) -> DaskSpec | None:
    """'local:K' (1 <= K <= 256) or a scheduler address such as tcp://10.0.0.5:8786."""
    if value is None:
        return None
    v = value.strip()
    if v.startswith("local"):
        k = v[len("local:") :] if v.startswith("local:") else ""
        if not k.isdigit() or not 1 <= int(k) <= 256:
            raise ClusterError(f"--dask {value!r}: expected local:K with 1 <= K <= 256, e.g. local:2")
        return DaskSpec(int(k), None)
    if not _ADDRESS.match(v):
        raise ClusterError(
            f"--dask {value!r}: expected local:K or a scheduler address HOST:PORT (e.g. tcp://10.0.0.5:8786)"
        )
    return DaskSpec(None, v)


@contextmanager
def dask_client(spec: DaskSpec | str | None) -> Iterator[object | None]:
    """A `distributed.Client` for the spec (None -> None, nothing imported); a local
    cluster is shut down on exit, a remote one is only disconnected from."""
    if isinstance(spec, str):
        spec = parse_dask(spec)
    if spec is None:
        yield None
        return
    import logging

    from distributed import Client, LocalCluster

    # Each worker may use its share of the machine's memory, then spills to disk.
    logging.getLogger("distributed").setLevel(logging.ERROR)
    if spec.address is None:
        with (
            LocalCluster(
                n_workers=spec.local_workers,
                threads_per_worker=1,
                processes=True,
                dashboard_address=":0",  # any free port: never clashes with another cluster
                silence_logs=logging.ERROR,
            ) as cluster,
            Client(cluster) as client,
        ):
            yield client
        return
    probe_scheduler(spec.address)
    try:
        client = Client(spec.address, timeout=CONNECT_TIMEOUT_S)
    except (OSError, TimeoutError) as e:
        raise ClusterError(f"--dask {spec.address}: no Dask scheduler answered ({e})") from None
    except Exception as e:  # noqa: BLE001 - whatever the far end sent, it was not a Dask handshake
        raise ClusterError(f"--dask {spec.address}: not a Dask scheduler ({type(e).__name__})") from None
    try:
        yield client
    finally:
        client.close()


# A scheduler's handshake is one small message: its 8-byte length prefix announces at most
# this many bytes (a few hundred in practice). Anything larger is not Dask talking.
MAX_HANDSHAKE_BYTES = 1 << 20


def check_scheduler(spec: DaskSpec | None) -> DaskSpec | None:
    """`spec`, once checked before any work: an address that is not a Dask scheduler exits 2
    now (`probe_scheduler`), not after the work a command does before it connects
    (certify's training world, a ceiling's pool). A local cluster has nothing to check."""
    if spec is not None and spec.address is not None:
        probe_scheduler(spec.address)
    return spec


def probe_scheduler(address: str, timeout: float = CONNECT_TIMEOUT_S) -> None:
    """Check that a plain-TCP address is a Dask scheduler before Dask reads from it: a
    scheduler writes its handshake as soon as it accepts (an 8-byte little-endian length,
    then the message), so within `timeout` the first 8 bytes must arrive and announce a
    small message. An HTTP server sends nothing (Dask would wait forever) and another
    service sends bytes Dask would take for a length of exabytes; both exit 2 here, within
    `timeout`. Other schemes (tls, ucx, ws) are left to Dask."""
    import socket
    import struct

    scheme, _, rest = address.rpartition("://")
    if scheme not in ("", "tcp"):
        return
    host, _, port = rest.rpartition(":")
    host = host.strip("[]")
    try:
        with socket.create_connection((host, int(port)), timeout=timeout) as sock:
            head = b""
            while len(head) < 8:
                chunk = sock.recv(8 - len(head))
                if not chunk:
                    break
                head += chunk
    except TimeoutError:
        raise ClusterError(
            f"--dask {address}: no Dask handshake within {timeout:.0f} s (something listens, not a Dask scheduler)"
        ) from None
    except OSError as e:
        raise ClusterError(f"--dask {address}: no Dask scheduler answered ({e.strerror or e})") from None
    if len(head) < 8:
        raise ClusterError(f"--dask {address}: the connection closed before a Dask handshake")
    (n,) = struct.unpack("<Q", head)
    if not 0 < n <= MAX_HANDSHAKE_BYTES:
        raise ClusterError(f"--dask {address}: not a Dask scheduler (its first bytes announce {n:,} bytes)")


def executor(client):
    """The data_gen partition executor for a client (None without one)."""
    if client is None:
        return None
    from data_gen.dask_map import DaskExecutor

    return DaskExecutor(client)
