"""Engine of the study's landscape QNN (PROTOCOL 4.3, ``landscape-study``), TensorCircuit-NG convention.

``N`` qubits, depth ``D``; each layer applies ``RX(a)`` then ``RY(b)`` on every qubit, then
``CNOT(j, (j+1) % N)`` for ``j = 0 .. N-1`` in that order. Output logit ``scale * <Z_{N-1}>``.
Parameters: ``theta.reshape(D, N, 2)[l, q] = (a, b)`` (two per qubit per layer).

The state is a complex ``(B, 2**N)`` vector (qubit 0 the most significant bit, as in TensorCircuit).
Single-qubit gates are fused per qubit (``RY(b) RX(a)``) and applied by a small einsum; the CNOT
ring of a layer is a fixed basis permutation, applied as one gather. :func:`reference_logits` is the
literal ``tc.Circuit`` build that the tests compare against.
"""

from __future__ import annotations

import numpy as np
import tensorcircuit as tc
import tensorflow as tf

from qbench.models.base import plain_python


def n_params(n_qubits: int, depth: int) -> int:
    return int(depth) * int(n_qubits) * 2


def cnot_ring_permutation(n: int) -> np.ndarray:
    """``P`` with ``state_after[i] = state_before[P[i]]`` for the layer's CNOT ring."""
    idx = np.arange(2**n)
    perm = idx.copy()
    if n < 2:
        return perm
    for j in range(n):
        c, t = j, (j + 1) % n
        bit_c = (idx >> (n - 1 - c)) & 1
        g = idx ^ (bit_c << (n - 1 - t))  # CNOT is its own inverse: new[i] = old[g[i]]
        perm = perm[g]
    return perm


def _fused(a: tf.Tensor, b: tf.Tensor) -> tf.Tensor:
    """RY(b) @ RX(a) for vectors a, b (N,) -> (N, 2, 2) complex64."""
    ca, sa = tf.cos(a / 2), tf.sin(a / 2)
    cb, sb = tf.cos(b / 2), tf.sin(b / 2)
    # RX(a) = [[ca, -i sa], [-i sa, ca]];  RY(b) = [[cb, -sb], [sb, cb]]
    re = tf.stack([tf.stack([cb * ca, -sb * ca], -1), tf.stack([sb * ca, cb * ca], -1)], -2)
    im = tf.stack([tf.stack([sb * sa, -cb * sa], -1), tf.stack([-cb * sa, -sb * sa], -1)], -2)
    return tf.complex(re, im)


def make_logits_fn(n_qubits: int, depth: int, scale: float = 5.0):
    """Pure TF ``(theta (P,), X (B, 2**N)) -> logits (B,)``; twice differentiable in ``theta``."""
    n, d = int(n_qubits), int(depth)
    perm = tf.constant(cnot_ring_permutation(n), tf.int32)
    zsign = tf.constant(1.0 - 2.0 * (np.arange(2**n) & 1), tf.float32)

    @plain_python
    def logits_fn(theta, X):
        ang = tf.reshape(theta, (d, n, 2))
        state = tf.cast(X, tf.complex64)
        batch = tf.shape(state)[0]
        for layer in range(d):
            u = _fused(ang[layer, :, 0], ang[layer, :, 1])
            for q in range(n):
                s = tf.reshape(state, (batch, 2**q, 2, 2 ** (n - q - 1)))
                s = tf.einsum("ij,bajc->baic", u[q], s)
                state = tf.reshape(s, (batch, 2**n))
            if n > 1:
                state = tf.gather(state, perm, axis=1)
        prob = tf.math.real(state) ** 2 + tf.math.imag(state) ** 2
        return float(scale) * tf.linalg.matvec(prob, zsign)

    return logits_fn


def reference_logits(theta, X, n_qubits: int, depth: int, scale: float = 5.0) -> np.ndarray:
    """The same model as a literal ``tc.Circuit`` per sample (slow; for tests)."""
    n, d = int(n_qubits), int(depth)
    ang = np.asarray(theta, np.float64).reshape(d, n, 2)
    out = []
    for x in np.asarray(X):
        c = tc.Circuit(n, inputs=np.asarray(x, np.complex128))
        for layer in range(d):
            for q in range(n):
                c.rx(q, theta=ang[layer, q, 0])
                c.ry(q, theta=ang[layer, q, 1])
            if n > 1:
                for j in range(n):
                    c.cnot(j, (j + 1) % n)
        out.append(scale * float(np.real(np.asarray(c.expectation_ps(z=[n - 1])))))
    return np.array(out)
