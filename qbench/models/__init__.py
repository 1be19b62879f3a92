"""Models by name: ``get_model('qnn', depth=6)`` or ``get_model('mlp', hidden=(16, 4))``.

The registry names each model's module instead of importing it, so that listing names (``qbench
list``, argument checks) does not start TensorFlow.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from qbench.errors import QbenchError

if TYPE_CHECKING:
    from qbench.models.base import BinaryModel

_MODEL_PATHS: dict[str, tuple[str, str]] = {"qnn": ("qbench.models.qnn", "QNN"), "mlp": ("qbench.models.mlp", "MLP")}
_LAZY = {"BinaryModel": ("qbench.models.base", "BinaryModel"), "bce_with_logits": ("qbench.models.base", "bce_with_logits"),
         "QNN": _MODEL_PATHS["qnn"], "MLP": _MODEL_PATHS["mlp"]}


def list_models() -> list[str]:
    return sorted(_MODEL_PATHS)


def model_class(name: str) -> type[BinaryModel]:
    if name not in _MODEL_PATHS:
        raise QbenchError(f"unknown model {name!r}; known: {', '.join(list_models())}")
    module, attr = _MODEL_PATHS[name]
    return getattr(importlib.import_module(module), attr)


def get_model(name: str, **hyperparameters: Any) -> BinaryModel:
    return model_class(name)(**hyperparameters)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module), attr)
    if name == "MODELS":
        return {n: model_class(n) for n in list_models()}
    raise AttributeError(f"module 'qbench.models' has no attribute {name!r}")


__all__ = ["BinaryModel", "MLP", "QNN", "get_model", "list_models", "model_class", "bce_with_logits"]
