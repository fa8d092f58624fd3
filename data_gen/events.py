"""Column buffers for the event tables an activity stage produces (generation-index space).

Stages and actors append whole arrays; `build()` concatenates once. Media types are small
integer codes here and become dictionary-encoded strings when written.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

import numpy as np

from common.vocabulary import MEDIA

TEXT, IMAGE, VIDEO, LINK = (MEDIA.index(m) for m in ("text", "image", "video", "link"))
REASONS = ("spam", "scam", "fake", "hacked", "harassment", "other", "child_safety")
NO_GROUP = -1  # group_id of a 1:1 message
NO_DST = -1  # dst of a group message (it goes to the group)
CLOSED_GROUP = -2  # local id of the first closed group founded in a partition (then -3, ...)
# Request acceptance decided by the recipient model, or forced by an actor's script.
DECIDE, REJECT, ACCEPT = -1, 0, 1
# Payload sizes per media type (text, image, video, link): lognormal with these medians in
# bytes (~60 B text, ~150 KB image, ~3 MB video, ~180 B link) and sigmas. Arbitrary: typical
# sizes of compressed mobile media, not a measurement.
MESSAGE_SIZE_MEDIAN = np.array([60.0, 150e3, 3e6, 180.0])
MESSAGE_SIZE_SIGMA = np.array([0.8, 0.6, 0.9, 0.4])


@dataclass
class Table:
    """A set of equal-length columns."""

    def __len__(self) -> int:
        return len(getattr(self, fields(self)[0].name))

    def take(self, idx: np.ndarray):
        return type(self)(**{f.name: getattr(self, f.name)[idx] for f in fields(self)})

    @classmethod
    def concat(cls, parts: list):
        return cls(**{f.name: np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(cls)})


@dataclass
class Requests(Table):
    src: np.ndarray
    dst: np.ndarray
    ts: np.ndarray
    decision: np.ndarray  # int8: DECIDE / REJECT / ACCEPT


@dataclass
class Messages(Table):
    src: np.ndarray
    dst: np.ndarray
    ts: np.ndarray
    size_bytes: np.ndarray
    media: np.ndarray  # int8 code into MEDIA
    group_id: np.ndarray
    forwarded: np.ndarray


@dataclass
class Reports(Table):
    reporter: np.ndarray
    reported: np.ndarray
    ts: np.ndarray
    reason: np.ndarray  # int8 code into REASONS


_EMPTY = {
    Requests: dict(src=np.int64, dst=np.int64, ts=np.int64, decision=np.int8),
    # Messages are the bulk of every dataset: held as int32 while simulating (ids < 2**31
    # and timestamps < 2**31 s by the scenario limits), widened to int64 only on write.
    Messages: dict(
        src=np.int32,
        dst=np.int32,
        ts=np.int32,
        size_bytes=np.int32,
        media=np.int8,
        group_id=np.int32,
        forwarded=bool,
    ),
    Reports: dict(reporter=np.int64, reported=np.int64, ts=np.int64, reason=np.int8),
}


def empty(cls):
    return cls(**{k: np.zeros(0, dtype=t) for k, t in _EMPTY[cls].items()})


def typed(cls, **cols) -> Table:
    """Build a table casting every column to its contract dtype (scalars are broadcast)."""
    n = max((np.size(v) for v in cols.values() if np.ndim(v) > 0), default=1)
    return cls(**{k: np.broadcast_to(np.asarray(cols[k]).astype(t), (n,)).copy() for k, t in _EMPTY[cls].items()})


@dataclass
class EventBuffer:
    requests: list = field(default_factory=list)
    messages: list = field(default_factory=list)
    reports: list = field(default_factory=list)
    harm: list = field(default_factory=list)  # actors.groomer.HarmRows
    # (account, group, joined_ts) memberships of closed groups founded in the window; they get
    # partition-local ids CLOSED_GROUP - k until the assembly numbers them globally.
    members: list = field(default_factory=list)
    closed_groups: int = 0  # partition-local closed groups handed out so far

    def new_closed_groups(self, k: int) -> np.ndarray:
        """Local ids for k new closed groups: CLOSED_GROUP - j, j counting up per partition."""
        ids = CLOSED_GROUP - self.closed_groups - np.arange(k, dtype=np.int64)
        self.closed_groups += k
        return ids

    def build(self) -> tuple[Requests, Messages, Reports]:
        out = []
        for cls, parts in ((Requests, self.requests), (Messages, self.messages), (Reports, self.reports)):
            out.append(cls.concat(parts) if parts else empty(cls))
        return tuple(out)


def message_sizes(rng: np.random.Generator, media: np.ndarray) -> np.ndarray:
    """Payload sizes by media type (lognormal: MESSAGE_SIZE_MEDIAN, MESSAGE_SIZE_SIGMA)."""
    median = MESSAGE_SIZE_MEDIAN[media]
    sigma = MESSAGE_SIZE_SIGMA[media]
    return np.minimum(rng.lognormal(np.log(median), sigma), 2**31 - 1).astype(np.int32)


def direct_messages(rng: np.random.Generator, src, dst, ts, media: np.ndarray, forwarded=False) -> Messages:
    """1:1 messages (no group) with payload sizes drawn for their media types."""
    return typed(
        Messages,
        src=src,
        dst=dst,
        ts=ts,
        size_bytes=message_sizes(rng, media),
        media=media,
        group_id=NO_GROUP,
        forwarded=forwarded,
    )


def draw_media(rng: np.random.Generator, probs: np.ndarray) -> np.ndarray:
    """One media code per row from per-row probabilities (n, 4)."""
    cdf = np.cumsum(probs, axis=1)
    u = rng.random(len(probs)) * cdf[:, -1]
    return (u[:, None] > cdf).sum(axis=1).astype(np.int8)


def draw_media_by(rng: np.random.Generator, table: np.ndarray, cat: np.ndarray) -> np.ndarray:
    """`draw_media(rng, table[cat])` without the (n, 4) arrays: the rows of a category share
    one CDF, so the same floats are compared (the same draws give the same codes)."""
    cdf = np.cumsum(table, axis=1)
    cat = np.asarray(cat, dtype=np.intp)
    u = rng.random(len(cat))
    u *= cdf[:, -1].take(cat)
    media = np.zeros(len(cat), dtype=np.int8)
    for j in range(cdf.shape[1]):
        media += u > cdf[:, j].take(cat)
    return media
