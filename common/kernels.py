"""Which numerical kernels torch runs DEC with: the CPU's fastest, or one set that gives
the same bits on any x86-64 CPU.

torch picks its vectorised kernels by instruction set at its first operation (AVX2,
AVX-512: `ATEN_CPU_CAPABILITY`), and MKL's matrix products pick theirs too (`MKL_CBWR`);
each rounds the network's sums in its own order, and the difference carries through
training, so the same seed gives other weights and other figures on another machine type.
The thread count is part of the arithmetic as well (a product split over more threads sums
in another order). Pinned (the command line's default): torch's generic kernels, MKL's
SSE4.2 reproducible branch and one thread per torch operation of DEC's, whatever the CPU and
core count offer; DEC still uses the cores by embedding row blocks side by side
(`models.dec`). Native: whatever this CPU does fastest, figures comparable on this machine
type only.

The choice lives in the environment, so the worker processes a run spawns inherit it; it
must be made before torch's first operation in the process (both libraries read it once),
which `use` checks. The rest of DEC's arithmetic has the same bits on every instruction
set: its `log1p` is torch's (NumPy's is dispatched), NumPy's element-wise arithmetic and
reductions do not depend on the dispatch, and LightGBM runs with fixed threads in its
deterministic mode (`models.baselines.LGB_PARAMS`). Tested by simulating other CPUs in
fresh processes (`tests/common/test_kernels.py`).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

PINNED = "pinned"
NATIVE = "native"
MODES = (PINNED, NATIVE)
# Where a user asks for a mode outside the command line's option (read by the CLI and the
# perf scripts; a spawned worker inherits the pin's own environment instead).
MODE_ENV = "LOWBASE_KERNELS"
# The environment of the pin: torch's generic (non-SIMD-dispatched) ATen kernels, and
# MKL's Conditional Numerical Reproducibility on its SSE4.2 branch: the same bits on every
# CPU with SSE4.2 (x86-64 since 2008, and the baseline NumPy 2 requires), at about half the
# cost of its COMPATIBLE branch (docs/performance.md, "The kernel pin").
PIN_ENV = {"ATEN_CPU_CAPABILITY": "default", "MKL_CBWR": "SSE4_2"}
# The instruction set the pin's MKL branch needs, as NumPy names it.
PIN_NEEDS = "SSE42"
# Threads per torch operation of DEC's when pinned: one, so no machine has fewer. Scoring
# still uses the process's cores, by embedding row blocks side by side (`models.dec`);
# training (one mini-batch after another) runs on the one.
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


def key_fields() -> dict:
    """What a name or cache key of DEC's figures adds for the kernels: the pinned mode by
    name; nothing when native, so native names and keys are the ones made before the pin
    existed (a record without the field ran native)."""
    return {"kernels": PINNED} if mode() == PINNED else {}


def capability() -> str:
    """The kernels torch runs (fixed by its first operation)."""
    import torch

    return str(torch.backends.cpu.get_cpu_capability())


def check() -> None:
    """Refuse a pinned process whose torch runs other kernels (it ran an operation before
    the pin was set), or whose CPU lacks the pin's MKL branch. (Native is whatever torch
    chose, generic kernels on a CPU without SIMD included, so there is nothing to refuse.)"""
    if mode() != PINNED:
        return
    from numpy._core._multiarray_umath import __cpu_features__  # what numpy.show_runtime reads

    if not __cpu_features__.get(PIN_NEEDS, False):
        raise KernelError(
            f"kernels: 'pinned' needs a CPU with SSE4.2 for MKL's reproducible branch ({PIN_ENV['MKL_CBWR']}), "
            "and this one has none: run with --kernels native (figures comparable on this machine type only)"
        )
    cap = capability()
    if cap != GENERIC_CAPABILITY:
        raise KernelError(
            f"kernels: 'pinned' asked for, but torch already runs its {cap} kernels in this process: "
            f"set {' '.join(f'{k}={v}' for k, v in PIN_ENV.items())} before torch's first operation "
            "(e.g. in the environment a Dask worker starts with), or run with --kernels native"
        )


@contextmanager
def dec_threads() -> Iterator[int]:
    """DEC's torch work on `PINNED_THREADS` thread per operation when pinned (restored
    after), unchanged when native. Yields how many operations the caller may run side by
    side: pinned, the threads the process had (independent row blocks on threads of their
    own, each with one thread's bits); native, one (torch splits each operation itself)."""
    if mode() != PINNED:
        yield 1
        return
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(PINNED_THREADS)
    try:
        yield before
    finally:
        torch.set_num_threads(before)


def describe() -> dict:
    """What a model card or a result records of the kernels that made it."""
    import torch

    return {"mode": mode(), "capability": capability(), "torch": torch.__version__}
