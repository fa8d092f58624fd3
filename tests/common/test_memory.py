"""The memory policy: numpy's huge-page advice off unless the user chose, and the scoped
glibc heap reuse (big blocks from the heap inside the block, mmap again after)."""

import os
import subprocess
import sys

import pytest
from numpy._core.multiarray import _set_madvise_hugepage

from common.memory import ENV, turn_off_hugepage_advice


def test_turns_advice_off_for_this_process_and_children(monkeypatch):
    monkeypatch.delenv(ENV, raising=False)
    before = _set_madvise_hugepage(True)
    try:
        assert turn_off_hugepage_advice() is True
        assert _set_madvise_hugepage(True) is False  # numpy's switch was off
        assert os.environ[ENV] == "0"  # what spawned children will import numpy with
    finally:
        _set_madvise_hugepage(before)


def test_keeps_an_explicit_user_choice(monkeypatch):
    monkeypatch.setenv(ENV, "1")
    before = _set_madvise_hugepage(True)
    try:
        assert turn_off_hugepage_advice() is False
        assert _set_madvise_hugepage(True) is True  # untouched
    finally:
        _set_madvise_hugepage(before)
    monkeypatch.setenv(ENV, "0")
    assert turn_off_hugepage_advice() is True


# Run in a fresh interpreter: other threads of the test process (pools, MLflow, pyarrow)
# may map or unmap big blocks at any moment and would make the counts flaky.
HEAP_CHECK = """
import sys
import numpy as np
from common.memory import heap_reuse, mmapped_blocks

base = mmapped_blocks()
if base is None:
    sys.exit(3)  # not glibc >= 2.33
with heap_reuse() as applied:
    assert applied
    a = np.ones(8 << 20)  # 64 MB: above glibc's largest mmap threshold
    assert mmapped_blocks() == base, "inside heap_reuse a 64 MB block was mmapped"
    del a
b = np.ones(8 << 20)
assert mmapped_blocks() == base + 1, "after heap_reuse a 64 MB block was not mmapped"
"""


def test_heap_reuse_takes_big_blocks_from_the_heap_and_restores_mmap():
    proc = subprocess.run([sys.executable, "-c", HEAP_CHECK], capture_output=True, text=True)
    if proc.returncode == 3:
        pytest.skip("glibc >= 2.33 only")
    assert proc.returncode == 0, proc.stderr
