"""The memory policy: numpy's huge-page advice off unless the user chose, and the scoped
glibc heap reuse (big blocks from the heap inside the block, mmap again after)."""

import ctypes
import os

import numpy as np
import pytest
from numpy._core.multiarray import _set_madvise_hugepage

from data_gen.memory import ENV, _glibc, heap_reuse, tune_memory


def test_turns_advice_off_for_this_process_and_children(monkeypatch):
    monkeypatch.delenv(ENV, raising=False)
    before = _set_madvise_hugepage(True)
    try:
        assert tune_memory() is True
        assert _set_madvise_hugepage(True) is False  # numpy's switch was off
        assert os.environ[ENV] == "0"  # what spawned children will import numpy with
    finally:
        _set_madvise_hugepage(before)


def test_keeps_an_explicit_user_choice(monkeypatch):
    monkeypatch.setenv(ENV, "1")
    before = _set_madvise_hugepage(True)
    try:
        assert tune_memory() is False
        assert _set_madvise_hugepage(True) is True  # untouched
    finally:
        _set_madvise_hugepage(before)
    monkeypatch.setenv(ENV, "0")
    assert tune_memory() is True


class _Mallinfo2(ctypes.Structure):
    _fields_ = [(f, ctypes.c_size_t) for f in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks",
                 "keepcost")]  # fmt: skip


def _mmapped_blocks(libc) -> int:
    libc.mallinfo2.restype = _Mallinfo2
    return libc.mallinfo2().hblks


def test_heap_reuse_takes_big_blocks_from_the_heap_and_restores_mmap():
    libc = _glibc()
    if libc is None or not hasattr(libc, "mallinfo2"):
        pytest.skip("glibc >= 2.33 only")
    base = _mmapped_blocks(libc)
    with heap_reuse() as applied:
        assert applied
        a = np.ones(8 << 20)  # 64 MB: above glibc's largest mmap threshold
        assert _mmapped_blocks(libc) == base
        del a
    b = np.ones(8 << 20)
    assert _mmapped_blocks(libc) == base + 1
    del b
