"""Audits of a dataset: realism, artefacts, the leakage audit, the separability oracle.

The matched benign references they compare positives against are `bench.stats.references`."""
