"""Each suite end to end through the CLI at small sizes (xxz-4/xxz-6: 4-6 qubits, few epochs)."""

import json
from collections import Counter
from pathlib import Path

import pytest

from qbench.cli import main


def records(out: Path) -> list[dict]:
    return [json.loads(line) for f in sorted((out / "records").glob("*.jsonl")) for line in f.read_text().splitlines()]


def assert_scenario_metrics(recs: list[dict]) -> None:
    """Each unit's final record holds every metric its registered scenario lists (a value, or null with a reason);
    these runs use small chains, so the registered scenario is the xxz-12 one of the same family."""
    from qbench.suites import list_scenarios

    listed = {s.name: set(s.metrics) for s in list_scenarios()}
    final: dict[str, dict] = {}
    for r in recs:
        if r["method"] != "oracle" and (r["step"] or 0) >= (final.get(r["unit_key"], {}).get("step") or -1):
            final[r["unit_key"]] = r
    assert final
    for r in final.values():
        wanted = listed[r["scenario"].replace(r["task"], "xxz-12")]
        missing = wanted - set(r["metrics"])
        nulls = {m for m in wanted & set(r["metrics"]) if r["metrics"][m] is None}
        assert not missing and nulls <= set(r.get("metric_notes") or {}), (r["unit_key"], missing, nulls)


def test_resilience_quick_on_small_sizes(tmp_path, cache_dir, capsys):
    code = main(["run", "--suite", "resilience", "--quick", "--task", "xxz-4", "--out", str(tmp_path),
                 "--cache-dir", cache_dir, "--no-progress"])
    out = capsys.readouterr().out
    assert code == 0
    recs = records(tmp_path)
    # quick tier: 2 models x 2 corruptions x 3 alphas x 2 seeds
    assert len(recs) == 24 and all(r["status"] == "ok" for r in recs)
    assert Counter(r["model"] for r in recs) == {"qnn": 12, "mlp": 12}
    assert {r["alpha"] for r in recs} == {0.0, 0.3, 0.6}
    for r in recs:
        assert 0.0 <= r["metrics"]["train_acc"] <= 1.0 and 0.0 <= r["metrics"]["val_acc"] <= 1.0
        assert r["config"]["train"]["epochs"] == {"qnn": 20, "mlp": 40}[r["model"]]  # 10% of 200 / 400
    # label flipping at alpha: exactly that many training labels were flipped
    flips = [r for r in recs if r["corruption"] == "label_flip"]
    assert {(r["alpha"], r["metrics"]["n_corrupted"]) for r in flips} == {(0.0, 0), (0.3, 58), (0.6, 118)}
    assert "val_acc" in out and "± " in out
    assert_scenario_metrics(recs)


def test_unlearning_quick_shares_one_poisoned_model_per_seed(tmp_path, cache_dir, capsys):
    code = main(["run", "--suite", "unlearning", "--quick", "--task", "xxz-4", "--out", str(tmp_path),
                 "--cache-dir", cache_dir, "--no-progress", "--steps", "4", "--seeds", "0"])
    capsys.readouterr()
    assert code == 0
    recs = records(tmp_path)
    from qbench.suites.unlearning import PAPER_METHODS, PROTOCOL_METHODS

    # the quick tier runs the paper's five; the protocol adds the literature's five (docs/methods.md)
    assert len(PROTOCOL_METHODS) == 10 and set(PAPER_METHODS) < set(PROTOCOL_METHODS)
    methods = set(PAPER_METHODS)
    assert {r["method"] for r in recs} == methods | {"oracle"}
    # 2 models x 5 methods x 1 seed x (4 steps + step 0), and one oracle record per (model, seed)
    assert len(recs) == 2 * 5 * 1 * 5 + 2 * 1 and all(r["status"] == "ok" for r in recs)
    # one poisoned model and one oracle per (model, seed), shared by the five methods
    assert len(list((tmp_path / "models").glob("*.npz"))) == 2 * 1 * 2
    assert_scenario_metrics(recs)
    recs = [r for r in recs if r["method"] != "oracle"]
    for (model, seed) in {(r["model"], r["seed"]) for r in recs}:
        step0 = {r["method"]: r["metrics"]["val_acc"] for r in recs if r["model"] == model and r["seed"] == seed and r["step"] == 0}
        poisoned = {v for k, v in step0.items() if k != "retrain"}
        assert len(poisoned) == 1  # every method but retrain starts from the same poisoned model
        assert all(r["metrics"]["wall_s"] >= 0 for r in recs)


def test_capacity_quick_runs_every_size(tmp_path, cache_dir, capsys):
    code = main(["run", "--suite", "capacity", "--quick", "--task", "xxz-4", "--seeds", "0", "--alphas", "0.3",
                 "--out", str(tmp_path), "--cache-dir", cache_dir, "--no-progress", "--epochs", "3"])
    capsys.readouterr()
    assert code == 0
    sizes = {(r["model"], r["model_size"]) for r in records(tmp_path)}
    assert sizes == {("mlp", "64x16"), ("mlp", "32x8"), ("mlp", "16x4"), ("mlp", "8x2"),
                     ("qnn", "n4-d5"), ("qnn", "n4-d6"), ("qnn", "n4-d7")}


def test_landscape_runs_both_families_by_default():
    from qbench.scenarios import RunOptions
    from qbench.suites import get_suite

    suite, opts = get_suite("landscape"), RunOptions(tasks=("xxz-4",), seeds=(0,))
    units = suite.plan(suite.scenarios(opts), opts)
    assert Counter(u.scenario.split("/")[0] for u in units) == {"landscape": 2, "landscape-study": 2}


@pytest.mark.parametrize("family", ["landscape", "landscape-study"])
def test_landscape_family_end_to_end(family, tmp_path, cache_dir, capsys):
    """One family per test (each is minutes of XLA compilation: split, they run on two test workers)."""
    variant = "study" if family == "landscape-study" else "protocol"
    code = main(["run", "--suite", "landscape", "--task", "xxz-4", "--seeds", "0", "--epochs", "3",
                 "--set", f"landscape.variant={variant}", "--out", str(tmp_path), "--cache-dir", cache_dir,
                 "--no-progress"])
    out = capsys.readouterr().out
    assert code == 0
    recs = records(tmp_path)
    # 2 models x 1 seed x (clean + 3 alphas)
    assert len(recs) == 8 and all(r["status"] == "ok" for r in recs)
    assert {r["scenario"].split("/")[0] for r in recs} == {family}
    sizes = {r["model_size"] for r in recs}
    assert sizes == {"landscape": {"n4-d4", "64x16"}, "landscape-study": {"n4-d5-rxry-cnot", "8x2"}}[family]
    study = family == "landscape-study"
    for r in recs:
        assert all(("train_split" in t) == study for t in r["config"]["train"])
        assert ("held-out" in r["config"]["hessian"]["subset"]) == study
        assert max(r["metrics"]["eig_top"]) >= min(r["metrics"]["eig_bottom"])
        if r["alpha"] == 0.0 and not r["metrics"]["collapsed"]:
            assert r["metrics"]["lrr"] == pytest.approx(1.0)
        if r["metrics"]["lrr"] is not None:
            clean = next(c for c in recs if c["unit_key"] == r["unit_key"] and c["alpha"] == 0.0)
            assert r["metrics"]["lrr"] == pytest.approx(r["metrics"]["hessian_trace"] / clean["metrics"]["hessian_trace"])
    if study:
        cfg = next(r for r in recs if r["scenario"] == "landscape-study/xxz-4/qnn")["config"]["train"][0]
        assert cfg["train_split"] == 0.7 and cfg["model_options"] == {"depth": 5, "ansatz": "rxry-cnot"}
        assert cfg["train"]["epochs"] == 3 and cfg["train"]["batch_size"] == 32
    # the console prints the leaderboard's section, with its collapsed-model count
    assert out.count("== Loss landscape") == 1 and out.count("| collapsed") == 1
    assert ("(landscape-study, protocol 3" in out) == study


def test_landscape_variant_option(tmp_path, cache_dir, capsys):
    code = main(["run", "--suite", "landscape", "--task", "xxz-4", "--seeds", "0", "--epochs", "2", "--model", "mlp",
                 "--set", "landscape.variant=study", "--out", str(tmp_path), "--cache-dir", cache_dir, "--no-progress"])
    capsys.readouterr()
    assert code == 0
    assert {r["scenario"] for r in records(tmp_path)} == {"landscape-study/xxz-4/mlp"}
    bad = tmp_path / "bad"
    assert main(["run", "--suite", "landscape", "--task", "xxz-4", "--set", "landscape.variant=nope", "--out", str(bad),
                 "--cache-dir", cache_dir, "--no-progress"]) == 2
    assert "variant" in capsys.readouterr().err and not bad.exists()
