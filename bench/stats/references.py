"""Who each kind of positive is compared with: the matched benign references.

A statistic that separates groomers from *all* other accounts says little: the asserted
age of a child persona (L2/L3) separates it from the adult majority almost perfectly, and
that is the point of the persona, not a flaw of the simulation. The question an auditor
asks is whether an offender is separable from the benign accounts it is trying to look
like, so every groomer level is compared with its **matched reference**:

- L0 (cartoon) and L1 (opportunist) present as adults who reach out to children, so their
  reference is **benign adults who contact apparent minors**: accounts positive for no
  task, true age 18 or over, that sent at least one contact request or 1:1 message to an
  account asserting an age under 18. Parents, relatives, coaches and the benign
  child-contact look-alikes the generator adds all fall here (truth has no look-alike
  column: look-alikes are positive for no task, so they are simply part of benign).
- L2 and L3 (child personas) present as children, so their reference is **benign apparent
  minors**: accounts positive for no task that assert an age under 18 (what the server
  sees, not the true age, because that is what the persona imitates).
- Every task, groomers overall included, is also compared with **benign** (positive for
  no task), the population a platform-wide classifier has to pick positives out of.

Offender and reference are told apart by truth; what is compared is only observable.
The leakage audit (bench.audit.leakage), the separability oracle (bench.audit.separability)
and the ceiling's reconciliation (bench.rare.ceiling_reconcile) all read these comparisons,
so they can never disagree on what "matched" means. It is a statistic of the dataset, below
both the audits and the rare-harm evaluation, so that each can import it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from data_gen.reader import Dataset

BENIGN = "benign"
ADULT_CONTACTS = "benign adults contacting apparent minors"
APPARENT_MINORS = "benign apparent minors"
REFERENCES = {
    BENIGN: "accounts positive for no task",
    ADULT_CONTACTS: "benign, true age >= 18, sent >= 1 contact request or 1:1 message to an account asserting age < 18",
    APPARENT_MINORS: "benign, asserting age < 18",
}
# The reference each groomer level imitates: L0/L1 present as adults, L2/L3 as children.
LEVEL_REFERENCE = (ADULT_CONTACTS, ADULT_CONTACTS, APPARENT_MINORS, APPARENT_MINORS)
LEVELS = 4


@dataclass(frozen=True)
class Comparison:
    """Positives against a reference, as masks over account ids 0..n-1 (disjoint)."""

    name: str  # a task ("spam", "groomer") or a groomer level ("groomer/L2")
    positive: np.ndarray
    reference: np.ndarray
    reference_name: str


def capped(mask: np.ndarray, cap: int, seed: int) -> np.ndarray:
    """`mask` with at most `cap` True entries, kept uniformly at random (seeded)."""
    idx = np.flatnonzero(mask)
    if len(idx) <= cap:
        return mask
    out = np.zeros_like(mask)
    out[np.random.default_rng(seed).choice(idx, size=cap, replace=False)] = True
    return out


def benign_mask(ds: Dataset) -> np.ndarray:
    """Accounts positive for no task (truth)."""
    truth = ds.table("truth", list(ds.tasks))
    out = np.ones(truth.num_rows, dtype=bool)
    for task in ds.tasks:
        out &= ~truth[task].to_numpy(zero_copy_only=False)
    return out


def contacts_apparent_minor(ds: Dataset) -> np.ndarray:
    """Accounts that sent a contact request or a 1:1 message to an account asserting an
    age under 18."""
    n = ds.meta["rows"]["accounts"]
    minor = ds.table("accounts", ["asserted_age"])["asserted_age"].to_numpy() < 18
    out = np.zeros(n, dtype=bool)
    r = ds.table("contact_requests", ["src", "dst"])
    out[r["src"].to_numpy()[minor[r["dst"].to_numpy()]]] = True
    m = ds.table("messages", ["src", "dst"])
    src, dst = m["src"].to_numpy(), m["dst"].to_numpy()
    one = dst >= 0
    out[src[one][minor[dst[one]]]] = True
    return out


def references(ds: Dataset) -> dict[str, np.ndarray]:
    """Every reference of REFERENCES as a mask over account ids."""
    benign = benign_mask(ds)
    true_age = ds.table("truth", ["true_age"])["true_age"].to_numpy()
    apparent = ds.table("accounts", ["asserted_age"])["asserted_age"].to_numpy()
    return {
        BENIGN: benign,
        ADULT_CONTACTS: benign & (true_age >= 18) & contacts_apparent_minor(ds),
        APPARENT_MINORS: benign & (apparent < 18),
    }


def comparisons(ds: Dataset) -> list[Comparison]:
    """Every task against benign, then every groomer level present against its matched
    reference (levels with no groomer are left out)."""
    refs = references(ds)
    truth = ds.table("truth", [*ds.tasks, "sophistication"])
    out = [
        Comparison(task, truth[task].to_numpy(zero_copy_only=False).copy(), refs[BENIGN], BENIGN) for task in ds.tasks
    ]
    if "groomer" in ds.tasks:
        groomer = truth["groomer"].to_numpy(zero_copy_only=False)
        level = truth["sophistication"].to_numpy()
        for lvl in range(LEVELS):
            pos = groomer & (level == lvl)
            if pos.any():
                ref = LEVEL_REFERENCE[lvl]
                out.append(Comparison(f"groomer/L{lvl}", pos, refs[ref], ref))
    return out
