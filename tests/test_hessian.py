"""Curvature metrics (PROTOCOL 4.3) against dense Hessians of small qbench models."""

import numpy as np
import pytest
import tensorflow as tf

from qbench.metrics import (
    collapsed_output,
    dense_hessian,
    hessian_diagonal,
    hessian_eigs,
    hessian_trace_exact,
    hessian_trace_hutchinson,
    hvp_fn,
)
from qbench.models import bce_with_logits, get_model


def _unit_rows(rng, shape, complex_input=False):
    x = rng.standard_normal(shape)
    if complex_input:
        x = x + 1j * rng.standard_normal(shape)
    x = x / np.linalg.norm(x, axis=1, keepdims=True)
    return x.astype(np.complex64 if complex_input else np.float32)


def _case(kind):
    rng = np.random.default_rng(7)
    if kind == "mlp":
        model = get_model("mlp", hidden=(4, 3)).build(6)
        x = rng.standard_normal((20, 6)).astype(np.float32)
        theta = model.init_params(1)
        theta[-1] = 0.3  # nonzero output bias
    else:
        complex_input = kind == "qnn-complex"
        model = get_model("qnn", depth=2).build(8, complex_input=complex_input)
        x = _unit_rows(rng, (12, 8), complex_input)
        theta = rng.uniform(-np.pi, np.pi, model.n_params).astype(np.float32)  # away from init: curved
    y = (rng.random(x.shape[0]) > 0.5).astype(np.float32)
    return model, theta, x, y


def _tf_hessian(model, theta, x, y):
    """Reference: tf.hessians of the mean BCE (graph mode), float64 result."""
    xt = tf.constant(x)
    yt = tf.constant(y)

    @tf.function
    def h(t):
        return tf.hessians(bce_with_logits(model.logits_fn(t, xt), yt), t)[0]

    return h(tf.constant(theta)).numpy().astype(np.float64)


CASES = ["mlp", "qnn-real", "qnn-complex"]


@pytest.fixture(scope="module", params=CASES)
def case(request):
    model, theta, x, y = _case(request.param)
    return request.param, model, theta, x, y, _tf_hessian(model, theta, x, y)


def test_exact_trace_matches_tf_hessians(case):
    kind, model, theta, x, y, H = case
    ref = float(np.trace(H))
    # the default block and one that leaves a padded last block (each size is one XLA compilation)
    for block in (None, 5):
        tr = hessian_trace_exact(model, theta, x, y, block_size=block)
        assert tr == pytest.approx(ref, rel=1e-4, abs=1e-6), (kind, block)
    diag = hessian_diagonal(model, theta, x, y, block_size=5)
    np.testing.assert_allclose(diag, np.diag(H), rtol=1e-4, atol=1e-6)


def test_dense_hessian_and_hvp(case):
    kind, model, theta, x, y, H = case
    D = dense_hessian(model, theta, x, y)
    np.testing.assert_allclose(D, H, rtol=1e-4, atol=1e-5)
    v = np.random.default_rng(3).standard_normal(model.n_params).astype(np.float32)
    hv = hvp_fn(model, x, y)(theta, v).numpy()
    np.testing.assert_allclose(hv, H @ v, rtol=1e-4, atol=1e-5)
    # one compiled function serves another parameter vector
    theta2 = theta + np.float32(0.1)
    np.testing.assert_allclose(hvp_fn(model, x, y)(theta2, v).numpy(), dense_hessian(model, theta2, x, y) @ v,
                               rtol=1e-4, atol=1e-5)


def test_hutchinson_agrees_with_exact(case):
    kind, model, theta, x, y, H = case
    exact = float(np.trace(H))
    est, se = hessian_trace_hutchinson(model, theta, x, y, n_samples=400, seed=11)
    assert se > 0
    assert abs(est - exact) <= 4 * se, (kind, est, se, exact)
    # seeded: same seed, same estimate
    assert hessian_trace_hutchinson(model, theta, x, y, n_samples=400, seed=11) == (est, se)


@pytest.mark.parametrize("kind", ["mlp", "qnn-real"])
def test_lanczos_extremes_match_eigvalsh(kind):
    model, theta, x, y = _case(kind)
    H = _tf_hessian(model, theta, x, y)
    w = np.linalg.eigvalsh(0.5 * (H + H.T))
    top, bottom = hessian_eigs(model, theta, x, y, k=3, seed=0)
    scale = max(1.0, np.abs(w).max())
    np.testing.assert_allclose(top, w[::-1][:3], atol=1e-4 * scale)
    np.testing.assert_allclose(bottom, w[:3], atol=1e-4 * scale)


def test_collapsed_output():
    model = get_model("mlp", hidden=(4, 3)).build(6)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((30, 6)).astype(np.float32)
    y = (rng.random(30) > 0.5).astype(np.float32)
    theta = model.init_params(0)
    assert not collapsed_output(model, theta, x)
    dead = np.zeros_like(theta)  # every ReLU off: output = output bias = 0, p = 1/2
    assert collapsed_output(model, dead, x)
    # PROTOCOL 4.3: a collapsed model's trace is p(1 - p) of the output bias, 0.25 at p = 1/2
    assert hessian_trace_exact(model, dead, x, y) == pytest.approx(0.25, abs=1e-7)


def test_input_validation():
    model, theta, x, y = _case("mlp")
    with pytest.raises(ValueError):
        hessian_trace_exact(model, theta[:-1], x, y)
    with pytest.raises(ValueError):
        hessian_trace_exact(model, theta, x, y[:-1])
