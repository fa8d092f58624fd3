"""The dataset contract: which files a dataset holds, their columns and Arrow types.

Written by the generator, checked by `lowbase inspect` and by the dataset reader, so the
two sides can never disagree. Timestamps are seconds since the window start (int64); ids
are int64. A 1:1 message has group_id -1; a group message has dst -1.
"""

from __future__ import annotations

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
