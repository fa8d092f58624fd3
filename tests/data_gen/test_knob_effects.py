"""Each per-level groomer knob changes the behaviour it names (config.HarmConfig).

tests/data_gen/test_knobs.py checks that a knob moves the bytes; this file checks that it
moves the right thing, measured on the dataset's tables as any analysis would read them.
Worlds are small (6K accounts at the top groomer rate, ~60 offenders, all of the level under
test) and kept in memory. Where a knob is compared at two values, both worlds share the
seed: everything drawn before the knob acts is the same, so the comparison is paired.
These are mechanics, not detection outcomes.
"""

from __future__ import annotations

import json
from functools import cache

import numpy as np
import pyarrow.compute as pc
import pytest
import scipy.sparse as sp

from common.vocabulary import DAY, HOUR
from data_gen.config import Scenario, scenario_from_dict
from data_gen.generate import generate_in_memory
from data_gen.reader import Dataset
from data_gen.simulate import population
from data_gen.tables import Ids

ACCOUNTS = 6000
DEFAULT = Scenario().harm


def _levels(field: str, level: int, value) -> list:
    """The default four values of `field` with `level`'s replaced by `value`."""
    out = list(getattr(DEFAULT, field))
    out[level] = value
    return out


def _scenario(level: int, harm: dict, everyday: float, regions: int = 1) -> Scenario:
    """Every offender at `level`; `everyday` of that level 0 keeps the offender's own
    benign life (conversations with friends, who are children for a persona) out of what
    is counted, so only the grooming traffic is measured. `regions`: how many regions the
    accounts live in (one at this size by default)."""
    mix = [0.0] * 4
    mix[level] = 1.0
    h = {
        "groomer_rate": 0.01,
        "sophistication_mix": mix,
        "persona_everyday": _levels("persona_everyday", level, everyday),
        **harm,
    }
    data = {"accounts": ACCOUNTS, "partition_size": 2000, "harm": h}
    if regions > 1:
        data["population"] = {"accounts_per_region": ACCOUNTS // regions}
    return scenario_from_dict(data, "test_knob_effects")


@cache
def _world_cached(level: int, harm_json: str, seed: int, everyday: float, regions: int) -> Dataset:
    return generate_in_memory(_scenario(level, json.loads(harm_json), everyday, regions), seed=seed)


def world(level: int, harm: dict | None = None, seed: int = 0, everyday: float = 0.0, regions: int = 1) -> Dataset:
    return _world_cached(level, json.dumps(harm or {}, sort_keys=True), seed, everyday, regions)


def _strings(t, name: str) -> np.ndarray:
    return np.asarray(pc.cast(t[name], "string").to_pylist())


def _apparent_minors(ds: Dataset) -> np.ndarray:
    """Accounts asserting an age under 18 that are not offenders, by account id."""
    acc = ds.table("accounts", ["account_id", "asserted_age"])
    asserted = np.zeros(acc.num_rows, np.int64)
    asserted[acc["account_id"].to_numpy()] = acc["asserted_age"].to_numpy()
    return (asserted < 18) & ~ds.truth_by_id("groomer")["groomer"]


def contacted_pairs(ds: Dataset) -> tuple[np.ndarray, np.ndarray]:
    """Distinct (offender, apparent minor) pairs with a contact request or a 1:1 message from
    the offender: the children each offender reached out to."""
    n = ds.meta["rows"]["accounts"]
    groomer, kid = ds.truth_by_id("groomer")["groomer"], _apparent_minors(ds)
    r, m = ds.table("contact_requests", ["src", "dst"]), ds.table("messages", ["src", "dst"])
    src = np.concatenate([r["src"].to_numpy(), m["src"].to_numpy()])
    dst = np.concatenate([r["dst"].to_numpy(), m["dst"].to_numpy()])
    sel = (src >= 0) & (dst >= 0)  # group messages have dst -1
    src, dst = src[sel], dst[sel]
    sel = groomer[src] & kid[dst]
    key = np.unique(src[sel] * n + dst[sel])
    return key // n, key % n


def _offenders(ds: Dataset, level: int) -> np.ndarray:
    return np.flatnonzero(ds.truth_by_id("sophistication")["sophistication"] == level)


# -- how many children ---------------------------------------------------------------------


@pytest.mark.parametrize("level, seed", [(0, 0), (1, 0), (1, 1)])
def test_halving_targets_median_halves_first_contacts(level, seed):
    """First contacts per offender at half the median over those at the default. Paired
    worlds draw the same lognormal normals, so the count per offender halves before rounding
    (at least one target, whole numbers) and repeated targets collapse; +-0.15 around 0.5
    is far wider than those effects (~0.52 measured) and than binomial noise on ~600 or
    more pairs, yet excludes 'unchanged' (1.0) and 'quartered' (0.25)."""
    half = [m / 2 for m in DEFAULT.targets_median]
    base, moved = world(level, seed=seed), world(level, {"targets_median": half}, seed=seed)
    n_off = len(_offenders(base, level))
    assert n_off >= 40 and len(_offenders(moved, level)) == n_off  # same offenders
    full, halved = len(contacted_pairs(base)[0]), len(contacted_pairs(moved)[0])
    assert full / n_off > 0.5 * DEFAULT.targets_median[level]  # contacts are there to count
    assert abs(halved / full - 0.5) <= 0.15, (full, halved)


# -- rapport -------------------------------------------------------------------------------


def first_contact_to_harm_hours(ds: Dataset) -> np.ndarray:
    """Per image-exchange harm event: hours from the pair's first interaction (a request or
    a 1:1 message, either way) to the event."""
    n = ds.meta["rows"]["accounts"]
    h = ds.table("harm_events")
    first = _strings(h, "kind") == "image_exchange"
    off, vic, ts = (h[c].to_numpy()[first] for c in ("offender", "victim", "ts"))
    r, m = ds.table("contact_requests", ["src", "dst", "ts"]), ds.table("messages", ["src", "dst", "ts"])
    src = np.concatenate([r["src"].to_numpy(), m["src"].to_numpy()])
    dst = np.concatenate([r["dst"].to_numpy(), m["dst"].to_numpy()])
    t = np.concatenate([r["ts"].to_numpy(), m["ts"].to_numpy()])
    ok = (src >= 0) & (dst >= 0)
    pair = np.minimum(src[ok], dst[ok]) * n + np.maximum(src[ok], dst[ok])
    t = t[ok]
    order = np.lexsort((t, pair))
    pair, t = pair[order], t[order]
    at = np.searchsorted(pair, np.minimum(off, vic) * n + np.maximum(off, vic))
    return (ts - t[at]) / HOUR


def test_longer_rapport_hours_lengthen_first_contact_to_harm():
    """L2 at 24 h and at 240 h of rapport (a lognormal median): the median time from first
    contact to the image follows the knob (within a factor of two: the day-rhythm shift of
    multi-day rapport and censoring at the window's end move it a little) and is several
    times longer at the longer setting. Every engaged child sends the image here, so the
    medians rest on ~100 events."""
    level = 2
    hours = {}
    for rapport in (24.0, 240.0):
        harm = {
            "rapport_hours": _levels("rapport_hours", level, rapport),
            "image_exchange": 1.0,
            "engage_persona": 1.0,
            "off_platform_before_image": [0.0] * 4,
        }
        x = first_contact_to_harm_hours(world(level, harm))
        assert len(x) >= 50
        hours[rapport] = float(np.median(x))
        assert rapport / 2 <= hours[rapport] <= rapport * 2, (rapport, hours[rapport])
    assert hours[240.0] > 4 * hours[24.0], hours


# -- off-platform --------------------------------------------------------------------------


@pytest.mark.parametrize("level", [1, 2, 3])
def test_off_platform_before_image_one_leaves_no_harm_on_the_platform(level):
    generous = {"image_exchange": 1.0, "engage_cold": 1.0, "engage_persona": 1.0}
    base = world(level, generous)
    moved = world(level, {**generous, "off_platform_before_image": _levels("off_platform_before_image", level, 1.0)})
    assert base.table("harm_events").num_rows > 0, "the default level does harm here"
    assert moved.table("harm_events").num_rows == 0


# -- account age ---------------------------------------------------------------------------


def _signup_days(ds: Dataset, level: int) -> np.ndarray:
    acc = ds.table("accounts", ["account_id", "signup_day"])
    day = np.zeros(acc.num_rows, np.int64)
    day[acc["account_id"].to_numpy()] = acc["signup_day"].to_numpy()
    return day[_offenders(ds, level)]


@pytest.mark.parametrize(
    "level, field, moved",
    [(2, "persona_account_age_days", (1000, 1100)), (3, "competent_account_age_days", (10, 20))],
)
def test_account_age_knobs_set_the_personas_signup_days(level, field, moved):
    """A persona signs up `low` to `high - 1` days before the window: at the default and
    at a range that does not overlap it."""
    for ages, ds in ((getattr(DEFAULT, field), world(level)), (moved, world(level, {field: list(moved)}))):
        day = _signup_days(ds, level)
        assert len(day) >= 40
        assert ((-day >= ages[0]) & (-day < ages[1])).all(), (field, ages, day.min(), day.max())


# -- the offender's circle -----------------------------------------------------------------


def circle_share(ds: Dataset) -> float:
    """Share of contacted children who were already the offender's friends or friends of its
    friends, over friendships formed before the window (those are surely older than the
    contact; the few formed inside it are left out, the same in both worlds compared)."""
    n = ds.meta["rows"]["accounts"]
    f = ds.table("friendships")
    before = f["day"].to_numpy() < 0
    a, b = f["src"].to_numpy()[before], f["dst"].to_numpy()[before]
    adj = sp.csr_matrix((np.ones(2 * len(a)), (np.r_[a, b], np.r_[b, a])), shape=(n, n))
    two = (adj @ adj).tocsr()
    g, v = contacted_pairs(ds)
    near = (np.asarray(adj[g, v]).ravel() > 0) | (np.asarray(two[g, v]).ravel() > 0)
    return float(near.mean())


def test_circle_targets_draw_targets_from_the_offenders_circle():
    """L3 with every target from its circle (the default) against none: a persona living
    in a child community already knows some of the children of its region (0.35-0.45 over
    seeds), its circle a good deal more (0.65-0.77). Each share rests on ~300 pairs
    (standard error ~0.03)."""
    level = 3
    inside = circle_share(world(level))
    outside = circle_share(world(level, {"circle_targets": _levels("circle_targets", level, 0.0)}))
    assert inside > outside + 0.2, (inside, outside)


def test_a_circle_draw_that_finds_no_friend_keeps_the_usual_target():
    """L1 adults have few children around them: asked for circle targets, they still reach
    about as many children (the draw falls back to the regional or platform-wide pool)."""
    level = 1
    usual = len(contacted_pairs(world(level))[0])
    circle = len(contacted_pairs(world(level, {"circle_targets": _levels("circle_targets", level, 1.0)}))[0])
    assert 0.8 <= circle / usual <= 1.2, (usual, circle)


def test_local_targets_keep_targets_in_the_offenders_region():
    """L1 with every target in its own region against none, on six regions: the share of
    contacted children in the offender's region moves from about the region's share of
    children (~1/6 to 1/3: regions differ in size) to 1."""
    level = 1

    def same_region(ds: Dataset) -> float:
        acc = ds.table("accounts", ["account_id", "region"])
        region = np.zeros(acc.num_rows, np.int64)
        region[acc["account_id"].to_numpy()] = acc["region"].to_numpy()
        g, v = contacted_pairs(ds)
        return float((region[g] == region[v]).mean())

    home = same_region(world(level, {"local_targets": _levels("local_targets", level, 1.0)}, regions=6))
    away = same_region(world(level, {"local_targets": _levels("local_targets", level, 0.0)}, regions=6))
    assert home > 0.95 and away < 0.5, (home, away)


# -- mimicry -------------------------------------------------------------------------------


def _school_hours_share(ds: Dataset) -> float:
    """Share of the offenders' weekday 1:1 messages sent 9:00-15:00, when children are at
    school (rhythm.py: a child's weekday curve is low there, an adult's high)."""
    groomer = ds.truth_by_id("groomer")["groomer"]
    m = ds.table("messages", ["src", "dst", "ts"])
    src, dst, ts = m["src"].to_numpy(), m["dst"].to_numpy(), m["ts"].to_numpy()
    mine = (src >= 0) & (dst >= 0)
    mine[mine] = groomer[src[mine]]
    t = ts[mine]
    weekday = (t // DAY) % 7 < 5  # day 0 is a Monday (rhythm.SATURDAY)
    hour = (t[weekday] % DAY) // HOUR
    assert len(hour) >= 300
    return float(((hour >= 9) & (hour < 15)).mean())


@pytest.mark.parametrize("level", [2, 3])
def test_persona_minor_schedule_moves_messages_to_a_childs_hours(level):
    """About a third of an adult's weekday messages fall in school hours, ~5% of a child's."""
    adult = _school_hours_share(world(level, {"persona_minor_schedule": _levels("persona_minor_schedule", level, 0.0)}))
    child = _school_hours_share(world(level, {"persona_minor_schedule": _levels("persona_minor_schedule", level, 1.0)}))
    assert adult > 0.2 and child < 0.12, (adult, child)


def test_persona_family_ties_keep_the_offenders_family_friendships():
    """L1 offenders who keep their family (ties 1) have friendships inside it; at ties 0
    they have none. Both worlds are read against the families of the ties-1 population
    (the same seed gives the same population but for the offenders' family field)."""
    level, seed = 1, 0
    ties = _levels("persona_family_ties", level, 1.0)
    scn = _scenario(level, {"persona_family_ties": ties}, everyday=1.0)
    pop, _ = population(scn, seed)
    offender = pop.role == 5
    kept = (pop.family[offender] >= 0).mean()
    adults = (pop.role == 0) & (pop.true_age >= 25)
    assert kept > 0.5 * (pop.family[adults] >= 0).mean(), "offenders keep their families like other adults"
    family = np.full(ACCOUNTS, -1, np.int64)
    family[Ids.make(ACCOUNTS, seed).perm] = pop.family

    def family_edges(ds: Dataset) -> int:
        groomer = ds.truth_by_id("groomer")["groomer"]
        f = ds.table("friendships", ["src", "dst"])
        a, b = f["src"].to_numpy(), f["dst"].to_numpy()
        return int(((family[a] >= 0) & (family[a] == family[b]) & (groomer[a] | groomer[b])).sum())

    assert family_edges(world(level, {"persona_family_ties": ties}, seed=seed, everyday=1.0)) >= 5
    assert family_edges(world(level, seed=seed, everyday=1.0)) == 0
