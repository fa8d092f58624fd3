"""Audits of a dataset: realism, matched benign references, artefacts, the leakage audit, the separability oracle."""
