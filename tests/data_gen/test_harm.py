"""Mechanics and invariants of the harm model (groomers, victims, harm events, look-alikes)."""

import numpy as np
import pyarrow.compute as pc
import pytest
from scipy.stats import binom

from data_gen import actors, load_scenario
from data_gen.config import ScenarioError
from data_gen.simulate import population


def _col(t, name):
    c = t[name]
    return np.asarray(pc.cast(c, "string").to_pylist()) if "dictionary" in str(c.type) else c.to_numpy()


def test_harm_events_link_groomers_to_minor_victims(harmful):
    h = harmful.table("harm_events")
    assert h.num_rows > 0
    truth = harmful.table("truth")
    groomer, age, victim = (truth[c].to_numpy() for c in ("groomer", "true_age", "is_victim"))
    off, vic = h["offender"].to_numpy(), h["victim"].to_numpy()
    assert groomer[off].all(), "every offender is a groomer"
    assert (age[vic] < 18).all(), "every victim is a minor"
    assert set(np.flatnonzero(victim)) == set(vic), "is_victim marks exactly the harmed"
    assert set(_col(h, "kind")) <= {"image_exchange", "repeat_image"}


def test_every_harm_event_is_a_real_image_message(harmful):
    h = harmful.table("harm_events")
    m = harmful.table("messages")
    n = harmful.meta["rows"]["accounts"]
    end = 1 << 26
    key = lambda src, dst, ts: (src * n + dst) * end + ts  # noqa: E731
    images = _col(m, "media") == "image"
    msg = key(m["src"].to_numpy()[images], m["dst"].to_numpy()[images], m["ts"].to_numpy()[images])
    ev = key(h["victim"].to_numpy(), h["offender"].to_numpy(), h["ts"].to_numpy())
    assert np.isin(ev, msg).all(), "a harm event is a media message from victim to offender"


def test_harm_comes_after_first_contact(harmful):
    """Some interaction between the pair (a request or a message, either way) strictly
    precedes every harm event."""
    h = harmful.table("harm_events")
    n = harmful.meta["rows"]["accounts"]
    m = harmful.table("messages")
    r = harmful.table("contact_requests")
    src = np.concatenate([m["src"].to_numpy(), r["src"].to_numpy()])
    dst = np.concatenate([m["dst"].to_numpy(), r["dst"].to_numpy()])
    pair = np.minimum(src, dst) * n + np.maximum(src, dst)
    ts = np.concatenate([m["ts"].to_numpy(), r["ts"].to_numpy()])
    order = np.lexsort((ts, pair))
    pair, ts = pair[order], ts[order]
    off, vic = h["offender"].to_numpy(), h["victim"].to_numpy()
    want = np.minimum(off, vic) * n + np.maximum(off, vic)
    first_of = np.searchsorted(pair, want)
    assert (pair[first_of] == want).all()
    assert (ts[first_of] < h["ts"].to_numpy()).all(), "the pair was in contact before the harm"


def test_groomer_rate_and_mix_within_binomial_bounds(harmful):
    truth = harmful.table("truth")
    n = truth.num_rows
    hc = harmful.meta["scenario"]["harm"]
    groomer = truth["groomer"].to_numpy()
    k = int(groomer.sum())
    assert binom.ppf(1e-6, n, hc["groomer_rate"]) <= k <= binom.isf(1e-6, n, hc["groomer_rate"])
    level = truth["sophistication"].to_numpy()[groomer]
    for lvl, share in enumerate(hc["sophistication_mix"]):
        c = int((level == lvl).sum())
        assert binom.ppf(1e-6, k, share) <= c <= binom.isf(1e-6, k, share), (lvl, c, k)


def test_cartoon_requests_are_mostly_rejected(harmful):
    truth = harmful.table("truth")
    l0 = np.flatnonzero(truth["sophistication"].to_numpy() == 0)
    r = harmful.table("contact_requests")
    mine = np.isin(r["src"].to_numpy(), l0)
    assert mine.sum() > 50 * len(l0) * 0.5
    assert r["accepted"].to_numpy()[mine].mean() < 0.15, "~95% rejected, from the recipient model"


def test_lookalikes_are_never_positive():
    scn = load_scenario("quick", accounts=20_000)
    pop, _ = population(scn, 5)
    truth = actors.truth_columns(pop)
    look = np.isin(pop.role, [a.code for a in actors.ACTORS if a.task is None])
    assert look.sum() > 50
    for task, col in truth.items():
        assert not col[look].any(), task
    # Teen couples are minors; child-contact adults are adults.
    assert (pop.true_age[pop.role == 7] < 18).all()
    assert (pop.true_age[pop.role == 6] >= 18).all()


def test_personas_assert_a_childs_age_and_cartoons_are_new():
    scn = load_scenario("quick", accounts=50_000)
    scn = scn.model_copy(update={"harm": scn.harm.model_copy(update={"groomer_rate": 0.01})})
    pop, _ = population(scn, 2)
    g = pop.role == 5
    persona = g & (pop.sophistication >= 2)
    assert (pop.asserted_age[persona] < 18).all() and (pop.true_age[g] >= 25).all()
    assert pop.schedule_minor[g & (pop.sophistication == 3)].all()
    cartoon = g & (pop.sophistication == 0)
    assert (pop.signup_day[cartoon] >= -14).all() and pop.anonymizer[cartoon].mean() > 0.6


def test_human_groomer_labels_need_reported_content(harmful):
    h = harmful.table("human_labels")
    pos = (_col(h, "task") == "groomer") & (h["label"].to_numpy() == 1)
    rep = harmful.table("reports")
    cs = rep["reported"].to_numpy()[_col(rep, "reason") == "child_safety"]
    assert np.isin(h["account_id"].to_numpy()[pos], cs).all()


@pytest.mark.parametrize(
    "harm, needle",
    [
        ({"groomer_rate": 0.5}, "harm.groomer_rate"),
        ({"groomer_rate": 1e-9}, "harm.groomer_rate"),
        ({"sophistication_mix": [0.5, 0.5, 0.5, 0.5]}, "harm.sophistication_mix"),
        ({"sophistication_mix": [1.0, 0.0]}, "harm.sophistication_mix"),
        ({"image_exchange": 2}, "harm.image_exchange"),
    ],
)
def test_bad_harm_knobs_name_the_field(tmp_path, harm, needle):
    import yaml

    p = tmp_path / "s.yaml"
    p.write_text(yaml.safe_dump({"accounts": 5000, "harm": harm}))
    with pytest.raises(ScenarioError, match=needle.replace(".", r"\.")):
        load_scenario(str(p))


def test_offender_clusters_have_closed_groups(harmful):
    gm = harmful.table("group_members")
    groomer = harmful.table("truth")["groomer"].to_numpy()
    gid, acc = gm["group_id"].to_numpy(), gm["account_id"].to_numpy()
    all_groomer = np.ones(gid.max() + 1, dtype=bool)
    np.logical_and.at(all_groomer, gid, groomer[acc])
    size = np.bincount(gid)
    closed = np.flatnonzero(all_groomer & (size >= 2))
    assert len(closed) > 0, "some groups hold offenders only"
    assert harmful.table("groups").num_rows > gid.max()
    m = harmful.table("messages")
    assert np.isin(m["group_id"].to_numpy(), closed).any(), "media is shared inside them"
    # Cluster members are friends with each other.
    f = harmful.table("friendships")
    n = harmful.meta["rows"]["accounts"]
    keys = set((f["src"].to_numpy() * n + f["dst"].to_numpy()).tolist())
    members = np.sort(acc[gid == closed[0]])
    assert all(int(a * n + b) in keys for i, a in enumerate(members) for b in members[i + 1 :])


def test_viral_sharers_forwarded_media(harmful):
    truth = harmful.table("truth")
    sharer = truth["viral_sharer"].to_numpy()
    assert sharer.sum() > 0
    m = harmful.table("messages")
    media = _col(m, "media")
    fwd = m["forwarded"].to_numpy() & np.isin(media, ["image", "video"]) & (m["dst"].to_numpy() >= 0)
    senders = np.zeros(len(sharer), dtype=bool)
    senders[m["src"].to_numpy()[fwd]] = True
    assert senders[sharer].all(), "every viral sharer forwarded image or video media"


def test_lookalikes_overlap_groomers_on_the_obvious_statistics():
    """Adults who talk with many children reach as many apparent minors as opportunist
    groomers do: the overlap that makes precision hard."""
    from common.observables import account_stats
    from data_gen.simulate import simulate
    from data_gen.tables import interactions

    scn = load_scenario("quick", accounts=30_000)
    scn = scn.model_copy(update={"harm": scn.harm.model_copy(update={"groomer_rate": 0.01})})
    world = simulate(scn, 3)
    s = account_stats(interactions(world))["distinct_apparent_minor_recipients"]
    pop = world.pop
    look = s[pop.role == 6]
    l1 = s[(pop.role == 5) & (pop.sophistication == 1)]
    assert len(look) > 20 and len(l1) > 20
    assert np.median(look) >= np.percentile(l1, 25)
    assert np.percentile(look, 90) >= np.median(l1)
