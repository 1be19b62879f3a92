"""Fixed-seed inputs and the shared setup of qbench's asv benchmarks (append-only: changing a
fixture changes every recorded number)."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

# pinned threads: the numbers of a 2-core machine stay comparable run to run
tf.config.threading.set_intra_op_parallelism_threads(2)
tf.config.threading.set_inter_op_parallelism_threads(1)

#: the protocol's QNN training shapes: (qubits, depth, batch, complex input)
QNN_SHAPES = {"mnist": (10, 6, 256, False), "xxz": (12, 4, 32, True)}
#: the protocol's MLP training shapes: (inputs, hidden, batch)
MLP_SHAPES = {"mnist": (1024, (16, 4), 128), "xxz": (8192, (64, 16), 32)}


def unit_vectors(n: int, dim: int, complex_: bool, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, dim))
    if complex_:
        x = x + 1j * rng.standard_normal((n, dim))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x.astype(np.complex64 if complex_ else np.float32)


def labels(n: int, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 2, n)


class TrainStep:
    """One compiled Adam step of qbench's training engine."""

    def __init__(self, model, x: np.ndarray, y: np.ndarray, lr: float = 0.01):
        from qbench.training import compiled

        self.fn = compiled.step_fn(model)
        self.theta = tf.constant(model.init_params(0))
        self.m = tf.zeros_like(self.theta)
        self.v = tf.zeros_like(self.theta)
        self.t = tf.constant(0.0)
        self.x = tf.constant(x)
        self.y = tf.constant(y, tf.float32)
        self.idx = np.arange(len(y), dtype=np.int32)
        self.w = np.ones(len(y), np.float32)
        self.lr = tf.constant(lr)
        self.hyper = tf.constant([0.9, 0.999, 1e-7])
        # a model with device noise (the QNN's options) takes its step's noise key
        self.key = (tf.constant(model.seed_noise(0).noise_key("train", 0)),) if model.noisy else ()

    def __call__(self):
        out = self.fn(self.theta, self.m, self.v, self.t, self.x, self.y, self.idx, self.w, self.lr, self.hyper,
                      *self.key)
        return out[0].numpy()


def reference_workload() -> float:
    """A fixed float32 matmul chain: the same-process yardstick for machine-relative timings."""
    import time

    a = tf.constant(np.random.default_rng(0).standard_normal((512, 512)).astype(np.float32))
    f = tf.function(lambda a: tf.reduce_sum(tf.linalg.matmul(tf.linalg.matmul(a, a), a)))
    f(a).numpy()
    best = float("inf")
    for _ in range(7):
        t = time.perf_counter()
        for _ in range(10):
            f(a).numpy()
        best = min(best, (time.perf_counter() - t) / 10)
    return best
