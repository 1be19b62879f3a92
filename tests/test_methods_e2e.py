"""The literature's baselines run through the unlearning suite and write records of the built-ins' shape."""

import json

import pytest

from qbench.cli import main


@pytest.mark.parametrize("model", ["mlp", "qnn"])
def test_salun_and_bad_teacher_write_builtin_shaped_records(tmp_path, cache_dir, monkeypatch, capsys, model):
    monkeypatch.setenv("QBENCH_CACHE_DIR", cache_dir)
    out = tmp_path / "out"
    argv = ["run", "--suite", "unlearning", "--quick", "--task", "xxz-6", "--model", model, "--seeds", "0",
            "--epochs", "2", "--steps", "3", "--no-progress", "--out", str(out),
            "--method", "salun", "--method", "bad_teacher", "--method", "finetune"]
    assert main(argv) == 0, capsys.readouterr()
    recs = [json.loads(line) for f in (out / "records").glob("*.jsonl") for line in f.read_text().splitlines()]
    by = {(r["method"], r["step"]): r for r in recs}
    assert {m for m, _ in by} == {"salun", "bad_teacher", "finetune", "oracle"} and all(r["status"] == "ok" for r in recs)
    for method in ("salun", "bad_teacher"):
        assert sorted(s for m, s in by if m == method) == [0, 1, 2, 3]
        for s in range(4):
            assert set(by[(method, s)]["metrics"]) == set(by[("finetune", s)]["metrics"])
            assert by[(method, s)]["config"].keys() == by[("finetune", s)]["config"].keys()
        assert by[(method, 0)]["metrics"]["val_acc"] == by[("finetune", 0)]["metrics"]["val_acc"]  # one poisoned model
        assert by[(method, 3)]["metrics"]["setup_s"] > 0 and by[(method, 0)]["config"]["method_source"] == "builtin"
    assert by[("salun", 0)]["config"]["method_hyperparameters"] == {"mask_ratio": 0.5}
    assert by[("bad_teacher", 0)]["config"]["method_hyperparameters"] == {"temperature": 1.0}
