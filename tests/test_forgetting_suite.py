"""The forgetting suite (PROTOCOL 4.9) end to end at a toy size (xxz-4, MLP, K = 8, 3 epochs, 3 steps):
fixed data across model seeds, one record per model with its forget-set logits, a calibrated null row."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from qbench.cli import main
from qbench.records.forgetting import forgetting_rows

K = 8


def _records(d: Path) -> list[dict]:
    return [json.loads(line) for f in sorted((d / "records").glob("*.jsonl")) for line in f.read_text().splitlines()]


@pytest.fixture(scope="module")
def forgetting_run(tmp_path_factory, cache_dir):
    out = tmp_path_factory.mktemp("forget") / "forgetting"
    code = main(["run", "--suite", "forgetting", "--task", "xxz-4", "--model", "mlp", "--models", str(K), "--epochs", "3",
                 "--steps", "3", "--method", "finetune", "--out", str(out), "--cache-dir", cache_dir, "--no-progress"])
    assert code == 0
    return out


def test_every_model_of_every_kind_is_recorded_on_one_fixed_forget_set(forgetting_run, capsys):
    capsys.readouterr()
    recs = _records(forgetting_run)
    assert sorted((r["method"], r["seed"]) for r in recs) == sorted(
        (m, s) for m in ("poisoned", "oracle", "finetune") for s in range(K))
    forget = {tuple(r["forget_indices"]) for r in recs}
    assert len(forget) == 1  # the flipped subset is drawn from seed 0 for every model
    n = len(next(iter(forget)))
    for r in recs:
        assert r["status"] == "ok" and r["protocol_version"] == "3" and r["config"]["poisoned"]["corruption_seed"] == 0
        assert len(r["forget_logits"]) == len(r["forget_labels"]) == n
        for name in ("val_acc", "retain_acc", "forget_acc", "mia_efficacy", "mia_attack_acc"):
            assert 0.0 <= r["metrics"][name] <= 1.0
    # the models of one kind differ (initialization and batch order from the model seed)
    poisoned = [r["forget_logits"] for r in recs if r["method"] == "poisoned"]
    assert len({tuple(p) for p in poisoned}) == K


def test_the_null_row_of_a_real_run_is_calibrated(forgetting_run, capsys):
    capsys.readouterr()
    rows = {r["method"]: r for r in forgetting_rows(_records(forgetting_run))}
    assert set(rows) == {"finetune", "poisoned", "null"}
    null = rows["null"]
    assert null["kind"] == "reference" and null["n_models"] == null["n_oracles"] == K // 2
    # two halves of the oracles are one population: U-LiRA cannot tell them apart beyond chance
    assert null["ulira_low"] <= 0.5 <= null["ulira_high"]
    assert abs(null["ulira_acc"] - 0.5) < 0.2
    assert 0.0 <= null["forget_score"] <= 1.0
    for row in rows.values():
        assert row["ulira_low"] <= row["ulira_acc"] <= row["ulira_high"] and "notes" not in row
    assert forgetting_rows(_records(forgetting_run)) == forgetting_rows(_records(forgetting_run))  # seeded


def test_same_seed_same_logits_another_seed_other_logits(forgetting_run, tmp_path, cache_dir, capsys):
    """A unit re-run from its config alone, in a fresh output tree (so its models are trained again), gives
    the same logits bit for bit; the unit of the next seed does not."""
    from qbench.artifacts import clear_memory
    from qbench.experiment import RunContext
    from qbench.suites import get_suite

    capsys.readouterr()
    suite = get_suite("forgetting")
    recs = {(r["method"], r["seed"]): r for r in _records(forgetting_run)}
    ctx = RunContext(cache_dir=cache_dir)
    for key in (("finetune", 1), ("oracle", 1)):
        clear_memory()
        again = suite.run(recs[key]["config"], ctx, str(tmp_path / key[0]))[0]
        assert again["forget_logits"] == recs[key]["forget_logits"]
        assert again["unit_key"] == recs[key]["unit_key"]
    assert recs[("finetune", 1)]["forget_logits"] != recs[("finetune", 2)]["forget_logits"]
    clear_memory()


def test_fewer_than_eight_models_is_refused(tmp_path, capsys):
    out = tmp_path / "o"
    code = main(["run", "--suite", "forgetting", "--task", "xxz-4", "--models", "4", "--out", str(out), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and "--models must be >= 8" in err
    assert not out.exists()
    code = main(["run", "--suite", "unlearning", "--task", "xxz-4", "--models", "8", "--out", str(out), "--no-progress"])
    assert code == 2 and "--models applies to --suite forgetting" in capsys.readouterr().err


def test_rows_refuse_records_whose_forget_sets_differ():
    from qbench.errors import QbenchError

    base = {"suite": "forgetting", "task": "t", "model": "m", "model_size": "s", "config": {}, "status": "ok",
            "metrics": {}, "forget_labels": [1, 0], "forget_logits": [0.1, 0.2]}
    recs = [{**base, "method": "oracle", "seed": 0, "forget_indices": [1, 2]},
            {**base, "method": "oracle", "seed": 1, "forget_indices": [1, 3]}]
    with pytest.raises(QbenchError, match="forget set"):
        forgetting_rows(recs)
    with pytest.raises(QbenchError, match="recorded twice"):
        forgetting_rows([recs[0], dict(recs[0])])
    # too few models: numbers are null with the reason, never NaN
    row = {r["method"]: r for r in forgetting_rows([recs[0]])}["null"]
    assert row["ulira_acc"] is None and "no finished models" in row["notes"]["ulira_acc"]
    np.testing.assert_equal(row["forget_score"], None)


def test_quick_plan_is_seed_major_so_split_groups_never_train_one_poisoned_model_twice():
    """The quick tier (xxz-12, K = 8, three methods, 10 steps) on two workers: each group is cut into contiguous
    pieces; each piece holds the poisoned unit of every seed its method units start from."""
    from qbench.executors.base import make_batches
    from qbench.scenarios import RunOptions
    from qbench.suites import get_suite

    suite = get_suite("forgetting")
    opts = RunOptions(quick=True)
    units = suite.plan(suite.scenarios(opts), opts)
    assert len(units) == 2 * K * 5 and {u.config["steps"] for u in units} == {10}
    assert [u.config["method"] for u in units[:5]] == ["poisoned", "oracle", "finetune", "gradient_ascent", "scrub"]
    batches = make_batches(units, 2)
    assert len(batches) == 4  # each group (40 units) in two pieces, one per worker
    for b in batches:
        poisoned = {(u.config["model"], u.config["seed"]) for u in b.units if u.config["method"] == "poisoned"}
        assert {(u.config["model"], u.config["seed"]) for u in b.units} == poisoned
