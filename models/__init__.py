"""Features and classifiers: DEC and the baselines, behind one protocol (protocol.py).

Reads datasets through the view `data_gen` hands out; knows nothing of `bench`.
"""

from __future__ import annotations

from pathlib import Path

from models.baselines import GbdtRawModel, LogRegModel, RandomModel, RulesModel
from models.dec import DecModel
from models.inputs import ModelInput
from models.protocol import ModelError, check_compatible, check_model_target, load_card, save_model

MODELS = {m.name: m for m in (DecModel, GbdtRawModel, LogRegModel, RulesModel, RandomModel)}


def make_model(name: str):
    if name not in MODELS:
        raise ModelError(f"model '{name}': expected one of {', '.join(MODELS)}")
    return MODELS[name]()


def hyperparameters(name: str) -> dict:
    """The settings a model trains with, flat, for tracking params (MLflow) and reports."""
    from models import baselines, dec

    lgb = {f"lightgbm.{k}": v for k, v in baselines.LGB_PARAMS.items() if k != "verbose"}
    lgb["lightgbm.threads_below_50k_rows"] = 1
    table = {
        "dec": {"stage1.hidden": "-".join(map(str, dec.HIDDEN)), "stage1.epochs": dec.EPOCHS,
                "stage1.batch": dec.BATCH, "stage1.optimiser": "adam lr 1e-3 wd 1e-5", **lgb},
        "gbdt-raw": lgb,
        "logreg": {"C": 0.1, "class_weight": "balanced", "features": "standardised log1p"},
        "rules": {"score": "weak rules fired positive"},
        "random": {"score": "uniform"},
    }  # fmt: skip
    if name not in table:
        raise ModelError(f"model '{name}': expected one of {', '.join(MODELS)}")
    return table[name]


def load_model(path: Path, data: ModelInput):
    """A saved model, checked against the data it is about to score."""
    card = load_card(path)
    if card["model"] not in MODELS:
        raise ModelError(f"{Path(path) / 'model.json'}: unknown model '{card['model']}'")
    check_compatible(card, data, Path(path))
    try:
        return MODELS[card["model"]].from_state(card["state"], Path(path)), card
    except ModelError:
        raise
    except Exception as e:  # noqa: BLE001 - any parser's failure on a verified file: the model is unreadable
        raise ModelError(f"{path}: the model cannot be read ({type(e).__name__}: {str(e)[:200]})") from None


__all__ = [
    "MODELS",
    "ModelError",
    "ModelInput",
    "check_model_target",
    "hyperparameters",
    "load_card",
    "load_model",
    "make_model",
    "save_model",
]
