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


# The lasting effect: glibc's dynamic mmap threshold cannot be turned back on after any
# mallopt, so without explicit exit settings it stays frozen at 128 KiB and every freed
# 4 MB temporary is mmapped again; glibc left alone would have raised its threshold on the
# first free and served the second from the heap. After heap_reuse it must do the same.
REUSE_AFTER = """
import sys
import numpy as np
from common.memory import heap_reuse, mmapped_blocks

if mmapped_blocks() is None:
    sys.exit(3)
if sys.argv[1] == "after":
    with heap_reuse():
        pass
a = np.ones(1 << 19)  # 4 MB
del a
base = mmapped_blocks()
b = np.ones(1 << 19)
print(mmapped_blocks() - base)
"""


@pytest.mark.parametrize("when", ["never", "after"])
def test_a_freed_4mb_block_is_reused_from_the_heap_as_glibc_would(when):
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_") and k != "GLIBC_TUNABLES"}
    proc = subprocess.run([sys.executable, "-c", REUSE_AFTER, when], capture_output=True, text=True, env=env)
    if proc.returncode == 3:
        pytest.skip("glibc >= 2.33 only")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "0", f"{when}: the second 4 MB block was mmapped"


def test_exit_settings_keep_what_the_user_set():
    from common.memory import M_MMAP_MAX, M_MMAP_THRESHOLD, M_TRIM_THRESHOLD, settings_after_heap_reuse

    dynamic = settings_after_heap_reuse({})
    assert dynamic == {M_MMAP_THRESHOLD: 32 << 20, M_TRIM_THRESHOLD: 64 << 20, M_MMAP_MAX: 65536}
    user = settings_after_heap_reuse({"MALLOC_MMAP_THRESHOLD_": "1048576"})
    # The user's value, and glibc's static defaults for the rest (their setting had
    # already turned the dynamic rule off).
    assert user == {M_MMAP_THRESHOLD: 1 << 20, M_TRIM_THRESHOLD: 128 * 1024, M_MMAP_MAX: 65536}
    tun = settings_after_heap_reuse({"GLIBC_TUNABLES": "glibc.malloc.trim_threshold=0x100000:glibc.malloc.mmap_max=7"})
    assert tun[M_TRIM_THRESHOLD] == 1 << 20 and tun[M_MMAP_MAX] == 7
    both = settings_after_heap_reuse({"GLIBC_TUNABLES": "glibc.malloc.mmap_max=7", "MALLOC_MMAP_MAX_": "9"})
    assert both[M_MMAP_MAX] == 9
    assert settings_after_heap_reuse({"MALLOC_MMAP_MAX_": "lots"}) == dynamic  # unparsable: ignored


def _limited(limit: int, *args: str) -> subprocess.CompletedProcess:
    """The console entry point under `ulimit -v limit`, as a shell would set it."""
    import resource

    def set_limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    code = "import sys; sys.argv[0] = 'lowbase'; from bench.cli.entry import main; main()"
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=300,
                          preexec_fn=set_limit)  # fmt: skip


def test_an_address_space_too_small_for_the_libraries_is_refused_before_they_load(tmp_path):
    res = _limited(1 << 30, "generate", "--accounts", "2000", "--out", str(tmp_path / "ds"))
    assert res.returncode == 2, res.stderr
    assert res.stderr.startswith("error: the address-space limit (ulimit -v) is 1.00 GiB, and loading")
    assert "Traceback" not in res.stderr and not (tmp_path / "ds").exists()


def test_generate_refuses_a_world_the_limit_cannot_hold_naming_its_size(tmp_path):
    res = _limited(7 << 28, "generate", "--accounts", "1000000", "--out", str(tmp_path / "ds"))
    assert res.returncode == 2, res.stderr
    assert "generating 1,000,000 accounts needs at least about" in res.stderr and "Traceback" not in res.stderr
    assert not (tmp_path / "ds").exists()


def test_no_limit_no_message(monkeypatch):
    import resource

    from common import memory

    monkeypatch.setattr(resource, "getrlimit", lambda _: (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
    assert memory.address_space_limit() is None
    assert memory.address_space_shortfall(1 << 40, "anything") is None
    monkeypatch.setattr(resource, "getrlimit", lambda _: (1 << 30, resource.RLIM_INFINITY))
    assert "1.00 GiB" in memory.address_space_shortfall(2 << 30, "this")
    assert memory.address_space_shortfall(1 << 29, "this") is None
