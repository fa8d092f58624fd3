"""The benchmark: everything after the dataset and the models, in layers that import downwards only.

    errors                      every bad-input error (any layer may raise one)
    setup, stats, results       run settings and the dataset cache; statistics over scores; the results schema
    audit, rare, report         dataset audits; the rare-harm (powered) evaluation; the report
    run                         one run: pipeline, analyses, MLflow, seeds, sweeps, the UI
    leaderboard                 frozen suites, submissions, entries
    cli                         the `lowbase` command

`tests/test_architecture.py` enforces the order.
"""
