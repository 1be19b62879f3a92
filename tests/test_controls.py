"""The control models of PROTOCOL 2.4: qnn-product, linear and mlp-matched."""

import json
from pathlib import Path

import numpy as np
import pytest

from qbench.models import get_model, model_info, registered_models
from qbench.protocol import model_size, protocol_models, train_config
from qbench.tasks import task_families

CONTROLS = ("qnn-product", "linear", "mlp-matched")
#: the protocol tasks with their input: (amplitudes per sample, complex)
TASK_INPUTS = {t: shape for f in task_families() for t, shape in f.input_shapes.items()}


def _states(n_amplitudes: int, n: int, complex_input: bool, seed: int = 7) -> np.ndarray:
    g = np.random.default_rng(seed)
    x = g.standard_normal((n, n_amplitudes)) + (1j * g.standard_normal((n, n_amplitudes)) if complex_input else 0)
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.complex64 if complex_input else np.float32)


def _built(name: str, task: str):
    n_amplitudes, complex_input = TASK_INPUTS[task]
    model = get_model(name, **model_size(task, name))
    if model.input_encoding == "real":  # [Re, Im] of complex amplitudes
        return model.build(n_amplitudes * (2 if complex_input else 1))
    return model.build(n_amplitudes, complex_input=complex_input)


# ---- registration, sizes, recipes -----------------------------------------------------------------


def test_the_controls_are_registered_but_not_planned_by_default():
    assert set(CONTROLS) <= set(registered_models()) and all(model_info(m).control for m in CONTROLS)
    assert protocol_models() == ("qnn", "mlp")
    from qbench.scenarios import RunOptions
    from qbench.suites import get_suite, list_suites

    for name in list_suites():
        suite = get_suite(name)
        for options in (RunOptions(), RunOptions(quick=True)):
            assert not {s.model for s in suite.scenarios(options)} & set(CONTROLS), name


@pytest.mark.parametrize("model", CONTROLS)
def test_a_named_control_plans_the_protocol_sweeps(model):
    """--model names a control: the label-flip sweep (2 tasks x 11 alphas x 5 seeds) and the unlearning suite
    (2 tasks x 5 seeds x (10 methods + the oracle)), each unit a protocol unit (registered scenario, defaults)."""
    from qbench.report.conformance import Checker
    from qbench.scenarios import RunOptions
    from qbench.suites import get_suite
    from qbench.suites.unlearning import PROTOCOL_METHODS

    options = RunOptions(models=(model,))
    checker = Checker()
    for suite, n_units in (("resilience", 2 * 11 * 5), ("unlearning", 2 * 5 * (len(PROTOCOL_METHODS) + 1))):
        s = get_suite(suite)
        units = s.plan(s.scenarios(options), options)
        assert len(units) == len({u.key for u in units}) == n_units
        for u in units[:: len(units) // 7]:
            c = u.config
            spec = c.get("poisoned", c)
            assert spec["model"] == model and spec["corruption"] == "label_flip" and c["protocol_version"] == "3"
            rec = {"suite": suite, "task": spec["task"], "model": model, "corruption": "label_flip",
                   "alpha": spec["alpha"], "seed": spec["seed"], "method": c.get("method"), "protocol_version": "3",
                   "config": json.loads(json.dumps(c))}
            assert checker.deviations(rec) == (), u.key
    # the controls run label flipping only (PROTOCOL 2.4)
    s = get_suite("resilience")
    assert not s.scenarios(RunOptions(models=(model,), corruptions=("feature_randomization",)))


@pytest.mark.parametrize("task", ["mnist-1v9", "xxz-12"])
def test_control_sizes_and_recipes_per_task(task):
    assert set(TASK_INPUTS) == {"mnist-1v9", "xxz-12"}
    qnn = model_size(task, "qnn")
    assert model_size(task, "qnn-product") == {**qnn, "entangler": "none"}  # the task's QNN depth
    assert model_size(task, "linear") == {} and model_size(task, "mlp-matched")["projection_seed"] == 0
    assert train_config(task, "qnn-product") == train_config(task, "qnn")
    assert train_config(task, "linear") == train_config(task, "mlp") == train_config(task, "mlp-matched")


@pytest.mark.parametrize("task", ["mnist-1v9", "xxz-12"])
def test_parameter_counts(task):
    """Every listed count is the built model's; the controls' by hand: D*N*3 without RZZ angles, d + 1 for
    logistic regression, and the matched MLP within 10% of the QNN's D*N*4."""
    n_amplitudes, complex_input = TASK_INPUTS[task]
    counts = {}
    for name in ("qnn", "mlp") + CONTROLS:
        counts[name] = model_info(name).count(model_size(task, name), n_amplitudes, complex_input)
        assert counts[name] == _built(name, task).n_params, name
    n, d = {"mnist-1v9": (10, 6), "xxz-12": (12, 4)}[task]
    features = n_amplitudes * (2 if complex_input else 1)
    assert counts["qnn"] == d * n * 4 and counts["qnn-product"] == d * n * 3
    assert counts["linear"] == features + 1
    assert counts["mlp-matched"] == {"mnist-1v9": 10 * 16 + 16 + 16 * 4 + 4 + 4 + 1, "xxz-12": 12 * 12 + 12 + 12 * 3 + 3 + 3 + 1}[task]
    assert abs(counts["mlp-matched"] / counts["qnn"] - 1) <= 0.10


def test_qbench_list_models_shows_the_counts(capsys):
    from qbench.cli import main

    assert main(["list", "models"]) == 0
    lines = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()[1:]}
    assert "mnist-1v9 180 parameters" in lines["qnn-product"] and "xxz-12 144 parameters" in lines["qnn-product"]
    assert "mnist-1v9 1,025 parameters" in lines["linear"] and "xxz-12 8,193 parameters" in lines["linear"]
    assert "mnist-1v9 249 parameters" in lines["mlp-matched"] and "xxz-12 199 parameters" in lines["mlp-matched"]
    assert "mnist-1v9 240 parameters" in lines["qnn"] and "control" not in lines["qnn"]


# ---- qnn-product ----------------------------------------------------------------------------------


@pytest.mark.parametrize("complex_input", [False, True])
def test_qnn_product_is_the_qnn_with_its_rzz_angles_at_zero(complex_input):
    """Same outputs and the same gradients with respect to the rotation angles; the same initial rotation angles
    (the same seed stream); and the fast engine equals the literal TensorCircuit circuit without RZZ gates."""
    from qbench.models.qnn_circuit import entangler_pairs, n_params, reference_logits

    assert entangler_pairs(4, "none") == [] and n_params(10, 6, "none") == 180 and n_params(12, 4, "none") == 144
    n, depth = 4, 3
    x, y = _states(2**n, 6, complex_input), np.array([0, 1, 1, 0, 1, 0])
    product = get_model("qnn", depth=depth, entangler="none").build(2**n, complex_input=complex_input)
    ring = get_model("qnn", depth=depth).build(2**n, complex_input=complex_input)
    n_rot = depth * n * 3
    assert product.n_params == n_rot and ring.n_params == n_rot + depth * n
    theta = (0.8 * np.random.default_rng(5).standard_normal(n_rot)).astype(np.float32)
    theta_ring = np.concatenate([theta, np.zeros(depth * n, np.float32)])
    # the product runs the light-cone engine (one qubit), the ring the dense one: the same function, summed
    # in another order
    np.testing.assert_allclose(product.predict_proba(x, theta), ring.predict_proba(x, theta_ring), rtol=0, atol=1e-6)
    loss_p, grad_p = product.loss_and_grad(x, y, theta)
    loss_r, grad_r = ring.loss_and_grad(x, y, theta_ring)
    assert loss_p == pytest.approx(loss_r, abs=1e-6)
    np.testing.assert_allclose(grad_p, grad_r[:n_rot], rtol=0, atol=1e-6)
    # RZZ angles matter in the ring (so the comparison above can fail)
    assert np.abs(grad_r[n_rot:]).max() > 1e-3
    np.testing.assert_array_equal(product.init_params(3), ring.init_params(3)[:n_rot])
    literal = reference_logits(theta, x, n, depth, entangler="none").numpy()
    np.testing.assert_allclose(product.logits_fn(theta, product._input(x)).numpy(), literal, atol=2e-5)


def test_default_qnn_outputs_are_unchanged():
    """The ring QNN's probabilities as computed before the `none` entangler existed (n=4, depth 2, real input)."""
    x = _states(16, 5, False)
    model = get_model("qnn", depth=2).build(16)
    theta = (0.7 * np.random.default_rng(3).standard_normal(model.n_params)).astype(np.float32)
    before = [0.7456364631652832, 0.1020573154091835, 0.39621350169181824, 0.8345057368278503, 0.620178759098053]
    np.testing.assert_allclose(model.predict_proba(x, theta), before, rtol=0, atol=1e-6)


# ---- linear ---------------------------------------------------------------------------------------


def test_linear_is_logistic_regression():
    """p = sigmoid(x.w + b) with theta = [w, b]; the BCE gradient is the closed form [X^T (p - y), sum(p - y)] / n,
    and it vanishes at scikit-learn's unregularized LogisticRegression fit."""
    from sklearn.linear_model import LogisticRegression

    g = np.random.default_rng(0)
    y = np.repeat([0, 1], 60)
    x = (g.standard_normal((120, 3)) + np.outer(2 * y - 1, [0.8, -0.5, 0.2])).astype(np.float32)
    model = get_model("linear").build(3)
    assert model.n_params == 4 and model.hyperparameters() == {}
    theta = np.array([0.3, -1.2, 0.7, 0.1], np.float32)
    p = 1 / (1 + np.exp(-(x.astype(np.float64) @ theta[:3] + theta[3])))
    np.testing.assert_allclose(model.predict_proba(x, theta), p, rtol=1e-5)
    _, grad = model.loss_and_grad(x, y, theta)
    closed = np.concatenate([x.T @ (p - y), [np.sum(p - y)]]) / len(y)
    np.testing.assert_allclose(grad, closed, rtol=1e-4, atol=1e-6)
    fit = LogisticRegression(C=np.inf, tol=1e-10, max_iter=10_000).fit(x, y)
    optimum = np.concatenate([fit.coef_[0], fit.intercept_]).astype(np.float32)
    _, grad_at_optimum = model.loss_and_grad(x, y, optimum)
    assert np.abs(grad_at_optimum).max() < 1e-4 < np.abs(grad).max()


def test_linear_trained_with_adam_reaches_sklearns_fit():
    """qbench's trainer (full batch, Adam) on overlapping classes converges to the unregularized maximum likelihood."""
    from sklearn.linear_model import LogisticRegression

    from qbench.protocol import TrainConfig
    from qbench.training import train

    g = np.random.default_rng(1)
    y = np.repeat([0, 1], 50)
    x = (g.standard_normal((100, 2)) + np.outer(2 * y - 1, [0.7, 0.4])).astype(np.float32)
    model = get_model("linear").build(2)
    result = train(model, x, y, TrainConfig(epochs=1500, batch_size=100, lr=0.05), np.random.default_rng(0),
                   model.init_params(0))
    fit = LogisticRegression(C=np.inf, tol=1e-10, max_iter=10_000).fit(x, y)
    np.testing.assert_allclose(result.params, np.concatenate([fit.coef_[0], fit.intercept_]), atol=2e-3)


# ---- mlp-matched ----------------------------------------------------------------------------------


def test_mlp_matched_is_an_mlp_on_a_fixed_projection():
    """logits = MLP(x R) for the seeded projection R, which is no parameter: the same for every run seed and build,
    a different one for another projection_seed, and ||R||_F^2 / input_dim = 1 on average (entries N(0, 1/k))."""
    from qbench.models.mlp_matched import projection_matrix

    d, k = 1024, 10
    model = get_model("mlp-matched", features=k, hidden=(16, 4)).build(d)
    again = get_model("mlp-matched", features=k, hidden=(16, 4)).build(d)
    np.testing.assert_array_equal(model.projection_, again.projection_)
    assert model.projection_.shape == (d, k) and model.n_params == 249
    assert not np.array_equal(model.projection_, projection_matrix(d, k, seed=1))
    assert abs(np.sum(model.projection_.astype(np.float64) ** 2) / d - 1) < 0.05
    inner = get_model("mlp", hidden=(16, 4)).build(k)
    x = _states(d, 8, False)
    theta = model.init_params(4)
    np.testing.assert_array_equal(theta, inner.init_params(4))  # Keras' initializers, seeded like the MLP's
    np.testing.assert_allclose(model.predict_proba(x, theta), inner.predict_proba(x @ model.projection_, theta),
                               rtol=1e-5)
    _, grad = model.loss_and_grad(x, np.arange(8) % 2, theta)
    assert grad.shape == (249,)  # the gradient reaches only the trainable parameters
    with pytest.raises(ValueError, match="real features"):
        get_model("mlp-matched").build(16, complex_input=True)


# ---- tiny suite units through the command line ------------------------------------------------------


def _records(out: Path) -> list[dict]:
    return [json.loads(line) for f in sorted((out / "records").glob("*.jsonl")) for line in f.read_text().splitlines()]


@pytest.mark.parametrize("model", CONTROLS)
def test_tiny_resilience_unit(model, tmp_path, cache_dir, capsys):
    from qbench.cli import main

    code = main(["run", "--suite", "resilience", "--task", "xxz-4", "--model", model, "--corruption", "label_flip",
                 "--alphas", "0.3", "--seeds", "0", "--epochs", "2", "--out", str(tmp_path), "--cache-dir", cache_dir,
                 "--no-progress"])
    capsys.readouterr()
    assert code == 0
    (rec,) = _records(tmp_path)
    assert rec["status"] == "ok" and rec["model"] == model and rec["protocol_version"] == "3"
    assert rec["scenario"] == f"resilience/xxz-4/{model}/label_flip"
    assert rec["config"]["model_options"] == json.loads(json.dumps(model_size("xxz-4", model)))
    assert rec["config"]["train"]["batch_size"] == train_config("xxz-12", model).batch_size
    assert rec["metrics"]["n_corrupted"] == 58 and 0.0 <= rec["metrics"]["val_acc"] <= 1.0


@pytest.mark.parametrize("model", CONTROLS)
def test_tiny_unlearning_unit(model, tmp_path, cache_dir, capsys):
    """Every protocol method and the oracle run on each control; the poisoned model stores only the trainable
    parameters (mlp-matched: not its projection, which a rebuild draws again from its seed)."""
    from qbench.cli import main
    from qbench.suites.unlearning import PROTOCOL_METHODS

    methods = PROTOCOL_METHODS if model != "qnn-product" else ("finetune", "salun")  # each QNN method compiles
    args = ["run", "--suite", "unlearning", "--task", "xxz-4", "--model", model, "--seeds", "0", "--epochs", "2",
            "--steps", "2", "--out", str(tmp_path), "--cache-dir", cache_dir, "--no-progress"]
    code = main(args + [a for m in methods for a in ("--method", m)])
    capsys.readouterr()
    assert code == 0
    recs = _records(tmp_path)
    assert all(r["status"] == "ok" and r["model"] == model for r in recs)
    assert {r["method"] for r in recs} == set(methods) | {"oracle"}
    assert len(recs) == len(methods) * 3 + 1  # steps 0, 1, 2 per method, one oracle record
    count = model_info(model).count(model_size("xxz-4", model), 16, True)  # xxz-4: 16 complex amplitudes
    stored = list((tmp_path / "models").glob("*.npz"))
    assert len(stored) == 2  # the poisoned model and the oracle
    for f in stored:
        with np.load(f) as z:
            assert z["params"].shape == (count,)
