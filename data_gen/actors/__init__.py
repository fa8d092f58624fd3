"""Actor registry: the roles layered on the benign platform, in a fixed order.

The order fixes the random streams, so appending an actor changes datasets (bump the
generator version) but never reorders existing ones.
"""

from __future__ import annotations

import numpy as np

from ..config import Scenario
from ..population import Population
from .base import Actor
from .compromised import Compromised
from .fake import Fake
from .scam import Scam
from .spam import Spam

ACTORS: tuple[Actor, ...] = (Spam(), Scam(), Fake(), Compromised())
TASKS: tuple[str, ...] = tuple(a.task for a in ACTORS)


def assign_roles(pop: Population, rng: np.random.Generator, scn: Scenario, p: int) -> None:
    """Draw each account's role independently (one categorical draw per account), mark the
    mimic variant, then let each actor rewrite its members' fields."""
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


def everyday(pop: Population) -> np.ndarray:
    out = np.ones(len(pop))
    for actor in ACTORS:
        idx = np.flatnonzero(pop.role == actor.code)
        out[idx] = actor.everyday(pop.mimic[idx])
    return out


def accepts_all(pop: Population) -> np.ndarray:
    out = np.zeros(len(pop), dtype=bool)
    for actor in ACTORS:
        if actor.accepts_all:
            out |= pop.role == actor.code
    return out


def extras(pop: Population) -> dict[str, np.ndarray]:
    """Global read-only indexes actors need (built once, shared with workers)."""
    return {"older_adults": np.flatnonzero(pop.asserted_age >= 50).astype(np.int64)}


def truth_columns(pop: Population) -> dict[str, np.ndarray]:
    return {a.task: pop.role == a.code for a in ACTORS}
