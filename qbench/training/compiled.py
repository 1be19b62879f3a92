"""Compiled functions, cached per model shape: one trace per (model shape, batch shape) per process.

``tf.function`` keeps one concrete function per input signature; keeping one ``tf.function`` per
model shape key (not per model object) means a new seed, alpha, method or scenario with the same
shapes reuses the compiled XLA executable instead of tracing and compiling again. With XLA's
persistent cache on, qbench's own steps are also kept traced on disk (:mod:`qbench.training.trace_store`),
so that a later process neither traces nor compiles them.
"""

from __future__ import annotations

import itertools
from typing import Callable

import tensorflow as tf

from qbench.models.base import BinaryModel, bce_with_logits
from qbench.training import trace_store
from qbench.training.adam import adam_update
from qbench.xla_cache import traced_dir

_CACHE: dict[tuple, Callable] = {}

#: XLA compilation; off only for debugging or when a backend refuses an op
JIT_COMPILE = True


def use_xla(model: BinaryModel) -> bool:
    """XLA for this model's training functions (global switch AND the model's preference)."""
    return JIT_COMPILE and model.xla


def keyed(noisy_fn: Callable, key: tf.Tensor) -> Callable:
    """``logits_fn(theta, x)`` drawing from ``key``, a different draw for each call in an objective (the
    calls are counted while tracing, so the compiled step is the same at every step)."""
    calls = itertools.count()
    return lambda theta, x: noisy_fn(theta, x, tf.random.experimental.stateless_fold_in(key, next(calls)))


def cached(model: BinaryModel, name: str, factory: Callable[[BinaryModel], Callable], store: bool = False
           ) -> Callable:
    """``factory(model)``, made once per model shape; ``store``: a function of qbench's own code only, kept
    traced on disk where the model is qbench's too (a plugin's code is not part of the store's key)."""
    key = (name, model.shape_key(), use_xla(model))
    if key not in _CACHE:
        own = store and use_xla(model) and type(model).__module__.startswith("qbench.")
        _CACHE[key] = trace_store.stored(factory(model), key, traced_dir() if own else None)
    return _CACHE[key]


def clear_cache() -> None:
    _CACHE.clear()
    trace_store.forget()


def _step_factory(model: BinaryModel) -> Callable:
    logits_fn = model.noisy_logits_fn(training=True) if model.noisy else model.logits_fn

    @tf.function(jit_compile=use_xla(model), reduce_retracing=False)
    def train_step(theta, m, v, t, x_all, y_all, idx, w, lr, hyper, *key):
        """One Adam step on the mini-batch ``idx`` (B row indices) with mask ``w`` (padding has weight 0);
        ``key``: the step's noise key, for a model with random outputs only."""
        xb = tf.gather(x_all, idx)
        yb = tf.gather(y_all, idx)
        with tf.GradientTape() as tape:
            tape.watch(theta)
            loss = bce_with_logits(logits_fn(theta, xb, *key), yb, w)
        grad = tape.gradient(loss, theta)
        theta, m, v, t = adam_update(theta, grad, m, v, t, lr, hyper)
        return theta, m, v, t, loss

    return train_step


def step_fn(model: BinaryModel) -> Callable:
    """The compiled training step (a model with random outputs takes one more argument: the step's key).
    One step per call, not an epoch in an XLA while loop: on CPU, XLA ran loop iterations after the
    first ~100x slower than a single step for the 8192-input MLP (measured: 7 ms for one step,
    0.4-0.5 s per further iteration). The MLP now skips XLA altogether (``BinaryModel.xla``)."""
    return cached(model, "step", _step_factory, store=True)


def _logits_factory(model: BinaryModel) -> Callable:
    fn = model.noisy_logits_fn(training=False) if model.noisy else model.logits_fn
    return tf.function(fn, jit_compile=use_xla(model), reduce_retracing=False)


def logits_fn(model: BinaryModel) -> Callable:
    """The compiled logits; a model with random outputs: its evaluation logits ``(theta, x, key)``, before
    ``model.sample_evaluation``."""
    return cached(model, "logits", _logits_factory, store=True)
