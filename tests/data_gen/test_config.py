import pytest

from data_gen.config import PRESETS, ScenarioError, load_scenario


@pytest.mark.parametrize("name", PRESETS)
def test_presets_load(name):
    scn = load_scenario(name)
    assert scn.name == name
    assert scn.accounts >= 100_000


def test_preset_sizes_follow_design():
    assert load_scenario("quick").accounts == 100_000
    assert load_scenario("standard").accounts == 1_000_000
    assert load_scenario("large").accounts >= 10_000_000


def test_accounts_override():
    assert load_scenario("quick", accounts=1234).accounts == 1234


def test_yaml_file(tmp_path):
    p = tmp_path / "s.yaml"
    p.write_text("name: mine\naccounts: 5000\nabuse:\n  spam: 0.05\n")
    scn = load_scenario(str(p))
    assert (scn.name, scn.accounts, scn.abuse.spam) == ("mine", 5000, 0.05)
    assert scn.abuse.scam == 0.01  # untouched defaults stay


@pytest.mark.parametrize(
    "text, needle",
    [
        ("accounts: 5000\nbogus: 1\n", "field 'bogus'"),
        ("abuse:\n  spam: 2.0\n", "field 'abuse.spam'"),
        ("abuse:\n  spamm: 0.1\n", "field 'abuse.spamm'"),
        ("accounts: 10\n", "field 'accounts'"),
        ("activity:\n  days: abc\n", "field 'activity.days'"),
        ("splits:\n  train: 0.7\n  val: 0.3\n", "splits: train + val"),
        ("abuse:\n  spam: 0.3\n  scam: 0.3\n", "abuse: spam + scam"),
        ("- a\n- b\n", "mapping"),
        ("accounts: [1, 2\n", "malformed YAML"),
    ],
)
def test_bad_yaml_names_the_problem(tmp_path, text, needle):
    p = tmp_path / "bad.yaml"
    p.write_text(text)
    with pytest.raises(ScenarioError, match="bad.yaml") as exc:
        load_scenario(str(p))
    assert needle in str(exc.value)


def test_unknown_name():
    with pytest.raises(ScenarioError, match="not a preset"):
        load_scenario("nonexistent")


def test_accounts_override_is_validated():
    with pytest.raises(ScenarioError, match="field 'accounts'"):
        load_scenario("quick", accounts=5)


def test_flat_params():
    flat = load_scenario("quick").flat()
    assert flat["abuse.spam"] == 0.02
    assert flat["accounts"] == 100_000
