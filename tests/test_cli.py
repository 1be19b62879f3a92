"""The command line: bad input is one line and status 2 with nothing written; runs resume."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from qbench.cli import main

ROOT = Path(__file__).resolve().parents[1]


def run_cli(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(
    "argv,needle",
    [
        (["run", "--suite", "nope"], "unknown suite 'nope'"),
        (["run", "--suite", "resilience", "--task", "cifar"], "unknown task 'cifar'"),
        (["run", "--suite", "resilience", "--model", "svm"], "unknown model 'svm'"),
        (["run", "--suite", "resilience", "--corruption", "blur"], "unknown corruption 'blur'"),
        (["run", "--suite", "resilience", "--alphas", "0.1,1.5"], "alpha must lie in [0, 1], got 1.5"),
        (["run", "--suite", "resilience", "--alpha", "-0.2"], "alpha must lie in [0, 1], got -0.2"),
        (["run", "--suite", "resilience", "--seeds", "a-b"], "--seeds expects"),
        (["run", "--suite", "unlearning", "--method", "no_such_module_xyz:Thing"], "cannot import module"),
        (["run", "--suite", "unlearning", "--method", "json:dumps"], "is not an unlearning method"),
        (["run", "--suite", "unlearning", "--method", "nope"], "unknown unlearning method 'nope'"),
        (["run", "--suite", "unlearning", "--set", "scrub.bogus=1"], "unknown hyperparameter(s) bogus"),
        (["run", "--suite", "unlearning", "--set", "scrub"], "--set expects METHOD.PARAM=VALUE"),
        (["frobnicate"], "invalid choice"),
    ],
)
def test_bad_input_is_one_line_status_2_and_writes_nothing(capsys, tmp_path, cache_dir, argv, needle):
    out_dir = tmp_path / "out"
    code, out, err = run_cli(capsys, *argv, *(["--out", str(out_dir), "--cache-dir", cache_dir] if argv[0] == "run" else []))
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert needle in lines[0]
    assert not out_dir.exists()


def test_data_directory_without_mnist_is_status_2(capsys, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    code, _, err = run_cli(capsys, "run", "--suite", "resilience", "--task", "mnist-1v9", "--data-dir", str(empty),
                           "--out", str(tmp_path / "out"))
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "train-images-idx3-ubyte" in err
    assert not (tmp_path / "out").exists()


def test_list_shows_suites_tasks_models(capsys):
    code, out, _ = run_cli(capsys, "list")
    assert code == 0
    for name in ("resilience", "unlearning", "mnist-1v9", "xxz-12", "qnn", "mlp", "label_flip",
                 "resilience/mnist-1v9/qnn/label_flip"):
        assert name in out


def test_resilience_run_resumes_and_records_carry_provenance(capsys, tmp_path, cache_dir):
    args = ["run", "--suite", "resilience", "--task", "xxz-6", "--model", "mlp", "--corruption", "label_flip",
            "--alphas", "0,0.5", "--seeds", "0,1", "--epochs", "5", "--out", str(tmp_path), "--cache-dir", cache_dir,
            "--no-progress"]
    code, out, _ = run_cli(capsys, *args)
    assert code == 0 and "4 run, 0 already present" in out
    files = sorted((tmp_path / "records").glob("*.jsonl"))
    assert len(files) == 4
    rec = json.loads(files[0].read_text())
    for field in ("config", "config_hash", "seed", "provenance", "metrics", "unit_key", "alpha"):
        assert field in rec
    assert set(rec["provenance"]["versions"]) >= {"tensorflow", "tensorcircuit-ng", "numpy", "qbench"}
    assert rec["provenance"]["git_revision"]
    assert rec["config"]["train"]["epochs"] == 5 and rec["config"]["model_options"] == {"hidden": [64, 16]}
    before = {f.name: f.read_text() for f in files}
    files[0].unlink()
    code, out, _ = run_cli(capsys, *args)
    assert code == 0 and "1 run, 3 already present" in out
    after = {f.name: f.read_text() for f in sorted((tmp_path / "records").glob("*.jsonl"))}
    strip = lambda t: {k: v for k, v in json.loads(t)["metrics"].items() if "wall" not in k}  # noqa: E731
    assert {k: strip(v) for k, v in after.items()} == {k: strip(v) for k, v in before.items()}


PLUGIN_DIST = """Metadata-Version: 2.1
Name: qbench-example-plugin
Version: 0.1
"""


def test_plugin_method_by_path_and_by_entry_point_gives_builtin_like_records(tmp_path, cache_dir):
    """The README's worked example, run from outside the package, both ways, in a fresh process."""
    plugdir = tmp_path / "plugins"
    plugdir.mkdir()
    shutil.copy(ROOT / "examples" / "neg_grad_plus.py", plugdir / "neg_grad_plus.py")
    dist = plugdir / "qbench_example_plugin-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(PLUGIN_DIST)
    (dist / "entry_points.txt").write_text("[qbench.unlearning_methods]\nngp = neg_grad_plus:NegGradPlus\n")
    env = {"PYTHONPATH": str(plugdir), "QBENCH_CACHE_DIR": cache_dir, "PATH": "/usr/bin:/bin",
           "TF_CPP_MIN_LOG_LEVEL": "2"}
    common = ["run", "--suite", "unlearning", "--task", "xxz-6", "--model", "mlp", "--seeds", "0",
              "--epochs", "5", "--steps", "3", "--no-progress", "--method", "finetune"]
    out1, out2 = tmp_path / "by_path", tmp_path / "by_entry_point"
    r1 = subprocess.run([sys.executable, "-m", "qbench", *common, "--method", "neg_grad_plus:NegGradPlus",
                         "--out", str(out1)], env=env, capture_output=True, text=True, timeout=300)
    assert r1.returncode == 0, r1.stderr[-2000:]
    r2 = subprocess.run([sys.executable, "-m", "qbench", *common, "--method", "ngp", "--out", str(out2)],
                        env=env, capture_output=True, text=True, timeout=300)
    assert r2.returncode == 0, r2.stderr[-2000:]

    def load(d):
        recs = [json.loads(line) for f in (d / "records").glob("*.jsonl") for line in f.read_text().splitlines()]
        return {(r["method"], r["step"]): r for r in recs}

    a, b = load(out1), load(out2)
    assert {k for k in a if k[0] == "neg_grad_plus:NegGradPlus"} == {("neg_grad_plus:NegGradPlus", s) for s in range(4)}
    assert {k for k in b if k[0] == "ngp"} == {("ngp", s) for s in range(4)}
    for s in range(4):
        m1, m2 = a[("neg_grad_plus:NegGradPlus", s)]["metrics"], b[("ngp", s)]["metrics"]
        for k in ("val_acc", "forget_acc", "retain_acc", "forget_clean_acc"):
            assert m1[k] == m2[k]
        assert set(m1) == set(a[("finetune", s)]["metrics"])  # same record shape as a built-in
    # same poisoned model (shared, trained once per seed) for plugin and builtin
    assert a[("finetune", 0)]["metrics"]["val_acc"] == a[("neg_grad_plus:NegGradPlus", 0)]["metrics"]["val_acc"]
    assert len(list((out1 / "models").glob("*.npz"))) == 1
    assert a[("neg_grad_plus:NegGradPlus", 0)]["config"]["method_hyperparameters"] == {"beta": 0.9}
    assert "neg_grad_plus" in b[("ngp", 0)]["config"]["method_source"] or "qbench-example-plugin" in b[("ngp", 0)]["config"]["method_source"]


def test_check_analytic_passes_and_sign_flip_fails(capsys):
    code, out, _ = run_cli(capsys, "check", "analytic")
    assert code == 0 and "passed" in out
    code, out, _ = run_cli(capsys, "check", "analytic", "--sign-flip")
    assert code == 1 and "FAILED" in out


@pytest.mark.parametrize("where, needle", [
    ("file", "exists and is not a directory"),
    ("under-file", "is not a directory"),
    ("records-file", "records exists and is not a directory"),
    ("/proc/1/qbench-out", "/proc/1 is not writable"),
])
def test_out_at_a_file_or_an_unwritable_place_is_one_line_status_2(tmp_path, cache_dir, capsys, where, needle):
    f = tmp_path / "a-file"
    f.write_text("not a directory\n")
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "records").write_text("")
    out = {"file": f, "under-file": f / "sub", "records-file": tmp_path / "d"}.get(where, where)
    before = sorted(p.name for p in tmp_path.rglob("*"))
    code = main(["run", "--suite", "resilience", "--task", "xxz-4", "--model", "mlp", "--alphas", "0", "--seeds", "0",
                 "--epochs", "1", "--no-progress", "--out", str(out), "--cache-dir", cache_dir])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("qbench: error: --out ") and needle in err
    assert sorted(p.name for p in tmp_path.rglob("*")) == before
    assert f.read_text() == "not a directory\n"


@pytest.mark.parametrize("task", ["xxz-18", "xxz-40", "xxz-3", "xxz-2"])
def test_xxz_chain_past_the_cap_or_odd_is_one_line_status_2(tmp_path, cache_dir, capsys, task):
    from qbench.tasks.xxz import MAX_QUBITS

    assert MAX_QUBITS == 16
    code = main(["run", "--suite", "resilience", "--task", task, "--model", "mlp", "--alphas", "0", "--seeds", "0",
                 "--epochs", "1", "--no-progress", "--out", str(tmp_path / "o"), "--cache-dir", cache_dir])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert f"task '{task}': xxz-<L> needs an even chain length 4 <= L <= 16" in err
    assert not (tmp_path / "o").exists()
