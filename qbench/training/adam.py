"""Adam as pure tensor functions, so its state is explicit data (fresh per run, vectorizable)."""

from __future__ import annotations

import tensorflow as tf

from qbench.models.base import plain_python


@plain_python
def adam_update(
    theta: tf.Tensor,
    grad: tf.Tensor,
    m: tf.Tensor,
    v: tf.Tensor,
    t: tf.Tensor,
    lr: tf.Tensor,
    hyper: tf.Tensor,
) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor]:
    """One Adam step in Keras' form; ``hyper`` = [beta_1, beta_2, epsilon], ``t`` the step count so far."""
    b1, b2, eps = hyper[0], hyper[1], hyper[2]
    t = t + 1.0
    m = b1 * m + (1.0 - b1) * grad
    v = b2 * v + (1.0 - b2) * tf.square(grad)
    alpha = lr * tf.sqrt(1.0 - tf.pow(b2, t)) / (1.0 - tf.pow(b1, t))
    theta = theta - alpha * m / (tf.sqrt(v) + eps)
    return theta, m, v, t
