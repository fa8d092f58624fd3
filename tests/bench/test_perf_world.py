"""bench/perf/world.py end to end on a tiny world: a bad --model is a usage error (exit 2)
before any work, and one repetition reports every step with its floor, the score split
into parts that add up to it."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "bench" / "perf" / "world.py"


def _run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "TMPDIR": str(tmp_path)}  # its scratch worlds stay under the test's directory
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, env=env, timeout=600)


@pytest.mark.slow
def test_a_missing_or_foreign_model_directory_exits_2(tmp_path):
    proc = _run(tmp_path, "--model", str(tmp_path / "absent"))
    assert proc.returncode == 2 and "no such directory" in proc.stderr
    (tmp_path / "empty").mkdir()
    proc = _run(tmp_path, "--model", str(tmp_path / "empty"))
    assert proc.returncode == 2 and "model.json" in proc.stderr


@pytest.mark.slow
def test_one_tiny_world_step_by_step_with_floors(tmp_path):
    out = tmp_path / "world.json"
    proc = _run(tmp_path, "--accounts", "1000", "--repeat", "1", "--json", str(out))
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report["world"]["model_trained_here"] and report["world"]["accounts"] == 1000
    steps = {s["step"]: s for s in report["steps"]}
    for step in ("simulate", "write + hash", "read", "features"):
        assert steps[step]["seconds"] > 0 and steps[step]["floor"] > 0, step
    score = next(s for s in report["steps"] if s["step"].startswith("score dec[") and not s["part"])
    parts = [s for s in report["steps"] if s["step"].startswith(score["step"] + ": ")]
    names = [p["step"].split(": ", 1)[1] for p in parts]
    assert "network forward" in names and any(n.startswith("booster ") for n in names)
    assert sum(p["seconds"] for p in parts) == pytest.approx(score["seconds"], rel=1e-6)
    assert "score dec[" in proc.stdout and "total" in proc.stdout
