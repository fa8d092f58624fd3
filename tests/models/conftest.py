"""Fixtures the feature tests share: the small dataset's full view and its raw block."""

import pytest

from models.features import raw_features


@pytest.fixture(scope="module")
def full(small):
    return small.view("full")


@pytest.fixture(scope="module")
def raw(full):
    return raw_features(full)
