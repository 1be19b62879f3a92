"""Tests of the light-cone QNN engine against the dense engine, TensorCircuit-NG and a numpy simulation."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from qbench.models.qnn_circuit import make_logits_fn, n_params
from qbench.models.qnn_lightcone import (
    light_cone,
    make_logits_fn_cone,
    make_logits_fn_cone_batched,
    use_light_cone,
)
from tests.test_qnn_circuit import check_engine_against_reference, make_data

CASES = [  # (N, D, entangler, complex input): cones of every shape, D = 1, the product circuit
    (4, 1, "ring", True),
    (5, 2, "ring", True),
    (6, 2, "chain", False),
    (7, 3, "ring", True),
    (8, 2, "ring", False),
    (6, 3, "none", True),
    (5, 4, "ring", False),  # the cone is every qubit: still exact
]


def test_light_cone_by_hand():
    # ring, N = 12, D = 4: Z_11 -> {10, 11, 0} -> {9, ..., 1} -> {8, ..., 2} over the 3 RZZ layers before the last
    assert light_cone(12, 4, "ring") == [0, 1, 2, 8, 9, 10, 11]
    assert light_cone(12, 4, "chain") == [8, 9, 10, 11]
    assert light_cone(12, 4, "none") == [11]
    assert light_cone(12, 1, "ring") == [11]
    assert light_cone(10, 6, "ring") == list(range(10))
    assert light_cone(12, 7, "ring") == list(range(12))


def test_use_light_cone_picks_the_protocol_shapes():
    assert use_light_cone(12, 4, "ring")  # XXZ: 128 multiply-adds per amplitude against 3 * (64 + 64)
    assert not use_light_cone(10, 6, "ring")  # MNIST: the cone is every qubit
    assert not use_light_cone(12, 7, "ring")
    assert use_light_cone(12, 4, "none")


@pytest.mark.parametrize("n,d,entangler,cplx", CASES)
def test_cone_equals_reference_and_numpy(n, d, entangler, cplx):
    check_engine_against_reference(make_logits_fn_cone, n, d, entangler, cplx)


def _grad_and_hvp(f, theta, X):
    """Gradient and a Hessian-vector product of sum(sin(logits)), compiled with XLA as the trainers run."""

    @tf.function(jit_compile=True)
    def run(t):
        with tf.GradientTape() as outer:
            outer.watch(t)
            with tf.GradientTape() as inner:
                inner.watch(t)
                value = tf.reduce_sum(tf.sin(f(t, X)))
            g = inner.gradient(value, t)
            gv = tf.reduce_sum(g * tf.cos(t))
        return g, outer.gradient(gv, t)

    g, h = run(tf.constant(theta))
    return g.numpy(), h.numpy()


@pytest.mark.parametrize("n,d,entangler,cplx", [(12, 4, "ring", True), (8, 3, "chain", False), (7, 3, "ring", True)])
def test_cone_equals_dense_engine_with_derivatives(n, d, entangler, cplx):
    """The protocol's XXZ shape included: logits, gradient and second derivatives agree with the dense engine."""
    rng = np.random.default_rng(3)
    theta = rng.normal(scale=0.7, size=n_params(n, d, entangler)).astype(np.float32)
    X, _ = make_data(n, 32 if n == 12 else 4, cplx, seed=5)
    cone = make_logits_fn_cone(n, d, entangler, complex_input=cplx)
    dense = make_logits_fn(n, d, entangler, complex_input=cplx)
    np.testing.assert_allclose(cone(theta, X).numpy(), dense(theta, X).numpy(), atol=1e-5)
    (gc, hc), (gd, hd) = _grad_and_hvp(cone, theta, X), _grad_and_hvp(dense, theta, X)
    np.testing.assert_allclose(gc, gd, rtol=1e-4, atol=1e-4 * np.abs(gd).max())
    np.testing.assert_allclose(hc, hd, rtol=1e-3, atol=1e-3 * np.abs(hd).max())


def test_batched_equals_loop():
    n, d = 7, 3
    rng = np.random.default_rng(11)
    theta = rng.normal(size=(3, n_params(n, d))).astype(np.float32)
    X = np.stack([make_data(n, 4, True, seed=s)[0] for s in range(3)])
    out = make_logits_fn_cone_batched(n, d, complex_input=True)(theta, X).numpy()
    single = make_logits_fn_cone(n, d, complex_input=True)
    loop = np.stack([single(theta[s], X[s]).numpy() for s in range(3)])
    assert out.shape == (3, 4)
    np.testing.assert_allclose(out, loop, atol=1e-6)


def test_input_checks():
    f = make_logits_fn_cone(5, 2, complex_input=False)
    with pytest.raises(ValueError, match="complex"):
        f(np.zeros(n_params(5, 2), np.float32), np.zeros((2, 32), np.complex64))
    with pytest.raises(ValueError, match="last dimension"):
        f(np.zeros(n_params(5, 2), np.float32), np.zeros((2, 16), np.float32))
