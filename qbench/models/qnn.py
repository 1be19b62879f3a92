"""The quantum neural network on TensorCircuit-NG (TensorFlow backend), PROTOCOL section 2.1."""

from __future__ import annotations

from typing import Any

import numpy as np

from qbench.models.base import BinaryModel, LogitsFn
from qbench.models import qnn_circuit

ENTANGLERS = ("ring", "chain")


class QNN(BinaryModel):
    """Amplitude-encoded input; D layers of RX RY RX on every qubit and RZZ on neighbouring pairs;
    logit = scale * <Z_{N-1}>; parameters initialized i.i.d. N(0, init_std^2).

    ``n_qubits`` is fixed by the task's amplitude vectors (2**n_qubits = input size).
    """

    kind = "qnn"
    input_encoding = "amplitude"

    def __init__(self, depth: int = 6, entangler: str = "ring", scale: float = 5.0, init_std: float = 0.01):
        self.depth = depth
        self.entangler = entangler
        self.scale = scale
        self.init_std = init_std

    def hyperparameters(self) -> dict[str, Any]:
        return {"depth": self.depth, "entangler": self.entangler, "scale": self.scale, "init_std": self.init_std}

    def size_label(self) -> str:
        return f"n{self.n_qubits_}-d{self.depth}"

    def build(self, input_dim: int, complex_input: bool = False) -> "QNN":
        n = int(round(np.log2(input_dim)))
        if 2**n != input_dim:
            raise ValueError(f"QNN input size must be a power of two, got {input_dim}")
        if self.entangler not in ENTANGLERS:
            raise ValueError(f"entangler must be one of {ENTANGLERS}, got {self.entangler!r}")
        if int(self.depth) < 1:
            raise ValueError(f"depth must be >= 1, got {self.depth!r}")
        self.n_qubits_, self.input_dim_, self.complex_input_ = n, int(input_dim), bool(complex_input)
        self._n_params = qnn_circuit.n_params(n, int(self.depth), self.entangler)
        self._logits_fn = qnn_circuit.make_logits_fn(
            n, int(self.depth), entangler=self.entangler, scale=float(self.scale), complex_input=self.complex_input_
        )
        return self

    @property
    def n_params(self) -> int:
        return self._n_params

    @property
    def logits_fn(self) -> LogitsFn:
        return self._logits_fn

    def init_params(self, seed: int) -> np.ndarray:
        rng = np.random.default_rng(seed)
        return (float(self.init_std) * rng.standard_normal(self.n_params)).astype(np.float32)
