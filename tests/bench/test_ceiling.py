"""The ceiling: the plateau rule, the ceiling's verdict across classes, nested uniform curve
draws, a synthetic subgroup whose known ceiling the curve reaches, pooled inputs, the plan
and its margin, the cache key and which cached file is read (a paired one first), the
reconciliation's AUROC per comparison, and on tiny worlds the whole computation, with no
threshold or model ever read on the data it was set or trained on."""

import json
import math

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from bench.rare.ceiling import (
    WHOLE_WORLD,
    CeilingPlan,
    PooledInput,
    cache_path,
    cached_ceiling,
    ceiling_key,
    check_worlds_disjoint,
    planned_worlds,
)
from bench.rare.ceiling_reconcile import comparison_aurocs, reconciled
from bench.rare.learning_curve import (
    NOT_REACHED,
    REACHED,
    best_per_level,
    best_verdict,
    class_curve,
    curve_keep,
    curve_sizes,
    plateau,
    plateau_verdict,
    pool_counts,
    quotas,
)
from bench.stats.rates import Tally, fpr_threshold, rates, validation_thresholds
from bench.stats.references import Comparison
from common.vocabulary import SOPHISTICATION_LEVELS
from models.inputs import ModelInput
from tests.conftest import small_scenario

SEED = 7


def test_the_plateau_rule_on_numbers():
    assert plateau(0.30, 0.32, 0.27, 0.37), "moved 0.02 < half-width 0.05"
    assert not plateau(0.20, 0.32, 0.27, 0.37), "moved 0.12 > 0.05: still climbing"
    assert not plateau(0.25, 0.5, 0.25, 0.75), "a move equal to the half-width is not a plateau"
    v = plateau_verdict([100, 300, 1000, 2000], [0.1, 0.2, 0.30, 0.31], [0, 0, 0.25, 0.26], [1, 1, 0.35, 0.36])
    assert v.verdict == REACHED and v.previous == 1000 and v.last == 2000 and v.change == pytest.approx(0.01)
    v = plateau_verdict([100, 200, 400], [0.1, 0.2, 0.35], [0, 0, 0.30], [1, 1, 0.40])
    assert v.verdict == NOT_REACHED and v.previous == 200, "the last doubling moved 0.15 > 0.05"
    v = plateau_verdict([1000, 1500], [0.3, 0.3], [0.2, 0.2], [0.4, 0.4])
    assert v.verdict == NOT_REACHED and v.previous is None, "no doubling on the curve: no plateau shown"
    v = plateau_verdict([100, 200], [float("nan"), 0.3], [0, 0.2], [1, 0.4])
    assert v.verdict == NOT_REACHED


def _rate(value, low, high):
    return {"value": value, "low": low, "high": high, "k": 0, "n": 100}


def test_the_ceiling_is_reached_only_when_every_rival_within_its_interval_is():
    """The best class's plateau alone does not make a measurement: a class whose interval
    overlaps the best's and whose curve still climbs could overtake it."""
    best = _rate(0.50, 0.40, 0.60)
    close, far = _rate(0.45, 0.35, 0.55), _rate(0.15, 0.10, 0.20)
    assert best_verdict({"a": best, "b": close}, {"a": REACHED, "b": NOT_REACHED}, "a") == NOT_REACHED
    assert best_verdict({"a": best, "b": close}, {"a": REACHED, "b": REACHED}, "a") == REACHED
    assert best_verdict({"a": best, "b": far}, {"a": REACHED, "b": NOT_REACHED}, "a") == REACHED, "no overlap"
    assert best_verdict({"a": best, "b": far}, {"a": NOT_REACHED, "b": REACHED}, "a") == NOT_REACHED
    undefined = _rate(float("nan"), float("nan"), float("nan"))
    assert best_verdict({"a": best, "b": undefined}, {"a": REACHED, "b": NOT_REACHED}, "a") == REACHED

    def curve(value, low, high, verdict):
        tpr = {"fpr<=0.001": dict.fromkeys(SOPHISTICATION_LEVELS, _rate(value, low, high))}
        plateau = {"fpr<=0.001": {lvl: {"verdict": verdict} for lvl in SOPHISTICATION_LEVELS}}
        return {"curve": [{"tpr_by_level": tpr}], "plateau": plateau}

    got = best_per_level({"a": curve(0.5, 0.4, 0.6, REACHED), "b": curve(0.45, 0.35, 0.55, NOT_REACHED)},
                         ["fpr<=0.001"])["fpr<=0.001"]  # fmt: skip
    assert all(c["model"] == "a" and c["tpr"]["value"] == 0.5 and c["verdict"] == NOT_REACHED for c in got.values())
    assert set(got["L0"]) == {"model", "tpr", "verdict"}, "the record's shape"


def _pool(n=20_000, rate=0.05, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.random(n) < rate
    level = np.where(y, rng.integers(0, 4, n), -1)
    split = rng.choice(np.array(["train", "val", "test"], dtype=object), size=n, p=[0.6, 0.2, 0.2])
    return y, level, split


def test_curve_draws_are_uniform_nested_and_keep_every_negative():
    y, level, split = _pool()
    small, large = curve_keep(y, level, split, 30, SEED), curve_keep(y, level, split, 200, SEED)
    for keep, size in ((small, 30), (large, 200)):
        pos = keep & y
        assert pos.sum() == size and not (pos & (split == "test")).any()
        assert list(np.bincount(level[pos], minlength=4)) == list(quotas(size)), "a uniform level mix"
        assert (keep[~y] == np.isin(split[~y], ("train", "val"))).all(), "every train/val negative is labelled"
        assert all((pos & (split == "val") & (level == lvl)).any() for lvl in range(4))
    assert not (small & y & ~large).any(), "the larger draw contains the smaller"
    assert np.array_equal(small, curve_keep(y, level, split, 30, SEED)), "seeded"
    with pytest.raises(ValueError, match="needs"):
        curve_keep(y, level, split, 10_000, SEED)


def test_curve_sizes_always_hold_the_last_doubling():
    pool = {"L0": 1000, "L1": 1100, "L2": 1050, "L3": 1200}
    assert curve_sizes((30, 100, 3000, 4000, 9000), pool) == [30, 100, 2175, 3000, 4000, 4350]
    y, level, split = _pool()
    pool = pool_counts(y, level, split)
    assert sum(pool.values()) == int((y & np.isin(split, ("train", "val"))).sum())
    with pytest.raises(ValueError, match="at least 4"):
        curve_sizes((2,), pool)


def _synthetic(n_neg, per_level, rng):
    """Two features. L0 and L2 sit far out along one feature each (separable: known
    ceiling 1.0); L1 and L3 are drawn like the negatives (indistinguishable: known
    ceiling the FPR budget, ~0)."""
    x = [rng.normal(size=(n_neg, 2))]
    level = [np.full(n_neg, -1)]
    for lvl, centre in enumerate(((10, 0), (0, 0), (0, 10), (0, 0))):
        x.append(rng.normal(size=(per_level, 2)) * 0.5 + centre)
        level.append(np.full(per_level, lvl))
    return np.vstack(x), np.concatenate(level)


def test_a_separable_subgroup_reaches_its_known_ceiling_and_the_rule_says_so():
    """The curve machinery on synthetic data: nested uniform draws, thresholds at FPR 1e-3 on
    calibration negatives of their own, TPR per level and FPR on fresh data."""
    rng = np.random.default_rng(1)
    x, level = _synthetic(40_000, 300, rng)
    y = level >= 0
    split = rng.choice(np.array(["train", "val"], dtype=object), size=len(y), p=[0.75, 0.25])
    calib, _ = _synthetic(20_000, 0, rng)
    fresh_x, fresh_level = _synthetic(20_000, 400, rng)
    pool = pool_counts(y, level, split)
    sizes = curve_sizes((8, 40, 200), pool)
    powered: dict = {"models": {}}
    for size in sizes:
        keep = curve_keep(y, level, split, size, SEED) if size < sizes[-1] else np.ones(len(y), dtype=bool)
        fit = keep & (split == "train")
        clf = LogisticRegression(max_iter=1000).fit(x[fit], y[fit])
        thr = np.array([fpr_threshold(clf.decision_function(calib), 1e-3)])
        s = clf.decision_function(fresh_x)
        tpr = {
            lvl: rates(Tally.of(s[fresh_level == i], thr))[0].as_dict() for i, lvl in enumerate(SOPHISTICATION_LEVELS)
        }
        fpr = rates(Tally.of(s[fresh_level < 0], thr))[0].as_dict()
        powered["models"][f"m @ {size}"] = {"by_threshold": {"fpr<=0.001": {"tpr_by_level": tpr, "fpr": fpr}}}
    labelled = {s: dict(zip(SOPHISTICATION_LEVELS, map(int, quotas(s)), strict=True)) for s in sizes}
    curve = class_curve(powered, {s: f"m @ {s}" for s in sizes}, labelled, ["fpr<=0.001"])
    best = best_per_level({"m": curve}, ["fpr<=0.001"])["fpr<=0.001"]
    for lvl in ("L0", "L2"):  # separable: the known ceiling is 1
        assert best[lvl]["tpr"]["value"] >= 0.98 and best[lvl]["tpr"]["high"] == 1.0
        assert best[lvl]["verdict"] == REACHED
    for lvl in ("L1", "L3"):  # indistinguishable: the known ceiling is the budget
        assert best[lvl]["tpr"]["value"] <= 0.02 and best[lvl]["verdict"] == REACHED
    assert curve["curve"][-1]["fpr"]["fpr<=0.001"]["value"] < 3e-3


def test_the_cache_key_follows_generator_scenario_visibility_seed_and_settings():
    scn, settings = small_scenario(), CeilingPlan().settings()
    key = ceiling_key(scn, "full", 0, settings, generator="1.0")
    assert key == ceiling_key(small_scenario(), "full", 0, settings, generator="1.0"), "stable"
    assert key != ceiling_key(scn, "full", 0, settings, generator="1.1"), "a new generator recomputes"
    assert key != ceiling_key(scn.model_copy(update={"accounts": 5000}), "full", 0, settings, generator="1.0")
    assert key != ceiling_key(scn, "minimal", 0, settings, generator="1.0")
    assert key != ceiling_key(scn, "full", 1, settings, generator="1.0")
    assert key != ceiling_key(scn, "full", 0, {**settings, "curve": [30]}, generator="1.0")


def test_a_default_plan_keeps_its_cache_key_and_reads_a_runs_worlds(monkeypatch):
    """A default native ceiling is keyed by the settings without an enriched rate or
    kernels, the key its cached files are filed under; another rate is another ceiling, and
    so are pinned kernels. A default plan reads the worlds a default powered evaluation does."""
    from bench.rare.powered import PoweredPlan
    from common import kernels

    pinned = CeilingPlan().settings()
    assert pinned.pop("kernels") == kernels.PINNED  # tests/conftest.py pins
    assert CeilingPlan(models=("gbdt-raw",)).settings().get("kernels") is None, "no DEC: the kernels change nothing"
    for key in kernels.PIN_ENV:
        monkeypatch.delenv(key)
    scn = small_scenario()
    before = {"models": ["dec", "gbdt-raw"], "curve": [30, 100, 300, 1000, 3000], "min_per_level": 1000,
              "tpr_worlds": 1, "fpr_accounts": 1_000_000, "task": "groomer"}  # fmt: skip
    assert CeilingPlan().settings() == before
    assert ceiling_key(scn, "full", 0, CeilingPlan().settings()) == ceiling_key(scn, "full", 0, before)
    other = CeilingPlan(enriched_rate=3e-3)
    assert other.settings() == {**before, "enriched_rate": 3e-3}
    assert ceiling_key(scn, "full", 0, other.settings()) != ceiling_key(scn, "full", 0, before)
    assert pinned == before
    assert CeilingPlan().powered() == PoweredPlan()
    assert other.powered() == PoweredPlan(enriched_rate=3e-3)


def test_planned_training_worlds_leave_a_margin_of_three_standard_deviations():
    quick = small_scenario(accounts=100_000)  # ~200 offenders per level per world in train + val
    assert planned_worlds(quick, 1000, 1e-2) == 6, "5 expect exactly 1,000: short half the time"
    assert planned_worlds(small_scenario(accounts=1_000_000), 1000, 1e-2) == 1, "~2,000 expected, 134 a sd"
    assert planned_worlds(quick, 1, 1e-2) == 1
    for accounts, need in ((4000, 12), (100_000, 1000), (30_000, 700), (1_000_000, 10**5)):
        scn = small_scenario(accounts=accounts)
        e = accounts * 1e-2 / 4 * (scn.splits.train + scn.splits.val)
        k = planned_worlds(scn, need, 1e-2)
        assert k * e - 3 * math.sqrt(k * e) >= need, (accounts, need, k)
        assert k == 1 or (k - 1) * e - 3 * math.sqrt((k - 1) * e) < need, "the fewest that do"


def test_the_ceilings_worlds_have_seeds_of_their_own():
    from bench.rare.powered import world_seed

    roles = ("tpr", "fpr", "ceiling-train", "ceiling-calibration")
    seeds = {world_seed(SEED, role, i) for role in roles for i in range(50)}
    assert len(seeds) == 200 and SEED not in seeds, "never a run's training, TPR or FPR world"


def test_no_world_plays_two_roles():
    worlds = {"train": [{"fingerprint": "a"}, {"fingerprint": "b"}], "calibration": {"fingerprint": "c"},
              "tpr": [{"fingerprint": "d"}], "fpr": [{"fingerprint": "e"}]}  # fmt: skip
    check_worlds_disjoint(worlds)
    for role in ("tpr", "fpr"):
        with pytest.raises(ValueError, match="both"):
            check_worlds_disjoint({**worlds, role: [{"fingerprint": "b"}]})
    with pytest.raises(ValueError, match="both"):
        check_worlds_disjoint({**worlds, "calibration": {"fingerprint": "d"}})
    check_worlds_disjoint(worlds, {"fingerprint": "d"})
    for fp, role in (("a", "train"), ("c", "calibration"), ("e", "fpr"), ("z", "none")):
        with pytest.raises(ValueError, match="not a TPR world") as e:
            check_worlds_disjoint(worlds, {"fingerprint": fp})
        assert role in str(e.value), "the reconciliation world is only ever a TPR world"
    thr = validation_thresholds(np.zeros(100), np.arange(100.0), "c", WHOLE_WORLD)
    with pytest.raises(ValueError, match="own data"):
        thr.check_disjoint("c")  # a calibration world is never scored, whatever split is asked


def test_a_pooled_input_stacks_worlds_and_labels_them_by_truth(small):
    pooled = PooledInput.of([small, small], "full")
    one = ModelInput(small.view("full"))
    n = one.n
    assert pooled.n == 2 * n
    assert np.array_equal(pooled.features.X[:n], one.features.X) and np.array_equal(
        pooled.features.X[n:], one.features.X
    )
    assert np.array_equal(pooled.split, np.concatenate([one.split, one.split]))
    assert pooled.weak_matrix[0].shape == (2 * n, len(small.tasks))
    truth = small.truth_by_id("groomer")["groomer"]
    acc, lab = pooled.human("groomer", "train")
    assert len(acc) == 2 * int((one.split == "train").sum()) and lab.sum() == 2 * truth[one.split == "train"].sum()
    assert len(pooled.human("spam", "train")[0]) == 0, "no truth for another task: nothing to fit there"
    keep = np.zeros(2 * n, dtype=bool)
    keep[acc[:5]] = True
    sub = pooled.labelled(keep)
    assert sub.features is pooled.features and sub.memo is pooled.memo
    assert np.array_equal(sub.human("groomer", "train")[0], acc[:5])


def _comparison(name, positive, reference, ref_name="ref"):
    return Comparison(name, positive, reference, ref_name)


def test_auroc_per_comparison_reads_a_separable_and_an_inseparable_level():
    """Scores over account ids: L0 far above its reference (AUROC ~1), L1 drawn like it
    (~0.5), L2 below it (reported below 0.5, never folded); each against its whole
    reference, with the counts and the reference's name."""
    rng = np.random.default_rng(3)
    n_ref, n_pos = 3000, 300
    shift = (0.0, 8.0, 0.0, -8.0)  # the reference, then L0, L1, L2
    scores = np.concatenate([rng.normal(size=n) + s for n, s in zip((n_ref, n_pos, n_pos, n_pos), shift, strict=True)])
    ids = np.arange(len(scores))
    ref = ids < n_ref
    level = np.where(ref, -1, (ids - n_ref) // n_pos)
    comps = [_comparison("groomer", level >= 0, ref, "benign")]
    comps += [_comparison(f"groomer/L{lvl}", level == lvl, ref) for lvl in range(3)]
    comps += [_comparison("spam", level == 0, ref), _comparison("groomer/L3", level == 0, np.zeros_like(ref))]
    assert [c.name for c in reconciled(comps)] == ["groomer", "groomer/L0", "groomer/L1", "groomer/L2", "groomer/L3"]
    got = comparison_aurocs(scores, reconciled(comps))
    assert got["groomer/L0"]["auroc"] > 0.999 and got["groomer/L0"]["ci_high"] == 1.0
    assert got["groomer/L0"]["n_positive"] == n_pos and got["groomer/L0"]["n_reference"] == n_ref
    l1 = got["groomer/L1"]
    assert abs(l1["auroc"] - 0.5) < 0.05 and l1["ci_low"] < 0.5 < l1["ci_high"], "indistinguishable: chance"
    assert got["groomer/L2"]["auroc"] < 0.001, "a score that ranks positives low is not folded to 1 - AUROC"
    assert got["groomer"]["reference"] == "benign" and got["groomer"]["n_positive"] == 3 * n_pos
    assert "auroc" not in got["groomer/L3"] and got["groomer/L3"]["n_reference"] == 0, "an empty side: no AUROC"


def _record(scn, seed, models, settings=None, key=None, worlds=None):
    """A minimal ceiling record (no curve points) with its key, as `ceiling` writes it."""
    from bench.results.ceiling import CeilingRecord

    settings = {**CeilingPlan(models=tuple(models)).settings(), **(settings or {})}
    key = key or ceiling_key(scn, "full", seed, settings)
    powered = {"task": "groomer", "visibility": "full", "worlds": {}, "enriched_rate": 1e-2,
               "scenario_mix": [0.25] * 4, "models": {}}  # fmt: skip
    return CeilingRecord.model_validate({
        "task": "groomer", "scenario": scn.name, "visibility": "full", "seed": seed, "generator": "g", "key": key,
        "settings": settings, "worlds": worlds or {}, "pool": {"L0": 1}, "thresholds_set_on": {}, "ceiling": {},
        "models": {m: {"curve": [], "plateau": {}} for m in models}, "powered": powered,
    })  # fmt: skip


def _write(work, scn, record, key=None):
    path = cache_path(work, scn, "full", record.seed, key or record.key)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(record.model_dump_json())
    return path


def test_a_cached_ceiling_is_read_only_under_its_own_key_and_the_richest_wins(tmp_path):
    scn = small_scenario()
    assert cached_ceiling(tmp_path, scn, "full", SEED) is None
    one = _record(scn, SEED, ["dec"])
    _write(tmp_path, scn, one)
    assert cached_ceiling(tmp_path, scn, "full", SEED).key == one.key
    two = _record(scn, SEED, ["dec", "gbdt-raw"])
    _write(tmp_path, scn, two)
    assert cached_ceiling(tmp_path, scn, "full", SEED).key == two.key, "more model classes win"
    # Three classes, but a key that is not its settings' for this generator and scenario
    # (another generator's), or a file named with a key other than its own: never read.
    three = _record(scn, SEED, ["dec", "gbdt-raw", "logreg"])
    other_generator = ceiling_key(scn, "full", SEED, three.settings, generator="0.0")
    _write(tmp_path, scn, three.model_copy(update={"key": other_generator}))
    _write(tmp_path, scn, three, key="0123456789abcdef")
    assert cached_ceiling(tmp_path, scn, "full", SEED).key == two.key
    _write(tmp_path, scn, three)
    assert cached_ceiling(tmp_path, scn, "full", SEED).key == three.key
    changed = scn.model_copy(update={"accounts": scn.accounts + 1000})
    assert changed.name == scn.name and cached_ceiling(tmp_path, changed, "full", SEED) is None, "a changed scenario"
    assert cached_ceiling(tmp_path, scn, "minimal", SEED) is None and cached_ceiling(tmp_path, scn, "full", 1) is None
    (tmp_path / "ceilings" / f"{scn.name}-full-s{SEED}-broken.json").write_text("{")
    assert cached_ceiling(tmp_path, scn, "full", SEED).key == three.key, "an unreadable file is skipped"


def test_a_cached_ceiling_with_dec_is_read_only_under_its_own_kernels(tmp_path, monkeypatch):
    from common import kernels

    scn = small_scenario()
    native = _record(scn, SEED, ["dec", "gbdt-raw"])
    settings = {k: v for k, v in native.settings.items() if k != "kernels"}
    native = native.model_copy(update={"settings": settings, "key": ceiling_key(scn, "full", SEED, settings)})
    _write(tmp_path, scn, native)
    assert cached_ceiling(tmp_path, scn, "full", SEED) is None, "pinned: a native DEC is not this mode's"
    lgb_only = _record(scn, SEED, ["gbdt-raw"])
    _write(tmp_path, scn, lgb_only)
    assert cached_ceiling(tmp_path, scn, "full", SEED).key == lgb_only.key, "no DEC: read in either mode"
    for key in kernels.PIN_ENV:
        monkeypatch.delenv(key)
    assert cached_ceiling(tmp_path, scn, "full", SEED).key == native.key, "native: the richer native one"


def test_a_ceiling_on_the_runs_own_worlds_is_read_before_a_richer_one(tmp_path):
    """Given a run's worlds, a cached ceiling read on exactly its TPR and FPR worlds wins over
    one with more classes; without them, or where none is paired, the richest wins."""
    scn = small_scenario()
    run = {"tpr": [{"fingerprint": "t0"}], "fpr": [{"fingerprint": "f0"}, {"fingerprint": "f1"}]}
    other = {"tpr": [{"fingerprint": "t0"}], "fpr": [{"fingerprint": "f0"}]}  # fewer negative worlds
    paired = _record(scn, SEED, ["dec"], {"fpr_accounts": 2000}, worlds={**run, "train": []})
    richer = _record(scn, SEED, ["dec", "gbdt-raw"], worlds=other)
    for record in (paired, richer):
        _write(tmp_path, scn, record)
    assert paired.key != richer.key
    assert cached_ceiling(tmp_path, scn, "full", SEED, run).key == paired.key, "paired first"
    assert cached_ceiling(tmp_path, scn, "full", SEED).key == richer.key, "no run's worlds: the richest"
    elsewhere = {"tpr": [{"fingerprint": "t9"}], "fpr": [{"fingerprint": "f9"}]}
    assert cached_ceiling(tmp_path, scn, "full", SEED, elsewhere).key == richer.key, "none paired: the richest"


@pytest.mark.slow
def test_ceiling_command_on_tiny_worlds(tmp_path, monkeypatch):
    """`lowbase ceiling` end to end on worlds of 4,000 accounts: the record, worlds of four
    disjoint roles, thresholds set on the calibration world only, the reconciliation scored
    on the first TPR world, a rerun from the cache, logged to MLflow once, the reconciliation
    table (`--reconcile`), a record without reconciliation data refused, and the same
    figures computed again (`--refresh`) in worker processes (`--jobs 2`)."""
    import yaml
    from typer.testing import CliRunner

    from bench.cli.app import app
    from bench.results import CeilingRecord

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    scn = tmp_path / "tiny.yaml"
    scn.write_text(yaml.safe_dump(small_scenario(name="tiny").model_dump(mode="json")))
    work, js = tmp_path / "work", tmp_path / "ceiling.json"
    args = ["ceiling", "--scenario", str(scn), "--seed", "3", "--models", "gbdt-raw,dec", "--min-per-level", "12",
            "--curve", "8,16", "--fpr-accounts", "4000", "--workers", "1", "--workdir", str(work)]  # fmt: skip
    res = CliRunner().invoke(app, [*args, "--json", str(js)])
    assert res.exit_code == 0, res.output
    rec = CeilingRecord.model_validate(json.loads(js.read_text()))
    assert min(rec.pool.values()) >= 12 and len(rec.worlds["train"]) >= 2
    sizes = [p.offenders for p in rec.models["dec"].curve]
    assert sizes[-1] == sum(rec.pool.values()) and sizes[-1] // 2 in sizes and 8 in sizes
    check_worlds_disjoint(rec.worlds)
    calib = rec.worlds["calibration"]["fingerprint"]
    assert rec.thresholds_set_on == {"world": calib, "split": WHOLE_WORLD}
    for m in rec.powered.models.values():
        assert all(t.set_on == {"world": calib, "split": WHOLE_WORLD} for t in m.thresholds)
    assert set(rec.ceiling) == {"fpr<=0.001", "fpr<=0.0001"}
    assert all(c.model in ("dec", "gbdt-raw") for c in rec.ceiling["fpr<=0.001"].values())
    _check_reconciliation(rec)
    assert "plateau" in res.output and "ceiling computed" in res.output
    fig = tmp_path / "curves.png"
    again = CliRunner().invoke(app, [*args, "--figure", str(fig)])
    assert again.exit_code == 0 and "read from the cache" in again.output
    assert fig.stat().st_size > 0 and fig.with_stem("curves-fpr1e-4").stat().st_size > 0, "curves at 1e-3 and 1e-4"
    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    [run] = client.search_runs([client.get_experiment_by_name("lowbase-ceiling").experiment_id])
    assert run.data.tags["lowbase.ceiling_key"] == rec.key, "logged once: the cached rerun logs nothing"
    assert "groomer/ceiling/fpr_le_0.001/L0/tpr" in run.data.metrics
    _check_reconcile_command(app, [*args, "--no-mlflow"], tmp_path / "reconciled.json", rec)
    [cached] = (work / "ceilings").glob("*.json")  # a record computed without reconciliation data
    stale = {k: v for k, v in json.loads(cached.read_text()).items() if k != "reconciliation"}
    cached.write_text(json.dumps(stale))
    old = CliRunner().invoke(app, [*args, "--no-mlflow", "--reconcile"])
    assert old.exit_code == 2 and "--refresh" in old.output and "read from the cache" in old.output, old.output
    down = CliRunner().invoke(app, [*args, "--no-mlflow", "--refresh", "--dask", "tcp://127.0.0.1:9"])
    assert down.exit_code == 2 and "no Dask scheduler answered" in down.output, down.output
    js2 = tmp_path / "jobs2.json"  # computed again, the evaluation worlds in two worker processes
    two = CliRunner().invoke(app, [*args, "--jobs", "2", "--refresh", "--no-mlflow", "--json", str(js2)])
    assert two.exit_code == 0 and "ceiling computed" in two.output, two.output
    rec2 = CeilingRecord.model_validate(json.loads(js2.read_text()))
    assert rec2.model_dump(exclude={"seconds"}) == rec.model_dump(exclude={"seconds"}), "processes: the same figures"
    assert CeilingRecord.model_validate_json(cached.read_text()).reconciliation == rec.reconciliation, "replaced"
    bad = CliRunner().invoke(app, [*args, "--visibility", "opaque"])
    assert bad.exit_code == 2 and "visibility" in bad.output
    bad = CliRunner().invoke(app, [*args, "--models", "random"])
    assert bad.exit_code == 2


def _check_reconciliation(rec):
    """The reconciliation: each class's largest curve point scored on the first TPR world
    (neither a training nor the calibration world), per groomer comparison, against the
    whole reference (the counts of the world's own offenders)."""
    got = rec.reconciliation
    assert got is not None and got.world == {k: rec.worlds["tpr"][0][k] for k in ("seed", "fingerprint")}
    check_worlds_disjoint(rec.worlds, got.world)
    assert got.points == {m: f"{m} @ {c.curve[-1].offenders}" for m, c in rec.models.items()}
    for by in got.models.values():
        assert list(by)[0] == "groomer" and set(by) <= {"groomer", *(f"groomer/{lvl}" for lvl in SOPHISTICATION_LEVELS)}
        assert by["groomer"].n_positive == rec.worlds["tpr"][0]["positives"]
        assert sum(by[c].n_positive for c in by if c != "groomer") == by["groomer"].n_positive
        assert all(f.auroc is None or 0 <= f.ci_low <= f.auroc <= f.ci_high <= 1 for f in by.values())


def _check_reconcile_command(app, args, js, rec):
    """`--reconcile` on the cached ceiling: the oracle trained on the same world, the table
    printed within 100 columns, and the table under "reconciliation" in the JSON."""
    from typer.testing import CliRunner

    from bench.results.ceiling import CeilingRecord

    res = CliRunner().invoke(app, [*args, "--reconcile", "--json", str(js)])
    assert res.exit_code == 0 and "read from the cache" in res.output, res.output
    table = res.output[res.output.index("reconciliation, one world") :]
    assert "oracle" in table and all(len(line) <= 100 for line in table.splitlines()), table
    got = CeilingRecord.model_validate(json.loads(js.read_text())).reconciliation
    assert got is not None and got.table is not None
    assert got.model_dump(exclude={"table"}) == rec.reconciliation.model_dump(exclude={"table"})
    assert [r.comparison for r in got.table] == list(got.models["dec"])
    for row in got.table:
        assert row.oracle is not None and row.oracle.positives_used <= row.n_positive
        assert set(row.models) == {"dec", "gbdt-raw"}
        assert (row.ceiling is None) == (row.comparison == "groomer"), "the ceiling is per level"
        if row.ceiling is not None:
            level = row.comparison.split("/")[1]
            assert row.ceiling["fpr<=0.001"] == rec.ceiling["fpr<=0.001"][level]


@pytest.mark.parametrize(
    "args, needle",
    [
        (["--visibility", "opaque"], "--visibility"),
        (["--models", "random"], "--models"),
        (["--models", "nope"], "--models"),
        (["--curve", "30,abc"], "--curve"),
        (["--curve", "2"], "--curve"),
        (["--scenario", "nope"], "not a preset"),
        (["--min-per-level", "0"], "--min-per-level"),
        (["--dask", "nowhere"], "--dask"),
        (["--visibility", "minimal", "--reconcile"], "--reconcile needs --visibility full"),
        (["--visibility", "sealed_sender", "--reconcile", "--plan"], "oracle always reads visibility full"),
        (["--enriched-rate", "0"], "--enriched-rate"),
        (["--enriched-rate", "0.2"], "--enriched-rate"),
    ],
)
def test_ceiling_bad_input_exits_2_before_any_work(tmp_path, args, needle):
    from typer.testing import CliRunner

    from bench.cli.app import app

    work = tmp_path / "work"
    res = CliRunner().invoke(app, ["ceiling", "--workdir", str(work), "--no-mlflow", *args])
    assert res.exit_code == 2 and needle in res.output, res.output
    assert not work.exists(), "nothing written on bad input"
    assert CliRunner().invoke(app, ["ceiling", "--help"]).exit_code == 0


def test_the_plan_states_worlds_and_offenders_without_computing(tmp_path, monkeypatch):
    """`lowbase ceiling --plan` sizes a ceiling from the scenario alone: its TPR and FPR
    worlds are those a powered evaluation of the same settings lists, its training worlds
    hold the offenders asked for even 3 standard deviations below expectation (computed
    here from the scenario's own numbers), and nothing is written."""
    from typer.testing import CliRunner

    from bench.cli.app import app
    from bench.rare.ceiling import CeilingPlan
    from bench.rare.powered import PoweredPlan
    from data_gen import load_scenario

    scn = load_scenario("quick")
    for plan in (CeilingPlan(), CeilingPlan(tpr_worlds=3, fpr_accounts=250_000, enriched_rate=5e-3)):
        train, calib, tpr, fpr = plan.worlds(scn)
        specs = PoweredPlan("full", "groomer", plan.tpr_worlds, plan.fpr_accounts, plan.enriched_rate).worlds(scn, 0)
        tpr_specs, fpr_specs = [w for w in specs if w.role == "tpr"], [w for w in specs if w.role == "fpr"]
        assert tpr["worlds"] == len(tpr_specs) and fpr["worlds"] == len(fpr_specs) and calib["worlds"] == 1
        assert tpr["accounts"] == sum(w.scenario.accounts for w in tpr_specs)
        assert fpr["accounts"] == sum(w.scenario.accounts for w in fpr_specs)
        rate = tpr_specs[0].scenario.harm.groomer_rate
        assert tpr["offenders_per_level"] == pytest.approx([plan.tpr_worlds * scn.accounts * rate / 4] * 4)
        e = scn.accounts * 1e-2 / 4 * (scn.splits.train + scn.splits.val)  # one training world, per level
        k = train["worlds"]
        assert k * e - 3 * math.sqrt(k * e) >= 1000 > (k - 1) * e - 3 * math.sqrt((k - 1) * e)
        assert train["offenders_per_level"] == pytest.approx([k * e] * 4)
    monkeypatch.chdir(tmp_path)
    res = CliRunner().invoke(app, ["ceiling", "--scenario", "quick", "--plan"])
    assert res.exit_code == 0, res.output
    expected = " / ".join([f"{k * e:,.0f}"] * 4)
    assert "training (enriched" in res.output and expected in res.output and "3 standard deviations" in res.output
    assert not any(tmp_path.iterdir()), "a plan computes and writes nothing"


def test_a_tie_between_classes_goes_the_same_way_whatever_their_order():
    """The best class at a level does not depend on the order the classes are listed in (a
    record read back from JSON lists them sorted; a computation in the order asked)."""
    from bench.rare.learning_curve import best_per_level

    rate = {"value": 0.5, "low": 0.3, "high": 0.7, "k": 5, "n": 10}

    def curve():
        levels = dict.fromkeys(SOPHISTICATION_LEVELS, rate)
        verdicts = {lvl: {"verdict": "reached"} for lvl in SOPHISTICATION_LEVELS}
        return {"curve": [{"tpr_by_level": {"fpr<=0.001": levels}}], "plateau": {"fpr<=0.001": verdicts}}

    a = best_per_level({"gbdt-raw": curve(), "dec": curve()}, ["fpr<=0.001"])
    b = best_per_level({"dec": curve(), "gbdt-raw": curve()}, ["fpr<=0.001"])
    assert a == b and {c["model"] for c in a["fpr<=0.001"].values()} == {"dec"}
