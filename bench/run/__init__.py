"""One benchmark run and its kin: the pipeline, analyses, results on disk and in MLflow, seeds, sweeps, the UI."""
