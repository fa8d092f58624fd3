"""Statistics over score arrays: metrics, intervals, rank AUROC, pooled rates and thresholds,
base rate, the scorer, and the matched benign references positives are compared against."""
