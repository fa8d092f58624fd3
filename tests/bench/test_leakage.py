"""No single observable statistic may separate a task almost perfectly (L0 groomers excepted)."""

import pytest

from bench.leakage import single_stat_auroc

pytestmark = pytest.mark.slow  # a 40K-account dataset at groomer rate 1e-2

NEAR_PERFECT = 0.95
EASY_BY_DESIGN = {"groomer/L0"}  # the cartoon offender (paper 8.1.1) is meant to be easy


def test_no_single_statistic_separates_a_task(harmful):
    report = single_stat_auroc(harmful)
    assert set(harmful.tasks) <= set(report)
    for task, rows in report.items():
        assert rows, task
        name, auc = rows[0]
        if task in EASY_BY_DESIGN:
            continue
        assert auc < NEAR_PERFECT, f"{task}: '{name}' alone reaches AUROC {auc:.3f}"
        # ... but the tasks are not invisible either: something carries signal.
        assert auc > 0.7, f"{task}: no statistic carries signal (best {name} {auc:.3f})"


def test_cartoon_groomers_are_easy(harmful):
    """Documented, not hoped for: L0 sends ~100 requests to children, ~95% rejected."""
    name, auc = single_stat_auroc(harmful)["groomer/L0"][0]
    assert auc > 0.95, (name, auc)


def test_auroc_is_orientation_free(medium):
    for rows in single_stat_auroc(medium).values():
        assert all(0.5 <= a <= 1.0 for _, a in rows)
