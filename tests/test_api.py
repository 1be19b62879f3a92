"""The public Python API: qbench.run (the command line's run) and qbench.load_results (a DataFrame)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

import qbench
from qbench.errors import QbenchError

ROOT = Path(__file__).resolve().parents[1]


def test_import_qbench_starts_no_tensorflow():
    r = subprocess.run([sys.executable, "-c", "import qbench, sys; print(sorted(m for m in ('tensorflow', "
                        "'tensorcircuit', 'keras') if m in sys.modules)); print(callable(qbench.run))"],
                       env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["[]", "True"]


def test_run_writes_records_resumes_and_loads_them_as_a_frame(tmp_path, cache_dir, capsys):
    opts = dict(tasks="xxz-4", models=["mlp"], corruptions="label_flip", alphas=[0.0, 0.5], seeds=[0], epochs=1,
                out=tmp_path / "res", cache_dir=cache_dir)
    first = qbench.run("resilience", **opts)
    assert first.out == str(tmp_path / "res") and len(first.done) == 2 and not first.failed and not first.skipped
    assert capsys.readouterr().out == ""  # a function prints no table
    again = qbench.run("resilience", **opts)
    assert sorted(again.skipped) == sorted(first.done) and not again.done
    df = first.records()
    assert len(df) == 2 and list(df.columns[:10]) == ["suite", "scenario", "task", "model", "model_size", "corruption",
                                                      "alpha", "method", "step", "seed"]
    assert sorted(df["alpha"]) == [0.0, 0.5] and set(df["task"]) == {"xxz-4"}
    stored = {json.loads(f.read_text())["metrics"]["val_acc"] for f in (tmp_path / "res" / "records").glob("*.jsonl")}
    assert set(df["val_acc"]) == stored


@pytest.mark.parametrize("call, needle", [
    (dict(steps=3), "--steps applies to"),
    (dict(settings={"nosuch.x": 1}), "'nosuch' is neither a suite of this run nor 'task'"),
    (dict(epoch=3), "qbench.run: unknown option 'epoch'"),
])
def test_run_refuses_bad_input_and_writes_nothing(tmp_path, call, needle):
    with pytest.raises(QbenchError, match=needle.replace("(", r"\(").replace(")", r"\)")):
        qbench.run("resilience", out=tmp_path / "out", **call)
    assert not (tmp_path / "out").exists()


def test_settings_reach_the_run_nested_or_dotted(tmp_path, cache_dir):
    base = dict(tasks="xxz-4", models="mlp", seeds="0", epochs=1, steps=1, methods="finetune", cache_dir=cache_dir)
    a = qbench.run("unlearning", out=tmp_path / "a", settings={"unlearning.lr": 0.05}, **base)
    b = qbench.run("unlearning", out=tmp_path / "b", settings={"unlearning": {"lr": 0.05}}, **base)
    assert a.done == b.done and len(a.done) == 2  # the method's unit and the oracle's
    (f,) = (tmp_path / "a" / "records").glob("unlearning-*.jsonl")
    assert json.loads(f.read_text().splitlines()[0])["config"]["lr"] == 0.05


def test_load_results_of_the_committed_landscape_records():
    path = ROOT / "leaderboard" / "results" / "landscape"
    assert path.is_dir(), "the committed landscape records are part of the repository"
    lines = [json.loads(line) for f in sorted(path.rglob("*.jsonl")) for line in f.read_text().splitlines() if line]
    df = qbench.load_results(path)
    assert len(df) == len(lines)
    assert {"hessian_trace", "lrr", "status", "unit_key"} <= set(df.columns)
    assert "eig_top" not in df.columns  # a per-record list stays in the files
    got = dict(zip(zip(df["unit_key"], df["alpha"]), df["hessian_trace"]))
    assert all(got[(r["unit_key"], r["alpha"])] == r["metrics"]["hessian_trace"] for r in lines)
    assert qbench.load_results([str(path)]).shape == df.shape


def test_run_plans_without_the_command_line(tmp_path, cache_dir):
    """qbench.run plans with qbench.plan (a frozen Plan per suite), never through the CLI's parser."""
    code = ("import sys, qbench; r = qbench.run('resilience', tasks='xxz-4', models='mlp', corruptions='label_flip', alphas=[0.0], seeds=[0], "
            f"epochs=1, out={str(tmp_path / 'o')!r}, cache_dir={cache_dir!r}); "
            "print(len(r.done), 'qbench.cli' in sys.modules, 'qbench.commands.run' in sys.modules)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                       env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.split() == ["1", "False", "False"]


def test_plan_run_gives_a_frozen_plan_per_suite(tmp_path, cache_dir):
    import dataclasses

    from qbench.plan import Plan, RunRequest, plan_run

    request = RunRequest("resilience", tasks=("xxz-4",), models=("mlp",), corruptions=("label_flip",), alphas=(0.0, 0.5), seeds=(0, 1), epochs=1,
                         out=str(tmp_path / "o"), cache_dir=cache_dir)
    (plan,) = plan_run(request)
    assert isinstance(plan, Plan) and plan.suite.name == "resilience" and plan.out == str(tmp_path / "o")
    assert len(plan.units) == 4 and plan.methods == () and plan.context.cache_dir == cache_dir
    with pytest.raises(dataclasses.FrozenInstanceError):
        plan.out = "elsewhere"
    assert not (tmp_path / "o").exists()  # planning writes nothing
