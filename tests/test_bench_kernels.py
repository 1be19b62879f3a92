"""pytest-benchmark micro-benchmarks of the hot kernels. The normal test run passes
``--benchmark-disable`` (pyproject), so each runs once as a test of its result; time them with
``pytest tests/test_bench_kernels.py --benchmark-enable``."""

import numpy as np
import pytest
import tensorflow as tf

from qbench.models import get_model
from qbench.training import compiled
from qbench.training.trainer import predict_logits


def _unit(n, d, complex_, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d)) + (1j * rng.standard_normal((n, d)) if complex_ else 0)
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.complex64 if complex_ else np.float32)


@pytest.mark.parametrize("name,opts,d,complex_", [
    ("qnn", {"depth": 3}, 2**8, False),
    ("qnn", {"depth": 2}, 2**8, True),
    ("mlp", {"hidden": (16, 4)}, 1024, False),
])
def test_train_step_kernel(benchmark, name, opts, d, complex_):
    model = get_model(name, **opts).build(d, complex_input=complex_)
    x, y = _unit(64, d, complex_), np.random.default_rng(1).integers(0, 2, 64)
    fn = compiled.step_fn(model)
    theta = tf.constant(model.init_params(0))
    z = tf.zeros_like(theta)
    args = (theta, z, z, tf.constant(0.0), tf.constant(x), tf.constant(y, tf.float32),
            np.arange(64, dtype=np.int32), np.ones(64, np.float32), tf.constant(0.01),
            tf.constant([0.9, 0.999, 1e-7]))
    new_theta, m, v, t, losses = benchmark(fn, *args)
    # one Adam step from zero moments moves every parameter with a nonzero gradient by about lr
    step = np.abs(new_theta.numpy() - theta.numpy())
    assert float(t) == 1.0 and np.isfinite(losses.numpy()).all()
    assert step.max() == pytest.approx(0.01, rel=1e-3)


def test_forward_kernel_matches_eager(benchmark):
    model = get_model("qnn", depth=2).build(2**6)
    theta = model.init_params(3) * 50
    x = _unit(300, 2**6, False)
    out = benchmark(predict_logits, model, theta, x)
    np.testing.assert_allclose(out, model.logits_fn(tf.constant(theta), tf.constant(x)).numpy(), atol=1e-5)
