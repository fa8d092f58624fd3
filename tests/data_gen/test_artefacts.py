"""How rows are made must not say who made them: group ids, creation times, closed groups
and the hour of every offender event (the audit against matched references is in
tests/bench/test_leakage.py; these pin the generator's mechanisms)."""

import numpy as np
import pytest
from scipy.stats import ks_2samp, mannwhitneyu

from common.vocabulary import DAY, HOUR
from data_gen import load_scenario
from data_gen.config import ScenarioError
from data_gen.simulate import population


def _groups(ds):
    gm = ds.table("group_members")
    gid, acc = gm["group_id"].to_numpy(), gm["account_id"].to_numpy()
    n_groups = ds.table("groups").num_rows
    groomer = ds.table("truth")["groomer"].to_numpy(zero_copy_only=False)
    only = np.ones(n_groups, dtype=bool)
    np.logical_and.at(only, gid, groomer[acc])
    anyg = np.zeros(n_groups, dtype=bool)
    np.logical_or.at(anyg, gid, groomer[acc])
    size = np.bincount(gid, minlength=n_groups)
    return size, only & (size >= 2), ~anyg & (size >= 2)


def test_offender_group_ids_are_not_numbered_apart(harmful):
    """Group ids are one seeded permutation over every kind of group: the ids of offender
    clusters' groups rank like any other group's (numbered after the built-in groups,
    they all sat at the top)."""
    size, offender, _ = _groups(harmful)
    ids = np.arange(len(size))
    assert offender.sum() >= 5
    p = mannwhitneyu(ids[offender], ids[~offender & (size > 0)]).pvalue
    assert p > 1e-3, f"offender groups' ids rank apart from the others (p = {p:.1e})"


def test_creation_times_are_drawn_alike_for_every_group(harmful):
    size, offender, _ = _groups(harmful)
    created = harmful.table("groups")["created_ts"].to_numpy()
    assert (created % DAY == 0).mean() < 0.01, "no kind of group is created on the stroke of midnight"
    p = ks_2samp(created[offender] % DAY, created[~offender] % DAY).pvalue
    assert p > 1e-3, f"offender groups' creation second-of-day differs (p = {p:.1e})"


def test_ordinary_people_have_small_closed_groups(harmful):
    """A small group of a few members is a behaviour of friends, families and teams, not
    an offender's signature: benign small groups far outnumber offender clusters."""
    size, offender, benign = _groups(harmful)
    small = size <= 8
    assert (benign & small).sum() >= 10 * (offender & small).sum() > 0


def _night_share(ds, who: np.ndarray) -> tuple[float, int]:
    """Share of the contact requests and 1:1 messages `who` sends between 02:00 and 05:00."""
    r = ds.table("contact_requests", ["src", "ts"])
    m = ds.table("messages", ["src", "dst", "ts"])
    one = m["dst"].to_numpy() >= 0
    src = np.concatenate([r["src"].to_numpy(), m["src"].to_numpy()[one]])
    ts = np.concatenate([r["ts"].to_numpy(), m["ts"].to_numpy()[one]])
    hour = (ts[who[src]] % DAY) // HOUR
    return float(((hour >= 2) & (hour < 5)).mean()), int(len(hour))


def test_offender_events_keep_the_personas_hours(harmful):
    """Every groomer event follows the rhythm of the persona it presents: adults' for
    L0/L1 and for L2's adult half, a child's for L3 (config.HarmConfig.persona_minor_schedule).
    Drawn uniformly over the day, first contacts gave L0 a 13% share of events at 02:00-05:00
    against ~1% for benign adults."""
    t = harmful.table("truth")
    truth = {c: t[c].to_numpy(zero_copy_only=False) for c in t.column_names}
    level = truth["sophistication"]
    benign = ~np.any([truth[c] for c in harmful.tasks], axis=0)
    apparent = harmful.table("accounts")["asserted_age"].to_numpy()
    adult_ref, adult_n = _night_share(harmful, benign & (apparent >= 18))
    minor_ref, minor_n = _night_share(harmful, benign & (apparent < 18))
    for lvl, ref in ((0, adult_ref), (1, adult_ref), (3, minor_ref)):
        share, n = _night_share(harmful, truth["groomer"] & (level == lvl))
        assert n > 500, (lvl, n)
        assert abs(share - ref) < 0.02, f"L{lvl}: {share:.3f} of {n} events at 02-05h vs {ref:.3f} for its persona"


def _persona_population(**knobs):
    scn = load_scenario("quick", accounts=30_000)
    harm = scn.harm.model_copy(update={"groomer_rate": 0.01, "sophistication_mix": (0.25, 0.25, 0.25, 0.25), **knobs})
    pop, _ = population(scn.model_copy(update={"harm": harm}), 4)
    return pop, pop.role == 5


def test_mimicry_knobs_set_rhythm_family_and_sociability():
    base, g = _persona_population()
    level = base.sophistication
    assert not base.schedule_minor[g & (level <= 1)].any() and base.schedule_minor[g & (level == 3)].all()
    assert (base.family[g] == -1).all()
    knobs = dict(
        persona_minor_schedule=(1.0, 1.0, 1.0, 1.0),
        persona_family_ties=(1.0, 1.0, 1.0, 1.0),
        persona_sociability=(1.0, 1.0, 1.0, 1.0),
    )
    pop, g2 = _persona_population(**knobs)
    assert (g2 == g).all(), "the knobs change the personas, not who is an offender"
    assert pop.schedule_minor[g].all()
    assert (pop.family[g] >= 0).mean() > 0.3, "offenders keep the family ties they were drawn with"
    cartoon = g & (level == 0)
    ratio = base.sociability[cartoon].mean() / pop.sociability[cartoon].mean()
    assert ratio == pytest.approx(0.2, rel=1e-3)


@pytest.mark.parametrize(
    "harm, needle",
    [
        ({"persona_everyday": [1.0, 1.0, 1.5, 1.0]}, "harm.persona_everyday"),
        ({"persona_minor_schedule": [0.0, 0.0, -0.1, 1.0]}, "harm.persona_minor_schedule"),
        ({"persona_sociability": [0.0, 1.0, 1.0, 1.0]}, "harm.persona_sociability"),
        ({"persona_family_ties": [0.0, 0.0]}, "harm.persona_family_ties"),
    ],
)
def test_bad_mimicry_knobs_name_the_field(tmp_path, harm, needle):
    import yaml

    p = tmp_path / "s.yaml"
    p.write_text(yaml.safe_dump({"accounts": 5000, "harm": harm}))
    with pytest.raises(ScenarioError, match=needle.replace(".", r"\.")):
        load_scenario(str(p))


@pytest.mark.slow
def test_enrichment_changes_how_many_offenders_not_how_they_behave(tmp_path):
    """The powered evaluation measures TPR on worlds enriched to groomer rate 1e-2: each
    offender's observables must be distributed as at a lower rate (3e-3), or the enriched
    TPR would not transfer. Per level, the statistics the audit ranks first for it."""
    from bench.audit.leakage import interactions
    from common.observables import account_stats
    from data_gen import generate
    from data_gen.reader import open_dataset

    stats = {}
    for rate in (1e-2, 3e-3):
        scn = load_scenario("quick", accounts=40_000)
        harm = scn.harm.model_copy(update={"groomer_rate": rate, "sophistication_mix": (0.25, 0.25, 0.25, 0.25)})
        generate(scn.model_copy(update={"harm": harm}), 21, tmp_path / str(rate), workers=2)
        ds = open_dataset(tmp_path / str(rate))
        t = ds.table("truth")
        g, lvl = t["groomer"].to_numpy(zero_copy_only=False), t["sophistication"].to_numpy()
        s = account_stats(interactions(ds))
        stats[rate] = {L: {k: s[k][g & (lvl == L)] for k in CHECKED} for L in range(4)}
    for L in range(4):
        for k in CHECKED:
            p = ks_2samp(stats[1e-2][L][k], stats[3e-3][L][k]).pvalue
            assert p > 1e-3, f"L{L} {k}: distributions differ between rates 1e-2 and 3e-3 (p = {p:.1e})"


CHECKED = ("requests_to_apparent_minors", "distinct_apparent_minor_recipients", "messages_sent", "account_age_days")
