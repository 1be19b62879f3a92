"""The membership-inference attack (qbench.metrics.mia) and the metric registry, on constructed outputs
whose answer is known; numpy and scikit-learn only."""

import math
import subprocess
import sys

import numpy as np
import pytest

from qbench.metrics import registry
from qbench.metrics.mia import AttackSets, features, mia_attacks, mia_efficacy
from qbench.metrics.registry import Missing, compute, gap_to_oracle, get_metric


def outputs(g: np.random.Generator, n: int, kind: str) -> tuple[np.ndarray, np.ndarray]:
    """Logits and labels: 'member' = confident and correct on its labels (a trained-on sample), 'outsider' =
    what the same model does on data it never saw (less confident, sometimes wrong)."""
    y = g.integers(0, 2, n)
    sign = np.where(y == 1, 1.0, -1.0)
    if kind == "member":
        margin = g.normal(5.0, 0.7, n)
    else:
        margin = g.normal(0.8, 1.5, n)
    return sign * margin, y


def case(forget_kind: str, seed: int = 0, n_forget: int = 120):
    g = np.random.default_rng(seed)
    retain, val, forget = outputs(g, 300, "member"), outputs(g, 400, "outsider"), outputs(g, n_forget, forget_kind)
    return (*retain, *val, *forget)


def test_a_model_that_memorized_the_forget_set_scores_low_one_that_never_saw_it_scores_like_the_oracle():
    memorized = mia_efficacy(*case("member"), seed=0)
    never_saw = mia_efficacy(*case("outsider"), seed=0)
    oracle = mia_efficacy(*case("outsider", seed=1), seed=0)  # another draw of the never-seen distribution
    assert memorized < 0.1
    assert never_saw > 0.7 and oracle > 0.7
    assert abs(never_saw - oracle) < 0.1


def test_deterministic_for_a_seed_and_a_fraction():
    a, b = mia_efficacy(*case("outsider"), seed=3), mia_efficacy(*case("outsider"), seed=3)
    assert a == b and 0.0 <= a <= 1.0
    # a fraction of the forget set: k / |forget|
    assert math.isclose(a * 120, round(a * 120))


def test_each_feature_is_its_own_attack_and_the_reported_one_is_confidence():
    sets = AttackSets(*case("outsider"))
    every = mia_attacks(sets, seed=0)
    assert set(every) == {"correctness", "confidence", "entropy", "m_entropy"}
    assert every["confidence"] == mia_efficacy(*case("outsider"), seed=0)
    assert all(0.0 <= v <= 1.0 for v in every.values())


def test_features_of_a_sigmoid_output():
    p = 0.8
    z = math.log(p / (1 - p))
    f = features(np.array([z, z]), np.array([1, 0]))  # label 1: p_y = 0.8; label 0: p_y = 0.2
    assert np.allclose(f["confidence"], [0.8, 0.2])
    assert np.allclose(f["correctness"], [1.0, 0.0])
    h = -(0.8 * math.log(0.8) + 0.2 * math.log(0.2))
    assert np.allclose(f["entropy"], [h, h])
    # Song and Mittal's modified entropy for two classes: -2 (1 - p_y) log p_y
    assert np.allclose(f["m_entropy"], [-2 * 0.2 * math.log(0.8), -2 * 0.8 * math.log(0.2)])
    # saturated logits stay finite (logs clipped at log 1e-30, as in the references)
    assert np.all(np.isfinite(features(np.array([1e4, -1e4]), np.array([0, 1]))["m_entropy"]))


@pytest.mark.parametrize("broken, reason", [
    (lambda c: (c[0][:1], c[1][:1]) + c[2:], "too few members"),
    (lambda c: c[:2] + (c[2][:0], c[3][:0]) + c[4:], "too few non-members"),
    (lambda c: c[:4] + (c[4][:1], c[5][:1]), "too few forget samples"),
    (lambda c: (np.full_like(c[0], np.nan),) + c[1:], "non-finite"),
    (lambda c: (c[0][:-1],) + c[1:], "outputs for"),
])
def test_degenerate_inputs_give_missing_with_a_reason_never_nan(broken, reason):
    got = mia_efficacy(*broken(case("outsider")), seed=0)
    assert isinstance(got, Missing) and reason in got.reason
    inputs = dict(zip(get_metric("mia_efficacy").needs, broken(case("outsider")) + (0,)))
    assert isinstance(compute("mia_efficacy", inputs), Missing)


def test_registry_metadata_and_gap():
    for name in ("val_acc", "train_acc", "forget_acc", "forget_clean_acc", "retain_acc", "mia_efficacy",
                 "gap_to_oracle", "hessian_trace", "lrr", "wall_s"):
        m = get_metric(name)
        assert m.description and m.column
    assert get_metric("lrr").needs == ("hessian_trace",)
    assert get_metric("gap_to_oracle").needs == ("forget_acc", "retain_acc", "val_acc", "mia_efficacy")
    assert get_metric("val_acc").higher_is_better and get_metric("forget_acc").higher_is_better is False
    assert get_metric("gap_to_oracle").higher_is_better is False and get_metric("gap_to_oracle").bounds == (0.0, 1.0)
    assert gap_to_oracle((0.1, 0.2), (0.9, 0.8), (0.7, 0.9), (0.5, 0.9)) == pytest.approx((0.1 + 0.1 + 0.2 + 0.4) / 4)
    missing = compute("gap_to_oracle", {"forget_acc": (0.1, 0.2), "retain_acc": (0.9, 0.8), "val_acc": (0.7, None),
                                        "mia_efficacy": (0.5, 0.9)})
    assert isinstance(missing, Missing) and "val_acc" in missing.reason and "oracle" in missing.reason
    acc = compute("val_acc", {"logits:val": np.array([2.0, -1.0, 0.5]), "labels:val": np.array([1, 1, 0])})
    assert acc == pytest.approx(1 / 3)
    assert isinstance(compute("val_acc", {"logits:val": np.array([]), "labels:val": np.array([])}), Missing)
    with pytest.raises(ValueError, match="twice"):
        registry.register_metric(get_metric("val_acc"))
    with pytest.raises(ValueError, match="unregistered"):
        registry.register_metric(registry.Metric("x_ratio", "x", needs=("no_such_metric",)))


def test_schema_reads_the_registry_and_allows_a_noted_null():
    from qbench.records.schema import METRIC_NAMES, metric_problem, validate_record

    assert {"mia_efficacy", "gap_to_oracle", "val_acc", "lrr"} <= set(METRIC_NAMES)
    assert "outside [0, 1]" in metric_problem("mia_efficacy", 1.5)
    assert "outside" in metric_problem("wall_s", -1.0)
    assert metric_problem("mia_efficacy", None)  # a null fraction needs its reason recorded
    rec = {"schema_version": 1, "protocol_version": "2", "suite": "unlearning", "scenario": "s", "task": "t",
           "model": "m", "model_size": "x", "corruption": None, "alpha": 0.3, "method": "finetune", "step": 0,
           "seed": 0, "unit_key": "k", "config": {}, "config_hash": "h", "metrics": {"mia_efficacy": None},
           "provenance": {}, "status": "ok"}
    with pytest.raises(Exception, match="mia_efficacy"):
        validate_record(dict(rec))
    validate_record({**rec, "metric_notes": {"mia_efficacy": "too few members for the attack: 1 (need 2)"}})


def test_scenario_metrics_are_registered_ones():
    from qbench.errors import QbenchError
    from qbench.scenarios import Scenario, register_scenario
    from qbench.suites import list_scenarios

    assert list_scenarios()  # every built-in scenario registered, so every one named registered metrics
    with pytest.raises(QbenchError, match="no_such"):
        register_scenario(Scenario("t/x", "t", "xxz-4", "mlp", (), "label_flip", metrics=("val_acc", "no_such")))


def test_metric_metadata_imports_no_tensorflow_or_sklearn():
    code = ("import sys, qbench.metrics.registry, qbench.records.schema, qbench.metrics.mia; "
            "print('tensorflow' in sys.modules, 'sklearn' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "False"]


def test_attack_acc_is_high_where_members_stand_out_and_near_half_where_they_do_not():
    from qbench.metrics.mia import mia_attack_acc

    g = np.random.default_rng(0)
    members, outsiders = outputs(g, 300, "member"), outputs(g, 400, "outsider")
    assert mia_attack_acc(*members, *outsiders, seed=0) > 0.9
    # a model that does not overfit: its training data looks like unseen data
    alike_in, alike_out = outputs(g, 300, "outsider"), outputs(g, 400, "outsider")
    got = mia_attack_acc(*alike_in, *alike_out, seed=0)
    assert abs(got - 0.5) < 0.1
    assert got == mia_attack_acc(*alike_in, *alike_out, seed=0)
    assert isinstance(mia_attack_acc(*members, alike_out[0][:1], alike_out[1][:1], seed=0), Missing)
    # the same attack as mia_efficacy's: registered with the retain and validation inputs only
    assert get_metric("mia_attack_acc").needs == ("logits:retain", "labels:retain", "logits:val", "labels:val", "seed")
