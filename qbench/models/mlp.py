"""The classical baseline: a Keras MLP, Input -> Dense(h1, ReLU) -> Dense(h2, ReLU) -> Dense(1, sigmoid)."""

from __future__ import annotations

from typing import Any, Callable

import keras
import numpy as np
import tensorflow as tf

from qbench.models.base import BinaryModel, LogitsFn


class MLP(BinaryModel):
    """Keras MLP with default initializers (Glorot-uniform kernels, zero biases), seeded explicitly.

    The Keras model defines the architecture and the initialization; training runs on its pure
    functional form (``stateless_call``) over one flat parameter vector. The output layer's sigmoid
    is applied by the loss (logits form), which is the same model with a numerically stable BCE.
    """

    kind = "mlp"
    input_encoding = "real"
    xla = False  # see BinaryModel.xla: graph mode is the faster engine for dense layers here

    def __init__(self, hidden: tuple[int, ...] = (16, 4)):
        self.hidden = hidden

    def hyperparameters(self) -> dict[str, Any]:
        return {"hidden": list(self.hidden)}

    def size_label(self) -> str:
        return "x".join(str(h) for h in self.hidden)

    def build(self, input_dim: int, complex_input: bool = False) -> "MLP":
        if complex_input:
            raise ValueError(f"the {self.kind} model reads real features; encode complex data as [Re, Im] first")
        hidden = self._widths()
        self.input_dim_, self.complex_input_ = int(input_dim), False
        n_features, features = self._features(self.input_dim_)
        layers = [keras.Input((n_features,))]
        layers += [keras.layers.Dense(h, activation="relu") for h in hidden]
        layers += [keras.layers.Dense(1)]  # sigmoid lives in the loss / predict_proba
        self.keras_model_ = keras.Sequential(layers)
        self._shapes = [tuple(v.shape) for v in self.keras_model_.trainable_variables]
        self._sizes = [int(np.prod(s)) for s in self._shapes]
        km, shapes, sizes = self.keras_model_, self._shapes, self._sizes

        def logits_fn(theta: tf.Tensor, x: tf.Tensor) -> tf.Tensor:
            parts = tf.split(theta, sizes)
            weights = [tf.reshape(p, s) for p, s in zip(parts, shapes)]
            out, _ = km.stateless_call(weights, [], features(x), training=False)
            return tf.reshape(out, [-1])

        self._logits_fn = logits_fn
        return self

    def _widths(self) -> tuple[int, ...]:
        """The hidden widths, checked."""
        hidden = tuple(int(h) for h in self.hidden)
        if not hidden or any(h < 1 for h in hidden):
            raise ValueError(f"hidden must be positive widths, got {self.hidden!r}")
        return hidden

    def _features(self, input_dim: int) -> tuple[int, Callable[[tf.Tensor], tf.Tensor]]:
        """What the first Dense layer reads: its width and the fixed map from the input (here the input)."""
        return input_dim, lambda x: x

    @property
    def n_params(self) -> int:
        return int(sum(self._sizes))

    @property
    def logits_fn(self) -> LogitsFn:
        return self._logits_fn

    def init_params(self, seed: int) -> np.ndarray:
        rng = np.random.default_rng(seed)
        parts = []
        for shape in self._shapes:
            if len(shape) == 2:  # kernel: Keras' default GlorotUniform, seeded
                init = keras.initializers.GlorotUniform(seed=int(rng.integers(2**31 - 1)))
                parts.append(np.asarray(init(shape, dtype="float32")).ravel())
            else:  # bias: Keras' default zeros
                parts.append(np.zeros(int(np.prod(shape)), np.float32))
        return np.concatenate(parts).astype(np.float32)
