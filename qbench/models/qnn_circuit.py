"""Forward engine of the protocol's QNN (PROTOCOL section 2.1), TensorCircuit-NG on TensorFlow.

Model
-----
``N`` qubits, depth ``D``. The input is a batch of amplitude vectors ``X`` of shape ``(B, 2**N)``
(float32 for real data such as MNIST, complex64 for XXZ ground states), unit norm, basis index bits
in TensorCircuit's convention (qubit 0 is the most significant bit). Each of the ``D`` layers applies
``RX(a) RY(b) RX(c)`` (in this time order) on every qubit, then ``RZZ(t) = exp(-i t/2 Z Z)``
(TensorCircuit's ``rzz``) on every neighbouring pair:

* ``entangler="ring"`` (default, the study's code): pairs ``(j, (j+1) % N)``, ``N`` gates
  (for ``N == 2`` this is the pair (0, 1) twice; for ``N == 1`` there is no pair);
* ``entangler="chain"`` (the paper's text): pairs ``(j, j+1)`` for ``j = 0 .. N-2``;
* ``entangler="none"`` (the product control, PROTOCOL 2.4): no pair, so no RZZ angle in ``theta``.

The output logit is ``scale * <Z_{N-1}>`` (``scale`` defaults to 5.0); ``sigmoid(logit)`` is the
probability of the positive class.

Parameter layout
----------------
One flat float32 vector ``theta`` of length ``P = n_params(N, D, entangler) = D*N*3 + D*n_pairs``:

* ``theta[:D*N*3].reshape(D, N, 3)[l, q]`` = the angles ``(a, b, c)`` of ``RX(a)``, ``RY(b)``,
  ``RX(c)`` on qubit ``q`` in layer ``l``;
* ``theta[D*N*3:].reshape(D, n_pairs)[l, p]`` = the angle of the RZZ on pair ``p`` (in the order
  listed by :func:`entangler_pairs`) in layer ``l``.

Entry points
------------
* :func:`reference_logits` -- readable ground truth: ``tc.Circuit(N, inputs=x)`` with tc gates,
  ``expectation_ps``, ``K.vmap`` over the batch.
* :func:`make_logits_fn` -- the fast pure-TF function ``(theta (P,), X (B, 2**N)) -> (B,)`` for use
  inside ``tf.function(jit_compile=True)``; twice differentiable in ``theta``.
* :func:`make_logits_fn_batched` -- the same for ``S`` parameter sets at once:
  ``(theta (S, P), X (S, B, 2**N)) -> (S, B)``.

Fast formulation (see ``make_logits_fn``): the state is kept as one real float32 tensor with a
real/imaginary axis; per layer, the fused ``RX RY RX`` 2x2 unitaries are combined into Kronecker
blocks (each a real ``2*2**k x 2*2**k`` matrix acting on ``(re/im, block index)``) applied by
matmul (block A -- the first qubits -- from the left, block B from the right, no transpose of the
state), the whole RZZ layer is one elementwise phase, real input halves the first layer, and the last layer is reduced to what
``<Z_{N-1}>`` can see: its RZZ phase and its single-qubit gates on qubits other than ``N-1`` commute
with ``Z_{N-1}`` and cancel, so the output is ``tr(U^dagger Z U rho_{N-1})`` with ``rho_{N-1}`` the
reduced density matrix of the last qubit before the last layer.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import tensorcircuit as tc
import tensorflow as tf

from qbench.models.base import plain_python

__all__ = [
    "entangler_pairs",
    "n_params",
    "split_params",
    "reference_logits",
    "make_logits_fn",
    "make_logits_fn_batched",
]

_ENTANGLERS = ("ring", "chain", "none")


# ---------------------------------------------------------------------------------------------
# structure
# ---------------------------------------------------------------------------------------------


def entangler_pairs(n_qubits: int, entangler: str = "ring") -> list[tuple[int, int]]:
    """The RZZ pairs of one layer, in parameter order."""
    n = int(n_qubits)
    if n < 1:
        raise ValueError(f"n_qubits must be >= 1, got {n_qubits}")
    if entangler == "ring":
        if n == 1:
            return []
        return [(j, (j + 1) % n) for j in range(n)]
    if entangler == "chain":
        return [(j, j + 1) for j in range(n - 1)]
    if entangler == "none":
        return []
    raise ValueError(f"entangler must be one of {_ENTANGLERS}, got {entangler!r}")


def n_params(n_qubits: int, depth: int, entangler: str = "ring") -> int:
    """Length of the flat parameter vector: ``D*N*3 + D*n_pairs``."""
    if int(depth) < 1:
        raise ValueError(f"depth must be >= 1, got {depth}")
    n_pairs = len(entangler_pairs(n_qubits, entangler))
    return int(depth) * int(n_qubits) * 3 + int(depth) * n_pairs


def split_params(theta, n_qubits: int, depth: int, entangler: str = "ring"):
    """Split ``theta`` (..., P) into rotation angles (..., D, N, 3) and RZZ angles (..., D, n_pairs)."""
    n, d = int(n_qubits), int(depth)
    n_pairs = len(entangler_pairs(n, entangler))
    n_rot = d * n * 3
    lead = tf.shape(theta)[:-1]
    rot = tf.reshape(theta[..., :n_rot], tf.concat([lead, [d, n, 3]], 0))
    zz = tf.reshape(theta[..., n_rot:], tf.concat([lead, [d, n_pairs]], 0))
    return rot, zz


def _check_shapes(n_qubits, depth, entangler):
    if int(n_qubits) < 1 or int(depth) < 1:
        raise ValueError("n_qubits and depth must be >= 1")
    entangler_pairs(n_qubits, entangler)


# ---------------------------------------------------------------------------------------------
# reference: literal TensorCircuit-NG circuit
# ---------------------------------------------------------------------------------------------


def reference_logits(theta, X, n_qubits: int, depth: int, entangler: str = "ring", scale: float = 5.0):
    """Ground truth: the circuit built gate by gate with ``tc.Circuit(N, inputs=x)``.

    Uses TensorCircuit-NG's TensorFlow backend (it calls ``tc.set_backend("tensorflow")``),
    complex64, ``K.vmap`` over the batch. Returns float32 logits of shape (B,). Slow to trace for
    large circuits: meant for tests and spot checks.
    """
    _check_shapes(n_qubits, depth, entangler)
    tc.set_backend("tensorflow")
    tc.set_dtype("complex64")
    K = tc.backend
    n, d = int(n_qubits), int(depth)
    pairs = entangler_pairs(n, entangler)
    n_rot = d * n * 3
    theta = tf.convert_to_tensor(theta, tf.float32)
    if theta.shape[-1] != n_params(n, d, entangler):
        raise ValueError(f"theta has length {theta.shape[-1]}, expected {n_params(n, d, entangler)}")
    rot = tf.reshape(theta[:n_rot], (d, n, 3))
    zz = tf.reshape(theta[n_rot:], (d, len(pairs)))
    X = tf.cast(tf.convert_to_tensor(X), tf.complex64)

    def one(x, rot, zz):
        c = tc.Circuit(n, inputs=x)
        for layer in range(d):
            for q in range(n):
                c.rx(q, theta=rot[layer, q, 0])
                c.ry(q, theta=rot[layer, q, 1])
                c.rx(q, theta=rot[layer, q, 2])
            for p, (i, j) in enumerate(pairs):
                c.rzz(i, j, theta=zz[layer, p])
        return K.real(c.expectation_ps(z=[n - 1]))

    f = K.vmap(one, vectorized_argnums=0)
    z = f(X, rot, zz)
    return tf.cast(scale * z, tf.float32)


# ---------------------------------------------------------------------------------------------
# fast engine
# ---------------------------------------------------------------------------------------------


def _zz_sign_matrix(n: int, pairs: Sequence[tuple[int, int]]) -> np.ndarray:
    """(2**n, n_pairs) matrix of z_i(k) z_j(k) in {+1, -1}; qubit 0 is the most significant bit."""
    k = np.arange(2**n)
    bits = (k[:, None] >> (n - 1 - np.arange(n))[None, :]) & 1  # (2**n, n)
    z = 1 - 2 * bits
    out = np.ones((2**n, max(len(pairs), 1)), np.float32)
    for p, (i, j) in enumerate(pairs):
        out[:, p] = z[:, i] * z[:, j]
    return out[:, : len(pairs)]


def _fused_u(rot):
    """U = RX(c) RY(b) RX(a) for angles rot[..., 0:3] = (a, b, c); returns (Ur, Ui), each (..., 2, 2).

    Closed form in real arithmetic (TensorCircuit's RX(t) = exp(-i t X / 2), RY(t) = exp(-i t Y / 2)).
    """
    h = 0.5 * rot
    ca, cb, cc = tf.cos(h[..., 0]), tf.cos(h[..., 1]), tf.cos(h[..., 2])
    sa, sb, sc = tf.sin(h[..., 0]), tf.sin(h[..., 1]), tf.sin(h[..., 2])
    # RY(b) RX(a) = R + i J with R = cb*ca*I - sb*ca*iY... written out explicitly:
    # RY = [[cb, -sb], [sb, cb]];  RX(a) = ca*I - i sa*X
    # RY @ RX(a): real part = ca*RY, imag part = -sa*RY@X, RY@X = [[-sb, cb], [cb, sb]]
    R00, R01, R10, R11 = ca * cb, -ca * sb, ca * sb, ca * cb
    J00, J01, J10, J11 = sa * sb, -sa * cb, -sa * cb, -sa * sb
    # RX(c) @ (R + iJ) = cc*R + sc*X@J + i (cc*J - sc*X@R);  X@M swaps rows
    Ur00 = cc * R00 + sc * J10
    Ur01 = cc * R01 + sc * J11
    Ur10 = cc * R10 + sc * J00
    Ur11 = cc * R11 + sc * J01
    Ui00 = cc * J00 - sc * R10
    Ui01 = cc * J01 - sc * R11
    Ui10 = cc * J10 - sc * R00
    Ui11 = cc * J11 - sc * R01
    Ur = tf.stack([tf.stack([Ur00, Ur01], -1), tf.stack([Ur10, Ur11], -1)], -2)
    Ui = tf.stack([tf.stack([Ui00, Ui01], -1), tf.stack([Ui10, Ui11], -1)], -2)
    return Ur, Ui


def _dim(t, i):
    """Static size of axis i when known, else the dynamic one."""
    v = t.shape[i]
    return v if v is not None else tf.shape(t)[i]


def _lead_shape(t, n_trailing):
    return [_dim(t, i) for i in range(t.shape.rank - n_trailing)]


def _bmm(a, b):
    """a @ b over a leading seed axis; a plain 2-D matmul when that axis is statically 1."""
    if a.shape[0] == 1 and b.shape[0] == 1:
        return tf.matmul(a[0], b[0])[None]
    return tf.matmul(a, b)


def _kron_block(Ur, Ui):
    """Kronecker product over axis -3 of per-qubit 2x2 complex matrices given as real parts.

    Ur, Ui: (..., k, 2, 2) -> (..., 2**k, 2**k) real and imaginary parts of U_0 (x) U_1 (x) ...
    (first qubit = most significant).

    Reshapes, not new-axis indexing: the same computation after XLA's passes (checked on the optimized
    HLO), in about a quarter fewer traced ops (each indexing is a strided slice with three constants,
    and its gradient a larger op). Slicing a qubit's matrix stays a slice: unstacking them instead
    changes the gradient's HLO and moved the last bits of the numbers.
    """
    k = Ur.shape[-3]
    lead = _lead_shape(Ur, 3)
    Ar, Ai = Ur[..., 0, :, :], Ui[..., 0, :, :]
    for q in range(1, k):
        m = Ar.shape[-1]
        ar, ai = (tf.reshape(a, lead + [m, 1, m, 1]) for a in (Ar, Ai))
        br, bi = (tf.reshape(b, lead + [1, 2, 1, 2]) for b in (Ur[..., q, :, :], Ui[..., q, :, :]))

        def kr(a, b):
            return tf.reshape(a * b, lead + [2 * m, 2 * m])

        Ar, Ai = kr(ar, br) - kr(ai, bi), kr(ar, bi) + kr(ai, br)
    return Ar, Ai


def _real_rep(Ar, Ai):
    """Real (2K, 2K) representation [[Ar, -Ai], [Ai, Ar]] acting on (re/im, index) vectors.

    Built with stack + reshape, not concat: the gradient of concat is a Slice, whose gradient
    inside XLA is XlaDynamicUpdateSlice, which has no gradient (second derivatives would fail).
    """
    K = Ar.shape[-1]
    lead = _lead_shape(Ar, 2)
    top = tf.reshape(tf.stack([Ar, -Ai], -2), lead + [K, 2 * K])
    bot = tf.reshape(tf.stack([Ai, Ar], -2), lead + [K, 2 * K])
    return tf.reshape(tf.stack([top, bot], -3), lead + [2 * K, 2 * K])


def _default_blocks(n: int) -> list[int]:
    """Kronecker block sizes: one block up to 5 qubits, else two halves (measured: [5, 5] at N=10 and
    [6, 6] at N=12 beat [4, 6], [7, 3], [3, 7], [7, 5], [5, 7] and 3-5 block variants with transposes)."""
    if n <= 5:
        return [n]
    half = n // 2
    return [half, n - half]


def _build_core(n: int, depth: int, entangler: str, scale: float, complex_input: bool,
                blocks: Sequence[int] | None = None):
    """Return core(theta (S, P), X (S, B, 2**n), noise=None) -> logits (S, B) float32.

    ``noise``: a hook (:class:`qbench.models.qnn_noise.NoiseHook`) applied to the state after every layer
    but the last and to <Z_{N-1}> before the scale; None (the protocol's exact model) leaves both alone.

    State layout: one real float32 tensor (S, 2, K1, B, K2) -- axis 1 is (real, imaginary), K1 = 2**k1
    indexes the first k1 qubits (block A), K2 = 2**k2 the remaining ones (block B, k2 may be 0).
    Block A is then one matmul from the left over the merged (re/im, K1) axis with the real
    representation [[Ar, -Ai], [Ai, Ar]] of the Kronecker product of its fused 2x2 unitaries; block B is
    one matmul from the right over K2 with [Br^T, Bi^T] followed by an elementwise recombination.
    Neither needs a transpose of the state.
    """
    pairs = entangler_pairs(n, entangler)
    n_pairs = len(pairs)
    d = int(depth)
    n_rot = d * n * 3
    P = n_rot + d * n_pairs
    if blocks is None:
        blocks = _default_blocks(n)
    blocks = [int(b) for b in blocks]
    if not (1 <= len(blocks) <= 2 and sum(blocks) == n and all(b >= 1 for b in blocks)):
        raise ValueError(f"blocks must be one or two positive sizes summing to {n}, got {blocks}")
    k1 = blocks[0]
    k2 = blocks[1] if len(blocks) == 2 else 0
    K1, K2 = 2**k1, 2**k2
    zz_signs = tf.constant(_zz_sign_matrix(n, pairs)) if n_pairs else None  # (2**n, n_pairs)
    scale = float(scale)

    def block_a_matrix(Ur, Ui):  # Ur/Ui (S, N, 2, 2) -> (S, 2K1, 2K1)
        Ar, Ai = _kron_block(Ur[:, :k1], Ui[:, :k1])
        return Ar, Ai

    def block_b_matrix(Ur, Ui):  # -> [Br^T, Bi^T] (S, K2, 2K2)
        Br, Bi = _kron_block(Ur[:, k1:], Ui[:, k1:])
        M = tf.stack([tf.linalg.matrix_transpose(Br), tf.linalg.matrix_transpose(Bi)], -2)  # (S, K2, 2, K2)
        return tf.reshape(M, (_dim(M, 0), K2, 2 * K2))

    def core(theta, X, noise=None):
        theta = tf.convert_to_tensor(theta, tf.float32)
        # static sizes where known (tf.vectorized_map / pfor-based jacobians mis-handle some of the
        # dynamic-shape reshapes otherwise)
        S = _dim(theta, 0)
        Bsz = _dim(X, 1)
        rot = tf.reshape(theta[:, :n_rot], (S, d, n, 3))
        Ur_all, Ui_all = _fused_u(rot)  # (S, D, N, 2, 2)

        # ---- input -> (S, 2, K1, B, K2) (or (S, K1, B, K2) real part only)
        if complex_input:
            X = tf.convert_to_tensor(X)
            xr = tf.math.real(X) if X.dtype.is_complex else tf.cast(X, tf.float32)
            xi = tf.math.imag(X) if X.dtype.is_complex else tf.zeros_like(xr)
            st = tf.stack([xr, xi], 1)  # (S, 2, B, 2**n)
            st = tf.transpose(tf.reshape(st, (S, 2, Bsz, K1, K2)), (0, 1, 3, 2, 4))
            real_state = None
        else:
            xr = tf.cast(X, tf.float32)
            real_state = tf.transpose(tf.reshape(xr, (S, Bsz, K1, K2)), (0, 2, 1, 3))
            st = None

        for layer in range(d - 1):
            Ur, Ui = Ur_all[:, layer], Ui_all[:, layer]
            Ar, Ai = block_a_matrix(Ur, Ui)
            # block A from the left
            if st is None:
                M = tf.reshape(tf.stack([Ar, Ai], -3), (S, 2 * K1, K1))  # (S, 2K1, K1): real input
                st = tf.reshape(_bmm(M, tf.reshape(real_state, (S, K1, Bsz * K2))), (S, 2, K1, Bsz, K2))
            else:
                M = _real_rep(Ar, Ai)  # (S, 2K1, 2K1)
                st = tf.reshape(_bmm(M, tf.reshape(st, (S, 2 * K1, Bsz * K2))), (S, 2, K1, Bsz, K2))
            # block B from the right
            if k2:
                Mb = block_b_matrix(Ur, Ui)  # (S, K2, 2K2)
                t = tf.reshape(_bmm(tf.reshape(st, (S, 2 * K1 * Bsz, K2)), Mb), (S, 2, K1, Bsz, 2, K2))
                re = t[:, 0, :, :, 0] - t[:, 1, :, :, 1]
                im = t[:, 0, :, :, 1] + t[:, 1, :, :, 0]
                st = tf.stack([re, im], 1)
            # RZZ layer: one elementwise phase exp(-i/2 sum_p t_p z_i z_j)
            if n_pairs:
                tzz = theta[:, n_rot + layer * n_pairs: n_rot + (layer + 1) * n_pairs]  # (S, n_pairs)
                phi = -0.5 * tf.matmul(tzz, zz_signs, transpose_b=True)  # (S, 2**n)
                phi = tf.reshape(phi, (S, K1, 1, K2))
                c, s = tf.cos(phi), tf.sin(phi)
                re, im = st[:, 0], st[:, 1]
                st = tf.stack([c * re - s * im, s * re + c * im], 1)
            # device noise (qbench.models.qnn_noise): sampled Pauli errors after every layer
            if noise is not None:
                st = noise.after_layer(st, layer)

        # ---- last layer: only U_{N-1} matters; <Z_{N-1}> = tr(U^dag Z U rho_{N-1})
        if st is None:
            re_s, im_s = real_state, None
        else:
            re_s, im_s = st[:, 0], st[:, 1]  # (S, K1, B, K2)

        def split_last(t):  # -> (amplitude with last qubit 0, with last qubit 1)
            if k2:
                t = tf.reshape(t, (S, K1, Bsz, K2 // 2, 2))
                return t[..., 0], t[..., 1]
            t = tf.reshape(t, (S, K1 // 2, 2, Bsz))
            return t[:, :, 0], t[:, :, 1]

        red_axes = (1, 3) if k2 else (1,)
        r0, r1 = split_last(re_s)
        if im_s is None:
            p0 = tf.reduce_sum(r0 * r0, red_axes)
            p1 = tf.reduce_sum(r1 * r1, red_axes)
            re01 = tf.reduce_sum(r0 * r1, red_axes)
            im01 = tf.zeros_like(re01)
        else:
            i0, i1 = split_last(im_s)
            p0 = tf.reduce_sum(r0 * r0 + i0 * i0, red_axes)
            p1 = tf.reduce_sum(r1 * r1 + i1 * i1, red_axes)
            re01 = tf.reduce_sum(r0 * r1 + i0 * i1, red_axes)  # Re rho_01 = Re sum psi0 conj(psi1)
            im01 = tf.reduce_sum(i0 * r1 - r0 * i1, red_axes)  # Im rho_01
        z = _last_qubit_z(Ur_all[:, d - 1, n - 1], Ui_all[:, d - 1, n - 1], p0, p1, re01, im01)
        if noise is not None:  # the last layer's errors on the measured qubit, readout, training's shot noise
            z = noise.measure(z)
        return scale * z

    return core, P



def _last_qubit_z(Ur, Ui, p0, p1, re01, im01):
    """tr(U^dag Z U rho) for U = Ur + i Ui (S, 2, 2) and rho given by p0, p1, rho_01 (each (S, B))."""
    ar, br, cr, er = Ur[:, 0, 0], Ur[:, 0, 1], Ur[:, 1, 0], Ur[:, 1, 1]
    ai, bi, ci, ei = Ui[:, 0, 0], Ui[:, 0, 1], Ui[:, 1, 0], Ui[:, 1, 1]
    # O = U^dag Z U = [[nz, nx - i ny], [nx + i ny, -nz]];  O_01 = conj(a) b - conj(c) e
    nz = ar * ar + ai * ai - cr * cr - ci * ci
    o01r = ar * br + ai * bi - cr * er - ci * ei
    o01i = ar * bi - ai * br - cr * ei + ci * er
    # tr(O rho) = nz (p0 - p1) + 2 Re(O_10 rho_01), O_10 = conj(O_01)
    return nz[:, None] * (p0 - p1) + 2.0 * (o01r[:, None] * re01 + o01i[:, None] * im01)


def _check_x(X, n, batched, complex_input):
    if X.dtype.is_complex and not complex_input:
        raise ValueError("X is complex: build the function with complex_input=True")
    rank = 3 if batched else 2
    if X.shape.rank is not None and X.shape.rank != rank:
        raise ValueError(f"X must have rank {rank}, got shape {X.shape}")
    if X.shape[-1] is not None and X.shape[-1] != 2**n:
        raise ValueError(f"X must have last dimension 2**{n} = {2**n}, got {X.shape[-1]}")


def logits_fn_from_core(core, n_params: int, n_qubits: int, *, complex_input: bool, batched: bool
                        ) -> Callable[[tf.Tensor, tf.Tensor], tf.Tensor]:
    """The public ``(theta, X) -> logits`` function over an engine's ``core(theta (S, P), X (S, B, 2**N))``,
    with the input checks; ``batched`` keeps the seed axis, else ``theta`` is (P,) and ``X`` (B, 2**N)."""

    @plain_python
    def logits_fn(theta, X):
        theta = tf.convert_to_tensor(theta, tf.float32)
        X = tf.convert_to_tensor(X)
        _check_x(X, n_qubits, batched=batched, complex_input=complex_input)
        rank = 2 if batched else 1
        if theta.shape.rank is not None and theta.shape.rank != rank:
            raise ValueError(f"theta must have shape {'(S, P)' if batched else '(P,)'}, got {theta.shape}")
        return core(theta, X) if batched else core(theta[None], X[None])[0]

    logits_fn.n_params = n_params
    return logits_fn


def make_logits_fn(n_qubits: int, depth: int, entangler: str = "ring", scale: float = 5.0, *,
                   complex_input: bool, blocks: Sequence[int] | None = None
                   ) -> Callable[[tf.Tensor, tf.Tensor], tf.Tensor]:
    """Fast pure-TF logits ``f(theta (P,), X (B, 2**N)) -> (B,) float32``.

    ``complex_input=False``: X is real (float32); the first layer then uses half the arithmetic.
    ``complex_input=True``: X is complex64 (or real, treated as complex).
    Twice differentiable in ``theta``; XLA-compilable (no complex ops inside: the state is split into
    float32 real and imaginary parts). ``blocks`` (advanced) overrides the Kronecker block sizes.
    """
    _check_shapes(n_qubits, depth, entangler)
    core, P = _build_core(int(n_qubits), depth, entangler, scale, complex_input, blocks)
    return logits_fn_from_core(core, P, int(n_qubits), complex_input=complex_input, batched=False)


def make_logits_fn_batched(n_qubits: int, depth: int, entangler: str = "ring", scale: float = 5.0, *,
                           complex_input: bool, blocks: Sequence[int] | None = None
                           ) -> Callable[[tf.Tensor, tf.Tensor], tf.Tensor]:
    """``S`` parameter sets at once: ``f(theta (S, P), X (S, B, 2**N)) -> (S, B)`` float32.

    The seed axis is a batch axis of every matmul (no ``tf.vectorized_map``); differentiable.
    Caution: TF's pfor (``GradientTape.jacobian``'s default, ``tf.vectorized_map``) mis-converts
    3-D batched matmuls outside XLA (wrong values, even segfaults): with S > 1 use jacobians only
    under ``jit_compile=True`` or with ``experimental_use_pfor=False``. With S == 1 the engine uses
    2-D matmuls and pfor is correct.
    """
    _check_shapes(n_qubits, depth, entangler)
    core, P = _build_core(int(n_qubits), depth, entangler, scale, complex_input, blocks)
    return logits_fn_from_core(core, P, int(n_qubits), complex_input=complex_input, batched=True)
