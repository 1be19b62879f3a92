"""Does running S grid points (or seeds) of one method as one batched computation beat a loop?

One full-batch gradient-ascent-form unlearning step, ``CE(retain) - beta * CE(forget)``, at the
protocol's retain/forget sizes (alpha 0.3), for S = 10 grid points of ``beta``: ``loop`` makes S calls
of the single-point compiled step, ``batched`` one call on (S, P) parameters (the batched form of the
engine the QNN model uses, ``qnn.exact_logits_fn(..., batched=True)``; for the MLP a batched matmul form
of the same network). Compare
``time_loop`` with ``time_batched`` in one run (the sensitivity suite batches only where it wins).
"""

import numpy as np
import tensorflow as tf

from .common import unit_vectors

S = 10
#: (task shape): (input dim, complex, retain size, forget size)
SETS = {"mnist": (1024, False, 350, 150), "xxz": (4096, True, 139, 58)}


def _bce(logits, y):
    y = tf.broadcast_to(y, tf.shape(logits))
    return tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=y, logits=logits), axis=-1)


def _mlp_batched(hidden, d):
    sizes = [(d, hidden[0]), (hidden[0],), (hidden[0], hidden[1]), (hidden[1],), (hidden[1], 1), (1,)]
    counts = [int(np.prod(s)) for s in sizes]

    def f(theta, x):  # theta (S, P), x (B, d) shared by every point -> (S, B)
        parts = tf.split(theta, counts, axis=1)
        w = [tf.reshape(p, (-1, *s)) for p, s in zip(parts, sizes)]
        h = tf.nn.relu(tf.einsum("bd,sdh->sbh", x, w[0]) + w[1][:, None])
        h = tf.nn.relu(tf.matmul(h, w[2]) + w[3][:, None])
        return tf.squeeze(tf.matmul(h, w[4]) + w[5][:, None], -1)

    return f, sum(counts)


class GridBatching:
    params = (["qnn", "mlp"], ["mnist", "xxz"])
    param_names = ["model", "task"]
    timeout = 900
    number = 1
    repeat = (3, 10, 60.0)

    def setup(self, model, task):
        from qbench.models import get_model
        from qbench.models.qnn import exact_logits_fn

        d, cplx, n_r, n_f = SETS[task]
        xr = unit_vectors(n_r, d, cplx, seed=1)
        xf = unit_vectors(n_f, d, cplx, seed=2)
        if model == "mlp":
            xr, xf = (np.concatenate([x.real, x.imag], 1).astype(np.float32) if cplx else x for x in (xr, xf))
            hidden = (64, 16) if task == "xxz" else (16, 4)
            single = get_model("mlp", hidden=hidden).build(xr.shape[1])
            batched_fn, P = _mlp_batched(hidden, xr.shape[1])
            tile = lambda x: tf.constant(x)  # noqa: E731  (the MLP form shares x across points)
        else:
            n = int(np.log2(d))
            single = get_model("qnn", depth=6 if task == "mnist" else 4).build(d, complex_input=cplx)
            batched_fn = exact_logits_fn(n, single.depth, complex_input=cplx, batched=True)
            P = single.n_params
            tile = lambda x: tf.constant(np.broadcast_to(x, (S, *x.shape)).copy())  # noqa: E731
        yr = tf.constant(np.random.default_rng(3).integers(0, 2, n_r), tf.float32)
        yf = tf.constant(np.random.default_rng(4).integers(0, 2, n_f), tf.float32)
        betas = tf.constant(np.linspace(0.0, 0.9, S), tf.float32)
        theta = tf.constant(np.random.default_rng(0).normal(scale=0.1, size=(S, P)), tf.float32)
        xla = single.xla
        one = single.logits_fn
        Xr, Xf = tf.constant(xr), tf.constant(xf)

        @tf.function(jit_compile=xla)
        def step_one(th, beta):
            with tf.GradientTape() as tape:
                tape.watch(th)
                loss = _bce(one(th, Xr), yr) - beta * _bce(one(th, Xf), yf)
            return th - 0.01 * tape.gradient(loss, th)

        Br, Bf = tile(xr), tile(xf)

        @tf.function(jit_compile=xla)
        def step_batched(th, beta):
            with tf.GradientTape() as tape:
                tape.watch(th)
                loss = tf.reduce_sum(_bce(batched_fn(th, Br), yr) - beta * _bce(batched_fn(th, Bf), yf))
            return th - 0.01 * tape.gradient(loss, th)

        self.loop = lambda: [step_one(theta[i], betas[i]).numpy() for i in range(S)]
        self.batched = lambda: step_batched(theta, betas).numpy()
        a, b = np.stack(self.loop()), self.batched()
        np.testing.assert_allclose(a, b, atol=2e-4)  # the same S updates either way

    def time_loop(self, model, task):
        self.loop()

    def time_batched(self, model, task):
        self.batched()
