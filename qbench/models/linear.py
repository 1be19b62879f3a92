"""The linear control (PROTOCOL 2.4): logistic regression on the task's input, a Keras Dense(1, sigmoid)."""

from __future__ import annotations

from typing import Any

from qbench.models.mlp import MLP


class Linear(MLP):
    """Input -> Dense(1, sigmoid): p = sigmoid(w . x + b), Keras' default initializers (Glorot-uniform
    kernel, zero bias), trained with the MLP's recipe. ``input_dim + 1`` parameters."""

    kind = "linear"

    def __init__(self) -> None:
        super().__init__(hidden=())

    def hyperparameters(self) -> dict[str, Any]:
        return {}

    def size_label(self) -> str:
        return "logistic"

    def _widths(self) -> tuple[int, ...]:
        return ()
