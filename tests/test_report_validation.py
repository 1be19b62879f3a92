"""Reading records for a report: a broken file, a bad metric, a failed unit, records not fit to publish."""

import json

import pytest

from qbench.cli import main
from qbench.report import leaderboard as L
from tests.report_records import results, run_cli, sweep_record, unlearning_unit, write_records  # noqa: F401  (fixture)


def test_broken_record_is_one_error_with_path_and_line_and_output_untouched(capsys, tmp_path, results):
    out = tmp_path / "README.md"
    out.write_text(f"intro\n{L.START}\nold\n{L.END}\n")
    f = next((results / "all" / "records").glob("*.jsonl"))
    good = f.read_text().splitlines()[0]
    bad = tmp_path / "results" / "extra" / "records" / "broken.jsonl"
    bad.parent.mkdir(parents=True)
    bad.write_text(good + "\n" + good[: len(good) // 2] + "\n")  # a truncated second line
    code, _, err = run_cli(capsys, "leaderboard", "--results", results, "--output", out)
    assert code == 2
    assert len(err.strip().splitlines()) == 1
    assert f"{bad}:2: not valid JSON" in err
    assert out.read_text() == f"intro\n{L.START}\nold\n{L.END}\n"

    rec = json.loads(good)
    del rec["metrics"]
    bad.write_text(json.dumps(rec) + "\n")
    code, _, err = run_cli(capsys, "leaderboard", "--results", results, "--output", out)
    assert code == 2 and f"{bad}:1: missing field(s) metrics" in err



@pytest.mark.parametrize("metric,value,needle", [
    ("val_acc", "NaN", "metric 'val_acc' is nan (not finite) in a status-ok record"),
    ("val_acc", "1.7", "metric 'val_acc' is 1.7, outside [0, 1]"),
    ("forget_acc", "-0.1", "metric 'forget_acc' is -0.1, outside [0, 1]"),
    ("wall_s", "Infinity", "metric 'wall_s' is inf (not finite)"),
    ("val_acc", "null", "metric 'val_acc' must be a number in [0, 1], got None"),
    ("n_steps", "12.5", "metric 'n_steps' is a count and must be a non-negative integer, got 12.5"),
])
def test_bad_metric_values_are_refused_with_file_and_line(capsys, tmp_path, results, metric, value, needle):
    out = tmp_path / "README.md"
    f = sorted((results / "all" / "records").glob("resilience-*.jsonl"))[0]
    lines = f.read_text().splitlines()
    rec = json.loads(lines[0])
    rec["metrics"][metric] = "@"
    f.write_text("\n".join(lines + [json.dumps(rec).replace('"@"', value)]) + "\n")
    code, _, err = run_cli(capsys, "leaderboard", "--results", results, "--output", out)
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert f"{f}:{len(lines) + 1}: {needle}" in err, err
    assert not out.exists()



def test_a_failed_record_may_lack_metrics_but_an_ok_one_is_checked():
    from qbench.records.schema import metric_problem, validate_record

    rec = sweep_record("resilience", "mlp", "label_flip", 0.0, 0, 0.9)
    rec["metrics"]["val_acc_steps"] = [0.5, 0.75, 1.0]
    rec["metrics"]["n_corrupted"] = 3
    assert validate_record(rec) is rec
    assert metric_problem("val_acc_steps", [0.5, 1.2]) == "is 1.2, outside [0, 1]"
    assert metric_problem("n_corrupted", True) is not None and metric_problem("n_corrupted", -1) is not None
    assert metric_problem("hessian_trace", -3.0) is None and metric_problem("loss", None) is None
    assert metric_problem("mia_efficacy", 1.01) and metric_problem("gap_to_oracle", 2.0)
    failed = sweep_record("resilience", "mlp", "label_flip", 0.0, 0, None, status="failed")
    failed["metrics"] = {"val_acc": None}
    assert validate_record(failed) is failed



def test_store_refuses_to_write_a_bad_metric_and_names_the_line(tmp_path):
    from qbench.errors import QbenchError
    from qbench.records import RecordStore

    store = RecordStore(tmp_path)
    good = sweep_record("resilience", "mlp", "label_flip", 0.0, 0, 0.9)
    bad = sweep_record("resilience", "mlp", "label_flip", 0.0, 1, float("nan"), train=0.9)
    with pytest.raises(QbenchError, match=r"records/u\.jsonl:2 \(not written\): metric 'val_acc' is nan"):
        store.write_unit("u", [good, bad])
    assert not store.path("u").exists() and not list(tmp_path.rglob("*.tmp"))



def test_a_unit_whose_metric_is_nan_is_a_failed_unit(tmp_path, cache_dir, capsys, monkeypatch):
    from qbench.experiment import Trained
    from qbench.records import load_records

    monkeypatch.setattr(Trained, "val_acc", lambda self: float("nan"))
    code = main(["run", "--suite", "resilience", "--task", "xxz-4", "--model", "mlp", "--corruption", "label_flip",
                 "--alphas", "0", "--seeds", "0", "--epochs", "2", "--no-progress", "--out", str(tmp_path),
                 "--cache-dir", cache_dir])
    out, _ = capsys.readouterr()
    assert code == 1 and "0 run, 0 already present, 1 failed" in out
    (rec,) = load_records([tmp_path])
    assert rec["status"] == "failed" and "metric 'val_acc' is nan" in rec["error"]



def test_explicit_missing_results_is_bad_input(capsys, tmp_path):
    code, _, err = run_cli(capsys, "leaderboard", "--results", tmp_path / "nope", "--output", tmp_path / "o.md")
    assert code == 2 and "no such record file or directory" in err
    assert not (tmp_path / "o.md").exists()



@pytest.mark.parametrize("mutate,needle", [
    (lambda recs: recs + [dict(recs[0])], "duplicate record"),
    (lambda recs: [r for r in recs if not (r["method"] == "scrub" and r["seed"] == 1 and r["step"] == 1)],
     "steps 0,2-50, expected 0-50"),
    (lambda recs: [r for r in recs if not (r["method"] == "scrub" and r["seed"] == 1)], "rows cover different seeds"),
    (lambda recs: recs + unlearning_unit("scrub", 2, [0.5, 0.6, 0.7], hp={"lambda_fo": 0.5}, task="xxz-12",
                                         conform=True),
     "2 different configurations"),
])
def test_publication_checks_refuse(capsys, tmp_path, mutate, needle):
    recs = []
    for seed in (0, 1):
        recs += unlearning_unit("retrain", seed, [0.5, 0.7, 0.8], task="xxz-12", conform=True)
        recs += unlearning_unit("scrub", seed, [0.5, 0.6, 0.7], task="xxz-12", conform=True)
    write_records(tmp_path / "r", mutate(recs))
    out = tmp_path / "README.md"
    code, _, err = run_cli(capsys, "leaderboard", "--results", tmp_path / "r", "--output", out)
    assert code == 2 and needle in err and len(err.strip().splitlines()) == 1, err
    assert not out.exists()



def test_a_unit_that_raised_still_counts_for_the_seed_check():
    from qbench.runner import failure_record
    from qbench.scenarios import Unit

    recs = [sweep_record("resilience", "qnn", "label_flip", a, s, 0.9) for a in (0.0, 0.3) for s in (0, 1)]
    crashed = next(r for r in recs if r["alpha"] == 0.3 and r["seed"] == 1)
    recs.remove(crashed)
    unit = Unit(crashed["unit_key"], "resilience", crashed["scenario"], crashed["config"])
    recs.append(failure_record(unit, RuntimeError("out of memory")))
    block = L.render_block(recs)
    assert "1 failed unit(s), not averaged:" in block and "RuntimeError: out of memory" in block
    row = next(l for l in block.splitlines() if l.startswith("| qnn"))
    assert "0.900 ± – (n=1)" in row  # alpha 0.3: one seed averaged, the row has two

