"""Actor registry: the roles layered on the benign platform, in a fixed order.

The order fixes the random streams, so appending an actor changes datasets (bump the
generator version) but never reorders existing ones.
"""

from __future__ import annotations

import numpy as np

from data_gen.actors.base import Actor
from data_gen.actors.compromised import Compromised
from data_gen.actors.fake import Fake
from data_gen.actors.groomer import HARM_KINDS, Groomer, HarmRows
from data_gen.actors.lookalikes import ChildContactAdult, TeenCouple
from data_gen.actors.scam import Scam
from data_gen.actors.spam import Spam
from data_gen.config import Scenario
from data_gen.population import ADULT_AGE, Population

# Years: accounts asserting this age or more are the "older adults" scam targets (DEC's scam
# task aims at older adults, Xu et al. 2021; the threshold is arbitrary).
OLDER_ADULT_AGE = 50
ACTORS: tuple[Actor, ...] = (Spam(), Scam(), Fake(), Compromised(), Groomer(), ChildContactAdult(), TeenCouple())
# Look-alikes carry no task: they are benign by definition and never positive.
# viral_sharer is not a role but membership of a cascade (cascade.py); it comes last.
TASKS: tuple[str, ...] = tuple(a.task for a in ACTORS if a.task) + ("viral_sharer",)


def assign_roles(pop: Population, rng: np.random.Generator, scn: Scenario, p: int) -> None:
    """Draw each account's role independently (one categorical draw per account), mark the
    mimic variant, then let each actor rewrite its members' fields."""
    if scn.drift.enabled:
        pop.period[:] = np.where(rng.random(len(pop)) < scn.drift.period2_share, 2, 1)
    rates = np.array([a.rate(scn) for a in ACTORS])
    cdf = np.cumsum(rates)
    u = rng.random(len(pop))
    slot = np.searchsorted(cdf, u, side="right")  # len(ACTORS) means benign
    codes = np.array([a.code for a in ACTORS] + [0], dtype=np.int8)
    pop.role[:] = codes[slot]
    pop.mimic[:] = (pop.role > 0) & (rng.random(len(pop)) < scn.abuse.mimicry_share)
    for actor in ACTORS:
        idx = np.flatnonzero(pop.role == actor.code)
        actor.adjust(pop, idx, rng, scn, p)


def everyday(pop: Population, scn: Scenario) -> np.ndarray:
    out = np.ones(len(pop))
    for actor in ACTORS:
        idx = np.flatnonzero(pop.role == actor.code)
        out[idx] = actor.everyday(pop, idx, scn)
    return out


def accepts_all(pop: Population) -> np.ndarray:
    out = np.zeros(len(pop), dtype=bool)
    for actor in ACTORS:
        if actor.accepts_all:
            out |= pop.role == actor.code
    return out


def extras(pop: Population) -> dict[str, np.ndarray]:
    """Global read-only indexes actors need (built once, shared with workers)."""
    # Children as an offender (or an adult who talks with children) sees them: every account
    # asserting an age under 18. Nobody can tell a real child from a persona or an
    # over-asserting teen, so personas are contacted like the children they claim to be
    # (restricting this to real children would leave personas alone the one group of
    # "children" adults never write to, a tell); harm needs a real child (groomer.py).
    kids = np.flatnonzero(pop.asserted_age < ADULT_AGE).astype(np.int64)
    by_region = kids[np.argsort(pop.region[kids], kind="stable")]
    counts = np.bincount(pop.region[kids], minlength=int(pop.region.max()) + 1)
    last = np.cumsum(counts)
    return {
        "older_adults": np.flatnonzero(pop.asserted_age >= OLDER_ADULT_AGE).astype(np.int64),
        "apparent_minors": kids,
        "apparent_minors_by_region": by_region,
        "apparent_minors_region_first": last - counts,
        "apparent_minors_region_last": last,
    }


def truth_columns(pop: Population) -> dict[str, np.ndarray]:
    return {a.task: pop.role == a.code for a in ACTORS if a.task}


__all__ = ["ACTORS", "HARM_KINDS", "TASKS", "Actor", "HarmRows", "accepts_all", "assign_roles", "everyday", "extras"]
