"""Settings every command starts from: run configs (pydantic), where work runs (`--dask`), the dataset cache."""
