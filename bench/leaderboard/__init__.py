"""The leaderboard: a frozen suite, strict submission validation, re-scorable entries.

suite.py (the frozen scenarios and their dataset fingerprints), submission.py (reading and
validating a submission directory, never unpickling anything), harness.py (running a model
over the suite's seeds), entries.py (entry files, re-scoring, verify, show).
"""
