"""Models by name: ``get_model('qnn', depth=6)`` or ``get_model('mlp', hidden=(16, 4))``.

Each model registers once (:func:`register_model`, a :class:`ModelInfo`): where its class lives, its
title and order in reports, and optionally a training recipe and size per task family (for families
that do not list the model themselves). The registry names each built-in model's module instead of
importing it, so that listing names (``qbench list``, argument checks) does not start TensorFlow.
A model from outside the package is a :class:`ModelInfo` (with ``cls``) named as ``module:attribute``
or by an entry point of the group ``qbench.models`` (one :class:`qbench.registry.Registry`).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Mapping

from qbench.errors import QbenchError
from qbench.models import param_counts
from qbench.recipe import TrainConfig
from qbench.registry import Registry

if TYPE_CHECKING:
    from qbench.models.base import BinaryModel

@dataclass(frozen=True)
class ModelInfo:
    """What qbench knows about a model, registered once."""

    name: str
    #: 'module:attribute' of the class (imported only when a model is built), or the class itself (``cls``)
    path: str = ""
    cls: type | None = None
    #: its name in figures ("QNN")
    title: str = ""
    #: its place in tables and figures (smaller first)
    order: int = 9
    #: training recipe per task family, for families that do not register one for this model
    train: Mapping[str, TrainConfig] = field(default_factory=dict)
    #: constructor options per task family (its size), likewise
    model_size: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    #: rough cost of one of its units against an MLP unit; executors start the costliest batches
    #: first (scheduling only, never a number in a record)
    relative_cost: float = 1.0
    #: a control (PROTOCOL 2.4): suites plan it only where it is named (``--model``), never by default
    control: bool = False
    #: train with the recipe (PROTOCOL 2.3) the task registers for this model (a control's reference)
    recipe_of: str = ""
    #: ``count(size, n_amplitudes, complex_input)``: its trainable parameter count on a task's input,
    #: without building it (``qbench list models``); None: not known without building
    count: Callable[[Mapping[str, Any], int, bool], int] | None = None
    #: its constructor options as ``qbench list`` shows them: name -> default and what else it takes (text)
    options: Mapping[str, str] = field(default_factory=dict)


def _check_info(obj: object, name: str, where: str) -> ModelInfo:
    if not isinstance(obj, ModelInfo) or (obj.cls is None and not obj.path):
        raise QbenchError(f"model {name!r} is not a qbench.models.ModelInfo with a class (cls or path)")
    if obj.name in MODELS.builtins():
        raise QbenchError(f"model {name!r}: its name {obj.name!r} clashes with the built-in model {obj.name!r}; rename it")
    return obj


MODELS: Registry[ModelInfo] = Registry("models", "model", check=_check_info)
ENTRY_POINT_GROUP = MODELS.group


def register_model(info: ModelInfo) -> ModelInfo:
    """Register a built-in model under ``info.name``."""
    return MODELS.add(info.name, info)


# a QNN unit compiles XLA circuits (tens of seconds) and steps a state vector, where an MLP unit takes
# seconds (README, Performance)
register_model(ModelInfo("qnn", "qbench.models.qnn:QNN", title="QNN", order=1, relative_cost=10.0, count=param_counts.qnn,
                         options={
    "depth": "per task (above)", "entangler": "'ring' (or 'chain', 'none')", "scale": "5.0", "init_std": "0.01",
    "ansatz": "'rxryrx-rzz' (or 'rxry-cnot': landscape-study only)",
    # device noise (PROTOCOL 2.1, protocol 3): off by default, recorded only when on
    "shots": "exact (or S > 0: binomial estimates; Gaussian in training)",
    "depolarizing": "0.0 (p per qubit after every layer; Pauli trajectories)",
    "readout": "0.0 (bit-flip probability q < 0.5)",
    "trajectories": "16 (per sample in evaluation, with depolarizing)",
}))
register_model(ModelInfo("mlp", "qbench.models.mlp:MLP", title="MLP", order=0, count=param_counts.mlp))
# The controls (PROTOCOL 2.4). qnn-product runs the QNN's engine without its entangling step, at the
# task's QNN depth. mlp-matched: the input projected to N features (the QNN's qubit count), then the
# protocol MLP's shape (two ReLU layers, widths 4:1) at the width whose count is nearest the QNN's:
# (16, 4) on 10 features = 249 parameters against the MNIST QNN's 240, (12, 3) on 12 = 199 against 192.
register_model(ModelInfo(
    "qnn-product", "qbench.models.qnn:QNN", title="Product QNN", order=2, relative_cost=10.0, control=True,
    recipe_of="qnn", count=param_counts.qnn,
    model_size={"mnist": {"depth": 6, "entangler": "none"}, "xxz": {"depth": 4, "entangler": "none"}}))
register_model(ModelInfo(
    "mlp-matched", "qbench.models.mlp_matched:MatchedMLP", title="Matched MLP", order=3, relative_cost=0.5,
    control=True, recipe_of="mlp", count=param_counts.mlp_matched,
    model_size={"mnist": {"features": 10, "hidden": (16, 4), "projection_seed": 0},
                "xxz": {"features": 12, "hidden": (12, 3), "projection_seed": 0}}))
register_model(ModelInfo(
    "linear", "qbench.models.linear:Linear", title="Linear", order=4, relative_cost=0.5, control=True,
    recipe_of="mlp", count=param_counts.linear, model_size={"mnist": {}, "xxz": {}}))

_LAZY = {"BinaryModel": ("qbench.models.base", "BinaryModel"), "bce_with_logits": ("qbench.models.base", "bce_with_logits"),
         "QNN": ("qbench.models.qnn", "QNN"), "MLP": ("qbench.models.mlp", "MLP"),
         "Linear": ("qbench.models.linear", "Linear"), "MatchedMLP": ("qbench.models.mlp_matched", "MatchedMLP")}


def list_models() -> list[str]:
    """Built-in model names, then the installed plugins' (their entry-point names)."""
    return MODELS.names()


def registered_models(controls: bool = True) -> tuple[str, ...]:
    """The built-in models, in registration order (without the controls of PROTOCOL 2.4 if not ``controls``)."""
    return tuple(n for n, info in MODELS.builtins().items() if controls or not info.control)


def model_info(name: str) -> ModelInfo:
    """The registration of model ``name``: built-in, 'module:attribute' or an entry point's."""
    return MODELS.get(name)


def check_model_name(name: str) -> str:
    """``name`` if it names a model (built-in ones without importing TensorFlow), else a QbenchError."""
    model_info(name)
    return name


def model_class(name: str) -> type[BinaryModel]:
    info = model_info(name)
    if info.cls is not None:
        return info.cls
    module, attr = info.path.split(":")
    return getattr(importlib.import_module(module), attr)


def get_model(name: str, **hyperparameters: Any) -> BinaryModel:
    return model_class(name)(**hyperparameters)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module), attr)
    if name == "MODELS":
        return {n: model_class(n) for n in sorted(MODELS.builtins())}
    raise AttributeError(f"module 'qbench.models' has no attribute {name!r}")


__all__ = ["BinaryModel", "ENTRY_POINT_GROUP", "MODELS", "Linear", "MLP", "MatchedMLP", "ModelInfo", "QNN", "bce_with_logits", "check_model_name",
           "get_model", "list_models", "model_class", "model_info", "register_model", "registered_models"]
