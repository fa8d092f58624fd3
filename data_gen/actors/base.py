"""The actor interface: a role layered on the benign population.

An actor is a task (a truth column) plus three hooks: how its members' account fields
differ (`adjust`, at population time), how much everyday benign-looking behaviour they keep
(`everyday`), and the events they add during the window (`act`). Each actor has a hard,
benign-mimicking variant (`Population.mimic`), so no single statistic separates a task.
New harms (groomers, viral sharers) slot in as further actors without touching the
benign platform.
"""

from __future__ import annotations

import numpy as np

from data_gen.activity import ActivityState
from data_gen.config import Scenario
from data_gen.events import EventBuffer
from data_gen.population import Population


class Actor:
    code: int
    task: str
    accepts_all = False  # accepts any contact request (fake rings)

    def rate(self, scn: Scenario) -> float:
        raise NotImplementedError

    def adjust(self, pop: Population, idx: np.ndarray, rng: np.random.Generator, scn: Scenario, p: int) -> None:
        """Rewrite account fields of members `idx` (partition-local rows) in place."""

    def everyday(self, pop: Population, idx: np.ndarray, scn: Scenario) -> np.ndarray:
        """Scale of members' ordinary (benign-looking) activity: 1 for people, lower for
        scripted accounts that exist to abuse."""
        return np.ones(len(idx))

    def act(self, st: ActivityState, members: np.ndarray, rng: np.random.Generator, buf: EventBuffer) -> None:
        """Append this actor's events for `members` (generation indices) to `buf`."""


def uniform_others(rng: np.random.Generator, n_total: int, src: np.ndarray) -> np.ndarray:
    """A uniformly random account other than `src` itself, per row."""
    dst = rng.integers(0, n_total - 1, len(src)).astype(np.int64)
    return dst + (dst >= src)


def intensity(rng: np.random.Generator, n: int, sigma: float) -> np.ndarray:
    """Mean-one lognormal factor: how hard each plain actor runs (`abuse.intensity_sigma`)."""
    return rng.lognormal(-0.5 * sigma * sigma, sigma, n)


def per_member(
    rng: np.random.Generator,
    members: np.ndarray,
    mean_plain: float,
    mean_mimic: float,
    mimic: np.ndarray,
    sigma: float = 1.0,
) -> np.ndarray:
    """Repeat each member a Poisson number of times.

    Plain actors differ in intensity (a lognormal factor with mean 1: some run hard, many
    barely), so their volumes reach down into the benign range; mimics stay at benign-like
    volumes throughout."""
    factor = intensity(rng, len(members), sigma)
    return np.repeat(members, rng.poisson(np.where(mimic, mean_mimic, mean_plain * factor)))
