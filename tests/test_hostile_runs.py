"""Hostile runs: a plugin that hangs or ends its process in ``setup``, environment faults (a full disk,
a file-size limit), bad input caught when the run is planned, damaged data, a SIGINT to the parent
alone. Each gives a failed unit with its reason and a non-zero exit, or one line and exit status 2."""

import errno
import gzip
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from qbench.cli import main
from qbench.records import load_records

ROOT = Path(__file__).resolve().parents[1]

PLUGIN = textwrap.dedent('''
    import os
    import time

    from qbench.methods import UnlearningMethod, mean_bce


    class _Base(UnlearningMethod):
        def objective(self, logits_fn, theta, data, hp, step):
            return mean_bce(logits_fn(theta, data["x_retain"]), data["y_retain"])


    class SleepsInSetup(_Base):
        name = "sleeps_in_setup"

        def setup(self, logits_fn, theta0, data, hp, context):
            time.sleep(10**6)


    class ExitsInSetup(_Base):
        name = "exits_in_setup"

        def setup(self, logits_fn, theta0, data, hp, context):
            raise SystemExit(3)


    class InterruptsInSetup(_Base):
        name = "interrupts_in_setup"

        def setup(self, logits_fn, theta0, data, hp, context):
            raise KeyboardInterrupt


    class EndsProcessInSetup(_Base):
        name = "ends_process_in_setup"

        def setup(self, logits_fn, theta0, data, hp, context):
            os._exit(0)


    class SlowSteps(_Base):
        """Every step sleeps (a long batch of a worker)."""

        name = "slow_steps"

        def setup(self, logits_fn, theta0, data, hp, context):
            time.sleep(600)
''')

UNLEARN = ["run", "--suite", "unlearning", "--task", "xxz-4", "--model", "mlp", "--seeds", "0", "--epochs", "2",
           "--steps", "2", "--no-progress", "--method", "finetune"]
SMALL = ["run", "--suite", "resilience", "--task", "xxz-4", "--model", "mlp", "--corruption", "label_flip",
         "--alphas", "0", "--seeds", "0", "--epochs", "1", "--no-progress"]


@pytest.fixture
def plugin(tmp_path, monkeypatch):
    d = tmp_path / "plugins"
    d.mkdir()
    (d / "hostile_methods.py").write_text(PLUGIN)
    monkeypatch.syspath_prepend(str(d))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(d), str(ROOT), os.environ.get("PYTHONPATH", "")]))
    return d


def one_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err[-3000:]
    return lines[0]


# -- a plugin's setup: watched, and its process's end is a failed unit ---------------------------
@pytest.mark.parametrize("executor", ["serial", "local"])
def test_a_setup_that_sleeps_is_stopped_by_the_watchdog_and_the_run_goes_on(tmp_path, cache_dir, capsys, plugin,
                                                                            monkeypatch, executor):
    monkeypatch.setattr("qbench.watchdog.SETUP_EXTRA_S", 0.0)  # the parent decides; no compile allowance here
    code = main([*UNLEARN, "--method", "hostile_methods:SleepsInSetup", "--method", "retrain", "--executor", executor,
                 "--step-budget", "3", "--out", str(tmp_path / "out"), "--cache-dir", cache_dir])
    out, err = capsys.readouterr()
    assert code == 1, err
    assert "3 run, 0 already present, 1 failed" in out
    recs = load_records([tmp_path / "out"])
    (hung,) = [r for r in recs if r["method"] == "hostile_methods:SleepsInSetup"]
    assert hung["status"] == "failed" and hung["error"].startswith("setup over budget: 3 s (stopped after ")
    assert {r["status"] for r in recs if r["method"] in ("finetune", "retrain")} == {"ok"}


CASES = [("ExitsInSetup", "SystemExit: 3"), ("InterruptsInSetup", "KeyboardInterrupt")]


@pytest.mark.parametrize("executor, budget", [("serial", "120"), ("serial", "off"), ("local", "120"), ("local", "off")])
@pytest.mark.parametrize("method, error", CASES)
def test_a_plugin_that_exits_or_interrupts_in_setup_is_a_failed_unit(tmp_path, cache_dir, plugin, executor, budget,
                                                                     method, error):
    out = tmp_path / "out"
    r = subprocess.run([sys.executable, "-m", "qbench", *UNLEARN, "--method", f"hostile_methods:{method}",
                        "--executor", executor, "--step-budget", budget, "--out", str(out), "--cache-dir", cache_dir],
                       capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert r.returncode == 1, r.stderr[-3000:]
    assert "2 run, 0 already present, 1 failed" in r.stdout  # finetune and the oracle ran
    assert "qbench: 1 unit(s) failed" in r.stderr
    recs = load_records([out])
    (bad,) = [x for x in recs if x["method"] == f"hostile_methods:{method}"]
    assert bad["status"] == "failed" and error in bad["error"]
    assert {x["status"] for x in recs if x["method"] != f"hostile_methods:{method}"} == {"ok"}


@pytest.mark.parametrize("executor", ["serial", "local"])
def test_a_plugin_that_ends_its_worker_process_is_a_failed_unit(tmp_path, cache_dir, capsys, plugin, executor):
    code = main([*UNLEARN, "--method", "hostile_methods:EndsProcessInSetup", "--executor", executor,
                 "--out", str(tmp_path / "out"), "--cache-dir", cache_dir])
    out, err = capsys.readouterr()
    assert code == 1, err
    assert "2 run, 0 already present, 1 failed" in out
    (bad,) = [x for x in load_records([tmp_path / "out"]) if x["method"] == "hostile_methods:EndsProcessInSetup"]
    assert bad["error"].startswith("worker process died while running this unit")


def test_sigint_to_the_parent_alone_stops_the_workers_promptly(tmp_path, cache_dir, plugin):
    """The worker sleeps 600 s in a unit; SIGINT to the parent (not its process group) ends the run and
    its workers well before that, with status 130; the run resumes afterwards."""
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "qbench", *UNLEARN, "--method", "hostile_methods:SlowSteps",
                             "--executor", "local", "--workers", "1", "--out", str(out), "--cache-dir", cache_dir],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and len(list((out / "records").glob("*.jsonl"))) < 2:
        time.sleep(0.5)  # finetune and the oracle are written: the slow unit is running
    children = subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True, text=True).stdout.split()
    assert len(list((out / "records").glob("*.jsonl"))) == 2 and children
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err[-2000:]
    assert "interrupted" in err
    deadline = time.monotonic() + 10  # (multiprocessing's resource tracker ends once its parent has)
    alive = [int(p) for p in children]
    while alive and time.monotonic() < deadline:
        alive = [p for p in alive if running(p)]
        time.sleep(0.2)
    for pid in alive:
        os.kill(pid, signal.SIGKILL)
    assert not alive, f"{[Path(f'/proc/{p}/cmdline').read_text() for p in alive]} outlived the interrupted parent"
    assert [f.name for f in (out / "records").iterdir() if not f.name.endswith(".jsonl")] == []


def running(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


# -- environment faults: one line naming the path, nothing half-written, resume works ------------
def test_a_full_disk_is_one_line_naming_the_file_and_resume_works(tmp_path, cache_dir, capsys, monkeypatch):
    import qbench.files

    real = qbench.files.os.fsync

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(qbench.files.os, "fsync", full)
    out = tmp_path / "out"
    assert main([*SMALL, "--alphas", "0,0.5", "--out", str(out), "--cache-dir", cache_dir]) == 2
    line = one_line(capsys.readouterr().err)
    assert line.startswith(f"qbench: error: cannot write {out / 'records'}") and line.endswith("No space left on device")
    assert list((out / "records").iterdir()) == []  # nothing half-written, no temporary file
    monkeypatch.setattr(qbench.files.os, "fsync", real)
    assert main([*SMALL, "--alphas", "0,0.5", "--out", str(out), "--cache-dir", cache_dir]) == 0
    assert "2 run, 0 already present" in capsys.readouterr().out


@pytest.mark.parametrize("executor", ["serial", "local"])
def test_a_file_size_limit_is_one_line_and_status_2(tmp_path, cache_dir, executor):
    """``ulimit -f``: the kernel sends SIGXFSZ on a write past the limit; qbench ignores it, so that the
    write fails with EFBIG and the run says so in one line."""
    import resource

    out = tmp_path / "out"

    def limit():
        resource.setrlimit(resource.RLIMIT_FSIZE, (1024, 1024))  # a record is about 1.5 KB

    r = subprocess.run([sys.executable, "-m", "qbench", *SMALL, "--executor", executor, "--out", str(out),
                        "--cache-dir", cache_dir], capture_output=True, text=True, timeout=300, preexec_fn=limit)
    assert r.returncode == 2, (r.returncode, r.stderr[-3000:])
    line = r.stderr.strip().splitlines()[-1]  # (TensorFlow's autograph may warn that it cannot write its files)
    assert "Traceback" not in r.stderr and "qbench: error:" not in r.stderr.replace(line, "")
    assert line.startswith(f"qbench: error: cannot write {out / 'records'}") and line.endswith("File too large")
    assert [f.name for f in (out / "records").iterdir()] == []


def test_a_cache_directory_that_cannot_be_made_is_one_line_before_any_work(tmp_path, capsys):
    """(A read-only directory would do too, but tests may run as root, which writes anywhere.)"""
    blocker = tmp_path / "cache"
    blocker.write_text("a file where the cache directory should be")
    out = tmp_path / "out"
    code = main([*SMALL, "--no-progress", "--out", str(out), "--cache-dir", str(blocker / "qbench")])
    assert code == 2
    assert one_line(capsys.readouterr().err).endswith(
        f"--cache-dir (or QBENCH_CACHE_DIR) {blocker / 'qbench'}: {blocker} is not a directory")
    assert not out.exists()


# -- bad input, refused when the run is planned ---------------------------------------------------
@pytest.mark.parametrize("argv, needle", [
    (["--set", "scrub.lambda_fo=abc"], "--set scrub.lambda_fo=abc: expected a number (default 0.2)"),
    (["--set", "salun.mask_ratio=abc"], "--set salun.mask_ratio=abc: expected a number (default 0.5)"),
    (["--set", "scrub.lambda_fo=nan"], "--set scrub.lambda_fo=nan: must be a finite number"),
    (["--set", "scrub.lambda_fo=inf"], "--set scrub.lambda_fo=inf: must be a finite number"),
    (["--set", "scrub.kl=3"], "--set scrub.kl=3: expected text (default 'bernoulli')"),
    (["--set", "scrub_alternating.msteps=2.5"], "--set scrub_alternating.msteps=2.5: expected an integer"),
    (["--seeds", "0-100000000000"], "--seeds: at most 10,000 seeds in one run"),
    (["--seeds", "0-3000000"], "--seeds: at most 10,000 seeds in one run, got 3,000,001"),
    (["--seeds", "0,0"], "--seeds: seed 0 is given twice"),
    (["--seeds", "2147483648"], "--seeds expects integers from 0 to 2147483647"),
    (["--seeds", "0,,1"], "--seeds expects a comma-separated list without empty items"),
    (["--alphas", "0.3,,0.5"], "--alphas expects a comma-separated list without empty items"),
    (["--alphas", "0.3,"], "--alphas expects a comma-separated list without empty items"),
])
def test_bad_input_is_refused_when_the_run_is_planned(tmp_path, cache_dir, capsys, argv, needle):
    out = tmp_path / "out"
    code = main(["run", "--suite", "unlearning", "--task", "xxz-4", "--model", "mlp", "--epochs", "1", "--steps", "1",
                 "--method", "scrub", "--method", "salun", "--method", "scrub_alternating", "--no-progress",
                 "--out", str(out), "--cache-dir", cache_dir, *argv])
    assert code == 2
    assert needle in one_line(capsys.readouterr().err)
    assert not out.exists()


def test_the_library_refuses_the_same_seeds(tmp_path):
    import qbench
    from qbench.errors import QbenchError

    with pytest.raises(QbenchError, match="seed 1 is given twice"):
        qbench.run("resilience", seeds=[1, 1], out=tmp_path / "o")
    with pytest.raises(QbenchError, match="at most 10,000 seeds"):
        qbench.run("resilience", seeds=range(10_001), out=tmp_path / "o")
    assert not (tmp_path / "o").exists()


def test_a_damaged_deflate_stream_in_mnist_is_one_line(tmp_path, mnist_dir, capsys):
    d = tmp_path / "mnist"
    d.mkdir()
    for f in Path(mnist_dir).iterdir():
        if f.name.endswith(".gz"):
            (d / f.name).symlink_to(f)
    name = "train-images-idx3-ubyte.gz"
    raw = bytearray((Path(mnist_dir) / name).read_bytes())
    mid = len(raw) // 2
    raw[mid:mid + 64] = bytes(64)  # the header is intact, the deflate stream is not
    (d / name).unlink()
    (d / name).write_bytes(bytes(raw))
    with pytest.raises(Exception):
        gzip.decompress(bytes(raw))  # the damage is real
    code = main(["run", "--suite", "resilience", "--task", "mnist-1v9", "--model", "mlp", "--alphas", "0",
                 "--seeds", "0", "--epochs", "1", "--no-progress", "--data-dir", str(d), "--out", str(tmp_path / "o")])
    assert code == 2
    line = one_line(capsys.readouterr().err)
    assert line.startswith("qbench: error: ") and name in line
    assert not (tmp_path / "o").exists()


# -- verify: code named by records, thread counts -------------------------------------------------
def _records_naming(tmp_path, cache_dir, plugin_dir, capsys) -> Path:
    """A finished unlearning run of a module:attr method (a module only on this test's path)."""
    (plugin_dir / "plain_method.py").write_text(textwrap.dedent('''
        from qbench.methods import UnlearningMethod, mean_bce


        class Plain(UnlearningMethod):
            name = "plain"

            def objective(self, logits_fn, theta, data, hp, step):
                return mean_bce(logits_fn(theta, data["x_retain"]), data["y_retain"])
    '''))
    out = tmp_path / "made"
    code = main(["run", "--suite", "unlearning", "--task", "xxz-4", "--model", "mlp", "--seeds", "0", "--epochs", "1",
                 "--steps", "1", "--no-progress", "--method", "plain_method:Plain", "--out", str(out),
                 "--cache-dir", cache_dir])
    assert code == 0, capsys.readouterr().err
    capsys.readouterr()
    return out


def test_verify_names_the_code_it_imports_and_needs_trust_code_for_a_module_path(tmp_path, cache_dir, capsys, plugin):
    out = _records_naming(tmp_path, cache_dir, plugin, capsys)
    code = main(["verify", str(out), "--cache-dir", cache_dir])
    err = capsys.readouterr().err
    assert code == 2
    line = one_line(err)
    assert "plain_method:Plain" in line and str(plugin / "plain_method.py") in line and "--trust-code" in line
    code = main(["verify", str(out), "--cache-dir", cache_dir, "--trust-code"])
    stdout = capsys.readouterr().out
    assert code == 0, stdout
    first = stdout.splitlines()[0]
    assert first.startswith("verify imports method plain_method:Plain from ") and str(plugin / "plain_method.py") in first


def test_verify_needs_no_trust_for_built_in_code(tmp_path, cache_dir, capsys):
    assert main([*SMALL, "--out", str(tmp_path / "o"), "--cache-dir", cache_dir]) == 0
    capsys.readouterr()
    assert main(["verify", str(tmp_path / "o"), "--cache-dir", cache_dir]) == 0
    assert "imports" not in capsys.readouterr().out


def test_verify_caps_a_records_thread_count_to_the_cores(tmp_path, cache_dir, capsys):
    from qbench.verify import recorded_threads

    rec = {"unit_key": "u", "provenance": {"tf_threads": 3000}}
    assert recorded_threads([rec]) == os.cpu_count()
    assert recorded_threads([{**rec, "provenance": {"tf_threads": 1}}]) == 1
