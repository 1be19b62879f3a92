"""Tests of qbench.models.qnn_circuit against TensorCircuit-NG and an independent dense numpy simulation."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from qbench.models.qnn_circuit import (
    entangler_pairs,
    make_logits_fn,
    make_logits_fn_batched,
    n_params,
    reference_logits,
)

# ---------------------------------------------------------------------------------------------
# independent dense simulation (float64 / complex128), PROTOCOL 2.1 conventions:
# qubit 0 = most significant bit (first factor of np.kron), RX(t) = exp(-i t X / 2),
# RY(t) = exp(-i t Y / 2), RZZ(t) = exp(-i t Z Z / 2), logit = scale * <Z_{N-1}>.
# ---------------------------------------------------------------------------------------------

I2 = np.eye(2, dtype=complex)
PX = np.array([[0, 1], [1, 0]], dtype=complex)
PY = np.array([[0, -1j], [1j, 0]], dtype=complex)
PZ = np.array([[1, 0], [0, -1]], dtype=complex)


def _rot(pauli, t):
    return np.cos(t / 2) * I2 - 1j * np.sin(t / 2) * pauli


def _embed(ops: dict[int, np.ndarray], n: int) -> np.ndarray:
    out = np.ones((1, 1), dtype=complex)
    for q in range(n):
        out = np.kron(out, ops.get(q, I2))
    return out


def _pairs(n, entangler):
    if entangler == "ring":
        return [] if n == 1 else [(j, (j + 1) % n) for j in range(n)]
    return [(j, j + 1) for j in range(n - 1)]


def np_logits(theta, X, n, d, entangler="ring", scale=5.0):
    theta = np.asarray(theta, dtype=np.float64)
    pairs = _pairs(n, entangler)
    rot = theta[: d * n * 3].reshape(d, n, 3)
    zz = theta[d * n * 3:].reshape(d, len(pairs))
    U = np.eye(2**n, dtype=complex)
    for layer in range(d):
        for q in range(n):
            for g, pauli in enumerate((PX, PY, PX)):
                U = _embed({q: _rot(pauli, rot[layer, q, g])}, n) @ U
        for p, (i, j) in enumerate(pairs):
            zizj = _embed({i: PZ, j: PZ}, n)
            t = zz[layer, p]
            U = (np.cos(t / 2) * np.eye(2**n) - 1j * np.sin(t / 2) * zizj) @ U
    psi = np.asarray(X, dtype=complex) @ U.T  # rows are states
    zl = _embed({n - 1: PZ}, n)
    z = np.real(np.einsum("bi,ij,bj->b", psi.conj(), zl, psi))
    return scale * z


def np_loss(theta, X, y, n, d, entangler="ring"):
    logit = np_logits(theta, X, n, d, entangler)
    return np.mean(np.maximum(logit, 0) - logit * y + np.log1p(np.exp(-np.abs(logit))))


def np_grad(f, theta, eps=1e-5):
    g = np.zeros_like(theta)
    for i in range(theta.size):
        e = np.zeros_like(theta)
        e[i] = eps
        g[i] = (f(theta + e) - f(theta - e)) / (2 * eps)
    return g


def make_data(n, B, cplx, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(B, 2**n)) + (1j * rng.normal(size=(B, 2**n)) if cplx else 0)
    X = X / np.linalg.norm(X, axis=1, keepdims=True)
    X = X.astype(np.complex64 if cplx else np.float32)
    y = rng.integers(0, 2, size=B).astype(np.float32)
    return X, y


def tf_loss(f, theta, X, y):
    return tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=y, logits=f(theta, X)))


CASES = [
    (2, 1, "ring", False),
    (2, 2, "chain", True),
    (3, 2, "ring", True),
    (3, 3, "chain", False),
    (4, 2, "ring", False),
    (4, 1, "chain", True),
    (5, 2, "ring", True),
    (5, 3, "chain", False),
]

# ---------------------------------------------------------------------------------------------


def test_n_params():
    assert n_params(10, 6, "ring") == 240
    assert n_params(10, 6) == 240
    assert n_params(10, 6, "chain") == 6 * 30 + 6 * 9
    assert n_params(12, 4, "ring") == 192
    assert n_params(12, 4, "chain") == 4 * 36 + 4 * 11
    assert n_params(1, 1, "ring") == 3
    assert n_params(2, 3, "ring") == 3 * 6 + 3 * 2
    assert entangler_pairs(4, "ring") == [(0, 1), (1, 2), (2, 3), (3, 0)]
    assert entangler_pairs(4, "chain") == [(0, 1), (1, 2), (2, 3)]
    assert make_logits_fn(10, 6, complex_input=False).n_params == 240
    with pytest.raises(ValueError):
        n_params(4, 2, "star")


def check_engine_against_reference(make, n, d, entangler, cplx):
    """An engine's logits (``make``: a make_logits_fn) against TensorCircuit-NG and, for ring and chain,
    the numpy simulation."""
    rng = np.random.default_rng(n * 10 + d)
    theta = rng.normal(size=n_params(n, d, entangler)).astype(np.float32)
    X, _ = make_data(n, 5, cplx, seed=n + d)
    fast = make(n, d, entangler, complex_input=cplx)(tf.constant(theta), tf.constant(X)).numpy()
    ref = reference_logits(theta, X, n, d, entangler).numpy()
    assert fast.shape == (5,) and fast.dtype == np.float32
    np.testing.assert_allclose(fast, ref, atol=1e-5, rtol=0)
    if entangler != "none":
        dense = np_logits(theta, X.astype(np.complex128), n, d, entangler)
        np.testing.assert_allclose(fast, dense, atol=1e-5, rtol=0)
        np.testing.assert_allclose(ref, dense, atol=1e-5, rtol=0)


@pytest.mark.parametrize("n,d,entangler,cplx", CASES)
def test_fast_equals_reference_and_numpy(n, d, entangler, cplx):
    check_engine_against_reference(make_logits_fn, n, d, entangler, cplx)


def test_complex_engine_on_real_input_and_scale():
    n, d = 3, 2
    theta = np.random.default_rng(1).normal(size=n_params(n, d)).astype(np.float32)
    X, _ = make_data(n, 4, False)
    a = make_logits_fn(n, d, complex_input=False)(theta, X).numpy()
    b = make_logits_fn(n, d, complex_input=True)(theta, X.astype(np.complex64)).numpy()
    c = make_logits_fn(n, d, scale=2.0, complex_input=False)(theta, X).numpy()
    np.testing.assert_allclose(a, b, atol=1e-6)
    np.testing.assert_allclose(c, a * 2.0 / 5.0, atol=1e-6)
    with pytest.raises(ValueError):
        make_logits_fn(n, d, complex_input=False)(theta, X.astype(np.complex64))


def test_closed_form_small_cases():
    # N=1, D=1 from |0>: RX(c) RY(b) RX(a)|0>; a = c = 0 -> <Z> = cos b; b = 0 -> <Z> = cos(a + c)
    f1 = make_logits_fn(1, 1, complex_input=False, scale=1.0)
    x0 = np.array([[1.0, 0.0]], np.float32)
    for b in (0.0, 0.3, 1.2, np.pi):
        np.testing.assert_allclose(f1(np.array([0, b, 0], np.float32), x0).numpy(), [np.cos(b)], atol=1e-6)
    np.testing.assert_allclose(f1(np.array([0.4, 0, 0.5], np.float32), x0).numpy(), [np.cos(0.9)], atol=1e-6)
    # N=1 input |1>: <Z> = -cos b
    np.testing.assert_allclose(f1(np.array([0, 0.7, 0], np.float32), np.array([[0, 1]], np.float32)).numpy(),
                               [-np.cos(0.7)], atol=1e-6)
    # N=2 ring, D=2 from |00>: RY(pi/2) on both -> |++>; RZZ(t1) RZZ(t2) (ring of 2 = the pair twice);
    # layer 2: RY(-pi/2) on qubit 1 turns Z_1 into X_1:  <Z_1> = cos(t1 + t2)
    f2 = make_logits_fn(2, 2, "ring", complex_input=False, scale=1.0)
    t1, t2 = 0.3, 0.5
    rot = np.zeros((2, 2, 3))
    rot[0, :, 1] = np.pi / 2
    rot[1, 1, 1] = -np.pi / 2
    zz = np.array([[t1, t2], [0.7, -0.2]])  # last layer's RZZ cannot change <Z_1>
    theta = np.concatenate([rot.ravel(), zz.ravel()]).astype(np.float32)
    x00 = np.array([[1, 0, 0, 0]], np.float32)
    np.testing.assert_allclose(f2(theta, x00).numpy(), [np.cos(t1 + t2)], atol=1e-6)
    np.testing.assert_allclose(reference_logits(theta, x00, 2, 2, scale=1.0).numpy(), [np.cos(t1 + t2)], atol=1e-6)


@pytest.mark.parametrize("n,d,entangler,cplx", [(3, 2, "ring", False), (4, 2, "chain", True), (2, 3, "ring", True)])
def test_gradient_matches_finite_differences(n, d, entangler, cplx):
    rng = np.random.default_rng(7)
    theta = rng.normal(size=n_params(n, d, entangler))
    X, y = make_data(n, 6, cplx, seed=3)
    f = make_logits_fn(n, d, entangler, complex_input=cplx)
    t = tf.constant(theta.astype(np.float32))
    with tf.GradientTape() as tape:
        tape.watch(t)
        loss = tf_loss(f, t, X, y)
    g = tape.gradient(loss, t).numpy()
    g_fd = np_grad(lambda th: np_loss(th, X.astype(np.complex128), y, n, d, entangler), theta.astype(np.float32).astype(np.float64))
    assert np.linalg.norm(g - g_fd) <= 1e-3 * np.linalg.norm(g_fd) + 1e-6
    np.testing.assert_allclose(g, g_fd, atol=2e-4 * np.abs(g_fd).max())


def test_second_derivatives_match_finite_differences():
    n, d, entangler = 3, 2, "ring"
    rng = np.random.default_rng(11)
    theta = rng.normal(size=n_params(n, d, entangler)).astype(np.float32).astype(np.float64)
    v = rng.normal(size=theta.size)
    X, y = make_data(n, 5, True, seed=4)
    f = make_logits_fn(n, d, entangler, complex_input=True)
    t = tf.constant(theta.astype(np.float32))
    vt = tf.constant(v.astype(np.float32))

    # HVP, forward-over-reverse and reverse-over-reverse
    with tf.autodiff.ForwardAccumulator(t, vt) as acc:
        with tf.GradientTape() as tape:
            tape.watch(t)
            loss = tf_loss(f, t, X, y)
        g = tape.gradient(loss, t)
    hvp_fwd = acc.jvp(g).numpy()
    with tf.GradientTape() as outer:
        outer.watch(t)
        with tf.GradientTape() as inner:
            inner.watch(t)
            loss = tf_loss(f, t, X, y)
        gv = tf.reduce_sum(inner.gradient(loss, t) * vt)
    hvp_rev = outer.gradient(gv, t).numpy()
    # dense Hessian via tf.hessians-style jacobian of the gradient
    with tf.GradientTape() as outer:
        outer.watch(t)
        with tf.GradientTape() as inner:
            inner.watch(t)
            loss = tf_loss(f, t, X, y)
        gg = inner.gradient(loss, t)
    H = outer.jacobian(gg, t).numpy()

    Xc = X.astype(np.complex128)
    loss_np = lambda th: np_loss(th, Xc, y, n, d, entangler)  # noqa: E731
    grad_np = lambda th: np_grad(loss_np, th, eps=1e-5)  # noqa: E731
    eps = 1e-4
    hvp_fd = (grad_np(theta + eps * v) - grad_np(theta - eps * v)) / (2 * eps)
    scale = np.abs(hvp_fd).max()
    np.testing.assert_allclose(hvp_fwd, hvp_fd, atol=2e-3 * scale)
    np.testing.assert_allclose(hvp_rev, hvp_fd, atol=2e-3 * scale)
    np.testing.assert_allclose(H @ v, hvp_fd, atol=2e-3 * scale)
    np.testing.assert_allclose(H, H.T, atol=1e-4 * np.abs(H).max())
    # one Hessian entry by a four-point difference of the loss
    i, j, h = 1, 14, 1e-3
    e_i, e_j = np.eye(theta.size)[i] * h, np.eye(theta.size)[j] * h
    h_ij = (loss_np(theta + e_i + e_j) - loss_np(theta + e_i - e_j) - loss_np(theta - e_i + e_j)
            + loss_np(theta - e_i - e_j)) / (4 * h * h)
    np.testing.assert_allclose(H[i, j], h_ij, atol=2e-3 * np.abs(H).max())


@pytest.mark.parametrize("cplx", [False, True])
def test_xla_equals_eager(cplx):
    n, d = 3, 2
    theta = tf.constant(np.random.default_rng(2).normal(size=n_params(n, d)).astype(np.float32))
    X, y = make_data(n, 8, cplx, seed=9)
    f = make_logits_fn(n, d, complex_input=cplx)

    def vg(t):
        with tf.GradientTape() as tape:
            tape.watch(t)
            loss = tf_loss(f, t, X, y)
        return loss, tape.gradient(loss, t)

    eager_logits = f(theta, X).numpy()
    xla_logits = tf.function(f, jit_compile=True)(theta, X).numpy()
    np.testing.assert_allclose(xla_logits, eager_logits, atol=2e-6)
    (l0, g0), (l1, g1) = vg(theta), tf.function(vg, jit_compile=True)(theta)
    np.testing.assert_allclose(l1.numpy(), l0.numpy(), atol=1e-6)
    np.testing.assert_allclose(g1.numpy(), g0.numpy(), atol=1e-5)

    # second derivatives compile under XLA too (forward-over-reverse and reverse-over-reverse HVP)
    if not cplx:
        return  # (compile time: the HVP check runs once, on the complex engine)
    v = tf.constant(np.random.default_rng(3).normal(size=theta.shape[0]).astype(np.float32))

    def hvp_fwd(t, v):
        with tf.autodiff.ForwardAccumulator(t, v) as acc:
            _, g = vg(t)
        return acc.jvp(g)

    def hvp_rev(t, v):
        with tf.GradientTape() as tape:
            tape.watch(t)
            _, g = vg(t)
            gv = tf.reduce_sum(g * v)
        return tape.gradient(gv, t)

    h0 = hvp_fwd(theta, v).numpy()
    np.testing.assert_allclose(hvp_rev(theta, v).numpy(), h0, atol=1e-4)
    np.testing.assert_allclose(tf.function(hvp_fwd, jit_compile=True)(theta, v).numpy(), h0, atol=1e-4)
    np.testing.assert_allclose(tf.function(hvp_rev, jit_compile=True)(theta, v).numpy(), h0, atol=1e-4)


@pytest.mark.parametrize("cplx", [False, True])
def test_batched_equals_loop(cplx):
    n, d, S = 4, 2, 3
    P = n_params(n, d, "chain")
    thetas = tf.constant(np.random.default_rng(5).normal(size=(S, P)).astype(np.float32))
    XS = np.stack([make_data(n, 6, cplx, seed=s)[0] for s in range(S)])
    yS = np.stack([make_data(n, 6, cplx, seed=s)[1] for s in range(S)])
    f = make_logits_fn(n, d, "chain", complex_input=cplx)
    fb = make_logits_fn_batched(n, d, "chain", complex_input=cplx)

    def vg_b(t):
        with tf.GradientTape() as tape:
            tape.watch(t)
            losses = tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=yS, logits=fb(t, XS)), 1)
            total = tf.reduce_sum(losses)
        return fb(t, XS), tape.gradient(total, t)

    for fn in (vg_b, tf.function(vg_b, jit_compile=True)):
        logits_b, grads_b = fn(thetas)
        for s in range(S):
            t = thetas[s]
            with tf.GradientTape() as tape:
                tape.watch(t)
                loss = tf_loss(f, t, XS[s], yS[s])
            np.testing.assert_allclose(logits_b[s].numpy(), f(t, XS[s]).numpy(), atol=2e-6)
            np.testing.assert_allclose(grads_b[s].numpy(), tape.gradient(loss, t).numpy(), atol=1e-5)


def test_pfor_jacobian_equals_loop():
    # TF's pfor (default of GradientTape.jacobian, tf.vectorized_map) mis-converts 3-D BatchMatMulV2
    # outside XLA (garbage values, even segfaults); the single-parameter-set engine avoids it.
    n, d = 6, 2
    theta = tf.constant(np.random.default_rng(8).normal(size=n_params(n, d)).astype(np.float32))
    X, _ = make_data(n, 4, True, seed=1)
    f = make_logits_fn(n, d, complex_input=True)
    with tf.GradientTape() as tape:
        tape.watch(theta)
        out = f(theta, X)
    j_pfor = tape.jacobian(out, theta).numpy()
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(theta)
        out = f(theta, X)
    j_loop = tape.jacobian(out, theta, experimental_use_pfor=False).numpy()
    np.testing.assert_allclose(j_pfor, j_loop, atol=1e-5)
