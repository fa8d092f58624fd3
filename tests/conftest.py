"""Shared datasets: generated once per test session, small enough for CI's 2 cores."""

from __future__ import annotations

import pytest

from common import kernels
from data_gen import generate, load_scenario
from data_gen.reader import open_dataset

# The command line's default, before any test runs torch: in-process commands find the
# kernels they would pin already pinned, and spawned workers inherit the environment.
kernels.use(kernels.PINNED)

SMALL = dict(accounts=4000, partition_size=1000)


def small_scenario(**overrides):
    base = load_scenario("quick", accounts=SMALL["accounts"])
    return base.model_copy(update={"partition_size": SMALL["partition_size"], **overrides})


@pytest.fixture(scope="session")
def small_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("small") / "ds"
    generate(small_scenario(), seed=7, out=out)
    return out


@pytest.fixture(scope="session")
def small(small_dir):
    return open_dataset(small_dir)


@pytest.fixture(scope="session")
def harmful(tmp_path_factory):
    """40K accounts at the top groomer rate (1e-2) with a uniform level mix: ~400 groomers,
    ~100 per level, so every level's statistics (the leakage audit against matched
    references included) rest on enough accounts; ~8 viral cascades."""
    out = tmp_path_factory.mktemp("harmful") / "ds"
    scn = load_scenario("quick", accounts=40_000)
    harm = scn.harm.model_copy(
        update={
            "groomer_rate": 0.01,
            "sophistication_mix": (0.25, 0.25, 0.25, 0.25),
            "viral_cascades_per_account": 2e-4,
        }
    )
    generate(scn.model_copy(update={"harm": harm}), seed=11, out=out, workers=2)
    return open_dataset(out)


@pytest.fixture(scope="session")
def medium(tmp_path_factory):
    """40K accounts: enough for graph statistics and single-statistic AUROCs to settle."""
    out = tmp_path_factory.mktemp("medium") / "ds"
    generate(load_scenario("quick", accounts=40_000), seed=3, out=out, workers=2)
    return open_dataset(out)


@pytest.fixture(scope="session")
def dask_client():
    """One local Dask cluster (2 single-threaded worker processes) for every Dask test;
    started only when a test asks for it."""
    from bench.setup.cluster import dask_client as start

    with start("local:2") as client:
        yield client


@pytest.fixture
def store(tmp_path, monkeypatch):
    """A private tracking store: MLFLOW_TRACKING_URI is what `lowbase` honours."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.delenv("MLFLOW_RUN_ID", raising=False)
    import mlflow

    mlflow.set_tracking_uri(uri)
    return uri


def plugin_trust() -> list[str]:
    """`--trust-plugin` where no Landlock sandbox can start (an old kernel, a container that
    blocks it), so the leaderboard's own tests run everywhere; the sandbox itself is tested
    in tests/bench/test_sandbox.py, which skips there."""
    from bench.leaderboard import sandbox

    try:
        sandbox.landlock_abi()
    except sandbox.SandboxUnavailable:
        return ["--trust-plugin"]
    return []
