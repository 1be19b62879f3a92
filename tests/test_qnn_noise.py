"""The QNN's device-noise options (qbench.models.qnn_noise, PROTOCOL 2.1): Pauli trajectories against
TensorCircuit-NG's density-matrix simulator, shots against the binomial, readout against (1 - 2q)<Z>,
the default against the numbers the exact model gave before the options existed, seeding and tracing."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from qbench.models import get_model
from qbench.models.qnn_circuit import entangler_pairs
from qbench.models.qnn_noise import DeviceNoise, make_noisy_logits_fn
from qbench.protocol import TrainConfig
from qbench.training import compiled, predict_logits, train

SCALE = 5.0


def _states(n_rows: int, dim: int, cplx: bool, seed: int) -> np.ndarray:
    g = np.random.default_rng(seed)
    x = g.standard_normal((n_rows, dim)) + (1j * g.standard_normal((n_rows, dim)) if cplx else 0)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x.astype(np.complex64 if cplx else np.float32)


def _key(a: int, b: int = 0) -> tf.Tensor:
    return tf.constant([a, b], tf.int32)


def dm_z(theta: np.ndarray, x: np.ndarray, n: int, d: int, p: float) -> np.ndarray:
    """<Z_{N-1}> of the circuit with a depolarizing channel (X, Y, Z each p/4) on every qubit after every
    layer, by TensorCircuit-NG's density-matrix simulator."""
    import tensorcircuit as tc

    tc.set_backend("tensorflow")
    tc.set_dtype("complex128")
    pairs = entangler_pairs(n)
    rot = theta[: d * n * 3].reshape(d, n, 3).astype(np.float64)
    zz = theta[d * n * 3:].reshape(d, len(pairs)).astype(np.float64)
    out = []
    for row in x:
        c = tc.DMCircuit(n, inputs=row.astype(np.complex128))
        for layer in range(d):
            for q in range(n):
                c.rx(q, theta=rot[layer, q, 0])
                c.ry(q, theta=rot[layer, q, 1])
                c.rx(q, theta=rot[layer, q, 2])
            for k, (i, j) in enumerate(pairs):
                c.rzz(i, j, theta=zz[layer, k])
            for q in range(n):
                c.depolarizing(q, px=p / 4, py=p / 4, pz=p / 4)
        out.append(float(np.real(c.expectation_ps(z=[n - 1]))))
    return np.array(out)


def test_tensorcircuit_depolarizing_convention_is_p_over_4_per_pauli():
    """tc's channel with px = py = pz = p/4 is rho -> (1 - p) rho + p I/2 (on a generic one-qubit state)."""
    import tensorcircuit as tc

    tc.set_backend("tensorflow")
    tc.set_dtype("complex128")
    p, psi = 0.3, np.array([0.6, 0.8j])
    c = tc.DMCircuit(1, inputs=psi)
    c.depolarizing(0, px=p / 4, py=p / 4, pz=p / 4)
    rho = np.outer(psi, psi.conj())
    np.testing.assert_allclose(np.asarray(c.state()), (1 - p) * rho + p * np.eye(2) / 2, atol=1e-12)


@pytest.mark.parametrize("n, d, cplx, blocks", [(3, 2, False, None), (4, 2, True, [2, 2])])
def test_trajectory_mean_agrees_with_density_matrix(n, d, cplx, blocks):
    """One trajectory per sample (the training path, no shots) and the evaluation's T-trajectory mean both
    agree with tc.DMCircuit within 5 standard errors, and are more than 5 away at 2p and p/2."""
    p, R = 0.1, 20000
    g = np.random.default_rng(n)
    theta = g.uniform(-np.pi, np.pi, n * d * 3 + d * len(entangler_pairs(n))).astype(np.float32)
    x = _states(2, 2**n, cplx, seed=10 + n)
    noise = DeviceNoise(depolarizing=p, trajectories=R)
    one = make_noisy_logits_fn(n, d, complex_input=cplx, noise=noise, training=True, blocks=blocks)
    z = tf.function(one, jit_compile=True)(theta, np.repeat(x, R, 0), _key(1)).numpy().reshape(2, R) / SCALE
    mean, se = z.mean(1), z.std(1) / np.sqrt(R)
    exact = dm_z(theta, x, n, d, p)
    assert np.all(np.abs(mean - exact) < 5 * se), (mean, exact, se)
    for wrong in (2 * p, p / 2):  # the comparison can fail: a wrong p is far outside the error
        assert np.all(np.abs(mean - dm_z(theta, x, n, d, wrong)) > 5 * se)
    evaluation = make_noisy_logits_fn(n, d, complex_input=cplx, noise=noise, training=False, blocks=blocks)
    zt = tf.function(evaluation, jit_compile=True)(theta, x, _key(2)).numpy() / SCALE
    assert np.all(np.abs(zt - exact) < 5 * se)


def test_no_error_drawn_is_the_exact_model():
    """p = 0 in the hook (no Pauli drawn) reproduces the exact engine: the hook itself changes nothing else."""
    n, d = 6, 2
    m = get_model("qnn", depth=d).build(2**n, complex_input=True)
    theta = np.random.default_rng(0).uniform(-3, 3, m.n_params).astype(np.float32)
    x = _states(8, 2**n, True, seed=1)
    f = make_noisy_logits_fn(n, d, complex_input=True, noise=DeviceNoise(depolarizing=1e-30), training=True)
    np.testing.assert_allclose(f(theta, x, _key(0)).numpy(), m.logits_fn(theta, x).numpy(), atol=1e-5)


def test_shots_in_evaluation_are_binomial_and_readout_comes_first():
    """Evaluation shots: 2k/S - 1 on the lattice, standardized residuals against (1 - 2q)<Z> with mean 0
    and variance 1 (a factor 2 in S would give variance 2 or 1/2, far outside the tolerance)."""
    S, q, n = 200, 0.05, 4
    m = get_model("qnn", depth=2, shots=S, readout=q).build(2**n).seed_noise(3)
    exact_model = get_model("qnn", depth=2).build(2**n)
    theta = np.random.default_rng(1).uniform(-2, 2, m.n_params).astype(np.float32)
    x = _states(4096, 2**n, False, seed=2)
    zhat = predict_logits(m, theta, x) / SCALE
    z = (1 - 2 * q) * predict_logits(exact_model, theta, x) / SCALE
    k = (zhat + 1) * S / 2
    np.testing.assert_allclose(k, np.round(k), atol=1e-3)
    r = (zhat - z) / np.sqrt((1 - z**2) / S)
    assert abs(r.mean()) < 5 / np.sqrt(len(r))
    assert abs(r.var() - 1) < 5 * np.sqrt(2 / len(r))


def test_readout_is_the_closed_form():
    n, q = 4, 0.1
    exact = get_model("qnn", depth=2).build(2**n)
    m = get_model("qnn", depth=2, readout=q).build(2**n).seed_noise(0)
    theta = np.random.default_rng(2).uniform(-2, 2, m.n_params).astype(np.float32)
    x = _states(300, 2**n, False, seed=3)
    want = (1 - 2 * q) * predict_logits(exact, theta, x)
    np.testing.assert_allclose(predict_logits(m, theta, x), want, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(m.noisy_logits_fn(True)(theta, x, _key(4)).numpy(), want, rtol=1e-5, atol=1e-6)


def test_training_shot_noise_moments_and_gradient():
    """Training: <Z> + sqrt((1 - <Z>^2)/S) eps has mean <Z> and variance (1 - <Z>^2)/S; for a fixed key the
    output is a function of theta whose gradient (through both terms and the Pauli gathers) matches finite
    differences, and the gradient is finite at |<Z>| = 1."""
    S, n, d = 50, 4, 2
    m = get_model("qnn", depth=d, shots=S).build(2**n).seed_noise(0)
    theta = np.random.default_rng(3).uniform(-2, 2, m.n_params).astype(np.float32)
    x = _states(2, 2**n, False, seed=4)
    R = 20000
    z = m.noisy_logits_fn(True)(theta, np.repeat(x, R, 0), _key(5)).numpy().reshape(2, R) / SCALE
    z0 = get_model("qnn", depth=d).build(2**n).logits_fn(theta, x).numpy() / SCALE
    var = (1 - z0**2) / S
    assert np.all(np.abs(z.mean(1) - z0) < 5 * np.sqrt(var / R))
    assert np.all(np.abs(z.var(1) / var - 1) < 5 * np.sqrt(2 / R))

    noisy = get_model("qnn", depth=d, shots=S, depolarizing=0.3).build(2**n)
    f = noisy.noisy_logits_fn(True)
    xs, w = _states(16, 2**n, False, seed=5), np.random.default_rng(6).standard_normal(16).astype(np.float32)
    key = _key(7)

    def value(th):
        return tf.reduce_sum(f(th, xs, key) * w)

    t = tf.constant(theta)
    with tf.GradientTape() as tape:
        tape.watch(t)
        v = value(t)
    grad = tape.gradient(v, t).numpy()
    h = 1e-2
    for i in range(0, noisy.n_params, 5):
        e = np.zeros_like(theta)
        e[i] = h
        fd = (value(theta + e).numpy() - value(theta - e).numpy()) / (2 * h)
        assert abs(grad[i] - fd) < 2e-3 * max(1.0, abs(fd)), (i, grad[i], fd)

    basis = np.zeros((1, 2**n), np.float32)
    basis[0, 0] = 1.0  # |0...0> at theta = 0: <Z> = 1 exactly
    t0 = tf.zeros(m.n_params)
    with tf.GradientTape() as tape:
        tape.watch(t0)
        out = m.noisy_logits_fn(True)(t0, basis, _key(8))
    assert np.all(np.isfinite(tape.gradient(out, t0).numpy()))


# the default QNN's numbers before the device-noise options existed (main at b9d5e63, this script's inputs);
# (4, 2, False)'s 4th parameter, qubit 1's first angle, lies outside <Z_3>'s light cone: since the light-cone
# engine (qbench c5670f6) its gradient is exactly 0 and it keeps its initial value (it moved by round-off before)
BEFORE = {
    (4, 2, False): ([0.6244111061096191, -0.3455737233161926, -0.07062172889709473, 0.19840475916862488],
                    [1.102783203125, -1.3570085763931274, 0.2836589515209198, -0.28388479351997375],
                    [-0.08873654901981354, 0.493195116519928, 0.37665247917175293, -1.0686064958572388]),
    (3, 1, True): ([0.768440842628479, -2.077422618865967, -2.3286449909210205, 1.400150179862976],
                   [1.020459532737732, -1.2778325080871582, 0.20904941856861115, -0.28388479351997375],
                   [-1.0328857898712158, -1.2233147621154785, -1.6302974224090576, -0.35793787240982056]),
}


@pytest.mark.parametrize("n, d, cplx", list(BEFORE))
@pytest.mark.parametrize("options", [{}, {"shots": None, "depolarizing": 0.0, "readout": 0.0}, {"shots": "exact"}])
def test_default_is_the_exact_model_as_before(n, d, cplx, options):
    """Options off: the same hyperparameters (so the same configs and compiled functions) and the numbers
    the exact model gave before the options existed (logits, a short training run, its predictions)."""
    m = get_model("qnn", depth=d, **options).build(2**n, complex_input=cplx)
    assert not m.noisy
    assert m.hyperparameters() == {"depth": d, "entangler": "ring", "scale": 5.0, "init_std": 0.01}
    g = np.random.default_rng(7 + n + d)
    x = g.standard_normal((40, 2**n)) + (1j * g.standard_normal((40, 2**n)) if cplx else 0)
    x = (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.complex64 if cplx else np.float32)
    y = (g.random(40) < 0.5).astype(np.float32)
    theta0 = m.init_params(3) * 50
    logits, params, after = BEFORE[(n, d, cplx)]
    np.testing.assert_allclose(m.logits_fn(tf.constant(theta0), tf.constant(x)).numpy()[:4], logits, rtol=1e-6)
    r = train(m, x, y, TrainConfig(epochs=2, batch_size=16, lr=0.05), np.random.default_rng(1), theta0)
    np.testing.assert_allclose(r.params[:4], params, rtol=1e-5)
    np.testing.assert_allclose(predict_logits(m, r.params, x)[:4], after, rtol=1e-5, atol=1e-6)


def _noisy_run(seed: int, n: int = 4):
    m = get_model("qnn", depth=2, shots=100, depolarizing=0.05, readout=0.02, trajectories=4)
    m = m.build(2**n).seed_noise(seed)
    x = _states(40, 2**n, False, seed=8)
    y = (np.random.default_rng(9).random(40) < 0.5).astype(np.float32)
    r = train(m, x, y, TrainConfig(epochs=3, batch_size=16, lr=0.05), np.random.default_rng(1), m.init_params(3) * 50)
    return m, r, predict_logits(m, r.params, x)


def test_same_seed_same_numbers_and_one_trace():
    m, r, pred = _noisy_run(5)
    _, r2, pred2 = _noisy_run(5)
    _, r3, pred3 = _noisy_run(6)
    np.testing.assert_array_equal(r.params, r2.params)
    np.testing.assert_array_equal(pred, pred2)
    assert not np.array_equal(r.params, r3.params) and not np.array_equal(pred, pred3)
    # 3 epochs x 3 batches of one compiled step, and one compiled evaluation: each traced once, for all runs
    assert compiled.step_fn(m).experimental_get_tracing_count() == 1
    assert compiled.logits_fn(m).experimental_get_tracing_count() == 1
    assert m.hyperparameters() == {"depth": 2, "entangler": "ring", "scale": 5.0, "init_std": 0.01, "shots": 100,
                                   "depolarizing": 0.05, "trajectories": 4, "readout": 0.02}


def test_noisy_unlearning_step_is_seeded_and_traced_once():
    from qbench.methods import get_method
    from qbench.training import generic_objective
    from qbench.training.unlearn import UnlearnSets, unlearn

    def run(seed):
        m, r, _ = _noisy_run(seed)
        x = _states(40, 16, False, seed=8)
        y = (np.random.default_rng(9).random(40) < 0.5).astype(np.float32)
        sets = UnlearnSets(x[:30], y[:30], x[30:], 1 - y[30:], y[30:], x, y)
        method = get_method("gradient_ascent")
        return m, method, unlearn(m, method, r.params, r.params, sets, steps=3, lr=0.01).params

    m, method, a = run(5)
    _, _, b = run(5)
    np.testing.assert_array_equal(a, b)
    # a built-in method: the one shared step of the model's shape, its noise key a tensor input
    assert generic_objective.step_fn(m).experimental_get_tracing_count() == 1


def test_bad_options_are_refused():
    for bad in ({"shots": 0}, {"shots": 1.5}, {"shots": True}, {"depolarizing": 1.5}, {"depolarizing": -0.1},
                {"readout": 0.5}, {"readout": "x"}, {"trajectories": 0}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            get_model("qnn", **bad).build(16)
    with pytest.raises(ValueError, match="rxryrx-rzz"):
        get_model("qnn", ansatz="rxry-cnot", shots=10).build(16)
    with pytest.raises(ValueError, match="seed_noise"):
        predict_logits(get_model("qnn", depth=1, shots=10).build(16), np.zeros(16, np.float32),
                       _states(2, 16, False, seed=0))


def test_qbench_list_shows_every_option_with_its_default(capsys):
    import inspect

    from qbench.cli import main
    from qbench.models import model_info
    from qbench.models.qnn import QNN

    listed = model_info("qnn").options
    defaults = {k: v.default for k, v in inspect.signature(QNN.__init__).parameters.items() if k != "self"}
    assert list(listed) == list(defaults)
    for name in ("scale", "init_std", "depolarizing", "readout", "trajectories"):
        assert listed[name].split()[0] == str(defaults[name])
    assert defaults["shots"] is None and listed["shots"].startswith("exact")
    assert main(["list", "models"]) == 0
    out = capsys.readouterr().out
    assert "shots=exact" in out and "depolarizing=0.0" in out and "readout=0.0" in out
