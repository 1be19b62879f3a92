"""The quantum neural network on TensorCircuit-NG (TensorFlow backend), PROTOCOL section 2.1."""

from __future__ import annotations

from typing import Any

import numpy as np

from qbench.models import qnn_circuit, qnn_cnot_circuit, qnn_lightcone, qnn_noise
from qbench.models.base import BinaryModel, LogitsFn, NoisyLogitsFn

#: "none" is the product control (PROTOCOL 2.4): no RZZ angles in the parameter vector; the rotation
#: angles come first in its layout, so they are the same draws of the same seed stream as the ring's
ENTANGLERS = ("ring", "chain", "none")
#: "rxryrx-rzz": the protocol's QNN (PROTOCOL 2.1); "rxry-cnot": the study's landscape QNN (PROTOCOL 4.3)
ANSATZE = ("rxryrx-rzz", "rxry-cnot")


def exact_logits_fn(n_qubits: int, depth: int, entangler: str = "ring", scale: float = 5.0, *,
                    complex_input: bool, batched: bool = False) -> LogitsFn:
    """The noise-free QNN's logits on the engine the model uses: the same function either way, computed by
    the light-cone engine where <Z_{N-1}> sees fewer qubits than it costs to simulate them all (the XXZ
    shape: 7 of 12; the product control: 1), by the dense one elsewhere (MNIST: it sees all 10).
    ``batched``: the ``(theta (S, P), X (S, B, 2**N)) -> (S, B)`` form of the same engine."""
    cone = qnn_lightcone.use_light_cone(n_qubits, depth, entangler)
    if batched:
        make = qnn_lightcone.make_logits_fn_cone_batched if cone else qnn_circuit.make_logits_fn_batched
    else:
        make = qnn_lightcone.make_logits_fn_cone if cone else qnn_circuit.make_logits_fn
    return make(n_qubits, depth, entangler, scale, complex_input=complex_input)


class QNN(BinaryModel):
    """Amplitude-encoded input; D layers of RX RY RX on every qubit and RZZ on neighbouring pairs;
    logit = scale * <Z_{N-1}>; parameters initialized i.i.d. N(0, init_std^2).

    ``n_qubits`` is fixed by the task's amplitude vectors (2**n_qubits = input size). Device noise
    (:mod:`qbench.models.qnn_noise`, off by default): ``shots`` (an integer, or None/"exact"),
    ``depolarizing`` p per qubit after every layer, ``readout`` flip probability q, and ``trajectories``
    averaged per sample in evaluation under depolarizing noise. Only options that are on are recorded.

    Exact model engine: :mod:`qbench.models.qnn_lightcone` where the measured qubit's light cone is small
    enough to pay (the XXZ shape, the product control), else :mod:`qbench.models.qnn_circuit`; the two
    compute the same function. Parameters outside the light cone then get a gradient of exactly zero
    (the dense engine's round-off gradient moved them under Adam, without changing any output).
    """

    kind = "qnn"
    input_encoding = "amplitude"

    def __init__(self, depth: int = 6, entangler: str = "ring", scale: float = 5.0, init_std: float = 0.01,
                 ansatz: str = "rxryrx-rzz", shots: int | str | None = None, depolarizing: float = 0.0,
                 readout: float = 0.0, trajectories: int = qnn_noise.EVAL_TRAJECTORIES):
        self.depth = depth
        self.entangler = entangler
        self.scale = scale
        self.init_std = init_std
        self.ansatz = ansatz
        self.shots = shots
        self.depolarizing = depolarizing
        self.readout = readout
        self.trajectories = trajectories

    def hyperparameters(self) -> dict[str, Any]:
        h = {"depth": self.depth, "entangler": self.entangler, "scale": self.scale, "init_std": self.init_std}
        if self.ansatz != ANSATZE[0]:  # only when set, so the protocol QNN's identity is unchanged
            h["ansatz"] = self.ansatz
        # likewise the device noise: only the options that are on (validated in build)
        h.update(qnn_noise.device_noise(self.shots, self.depolarizing, self.readout, self.trajectories).options())
        return h

    def size_label(self) -> str:
        tag = "" if self.ansatz == ANSATZE[0] else f"-{self.ansatz}"
        return f"n{self.n_qubits_}-d{self.depth}{tag}"

    def build(self, input_dim: int, complex_input: bool = False) -> "QNN":
        n = int(round(np.log2(input_dim)))
        if 2**n != input_dim:
            raise ValueError(f"QNN input size must be a power of two, got {input_dim}")
        if self.ansatz not in ANSATZE:
            raise ValueError(f"ansatz must be one of {ANSATZE}, got {self.ansatz!r}")
        if self.entangler not in ENTANGLERS:
            raise ValueError(f"entangler must be one of {ENTANGLERS}, got {self.entangler!r}")
        if int(self.depth) < 1:
            raise ValueError(f"depth must be >= 1, got {self.depth!r}")
        self.n_qubits_, self.input_dim_, self.complex_input_ = n, int(input_dim), bool(complex_input)
        self.noise_ = qnn_noise.device_noise(self.shots, self.depolarizing, self.readout, self.trajectories)
        if self.ansatz == "rxry-cnot":
            if self.noise_.active:
                raise ValueError("device noise (shots, depolarizing, readout) is an option of the rxryrx-rzz ansatz only")
            if self.entangler != "ring":
                raise ValueError("the rxry-cnot ansatz has a CNOT ring; entangler must be 'ring'")
            self._n_params = qnn_cnot_circuit.n_params(n, int(self.depth))
            self._logits_fn = qnn_cnot_circuit.make_logits_fn(n, int(self.depth), scale=float(self.scale))
            return self
        self._n_params = qnn_circuit.n_params(n, int(self.depth), self.entangler)
        self._logits_fn = exact_logits_fn(n, int(self.depth), self.entangler, float(self.scale),
                                          complex_input=self.complex_input_)
        return self

    @property
    def noisy(self) -> bool:
        return self.noise_.active

    def noisy_logits_fn(self, training: bool) -> NoisyLogitsFn:
        return qnn_noise.make_noisy_logits_fn(self.n_qubits_, int(self.depth), self.entangler, float(self.scale),
                                              complex_input=self.complex_input_, noise=self.noise_, training=training)

    def sample_evaluation(self, logits: np.ndarray, key: np.ndarray) -> np.ndarray:
        return qnn_noise.sample_shots(logits, self.noise_.shots, float(self.scale), key)

    @property
    def n_params(self) -> int:
        return self._n_params

    @property
    def logits_fn(self) -> LogitsFn:
        return self._logits_fn

    def init_params(self, seed: int) -> np.ndarray:
        rng = np.random.default_rng(seed)
        return (float(self.init_std) * rng.standard_normal(self.n_params)).astype(np.float32)
