"""xxz global phase (PROTOCOL 1.2, protocol 2): random per state from the data seed, seen by the MLP's
[Re, Im] input, invisible to the QNN; configs name the rule; legacy configs mean the fixed phase."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from qbench.errors import QbenchError
from qbench.experiment import RunContext, TrainSpec, prepare
from qbench.models import get_model
from qbench.protocol import TrainConfig, scenario_version
from qbench.tasks import default_task_options, get_task, xxz

L = 6


@pytest.fixture(scope="module")
def tasks(cache_dir):
    return {p: get_task(f"xxz-{L}", cache_dir=cache_dir, phase=p) for p in ("random", "fixed")}


def test_phases_are_unit_uniform_and_from_the_data_seed(tasks, cache_dir):
    t = tasks["random"]
    assert t.phase_train.shape == (197,) and t.phase_val.shape == (199,)
    np.testing.assert_allclose(np.abs(t.phase_train), 1.0, atol=1e-12)
    # uniform on the circle: the mean of e^{i phi} over 396 draws is near 0 (std 1/sqrt(396) ~ 0.05)
    assert abs(np.concatenate([t.phase_train, t.phase_val]).mean()) < 0.2
    again = get_task(f"xxz-{L}", cache_dir=cache_dir, phase="random")
    np.testing.assert_array_equal(again.phase_train, t.phase_train)
    other = get_task(f"xxz-{L}", cache_dir=cache_dir, phase="random", data_seed=1)
    assert not np.allclose(other.phase_train, t.phase_train)
    assert tasks["fixed"].phase_train is None and tasks["fixed"].phase_val is None
    # the canonical states are the same under either rule (the cache holds them once)
    np.testing.assert_array_equal(t.x_train, tasks["fixed"].x_train)


def test_phases_are_the_same_in_another_process(tasks):
    code = ("import numpy as np; from qbench.tasks.xxz import global_phases; "
            f"print(repr(global_phases(197, 0, 'train', {L})[:3].tolist()))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    np.testing.assert_array_equal(np.array(eval(out)), tasks["random"].phase_train[:3])


def test_mlp_input_carries_the_phase_and_qnn_input_does_not(tasks):
    rnd, fix = tasks["random"], tasks["fixed"]
    real_fixed = fix.encode_train(fix.x_train, "real")
    real_random = rnd.encode_train(rnd.x_train, "real")
    half = real_fixed.shape[1] // 2
    assert np.all(real_fixed[:, half:] == 0)  # canonical states are real: the imaginary half is empty
    assert np.abs(real_random[:, half:]).max() > 0.1
    # the same states, only each multiplied by its phase
    z = real_random[:, :half] + 1j * real_random[:, half:]
    np.testing.assert_allclose(z, rnd.x_train * rnd.phase_train[:, None], atol=1e-6)
    np.testing.assert_array_equal(rnd.encode_train(rnd.x_train, "amplitude"), fix.x_train)
    np.testing.assert_array_equal(rnd.encode_val(rnd.x_val, "amplitude"), fix.x_val)


@pytest.mark.parametrize("entangler", ["ring", "chain"])
def test_qnn_logits_do_not_depend_on_a_global_phase(tasks, entangler):
    x = tasks["fixed"].x_train[::20]
    model = get_model("qnn", depth=2, entangler=entangler).build(x.shape[1], complex_input=True)
    theta = np.random.default_rng(3).normal(0, 1.0, model.n_params).astype(np.float32)
    base = model.predict_proba(x, theta)
    assert base.std() > 1e-3  # a model whose output varies, so agreement means something
    for phi in (0.3, np.pi / 2, 2.0, np.pi, 5.5):
        phased = (x * np.exp(1j * phi)).astype(np.complex64)
        np.testing.assert_allclose(model.predict_proba(phased, theta), base, atol=2e-6)


def test_configs_name_the_phase_and_legacy_configs_mean_fixed():
    cfg = TrainConfig(epochs=1, batch_size=8, lr=0.01)
    spec = TrainSpec("xxz-12", "mlp", {"hidden": (4, 2)}, "label_flip", 0.3, 0, cfg)
    assert spec.as_dict()["task_options"] == {"phase": "random"}
    assert TrainSpec.from_dict(spec.as_dict()) == spec
    legacy = {k: v for k, v in spec.as_dict().items() if k != "task_options"}
    assert TrainSpec.from_dict(legacy).task_options == {"phase": "fixed"}
    mnist = TrainSpec("mnist-1v9", "mlp", {"hidden": (4, 2)}, "label_flip", 0.3, 0, cfg)
    assert "task_options" not in mnist.as_dict()  # mnist configs (and unit keys) stay as in protocol 1
    with pytest.raises(QbenchError, match="phase"):
        TrainSpec("xxz-12", "mlp", {}, "label_flip", 0.3, 0, cfg, task_options={"phase": "rotated"})
    with pytest.raises(QbenchError, match="unknown option"):
        TrainSpec("mnist-1v9", "mlp", {}, "label_flip", 0.3, 0, cfg, task_options={"phase": "fixed"})
    assert default_task_options("xxz-8") == {"phase": "random"} and default_task_options("mnist-1v9") == {}


def test_scenario_versions():
    assert scenario_version("resilience", "xxz-12", "mlp") == "2"
    assert scenario_version("sensitivity", "xxz-6", "mlp") == "2"
    assert scenario_version("resilience", "xxz-12", "qnn") == "1"
    assert scenario_version("resilience", "mnist-1v9", "mlp") == "1"


def test_prepare_applies_phases_to_the_rows_trained_on(cache_dir):
    cfg = TrainConfig(epochs=1, batch_size=8, lr=0.01)
    ctx = RunContext(cache_dir=cache_dir)
    p = prepare(TrainSpec(f"xxz-{L}", "mlp", {"hidden": (4, 2)}, "feature_randomization", 0.2, 1, cfg), ctx)
    task = p.task
    n = task.x_train.shape[1]
    z = p.x_train[:, :n] + 1j * p.x_train[:, n:]
    np.testing.assert_allclose(z, p.corrupted.x * task.phase_train[:, None], atol=1e-6)
    q = prepare(TrainSpec(f"xxz-{L}", "qnn", {"depth": 1}, "feature_randomization", 0.2, 1, cfg), ctx)
    qf = prepare(TrainSpec(f"xxz-{L}", "qnn", {"depth": 1}, "feature_randomization", 0.2, 1, cfg,
                           task_options={"phase": "fixed"}), ctx)
    np.testing.assert_array_equal(q.x_train, qf.x_train)  # the QNN trains on identical bits either way
    np.testing.assert_array_equal(q.x_val, qf.x_val)


def test_unknown_phase_is_bad_input(cache_dir):
    with pytest.raises(QbenchError, match="phase"):
        get_task(f"xxz-{L}", cache_dir=cache_dir, phase="zero")
    assert xxz.PHASES == ("random", "fixed")


def _resilience_record(model, seed, phase):
    from qbench.records.build import new_record, unit_key

    config = {"suite": "resilience", "scenario": f"resilience/xxz-4/{model}/label_flip", "task": "xxz-4",
              "model": model, "corruption": "label_flip", "alpha": 0.0, "seed": seed,
              "protocol_version": scenario_version("resilience", "xxz-4", model)}
    if phase is not None:
        config["task_options"] = {"phase": phase}
    key = unit_key(f"resilience-xxz-4-{model}-s{seed}", config)
    return new_record(suite="resilience", scenario=config["scenario"], unit_key=key, config=config, task="xxz-4",
                      model=model, model_size="4x2", corruption="label_flip", alpha=0.0, seed=seed,
                      metrics={"train_acc": 1.0, "val_acc": 0.9})


def test_leaderboard_refuses_to_mix_phase_rules():
    from qbench.records.protocol_rules import record_phase
    from qbench.report import leaderboard as L

    good = [_resilience_record(m, s, "random") for m in ("mlp", "qnn") for s in (0, 1)]
    assert "xxz-4" in L.render_block(good)
    fixed = _resilience_record("mlp", 2, "fixed")
    with pytest.raises(QbenchError, match="mixes task options"):
        L.render_block(good + [fixed])
    legacy = _resilience_record("qnn", 2, None)  # a protocol-1 config without task_options: the fixed phase
    assert record_phase(legacy) == "fixed"
    with pytest.raises(QbenchError, match="mixes task options"):
        L.render_block(good + [legacy])


def test_phase_ablation_table():
    from qbench.report import leaderboard as L

    protocol = [_resilience_record("mlp", s, "random") for s in (0, 1)]
    ablation = [_resilience_record("mlp", s, "fixed") for s in (0, 1)]
    for r in ablation:
        r["metrics"]["val_acc"] = 0.97
    block = L.render_block(protocol, ablation=ablation)
    assert "fixed vs random global phase" in block
    row = next(line for line in block.splitlines() if line.startswith("| 0 "))
    assert "0.970 ± 0.000" in row and "0.900 ± 0.000" in row and "2 / 2" in row


def test_cli_task_option(tmp_path, capsys, cache_dir):
    import json

    from qbench.cli import main

    base = ["run", "--suite", "resilience", "--task", "xxz-4", "--model", "mlp", "--corruption", "label_flip",
            "--alpha", "0", "--seeds", "0", "--epochs", "1", "--cache-dir", cache_dir]
    assert main(base + ["--set", "task.phase=fixed", "--out", str(tmp_path / "fixed")]) == 0
    assert main(base + ["--out", str(tmp_path / "random")]) == 0
    recs = {p: json.loads(next((tmp_path / p / "records").glob("*.jsonl")).read_text().splitlines()[0])
            for p in ("fixed", "random")}
    assert recs["fixed"]["config"]["task_options"] == {"phase": "fixed"}
    assert recs["random"]["config"]["task_options"] == {"phase": "random"}
    assert recs["random"]["protocol_version"] == "2" and recs["random"]["unit_key"] != recs["fixed"]["unit_key"]
    capsys.readouterr()
    for bad, needle in ((["--set", "task.phase=rotated"], "phase must be one of"),
                        (["--set", "task.nosuch=1"], "no task of this run takes option 'nosuch'")):
        assert main(base + bad + ["--out", str(tmp_path / "bad")]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and needle in err[0]
        assert not (tmp_path / "bad").exists()
