"""The study's landscape QNN (RX, RY, CNOT ring; PROTOCOL 4.3) against a literal tc.Circuit build."""

import numpy as np
import pytest
import tensorflow as tf

from qbench.errors import QbenchError
from qbench.experiment import stratified_split
from qbench.models import get_model
from qbench.models.qnn_cnot_circuit import cnot_ring_permutation, make_logits_fn, reference_logits


def _states(n, b, cplx, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(b, 2**n)) + (1j * rng.normal(size=(b, 2**n)) if cplx else 0)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.mark.parametrize("n", [1, 2, 3, 4])
@pytest.mark.parametrize("cplx", [False, True])
def test_engine_equals_tc_circuit(n, cplx):
    d = 2
    theta = np.random.default_rng(n).normal(size=d * n * 2).astype(np.float32)
    x = _states(n, 3, cplx)
    fast = make_logits_fn(n, d)(tf.constant(theta), tf.constant(x.astype(np.complex64 if cplx else np.float32)))
    np.testing.assert_allclose(fast.numpy(), reference_logits(theta, x, n, d), atol=2e-5)


def test_cnot_ring_permutation_is_the_gate_product():
    n = 3
    def cnot(c, t):
        m = np.zeros((2**n, 2**n))
        for i in range(2**n):
            j = i ^ ((((i >> (n - 1 - c)) & 1)) << (n - 1 - t))
            m[j, i] = 1
        return m
    u = np.eye(2**n)
    for j in range(n):
        u = cnot(j, (j + 1) % n) @ u
    v = np.arange(2**n, dtype=float) + 1
    np.testing.assert_array_equal(u @ v, v[cnot_ring_permutation(n)])


def test_zero_angles_read_the_last_qubit():
    # with all angles 0 a layer is only the CNOT ring; on |0...0> nothing moves: <Z_{N-1}> = 1
    x = np.zeros((1, 16), np.float32)
    x[0, 0] = 1
    out = make_logits_fn(4, 3, scale=5.0)(tf.zeros(24), tf.constant(x)).numpy()
    np.testing.assert_allclose(out, [5.0], atol=1e-6)


def test_gradient_matches_finite_differences():
    n, d = 3, 2
    f = make_logits_fn(n, d)
    x = tf.constant(_states(n, 4, True).astype(np.complex64))
    theta = tf.constant(np.random.default_rng(1).normal(size=d * n * 2), tf.float64)
    with tf.GradientTape() as tape:
        tape.watch(theta)
        loss = tf.reduce_sum(f(tf.cast(theta, tf.float32), x))
    grad = tape.gradient(loss, theta).numpy()
    eps = 1e-3
    for k in range(0, d * n * 2, 3):
        e = np.zeros(d * n * 2)
        e[k] = eps
        fd = (reference_logits(theta.numpy() + e, x.numpy(), n, d).sum()
              - reference_logits(theta.numpy() - e, x.numpy(), n, d).sum()) / (2 * eps)
        assert grad[k] == pytest.approx(fd, abs=1e-3)


def test_qnn_ansatz_option():
    m = get_model("qnn", depth=5, ansatz="rxry-cnot").build(1024)
    assert m.n_params == 100 and m.size_label() == "n10-d5-rxry-cnot"
    # the protocol QNN's identity does not mention the ansatz (its records and hashes are unchanged)
    assert "ansatz" not in get_model("qnn", depth=6).hyperparameters()
    with pytest.raises(ValueError, match="ansatz"):
        get_model("qnn", ansatz="bogus").build(16)


def test_stratified_split():
    y = np.array([0] * 250 + [1] * 250)
    keep, held = stratified_split(y, 0.7, seed=3)
    assert len(keep) == 350 and len(held) == 150
    assert np.bincount(y[keep]).tolist() == [175, 175]
    assert not set(keep) & set(held) and len(set(keep) | set(held)) == 500
    again, _ = stratified_split(y, 0.7, seed=3)
    other, _ = stratified_split(y, 0.7, seed=4)
    assert (again == keep).all() and not (other == keep).all()
    with pytest.raises(QbenchError):
        stratified_split(y, 1.0, seed=0)
