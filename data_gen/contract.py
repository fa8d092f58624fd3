"""The dataset contract: which files a dataset holds, their columns and Arrow types.

Written by the generator, checked by `lowbase inspect` and by the dataset reader, so the
two sides can never disagree. Timestamps are seconds since the window start (int64); ids
are int64. A 1:1 message has group_id -1; a group message has dst -1.
"""

from __future__ import annotations

import hashlib
import json

import pyarrow as pa

DICT_STR = pa.dictionary(pa.int8(), pa.string())

SCHEMAS: dict[str, pa.Schema] = {
    "accounts": pa.schema(
        [
            ("account_id", pa.int64()),
            ("signup_day", pa.int32()),
            ("asserted_age", pa.int16()),
            ("region", pa.int32()),
            ("client", DICT_STR),
            ("anonymizer", pa.bool_()),
            ("profile_completeness", pa.float32()),
        ]
    ),
    "friendships": pa.schema([("src", pa.int64()), ("dst", pa.int64()), ("day", pa.int32())]),
    "contact_requests": pa.schema(
        [
            ("src", pa.int64()),
            ("dst", pa.int64()),
            ("ts", pa.int64()),
            ("accepted", pa.bool_()),
        ]
    ),
    "messages": pa.schema(
        [
            ("src", pa.int64()),
            ("dst", pa.int64()),
            ("ts", pa.int64()),
            ("size_bytes", pa.int32()),
            ("media", DICT_STR),
            ("group_id", pa.int64()),
            ("forwarded", pa.bool_()),
        ]
    ),
    "groups": pa.schema([("group_id", pa.int64()), ("created_ts", pa.int64())]),
    "group_members": pa.schema(
        [
            ("group_id", pa.int64()),
            ("account_id", pa.int64()),
            ("joined_ts", pa.int64()),
        ]
    ),
    "reports": pa.schema(
        [
            ("reporter", pa.int64()),
            ("reported", pa.int64()),
            ("ts", pa.int64()),
            ("reason", DICT_STR),
        ]
    ),
    "truth": None,  # built from the task list, see truth_schema()
    "harm_events": pa.schema(
        [
            ("offender", pa.int64()),
            ("victim", pa.int64()),
            ("ts", pa.int64()),
            ("kind", DICT_STR),
        ]
    ),
    "weak_labels": pa.schema(
        [
            ("account_id", pa.int64()),
            ("task", DICT_STR),
            ("label", pa.int8()),
            ("source", DICT_STR),
        ]
    ),
    "human_labels": pa.schema(
        [
            ("account_id", pa.int64()),
            ("task", DICT_STR),
            ("label", pa.int8()),
            ("source", DICT_STR),
        ]
    ),
    "splits": pa.schema([("account_id", pa.int64()), ("split", DICT_STR), ("period", pa.int8())]),
}

# The column each table is sorted by (rows are ordered by id or time, never by how or by
# whom they were made). Written with delta encoding, which suits sorted integers.
SORT_COLUMN = {
    "accounts": "account_id",
    "friendships": "src",
    "contact_requests": "ts",
    "messages": "ts",
    "groups": "group_id",
    "group_members": "group_id",
    "reports": "ts",
    "truth": "account_id",
    "harm_events": "ts",
    "weak_labels": "account_id",
    "human_labels": "account_id",
    "splits": "account_id",
}

# Tables a model may read; everything else is for evaluation only.
OBSERVABLE = (
    "accounts",
    "friendships",
    "contact_requests",
    "messages",
    "groups",
    "group_members",
    "reports",
    "weak_labels",
    "human_labels",
    "splits",
)
EVALUATION = ("truth", "harm_events")
TABLES = tuple(SCHEMAS)


def truth_schema(tasks: tuple[str, ...]) -> pa.Schema:
    return pa.schema(
        [("account_id", pa.int64()), ("true_age", pa.int16())]
        + [(t, pa.bool_()) for t in tasks]
        + [("sophistication", pa.int8()), ("is_victim", pa.bool_())]
    )


def schema_for(table: str, tasks: tuple[str, ...]) -> pa.Schema:
    return truth_schema(tasks) if table == "truth" else SCHEMAS[table]


# ---------------------------------------------------------------- the card's seal

SEAL = "card"  # the key of dataset.json holding the seal of every other field


def json_digest(value) -> str:
    """SHA-256 of a JSON value in one canonical form (sorted keys, no spaces): the same
    value gives the same digest before writing and after reading dataset.json back."""
    return hashlib.sha256(json.dumps(value, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def seal_card(meta: dict) -> dict:
    """The card with its seal: a digest per field (so an edit can be named) and one over
    the whole card, the file hashes and fingerprint included. The fingerprint names the
    data bytes; the seal makes the card's meaning (generator, scenario, seed, rows, realised
    rates, positives) part of what is checked, so an edited seed or rate cannot pass for the
    world the fingerprint names."""
    body = {k: v for k, v in meta.items() if k != SEAL}
    return {**body, SEAL: {"fields": {k: json_digest(v) for k, v in sorted(body.items())}, "sha256": json_digest(body)}}


def check_card(meta: dict, where: str) -> None:
    """Refuse a card whose fields do not match its seal, naming the field: edited, added or
    removed. A card written before seals existed is refused with the way out."""
    seal = meta.get(SEAL)
    if not isinstance(seal, dict) or not isinstance(seal.get("fields"), dict):
        raise ValueError(f"{where}: the card has no seal (written by an earlier lowbase): generate the dataset again")
    body = {k: v for k, v in meta.items() if k != SEAL}
    fields = seal["fields"]
    for name in sorted(set(body) | set(fields)):
        if name not in fields:
            raise ValueError(f"{where}: field '{name}' is not in the card's seal (added after writing)")
        if name not in body:
            raise ValueError(f"{where}: field '{name}' is sealed but missing (removed after writing)")
        if json_digest(body[name]) != fields[name]:
            raise ValueError(f"{where}: field '{name}' does not match the card's seal (edited after writing)")
    if json_digest(body) != seal.get("sha256"):
        raise ValueError(f"{where}: the card's seal does not match its fields (the seal was edited)")
