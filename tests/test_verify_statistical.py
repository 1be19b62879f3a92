"""``qbench verify --statistical`` (PROTOCOL 8): honest re-runs under other numerics pass, tampered records
fail, in both directions; and the test's arithmetic, by hand."""

import json
import math
import shutil
from pathlib import Path

import pytest

from qbench.cli import main
from qbench.verify_stats import MetricTest, flagged_seeds, holm, judge, paired_p, prediction_interval, tost_p

# --- the statistics, against hand-computed values -----------------------------------------------------


def test_paired_t_p_value_by_hand():
    # d = 1, 2, 3: mean 2, sd 1, t = 2 sqrt(3), df 2; Student t with 2 df: sf(t) = (1 - t / sqrt(t^2 + 2)) / 2
    t = 2 * math.sqrt(3)
    assert paired_p([1.0, 2.0, 3.0]) == pytest.approx(1 - t / math.sqrt(t * t + 2), rel=1e-9)
    assert paired_p([0.0] * 5) == 1.0 and paired_p([0.05] * 5) == 0.0  # every seed moved by the same amount
    assert math.isnan(paired_p([0.3]))


def test_tost_by_hand():
    # d = -0.01, 0, 0.01: mean 0, se 0.01 / sqrt(3); both one-sided t = 0.02 / se = 2 sqrt(3), df 2
    t = 2 * math.sqrt(3)
    assert tost_p([-0.01, 0.0, 0.01], 0.02) == pytest.approx((1 - t / math.sqrt(t * t + 2)) / 2, rel=1e-9)
    assert tost_p([0.0] * 5, 0.02) == 0.0 and tost_p([0.05] * 5, 0.02) == 1.0
    assert tost_p([0.3, -0.3, 0.25, -0.2, 0.1], 0.02) > 0.05  # five widely spread seeds show nothing


def test_holm_by_hand():
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert holm([0.5, math.nan]) == [0.5, math.nan] or math.isnan(holm([0.5, math.nan])[1])


def test_prediction_interval_and_flagged_seeds():
    assert prediction_interval([1.0, 1.0, 1.0], 0.05, widen=0.02) == (0.98, 1.02)
    lo, hi = prediction_interval([0.0, 1.0], 0.05)  # t(0.975, 1) = 12.706, sd 1/sqrt(2), sqrt(1 + 1/2)
    assert hi == pytest.approx(0.5 + 12.7062047 * math.sqrt(0.5) * math.sqrt(1.5), rel=1e-6) and lo == pytest.approx(1 - hi)
    assert flagged_seeds([0.0, 1e-7, 0.0, 0.0, 0.1], 0.02) == [4]  # one seed apart from four that agree
    assert flagged_seeds([0.0, 0.0, 0.0, 0.0, 0.015], 0.02) == []  # within the margin: never flagged
    assert flagged_seeds([0.05, -0.04, 0.06, -0.05, 0.03], 0.02) == []  # every seed spreads alike: none apart


def _test(diffs, base=(0.61, 0.70, 0.66, 0.64, 0.73)):
    return MetricTest("val_acc", "val_acc", list(range(len(diffs))), list(base), [b + d for b, d in zip(base, diffs)])


def test_verdicts_mean_what_they_say():
    honest, shifted, chaotic, same = (_test([0.004, -0.003, 0.0, 0.002, -0.004]),
                                      _test([0.054, 0.047, 0.05, 0.052, 0.046]),
                                      _test([0.15, -0.12, 0.05, -0.2, 0.1]), _test([0.0] * 5))
    judge([honest, shifted, chaotic, same])
    assert same.verdict == "identical"
    assert honest.verdict == "equivalent" and honest.p_equiv < 0.05
    assert shifted.verdict == "differs" and shifted.p_holm < 0.05 and shifted.p_equiv > 0.05
    assert chaotic.verdict == "inconclusive"
    # Holm: the same shift is judged against the family; alone it is stronger evidence than among many
    alone = _test([0.03, 0.021, 0.04, 0.025, 0.035])
    judge([alone])
    family = [_test([0.03, 0.021, 0.04, 0.025, 0.035])] + [_test([0.01 * (-1) ** i * (i + 1) for i in range(5)])
                                                           for _ in range(12)]
    judge(family)
    assert family[0].p_holm > alone.p_holm == alone.p_diff


# --- end to end: tiny real units (xxz-4 MLP, 2 epochs, 3 steps, 5 seeds) ---------------------------------

TINY = ["--suite", "unlearning", "--task", "xxz-4", "--model", "mlp", "--method", "finetune", "--epochs", "2",
        "--steps", "3", "--no-progress"]


@pytest.fixture(scope="module")
def made(tmp_path_factory, cache_dir):
    """The method's records of seeds 0-4, and of seeds 5-9 (the 'other tries' of a cheat)."""
    root = tmp_path_factory.mktemp("stat")
    for seeds, d in (("0-4", "records"), ("5-9", "tries")):
        assert main(["run", *TINY, "--seeds", seeds, "--out", str(root / d), "--cache-dir", cache_dir]) == 0
        for f in (root / d / "records").glob("unlearning.oracle-*.jsonl"):
            f.unlink()  # the method's cell only; its re-run still gets the oracle through the model cache
    return root


def _copy(made: Path, dst: Path) -> Path:
    shutil.copytree(made / "records" / "records", dst)
    return dst


def _rewrite(path: Path, change) -> None:
    recs = [json.loads(line) for line in path.read_text().splitlines()]
    path.write_text("".join(json.dumps(r, sort_keys=True) + "\n" for r in change(recs)))


def _run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_honest_rerun_under_other_numerics_passes(capsys, made, cache_dir, monkeypatch):
    """Re-run in a worker with another thread count and TensorFlow's oneDNN kernels off (another CPU's
    numerics, as far as one machine can show them): every metric identical or equivalent."""
    monkeypatch.setenv("TF_ENABLE_ONEDNN_OPTS", "0")
    code, out, err = _run(capsys, "verify", "--statistical", made / "records", "--threads", 3, "--cache-dir", cache_dir)
    assert code == 0, out + err
    assert "re-running 5 unit(s) with 3 TensorFlow thread(s)" in out
    assert "PASS: unlearning/xxz-4/mlp, method finetune, alpha 0.3 (5 unit(s))" in out
    assert "1 cell(s) checked statistically" in out and "1 pass, 0 fail" in out
    assert "differs" not in out and "FAILED" not in out


def test_a_metric_raised_on_every_seed_fails(capsys, made, tmp_path, cache_dir):
    d = _copy(made, tmp_path / "raised")

    def raise_final(recs):
        recs[-1]["metrics"]["val_acc"] += 0.05  # the final step: what the table ranks
        return recs

    for f in d.glob("*.jsonl"):
        _rewrite(f, raise_final)
    code, out, _ = _run(capsys, "verify", "--statistical", d, "--cache-dir", cache_dir)
    assert code == 1
    row = next(line for line in out.splitlines() if line.startswith("| val_acc "))
    assert "differs" in row and "-0.05" in row
    assert "FAIL: unlearning/xxz-4/mlp, method finetune" in out and "0 pass, 1 fail" in out


def test_one_seed_replaced_by_the_best_of_many_tries_fails(capsys, made, tmp_path, cache_dir):
    d = _copy(made, tmp_path / "best")
    (seed2,) = d.glob("unlearning-xxz-4-mlp-a0.3-s2-*.jsonl")
    tries = [seed2] + sorted((made / "tries" / "records").glob("*.jsonl"))

    def final_val(f):
        return json.loads(f.read_text().splitlines()[-1])["metrics"]["val_acc"]

    best = max(tries, key=final_val)
    assert final_val(best) - final_val(seed2) > 0.02  # the cheat gained more than the margin: else nothing to see
    best_metrics = [json.loads(line)["metrics"] for line in best.read_text().splitlines()]
    _rewrite(seed2, lambda recs: [{**r, "metrics": m} for r, m in zip(recs, best_metrics)])
    code, out, _ = _run(capsys, "verify", "--statistical", d, "--cache-dir", cache_dir)
    assert code == 1, out
    assert "seed 2 flagged: re-running" in out
    assert "per-seed check FAILED: seed 2, val_acc: recorded" in out and "OUTSIDE" in out
    assert "FAIL: unlearning/xxz-4/mlp, method finetune" in out


def test_records_from_another_cpu_are_checked_statistically_by_default(capsys, made, tmp_path, cache_dir):
    d = _copy(made, tmp_path / "elsewhere")

    def elsewhere(recs):
        for r in recs:
            r["provenance"]["machine"] = {**r["provenance"]["machine"], "cpu_fingerprint": "0123456789ab",
                                          "cpu_model": "Some Other CPU"}
        return recs

    for f in d.glob("*.jsonl"):
        _rewrite(f, elsewhere)
    code, out, err = _run(capsys, "verify", d, "--sample", 1, "--cache-dir", cache_dir)
    assert code == 0, out + err
    assert "5 unit(s) made on another CPU model (Some Other CPU): checked statistically (PROTOCOL 8" in out
    assert "statistical check (PROTOCOL 8): 1 of 1 cell(s)" in out and "1 pass, 0 fail" in out
    code, out, err = _run(capsys, "verify", "--statistical", d, "--atol", "0.1")
    assert code == 2 and "--rtol and --atol are tolerances of the bit-for-bit check" in err


def test_unit_cost_estimate_by_hand():
    from qbench.verify_stats import cell_cost_s, unit_cost_s

    trained = [{"metrics": {"wall_s": 0.0}, "poisoned_model": {"train_wall_s": 30.0}},
               {"metrics": {"unit_wall_s": 10.0, "wall_s": 4.0}, "poisoned_model": {"train_wall_s": 30.0},
                "oracle_model": {"train_wall_s": 20.0}}]
    assert unit_cost_s(trained) == 10.0 + 30.0 + 20.0  # its own time, and both models trained again once
    committed = [{**r, "poisoned_model": {**r["poisoned_model"], "protocol_model": {"sha256": "ab"}}} for r in trained]
    assert unit_cost_s(committed) == 10.0  # started from committed models: nothing to train
    assert unit_cost_s([{"metrics": {"unit_wall_s": float("nan")}}]) == 0.0
    assert cell_cost_s(["a", "b"], {"a": trained, "b": committed}) == 70.0


def test_cells_over_the_budget_are_named_not_run(capsys, made, cache_dir):
    code, out, err = _run(capsys, "verify", "--statistical", made / "records", "--budget", 0.001, "--cache-dir",
                          cache_dir)
    assert code == 0, out + err
    assert "budget 0 s: 0 cell(s) fit" in out and "over the budget: 1 cell(s)" in out
    assert "no cell fits the budget: nothing re-run" in out
    assert "NOT checked: 1 cell(s) whose estimated re-run exceeds the budget: unlearning/xxz-4/mlp" in out
    assert "re-running" not in out
    code, out, err = _run(capsys, "verify", "--statistical", made / "records", "--budget", -1)
    assert code == 2 and "--budget must be a positive number of seconds" in err
