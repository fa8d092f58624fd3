"""Detection before harm, measured where it can be and controlled by tasks that should pass it
(paper 7.2.7; docs/design.md "Evaluation design for rare harms").

A model trained on the whole window scores an *enriched* world (hundreds of offenders with
harm events, so the share has an interval of about +-0.1) as of each checkpoint. The
threshold at a checkpoint is the one valid at that time: set at a false-positive budget on
the validation split of the *training* world scored as of the same day, so a model that
reads a shorter window no differently simply flags fewer accounts, and no threshold is ever
set on the world it grades.

The same analysis runs for spam and scam as positive controls: their harm is each message
an abuser sends (the recipient gets the spam or the scam), most of it after the first days
of activity, so a classifier that finds them early prevents most of it. "Spam is caught
before it does damage, grooming is not" is then a measured contrast, not an assumption.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from bench.results import ShareRecord, TimelyRecord
from bench.stats.accounts import scores_by_account
from bench.stats.detection import detection_before_harm, first_flag_times
from bench.stats.intervals import wilson_share
from bench.stats.rates import fpr_threshold
from common.vocabulary import DAY, SOPHISTICATION_LEVELS
from data_gen.reader import Dataset
from models.inputs import ModelInput

CONTROL_TASKS = ("spam", "scam")  # prevalent abuse whose harm is its own messages
HARM = {
    "groomer": "harm events of the world (image exchange, repeated images)",
    "spam": "every message a spam account sends",
    "scam": "every message a scam account sends",
}


def checkpoint_days(days: int, every: int) -> list[int]:
    """Days at which to score: every `every` days, and the window's last day."""
    cps = list(range(every, days + 1, every))
    return cps if cps and cps[-1] == days else [*cps, days]


def harm_events(ds: Dataset, task: str, positives: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(offender, ts) of each harm event of `task`: the world's harm events for groomers;
    for spam and scam, every message sent by an account of the task (`positives`: bool per
    account id)."""
    if task == "groomer":
        t = ds.table("harm_events", ["offender", "ts"])
        return t["offender"].to_numpy(), t["ts"].to_numpy()
    t = ds.table("messages", ["src", "ts"])
    src = t["src"].to_numpy()
    keep = positives[src]
    return src[keep], t["ts"].to_numpy()[keep]


def timely_detection(
    model,
    train: Dataset,
    world: Dataset,
    visibility: str,
    every: int,
    tasks: tuple[str, ...] = ("groomer", *CONTROL_TASKS),
    fpr_budget: float = 1e-3,
    step: Callable[[str], None] = lambda _: None,
    seed: int = 0,
    train_final: dict[str, np.ndarray] | None = None,
    world_final: dict[str, np.ndarray] | None = None,
) -> dict[str, TimelyRecord]:
    """Per task, the share of harm events on `world` preceded by their offender crossing the
    checkpoint's threshold (`bench.stats.detection.detection_before_harm`, events of one offender
    resampled together). `train_final`: the model's scores of the training world on the
    whole window, when already computed; `world_final`: the same for `world`."""
    if world.meta["fingerprint"] == train.meta["fingerprint"]:
        raise ValueError("timely_detection: the world scored is the training world its thresholds come from")
    days = train.meta["scenario"]["activity"]["days"]
    cps = checkpoint_days(days, every)
    tasks = tuple(t for t in tasks if t in train.tasks)
    val = _val_negatives(train, tasks)
    scores: dict[str, list] = {t: [] for t in tasks}
    thresholds: dict[str, list] = {t: [] for t in tasks}
    for d in cps:
        step(f"detection before harm: scoring as of day {d} ({len(cps)} checkpoints)")
        as_of = None if d == days else d * DAY
        if as_of is None and train_final is not None:
            at_train = train_final
        else:
            at_train = _scores(model, ModelInput(train.view(visibility), as_of=as_of), tasks)
        if as_of is None and world_final is not None:
            at_world = world_final
        else:
            at_world = _scores(model, ModelInput(world.view(visibility), as_of=as_of), tasks)
        for t in tasks:
            thresholds[t].append(fpr_threshold(at_train[t][val[t]], fpr_budget))
            scores[t].append(at_world[t])
    truth = world.truth_by_id(*tasks, "sophistication")
    out = {}
    for t in tasks:
        level = truth["sophistication"] if t == "groomer" else None
        out[t] = _timeline(world, t, truth[t].astype(bool), cps, scores[t], thresholds[t], fpr_budget, seed, level)
    return out


def _val_negatives(train: Dataset, tasks) -> dict[str, np.ndarray]:
    """Validation-split negatives of each task, per account id (truth: the benchmark's own
    split, which no model trains on)."""
    val = train.split_mask("val")
    truth = train.truth_by_id(*tasks)
    return {task: val & ~truth[task].astype(bool) for task in tasks}


def _scores(model, data: ModelInput, tasks) -> dict[str, np.ndarray]:
    return scores_by_account(model.predict_scores(data), tasks, data.n)


def _timeline(world, task, positive, cps, scores, thresholds, budget, seed, level=None) -> TimelyRecord:
    """First flag per account against each checkpoint's own threshold, then the share of
    harm events that came after it; per offender level too when `level` (per account id)
    is given, since harm events are not spread evenly over the levels."""
    hit = np.vstack(scores) >= np.asarray(thresholds)[:, None]
    cp_ts = np.asarray(cps, dtype=np.float64) * DAY
    first = first_flag_times(cp_ts, hit.astype(np.float64), 1.0)
    offender, ts = harm_events(world, task, positive)
    tl = detection_before_harm(offender, ts, first, cp_ts, seed=seed)
    return TimelyRecord(
        fpr_budget=budget,
        world=world.meta["fingerprint"],
        checkpoint_days=cps,
        thresholds=[float(x) for x in thresholds],
        fpr_by=[float(x) for x in hit[:, ~positive].mean(axis=1)] if (~positive).any() else [],
        share=ShareRecord.model_validate(tl.share),
        ci_by_offender=tl.ci_by_offender,
        harm_share_by=tl.harm_share_by,
        flagged_before_harm_by=tl.flagged_before_harm_by,
        offenders=int(positive.sum()),
        offenders_with_harm=int(len(np.unique(offender))),
        harm_events=int(len(offender)),
        flagged_by_end=int(np.isfinite(first[positive]).sum()),
        harm=HARM[task],
        by_level={} if level is None else _by_level(offender, ts, first, level),
    )


def _by_level(offender, ts, first, level) -> dict[str, ShareRecord]:
    before = first[offender] < ts
    lv = level[offender]
    return {
        name: ShareRecord.model_validate(wilson_share(int(before[lv == i].sum()), int((lv == i).sum())))
        for i, name in enumerate(SOPHISTICATION_LEVELS)
    }
