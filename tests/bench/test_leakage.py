"""The leakage audit: no statistic alone may give a role away against the benign accounts
it imitates, and no trace of how rows were generated may separate anything at all.

The slow tests audit the `harmful` dataset (40K accounts, groomer rate 1e-2, a uniform
level mix); the others check on synthetic rows that each artefact statistic fires on a
planted artefact and sits at chance on identical distributions."""

import numpy as np
import pytest

from bench.audit.artefacts import EventSource, Rows, account_artefacts, event_statistics, tie_positions
from bench.audit.leakage import ARTEFACT_GATE, EASY_BY_DESIGN, NEAR_PERFECT, audit, breaks_gate, worst
from bench.stats.rank_auroc import auroc_with_interval
from bench.stats.references import ADULT_CONTACTS, APPARENT_MINORS, BENIGN, comparisons, references
from common.vocabulary import DAY, HOUR


@pytest.fixture(scope="module")
def report(harmful):
    return audit(harmful)


# ---------------------------------------------------------------- the harmful dataset


@pytest.mark.slow
def test_every_task_and_level_is_audited_against_its_reference(report, harmful):
    comp = report.comparisons
    assert set(harmful.tasks) <= set(comp)
    assert {comp[f"groomer/L{i}"].reference for i in range(4)} == {ADULT_CONTACTS, APPARENT_MINORS}
    assert all(comp[t].reference == BENIGN for t in harmful.tasks)
    for name, c in comp.items():
        kinds = {s.kind for s in c.statistics}
        assert kinds == {"behavioural", "artefact"}, name
        assert c.n_positive >= 50, (name, c.n_positive)
        # Only artefact statistics carry the family-wise bound, and never above the interval's own.
        for s in c.statistics:
            assert (s.ci_low_familywise is not None) == (s.kind == "artefact"), (name, s.name)
            assert s.ci_low_familywise is None or s.ci_low_familywise <= s.ci_low


@pytest.mark.slow
def test_no_artefact_statistic_separates_anything(report):
    """Every artefact statistic (ids, row order, timestamp alignment, hour and weekday
    profiles) sits below AUROC 0.60 for every task and level against its reference (or
    its interval reaches 0.5: bench.audit.leakage.breaks_gate)."""
    bad = [
        f"{name}: '{s.name}' {s.auroc:.3f} [{s.ci_low:.3f}, {s.ci_high:.3f}] "
        f"on {s.n_positive}/{s.n_reference} {s.clustered_by}s"
        for name, c in report.comparisons.items()
        for s in c.statistics
        if s.kind == "artefact" and breaks_gate(name, s)
    ]
    assert not bad, "artefact statistics separate positives from their reference:\n" + "\n".join(bad)


@pytest.mark.slow
def test_no_behavioural_statistic_gives_a_role_away(report, harmful):
    for name in report.comparisons:
        top = worst(report, name, "behavioural")
        if name in EASY_BY_DESIGN:
            continue
        assert top.auroc < NEAR_PERFECT, f"{name}: '{top.name}' alone reaches AUROC {top.auroc:.3f}"
        if name in harmful.tasks:  # ... but no task is invisible either: something carries signal
            assert top.auroc > 0.7, f"{name}: no statistic carries signal (best {top.name} {top.auroc:.3f})"


@pytest.mark.slow
def test_cartoon_groomers_are_easy(report):
    """Documented, not hoped for: L0 sends ~100 requests to children, ~95% rejected; even
    against adults who contact children, that alone gives it away."""
    top = worst(report, "groomer/L0", "behavioural")
    assert top.auroc > 0.95, top


@pytest.mark.slow
def test_auroc_is_orientation_free(medium):
    for c in audit(medium).comparisons.values():
        assert all(0.5 <= s.auroc <= 1.0 and s.ci_low <= s.auroc <= s.ci_high for s in c.statistics)


def test_references_are_benign_and_matched(small):
    refs = references(small)
    truth = small.table("truth")
    apparent = small.table("accounts")["asserted_age"].to_numpy()
    for task in small.tasks:
        assert not (refs[BENIGN] & truth[task].to_numpy()).any(), task
    assert (refs[ADULT_CONTACTS] <= refs[BENIGN]).all() and (refs[APPARENT_MINORS] <= refs[BENIGN]).all()
    assert (truth["true_age"].to_numpy()[refs[ADULT_CONTACTS]] >= 18).all()
    assert (apparent[refs[APPARENT_MINORS]] < 18).all()
    assert refs[ADULT_CONTACTS].sum() > 0
    for c in comparisons(small):
        assert not (c.positive & c.reference).any(), c.name


# ---------------------------------------------------------------- synthetic rows

N, POS = 2000, 200  # accounts; the first POS are the positives


def _rows(ts, sender, tie=None, member=None, group=None, n_groups=100, rng=None) -> Rows:
    rng = rng or np.random.default_rng(0)
    if member is None:
        member = np.repeat(np.arange(N), 2)
        group = rng.integers(0, n_groups, len(member))
    shuffle = rng.permutation(len(ts))  # rows in random order within equal timestamps
    order = shuffle[np.argsort(ts[shuffle], kind="stable")]
    ts, sender = ts[order], sender[order]
    source = EventSource(sender, ts, tie_positions(ts) if tie is None else tie[order])
    created = rng.integers(-400 * DAY, 56 * DAY, n_groups)  # every group alike
    return Rows(N, {"messages": source}, member, group, n_groups, created[group])


def _masks(rng=None):
    """The first POS accounts are positive, or POS drawn at random with `rng`."""
    pos = np.zeros(N, dtype=bool)
    pos[np.arange(POS) if rng is None else rng.choice(N, POS, replace=False)] = True
    return pos, ~pos


def _events(rng, per_account=20):
    sender = np.repeat(np.arange(N), per_account)
    day = rng.integers(0, 56, len(sender))
    hour = rng.choice(24, len(sender), p=np.r_[np.full(8, 0.01), np.full(16, 0.92 / 16)])
    return sender, day * DAY + hour * HOUR + rng.integers(0, HOUR, len(sender))


def test_identical_distributions_sit_at_chance():
    rng = np.random.default_rng(1)
    sender, ts = _events(rng)
    ts = ts - ts % 60  # plenty of equal timestamps, in random order
    pos, ref = _masks(rng)
    rows = _rows(ts, sender, rng=rng)
    stats = event_statistics(rows, pos, ref, seed=0)
    assert stats["messages: position among equal-ts rows"].rows_positive > 100
    for name, sep in stats.items():
        assert sep.auroc < 0.56, (name, sep)
    art = account_artefacts(rows)
    assert len(art) == 5
    for name, x in art.items():
        assert auroc_with_interval(x[pos], x[ref]).auroc < 0.56, name


@pytest.mark.parametrize("mod", [60, HOUR, DAY])
def test_aligned_timestamps_are_caught(mod):
    rng = np.random.default_rng(2)
    sender, ts = _events(rng)
    pos, _ = _masks()
    half = pos[sender] & (rng.random(len(ts)) < 0.5)
    ts[half] -= ts[half] % mod  # half of the positives' events on the stroke
    stats = event_statistics(_rows(ts, sender), *_masks(), seed=0)
    label = {60: "ts mod 60", HOUR: "ts mod 3600", DAY: "ts mod 86400"}[mod]
    sep = stats[f"messages: {label}"]
    assert sep.auroc > ARTEFACT_GATE and sep.ci_low > 0.5, sep


def test_a_different_daily_shape_is_caught_even_at_the_same_mean():
    """Positives uniform over the day, the reference at 06h and 18h only: the time of day
    has the same mean (AUROC of ts mod 86400 ~0.5), the hour-of-day profile sees it."""
    rng = np.random.default_rng(3)
    sender = np.repeat(np.arange(N), 20)
    pos, _ = _masks()
    hour = np.where(pos[sender], rng.integers(0, 24, len(sender)), rng.choice([6, 18], len(sender)))
    ts = rng.integers(0, 56, len(sender)) * DAY + hour * HOUR + rng.integers(0, HOUR, len(sender))
    stats = event_statistics(_rows(ts, sender), *_masks(), seed=0)
    assert stats["messages: ts mod 86400"].auroc < 0.56
    assert stats["messages: hour-of-day profile"].auroc > 0.8


def test_weekday_shape_is_caught():
    rng = np.random.default_rng(4)
    sender, ts = _events(rng)
    pos, _ = _masks()
    weekend = pos[sender] & (rng.random(len(ts)) < 0.6)
    ts[weekend] = (ts[weekend] // (7 * DAY)) * 7 * DAY + 5 * DAY + ts[weekend] % DAY
    sep = event_statistics(_rows(ts, sender), *_masks(), seed=0)["messages: weekday profile"]
    assert sep.auroc > ARTEFACT_GATE, sep


def test_rows_appended_within_ties_are_caught():
    rng = np.random.default_rng(5)
    sender, ts = _events(rng)
    ts = ts - ts % 4
    pos, _ = _masks()
    # Sorted by (ts, is-positive): positives last among equal timestamps.
    order = np.lexsort((pos[sender], ts))
    ts, sender = ts[order], sender[order]
    rows = Rows(N, {"messages": EventSource(sender, ts, tie_positions(ts))}, *_groups(rng), 100)
    sep = event_statistics(rows, *_masks(), seed=0)["messages: position among equal-ts rows"]
    assert sep.auroc > ARTEFACT_GATE, sep


def _groups(rng):
    member = np.repeat(np.arange(N), 2)
    return member, rng.integers(0, 100, len(member))


def test_high_ids_are_caught():
    rng = np.random.default_rng(6)
    sender, ts = _events(rng)
    member, group = _groups(rng)
    pos, _ = _masks()
    own = pos[member] & (rng.random(len(member)) < 0.5)
    group[own] = 100 + rng.integers(0, 5, own.sum())  # numbered after every other group
    rows = _rows(ts, sender, member=member, group=group, n_groups=105)
    stats = event_statistics(rows, *_masks(), seed=0)
    assert stats["group id (per membership)"].auroc > ARTEFACT_GATE
    art = account_artefacts(rows)
    ref = ~pos
    assert auroc_with_interval(art["mean id of groups joined"][pos], art["mean id of groups joined"][ref]).auroc > 0.6
    # Account ids: positives numbered last.
    ids = art["account id"]
    assert auroc_with_interval(ids[pos], ids[ref]).auroc == 1.0


def test_tie_positions():
    t = np.array([1, 2, 2, 3, 3, 3, 4])
    got = tie_positions(t)
    assert np.isnan(got[[0, 6]]).all()
    assert got[1:6].tolist() == [0.0, 1.0, 0.0, 0.5, 1.0]


def test_profile_is_cross_fitted_by_account():
    """One account's own habit cannot make positives look separable: a few positive
    accounts each posting at one fixed hour of their own, the reference spread evenly."""
    rng = np.random.default_rng(7)
    sender = np.repeat(np.arange(N), 30)
    pos, _ = _masks()
    habit = rng.integers(0, 24, N)
    hour = np.where(rng.random(len(sender)) < 0.9, habit[sender], rng.integers(0, 24, len(sender)))
    ts = rng.integers(0, 56, len(sender)) * DAY + hour * HOUR + rng.integers(0, HOUR, len(sender))
    sep = event_statistics(_rows(ts, sender), pos, ~pos, seed=0)["messages: hour-of-day profile"]
    assert sep.auroc < 0.56, sep


def test_group_creation_alignment_is_caught_per_account():
    """Built-in groups created on the stroke of midnight, the positives' own closed groups
    at any second: a third of positives in one, diluted among everyone's ordinary groups
    when pooled per membership, still marks them per account."""
    rng = np.random.default_rng(8)
    sender, ts = _events(rng)
    member, group = _groups(rng)
    created = -rng.integers(1, 400, 105) * DAY
    created[100:] = rng.integers(0, 56 * DAY, 5)
    pos, _ = _masks()
    closed = pos[member] & (np.arange(len(member)) % 2 == 0) & (member % 3 == 0)
    group[closed] = 100 + member[closed] % 5
    rows = _rows(ts, sender, member=member, group=group, n_groups=105)
    rows = Rows(rows.n, rows.sources, member, group, 105, created[group])
    art = account_artefacts(rows)
    x = art["mean created_ts mod 86400 of groups joined"]
    assert auroc_with_interval(x[pos], x[~pos]).auroc > ARTEFACT_GATE
