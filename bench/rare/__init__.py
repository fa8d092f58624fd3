"""Rare-harm evaluation: the powered case-control design, its worlds, label budgets, detection before harm."""
