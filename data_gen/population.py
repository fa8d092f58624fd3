"""Population: who is on the platform, and the communities that shape who befriends whom.

Everything is indexed by a generation index `g` (0..N-1, partition-major). Public account
ids are a seeded permutation of `g` applied only when tables are written (see layout.py),
so nothing about a role can be read from an id.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from common.arrays import unique_sorted
from data_gen.config import MAX_ACCOUNT_AGE_DAYS, Scenario
from data_gen.partition import rng_for

# Age bands used for communities and homophily: primary/middle school, high school,
# college, then adult decades. Under-13s are placed with middle schoolers.
BAND_EDGES = np.array([0, 15, 18, 23, 30, 40, 50, 60, 200])
N_BANDS = len(BAND_EDGES) - 1
SCHOOL_BANDS = (0, 1, 2)  # bands whose members attend a school or college
ADULT_BANDS_FROM = 3  # first band of working age (23-29)

# Ages in years. Definitions: the age of majority (under it an account is a minor) and the
# minimum signup age platforms set (COPPA); under-13s are present anyway (config.py).
ADULT_AGE = 18
MIN_SIGNUP_AGE = 13
UNDER13_AGES = (10, 13)  # [low, high) true age of an under-13. Arbitrary.
# Adults: ADULT_AGE + floor(SPAN x Beta(a, b)), ages 18-80 with the mass in the 20s-40s like
# social-platform age pyramids. Arbitrary: shape only.
ADULT_AGE_SPAN = 62
ADULT_AGE_BETA = (1.6, 3.2)
# [low, high) age a minor over-asserts (to unlock adult features), and that an under-13
# asserts (they must lie to sign up). Arbitrary: just past each threshold.
OVER_ASSERT_AGES = (18, 22)
UNDER13_ASSERTED_AGES = (13, 19)
# No account predates its owner's 10th birthday (under-13s sign up too). Arbitrary.
SIGNUP_MIN_AGE = 10
# From this age adults lean to the web client (WEB_FACTOR x population.web_share) and are
# less sociable. Arbitrary: the shape of "older adults use desktops and fewer friends".
OLDER_AGE = 45
OLDER_WEB_FACTOR = 1.8
# Profile completeness, Beta(a, b): new accounts have not filled theirs in yet (mean 0.4:
# the benign look-alike of fakes), established ones mostly have (mean ~0.71). Arbitrary.
NEW_COMPLETENESS_BETA = (2.0, 3.0)
ESTABLISHED_COMPLETENESS_BETA = (5.0, 2.0)
# Log-mean of the lognormal sociability for minors and older adults (adults 0): teens have
# more friends, older adults fewer (Ugander et al. 2011: degree falls with age). New accounts'
# sociability is scaled down (they are still building their network). Arbitrary sizes.
MINOR_SOCIABILITY_MU = 0.25
OLDER_SOCIABILITY_MU = -0.35
NEW_SOCIABILITY_FACTOR = 0.5
# Heavy requesters are this much more (young: bands up to college) or less (older) common
# than activity.heavy_requester_share. Arbitrary: new students and networkers are young.
YOUNG_HEAVY_REQUESTER_FACTOR = 2.0
OLDER_HEAVY_REQUESTER_FACTOR = 0.6
# Dirichlet concentration of region sizes (cities vs towns). Arbitrary: shape only.
REGION_CONCENTRATION = 4.0
# Share of 18-22s in college (the rest work), share of adults under RETIREMENT_AGE who work
# (also sizing workplaces). Arbitrary round figures.
COLLEGE_SHARE = 0.6
EMPLOYED_SHARE = 0.7
RETIREMENT_AGE = 67
# Families: a minor's parent is an adult of PARENT_AGES [low, high] in the same region;
# adults from RELATIVE_MIN_AGE join an existing family as relatives with RELATIVE_SHARE.
# Arbitrary: shape only.
PARENT_AGES = (28, 60)
RELATIVE_MIN_AGE = 40
RELATIVE_SHARE = 0.15
# Accounts sampled once to size communities per band (precision only, not behaviour).
BAND_SHARE_SAMPLE = 200_000


@dataclass
class Population:
    true_age: np.ndarray  # int16
    asserted_age: np.ndarray  # int16
    region: np.ndarray  # int32
    signup_day: np.ndarray  # int32, days relative to the window start (negative = before)
    client: np.ndarray  # int8, 0 app / 1 web
    anonymizer: np.ndarray  # bool
    completeness: np.ndarray  # float32 in [0, 1]
    sociability: np.ndarray  # float32, latent; drives degree and activity volume
    role: np.ndarray  # int8, 0 benign or an actor code
    mimic: np.ndarray  # bool, the actor's hard (benign-mimicking) variant
    heavy_requester: np.ndarray  # bool, benign look-alike of one-to-many requesting
    link_sharer: np.ndarray  # bool, benign look-alike of link spam
    band: np.ndarray  # int8
    school: np.ndarray  # int32, -1 none
    workplace: np.ndarray  # int32, -1 none
    local: np.ndarray  # int32
    family: np.ndarray  # int32, generation index of the family's anchor parent, -1 none
    aux: np.ndarray  # float32, actor-specific parameter (batch id, change point, ...)
    # Keeps a minor's daily schedule: true minors, and offenders living a child persona.
    schedule_minor: np.ndarray  # bool
    sophistication: np.ndarray  # int8, groomer level 0-3, -1 otherwise
    period: np.ndarray  # int8, 1 or 2 (drift cohort)

    def __len__(self) -> int:
        return len(self.true_age)

    @staticmethod
    def concat(parts: list[Population]) -> Population:
        return Population(**{f.name: np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(Population)})


@dataclass(frozen=True)
class Layout:
    """Global, deterministic community geometry derived from the scenario alone."""

    n_regions: int
    region_cdf: np.ndarray
    school_count: np.ndarray  # [region, band] number of schools
    school_offset: np.ndarray  # [region, band] first school id
    work_count: np.ndarray  # [region]
    work_offset: np.ndarray
    local_count: np.ndarray  # [region, band]
    local_offset: np.ndarray


def band_of(age: np.ndarray) -> np.ndarray:
    return (np.searchsorted(BAND_EDGES, age, side="right") - 1).astype(np.int8)


def make_layout(scn: Scenario, seed: int) -> Layout:
    pc, gc = scn.population, scn.graph
    n_regions = max(1, round(scn.accounts / pc.accounts_per_region))
    rng = rng_for(seed, 2**31 - 1, "layout")
    # Regions differ in size (cities vs towns): Dirichlet weights, not uniform.
    weights = rng.dirichlet(np.full(n_regions, REGION_CONCENTRATION))
    band_share = _band_shares(scn)
    per_cell = scn.accounts * weights[:, None] * band_share[None, :]
    school = np.zeros_like(per_cell)
    school[:, SCHOOL_BANDS] = np.maximum(1, np.round(per_cell[:, SCHOOL_BANDS] / gc.school_size))
    school_count = school.astype(np.int64)
    adults = per_cell[:, ADULT_BANDS_FROM:].sum(axis=1)
    work_count = np.maximum(1, np.round(adults * EMPLOYED_SHARE / gc.workplace_size)).astype(np.int64)
    local_count = np.maximum(1, np.round(per_cell / gc.local_group_size)).astype(np.int64)
    return Layout(
        n_regions=n_regions,
        region_cdf=np.cumsum(weights),
        school_count=school_count,
        school_offset=_offsets(school_count),
        work_count=work_count,
        work_offset=_offsets(work_count),
        local_count=local_count,
        local_offset=_offsets(local_count),
    )


def _offsets(counts: np.ndarray) -> np.ndarray:
    flat = counts.ravel()
    return (np.cumsum(flat) - flat).reshape(counts.shape)


def _band_shares(scn: Scenario) -> np.ndarray:
    """Expected share of accounts per age band (for community sizing)."""
    rng = np.random.default_rng(0)  # sizing only: a fixed, config-independent sample
    ages = _draw_true_age(rng, BAND_SHARE_SAMPLE, scn.population.minor_share, scn.population.under13_share)
    return np.bincount(band_of(ages), minlength=N_BANDS) / len(ages)


def _draw_true_age(rng: np.random.Generator, n: int, minor: float, under13: float) -> np.ndarray:
    u = rng.random(n)
    age = ADULT_AGE + np.floor(ADULT_AGE_SPAN * rng.beta(*ADULT_AGE_BETA, n))
    age = np.where(u < minor, rng.integers(MIN_SIGNUP_AGE, ADULT_AGE, n), age)
    age = np.where(u >= 1 - under13, rng.integers(*UNDER13_AGES, n), age)
    return age.astype(np.int16)


def population_partition(scn: Scenario, layout: Layout, seed: int, p: int, lo: int, hi: int) -> Population:
    """Benign attributes and community membership for accounts `lo..hi` (partition p)."""
    rng = rng_for(seed, p, "population")
    n = hi - lo
    pc, ac = scn.population, scn.activity
    true_age = _draw_true_age(rng, n, pc.minor_share, pc.under13_share)
    minor = true_age < ADULT_AGE
    asserted = true_age.astype(np.int16).copy()
    # Minors sometimes over-assert to unlock adult features; under-13s must lie to sign up.
    over = minor & (rng.random(n) < pc.minor_over_assert)
    asserted[over] = rng.integers(*OVER_ASSERT_AGES, over.sum())
    kid = true_age < MIN_SIGNUP_AGE
    asserted[kid] = np.maximum(asserted[kid], rng.integers(*UNDER13_ASSERTED_AGES, kid.sum()))
    region = np.searchsorted(layout.region_cdf, rng.random(n) * layout.region_cdf[-1]).astype(np.int32)
    region = np.minimum(region, layout.n_regions - 1)
    new = rng.random(n) < pc.new_account_share
    # Established accounts are up to ~8 years old, none older than its owner at SIGNUP_MIN_AGE.
    oldest = np.maximum(1, np.minimum(MAX_ACCOUNT_AGE_DAYS, (true_age.astype(np.int32) - SIGNUP_MIN_AGE) * 365))
    signup = -(rng.integers(0, 2**31, n) % oldest).astype(np.int32) - 1
    signup = np.where(new, rng.integers(0, ac.days, n), signup).astype(np.int32)
    older = true_age >= OLDER_AGE
    client = (rng.random(n) < np.where(older, pc.web_share * OLDER_WEB_FACTOR, pc.web_share)).astype(np.int8)
    anonymizer = rng.random(n) < pc.anonymizer_share
    # New accounts have not filled their profile in yet: the benign look-alike of fakes.
    new_c, old_c = rng.beta(*NEW_COMPLETENESS_BETA, n), rng.beta(*ESTABLISHED_COMPLETENESS_BETA, n)
    completeness = np.where(new, new_c, old_c).astype(np.float32)
    soc_mu = np.where(minor, MINOR_SOCIABILITY_MU, np.where(older, OLDER_SOCIABILITY_MU, 0.0))
    sociability = rng.lognormal(soc_mu, scn.graph.degree_sigma, n).astype(np.float32)
    sociability[new] *= NEW_SOCIABILITY_FACTOR
    band = band_of(true_age)
    school, workplace, local = _communities(rng, layout, region, band, true_age)
    zeros8 = np.zeros(n, dtype=np.int8)
    heavy = np.where(band <= SCHOOL_BANDS[-1], YOUNG_HEAVY_REQUESTER_FACTOR, OLDER_HEAVY_REQUESTER_FACTOR)
    heavy_requester = rng.random(n) < ac.heavy_requester_share * heavy
    return Population(
        true_age=true_age,
        asserted_age=asserted,
        region=region,
        signup_day=signup,
        client=client,
        anonymizer=anonymizer,
        completeness=np.round(completeness, 2).astype(np.float32),
        sociability=sociability,
        role=zeros8,
        mimic=np.zeros(n, dtype=bool),
        heavy_requester=heavy_requester,
        link_sharer=rng.random(n) < ac.link_sharer_share,
        band=band,
        school=school,
        workplace=workplace,
        local=local,
        family=_families(rng, true_age, region, lo),
        aux=np.zeros(n, dtype=np.float32),
        schedule_minor=minor.copy(),
        sophistication=np.full(n, -1, dtype=np.int8),
        period=np.ones(n, dtype=np.int8),
    )


def _pick(rng: np.random.Generator, offset: np.ndarray, count: np.ndarray) -> np.ndarray:
    return (offset + np.floor(rng.random(len(offset)) * count)).astype(np.int32)


def _communities(rng, layout: Layout, region, band, true_age):
    n = len(region)
    in_school = band <= 1
    # ~60% of 18-22s are in college; the rest work.
    college = (band == 2) & (rng.random(n) < COLLEGE_SHARE)
    schooled = in_school | college
    school = np.where(
        schooled,
        _pick(rng, layout.school_offset[region, band], layout.school_count[region, band]),
        -1,
    ).astype(np.int32)
    working = (true_age >= ADULT_AGE) & (true_age < RETIREMENT_AGE) & ~college & (rng.random(n) < EMPLOYED_SHARE)
    workplace = np.where(working, _pick(rng, layout.work_offset[region], layout.work_count[region]), -1).astype(
        np.int32
    )
    local = _pick(rng, layout.local_offset[region, band], layout.local_count[region, band])
    return school, workplace, local


def _families(rng, true_age, region, lo: int) -> np.ndarray:
    """Tie minors to a parent (and a few adult relatives) in the same region.

    Families are formed inside the partition; partitions are random samples of the
    population, so this is a sample of real family structure, not an artefact.
    """
    n = len(true_age)
    family = np.full(n, -1, dtype=np.int32)
    parent_ok = (true_age >= PARENT_AGES[0]) & (true_age <= PARENT_AGES[1])
    cand = np.flatnonzero(parent_ok)
    if len(cand) == 0:
        return family
    order = cand[np.argsort(region[cand], kind="stable")]
    cregion = region[order]
    kids = np.flatnonzero(true_age < ADULT_AGE)
    left = np.searchsorted(cregion, region[kids], side="left")
    right = np.searchsorted(cregion, region[kids], side="right")
    has = right > left
    pick = left + np.floor(rng.random(len(kids)) * (right - left)).astype(np.int64)
    parents = order[np.minimum(pick[has], len(order) - 1)]
    family[kids[has]] = parents + lo
    anchors = unique_sorted(parents)
    family[anchors] = anchors + lo
    # Grandparents, aunts and uncles: older adults attached to an existing family.
    rel = np.flatnonzero((true_age >= RELATIVE_MIN_AGE) & (family == -1) & (rng.random(n) < RELATIVE_SHARE))
    if len(anchors) and len(rel):
        family[rel] = anchors[rng.integers(0, len(anchors), len(rel))] + lo
    return family
