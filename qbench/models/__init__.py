"""Models by name: ``get_model('qnn', depth=6)`` or ``get_model('mlp', hidden=(16, 4))``."""

from __future__ import annotations

from typing import Any

from qbench.errors import QbenchError
from qbench.models.base import BinaryModel, bce_with_logits
from qbench.models.mlp import MLP
from qbench.models.qnn import QNN

MODELS: dict[str, type[BinaryModel]] = {"qnn": QNN, "mlp": MLP}


def list_models() -> list[str]:
    return sorted(MODELS)


def get_model(name: str, **hyperparameters: Any) -> BinaryModel:
    if name not in MODELS:
        raise QbenchError(f"unknown model {name!r}; known: {', '.join(list_models())}")
    return MODELS[name](**hyperparameters)


__all__ = ["BinaryModel", "MLP", "QNN", "get_model", "list_models", "bce_with_logits"]
