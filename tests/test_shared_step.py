"""One compiled unlearning step serves every built-in method: traced once per model and data shape."""

import numpy as np
import pytest
import tensorflow as tf

from qbench.methods import get_method, list_methods, method_source
from qbench.models import get_model
from qbench.training import compiled, generic_objective
from qbench.training.generic_objective import Terms, Weights
from qbench.training.unlearn import UnlearnSets, shared_terms, unlearn

BUILTINS = [name for name in list_methods() if method_source(name) == "builtin"]


def _sets(dim: int) -> UnlearnSets:
    rng = np.random.default_rng(2)
    x = rng.standard_normal((20, dim)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    y = (x[:, 0] > 0).astype(np.int64)
    return UnlearnSets(x[6:], y[6:], x[:6], 1 - y[:6], y[:6], x[:10], y[:10])


def test_a_run_of_every_builtin_method_traces_the_qnn_step_once():
    assert len(BUILTINS) >= 10
    compiled.clear_cache()
    model = get_model("qnn", depth=2).build(8)
    sets = _sets(8)
    poisoned, fresh = model.init_params(0) + 0.3, model.init_params(1)
    moved = {}
    for name in BUILTINS:
        res = unlearn(model, get_method(name), poisoned, fresh, sets, steps=3, lr=0.05, method_seed=4)
        assert res.status == "ok", (name, res.error)
        moved[name] = res.params
    step = generic_objective.step_fn(model)
    assert step.experimental_get_tracing_count() == 1
    assert [k[0] for k in compiled._CACHE if k[0].startswith("unlearn")] == ["unlearn:generic"]  # none of its own
    # one step, yet ten different objectives: no two methods end at the same parameters (retrain starts elsewhere)
    ends = {name: p.tobytes() for name, p in moved.items()}
    assert len(set(ends.values())) == len(BUILTINS)


def test_a_new_forget_set_size_traces_again_but_a_new_method_or_value_does_not():
    compiled.clear_cache()
    model = get_model("mlp", hidden=(3,)).build(8)
    sets = _sets(8)
    p0, p1 = model.init_params(0), model.init_params(1)
    for method in (get_method("scrub"), get_method("scrub", lambda_fo=0.5, kl="study"), get_method("salun")):
        unlearn(model, method, p0, p1, sets, steps=2, lr=0.05)
    assert generic_objective.step_fn(model).experimental_get_tracing_count() == 1
    smaller = UnlearnSets(sets.x_retain, sets.y_retain, sets.x_forget[:4], sets.y_forget[:4],
                          sets.y_forget_clean[:4], sets.x_val, sets.y_val)
    unlearn(model, get_method("scrub"), p0, p1, smaller, steps=2, lr=0.05)
    assert generic_objective.step_fn(model).experimental_get_tracing_count() == 2


def test_overriding_objective_leaves_the_shared_step_and_overriding_terms_stays_on_it():
    scrub = type(get_method("scrub"))

    class OwnObjective(scrub):
        def objective(self, logits_fn, theta, data, hp, step):
            return 2.0 * super().objective(logits_fn, theta, data, hp, step)

    class OwnWeights(scrub):
        def terms(self):
            return Terms(Weights(ce_retain=2.0))

    assert shared_terms(OwnObjective()) is None
    assert shared_terms(OwnWeights()) == Terms(Weights(ce_retain=2.0))


def test_terms_that_name_missing_data_fail_the_run_in_one_line():
    class Nowhere(type(get_method("finetune"))):
        def terms(self):
            return Terms(Weights(ce_forget=1.0), forget_labels="no_such_labels")

    model = get_model("mlp", hidden=(3,)).build(8)
    res = unlearn(model, Nowhere(), model.init_params(0), model.init_params(1), _sets(8), steps=2, lr=0.05)
    assert res.status == "failed" and "terms: ValueError" in res.error and "'no_such_labels'" in res.error


def test_weights_derived_from_hyperparameters_are_rounded_as_float32_arithmetic():
    """neg_grad_plus's 1 - beta is the float32 subtraction the old in-graph formula made, not a rounded double."""
    w = get_method("neg_grad_plus", beta=0.999).terms().weights
    assert np.float32(w.ce_forget) == -(tf.constant(1.0) - tf.constant(0.999, tf.float32)).numpy()
    assert np.float32(w.ce_forget) != np.float32(-(1.0 - 0.999))


def test_a_bad_kl_form_is_refused():
    with pytest.raises(ValueError, match="kl form"):
        Terms(Weights(), kl_form="nope")
