"""Unlearning methods: objectives against hand computations, and the loop's guarantees."""

import numpy as np
import pytest
import tensorflow as tf

from qbench.errors import QbenchError
from qbench.methods import get_method, list_methods
from qbench.metrics.evaluate import evaluate, evaluator
from qbench.models import get_model
from qbench.training.unlearn import UnlearnSets
from qbench.training.unlearn import unlearn as _loop


def unlearn(model, method, poisoned, fresh, sets, **kw):
    """The loop with the metrics every suite gives it."""
    return _loop(model, method, poisoned, fresh, sets, evaluate=evaluator(model, sets), **kw)


def sig(z):
    return 1 / (1 + np.exp(-z))


def ce(z, y):
    p = sig(z)
    return float(np.mean(-(y * np.log(p) + (1 - y) * np.log(1 - p))))


def kl(zt, zs, form="bernoulli"):
    pt, ps = sig(zt), sig(zs)
    k = pt * np.log(pt / ps)
    if form == "bernoulli":
        k = k + (1 - pt) * np.log((1 - pt) / (1 - ps))
    return float(np.mean(k))


@pytest.fixture(scope="module")
def tiny():
    rng = np.random.default_rng(0)
    model = get_model("mlp", hidden=(3,)).build(4)
    theta = model.init_params(1) + 0.3 * rng.standard_normal(model.n_params).astype(np.float32)
    teacher = model.init_params(2)
    xr, xf = rng.standard_normal((6, 4)).astype(np.float32), rng.standard_normal((3, 4)).astype(np.float32)
    yr, yf = np.array([0, 1, 1, 0, 1, 0]), np.array([1, 0, 1])
    z = lambda th, x: model.predict_proba(x, th)  # noqa: E731
    logit = lambda th, x: np.log(z(th, x) / (1 - z(th, x)))  # noqa: E731
    data = {
        "x_retain": tf.constant(xr), "y_retain": tf.constant(yr, tf.float32),
        "x_forget": tf.constant(xf), "y_forget": tf.constant(yf, tf.float32),
        "teacher_retain": tf.constant(logit(teacher, xr), tf.float32),
        "teacher_forget": tf.constant(logit(teacher, xf), tf.float32),
        "teacher_theta": tf.constant(teacher), "total_steps": tf.constant(10, tf.int32),
    }
    zs_r, zs_f = logit(theta, xr), logit(theta, xf)
    zt_r, zt_f = logit(teacher, xr), logit(teacher, xf)
    return model, theta, data, (zs_r, zs_f, zt_r, zt_f, yr, yf)


def _loss(model, method, theta, data, step=0):
    hp = {k: tf.constant(v, tf.float32) for k, v in method.numeric_hyperparameters().items()}
    return float(method.objective(model.logits_fn, tf.constant(theta), data, hp, tf.constant(step)))


def test_builtin_methods_are_registered():
    assert set(list_methods()) >= {"retrain", "finetune", "gradient_ascent", "scrub", "scrub_alternating"}


def test_finetune_and_retrain_are_retain_cross_entropy(tiny):
    model, theta, data, (zs_r, _, _, _, yr, _) = tiny
    for name in ("finetune", "retrain"):
        assert _loss(model, get_method(name), theta, data) == pytest.approx(ce(zs_r, yr), rel=1e-5)


def test_gradient_ascent_subtracts_beta_times_forget_ce(tiny):
    model, theta, data, (zs_r, zs_f, _, _, yr, yf) = tiny
    expected = ce(zs_r, yr) - 0.2 * ce(zs_f, yf)
    assert _loss(model, get_method("gradient_ascent"), theta, data) == pytest.approx(expected, rel=1e-5)
    # the ascent term has the minus sign: a larger beta lowers the loss
    assert _loss(model, get_method("gradient_ascent", beta=0.5), theta, data) < expected


@pytest.mark.parametrize("form", ["bernoulli", "study"])
def test_scrub_objective_with_bernoulli_kl(tiny, form):
    model, theta, data, (zs_r, zs_f, zt_r, zt_f, yr, yf) = tiny
    m = get_method("scrub", lambda_kl=0.3, kl=form)
    expected = ce(zs_r, yr) + 0.3 * kl(zt_r, zs_r, form) - 0.2 * kl(zt_f, zs_f, form)
    assert _loss(model, m, theta, data) == pytest.approx(expected, rel=1e-4)
    # protocol defaults: lambda_ce 1, lambda_kl 0, lambda_fo 0.2
    expected_default = ce(zs_r, yr) - 0.2 * kl(zt_f, zs_f)
    assert _loss(model, get_method("scrub"), theta, data) == pytest.approx(expected_default, rel=1e-4)


def test_bernoulli_kl_is_nonnegative_and_zero_at_teacher(tiny):
    model, theta, data, (zs_r, zs_f, zt_r, zt_f, yr, yf) = tiny
    assert kl(zt_f, zs_f) > 0
    m = get_method("scrub", lambda_ce=0.0, lambda_kl=1.0, lambda_fo=0.0)
    teacher_data = dict(data, teacher_retain=tf.constant(zs_r, tf.float32))
    assert abs(_loss(model, m, theta, teacher_data)) < 1e-6


def test_scrub_alternating_max_then_min_steps(tiny):
    model, theta, data, (zs_r, zs_f, zt_r, zt_f, yr, yf) = tiny
    m = get_method("scrub_alternating")  # gamma .99, alpha .001, T 4, msteps 5
    T = 4.0
    max_loss = -(T**2) * kl(zt_f / T, zs_f / T)
    min_loss = 0.99 * ce(zs_r, yr) + 0.001 * T**2 * kl(zt_r / T, zs_r / T)
    assert _loss(model, m, theta, data, step=0) == pytest.approx(max_loss, rel=1e-4)
    assert _loss(model, m, theta, data, step=1) == pytest.approx(min_loss, rel=1e-4)
    assert _loss(model, m, theta, data, step=8) == pytest.approx(max_loss, rel=1e-4)
    assert _loss(model, m, theta, data, step=10) == pytest.approx(min_loss, rel=1e-4)  # max phase over


def test_unknown_hyperparameter_is_a_clear_error():
    with pytest.raises(QbenchError, match="unknown hyperparameter.*lambda_x.*known: kl, lambda_ce"):
        get_method("scrub", lambda_x=1.0)
    with pytest.raises(QbenchError, match="unknown unlearning method 'nope'"):
        get_method("nope")


@pytest.fixture(scope="module")
def unlearn_case():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((60, 5)).astype(np.float32)
    y_true = (x[:, 0] > 0).astype(np.int64)
    forget = np.arange(60) < 18
    y = y_true.copy()
    y[forget] = 1 - y[forget]
    sets = UnlearnSets(x[~forget], y[~forget], x[forget], y[forget], y_true[forget], x[:30], y_true[:30])
    model = get_model("mlp", hidden=(4,)).build(5)
    return model, sets, model.init_params(0), model.init_params(9)


@pytest.mark.parametrize("name", ["finetune", "gradient_ascent", "scrub", "scrub_alternating", "retrain"])
def test_step0_is_the_start_model_and_teacher_is_untouched(unlearn_case, name):
    model, sets, poisoned, fresh = unlearn_case
    before = poisoned.copy()
    res = unlearn(model, get_method(name), poisoned, fresh, sets, steps=3, lr=0.01)
    assert res.status == "ok" and len(res.metrics) == 4
    start = fresh if name == "retrain" else poisoned
    expected = evaluate(model, start, sets)
    assert {k: res.metrics[0][k] for k in expected} == expected
    np.testing.assert_array_equal(poisoned, before)
    assert not np.array_equal(res.params, start)
    assert res.metrics[-1]["wall_s"] > res.metrics[1]["wall_s"] > 0


def test_same_seed_same_records(unlearn_case):
    model, sets, poisoned, fresh = unlearn_case
    a = unlearn(model, get_method("scrub"), poisoned, fresh, sets, steps=4, lr=0.01)
    b = unlearn(model, get_method("scrub"), poisoned, fresh, sets, steps=4, lr=0.01)
    strip = lambda ms: [{k: v for k, v in m.items() if k != "wall_s"} for m in ms]  # noqa: E731
    np.testing.assert_equal(strip(a.metrics), strip(b.metrics))
    np.testing.assert_array_equal(a.params, b.params)


class _Explodes(get_method("finetune").__class__):
    def objective(self, logits_fn, theta, data, hp, step):
        return 1e30 * tf.reduce_sum(tf.exp(50.0 * theta))


class _Raises(get_method("finetune").__class__):
    def objective(self, logits_fn, theta, data, hp, step):
        raise RuntimeError("boom")


def test_nan_parameters_and_exceptions_fail_the_run_not_the_suite(unlearn_case):
    model, sets, poisoned, fresh = unlearn_case
    bad = unlearn(model, _Explodes(), poisoned, fresh, sets, steps=3, lr=0.01)
    assert bad.status == "failed" and "non-finite" in bad.error
    boom = unlearn(model, _Raises(), poisoned, fresh, sets, steps=3, lr=0.01)
    assert boom.status == "failed" and "boom" in boom.error
    assert "RuntimeError: boom" in boom.extras["traceback"] and "objective" in boom.extras["traceback"]
    assert len(boom.metrics) == 1  # step 0 was still recorded


def test_curves_limit_the_metrics_of_the_steps_between(unlearn_case):
    model, sets, poisoned, fresh = unlearn_case
    full = unlearn(model, get_method("finetune"), poisoned, fresh, sets, steps=4, lr=0.01)
    lean = unlearn(model, get_method("finetune"), poisoned, fresh, sets, steps=4, lr=0.01, curves=("val_acc",))
    every = {"val_acc", "forget_acc", "forget_clean_acc", "retain_acc", "wall_s", "loss"}
    assert set(lean.metrics[0]) == every and set(lean.metrics[-1]) == every  # first and last: everything
    assert all(set(m) == {"val_acc", "wall_s", "loss"} for m in lean.metrics[1:-1])
    for a, b in zip(full.metrics, lean.metrics):  # the same run: the kept numbers agree
        np.testing.assert_equal({k: a[k] for k in b if k != "wall_s"}, {k: b[k] for k in b if k != "wall_s"})
    np.testing.assert_array_equal(full.params, lean.params)
    # the loop computes no metric of its own: without an evaluator it keeps the loss and the clock only
    bare = _loop(model, get_method("finetune"), poisoned, fresh, sets, steps=4, lr=0.01)
    assert set(bare.metrics[0]) == {"wall_s", "loss"} and all(set(m) == {"wall_s", "loss"} for m in bare.metrics)
    assert [m["loss"] for m in bare.metrics] == [m["loss"] for m in full.metrics]
    np.testing.assert_array_equal(bare.params, full.params)


def test_scrub_alternating_first_max_step_is_exactly_no_move_and_a_last_bit_change_stays_small(unlearn_case):
    """At step 0 the student is the teacher: the max-step's gradient is zero, so Adam must not move
    (with teacher logits from another graph it moved every parameter by rounding noise scaled up to
    ~lr, and a 1-ulp change of the poisoned model changed the curve at the 1e-3 level)."""
    model, sets, poisoned, fresh = unlearn_case
    method = get_method("scrub_alternating")
    one = unlearn(model, method, poisoned, fresh, sets, steps=1, lr=0.01)
    np.testing.assert_array_equal(one.params, poisoned)
    bumped = np.nextafter(poisoned, np.float32(np.inf))
    a = unlearn(model, method, poisoned, fresh, sets, steps=12, lr=0.01)
    b = unlearn(model, method, bumped, fresh, sets, steps=12, lr=0.01)
    assert np.max(np.abs(a.params - b.params)) < 1e-5
    assert np.max(np.abs(a.params - poisoned)) > 1e-3  # the later steps do move it


def test_scrub_alternating_closed_form_kl_gradient_matches_autodiff():
    from qbench.methods.base import bernoulli_kl
    from qbench.training.generic_objective import distill_kl as _distill_kl

    rng = np.random.default_rng(5)
    t = tf.constant(rng.normal(0, 3, 40), tf.float32)
    s = tf.Variable(rng.normal(0, 3, 40).astype(np.float32))
    with tf.GradientTape(persistent=True) as tape:
        ours = _distill_kl(t, s, 4.0)
        ref = bernoulli_kl(t / 4.0, s / 4.0) * 16.0
    assert float(ours) == float(ref)
    g, g_ref = tape.gradient(ours, s).numpy(), tape.gradient(ref, s).numpy()
    np.testing.assert_allclose(g, g_ref, rtol=1e-5, atol=1e-8)
    assert np.max(np.abs(g)) > 1e-3


# -- the literature's baselines and the setup/mask API --------------------------------------------
def _setup(model, method, theta, data, seed=7, steps=10):
    from qbench.training.unlearn import SetupContext, run_setup

    hp = {k: tf.constant(v, tf.float32) for k, v in method.numeric_hyperparameters().items()}
    state, mask = run_setup(model, method, tf.constant(theta), data, hp,
                            SetupContext(seed, steps, model.n_params, model.init_params))
    return {**data, **state}, mask


def test_neg_grad_plus_weighs_retain_by_beta_and_ascends_forget_by_one_minus_beta(tiny):
    model, theta, data, (zs_r, zs_f, _, _, yr, yf) = tiny
    assert _loss(model, get_method("neg_grad_plus"), theta, data) == pytest.approx(
        0.999 * ce(zs_r, yr) - 0.001 * ce(zs_f, yf), rel=1e-5)
    assert _loss(model, get_method("neg_grad_plus", beta=0.5), theta, data) == pytest.approx(
        0.5 * ce(zs_r, yr) - 0.5 * ce(zs_f, yf), rel=1e-5)


def test_random_labels_are_drawn_from_the_seed_and_trained_on_with_the_retain_set(tiny):
    model, theta, data, (zs_r, zs_f, _, _, yr, yf) = tiny
    method = get_method("random_labels")
    a, _ = _setup(model, method, theta, data, seed=7)
    b, _ = _setup(model, method, theta, data, seed=7)
    labels = a["random_labels"].numpy()
    np.testing.assert_array_equal(labels, b["random_labels"].numpy())
    assert set(labels) <= {0.0, 1.0} and labels.shape == (3,)
    draws = {tuple(_setup(model, method, theta, data, seed=s)[0]["random_labels"].numpy()) for s in range(8)}
    assert len(draws) > 1  # other seeds, other labels
    assert _loss(model, method, theta, a) == pytest.approx(ce(zs_f, labels) + ce(zs_r, yr), rel=1e-5)


def test_saliency_mask_keeps_the_largest_gradients():
    from qbench.methods.salun import saliency_mask

    g = np.array([0.1, -3.0, 2.0, 0.0, -0.5, 0.2])
    np.testing.assert_array_equal(saliency_mask(g, 0.5), [0, 1, 1, 0, 1, 0])
    np.testing.assert_array_equal(saliency_mask(g, 1 / 6), [0, 1, 0, 0, 0, 0])
    np.testing.assert_array_equal(saliency_mask([1.0, 1.0, 1.0], 0.34), [1, 0, 0])  # int(1.02) = 1; ties: lower index
    assert saliency_mask(g, 0.0).sum() == 0 and saliency_mask(g, 1.0).sum() == 6


def test_salun_mask_is_the_top_half_of_the_forget_gradient_and_frozen_parameters_never_move(tiny, unlearn_case):
    model, theta, data, (zs_r, zs_f, _, _, yr, yf) = tiny
    method = get_method("salun")
    full, mask = _setup(model, method, theta, data)
    t = tf.constant(theta)
    with tf.GradientTape() as tape:
        tape.watch(t)
        loss = tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=data["y_forget"],
                                                                      logits=model.logits_fn(t, data["x_forget"])))
    g = np.abs(tape.gradient(loss, t).numpy())
    m = mask.numpy()
    assert m.sum() == model.n_params // 2 and g[m == 1].min() >= g[m == 0].max()
    # salun's objective is random labels' (same labels for the same seed)
    assert _loss(model, method, theta, full) == pytest.approx(ce(zs_f, full["random_labels"].numpy()) + ce(zs_r, yr),
                                                              rel=1e-5)
    model, sets, poisoned, fresh = unlearn_case
    res = unlearn(model, method, poisoned, fresh, sets, steps=5, lr=0.05, method_seed=3)
    assert res.status == "ok" and res.setup_s > 0
    _, mask = _setup(model, method, poisoned, {"x_forget": tf.constant(sets.x_forget),
                                               "y_forget": tf.constant(sets.y_forget, tf.float32)}, seed=3)
    frozen = mask.numpy() == 0
    np.testing.assert_array_equal(res.params[frozen], poisoned[frozen])  # exactly, not approximately
    assert np.all(res.params[~frozen] != poisoned[~frozen])


def test_l1_sparse_penalty_decays_linearly_over_the_run(tiny):
    model, theta, data, (zs_r, _, _, _, yr, _) = tiny
    l1 = float(np.abs(theta).sum())
    method = get_method("l1_sparse", gamma=0.01)
    data = dict(data, total_steps=tf.constant(10, tf.int32))
    for step, weight in [(0, 0.01), (5, 0.005), (9, 0.001)]:
        assert _loss(model, method, theta, data, step=step) == pytest.approx(ce(zs_r, yr) + weight * l1, rel=1e-5)
    assert get_method("l1_sparse").hp.gamma == 5e-4


def test_bad_teacher_distils_the_poisoned_model_on_retain_and_a_fresh_init_on_forget(tiny):
    model, theta, data, (zs_r, zs_f, zt_r, _, _, _) = tiny
    method = get_method("bad_teacher")
    full, mask = _setup(model, method, theta, data, seed=11)
    assert mask is None
    z_inc = full["incompetent_forget"].numpy()
    np.testing.assert_allclose(z_inc, model.logits_fn(tf.constant(model.init_params(11)), data["x_forget"]).numpy())
    assert _loss(model, method, theta, full) == pytest.approx(kl(zt_r, zs_r) + kl(z_inc, zs_f), rel=1e-4)
    t2 = get_method("bad_teacher", temperature=2.0)
    assert _loss(model, t2, theta, full) == pytest.approx(kl(zt_r / 2, zs_r / 2) + kl(z_inc / 2, zs_f / 2), rel=1e-4)
    other, _ = _setup(model, method, theta, data, seed=12)
    assert not np.array_equal(other["incompetent_forget"].numpy(), z_inc)


class _BadSetup(get_method("finetune").__class__):
    returns: dict = {}

    def setup(self, logits_fn, theta0, data, hp, context):
        return dict(self.returns)


@pytest.mark.parametrize("returns,needle", [
    ({"x_retain": np.zeros(3)}, "setup: ValueError: setup returned x_retain, which the loop's data already holds"),
    ({"update_mask": np.ones(2)}, "setup: ValueError: setup's 'update_mask' must be 0/1 with one entry per parameter"),
    ({"update_mask": np.full(29, 0.5)}, "must be 0/1"),
])
def test_a_bad_setup_fails_its_run_in_one_line(unlearn_case, returns, needle):
    model, sets, poisoned, fresh = unlearn_case
    method = _BadSetup()
    method.returns = returns
    res = unlearn(model, method, poisoned, fresh, sets, steps=2, lr=0.01)
    assert res.status == "failed" and needle in res.error and len(res.metrics) == 1


class _FreeFormFinetune(get_method("finetune").__class__):
    """finetune's loss written out as a free-form objective (its own compiled step)."""

    def objective(self, logits_fn, theta, data, hp, step):
        from qbench.methods import mean_bce

        return mean_bce(logits_fn(theta, data["x_retain"]), data["y_retain"])


def test_a_free_form_objective_gets_its_own_step_and_a_mask_its_own_graph_and_all_ones_change_nothing(unlearn_case):
    from qbench.training.unlearn import shared_terms, step_fn_for

    model, sets, poisoned, fresh = unlearn_case
    free = _FreeFormFinetune()
    assert shared_terms(free) is None and shared_terms(get_method("finetune")) is not None
    assert step_fn_for(model, free) is step_fn_for(model, free)
    assert step_fn_for(model, free, masked=True) is not step_fn_for(model, free)
    everything = _BadSetup()
    everything.returns = {"update_mask": np.ones(model.n_params, np.float32)}
    a = unlearn(model, get_method("finetune"), poisoned, fresh, sets, steps=3, lr=0.01)
    b = unlearn(model, everything, poisoned, fresh, sets, steps=3, lr=0.01)
    c = unlearn(model, free, poisoned, fresh, sets, steps=3, lr=0.01)
    np.testing.assert_array_equal(a.params, b.params)  # an all-ones mask changes nothing
    np.testing.assert_array_equal(a.params, c.params)  # the shared step's zero-weight terms change nothing


def test_mask_key_is_the_same_on_both_sides_of_the_loop():
    from qbench.methods import MASK_KEY
    from qbench.training.unlearn import MASK_KEY as LOOP_MASK_KEY

    assert MASK_KEY == LOOP_MASK_KEY


def test_unlearn_keeps_the_parameters_of_every_kth_step(unlearn_case):
    model, sets, poisoned, fresh = unlearn_case
    full = unlearn(model, get_method("finetune"), poisoned, fresh, sets, steps=5, lr=0.01, keep_every=2)
    assert sorted(full.snapshots) == [2, 4]
    for k in (2, 4):
        short = unlearn(model, get_method("finetune"), poisoned, fresh, sets, steps=k, lr=0.01)
        assert np.array_equal(full.snapshots[k], short.params)


def test_the_shared_step_gives_a_qnn_the_numbers_of_finetunes_own_step():
    """Under XLA too, the terms finetune does not use (weight 0) leave its parameters bit for bit as
    its loss written out alone gives them."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal((24, 16)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    y = (x[:, 0] > 0).astype(np.int64)
    sets = UnlearnSets(x[8:], y[8:], x[:8], 1 - y[:8], y[:8], x[:12], y[:12])
    model = get_model("qnn", depth=2).build(16)
    assert model.xla
    poisoned, fresh = model.init_params(0) + 0.5, model.init_params(1)
    shared = unlearn(model, get_method("retrain"), poisoned, fresh, sets, steps=4, lr=0.05)
    own = unlearn(model, type("FreeFormRetrain", (_FreeFormFinetune,), {"from_scratch": True})(), poisoned, fresh,
                  sets, steps=4, lr=0.05)
    assert shared.status == own.status == "ok"
    np.testing.assert_array_equal(shared.params, own.params)
    assert not np.array_equal(shared.params, fresh)
