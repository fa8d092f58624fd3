"""The kernel pin: DEC's model files are the same bytes whatever kernels the CPU offers.

Another CPU is simulated in a fresh process by the switches each library reads at its first
use: torch's instruction set (`ATEN_CPU_CAPABILITY`), MKL's (`MKL_ENABLE_INSTRUCTIONS`),
NumPy's dispatched loops (`NPY_ENABLE_CPU_FEATURES`) and the core count (`OMP_NUM_THREADS`).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from common import kernels

PIN_VARS = (*kernels.PIN_ENV, "LOWBASE_KERNELS")
# Each a machine of another kind, as each library would see it.
OTHER_CPUS = {
    "AVX2, 3 cores": {"ATEN_CPU_CAPABILITY": "avx2", "MKL_ENABLE_INSTRUCTIONS": "AVX2",
                      "NPY_ENABLE_CPU_FEATURES": "X86_V3", "OMP_NUM_THREADS": "3"},
    "SSE4.2, 1 core, the generic kernels set by hand": {
        "ATEN_CPU_CAPABILITY": "default", "MKL_CBWR": "COMPATIBLE", "MKL_ENABLE_INSTRUCTIONS": "SSE4_2",
        "NPY_ENABLE_CPU_FEATURES": "X86_V2", "OMP_NUM_THREADS": "1"},
}  # fmt: skip


def _train(data: Path, out: Path, env: dict, *flags: str) -> dict[str, str]:
    """`lowbase train` of DEC in a fresh process under `env` (on top of this one's, the
    pin's variables removed); every file of the model directory by SHA-256."""
    base = {k: v for k, v in os.environ.items() if k not in PIN_VARS}
    cmd = [sys.executable, "-m", "bench.cli.app", *flags, "train", "--data", str(data), "--model", "dec",
           "--out", str(out), "--seed", "1"]  # fmt: skip
    res = subprocess.run(cmd, env={**base, **env}, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(out.iterdir())}


@pytest.fixture(scope="module")
def pinned(small_dir, tmp_path_factory):
    """DEC trained by the default command line on this machine: its directory and files."""
    out = tmp_path_factory.mktemp("kernels") / "pinned"
    return SimpleNamespace(dir=out, files=_train(small_dir, out, {}))


def test_pinned_model_files_are_byte_identical_on_other_cpus(small_dir, pinned, tmp_path):
    native = pinned.files
    assert {"dec_stage1.pt", "model.json"} <= set(native)
    for i, (cpu, env) in enumerate(OTHER_CPUS.items()):
        assert _train(small_dir, tmp_path / f"other{i}", env) == native, cpu


def test_native_kernels_are_this_cpus_and_recorded(small_dir, pinned, tmp_path):
    """The pin changes the arithmetic where the CPU has faster kernels than the generic
    ones (so the test above could fail), and the card says which were used."""
    import json

    native = _train(small_dir, tmp_path / "native", {}, "--kernels", "native")
    cards = [json.loads((d / "model.json").read_text())["kernels"] for d in (pinned.dir, tmp_path / "native")]
    assert cards[0]["mode"] == "pinned" and cards[0]["capability"] == kernels.GENERIC_CAPABILITY
    assert cards[1]["mode"] == "native"
    if cards[1]["capability"] == kernels.GENERIC_CAPABILITY:
        pytest.skip("this CPU's own kernels are the generic ones")
    assert pinned.files["dec_stage1.pt"] != native["dec_stage1.pt"]


def _run_python(code: str, env: dict) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if k not in PIN_VARS}
    return subprocess.run([sys.executable, "-c", code], env={**base, **env}, capture_output=True, text=True,
                          timeout=120)  # fmt: skip


def test_a_pin_after_torch_chose_its_kernels_is_refused():
    code = (
        "import torch; torch.ones(2) + 1\n"
        "from common import kernels\n"
        "try:\n    kernels.use('pinned')\nexcept kernels.KernelError as e:\n    print('refused:', e)\n"
    )
    res = _run_python(code, {})
    assert res.returncode == 0, res.stderr
    if "refused:" not in res.stdout:
        assert "DEFAULT" in _run_python("import torch; print(torch.backends.cpu.get_cpu_capability())", {}).stdout
        pytest.skip("this CPU's own kernels are the generic ones")
    assert "before torch's first operation" in res.stdout


@pytest.mark.parametrize("how", ["option", "environment"])
def test_the_command_line_refuses_an_unknown_mode(small_dir, how):
    flags, env = (["--kernels", "fastest"], {}) if how == "option" else ([], {"LOWBASE_KERNELS": "fastest"})
    cmd = [sys.executable, "-m", "bench.cli.app", *flags, "inspect", str(small_dir)]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env={**os.environ, **env})
    assert res.returncode == 2
    assert "'fastest' is not one of pinned, native" in res.stderr


def test_dec_threads_pins_one_thread_and_restores():
    import torch

    before = torch.get_num_threads()
    assert kernels.mode() == kernels.PINNED  # tests/conftest.py
    with kernels.dec_threads():
        assert torch.get_num_threads() == kernels.PINNED_THREADS
    assert torch.get_num_threads() == before


def test_a_worker_takes_the_drivers_kernels(monkeypatch):
    """A models blob carries the driver's mode; a worker unpickling it takes that mode (here
    the pinned one it already has) before it scores."""
    from bench.rare import worlds

    blob = worlds.models_blob({"m": 1})
    monkeypatch.setattr(worlds, "_MODELS", {})
    for key in kernels.PIN_ENV:
        monkeypatch.delenv(key)
    assert kernels.mode() == kernels.NATIVE
    assert worlds._models(blob) == {"m": 1}
    assert kernels.mode() == kernels.PINNED
