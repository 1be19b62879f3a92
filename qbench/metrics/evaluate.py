"""Metrics of a model at given parameters on the unlearning sets, through the metric registry: what the
unlearning loop records at each step and the oracle at its end."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from qbench.metrics.registry import Missing, compute, get_metric
from qbench.models.base import BinaryModel
from qbench.training.trainer import predict_logits

if TYPE_CHECKING:
    from qbench.training.unlearn import Evaluator, UnlearnSets

EVAL_METRICS = ("val_acc", "forget_acc", "forget_clean_acc", "retain_acc")


class _Inputs(dict):
    """A metric's inputs (:mod:`qbench.metrics.registry`), made on first use: ``logits:<set>`` predicted
    once per set at ``theta``, ``labels:<set>`` read from the sets, ``seed``."""

    def __init__(self, model: BinaryModel, theta: np.ndarray, sets: "UnlearnSets", seed: int | None) -> None:
        super().__init__()
        self.model, self.theta, self.sets = model, theta, sets
        if seed is not None:
            self["seed"] = seed

    def __missing__(self, key: str):
        kind, _, name = key.partition(":")
        if kind == "logits":
            value = predict_logits(self.model, self.theta, getattr(self.sets, f"x_{name}"))
        elif kind == "labels":
            value = getattr(self.sets, f"y_{name}")
        else:
            raise KeyError(key)
        self[key] = value
        return value


def evaluate(model: BinaryModel, theta: np.ndarray, sets: "UnlearnSets",
             metrics: tuple[str, ...] = EVAL_METRICS, *, seed: int | None = None,
             notes: dict[str, str] | None = None) -> dict[str, float | None]:
    """The registered metrics named in ``metrics`` at parameters ``theta`` (those of :data:`EVAL_METRICS`
    whose sets' logits were made anyway come along: forget_acc brings forget_clean_acc). A metric that
    cannot be computed is None, its reason in ``notes``. ``seed``: for metrics that need one (the MIA)."""
    inputs = _Inputs(model, theta, sets, seed)
    values = {name: compute(name, inputs) for name in metrics}
    made = {k for k in inputs if k.startswith("logits:")}
    for name in EVAL_METRICS:
        if name not in values and {n for n in get_metric(name).needs if n.startswith("logits:")} <= made:
            values[name] = compute(name, inputs)
    out: dict[str, float | None] = {}
    for name in [m for m in EVAL_METRICS if m in values] + [m for m in values if m not in EVAL_METRICS]:
        v = values[name]
        if isinstance(v, Missing):
            out[name] = None
            if notes is not None:
                notes[name] = v.reason
        else:
            out[name] = v
    return out


def evaluator(model: BinaryModel, sets: "UnlearnSets") -> "Evaluator":
    """``evaluate`` bound to a model and its sets, as the unlearning loop takes it (names None: :data:`EVAL_METRICS`)."""
    return lambda theta, names: evaluate(model, theta, sets, EVAL_METRICS if names is None else names)
