"""Reading and validating a submission directory, completely, before anything is written.

A submission is `submission.yaml` plus either `predictions.csv|parquet` (account_id, task,
split, score, and scenario where the suite has several) or a plugin `path/to/file.py:ClassName`.
Nothing else may be in the directory: a pickle or any other binary blob is refused by
name, and nothing is ever unpickled (the OGB evaluator's rule: validate, then score).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import BaseModel, ConfigDict, Field

from bench.errors import SubmissionError
from bench.leaderboard.suite import Suite, split_ids
from common.files import read_mapping, sha256_file, validate_model

PICKLE_MAGIC = (b"\x80\x02", b"\x80\x03", b"\x80\x04", b"\x80\x05")
README_NAMES = {"README.md", "README.txt", "README"}


class SubmissionMeta(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=80, pattern=r"^[A-Za-z0-9][A-Za-z0-9 ._+()-]*$")
    authors: list[str] = Field(min_length=1)
    description: str = Field(min_length=1)
    link: str = ""
    plugin: str | None = None  # path/to/file.py:ClassName, relative to the submission directory
    suite: str | None = None  # when given, must be the suite it is submitted to
    fingerprints: dict[str, str] | None = None  # when given, must match the suite's datasets


@dataclass
class Submission:
    directory: Path
    meta: SubmissionMeta
    predictions: Path | None
    plugin: tuple[Path, str] | None
    sha256: dict[str, str]  # file name -> hash of every file in the submission


def _is_binary(path: Path) -> bool:
    head = path.read_bytes()[:8192]
    return b"\x00" in head or head.startswith(PICKLE_MAGIC)


def read_submission(directory: Path, suite: Suite) -> Submission:
    d = Path(directory)
    if not d.is_dir():
        raise SubmissionError(f"{d}: not a directory")
    yml = d / "submission.yaml"
    raw = read_mapping(yml, SubmissionError, "a mapping of name, authors, description, link, optional plugin")
    meta = validate_model(SubmissionMeta, raw, yml, SubmissionError)
    if meta.suite is not None and meta.suite != suite.suite:
        raise SubmissionError(f"{yml}: field 'suite': submitted for '{meta.suite}', this is '{suite.suite}'")
    if meta.fingerprints is not None:
        _check_fingerprints(meta.fingerprints, suite, yml)
    plugin = _plugin(meta, d)
    preds = [d / n for n in ("predictions.csv", "predictions.parquet") if (d / n).is_file()]
    if bool(preds) == bool(plugin):
        raise SubmissionError(f"{d}: give exactly one of predictions.csv|parquet or a plugin in submission.yaml")
    if len(preds) > 1:
        raise SubmissionError(f"{d}: both predictions.csv and predictions.parquet; keep one")
    allowed = {"submission.yaml", *README_NAMES, *(p.name for p in preds)}
    files = sorted(p for p in d.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
    for f in files:
        rel = f.relative_to(d).as_posix()
        if f.suffix == ".parquet" and f.name in allowed:
            if f.read_bytes()[:4] != b"PAR1":
                raise SubmissionError(f"{f}: not a parquet file")
            continue
        if _is_binary(f):
            kind = "a pickle" if f.read_bytes()[:2] in PICKLE_MAGIC else "a binary file"
            raise SubmissionError(
                f"{f}: {kind}; submissions hold only text, parquet and Python source (never unpickled)"
            )
        if rel not in allowed and not (plugin and f.suffix == ".py"):
            raise SubmissionError(f"{f}: unexpected file (allowed: submission.yaml, predictions, README, plugin .py)")
    hashes = {f.relative_to(d).as_posix(): sha256_file(f) for f in files}
    return Submission(d, meta, preds[0] if preds else None, plugin, hashes)


def _check_fingerprints(given: dict[str, str], suite: Suite, origin: Path) -> None:
    for name, fp in given.items():
        spec = suite.datasets.get(name)
        if spec is None:
            raise SubmissionError(f"{origin}: field 'fingerprints': unknown dataset '{name}'")
        if spec.fingerprint and not spec.fingerprint.startswith(fp):
            raise SubmissionError(
                f"{origin}: field 'fingerprints.{name}': {fp[:16]} is not the suite's {spec.fingerprint[:16]}"
            )


def _plugin(meta: SubmissionMeta, d: Path) -> tuple[Path, str] | None:
    if meta.plugin is None:
        return None
    path, sep, cls = meta.plugin.partition(":")
    if not sep or not cls.isidentifier() or not path.endswith(".py"):
        raise SubmissionError(f"{d / 'submission.yaml'}: field 'plugin': expected path/to/file.py:ClassName")
    f = (d / path).resolve()
    if not f.is_relative_to(d.resolve()):
        raise SubmissionError(f"{d / 'submission.yaml'}: field 'plugin': {path} is outside the submission")
    if not f.is_file():
        raise SubmissionError(f"{d / 'submission.yaml'}: field 'plugin': {path} not found")
    return f, cls


def read_predictions_file(path: Path) -> pd.DataFrame:
    try:
        if path.suffix == ".parquet":
            return pq.read_table(path).to_pandas()
        return pd.read_csv(path)
    except (pa.ArrowInvalid, OSError, pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
        raise SubmissionError(f"{path}: unreadable ({e})") from None


def validate_predictions(df: pd.DataFrame, suite: Suite, datasets: dict, origin: str) -> dict:
    """Scores per (scenario, task) and part ('val', 'test'), each aligned with the
    scenario's sorted ids of that split, for the scenarios the file scores: a model for one
    harm enters only the scenarios of that harm. A scenario entered must have every
    validation and test id of every one of its tasks exactly once (its thresholds are set on
    the validation split); nothing else may be there. Powered scenarios are measured on the
    suite's evaluation worlds and take a plugin."""
    need = ["account_id", "task", "split", "score"] + (["scenario"] if len(suite.scenarios) > 1 else [])
    missing = [c for c in need if c not in df.columns]
    if missing:
        raise SubmissionError(f"{origin}: missing column(s) {', '.join(missing)} (expected {', '.join(need)})")
    extra = sorted(set(df.columns) - {*need, "scenario"})
    if extra:
        raise SubmissionError(f"{origin}: unexpected column(s) {', '.join(extra)}")
    if "scenario" not in df.columns:
        df = df.assign(scenario=next(iter(suite.scenarios)))
    if not pd.api.types.is_integer_dtype(df["account_id"]):
        raise SubmissionError(f"{origin}: account_id must be integers")
    try:
        score = df["score"].to_numpy(dtype=np.float64)
    except (TypeError, ValueError):
        raise SubmissionError(f"{origin}: score must be numeric") from None
    if not np.isfinite(score).all():
        raise SubmissionError(f"{origin}: score holds NaN or infinite values ({int((~np.isfinite(score)).sum())} rows)")
    sc_col, task_col = df["scenario"].astype(str).to_numpy(), df["task"].astype(str).to_numpy()
    split_col, acc_col = df["split"].astype(str).to_numpy(), df["account_id"].to_numpy()
    unknown = sorted(set(sc_col) - set(suite.scenarios))
    if unknown:
        raise SubmissionError(f"{origin}: unknown scenario(s) {unknown[:5]} (suite has {', '.join(suite.scenarios)})")
    bad_split = sorted(set(split_col) - {"val", "test"})
    if bad_split:
        raise SubmissionError(f"{origin}: column 'split': unknown value(s) {bad_split[:5]} (expected val, test)")
    if pd.DataFrame({"s": sc_col, "t": task_col, "p": split_col, "a": acc_col}).duplicated().any():
        raise SubmissionError(f"{origin}: duplicate (scenario, task, split, account_id) rows")
    entered = [name for name in suite.scenarios if (sc_col == name).any()]
    if not entered:
        raise SubmissionError(f"{origin}: scores no scenario of the suite ({', '.join(suite.scenarios)})")
    out: dict = {}
    for name in entered:
        sc = suite.scenarios[name]
        if sc.design == "powered":
            raise SubmissionError(
                f"{origin}: scenario '{name}' is measured on the suite's evaluation worlds (design: powered); "
                "only a plugin can enter it"
            )
        here = sc_col == name
        bad = sorted(set(task_col[here]) - set(sc.tasks))
        if bad:
            raise SubmissionError(f"{origin}: scenario '{name}': unknown task(s) {bad[:5]} (expected {list(sc.tasks)})")
        ds = datasets[sc.dataset]
        for task in sc.tasks:
            sel = here & (task_col == task)
            out[(name, task)] = {
                split: _aligned(acc_col, score, sel & (split_col == split), split_ids(ds, sc, split),
                                f"{origin}: scenario '{name}', task '{task}', split '{split}'")
                for split in ("val", "test")
            }  # fmt: skip
    return out


def _aligned(acc_col: np.ndarray, score: np.ndarray, sel: np.ndarray, ids: np.ndarray, where: str) -> np.ndarray:
    """The selected rows' scores in the order of `ids`; every id exactly once."""
    acc = acc_col[sel]
    pos = np.searchsorted(ids, acc)
    known = (pos < len(ids)) & (ids[np.minimum(pos, len(ids) - 1)] == acc)
    if not known.all():
        raise SubmissionError(
            f"{where}: {int((~known).sum())} account_id(s) not in that split (e.g. {int(acc[~known][0])})"
        )
    if len(acc) != len(ids):
        raise SubmissionError(f"{where}: scores {len(acc)} of its {len(ids)} accounts")
    s = np.empty(len(ids))
    s[pos] = score[sel]
    return s
