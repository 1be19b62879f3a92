"""Compiled functions, cached per model shape: one trace per (model shape, batch shape) per process.

``tf.function`` keeps one concrete function per input signature; keeping one ``tf.function`` per
model shape key (not per model object) means a new seed, alpha, method or scenario with the same
shapes reuses the compiled XLA executable instead of tracing and compiling again.
"""

from __future__ import annotations

from typing import Callable

import tensorflow as tf

from qbench.models.base import BinaryModel, bce_with_logits
from qbench.training.adam import adam_update

_CACHE: dict[tuple, Callable] = {}

#: XLA compilation; off only for debugging or when a backend refuses an op
JIT_COMPILE = True


def cached(model: BinaryModel, name: str, factory: Callable[[BinaryModel], Callable]) -> Callable:
    key = (name, model.shape_key(), JIT_COMPILE)
    if key not in _CACHE:
        _CACHE[key] = factory(model)
    return _CACHE[key]


def clear_cache() -> None:
    _CACHE.clear()


def _epoch_factory(model: BinaryModel) -> Callable:
    logits_fn = model.logits_fn

    @tf.function(jit_compile=JIT_COMPILE, reduce_retracing=False)
    def run_epoch(theta, m, v, t, x_all, y_all, idx, w, lr, hyper):
        """All mini-batches of one epoch in one call: idx (n_batches, B) rows, w their masks."""
        n_batches = tf.shape(idx)[0]
        losses = tf.TensorArray(tf.float32, size=n_batches)

        def body(i, theta, m, v, t, losses):
            xb = tf.gather(x_all, idx[i])
            yb = tf.gather(y_all, idx[i])
            with tf.GradientTape() as tape:
                tape.watch(theta)
                loss = bce_with_logits(logits_fn(theta, xb), yb, w[i])
            grad = tape.gradient(loss, theta)
            theta, m, v, t = adam_update(theta, grad, m, v, t, lr, hyper)
            return i + 1, theta, m, v, t, losses.write(i, loss)

        _, theta, m, v, t, losses = tf.while_loop(
            lambda i, *_: i < n_batches, body, (tf.constant(0), theta, m, v, t, losses)
        )
        return theta, m, v, t, losses.stack()

    return run_epoch


def epoch_fn(model: BinaryModel) -> Callable:
    return cached(model, "epoch", _epoch_factory)


def _logits_factory(model: BinaryModel) -> Callable:
    return tf.function(model.logits_fn, jit_compile=JIT_COMPILE, reduce_retracing=False)


def logits_fn(model: BinaryModel) -> Callable:
    return cached(model, "logits", _logits_factory)
