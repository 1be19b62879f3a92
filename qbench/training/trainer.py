"""Initial (possibly poisoned) training per PROTOCOL 2.3, and evaluation."""

from __future__ import annotations

import time
import zlib
from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from qbench.models.base import BinaryModel
from qbench.protocol import TrainConfig
from qbench.training import compiled

EVAL_CHUNK = 256


@dataclass
class TrainResult:
    params: np.ndarray
    epoch_loss: np.ndarray  # mean training loss of each epoch
    n_steps: int
    wall_s: float


def batch_plan(n: int, batch_size: int, epochs: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Shuffled mini-batch indices (epochs, n_batches, B) and masks; the last batch is padded, mask 0."""
    n_batches = -(-n // batch_size)
    idx = np.zeros((epochs, n_batches * batch_size), np.int32)
    w = np.zeros((epochs, n_batches * batch_size), np.float32)
    for e in range(epochs):
        idx[e, :n] = rng.permutation(n)
        w[e, :n] = 1.0
    shape = (epochs, n_batches, batch_size)
    return idx.reshape(shape), w.reshape(shape)


def _as_input(model: BinaryModel, x: np.ndarray) -> tf.Tensor:
    return tf.constant(x, dtype=tf.complex64 if model.complex_input_ else tf.float32)


def train(
    model: BinaryModel,
    x: np.ndarray,
    y: np.ndarray,
    config: TrainConfig,
    order_rng: np.random.Generator,
    theta0: np.ndarray,
    noise_purpose: str = "train",
) -> TrainResult:
    """Adam from ``theta0`` on (x, y); batch order from ``order_rng``. Sets ``model.params_``.

    A model with random outputs (device noise) draws step k's noise with ``model.noise_key(noise_purpose, k)``."""
    start = time.perf_counter()
    idx, w = batch_plan(len(y), config.batch_size, config.epochs, order_rng)
    step = compiled.step_fn(model)
    theta = tf.constant(theta0, tf.float32)
    m = tf.zeros_like(theta)
    v = tf.zeros_like(theta)
    t = tf.constant(0.0)
    x_all, y_all = _as_input(model, x), tf.constant(y, tf.float32)
    lr = tf.constant(config.lr, tf.float32)
    hyper = tf.constant([config.beta_1, config.beta_2, config.epsilon], tf.float32)
    n_batches = idx.shape[1]
    batch_losses = []
    for e in range(config.epochs):
        for b in range(n_batches):
            key = (tf.constant(model.noise_key(noise_purpose, e * n_batches + b)),) if model.noisy else ()
            theta, m, v, t, loss = step(theta, m, v, t, x_all, y_all, idx[e, b], w[e, b], lr, hyper, *key)
            batch_losses.append(loss)
    # per-batch losses are batch means; weight them by real batch sizes for the epoch mean
    sizes = w.sum(axis=2)
    per_batch = np.array([float(v) for v in batch_losses]).reshape(config.epochs, n_batches)
    losses = (per_batch * sizes).sum(axis=1) / sizes.sum(axis=1)
    params = theta.numpy()
    model.params_ = params
    return TrainResult(params, losses, int(config.epochs * idx.shape[1]), time.perf_counter() - start)


def predict_logits(model: BinaryModel, theta: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Logits in fixed-size chunks (padded), so every set size reuses one compiled shape."""
    fn = compiled.logits_fn(model)
    n = len(x)
    n_pad = -(-n // EVAL_CHUNK) * EVAL_CHUNK
    xp = np.zeros((n_pad,) + x.shape[1:], dtype=x.dtype)
    xp[:n] = x
    th = tf.constant(theta, tf.float32)
    if model.noisy:
        return np.concatenate([_noisy_chunk(model, fn, th, xp[i : i + EVAL_CHUNK]) for i in range(0, n_pad, EVAL_CHUNK)])[:n]
    out = [fn(th, _as_input(model, xp[i : i + EVAL_CHUNK])).numpy() for i in range(0, n_pad, EVAL_CHUNK)]
    return np.concatenate(out)[:n]


def _noisy_chunk(model: BinaryModel, fn, theta: tf.Tensor, x: np.ndarray) -> np.ndarray:
    """One chunk's noisy logits. Its key is a function of the unit's noise seed and the chunk's inputs: the
    same inputs get the same draws at any parameters (common random numbers across evaluations)."""
    key = model.noise_key("eval", zlib.crc32(np.ascontiguousarray(x).view(np.uint8)))
    return model.sample_evaluation(fn(theta, _as_input(model, x), tf.constant(key)).numpy(), key)
