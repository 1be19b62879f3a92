import keras
import numpy as np
import pytest
import tensorflow as tf

from qbench.metrics.accuracy import accuracy
from qbench.models import bce_with_logits, get_model
from qbench.protocol import TrainConfig
from qbench.training import predict_logits, train
from qbench.training.trainer import batch_plan


def _toy(n=300, d=32, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d)).astype(np.float32)
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype(np.int64)
    return x, y


@pytest.mark.parametrize("d,hidden,count", [(1024, (16, 4), 16473), (8192, (64, 16), 525409), (10, (3,), 37)])
def test_mlp_parameter_count(d, hidden, count):
    m = get_model("mlp", hidden=hidden).build(d)
    assert m.n_params == count == sum(int(np.prod(v.shape)) for v in m.keras_model_.trainable_variables)


def test_mlp_flat_parameters_reproduce_the_keras_model():
    m = get_model("mlp", hidden=(5, 3)).build(7)
    theta = m.init_params(3)
    x = np.random.default_rng(1).standard_normal((4, 7)).astype(np.float32)
    sizes = [int(np.prod(v.shape)) for v in m.keras_model_.trainable_variables]
    m.keras_model_.set_weights([p.reshape(v.shape) for p, v in zip(np.split(theta, np.cumsum(sizes)[:-1]), m.keras_model_.trainable_variables)])
    np.testing.assert_allclose(m.predict_proba(x, theta), tf.sigmoid(m.keras_model_(x)).numpy().ravel(), rtol=1e-6)


def test_mlp_init_is_keras_default_glorot_and_zero_bias_and_seeded():
    m = get_model("mlp", hidden=(16, 4)).build(1024)
    a, b, c = m.init_params(0), m.init_params(0), m.init_params(1)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    w1 = a[: 1024 * 16]
    limit = np.sqrt(6 / (1024 + 16))
    assert np.abs(w1).max() <= limit and np.abs(w1).max() > 0.95 * limit
    np.testing.assert_array_equal(a[1024 * 16 : 1024 * 16 + 16], 0.0)


def test_loss_and_grad_match_hand_computation():
    m = get_model("mlp", hidden=(2,)).build(1)
    # theta = [W1 (1x2), b1 (2), W2 (2x1), b2 (1)]
    theta = np.array([1.0, -1.0, 0.0, 0.0, 2.0, 3.0, 0.5], np.float32)
    x = np.array([[1.5], [-2.0]], np.float32)
    y = np.array([1, 0])
    z = np.array([2.0 * 1.5 + 0.5, 3.0 * 2.0 + 0.5])  # relu picks one hidden unit per sample
    p = 1 / (1 + np.exp(-z))
    expected = -np.mean([np.log(p[0]), np.log(1 - p[1])])
    loss, grad = m.loss_and_grad(x, y, theta)
    assert loss == pytest.approx(expected, rel=1e-6)
    assert grad[-1] == pytest.approx(np.mean(p - y), rel=1e-5)  # d loss / d b2


def test_weighted_bce_ignores_masked_rows():
    logits = tf.constant([0.3, -1.0, 5.0])
    y = tf.constant([1, 0, 0])
    full = bce_with_logits(logits[:2], y[:2])
    masked = bce_with_logits(logits, y, tf.constant([1.0, 1.0, 0.0]))
    assert float(full) == pytest.approx(float(masked), rel=1e-6)


def test_batch_plan_covers_every_sample_once_per_epoch_with_padding():
    idx, w = batch_plan(197, 32, 3, np.random.default_rng(0))
    assert idx.shape == (3, 7, 32) and w.shape == (3, 7, 32)
    for e in range(3):
        used = idx[e][w[e] > 0]
        assert sorted(used.tolist()) == list(range(197))
    assert w[:, -1].sum(axis=1).tolist() == [197 - 6 * 32] * 3
    assert not np.array_equal(idx[0], idx[1])


def test_adam_matches_keras_adam():
    x, y = _toy()
    m = get_model("mlp", hidden=(8, 4)).build(x.shape[1])
    theta0 = m.init_params(0)
    res = train(m, x, y, TrainConfig(epochs=4, batch_size=len(y), lr=0.01), np.random.default_rng(0), theta0)
    var, opt = tf.Variable(theta0), keras.optimizers.Adam(0.01)
    for _ in range(4):
        with tf.GradientTape() as tape:
            loss = bce_with_logits(m.logits_fn(var, tf.constant(x)), tf.constant(y))
        opt.apply_gradients([(tape.gradient(loss, var), var)])
    np.testing.assert_allclose(res.params, var.numpy(), atol=2e-5)


def test_padded_last_batch_equals_unpadded_training():
    """A padded, masked last batch must give the update of the real partial batch."""
    x, y = _toy(n=40)
    m = get_model("mlp", hidden=(4,)).build(x.shape[1])
    theta0 = m.init_params(1)
    res = train(m, x, y, TrainConfig(epochs=1, batch_size=32, lr=0.05), np.random.default_rng(5), theta0)
    perm = np.random.default_rng(5).permutation(40)
    var, opt = tf.Variable(theta0), keras.optimizers.Adam(0.05)
    for rows in (perm[:32], perm[32:]):
        with tf.GradientTape() as tape:
            loss = bce_with_logits(m.logits_fn(var, tf.constant(x[rows])), tf.constant(y[rows]))
        opt.apply_gradients([(tape.gradient(loss, var), var)])
    np.testing.assert_allclose(res.params, var.numpy(), atol=2e-5)


def test_training_learns_and_is_deterministic():
    x, y = _toy()
    m = get_model("mlp", hidden=(8, 4)).build(x.shape[1])
    cfg = TrainConfig(epochs=30, batch_size=64, lr=0.01)
    a = train(m, x, y, cfg, np.random.default_rng(2), m.init_params(0))
    b = train(m, x, y, cfg, np.random.default_rng(2), m.init_params(0))
    np.testing.assert_array_equal(a.params, b.params)
    assert a.epoch_loss[-1] < 0.5 * a.epoch_loss[0]
    assert accuracy(m, a.params, x, y) > 0.95
    assert predict_logits(m, a.params, x[:3]).shape == (3,)
