"""Plumbing every layer may import: atomic files, hashing, strict JSON, mapping files,
the shared vocabulary of the dataset, array helpers and the memory policy.

It sits below `data_gen`, `models` and `bench` and imports none of them, so the generator
does not become the utility library of its consumers.
"""
