"""Names and units shared by the generator, the models and the benchmark.

One definition each, so a table written by `data_gen` and a feature or analysis that reads
it cannot drift apart.
"""

from __future__ import annotations

DAY = 86_400  # seconds; every timestamp in a dataset is seconds from the window's start
HOUR = 3_600

SPLITS: tuple[str, ...] = ("train", "val", "test")
MEDIA: tuple[str, ...] = ("text", "image", "video", "link")  # message media types
# Groomer sophistication (docs/design.md "Harm actors"): cartoon, opportunist, persona, competent.
SOPHISTICATION_LEVELS: tuple[str, ...] = ("L0", "L1", "L2", "L3")
