"""The unlearning oracle, mia_efficacy and gap_to_oracle end to end (PROTOCOL 4.2, protocol 2) at tiny
sizes: xxz-4, 3 epochs, one seed, 3 steps."""

import json
from pathlib import Path

import pytest

from qbench.cli import main

TINY = ["--suite", "unlearning", "--task", "xxz-4", "--epochs", "3", "--seeds", "0", "--steps", "3", "--model", "mlp",
        "--no-progress"]


def records(out: Path) -> list[dict]:
    return [json.loads(line) for f in sorted((out / "records").glob("*.jsonl")) for line in f.read_text().splitlines()]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, cache_dir):
    out = tmp_path_factory.mktemp("oracle") / "results"
    assert main(["run", *TINY, "--method", "finetune", "--method", "retrain", "--out", str(out),
                 "--cache-dir", cache_dir]) == 0
    return out


def test_an_oracle_unit_and_record_per_seed_and_privacy_metrics_in_method_records(run_dir):
    recs = records(run_dir)
    oracle = [r for r in recs if r["method"] == "oracle"]
    assert len(oracle) == 1
    (o,) = oracle
    assert o["step"] == 3 and o["status"] == "ok" and o["unit_key"].startswith("unlearning.oracle-xxz-4-mlp-")
    assert set(o["metrics"]) >= {"val_acc", "forget_acc", "forget_clean_acc", "retain_acc", "mia_efficacy",
                                 "train_wall_s"}
    # trained on the retain set only: it fits the clean labels, not the flipped ones
    assert o["metrics"]["retain_acc"] > 0.6 and o["metrics"]["forget_clean_acc"] > o["metrics"]["forget_acc"]
    assert len(list((run_dir / "models").glob("*.npz"))) == 2  # the poisoned model and the oracle
    for method in ("finetune", "retrain"):
        steps = {r["step"]: r["metrics"] for r in recs if r["method"] == method}
        assert sorted(steps) == [0, 1, 2, 3]
        assert 0.0 <= steps[0]["mia_efficacy"] <= 1.0 and 0.0 <= steps[3]["mia_efficacy"] <= 1.0
        # the attack and the gap at step 0, every 10 steps and the final step: not at step 1 of 3
        assert "mia_efficacy" not in steps[1] and "gap_to_oracle" not in steps[1]
        for step in (0, 3):
            want = sum(abs(steps[step][m] - o["metrics"][m]) for m in ("forget_acc", "retain_acc", "val_acc", "mia_efficacy")) / 4
            assert steps[step]["gap_to_oracle"] == pytest.approx(want, abs=1e-12)
    # step 0 of a non-retrain method is the poisoned model: its attack sees the forget set as members more
    # than the oracle's does
    poisoned = next(r for r in recs if r["method"] == "finetune" and r["step"] == 0)["metrics"]["mia_efficacy"]
    assert poisoned <= o["metrics"]["mia_efficacy"]


def test_a_method_unit_rerun_alone_trains_its_oracle_and_agrees(run_dir, tmp_path, cache_dir):
    from qbench.artifacts import clear_memory
    from qbench.experiment import RunContext
    from qbench.suites import get_suite

    rec = next(r for r in records(run_dir) if r["method"] == "finetune" and r["step"] == 3)
    clear_memory()
    fresh = get_suite("unlearning").run(rec["config"], RunContext(cache_dir=cache_dir), str(tmp_path))
    assert len(list((tmp_path / "models").glob("*.npz"))) == 2  # no oracle there: trained, like the poisoned model
    assert fresh[-1]["metrics"]["gap_to_oracle"] == rec["metrics"]["gap_to_oracle"]
    assert fresh[-1]["metrics"]["mia_efficacy"] == rec["metrics"]["mia_efficacy"]


def test_verify_rebuilds_and_reruns_the_oracle_unit(run_dir, capsys):
    assert main(["verify", str(run_dir)]) == 0
    capsys.readouterr()


def test_leaderboard_shows_the_oracle_row_and_the_privacy_columns(run_dir, tmp_path, capsys):
    out = tmp_path / "lb.md"
    assert main(["leaderboard", "--results", str(run_dir), "--allow-nonprotocol", "--output", str(out)]) == 0
    capsys.readouterr()
    text = out.read_text()
    assert "| `oracle`" in text and "mia_efficacy @3" in text and "gap_to_oracle" in text
    oracle_row = next(line for line in text.splitlines() if line.startswith("| `oracle`"))
    assert oracle_row.split("|")[2].strip() == "–"  # no step 0


def test_ranked_table_has_both_rankings_and_their_rationale(run_dir):
    from qbench.report.suites.unlearning import unlearning_table

    recs = [r for r in records(run_dir) if r["status"] == "ok"]
    body, notes = unlearning_table(recs, "test", ranked=True)
    header = body.splitlines()[0]
    assert "| rank " in header and "rank by gap_to_oracle" in header
    assert any("by gap_to_oracle (lower is better, same rank groups)" in n for n in notes)
    oracle_row = next(line for line in body.splitlines() if "`oracle`" in line)
    assert oracle_row.split("|")[1].strip() == "–" and oracle_row.split("|")[2].strip() == "–"  # never ranked


def test_protocol_1_records_render_without_the_new_columns(run_dir):
    from qbench.report.suites.unlearning import unlearning_table

    old = []
    for r in records(run_dir):
        if r["method"] != "oracle":
            r = {**r, "metrics": {k: v for k, v in r["metrics"].items() if k not in ("mia_efficacy", "gap_to_oracle")}}
            old.append(r)
    body, _ = unlearning_table(old, "test", ranked=True)
    assert "gap_to_oracle" not in body and "mia_efficacy" not in body


def test_a_missing_mia_cell_shows_the_dash_and_count(run_dir):
    from qbench.report.suites.unlearning import unlearning_table

    recs = [r for r in records(run_dir) if r["status"] == "ok"]
    two = recs + [{**r, "seed": 1, "metrics": {**r["metrics"], "mia_efficacy": None, "gap_to_oracle": None}}
                  for r in recs]
    body, _ = unlearning_table(two, "test", ranked=False)
    finetune = next(line for line in body.splitlines() if "`finetune`" in line)
    assert "(n=1)" in finetune


def test_oracle_is_not_a_method(tmp_path, capsys):
    code = main(["run", *TINY, "--method", "oracle", "--out", str(tmp_path)])
    assert code == 2
    assert not (tmp_path / "records").exists() or not list((tmp_path / "records").iterdir())
    capsys.readouterr()


def test_the_oracle_unit_is_planned_with_any_method_and_its_key_is_its_own():
    from qbench.scenarios import RunOptions
    from qbench.suites import get_suite

    suite = get_suite("unlearning")
    options = RunOptions(tasks=("xxz-4",), models=("mlp",), seeds=(0, 1), methods=("finetune",))
    units = suite.plan(suite.scenarios(options), options)
    assert [u.config["method"] for u in units] == ["oracle", "finetune"] * 2
    for u in units:
        assert suite.unit_from_config(json.loads(json.dumps(u.config))).key == u.key
        assert u.key.startswith("unlearning.oracle-" if u.config["method"] == "oracle" else "unlearning-xxz-4-")
    # the oracle's config differs from a method's only in the method's own (free) fields
    o, m = units[0].config, units[1].config
    assert {k for k in o if o[k] != m.get(k)} <= set(suite.free_config)
