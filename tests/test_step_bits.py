"""The traced QNN step made smaller: the numbers stay those of the code before, bit for bit."""

from importlib import metadata

import numpy as np
import pytest
import tensorflow as tf

from qbench.methods import get_method
from qbench.models import get_model
from qbench.training import compiled
from qbench.training.unlearn import UnlearnSets, unlearn
from qbench.xla_cache import cpu_fingerprint

#: name -> (model options, qubits, complex input)
CASES = {"real-n6-d2": ({"depth": 2}, 6, False), "complex-n6-d3": ({"depth": 3}, 6, True),
         "noisy-n4-d2": ({"depth": 2, "shots": 100, "depolarizing": 0.05, "readout": 0.02}, 4, False)}
#: float32 bytes (hex) of train_steps' parameters and losses, and of unlearn_steps' parameters, made by the
#: code before its traced graph was made smaller (qbench 7eb8c7b), on this CPU and TensorFlow; real-n6-d2,
#: scrub and salun made again when their shapes (ring, N 6 D 2 and N 4 D 2) moved to the light-cone engine
#: (qbench c5670f6): the same function summed in another order, and the angles outside the cone now stay put
BEFORE_ON = ("85e3a68324e9", "2.21.0")
BEFORE = {
    "real-n6-d2": (
        "6cc7b33df38c7c3e8c34a53dcadf4d3e9350473eb380503e29275a3e847f563e0098453e93d73f3eed6a463e22394d3e"
        "30a084bb38f1bb3cf87adb3b8adcc53e2c25903c3de6c83ede03513eb079573edb7b4b3ee7ca5a3e08fd453e4366503e"
        "320d563e40c34d3ec32f453e8e5c433ee61c483e070e4f3e2676423e76a84a3e672b4b3ed23bce3e10dd3e3c3129cd3e"
        "d41a463e07794b3ef2d3543ebe175c3e8d1ea23e2a7bc13eef945a3ef6cc543e0e824f3edf95493eeaba5b3e80df603e"
        "2d1e453f8a94413fa22a443f847b213f",
    ),
    "complex-n6-d3": (
        "6b4da73d301bc73eaa4aaa3d76eab73e7e04c23ebd42b43ef12d5a3e1a4b583ed1ba453ea317483ecd33ad3e52e2433e"
        "7fc8a53eb07e4b3dea32ab3e7ab26f3dbf5b0b3eb0ac733d3aa7ad3d5fafc53e1c3b9f3d7f0b5b3e67d8433e60cd503e"
        "54d3553e2b9a4d3ea2f5443e0002433e1d7d493e21894e3e9e2fb63e24fc593d431fba3e2a24a73d1b441f3edaf09f3d"
        "d41a463e07794b3ef2d3543ebe175c3e3ce83f3e764d5c3eef945a3ef6cc543e0e824f3edf95493eeaba5b3e80df603e"
        "ae3f5f3e44445a3ea775503e26b5e93d6b8a073e11c0083e577a633e09ba4f3ee255513e2379c63ec6f4093dd1beb13e"
        "bbce473e7688403e1ef65e3e4312483ef1497e3d0f14af3ec8035d3e0c525a3e1949533e6e3c363e31554d3e0bcd533e",
        "d06d453fa5f5333f6541113fe6fb5d3f",
    ),
    "noisy-n4-d2": (
        "f8d2603ed728993ecc3b653e4def4e3e69ba473eac72513e00e6633ec51e5e3eb5484e3e2499053cb19c1c3d78c79d3c"
        "dffd343e408f4a3eb80a403e354d453e0f3a473ea48f493ede03513eb079573edb7b4b3ececdf03c78273b3ca8f1943c"
        "f327563e5a8b4e3e008e9c3da832bf3ee61c483e070e4f3e2676423e76a84a3e",
        "c4ebea3e3d03f23e34d6903eba42f03e",
    ),
    "scrub": (
        "e6c7e53edf3d193eeb73e83e19239a3e7ddb963e8d739b3e12eb263e078d303e1076123e20090d3ef12a1d3e184ee43e"
        "23b28d3ed47a983e9038933eced9953e3bd0963e05fb973e22b59b3e0bf09e3e21f1983e2022ed3e6e03133e26e2e73e"
        "cc399e3ed3149a3ec5afe23e7468113ea741973e37ba9a3e466e943e6e87983e",
    ),
    "salun": (
        "7268883e8e32183e407ee53e19239a3e7ddb963e8d739b3e647a273e92b9993e65d7123e56a6d83e96b7133e2cc3e33e"
        "23b28d3ed47a983e9038933eced9953e3bd0963e05fb973e22b59b3e0bf09e3e21f1983e1c37eb3e40bf123e204ee63e"
        "cc399e3ed3149a3e409ee23e65bee13ea741973e37ba9a3e466e943e6e87983e",
    ),
}


def _model(case: str):
    options, n, complex_ = CASES[case]
    return get_model("qnn", **options).build(2**n, complex_input=complex_)


def _data(n: int, complex_: bool, rows: int = 12, seed: int = 3):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((rows, 2**n))
    if complex_:
        x = x + 1j * rng.standard_normal((rows, 2**n))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x.astype(np.complex64 if complex_ else np.float32), (np.abs(x[:, 0]) > np.abs(x[:, 1])).astype(np.float32)


def train_steps(case: str, steps: int = 4) -> np.ndarray:
    """``steps`` compiled Adam steps on mini-batches of 8 rows, some padded: the parameters, then the losses."""
    model = _model(case)
    x, y = _data(model.n_qubits_, model.complex_input_)
    fn = compiled.step_fn(model)
    theta = tf.constant(model.init_params(0) + 0.2)
    m, v, t = tf.zeros_like(theta), tf.zeros_like(theta), tf.constant(0.0)
    losses = []
    for s in range(steps):
        idx = (np.arange(8) + 8 * s) % len(y)
        w = np.where(np.arange(8) + 8 * s < 8 * (s + 1) - 3 * (s % 2), 1.0, 0.0).astype(np.float32)
        key = (tf.constant(model.seed_noise(1).noise_key("train", s)),) if model.noisy else ()
        theta, m, v, t, loss = fn(theta, m, v, t, tf.constant(x), tf.constant(y), idx.astype(np.int32), w,
                                  tf.constant(0.05), tf.constant([0.9, 0.999, 1e-7]), *key)
        losses.append(loss.numpy())
    return np.concatenate([theta.numpy(), np.array(losses, np.float32)])


def unlearn_steps(method: str) -> np.ndarray:
    """The shared unlearning step (every built-in method's) on a 4-qubit QNN: the parameters after 3 steps."""
    model = get_model("qnn", depth=2).build(16)
    x, y = _data(4, False, rows=20, seed=5)
    y = y.astype(np.int64)
    sets = UnlearnSets(x[6:], y[6:], x[:6], 1 - y[:6], y[:6], x[:10], y[:10])
    res = unlearn(model, get_method(method), model.init_params(0) + 0.3, model.init_params(1), sets, steps=3, lr=0.05)
    assert res.status == "ok", res.error
    return res.params


@pytest.mark.parametrize("case", [*CASES, "scrub", "salun"])
def test_the_numbers_are_those_of_the_code_before(case):
    got = unlearn_steps(case) if case in ("scrub", "salun") else train_steps(case)
    before = np.frombuffer(bytes.fromhex("".join(BEFORE[case])), np.float32)
    if (cpu_fingerprint(), metadata.version("tensorflow")) == BEFORE_ON:
        np.testing.assert_array_equal(got, before)
    else:  # XLA compiles for the host's instruction set: another CPU may round the last bits differently
        np.testing.assert_allclose(got, before, rtol=1e-5, atol=1e-6)
