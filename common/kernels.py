"""Which numerical kernels torch runs DEC with: the CPU's fastest, or one generic set that
gives the same bits on any x86-64 CPU.

torch picks its vectorised kernels by instruction set at the first operation (AVX2,
AVX-512: `ATEN_CPU_CAPABILITY`), and MKL's matrix products pick theirs too (`MKL_CBWR`);
each rounds the network's sums in its own order, and the difference carries through
training, so the same seed gives other weights and other figures on another machine type.
The thread count is part of the arithmetic as well (a product split over more threads sums
in another order), so it is fixed too. Pinned ("pinned", the default of the command line):
generic kernels and one thread for DEC's torch work, whatever the CPU and core count offer.
"native": whatever this CPU does fastest, figures comparable on this machine type only.

The choice lives in the environment, so the worker processes a run spawns inherit it; it
must be made before torch's first operation in the process (both libraries read it once),
which `use` checks. NumPy's dispatched loops and LightGBM (fixed threads, deterministic
mode, `models.baselines.LGB_PARAMS`) give the same bits across instruction sets already:
tested with NumPy's dispatch and MKL's instruction set restricted (`tests/common/
test_kernels.py`).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

PINNED = "pinned"
NATIVE = "native"
MODES = (PINNED, NATIVE)
# The environment of the pin: torch's generic (non-SIMD-dispatched) ATen kernels, and
# MKL's Conditional Numerical Reproducibility in its most portable branch.
PIN_ENV = {"ATEN_CPU_CAPABILITY": "default", "MKL_CBWR": "COMPATIBLE"}
# Threads for DEC's torch work when pinned: one, so no machine has fewer, and worker
# processes scoring worlds side by side never oversubscribe the cores.
PINNED_THREADS = 1
# What torch reports once it runs its generic kernels.
GENERIC_CAPABILITY = "DEFAULT"


class KernelError(RuntimeError):
    """The kernels asked for cannot be had in this process (torch chose before the pin)."""


def mode() -> str:
    """The mode this process's environment asks for."""
    return PINNED if all(os.environ.get(k) == v for k, v in PIN_ENV.items()) else NATIVE


def use(wanted: str) -> None:
    """Make `wanted` this process's mode (and its children's): set or clear the pin's
    environment, then check that torch honours it. Call before torch's first operation."""
    if wanted not in MODES:
        raise KernelError(f"kernels: '{wanted}' is not one of {', '.join(MODES)}")
    for key, value in PIN_ENV.items():
        if wanted == PINNED:
            os.environ[key] = value
        elif os.environ.get(key) == value:
            del os.environ[key]
    check()


def capability() -> str:
    """The kernels torch runs (fixed by its first operation)."""
    import torch

    return str(torch.backends.cpu.get_cpu_capability())


def check() -> None:
    """Refuse a pinned process whose torch runs other kernels: it ran an operation before
    the pin was set. (Native is whatever torch chose, generic kernels on a CPU without
    SIMD included, so there is nothing to refuse.)"""
    cap = capability()
    if mode() == PINNED and cap != GENERIC_CAPABILITY:
        raise KernelError(
            f"kernels: 'pinned' asked for, but torch already runs its {cap} kernels in this process: "
            f"set {' '.join(f'{k}={v}' for k, v in PIN_ENV.items())} before torch's first operation "
            "(e.g. in the environment a Dask worker starts with), or run with --kernels native"
        )


@contextmanager
def dec_threads() -> Iterator[None]:
    """DEC's torch work on `PINNED_THREADS` threads when pinned (restored after); unchanged
    when native."""
    if mode() != PINNED:
        yield
        return
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(PINNED_THREADS)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def describe() -> dict:
    """What a model card or a result records of the kernels that made it."""
    import torch

    return {"mode": mode(), "capability": capability(), "torch": torch.__version__}
