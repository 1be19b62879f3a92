"""The interface every model offers; training, unlearning and Hessian code use only this.

A model is a small estimator: hyperparameters in ``__init__`` (stored unchanged), structure built
late in :meth:`build` once the input size is known, learned state in ``params_``. Its computation
is one pure, twice-differentiable TensorFlow function ``logits_fn(theta, x)`` of a flat float32
parameter vector, so that every optimizer, unlearning method and curvature routine works on any
model without branching on its kind.
"""

from __future__ import annotations

import json
import zlib
from abc import ABC, abstractmethod
from typing import Any, Callable

import numpy as np
import tensorflow as tf

LogitsFn = Callable[[tf.Tensor, tf.Tensor], tf.Tensor]
#: (theta (P,), x (B, d), key (2,) int32) -> logits (B,): a model's outputs drawn with random noise from ``key``
NoisyLogitsFn = Callable[[tf.Tensor, tf.Tensor, tf.Tensor], tf.Tensor]


def plain_python(fn: Callable) -> Callable:
    """Mark ``fn`` as traced as written: AutoGraph leaves it and everything it calls unconverted.

    qbench's engines' loops and branches run over Python values only (sizes, layer indices), so AutoGraph's
    conversion changes nothing in the traced graph (tested: the same GraphDef) but took half the tracing
    time of a compiled QNN step: it parses and rewrites the source of every function the step calls.
    A function that branches on a tensor would fail to trace instead of silently changing.
    """
    return tf.autograph.experimental.do_not_convert(fn)


@plain_python
def bce_with_logits(logits: tf.Tensor, y: tf.Tensor, weights: tf.Tensor | None = None) -> tf.Tensor:
    """Mean binary cross-entropy of labels ``y`` under p = sigmoid(logits), optionally weighted."""
    per = tf.nn.sigmoid_cross_entropy_with_logits(labels=tf.cast(y, logits.dtype), logits=logits)
    if weights is None:
        return tf.reduce_mean(per)
    weights = tf.cast(weights, logits.dtype)
    return tf.reduce_sum(per * weights) / tf.reduce_sum(weights)


class BinaryModel(ABC):
    """A binary classifier p(y=1 | x) = sigmoid(logits_fn(theta, x))."""

    kind: str = ""
    #: which encoding of the task's amplitude vectors this model reads (see TaskData.encode)
    input_encoding: str = "real"
    #: compile training steps with XLA. On this CPU XLA wins for the QNN's state-vector algebra but
    #: runs the 8192-input MLP step 4-40x slower than TF's graph mode (3-5 ms vs 13-140 ms, erratic)
    xla: bool = True

    # -- structure -------------------------------------------------------------------------
    @abstractmethod
    def build(self, input_dim: int, complex_input: bool = False) -> "BinaryModel":
        """Create the structure for inputs of ``input_dim`` features; returns self."""

    @abstractmethod
    def hyperparameters(self) -> dict[str, Any]:
        """The constructor arguments, as plain data (recorded in every result)."""

    @property
    @abstractmethod
    def n_params(self) -> int: ...

    @property
    @abstractmethod
    def logits_fn(self) -> LogitsFn:
        """Pure TF function (theta (P,), x (B, d)) -> logits (B,)."""

    @abstractmethod
    def init_params(self, seed: int) -> np.ndarray:
        """A fresh float32 parameter vector drawn from ``seed`` (the caller picks the stream)."""

    def size_label(self) -> str:
        """Short human-readable size, e.g. 'n10-d6' or '16-4'."""
        return "-".join(str(v) for v in self.hyperparameters().values())

    def shape_key(self) -> tuple:
        """Everything that fixes the compiled computation (hyperparameters and input shape)."""
        hyper = json.dumps(self.hyperparameters(), sort_keys=True)
        return (self.kind, hyper, self.input_dim_, self.complex_input_)

    # -- device noise (the QNN's options, PROTOCOL 2.1): models whose outputs are random draws --------
    @property
    def noisy(self) -> bool:
        """True when outputs are random (training and evaluation then go through :meth:`noisy_logits_fn`
        with a key per call); ``logits_fn`` stays the exact, deterministic model (Hessians, methods' setup)."""
        return False

    def noisy_logits_fn(self, training: bool) -> NoisyLogitsFn:
        """The random outputs: ``training`` for a training step (differentiable), else for evaluation
        (then :meth:`sample_evaluation` finishes them on the host)."""
        raise NotImplementedError(f"model {self.kind!r} has no random outputs")

    def sample_evaluation(self, logits: np.ndarray, key: np.ndarray) -> np.ndarray:
        """The host-side part of a noisy evaluation (the QNN's shot sampling), drawn from ``key``."""
        return logits

    def seed_noise(self, seed: int) -> "BinaryModel":
        """Seed the random outputs (a unit's ``noise`` seed stream); returns self."""
        self.noise_seed_ = int(seed)
        return self

    def noise_key(self, purpose: str, index: int) -> np.ndarray:
        """The (2,) int32 key of draw ``index`` for ``purpose`` ('train', 'eval', ...): a function of the
        noise seed, the purpose and the index only."""
        seed = getattr(self, "noise_seed_", None)
        if seed is None:
            raise ValueError(f"model {self.kind!r} has random outputs: seed them first (seed_noise)")
        ss = np.random.SeedSequence(seed, spawn_key=(zlib.crc32(purpose.encode()), int(index) & 0xFFFFFFFF))
        return ss.generate_state(2, np.uint32).view(np.int32)

    # -- learned state -----------------------------------------------------------------------
    def initialize(self, seed: int) -> "BinaryModel":
        self.params_ = self.init_params(seed)
        return self

    def get_params(self) -> np.ndarray:
        return np.array(self.params_, dtype=np.float32, copy=True)

    def set_params(self, theta: np.ndarray) -> "BinaryModel":
        theta = np.asarray(theta, dtype=np.float32)
        if theta.shape != (self.n_params,):
            raise ValueError(f"expected {self.n_params} parameters, got shape {theta.shape}")
        self.params_ = theta.copy()
        return self

    # -- convenience (eager; hot loops use the compiled functions in qbench.training) -----
    def _input(self, x: np.ndarray) -> tf.Tensor:
        return tf.convert_to_tensor(x, dtype=tf.complex64 if self.complex_input_ else tf.float32)

    def predict_proba(self, x: np.ndarray, theta: np.ndarray | None = None) -> np.ndarray:
        theta = self.params_ if theta is None else theta
        return tf.sigmoid(self.logits_fn(tf.constant(theta, tf.float32), self._input(x))).numpy()

    def predict(self, x: np.ndarray, theta: np.ndarray | None = None) -> np.ndarray:
        return (self.predict_proba(x, theta) > 0.5).astype(np.int64)

    def loss_and_grad(
        self, x: np.ndarray, y: np.ndarray, theta: np.ndarray | None = None
    ) -> tuple[float, np.ndarray]:
        """Mean BCE on the batch and its gradient with respect to the flat parameters."""
        t = tf.Variable(self.params_ if theta is None else theta, dtype=tf.float32)
        with tf.GradientTape() as tape:
            loss = bce_with_logits(self.logits_fn(t, self._input(x)), tf.constant(y))
        return float(loss), tape.gradient(loss, t).numpy()
