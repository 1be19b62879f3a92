"""Device noise for the protocol's QNN (PROTOCOL 2.1, protocol 3): shots, depolarizing noise, readout error.

All three are off by default. Their randomness comes from an explicit key (a (2,) int32 tensor, one per
training step or evaluation chunk) through TensorFlow's stateless RNG inside the compiled function, so a
compiled step is traced once per shape and the same key gives the same draws.

* ``depolarizing`` p: after every layer (its RX RY RX gates and its RZZ gates) each qubit independently
  suffers X, Y or Z, each with probability p/4 (identity otherwise), the channel
  rho -> (1 - p) rho + p I/2. Simulated by Monte Carlo trajectories: in the fast engine a sampled Pauli
  string is applied to each sample's state vector between layers (:class:`PauliTrajectories`); training
  draws one trajectory per sample and step, evaluation averages <Z> over ``trajectories`` T per sample.
  After the last layer only an X or Y on the measured qubit matters (it flips <Z>); Paulis elsewhere
  commute with Z_{N-1}.
* ``readout`` q: the measured bit flips with probability q, so <Z> -> (1 - 2q) <Z>, applied before shots
  (per shot, a flip of the bit with probability q gives the same binomial).
* ``shots`` S: evaluation draws each estimate as 2k/S - 1, k ~ Binomial(S, (1 + <Z>)/2) (on the host,
  :func:`sample_shots`: XLA has no binomial sampler); training uses the central-limit form
  <Z> + sqrt((1 - <Z>^2)/S) eps, eps ~ N(0, 1) per sample and step, differentiated through both terms.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import tensorflow as tf

from qbench.models.base import NoisyLogitsFn, plain_python
from qbench.models.qnn_circuit import _build_core, _check_shapes, _check_x

#: trajectories averaged per sample in evaluation (``depolarizing`` only): the trajectory mean's
#: standard error is at most ~1/sqrt(T) of the spread of single trajectories (measured cost in docs/protocol.md 2.1)
EVAL_TRAJECTORIES = 16

#: 1 - <Z>^2 is floored here under the training square root, so that its gradient stays finite at |<Z>| = 1
#: (the floor moves the noise's scale by less than 1e-3/sqrt(S))
_VARIANCE_FLOOR = 1e-6

@dataclass(frozen=True)
class DeviceNoise:
    """The QNN's device-noise options; all off (exact, noiseless) by default."""

    shots: int | None = None
    depolarizing: float = 0.0
    readout: float = 0.0
    trajectories: int = EVAL_TRAJECTORIES

    @property
    def active(self) -> bool:
        return self.shots is not None or self.depolarizing > 0 or self.readout > 0

    def options(self) -> dict[str, Any]:
        """The options that are on, as recorded in a model's hyperparameters (none when noiseless)."""
        out: dict[str, Any] = {}
        if self.shots is not None:
            out["shots"] = self.shots
        if self.depolarizing > 0:
            out["depolarizing"] = self.depolarizing
            out["trajectories"] = self.trajectories
        if self.readout > 0:
            out["readout"] = self.readout
        return out


def device_noise(shots: Any = None, depolarizing: Any = 0.0, readout: Any = 0.0,
                 trajectories: Any = EVAL_TRAJECTORIES) -> DeviceNoise:
    """Validated options: ``shots`` a positive integer or None/"exact"; ``depolarizing`` in [0, 1];
    ``readout`` in [0, 0.5); ``trajectories`` a positive integer."""
    if shots is not None and shots != "exact":
        if isinstance(shots, bool) or not isinstance(shots, (int, np.integer)) or shots < 1:
            raise ValueError(f"shots must be a positive integer or 'exact', got {shots!r}")
        shots = int(shots)
    else:
        shots = None
    p, q = _probability("depolarizing", depolarizing, 1.0), _probability("readout", readout, 0.5)
    if q >= 0.5:
        raise ValueError(f"readout must lie in [0, 0.5), got {readout!r}")
    if isinstance(trajectories, bool) or not isinstance(trajectories, (int, np.integer)) or trajectories < 1:
        raise ValueError(f"trajectories must be a positive integer, got {trajectories!r}")
    return DeviceNoise(shots, p, q, int(trajectories))


def _probability(name: str, value: Any, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)) \
            or not 0.0 <= float(value) <= high:
        raise ValueError(f"{name} must be a number in [0, {high:g}], got {value!r}")
    return float(value)


def _dim(shape_of: tf.Tensor, i: int):
    v = shape_of.shape[i]
    return v if v is not None else tf.shape(shape_of)[i]


def _bit_table(k: int) -> np.ndarray:
    """(k, 2**k) float32: entry [q, i] is bit q of index i, qubit 0 the most significant bit."""
    i = np.arange(2**k)
    return ((i[None, :] >> (k - 1 - np.arange(k))[:, None]) & 1).astype(np.float32)


def _permute(st: tf.Tensor, idx: tf.Tensor) -> tf.Tensor:
    """``st[s, c, idx[s, m]]`` for an index that is its own inverse (an XOR of the basis index), with
    the gradient as the same gather (TF's own is a scatter-add): differentiable to any order."""

    @tf.custom_gradient
    def gather(x):
        return tf.gather(x, idx, axis=2, batch_dims=1), lambda dy: _permute(dy, idx)

    return gather(st)


class PauliTrajectories:
    """One sampled Pauli trajectory per (parameter set, sample): the fast engine's noise hook.

    The engine calls :meth:`after_layer` on the state ``(S, 2, K1, B, K2)`` (real/imaginary axis; K1
    indexes the first qubits, K2 the rest) after each layer but the last, and :meth:`measure` on
    <Z_{N-1}> ``(S, B)``. Draws: u ~ U(0, 1) per (layer, set, sample, qubit); X if u < p/4, Y if
    u < p/2, Z if u < 3p/4. Y = i X Z, and a global phase does not change <Z>, so a Pauli string is
    X^x Z^z: a sign (-1)^(z.k) on basis index k, then k -> k XOR x.
    """

    def __init__(self, p: float, depth: int, n_qubits: int, key: tf.Tensor):
        self.p, self.depth, self.n, self.key = float(p), int(depth), int(n_qubits), key
        self._bits: tuple[tf.Tensor, tf.Tensor] | None = None

    def _draws(self, S, B) -> tuple[tf.Tensor, tf.Tensor]:
        """X and Z bits, float32 (D, S, B, N), drawn once per call of the engine."""
        if self._bits is None:
            u = tf.random.stateless_uniform((self.depth, S, B, self.n), self.key)
            q = 0.25 * self.p
            self._bits = tf.cast(u < 2 * q, tf.float32), tf.cast((u >= q) & (u < 3 * q), tf.float32)
        return self._bits

    def after_layer(self, st: tf.Tensor, layer: int) -> tf.Tensor:
        S, K1, B, K2 = _dim(st, 0), st.shape[2], _dim(st, 3), st.shape[4]
        k1 = int(np.log2(K1))
        k2 = self.n - k1
        xbits, zbits = (b[layer] for b in self._draws(S, B))  # (S, B, N)
        # Z part: sign (-1)^(popcount(z & k)), factorized over the two index blocks
        signs = []
        for lo, k in ((0, k1), (k1, k2)):
            if k == 0:
                signs.append(tf.ones((S, B, 1)))
                continue
            parity = tf.linalg.matmul(tf.reshape(zbits[..., lo:lo + k], (-1, k)), _bit_table(k))
            signs.append(tf.reshape(1.0 - 2.0 * tf.math.floormod(parity, 2.0), (S, B, 2**k)))
        st = st * tf.transpose(signs[0], (0, 2, 1))[:, None, :, :, None] * signs[1][:, None, None, :, :]
        # X part: basis index k -> k XOR x, one gather over the flattened (K1, B, K2) axes
        weights = tf.constant(2.0 ** (self.n - 1 - np.arange(self.n)), tf.float32)
        x_int = tf.cast(tf.reduce_sum(xbits * weights, -1), tf.int32)  # (S, B)
        xa, xb = tf.bitwise.right_shift(x_int, k2), tf.bitwise.bitwise_and(x_int, K2 - 1)
        i = tf.bitwise.bitwise_xor(tf.range(K1)[None, :, None], xa[:, None, :])  # (S, K1, B)
        j = tf.bitwise.bitwise_xor(tf.range(K2)[None, None, :], xb[:, :, None])  # (S, B, K2)
        idx = (i[..., None] * B + tf.range(B)[None, None, :, None]) * K2 + j[:, None]  # (S, K1, B, K2)
        M = K1 * B * K2
        return tf.reshape(_permute(tf.reshape(st, (S, 2, M)), tf.reshape(idx, (S, M))), (S, 2, K1, B, K2))

    def last_layer_sign(self, S, B) -> tf.Tensor:
        """(S, B): -1 where the last layer's error on the measured qubit is X or Y (it flips Z_{N-1})."""
        xbits, _ = self._draws(S, B)
        return 1.0 - 2.0 * xbits[self.depth - 1, :, :, self.n - 1]


class NoiseHook:
    """What the fast engine calls between layers and at the measurement (``_build_core``'s ``noise``)."""

    def __init__(self, noise: DeviceNoise, depth: int, n_qubits: int, key: tf.Tensor, training: bool):
        self.noise, self.training, self.key = noise, training, key
        self.paulis = (PauliTrajectories(noise.depolarizing, depth, n_qubits,
                                         tf.random.experimental.stateless_fold_in(key, 0))
                       if noise.depolarizing > 0 else None)

    def after_layer(self, st: tf.Tensor, layer: int) -> tf.Tensor:
        return st if self.paulis is None else self.paulis.after_layer(st, layer)

    def measure(self, z: tf.Tensor) -> tf.Tensor:
        """<Z_{N-1}> (S, B) of one trajectory -> what is measured (training: with Gaussian shot noise)."""
        S, B = _dim(z, 0), _dim(z, 1)
        if self.paulis is not None:
            z = z * self.paulis.last_layer_sign(S, B)
        if self.noise.readout > 0:
            z = (1.0 - 2.0 * self.noise.readout) * z
        if self.training and self.noise.shots is not None:
            eps = tf.random.stateless_normal((S, B), tf.random.experimental.stateless_fold_in(self.key, 1))
            z = z + tf.sqrt(tf.maximum(1.0 - z * z, _VARIANCE_FLOOR) / float(self.noise.shots)) * eps
        return z


def make_noisy_logits_fn(n_qubits: int, depth: int, entangler: str = "ring", scale: float = 5.0, *,
                         complex_input: bool, noise: DeviceNoise, training: bool,
                         blocks: Sequence[int] | None = None) -> NoisyLogitsFn:
    """``f(theta (P,), X (B, 2**N), key (2,) int32) -> (B,)`` float32 logits of the noisy QNN.

    ``training``: one trajectory per sample and Gaussian shot noise (differentiable). Otherwise the mean of
    ``noise.trajectories`` trajectories per sample (with depolarizing noise), readout applied, and no shot
    noise: :func:`sample_shots` draws the shots from these logits on the host. ``blocks``: as in
    :func:`qbench.models.qnn_circuit.make_logits_fn` (advanced).
    """
    _check_shapes(n_qubits, depth, entangler)
    n, d = int(n_qubits), int(depth)
    core, _ = _build_core(n, d, entangler, scale, complex_input, blocks)
    T = noise.trajectories if (noise.depolarizing > 0 and not training) else 1

    @plain_python
    def logits_fn(theta, X, key):
        theta = tf.convert_to_tensor(theta, tf.float32)
        X = tf.convert_to_tensor(X)
        _check_x(X, n, batched=False, complex_input=complex_input)
        hook = NoiseHook(noise, d, n, tf.convert_to_tensor(key, tf.int32), training)
        if T == 1:
            return core(theta[None], X[None], hook)[0]
        B = _dim(X, 0)
        z = core(theta[None], tf.tile(X[None], (1, T, 1)), hook)[0]  # (T*B,), trajectory-major
        return tf.reduce_mean(tf.reshape(z, (T, B)), 0)

    return logits_fn


def sample_shots(logits: np.ndarray, shots: int | None, scale: float, key: np.ndarray) -> np.ndarray:
    """Shot estimates of evaluation logits: scale * (2k/S - 1), k ~ Binomial(S, (1 + <Z>)/2), <Z> =
    logits / scale; drawn with numpy from ``key`` (the chunk's key). ``shots`` None: unchanged."""
    if shots is None:
        return logits
    z = np.asarray(logits, np.float64) / scale
    g = np.random.default_rng(np.random.SeedSequence(np.asarray(key).astype(np.uint32).tolist()))
    k = g.binomial(int(shots), np.clip(0.5 * (1.0 + z), 0.0, 1.0))
    return (scale * (2.0 * k / shots - 1.0)).astype(np.float32)
