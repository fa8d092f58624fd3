"""The leaderboard: a frozen suite, strict submission validation, re-scorable entries.

suite.py (the frozen datasets, evaluation worlds and scenarios, with their fingerprints),
submission.py (reading and validating a submission directory, never unpickling anything),
harness.py (running a plugin over the suite's seeds and worlds), sandbox.py and landlock.py
(the plugin's own process, confined by Landlock to the model-visible files it is given),
scoring.py (every figure,
from stored scores and the worlds' truth), store.py (predictions stored as ranks),
entries.py (entry files and verify), board.py (show), ceilings.py (the groomer ceiling as
each powered scenario's reference row, and `leaderboard ceiling`), fresh.py (verify
--fresh-seeds, from a secret salt).
"""
