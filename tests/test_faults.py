"""Faults: a run killed at any moment resumes to the uninterrupted result; a unit that raises or a
worker process that dies is a failed unit, the sweep goes on, and the exit status is 1."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from qbench.cli import main
from qbench.records import RecordStore, load_records

ROOT = Path(__file__).resolve().parents[1]
TIMING = ("wall_s", "train_wall_s", "unit_wall_s", "first_step_s", "setup_s")

SWEEP = ["run", "--suite", "resilience", "--task", "xxz-4", "--model", "mlp", "--corruption", "label_flip",
         "--alphas", "0,0.2,0.4,0.6", "--seeds", "0,1", "--epochs", "60", "--no-progress"]

PLUGIN = textwrap.dedent('''
    import os

    from qbench.methods import UnlearningMethod, mean_bce


    class Raises(UnlearningMethod):
        name = "raises"

        def objective(self, logits_fn, theta, data, hp, step):
            raise RuntimeError("deliberate failure in the objective")


    class DiesInWorker(UnlearningMethod):
        """Kills its process, but only inside a worker of --executor local/dask (QBENCH_WORKER set)."""

        name = "dies_in_worker"

        def objective(self, logits_fn, theta, data, hp, step):
            if os.environ.get("QBENCH_WORKER"):
                os._exit(1)
            return mean_bce(logits_fn(theta, data["x_retain"]), data["y_retain"])


    class SleepsForever(UnlearningMethod):
        """Step 0 runs; from step 1 on, the step sleeps (inside TensorFlow's runtime, as a hung kernel would)."""

        name = "sleeps_forever"

        def objective(self, logits_fn, theta, data, hp, step):
            import time

            import numpy as np
            import tensorflow as tf

            def nap(s):
                if int(s) >= 1:
                    time.sleep(10**6)
                return np.float32(0.0)

            zero = tf.py_function(nap, [step], tf.float32)
            return mean_bce(logits_fn(theta, data["x_retain"]), data["y_retain"]) + 0.0 * zero
''')


def comparable(out: Path) -> dict[str, list[dict]]:
    """unit key -> its records without timing metrics and provenance; every line must parse."""
    got = {}
    for f in sorted((out / "records").glob("*.jsonl")):
        lines = f.read_text().splitlines()
        recs = [json.loads(line) for line in lines]
        assert recs and all(r["unit_key"] == f.stem for r in recs), f
        got[f.stem] = [{**{k: v for k, v in r.items() if k != "provenance"},
                        "metrics": {k: v for k, v in r["metrics"].items() if k not in TIMING}} for r in recs]
    return got


def cli_env(cache_dir: str, **extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QBENCH_WORKER")}
    env.update({"QBENCH_CACHE_DIR": cache_dir, "TF_CPP_MIN_LOG_LEVEL": "2", **extra})
    return env


def dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_kill_at_any_moment_then_resume_gives_the_uninterrupted_records(tmp_path, cache_dir, capsys):
    ref, out = tmp_path / "reference", tmp_path / "killed"
    assert main([*SWEEP, "--out", str(ref), "--cache-dir", cache_dir]) == 0
    capsys.readouterr()
    expected = comparable(ref)
    assert len(expected) == 8

    cmd = [sys.executable, "-m", "qbench", *SWEEP, "--out", str(out)]
    proc = subprocess.Popen(cmd, env=cli_env(cache_dir), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 240
    while not list((out / "records").glob("*.jsonl")):
        assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
        assert time.monotonic() < deadline
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    proc.stderr.close()
    partial = comparable(out)  # whatever the kill left: whole units only
    assert 1 <= len(partial) < 8, "the run ended before it could be killed: make its units slower"
    assert all(expected[k] == v for k, v in partial.items())
    # what a kill in the middle of a write leaves behind: a temporary file of a dead process
    from qbench.records.store import tmp_prefix

    host = tmp_prefix("x").split("~")[1]
    stale = out / "records" / f".{next(iter(expected))}~{host}~{dead_pid()}~abc123.tmp"
    stale.write_text('{"truncated": ')
    assert len(load_records([out])) == len(partial)  # the loader ignores it

    again = subprocess.run(cmd, env=cli_env(cache_dir), capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr[-2000:]
    assert f"{8 - len(partial)} run, {len(partial)} already present, 0 failed" in again.stdout
    assert comparable(out) == expected  # same unit keys, same metrics, no duplicates
    assert not stale.exists()
    assert not [f for f in (out / "records").iterdir() if not f.name.endswith(".jsonl")]
    assert len(load_records([out])) == 8


def test_a_unit_that_raises_is_recorded_with_its_traceback_and_the_sweep_goes_on(tmp_path, cache_dir, capsys,
                                                                                 monkeypatch):
    import qbench.suites.resilience as resilience

    real = resilience.train_corrupted

    def flaky(spec, ctx):
        if spec.alpha == 0.3:
            raise ValueError("injected failure at alpha 0.3")
        return real(spec, ctx)

    monkeypatch.setattr(resilience, "train_corrupted", flaky)
    code = main(["run", "--suite", "resilience", "--task", "xxz-4", "--model", "mlp", "--corruption", "label_flip",
                 "--alphas", "0,0.3,0.6", "--seeds", "0", "--epochs", "2", "--no-progress",
                 "--out", str(tmp_path), "--cache-dir", cache_dir])
    out, err = capsys.readouterr()
    assert code == 1
    assert "2 run, 0 already present, 1 failed" in out and "failed: resilience-xxz-4-mlp-label_flip-a0.3" in err
    recs = {r["alpha"]: r for r in load_records([tmp_path])}
    assert recs[0.0]["status"] == recs[0.6]["status"] == "ok"
    failed = recs[0.3]
    assert failed["status"] == "failed" and failed["error"] == "ValueError: injected failure at alpha 0.3"
    assert "in flaky" in failed["traceback"] and "raise ValueError" in failed["traceback"]
    # a failed unit is a result: a re-run skips it (``--force`` redoes it)
    assert main(["run", "--suite", "resilience", "--task", "xxz-4", "--model", "mlp", "--corruption", "label_flip",
                 "--alphas", "0,0.3,0.6", "--seeds", "0", "--epochs", "2", "--no-progress",
                 "--out", str(tmp_path), "--cache-dir", cache_dir]) == 0
    assert "0 run, 3 already present" in capsys.readouterr().out
    # --retry-failed re-runs the failed unit only, keeping its failed record beside the new one
    monkeypatch.setattr(resilience, "train_corrupted", real)
    ok_files = {p.name: p.read_bytes() for p in (tmp_path / "records").glob("*.jsonl") if "-a0.3-" not in p.name}
    assert main(["run", "--suite", "resilience", "--task", "xxz-4", "--model", "mlp", "--corruption", "label_flip",
                 "--alphas", "0,0.3,0.6", "--seeds", "0", "--epochs", "2", "--no-progress", "--retry-failed",
                 "--out", str(tmp_path), "--cache-dir", cache_dir]) == 0
    out, err = capsys.readouterr()
    assert "1 run, 2 already present, 0 failed" in out
    assert "failed earlier (ValueError: injected failure at alpha 0.3)" in err and len(err.strip().splitlines()) == 1
    recs = {r["alpha"]: r for r in load_records([tmp_path])}
    assert all(r["status"] == "ok" for r in recs.values()) and len(recs) == 3
    (kept,) = (tmp_path / "records").glob("*-a0.3-*.jsonl.failed-*")
    assert '"status": "failed"' in kept.read_text() and "injected failure at alpha 0.3" in kept.read_text()
    assert {p.name: p.read_bytes() for p in (tmp_path / "records").glob("*.jsonl") if "-a0.3-" not in p.name} == ok_files


@pytest.fixture
def plugin(tmp_path, monkeypatch):
    d = tmp_path / "plugins"
    d.mkdir()
    (d / "faulty_methods.py").write_text(PLUGIN)
    monkeypatch.syspath_prepend(str(d))
    return d


UNLEARN = ["run", "--suite", "unlearning", "--task", "xxz-4", "--model", "mlp", "--seeds", "0", "--epochs", "2",
           "--steps", "2", "--no-progress", "--method", "finetune"]


def test_a_plugin_method_that_raises_fails_its_unit_only(tmp_path, cache_dir, capsys, plugin):
    code = main([*UNLEARN, "--method", "faulty_methods:Raises", "--method", "retrain",
                 "--out", str(tmp_path / "out"), "--cache-dir", cache_dir])
    out, err = capsys.readouterr()
    assert code == 1
    assert "3 run, 0 already present, 1 failed" in out  # the methods and the oracle
    recs = load_records([tmp_path / "out"])
    bad = [r for r in recs if r["method"] == "faulty_methods:Raises"]
    assert [r["status"] for r in bad] == ["ok", "failed"]  # step 0 measured, then the failure
    assert "RuntimeError: deliberate failure in the objective" in bad[-1]["error"]
    assert {r["status"] for r in recs if r["method"] in ("finetune", "retrain")} == {"ok"}


def test_a_worker_process_that_dies_is_a_failed_unit_and_the_sweep_goes_on(tmp_path, cache_dir, capsys, plugin):
    out_dir = tmp_path / "out"
    code = main([*UNLEARN, "--method", "faulty_methods:DiesInWorker", "--method", "retrain",
                 "--executor", "local", "--workers", "2", "--out", str(out_dir), "--cache-dir", cache_dir])
    out, err = capsys.readouterr()
    assert code == 1, err
    assert "3 run, 0 already present, 1 failed" in out  # the methods and the oracle
    recs = load_records([out_dir])
    dead = [r for r in recs if r["method"] == "faulty_methods:DiesInWorker"]
    assert len(dead) == 1 and dead[0]["status"] == "failed"
    assert dead[0]["error"] == "worker process died while running this unit (exit code 1)"
    ok = [r for r in recs if r["method"] in ("finetune", "retrain")]
    assert {r["status"] for r in ok} == {"ok"} and {r["method"] for r in ok} == {"finetune", "retrain"}
    assert [f.name for f in (out_dir / "records").iterdir() if not f.name.endswith(".jsonl")] == []


def test_two_processes_running_the_same_command_write_each_unit_once(tmp_path, cache_dir):
    out = tmp_path / "shared"
    argv = ["run", "--suite", "resilience", "--task", "xxz-4", "--model", "mlp", "--corruption", "label_flip",
            "--alphas", "0,0.3", "--seeds", "0,1", "--epochs", "20", "--no-progress", "--out", str(out)]
    procs = [subprocess.Popen([sys.executable, "-m", "qbench", *argv], env=cli_env(cache_dir),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [r[1][-1000:] for r in results]
    run = sum(int(r[0].split(" run, ")[0].rsplit("\n", 1)[-1]) for r in results)
    assert run == 4  # a unit the other process published first counts as already present, not run
    got = comparable(out)
    assert len(got) == 4 and all(len(v) == 1 for v in got.values())
    assert len(load_records([out])) == 4


def test_write_unit_never_replaces_a_file_another_writer_published(tmp_path):
    from qbench.records.build import new_record

    store = RecordStore(tmp_path)
    rec = lambda v: new_record(suite="s", scenario="sc", unit_key="u-1", config={}, metrics={"val_acc": v},  # noqa: E731
                               task="t", model="m", model_size="", corruption=None, alpha=None, seed=0)
    assert store.write_unit("u-1", [rec(0.5)], overwrite=False) == store.path("u-1")
    assert store.write_unit("u-1", [rec(0.9)], overwrite=False) is None
    assert [r["metrics"]["val_acc"] for r in store.load()] == [0.5]
    store.write_unit("u-1", [rec(0.9)], overwrite=True)  # --force
    assert [r["metrics"]["val_acc"] for r in store.load()] == [0.9]
    assert sorted(f.name for f in store.records_dir.iterdir()) == ["u-1.jsonl"]


def test_stale_temporary_files_are_ignored_and_cleaned_but_live_ones_kept(tmp_path):
    from qbench.records.store import clean_stale_tmp, tmp_prefix

    d = tmp_path / "records"
    d.mkdir()
    host = tmp_prefix("x").split("~")[1]
    dead = d / f".u-1~{host}~{dead_pid()}~zz.tmp"
    live = d / f"{tmp_prefix('u-2')}yy.tmp"  # this process: a write in progress
    other_host_old = d / ".u-3~elsewhere~12~ww.tmp"
    other_host_new = d / ".u-4~elsewhere~12~vv.tmp"
    for f in (dead, live, other_host_old, other_host_new):
        f.write_text("{")
    os.utime(other_host_old, (time.time() - 2 * 86400,) * 2)
    assert load_records([tmp_path]) == []
    assert sorted(p.name for p in clean_stale_tmp(d)) == sorted([dead.name, other_host_old.name])
    assert live.exists() and other_host_new.exists()


def test_the_same_unit_in_two_processes_gives_identical_metrics(tmp_path, cache_dir):
    """A QNN unit run twice, each in a fresh process: every metric but timings agrees exactly."""
    argv = ["run", "--suite", "resilience", "--task", "xxz-4", "--model", "qnn", "--corruption", "label_flip",
            "--alphas", "0.3", "--seeds", "1", "--epochs", "2", "--no-progress"]
    procs = [subprocess.Popen([sys.executable, "-m", "qbench", *argv, "--out", str(tmp_path / f"p{i}")],
                              env=cli_env(cache_dir), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for i in range(2)]
    results = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [r[1][-1000:] for r in results]
    a, b = comparable(tmp_path / "p0"), comparable(tmp_path / "p1")
    assert len(a) == 1 and a == b
    assert set(next(iter(a.values()))[0]["metrics"]) >= {"train_acc", "val_acc", "final_loss"}


@pytest.mark.parametrize("executor", ["serial", "local"])
def test_a_step_that_sleeps_forever_is_stopped_within_budget_and_the_sweep_goes_on(tmp_path, cache_dir, capsys,
                                                                                  plugin, executor):
    out_dir, budget = tmp_path / "out", 3.0
    start = time.monotonic()
    code = main([*UNLEARN, "--method", "faulty_methods:SleepsForever", "--method", "retrain", "--executor", executor,
                 "--step-budget", f"{budget:g}", "--out", str(out_dir), "--cache-dir", cache_dir])
    wall = time.monotonic() - start
    out, err = capsys.readouterr()
    assert code == 1, err
    assert "3 run, 0 already present, 1 failed" in out  # the methods and the oracle
    assert "failed: unlearning-xxz-4-mlp-a0.3-s0-faulty_methods_SleepsForever-" in err
    recs = load_records([out_dir])
    hung = [r for r in recs if r["method"] == "faulty_methods:SleepsForever"]
    assert len(hung) == 1 and hung[0]["status"] == "failed"
    assert hung[0]["error"].startswith("step over budget: 3 s (step 1 stopped after ")
    stopped_after = float(hung[0]["error"].split("stopped after ")[1].split(" s")[0])
    assert budget <= stopped_after < budget + 3
    ok = [r for r in recs if r["method"] in ("finetune", "retrain")]
    assert {r["status"] for r in ok} == {"ok"} and {r["method"] for r in ok} == {"finetune", "retrain"}
    assert wall < 120  # the sleeper never returns: the run ended because its worker was stopped


def test_step_budget_must_be_positive_or_off(tmp_path, cache_dir, capsys):
    for bad in ("0", "-1", "soon", "inf"):
        assert main([*UNLEARN, "--step-budget", bad, "--out", str(tmp_path / "o"), "--cache-dir", cache_dir]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "--step-budget expects a positive number of seconds or 'off'" in err
    assert not (tmp_path / "o").exists()


def test_empty_or_unparsable_unit_files_are_moved_aside_and_run_again(tmp_path, cache_dir, capsys):
    from qbench.errors import QbenchError

    argv = ["run", "--suite", "resilience", "--task", "xxz-4", "--model", "mlp", "--corruption", "label_flip",
            "--alphas", "0,0.3,0.6", "--seeds", "0", "--epochs", "2", "--no-progress",
            "--out", str(tmp_path), "--cache-dir", cache_dir]
    assert main(argv) == 0
    capsys.readouterr()
    expected = comparable(tmp_path)
    empty, garbled, good = sorted((tmp_path / "records").glob("*.jsonl"))
    empty.write_bytes(b"")
    garbled.write_text(garbled.read_text()[:40] + "\n")
    # a loader names the bad file (and the line)
    with pytest.raises(QbenchError, match=f"{empty}:1: empty record file"):
        load_records([tmp_path])
    empty.unlink()
    with pytest.raises(QbenchError, match=f"{garbled}:1: not valid JSON"):
        load_records([tmp_path])
    empty.write_bytes(b"")

    assert main(argv) == 0
    out, err = capsys.readouterr()
    assert "2 run, 1 already present, 0 failed" in out
    lines = err.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith(f"qbench: {empty}: empty unit file; moved to {empty.name}.bad-")
    assert lines[1].startswith(f"qbench: {garbled}:1: not valid JSON") and f"moved to {garbled.name}.bad-" in lines[1]
    assert lines[0].endswith("the unit runs again") and lines[1].endswith("the unit runs again")
    assert comparable(tmp_path) == expected
    aside = sorted(f.name for f in (tmp_path / "records").iterdir() if ".bad-" in f.name)
    assert [n.split(".bad-")[0] for n in aside] == [empty.name, garbled.name]
    assert (tmp_path / "records" / aside[0]).stat().st_size == 0  # kept as it was, for a look
    assert len(load_records([tmp_path])) == 3  # loaders do not read the set-aside files
    assert good.exists()


PARENT = """
import os, sys, time
from concurrent.futures import ProcessPoolExecutor
import multiprocessing
from qbench.executors.worker import configure_worker

if __name__ == "__main__":
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"), initializer=configure_worker,
                             initargs=(None, sys.argv[1])) as pool:
        print(pool.submit(os.getpid).result(), flush=True)
        time.sleep(600)
"""


@pytest.mark.parametrize("kind", ["local", "verify"])
def test_a_worker_ends_when_its_parent_is_killed(tmp_path, kind):
    script = tmp_path / "parent.py"
    script.write_text(PARENT)
    proc = subprocess.Popen([sys.executable, str(script), kind], stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    worker = int(proc.stdout.readline())
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            os.kill(worker, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    os.kill(worker, signal.SIGKILL)
    pytest.fail(f"the {kind} worker outlived its killed parent")
