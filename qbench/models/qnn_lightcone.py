"""Light-cone engine of the protocol's QNN: the same model as :mod:`qbench.models.qnn_circuit`, computed
on the qubits that ``<Z_{N-1}>`` can see.

Why it is exact
---------------
The output is ``<x| W^dag Z_{N-1} W |x>`` with ``W = R_{D-1} E_{D-2} R_{D-2} ... E_0 R_0`` (``R_l`` the
rotation layer, ``E_l`` the diagonal RZZ layer; the last layer's ``E_{D-1}`` commutes with ``Z_{N-1}``).
Going backwards from ``Z_{N-1}``, a rotation keeps the support of the Heisenberg operator and an RZZ
layer widens it only by the pairs that touch it, so after ``D - 1`` RZZ layers the operator acts on the
*light cone* ``C`` (for the ring at N = 12, D = 4: qubits 8, 9, 10, 11, 0, 1, 2). Every gate outside
it commutes with the operator at the point where it acts and cancels. Hence, with ``W_C`` the circuit
restricted to ``C`` (rotations on ``C``, the RZZ pairs with both ends in ``C``),

    <Z_{N-1}> = sum_m <x_m| W_C^dag Z W_C |x_m>,

where ``x_m`` (a ``2**|C|`` vector) is the input's amplitudes with the qubits outside ``C`` fixed to the
basis configuration ``m``. The step is then one dense ``2**|C|`` unitary built from the parameters
(small) and one large matmul over the ``B * 2**(N - |C|)`` vectors ``x_m``: at the XXZ shape about a
quarter of the dense engine's arithmetic per amplitude, in one well-shaped matmul instead of
``2 (D - 1)`` block matmuls and phases.

It pays when ``|C|`` is well below ``N``; at the MNIST shape (N = 10, D = 6) the cone is every qubit
and :func:`use_light_cone` says no. Device noise (:mod:`qbench.models.qnn_noise`) acts on the whole
state between layers and keeps the dense engine.
"""

from __future__ import annotations

from typing import Callable

import tensorflow as tf

from qbench.models.qnn_circuit import (
    _bmm,
    _check_shapes,
    _default_blocks,
    _dim,
    _fused_u,
    _kron_block,
    _last_qubit_z,
    _real_rep,
    _zz_sign_matrix,
    entangler_pairs,
    logits_fn_from_core,
    n_params,
)

__all__ = ["light_cone", "use_light_cone", "make_logits_fn_cone", "make_logits_fn_cone_batched"]


def light_cone(n_qubits: int, depth: int, entangler: str = "ring") -> list[int]:
    """The qubits (sorted) on which the Heisenberg-picture ``Z_{N-1}`` acts before the first layer."""
    _check_shapes(n_qubits, depth, entangler)
    n, d = int(n_qubits), int(depth)
    pairs = entangler_pairs(n, entangler)
    support = {n - 1}
    for _ in range(d - 1):
        grown = set(support)
        for i, j in pairs:
            if i in support or j in support:
                grown |= {i, j}
        support = grown
    return sorted(support)


def use_light_cone(n_qubits: int, depth: int, entangler: str = "ring") -> bool:
    """Whether the light-cone engine does less work than the dense one (XXZ shape yes, MNIST no).

    Per input amplitude the cone engine spends about ``2**|C|`` complex multiply-adds in its one matmul,
    the dense one ``2**k1 + 2**k2`` per layer for ``D - 1`` layers.
    """
    n, d = int(n_qubits), int(depth)
    c = len(light_cone(n, d, entangler))
    if c >= n:
        return False
    dense = (d - 1) * sum(2**k for k in _default_blocks(n))
    return 2**c < dense


def _runs(members: list[bool]) -> list[tuple[bool, int]]:
    """Runs of consecutive qubits with the same cone membership: [(in_cone, length), ...]."""
    out: list[tuple[bool, int]] = []
    for m in members:
        if out and out[-1][0] == m:
            out[-1] = (m, out[-1][1] + 1)
        else:
            out.append((m, 1))
    return out


def _cat(a, b):
    """Concatenate on the last axis by stack + reshape (concat's gradient has no gradient inside XLA)."""
    lead = [_dim(a, i) for i in range(a.shape.rank - 1)]
    return tf.reshape(tf.stack([a, b], -2), lead + [2 * a.shape[-1]])


def _build_cone_core(n: int, depth: int, entangler: str, scale: float, complex_input: bool):
    """Return core(theta (S, P), X (S, B, 2**n)) -> logits (S, B) float32, and P."""
    pairs = entangler_pairs(n, entangler)
    n_pairs = len(pairs)
    d = int(depth)
    n_rot = d * n * 3
    P = n_params(n, d, entangler)
    cone = light_cone(n, d, entangler)
    c = len(cone)
    C = 2**c
    M = 2 ** (n - c)
    pos = {q: i for i, q in enumerate(cone)}
    # the RZZ pairs inside the cone, as cone positions, with their parameter index
    inner = [(p, pos[i], pos[j]) for p, (i, j) in enumerate(pairs) if i in pos and j in pos]
    inner_idx = tf.constant([p for p, _, _ in inner], tf.int32)
    signs = tf.constant(_zz_sign_matrix(c, [(a, b) for _, a, b in inner])) if inner else None  # (C, n_in)
    cone_idx = tf.constant(cone, tf.int32)
    # input permutation: (S, B, runs...) -> (S, B, outside runs..., cone runs...)
    runs = _runs([q in pos for q in range(n)])
    run_dims = [2**length for _, length in runs]
    out_axes = [2 + i for i, (inside, _) in enumerate(runs) if not inside]
    in_axes = [2 + i for i, (inside, _) in enumerate(runs) if inside]
    perm = [0, 1] + out_axes + in_axes
    scale = float(scale)

    def unitary(Ur, Ui):
        """Real and imaginary parts (S, C, C) of the Kronecker product over the cone of (S, N, 2, 2)."""
        return _kron_block(tf.gather(Ur, cone_idx, axis=1), tf.gather(Ui, cone_idx, axis=1))

    def phase(theta, layer, Wr, Wi):
        """diag(exp(-i/2 sum_p t_p z_i z_j)) W over the inner pairs of one layer."""
        if not inner:
            return Wr, Wi
        t = tf.gather(theta[:, n_rot + layer * n_pairs: n_rot + (layer + 1) * n_pairs], inner_idx, axis=1)
        phi = -0.5 * tf.matmul(t, signs, transpose_b=True)[:, :, None]  # (S, C, 1)
        cs, sn = tf.cos(phi), tf.sin(phi)
        return cs * Wr - sn * Wi, sn * Wr + cs * Wi

    def core(theta, X):
        theta = tf.convert_to_tensor(theta, tf.float32)
        S = _dim(theta, 0)
        Bsz = _dim(X, 1)
        rot = tf.reshape(theta[:, :n_rot], (S, d, n, 3))
        Ur_all, Ui_all = _fused_u(rot)  # (S, D, N, 2, 2)

        # V = E_{D-2} R_{D-2} ... E_0 R_0 on the cone (identity for D = 1); the last layer's u_{N-1} is
        # applied to the reduced state at the end
        if d == 1:
            eye = tf.eye(C, batch_shape=[S])
            Wr, Wi = eye, tf.zeros_like(eye)
        for layer in range(d - 1):
            Rr, Ri = unitary(Ur_all[:, layer], Ui_all[:, layer])
            if layer == 0:
                Wr, Wi = Rr, Ri
            else:
                W = _bmm(_real_rep(Rr, Ri), tf.reshape(tf.stack([Wr, Wi], 1), (S, 2 * C, C)))
                W = tf.reshape(W, (S, 2, C, C))
                Wr, Wi = W[:, 0], W[:, 1]
            Wr, Wi = phase(theta, layer, Wr, Wi)

        # the inputs' cone vectors x_m: (S, B*M, C), then Y = x V^T for every one
        def cone_vectors(t):
            t = tf.reshape(t, [S, Bsz] + run_dims)
            return tf.reshape(tf.transpose(t, perm), (S, Bsz * M, C))

        WrT, WiT = tf.linalg.matrix_transpose(Wr), tf.linalg.matrix_transpose(Wi)
        if complex_input:
            X = tf.convert_to_tensor(X)
            xr = tf.math.real(X) if X.dtype.is_complex else tf.cast(X, tf.float32)
            xi = tf.math.imag(X) if X.dtype.is_complex else tf.zeros_like(xr)
            xv = _cat(cone_vectors(xr), cone_vectors(xi))  # (S, BM, 2C)
            V = tf.reshape(tf.stack([_cat(WrT, WiT), _cat(-WiT, WrT)], 1), (S, 2 * C, 2 * C))
        else:
            xv = cone_vectors(tf.cast(X, tf.float32))
            V = _cat(WrT, WiT)  # (S, C, 2C)
        Y = _bmm(xv, V)  # (S, BM, 2C): [re | im]
        Y = tf.reshape(Y, (S, Bsz, M, 2, C // 2, 2))  # last axis: the last qubit (last cone position)
        yr0, yr1 = Y[:, :, :, 0, :, 0], Y[:, :, :, 0, :, 1]
        yi0, yi1 = Y[:, :, :, 1, :, 0], Y[:, :, :, 1, :, 1]
        red = (2, 3)
        p0 = tf.reduce_sum(yr0 * yr0 + yi0 * yi0, red)
        p1 = tf.reduce_sum(yr1 * yr1 + yi1 * yi1, red)
        re01 = tf.reduce_sum(yr0 * yr1 + yi0 * yi1, red)
        im01 = tf.reduce_sum(yi0 * yr1 - yr0 * yi1, red)
        z = _last_qubit_z(Ur_all[:, d - 1, n - 1], Ui_all[:, d - 1, n - 1], p0, p1, re01, im01)
        return scale * z

    return core, P


def make_logits_fn_cone(n_qubits: int, depth: int, entangler: str = "ring", scale: float = 5.0, *,
                        complex_input: bool) -> Callable[[tf.Tensor, tf.Tensor], tf.Tensor]:
    """The light-cone engine with :func:`qbench.models.qnn_circuit.make_logits_fn`'s signature."""
    _check_shapes(n_qubits, depth, entangler)
    core, P = _build_cone_core(int(n_qubits), depth, entangler, scale, complex_input)
    return logits_fn_from_core(core, P, int(n_qubits), complex_input=complex_input, batched=False)


def make_logits_fn_cone_batched(n_qubits: int, depth: int, entangler: str = "ring", scale: float = 5.0, *,
                                complex_input: bool) -> Callable[[tf.Tensor, tf.Tensor], tf.Tensor]:
    """``S`` parameter sets at once, as :func:`qbench.models.qnn_circuit.make_logits_fn_batched`."""
    _check_shapes(n_qubits, depth, entangler)
    core, P = _build_cone_core(int(n_qubits), depth, entangler, scale, complex_input)
    return logits_fn_from_core(core, P, int(n_qubits), complex_input=complex_input, batched=True)
