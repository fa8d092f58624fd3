"""The CLI contract: exit 0 on success, 2 on bad input naming the problem, 1 on internal errors."""

import json

import pytest
from typer.testing import CliRunner

import bench.cli.app as cli
import bench.cli.data as cli_data
from bench.audit.records import Inspection
from bench.cli.app import app

runner = CliRunner()


def run(*args):
    return runner.invoke(app, list(args))


@pytest.mark.parametrize("cmd", [[], ["generate"], ["inspect"]])
def test_help_everywhere(cmd):
    r = run(*cmd, "--help")
    assert r.exit_code == 0
    assert "Usage" in r.output


def test_generate_and_inspect(tmp_path):
    out = tmp_path / "ds"
    r = run("generate", "--accounts", "3000", "--seed", "5", "--out", str(out), "--quiet")
    assert r.exit_code == 0, r.output
    assert (out / "dataset.json").is_file()
    r = run("inspect", str(out), "--json")
    assert r.exit_code == 0, r.output
    s = json.loads(r.stdout)
    assert s["seed"] == 5 and s["rows"]["accounts"] == 3000
    assert "leakage" not in s and "separability" not in s, "sections not asked for are left out, not null"
    assert Inspection.model_validate(s).seed == 5, "the JSON reads back as its record"
    r = run("inspect", str(out))
    assert r.exit_code == 0 and "clustering" in r.stdout


@pytest.mark.parametrize(
    "args, needle",
    [
        (["generate", "--scenario", "nope"], "not a preset"),
        (["generate", "--workers", "0"], "--workers"),
        (["generate", "--accounts", "10"], "--accounts"),
        (["generate", "--accounts", "abc"], "--accounts"),
        (["generate", "--seed", "-1"], "--seed"),
        (["generate", "--bogus"], "--bogus"),
    ],
)
def test_bad_values_exit_2(tmp_path, args, needle):
    out = tmp_path / "ds"
    r = run(*args, "--out", str(out))
    assert r.exit_code == 2
    assert needle in r.output
    assert not out.exists(), "nothing written on bad input"


def test_bad_yaml_field_exit_2(tmp_path):
    p = tmp_path / "s.yaml"
    p.write_text("accounts: 3000\nabuse:\n  spam: 9\n")
    r = run("generate", "--scenario", str(p), "--out", str(tmp_path / "ds"))
    assert r.exit_code == 2
    assert "abuse.spam" in r.output
    assert not (tmp_path / "ds").exists()


def test_existing_out_exit_2(tmp_path):
    out = tmp_path / "ds"
    out.mkdir()
    (out / "x").write_text("x")
    r = run("generate", "--accounts", "3000", "--out", str(out), "--quiet")
    assert r.exit_code == 2 and "--overwrite" in r.output


def test_inspect_not_a_dataset_exit_2(tmp_path):
    r = run("inspect", str(tmp_path))
    assert r.exit_code == 2
    assert "dataset.json" in r.output


def test_internal_error_exit_1(monkeypatch, tmp_path, capsys):
    def boom(*a, **k):
        raise RuntimeError("kaboom")

    monkeypatch.setattr(cli_data, "generate", boom)
    monkeypatch.setattr("sys.argv", ["lowbase", "generate", "--accounts", "3000", "--out", str(tmp_path / "d")])
    with pytest.raises(SystemExit) as e:
        cli.main()
    assert e.value.code == 1
    assert "kaboom" in capsys.readouterr().err


@pytest.mark.slow
def test_inspect_leakage(small_dir):
    r = run("inspect", str(small_dir), "--leakage", "--json")
    assert r.exit_code == 0, r.output
    leak = json.loads(r.stdout)["leakage"]
    assert Inspection.model_validate(json.loads(r.stdout)).leakage.comparisons.keys() == leak["comparisons"].keys()
    rows = [s for c in leak["comparisons"].values() for s in c["statistics"]]
    assert all(("ci_low_familywise" in s) == (s["kind"] == "artefact") for s in rows), "behavioural rows lack it"
    tasks = {"spam", "scam", "fake", "compromised", "groomer", "viral_sharer"}
    comp = leak["comparisons"]
    assert tasks <= set(comp) and set(comp) - tasks <= {f"groomer/L{i}" for i in range(4)}
    assert {c["reference"] for c in comp.values()} <= set(leak["references"])
    for c in comp.values():
        for s in c["statistics"]:
            assert s["kind"] in ("behavioural", "artefact") and s["unit"] in ("account", "event")
            assert 0.5 <= s["auroc"] <= 1.0 and s["ci_low"] <= s["auroc"] <= s["ci_high"]
            assert s["n_positive"] >= leak["method"]["min_accounts"]
    for t in tasks:
        kinds = {s["kind"] for s in comp[t]["statistics"]}
        if comp[t]["n_positive"] >= leak["method"]["min_accounts"]:
            assert kinds == {"behavioural", "artefact"}, t
        else:
            assert not kinds and comp[t]["not_scored"], t
    r = run("inspect", str(small_dir), "--leakage", "--top", "2")
    assert r.exit_code == 0 and "leakage audit" in r.stdout and "artefact" in r.stdout
    assert "spam (n=" in r.stdout


@pytest.mark.slow
def test_inspect_separability(small_dir):
    r = run("inspect", str(small_dir), "--separability", "--json")
    assert r.exit_code == 0, r.output
    sep = json.loads(r.stdout)["separability"]
    assert Inspection.model_validate(json.loads(r.stdout)).separability.method.trained_on == "truth"
    assert sep["method"]["trained_on"] == "truth"
    assert all(c["auroc"] is None or 0 <= c["auroc"] <= 1 for c in sep["comparisons"].values())
    r = run("inspect", str(small_dir), "--separability")
    assert r.exit_code == 0 and "separability oracle" in r.stdout


def test_generate_warns_when_no_groomer_is_expected(tmp_path):
    out = tmp_path / "ds"
    r = run("generate", "--accounts", "300", "--out", str(out), "--quiet")
    assert r.exit_code == 0
    assert "expected groomers" in r.output and "no groomer" in r.output
    r = run("inspect", str(out), "--json")
    gr = json.loads(r.stdout)["groomers"]
    assert gr["expected"] == pytest.approx(300 * 0.0012)
    assert gr["count"] == sum(gr["by_level"].values())


def _user_dir(path):
    path.mkdir(parents=True, exist_ok=True)
    (path / "chapter1.tex").write_text("mine")
    (path / "data").mkdir(exist_ok=True)
    return path


@pytest.mark.parametrize("where", ["a user's directory", "home", "the working directory", "above it"])
def test_generate_overwrite_never_replaces_a_directory_it_did_not_write(tmp_path, monkeypatch, where):
    home = _user_dir(tmp_path / "home")
    monkeypatch.setenv("HOME", str(home))
    work = _user_dir(home / "checkout")
    monkeypatch.chdir(work)
    target = {"a user's directory": str(_user_dir(tmp_path / "mythesis")), "home": "~", "the working directory": ".",
              "above it": ".."}[where]  # fmt: skip
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    r = run("generate", "--accounts", "2000", "--out", target, "--overwrite", "--quiet")
    assert r.exit_code == 2, r.output
    assert "--overwrite" in r.output and ("left alone" in r.output or "never replaces" in r.output)
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before, "nothing touched"


def test_generate_overwrite_replaces_its_own_dataset(tmp_path):
    out = tmp_path / "ds"
    assert run("generate", "--accounts", "2000", "--seed", "1", "--out", str(out), "--quiet").exit_code == 0
    r = run("generate", "--accounts", "2000", "--seed", "2", "--out", str(out), "--overwrite", "--quiet")
    assert r.exit_code == 0, r.output
    assert json.loads((out / "dataset.json").read_text())["seed"] == 2
