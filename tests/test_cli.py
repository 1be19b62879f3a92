"""The command line: bad input is one line and status 2 with nothing written; runs resume."""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from qbench.cli import build_parser, default_figures, main

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
        # every --set and every flag reaches something of the run, or the run is refused
        (["run", "--suite", "unlearning", "--set", "scrub.lamda_fo=0.5"], "scrub: unknown hyperparameter(s) lamda_fo"),
        (["run", "--suite", "unlearning", "--set", "nosuch.x=1"], "'nosuch' is neither a method of this run"),
        (["run", "--suite", "resilience", "--set", "nosuch.x=1"], "'nosuch' is neither a suite of this run nor 'task'"),
        (["run", "--suite", "unlearning", "--method", "finetune", "--set", "scrub.lambda_fo=0.5"],
         "'scrub' is neither a method of this run (finetune)"),
        (["run", "--suite", "resilience", "--set", "landscape.variant=study"], "suite 'landscape' is not in this run"),
        (["run", "--suite", "resilience", "--set", "resilience.x=1"], "resilience has no setting 'x'; its settings: (none)"),
        (["run", "--suite", "landscape", "--set", "landscape.varant=study"], "landscape has no setting 'varant'"),
        (["run", "--suite", "landscape", "--set", "landscape.hessian_samples=2.5"], "hessian_samples expects int, got 2.5"),
        (["run", "--suite", "unlearning", "--set", "unlearning.lr=fast"], "unlearning.lr expects float, got 'fast'"),
        (["run", "--suite", "resilience", "--steps", "3"], "--steps applies to --suite corrective, forgetting, noise, sensitivity, unlearning only, not 'resilience'"),
        (["run", "--suite", "resilience", "--method", "scrub"], "--method applies to --suite corrective, forgetting, noise, sensitivity, unlearning only"),
        (["run", "--suite", "capacity", "--method", "scrub"], "not 'capacity'"),
        (["run", "--suite", "landscape", "--method", "scrub"], "not 'landscape'"),
        (["run", "--suite", "landscape", "--steps", "3"], "--steps applies to"),
        (["run", "--suite", "unlearning", "--corruption", "label_flip"], "--corruption applies to --suite capacity, resilience only"),
        (["run", "--suite", "all", "--grid", "beta=0,1"], "--grid applies to --suite sensitivity only, not 'all'"),
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
                 "resilience/mnist-1v9/qnn/label_flip", "phase='random'", "docs/protocol.md"):
        assert name in out


def test_resilience_run_resumes_and_records_carry_provenance(capsys, tmp_path, cache_dir):
    args = ["run", "--suite", "resilience", "--task", "xxz-6", "--model", "mlp", "--corruption", "label_flip",
            "--alphas", "0,0.5", "--seeds", "0,1", "--epochs", "5", "--out", str(tmp_path), "--cache-dir", cache_dir,
            "--no-progress"]
    code, out, _ = run_cli(capsys, *args)
    assert code == 0 and "4 run, 0 already present" in out
    # the epilogue: the leaderboard's own table of these records (unranked: 5 epochs is not the protocol)
    table = [line for line in out.splitlines() if line.startswith("|")]
    assert table[0].startswith("| model ") and "α=0.5" in table[0] and len(table) == 3
    assert "not ranked" in out
    code, board, _ = run_cli(capsys, "leaderboard", "--results", str(tmp_path), "--allow-nonprotocol", "--output", "-")
    assert code == 0 and "\n".join(table) in board
    assert f"records: {tmp_path / 'records'} " in out
    # 5 epochs is not the protocol: the printed table command opts in to non-protocol records
    assert f"qbench leaderboard --results {tmp_path} --allow-nonprotocol " in out
    assert f"qbench plot --results {tmp_path} " in out
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
    """The worked example of docs/methods.md, run from outside the package, both ways, in a fresh process."""
    plugdir = tmp_path / "plugins"
    plugdir.mkdir()
    shutil.copy(ROOT / "examples" / "magnitude_finetune.py", plugdir / "magnitude_finetune.py")
    dist = plugdir / "qbench_example_plugin-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(PLUGIN_DIST)
    (dist / "entry_points.txt").write_text("[qbench.unlearning_methods]\nngp = magnitude_finetune:MagnitudeFinetune\n")
    env = {"PYTHONPATH": str(plugdir), "QBENCH_CACHE_DIR": cache_dir, "PATH": "/usr/bin:/bin",
           "TF_CPP_MIN_LOG_LEVEL": "2"}
    common = ["run", "--suite", "unlearning", "--task", "xxz-6", "--model", "mlp", "--seeds", "0",
              "--epochs", "5", "--steps", "3", "--no-progress", "--method", "finetune"]
    out1, out2 = tmp_path / "by_path", tmp_path / "by_entry_point"
    r1 = subprocess.run([sys.executable, "-m", "qbench", *common, "--method", "magnitude_finetune:MagnitudeFinetune",
                         "--out", str(out1)], env=env, capture_output=True, text=True, timeout=300)
    assert r1.returncode == 0, r1.stderr[-2000:]
    r2 = subprocess.run([sys.executable, "-m", "qbench", *common, "--method", "ngp", "--out", str(out2)],
                        env=env, capture_output=True, text=True, timeout=300)
    assert r2.returncode == 0, r2.stderr[-2000:]

    def load(d):
        recs = [json.loads(line) for f in (d / "records").glob("*.jsonl") for line in f.read_text().splitlines()]
        return {(r["method"], r["step"]): r for r in recs}

    a, b = load(out1), load(out2)
    assert {k for k in a if k[0] == "magnitude_finetune:MagnitudeFinetune"} == {("magnitude_finetune:MagnitudeFinetune", s) for s in range(4)}
    assert {k for k in b if k[0] == "ngp"} == {("ngp", s) for s in range(4)}
    for s in range(4):
        m1, m2 = a[("magnitude_finetune:MagnitudeFinetune", s)]["metrics"], b[("ngp", s)]["metrics"]
        for k in ("val_acc", "forget_acc", "retain_acc", "forget_clean_acc"):
            assert m1[k] == m2[k]
        assert set(m1) == set(a[("finetune", s)]["metrics"])  # same record shape as a built-in
    # same poisoned model (shared, trained once per seed) for plugin and builtin
    assert a[("finetune", 0)]["metrics"]["val_acc"] == a[("magnitude_finetune:MagnitudeFinetune", 0)]["metrics"]["val_acc"]
    assert len(list((out1 / "models").glob("*.npz"))) == 2  # the poisoned model and the oracle
    assert a[("magnitude_finetune:MagnitudeFinetune", 0)]["config"]["method_hyperparameters"] == {"keep": 0.25, "forget_weight": 0.1}
    assert "magnitude_finetune" in b[("ngp", 0)]["config"]["method_source"] or "qbench-example-plugin" in b[("ngp", 0)]["config"]["method_source"]
    # the plugin prepares a mask in setup: it conforms, named by entry point and by module:attr
    for name in ("ngp", "magnitude_finetune:MagnitudeFinetune"):
        r3 = subprocess.run([sys.executable, "-m", "qbench", "check", "method", name], env=env, capture_output=True,
                            text=True, timeout=300)
        assert r3.returncode == 0 and "setup deterministic: the same seed gives the same update_mask" in r3.stdout, r3.stderr


def test_check_analytic_passes_and_sign_flip_fails(capsys):
    code, out, _ = run_cli(capsys, "check", "analytic")
    assert code == 0 and "passed" in out
    code, out, _ = run_cli(capsys, "check", "analytic", "--sign-flip")
    assert code == 1 and "FAILED" in out


def _plugin_dir(tmp_path: Path, dists: dict[str, str]) -> Path:
    """A directory holding the example plugin module and one dist-info per ``{name: entry_points.txt}``."""
    plugdir = tmp_path / "plugins"
    plugdir.mkdir(exist_ok=True)
    shutil.copy(ROOT / "examples" / "magnitude_finetune.py", plugdir / "magnitude_finetune.py")
    for name, entry_points in dists.items():
        dist = plugdir / f"{name.replace('-', '_')}-0.1.dist-info"
        dist.mkdir()
        (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
        (dist / "entry_points.txt").write_text(entry_points)
    return plugdir


def _fresh_env(*paths: Path, **extra: str) -> dict[str, str]:
    """A fresh process's environment: this checkout (and ``paths``) importable, plugins discovered, and no
    TensorFlow log settings inherited from the test process."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("TF_", "QBENCH_DISABLE_PLUGIN", "PYTHONPATH"))}
    env["PYTHONPATH"] = os.pathsep.join([*(str(p) for p in paths), str(ROOT)])
    env.update(extra)
    return env


NO_TF_PROBE = """
import sys
from qbench.cli import main
for argv in {argvs!r}:
    try:
        code = main(argv)
    except SystemExit as exc:  # --help
        code = exc.code
    print("EXIT", code, file=sys.stderr)
print("HEAVY", sorted(m for m in ("tensorflow", "tensorcircuit", "keras") if m in sys.modules))
"""


def test_list_and_argument_errors_answer_without_tensorflow(tmp_path):
    """`qbench list` (with a plugin installed), `--help` and bad input never start TensorFlow."""
    plugdir = _plugin_dir(tmp_path, {"qbench-example-plugin": "[qbench.unlearning_methods]\nngp = magnitude_finetune:MagnitudeFinetune\n"})
    argvs = [["list"], ["run", "--help"], ["run", "--suite", "resilience", "--task", "nosuch"],
             ["run", "--suite", "unlearning", "--set", "scrub.bogus=1"]]
    r = subprocess.run([sys.executable, "-c", NO_TF_PROBE.format(argvs=argvs)], env=_fresh_env(plugdir),
                       cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.strip().splitlines()[-1] == "HEAVY []"
    assert re.findall(r"^EXIT (\S+)$", r.stderr, re.M) == ["0", "0", "2", "2"]
    section = r.stdout.split("methods:\n", 1)[1].split("\n" + "usage:", 1)[0].splitlines()
    rows = {line.split()[0]: line for line in section if line.startswith("  ") and not line.startswith(("  (", "   "))}
    assert list(rows) == ["bad_teacher", "finetune", "gradient_ascent", "l1_sparse", "neg_grad_plus", "random_labels",
                          "retrain", "salun", "scrub", "scrub_alternating", "ngp"]
    assert "builtin" in rows["scrub"] and "lambda_ce=1.0, lambda_kl=0.0, lambda_fo=0.2, kl='bernoulli'" in rows["scrub"]
    assert "beta=0.2" in rows["gradient_ascent"] and "(no hyperparameters)" in rows["finetune"]
    assert "plugin" in rows["ngp"] and "keep=0.25, forget_weight=0.1" in rows["ngp"]
    # a plugin's source, too long for its column, on a line of its own below it
    assert section[section.index(rows["ngp"]) + 1].split() == ["from", "qbench-example-plugin==0.1"]


UNLEARNING_RUN = ["run", "--suite", "unlearning", "--task", "xxz-6", "--model", "mlp", "--seeds", "0", "--epochs", "1",
                  "--steps", "1", "--no-progress"]


@pytest.mark.parametrize("entry_points,needle", [
    ({"clashing-plugin": "[qbench.unlearning_methods]\nscrub = magnitude_finetune:MagnitudeFinetune\n"},
     "plugin method 'scrub' (clashing-plugin==0.1: magnitude_finetune:MagnitudeFinetune) clashes with the built-in method 'scrub'"),
    ({"plugin-a": "[qbench.unlearning_methods]\nngp = magnitude_finetune:MagnitudeFinetune\n",
      "plugin-b": "[qbench.unlearning_methods]\nngp = magnitude_finetune:MagnitudeFinetune\n"},
     "two plugins register the method 'ngp'"),
])
def test_plugin_name_clash_is_reported_for_any_method_run(tmp_path, cache_dir, entry_points, needle):
    """A clash stops every run that resolves a method, whichever it names (`--method scrub` used to run the
    built-in silently): one line, status 2, nothing written."""
    plugdir = _plugin_dir(tmp_path, entry_points)
    env = _fresh_env(plugdir, QBENCH_CACHE_DIR=cache_dir)
    for i, argv in enumerate([[*UNLEARNING_RUN, "--method", "scrub"], [*UNLEARNING_RUN, "--method", "finetune"],
                              [*UNLEARNING_RUN], ["list", "methods"]]):
        out = tmp_path / f"out{i}"
        r = subprocess.run([sys.executable, "-m", "qbench", *argv, *(["--out", str(out)] if argv[0] == "run" else [])],
                           env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
        assert r.returncode == 2, (argv, r.stdout[-1000:], r.stderr[-1000:])
        assert len(r.stderr.splitlines()) == 1 and needle in r.stderr, r.stderr
        assert not out.exists()


def test_bad_input_in_a_fresh_process_is_one_line_on_stderr(tmp_path):
    r = subprocess.run([sys.executable, "-m", "qbench", "run", "--suite", "resilience", "--task", "nosuch",
                        "--out", str(tmp_path / "out")], env=_fresh_env(), cwd=tmp_path, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 2
    assert r.stderr.splitlines() == ["qbench: error: unknown task 'nosuch'; known: mnist-1v9, xxz-12, xxz-<L> (even L, 4 to 16) (or module:attribute)"]
    assert r.stdout == "" and not (tmp_path / "out").exists()


def test_a_run_that_starts_tensorflow_prints_none_of_its_log_lines(tmp_path, cache_dir):
    out = tmp_path / "out"
    r = subprocess.run([sys.executable, "-m", "qbench", "run", "--suite", "resilience", "--task", "xxz-6", "--model", "mlp",
                        "--corruption", "label_flip", "--alpha", "0", "--seeds", "0", "--epochs", "1", "--out", str(out),
                        "--cache-dir", cache_dir],
                       env=_fresh_env(QBENCH_XLA_CACHE="0"), cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "1 run, 0 already present, 0 failed" in r.stdout and len(list((out / "records").glob("*.jsonl"))) == 1
    noisy = [line for line in r.stderr.splitlines()
             if re.search(r"tensorflow|cuda|onednn|absl|^[IWEF]\d{4} ", line, re.I)]
    assert noisy == [], r.stderr


def test_native_log_filter_drops_tensorflow_lines_and_keeps_the_rest():
    from qbench.quiet import _forward

    chatter = [  # TensorFlow 2.21's start-up and first-use lines on a CPU-only machine
        "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
        "I0000 00:00:1796212762.232166    3949 port.cc:153] oneDNN custom operations are on. You may see slightly "
        "different numerical results due to floating-point round-off errors from different computation orders.",
        "I0000 00:00:1796212762.234794    3949 cudart_stub.cc:31] Could not find cuda drivers on your machine, GPU will not be used.",
        "I0000 00:00:1796212762.502508    4939 cpu_feature_guard.cc:227] This TensorFlow binary is optimized to use "
        "available CPU instructions in performance-critical operations.",
        "To enable the following instructions: AVX2 AVX512F FMA, in other operations, rebuild TensorFlow with the "
        "appropriate compiler flags.",
        "E0000 00:00:1796212942.466969    6974 cuda_platform.cc:52] failed call to cuInit: INTERNAL: CUDA error: "
        "Failed call to cuInit: UNKNOWN ERROR (303)",
        "W1202 12:07:00.123456   12345 service.cc:148] XLA service 0x55d0 initialized for platform Host",
        "WARNING:tensorflow:5 out of the last 5 calls to <function f> triggered tf.function retracing.",
    ]
    kept = ["qbench: error: unknown task 'nosuch'", "Traceback (most recent call last):",
            "I0000 is not a log line without its source location", "local x2:  50%|#####     | 1/2"]
    text = "\n".join(chatter[:3] + kept[:2] + chatter[3:] + kept[2:]).encode()
    read_end, write_end = os.pipe()
    out_read, out_write = os.pipe()
    os.write(write_end, text)
    os.close(write_end)
    _forward(read_end, out_write)
    os.close(out_write)
    with os.fdopen(out_read, "rb") as fh:
        assert fh.read().decode().split("\n") == kept


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="reads /proc")
def test_the_log_filters_pipe_is_not_held_open_by_multiprocessings_resource_tracker(tmp_path):
    # a tracker started by the first process pool would inherit the pipe and keep it open until exit,
    # so the filter's reader never saw its end and every command that used a pool waited out its timeout
    script = (
        "import multiprocessing, os, sys\n"
        "from concurrent.futures import ProcessPoolExecutor\n"
        "from multiprocessing import resource_tracker\n"
        "from qbench.quiet import filter_native_stderr\n"
        "if __name__ == '__main__':\n"
        "    filter_native_stderr()\n"
        "    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context('spawn')) as pool:\n"
        "        assert pool.submit(abs, -3).result() == 3\n"
        "    tracker = resource_tracker._resource_tracker._pid\n"
        "    print(os.readlink(f'/proc/{tracker}/fd/2'), os.readlink(f'/proc/self/fd/{sys.stderr.fileno()}'),\n"
        "          os.readlink('/proc/self/fd/2'))\n"
    )
    (tmp_path / "s.py").write_text(script)
    r = subprocess.run([sys.executable, str(tmp_path / "s.py")], env=_fresh_env(), cwd=tmp_path,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    tracker_err, real_err, filtered = r.stdout.split()
    assert tracker_err == real_err and filtered != real_err and filtered.startswith("pipe:")


def test_verbose_is_accepted_before_and_after_the_command():
    parser = build_parser()
    assert parser.parse_args(["list"]).verbose is False
    assert parser.parse_args(["--verbose", "list"]).verbose is True
    assert parser.parse_args(["run", "--suite", "resilience", "--verbose"]).verbose is True
    assert parser.parse_args(["-v", "run", "--suite", "resilience"]).verbose is True


def test_console_summary_is_the_leaderboard_section_of_each_suite():
    from qbench.records.checks import split_failed
    from qbench.report.console import plain, run_summary
    from qbench.report.leaderboard import Section
    from qbench.report.registry import SECTIONS

    base = {"task": "xxz-6", "model": "mlp", "status": "ok", "model_size": "64x16", "config": {}, "protocol_version": "2",
            "provenance": {}, "corruption": "label_flip", "scenario": "resilience/xxz-6/mlp/label_flip"}
    records = [{**base, "suite": "resilience", "alpha": a, "seed": s, "unit_key": f"u{a}{s}",
                "metrics": {"train_acc": 0.9, "val_acc": 0.8 + s / 100}} for a in (0.0, 0.5) for s in (0, 1)]
    failed = {**records[0], "unit_key": "bad", "status": "failed", "error": "step over budget: 120 s", "metrics": {}}
    text = run_summary(records + [failed], ranked=False)
    ok, bad = split_failed(records + [failed])
    sections = SECTIONS["resilience"](ok, bad, ranked=False)
    assert sections and text == "\n\n".join(plain(s, "Resilience (PROTOCOL 4.1)") for s in sections)
    assert "0.805 ± 0.007" in text and "step over budget" in text and "_" not in text.split("\n")[-1][:1]
    assert plain(Section("h", "| a |", ["_why_", "- item"])) == "== h\n\n| a |\n\nwhy\n- item"
    assert run_summary([], ranked=True) == "(no successful records)"


def test_default_output_directories_agree_with_help_and_readme(tmp_path, cache_dir):
    from qbench.commands.run import request_from_args
    from qbench.plan import plan_run

    for extra, default in (([], "resilience"), (["--quick"], "resilience-quick")):
        args = build_parser().parse_args(["run", "--suite", "resilience", "--task", "xxz-4", "--cache-dir", cache_dir, *extra])
        (plan,) = plan_run(request_from_args(args))
        assert plan.out == os.path.join("runs", default)
    help_text = " ".join(build_parser()._subparsers._group_actions[0].choices["run"].format_help().split())
    readme = " ".join((ROOT / "README.md").read_text().split())
    for default in ("runs/<suite>", "runs/<suite>-quick"):
        assert default in help_text and f"`{default}`" in readme
    assert default_figures(["leaderboard/results"]) == os.path.join("leaderboard", "figures")
    assert default_figures([str(tmp_path)]) == os.path.join(str(tmp_path), "figures")


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




def _plans(argv):
    """What `qbench run ARGV` would run (every input check, no unit run): {suite: units}."""
    from qbench.commands.run import request_from_args
    from qbench.plan import plan_run

    return {p.suite.name: p.units for p in plan_run(request_from_args(build_parser().parse_args(["run", *argv])))}


def test_settings_reach_the_suites_that_read_them_and_all_takes_each_suites_flags(tmp_path, cache_dir):
    """--suite all: a method's --set and --steps reach unlearning, landscape.variant reaches landscape;
    typed settings arrive converted (lr 1 -> 1.0) in the unit configs."""
    base = ["--task", "xxz-4", "--seeds", "0", "--epochs", "1", "--cache-dir", cache_dir, "--out", str(tmp_path / "o")]
    plans = _plans(["--suite", "all", *base, "--steps", "3", "--set", "scrub.lambda_fo=0.5",
                    "--set", "landscape.variant=study", "--set", "unlearning.lr=1", "--set", "task.phase=fixed"])
    scrub = [u.config for u in plans["unlearning"] if u.config["method"] == "scrub"]
    assert scrub and all(c["method_hyperparameters"]["lambda_fo"] == 0.5 and c["steps"] == 3 for c in scrub)
    assert {type(u.config["lr"]) for u in plans["unlearning"]} == {float} and plans["unlearning"][0].config["lr"] == 1.0
    assert plans["landscape"] and all(u.scenario.startswith("landscape-study/") for u in plans["landscape"])
    assert all(u.config["task_options"] == {"phase": "fixed"} for u in plans["resilience"])
    assert not (tmp_path / "o").exists()
    # the protocol's settings when none is given: the unlearning rate of the family, both landscape families
    plans = _plans(["--suite", "all", *base])
    assert {u.config["lr"] for u in plans["unlearning"]} == {0.01}
    assert {u.scenario.split("/")[0] for u in plans["landscape"]} == {"landscape", "landscape-study"}
