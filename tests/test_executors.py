"""Executors: a pool of processes and a Dask cluster give the serial executor's records, record for
record (timings and provenance aside); units travel as configs and are rebuilt with the same key."""

import json
from pathlib import Path

import pytest

from qbench.cli import main
from qbench.errors import QbenchError
from qbench.executors import make_batches, make_executor
from qbench.executors.base import Progress
from qbench.executors.local import default_threads
from qbench.experiment import RunContext
from qbench.records import RecordStore
from qbench.runner import run_units
from qbench.scenarios import RunOptions
from qbench.suites import get_suite, list_suites

TIMING = ("wall_s", "train_wall_s", "unit_wall_s", "first_step_s", "setup_s")


def comparable(out: Path) -> dict[str, list[dict]]:
    got = {}
    for f in sorted((out / "records").glob("*.jsonl")):
        recs = [json.loads(line) for line in f.read_text().splitlines()]
        got[f.stem] = [{**{k: v for k, v in r.items() if k not in ("provenance", "poisoned_model")},
                        "metrics": {k: v for k, v in r["metrics"].items() if k not in TIMING}} for r in recs]
    return got


def plan(suite: str, **options):
    s = get_suite(suite)
    opts = RunOptions(**options)
    return s.plan(s.scenarios(opts), opts)


@pytest.fixture(scope="module")
def tiny_units():
    # two groups (mlp, qnn) x 2 alphas: 4 units of a few seconds
    return plan("resilience", tasks=("xxz-4",), corruptions=("label_flip",), alphas=(0.0, 0.3), seeds=(0,), epochs=2)


@pytest.fixture(scope="module")
def serial_run(tiny_units, tmp_path_factory, cache_dir):
    out = tmp_path_factory.mktemp("serial")
    report = run_units(tiny_units, RecordStore(out), RunContext(cache_dir=cache_dir), progress=False)
    assert len(report.done) == 4 and not report.failed
    return comparable(out)


def test_every_suite_rebuilds_its_units_from_their_configs_with_the_same_key():
    for name in list_suites():
        suite = get_suite(name)
        if suite.unit_from_config is None:
            continue
        units = plan(name, tasks=("xxz-4",), quick=True, seeds=(0,))
        assert units, name
        for u in units:
            assert suite.unit_from_config(json.loads(json.dumps(u.config))).key == u.key, (name, u.key)


def test_batches_keep_groups_whole_unless_workers_would_idle(tiny_units):
    # a unit weighs what its model registered (ModelInfo.relative_cost), whatever the model is named
    assert {u.group[1]: u.cost for u in tiny_units} == {"qnn": 10.0, "mlp": 1.0}
    # the QNN group (weight 2 x 10 of 22) is more than a worker's share: its pieces first, then the MLP group
    assert [(b.units[0].group[1], len(b.units)) for b in make_batches(tiny_units, 2)] == [("qnn", 1), ("qnn", 1),
                                                                                          ("mlp", 2)]
    for b in make_batches(tiny_units, 2):
        assert len({u.group for u in b.units}) == 1
    assert [len(b.units) for b in make_batches(tiny_units, 4)] == [1, 1, 1, 1]
    assert [len(b.units) for b in make_batches(tiny_units[:2], 2)] == [1, 1]  # one group, two workers
    assert [len(b.units) for b in make_batches(tiny_units[:2], 1)] == [2]


def test_local_executor_gives_the_serial_records(tiny_units, serial_run, tmp_path, cache_dir):
    with make_executor("local", workers=2) as ex:
        report = run_units(tiny_units, RecordStore(tmp_path), RunContext(cache_dir=cache_dir), progress=False,
                           executor=ex)
    assert len(report.done) == 4 and not report.failed
    assert comparable(tmp_path) == serial_run
    # each record says the thread count its worker ran with (the cores shared out), for `qbench verify`
    counts = {json.loads(line)["provenance"]["tf_threads"]
              for f in (tmp_path / "records").glob("*.jsonl") for line in f.read_text().splitlines()}
    assert counts == {default_threads(2)}


def test_dask_local_cluster_gives_the_serial_records(tiny_units, serial_run, tmp_path, cache_dir):
    pytest.importorskip("distributed")
    with make_executor("dask", workers=2) as ex:
        assert len(ex.client.scheduler_info()["workers"]) == 2
        report = run_units(tiny_units, RecordStore(tmp_path), RunContext(cache_dir=cache_dir), progress=False,
                           executor=ex)
        assert len(report.done) == 4 and not report.failed
        # a second run on the same cluster resumes: nothing left to do
        again = run_units(tiny_units, RecordStore(tmp_path), RunContext(cache_dir=cache_dir), progress=False,
                          executor=ex)
        assert len(again.skipped) == 4 and not again.done
    assert comparable(tmp_path) == serial_run


def test_end_pool_stops_idle_workers_without_their_interpreter_teardown():
    import multiprocessing
    import signal
    from concurrent.futures import ProcessPoolExecutor

    from qbench.executors.local import end_pool

    pool = ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn"))
    assert sorted(pool.map(abs, [-1, -2, -3])) == [1, 2, 3]
    procs = list(pool._processes.values())
    end_pool(pool)
    assert procs and all(p.exitcode == -signal.SIGTERM for p in procs)


def test_progress_counts_done_failed_and_skipped(tiny_units):
    p = Progress(tiny_units[:3], skipped=2, enabled=False)
    p.finish(tiny_units[0].key, "done", final=False)
    p.finish(tiny_units[0].key, "skipped")  # the worker's report corrects what was seen on disk
    p.finish(tiny_units[1].key, "failed")
    assert p.counts() == {"done": 0, "failed": 1, "skipped": 3} and len(p.status) == 2
    p.close()


@pytest.mark.parametrize("argv,needle", [
    (["--executor", "local", "--workers", "0"], "--workers must be >= 1"),
    (["--workers", "2"], "--workers needs --executor local or dask"),
    (["--executor", "local", "--scheduler", "tcp://127.0.0.1:8786"], "--scheduler needs --executor dask"),
    (["--executor", "local", "--threads", "0"], "--threads must be >= 1"),
    (["--executor", "spark"], "invalid choice"),
])
def test_bad_executor_options_are_one_line_status_2_and_write_nothing(capsys, tmp_path, cache_dir, argv, needle):
    out = tmp_path / "out"
    code = main(["run", "--suite", "resilience", "--task", "xxz-4", "--model", "mlp", "--epochs", "1",
                 "--out", str(out), "--cache-dir", cache_dir, *argv])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and needle in err
    assert not out.exists()


def test_make_executor_rejects_unknown_names():
    with pytest.raises(QbenchError, match="unknown executor"):
        make_executor("spark")


def test_long_groups_are_shared_out_among_workers():
    from qbench.executors.base import LONG_GROUP
    from qbench.scenarios import Unit

    def units(group, n):
        return [Unit(f"{group}-{i}", "s", "sc", {}, group=(group,)) for i in range(n)]

    long, short = units("qnn", 2 * LONG_GROUP * 2), units("mlp", 5)
    batches = make_batches(long + short, 2)
    # the long group in two contiguous halves (one per worker), the short one whole, order kept
    assert [(b.units[0].group, len(b.units)) for b in batches] == [(("qnn",), 2 * LONG_GROUP), (("qnn",), 2 * LONG_GROUP),
                                                                   (("mlp",), 5)]
    assert [u.key for b in batches for u in b.units] == [u.key for u in long + short]
    assert [len(b.units) for b in make_batches(long, 1)] == [len(long)]  # one worker: nothing to share


def test_heaviest_batches_start_first_so_two_qnn_groups_do_not_queue_behind_each_other():
    """The quick unlearning tier plans its groups QNN, MLP, QNN, MLP: two workers taking batches in
    that order would start the second QNN group only after the first MLP group."""
    units = plan("unlearning", quick=True, seeds=(0,))
    planned = list(dict.fromkeys(u.group[:2] for u in units))
    batches = make_batches(units, 2)
    assert [b.units[0].group[:2] for b in batches][:2] == [g for g in planned if g[1] == "qnn"]
    assert {b.units[0].group[:2] for b in batches[2:]} == {g for g in planned if g[1] == "mlp"}
    assert sorted(u.key for b in batches for u in b.units) == sorted(u.key for u in units)


@pytest.mark.parametrize("argv,cpus,expected", [
    (["--quick"], 2, ("local", 2)),  # a quick run: one worker per group, up to the cores
    (["--quick"], 8, ("local", 4)),  # 4 groups: unlearning's 2 tasks x 2 models
    (["--quick"], 1, ("serial", None)),
    (["--quick", "--task", "xxz-12", "--model", "qnn"], 2, ("serial", None)),  # one group: nothing to share
    (["--quick", "--executor", "serial"], 2, ("serial", None)),
    (["--quick", "--workers", "3"], 2, ("local", 3)),
    ([], 2, ("serial", None)),  # the protocol run stays serial unless asked
    (["--workers", "2"], 2, ("serial", 2)),  # refused by make_executor: --workers needs --executor
])
def test_a_quick_run_defaults_to_one_local_worker_per_group(monkeypatch, argv, cpus, expected):
    import argparse

    from qbench.cli import build_parser
    from qbench.commands.run import request_from_args
    from qbench.plan import Plan, default_executor

    monkeypatch.setattr("os.cpu_count", lambda: cpus)
    args = build_parser().parse_args(["run", "--suite", "unlearning", *argv])
    opts = {"quick": "--quick" in argv, "seeds": (0,)}
    if "--task" in argv:
        opts.update(tasks=("xxz-12",), models=("qnn",))
    assert isinstance(args, argparse.Namespace)
    units = tuple(plan("unlearning", **opts))
    assert default_executor(request_from_args(args), [Plan(None, units, None, "out")]) == expected


def test_a_group_heavier_than_a_workers_share_is_cut():
    """The quick landscape tier: two QNN units (minutes each) in one group, two MLP units (seconds)."""
    from qbench.scenarios import Unit

    def units(group, n):
        return [Unit(f"{group}-{i}", "s", "sc", {}, group=(group,), cost=10.0 if group == "qnn" else 1.0)
                for i in range(n)]

    qnn, mlp = units("qnn", 2), units("mlp", 2)
    assert [[u.key for u in b.units] for b in make_batches(mlp + qnn, 2)] == [["qnn-0"], ["qnn-1"], ["mlp-0", "mlp-1"]]
    # two QNN groups of equal weight are each a worker's share: kept whole, as before
    two = units("qnn", 3) + [Unit(f"q2-{i}", "s", "sc", {}, group=("qnn", 2), cost=10.0) for i in range(3)]
    assert [len(b.units) for b in make_batches(two + mlp, 2)] == [3, 3, 2]
