"""A frontier (`bench.rare.frontier`) in MLflow: one parent run per frontier, a nested child
per strategy, in the experiment `lowbase-frontier` (`bench.run.tracking` opens the store)."""

from __future__ import annotations

from pathlib import Path

from bench.run.tracking import log_batch, setup, store_lock
from common.files import jsonable


def log_frontier(record: dict, figure: Path | None = None) -> str:
    """One parent run in `lowbase-frontier` per frontier (`bench.rare.frontier`): what it was
    computed with as params, the readings as metrics, the record as `frontier.json` and the
    figure when given; one nested child per strategy, named after it, with its labels and
    knobs as params and its figures as metrics (`bench.results.frontier`). Returns the
    parent's id."""
    from bench.results import frontier as fr

    client = setup()
    with store_lock(client.tracking_uri):
        exp_id = client.get_experiment_by_name("lowbase-frontier").experiment_id
        name = f"{record.get('name')}-{record.get('level')}-{record.get('visibility')}-s{record.get('seed')}"
        rid = client.create_run(exp_id, run_name=name, tags=fr.frontier_tags(record)).info.run_id
        try:
            log_batch(client, rid, fr.frontier_metrics(record), fr.frontier_params(record))
            client.log_dict(rid, jsonable(record), "frontier.json")
            if figure is not None and Path(figure).is_file():
                client.log_artifact(rid, str(figure))
            for s in record.get("strategies", []):
                tags = {"mlflow.parentRunId": rid, "lowbase.default": str(bool(s.get("default"))).lower()}
                child = client.create_run(exp_id, run_name=str(s.get("name")), tags=tags).info.run_id
                log_batch(client, child, fr.strategy_metrics(s), fr.strategy_params(s))
                client.set_terminated(child, "FINISHED")
            client.set_terminated(rid, "FINISHED")
        except BaseException:
            client.set_terminated(rid, "FAILED")
            raise
    return rid
