"""The corrective suite (PROTOCOL 4.8): partial identification of the poison."""

from __future__ import annotations

import numpy as np
import pytest

from qbench.corruption.identification import FRACTIONS, check_fraction, identified, identified_count
from qbench.errors import QbenchError


def test_identified_sets_are_nested_and_sized():
    flipped = np.sort(np.random.default_rng(3).choice(500, 150, replace=False))
    sets = [set(identified(flipped, f, seed=2)) for f in FRACTIONS]
    assert [len(s) for s in sets] == [15, 38, 75, 113, 150]  # ceil(f * 150)
    for small, large in zip(sets, sets[1:]):
        assert small < large
    assert sets[-1] == set(flipped)  # f = 1 identifies everything


def test_identification_follows_the_seed():
    flipped = np.arange(0, 200, 2)
    assert np.array_equal(identified(flipped, 0.25, 0), identified(flipped, 0.25, 0))
    assert not np.array_equal(identified(flipped, 0.25, 0), identified(flipped, 0.25, 1))
    assert set(identified(flipped, 0.25, 0)) <= set(flipped)


@pytest.mark.parametrize("n, f, k", [(10, 0.1, 1), (10, 0.25, 3), (7, 0.01, 1), (0, 0.5, 0), (4, 1.0, 4)])
def test_identified_count(n, f, k):
    assert identified_count(n, f) == k


@pytest.mark.parametrize("bad", [0.0, -0.1, 1.01, float("nan")])
def test_fraction_outside_unit_interval_is_refused(bad):
    with pytest.raises(QbenchError, match=r"\(0, 1\]"):
        check_fraction(bad)


# -- the suite, end to end at toy sizes -------------------------------------------------------------------
import json  # noqa: E402
from pathlib import Path  # noqa: E402

from qbench.cli import main  # noqa: E402


def _records(d: Path) -> list[dict]:
    return [json.loads(line) for f in sorted((d / "records").glob("*.jsonl")) for line in f.read_text().splitlines()]


def test_known_poison_keeps_the_unidentified_flips_in_the_retain_set(cache_dir):
    from qbench.experiment import RunContext, TrainSpec, prepare
    from qbench.protocol import TrainConfig
    from qbench.suites.corrective import known_poison

    spec = TrainSpec("xxz-4", "mlp", {"hidden": (4,)}, "label_flip", 0.3, 1, TrainConfig(epochs=1, batch_size=8, lr=0.01))
    p = prepare(spec, RunContext(cache_dir=cache_dir))
    flipped = p.corrupted.indices
    assert np.all(p.y_train[flipped] != p.task.y_train[flipped])
    kp = known_poison(p, 0.25)
    known = identified(flipped, 0.25, 1)
    unknown = np.setdiff1d(flipped, known)
    assert len(kp.sets.y_forget) == len(known) and len(kp.y_residual) == len(unknown) > 0
    assert np.array_equal(kp.sets.x_forget, p.x_train[known])
    np.testing.assert_array_equal(kp.sets.y_forget, p.y_train[known])  # the polluted labels
    np.testing.assert_array_equal(kp.sets.y_forget_clean, p.task.y_train[known])
    # retain = every sample but the identified ones, the unidentified flips with their flipped labels
    assert len(kp.sets.y_retain) == len(p.y_train) - len(known)
    rows = {tuple(np.round(x, 6)): y for x, y in zip(kp.sets.x_retain, kp.sets.y_retain)}
    for i in unknown:
        assert rows[tuple(np.round(p.x_train[i], 6))] == p.y_train[i] != p.task.y_train[i]
    np.testing.assert_array_equal(kp.y_residual, p.y_train[unknown])
    assert len(known_poison(p, 1.0).y_residual) == 0


@pytest.fixture(scope="module")
def corrective_run(tmp_path_factory, cache_dir):
    out = tmp_path_factory.mktemp("corr") / "corrective"
    code = main(["run", "--suite", "corrective", "--task", "xxz-4", "--seeds", "0", "--epochs", "5", "--steps", "3",
                 "--fraction", "0.25", "--fraction", "1", "--method", "finetune", "--out", str(out),
                 "--cache-dir", cache_dir, "--no-progress"])
    assert code == 0
    return out


def test_corrective_records_carry_the_known_fraction_and_the_residual_poison(corrective_run, capsys):
    capsys.readouterr()
    recs = _records(corrective_run)
    assert {(r["method"], r["known_fraction"], r["step"]) for r in recs if r["model"] == "mlp"} == {
        ("finetune", 0.25, 0), ("finetune", 0.25, 3), ("finetune", 1.0, 0), ("finetune", 1.0, 3),
        ("oracle", 0.25, 3), ("oracle", 1.0, 3)}
    for r in recs:
        assert r["config"]["known_fraction"] == r["known_fraction"] and r["protocol_version"] == "2"
        m = r["metrics"]
        if r["known_fraction"] == 1.0:  # nothing left unidentified: null with its reason, never NaN
            assert m["residual_poison_acc"] is None and "identified" in r["metric_notes"]["residual_poison_acc"]
        else:
            assert 0.0 <= m["residual_poison_acc"] <= 1.0
        if r["method"] == "finetune":
            assert 0.0 <= m["mia_efficacy"] <= 1.0 and 0.0 <= m["gap_to_oracle"] <= 1.0
    # one oracle per fraction, trained on that fraction's retain set: two models, not one
    oracles = {r["known_fraction"]: r["metrics"]["retain_acc"] for r in recs if r["method"] == "oracle" and r["model"] == "mlp"}
    assert len(oracles) == 2


def test_the_f1_oracle_is_the_unlearning_oracle(corrective_run, tmp_path, cache_dir, capsys):
    """At f = 1 the corrective oracle and the unlearning suite's are one cached model (same key)."""
    out = corrective_run.parent / "unlearning"
    assert main(["run", "--suite", "unlearning", "--task", "xxz-4", "--model", "mlp", "--seeds", "0", "--epochs", "5",
                 "--steps", "3", "--method", "finetune", "--out", str(out), "--cache-dir", cache_dir, "--no-progress"]) == 0
    capsys.readouterr()
    unl = {r["method"]: r for r in _records(out) if r["step"] == 3}
    corr = {r["method"]: r for r in _records(corrective_run)
            if r["model"] == "mlp" and r["known_fraction"] == 1.0 and r["step"] == 3}
    assert unl["oracle"]["metrics"]["val_acc"] == corr["oracle"]["metrics"]["val_acc"]
    assert unl["finetune"]["metrics"]["val_acc"] == corr["finetune"]["metrics"]["val_acc"]


@pytest.mark.parametrize("bad", ["0", "1.5", "-0.2", "nan"])
def test_a_fraction_outside_the_unit_interval_exits_2_and_writes_nothing(tmp_path, capsys, bad):
    out = tmp_path / "o"
    code = main(["run", "--suite", "corrective", "--task", "xxz-4", "--fraction", bad, "--out", str(out), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and "(0, 1]" in err and len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_fraction_is_refused_by_suites_that_do_not_read_it(tmp_path, capsys):
    code = main(["run", "--suite", "resilience", "--task", "xxz-4", "--fraction", "0.5", "--out", str(tmp_path / "r")])
    assert code == 2 and "--fraction applies to --suite corrective" in capsys.readouterr().err
