"""The sensitivity suite (PROTOCOL 4.7): grid parsing, one poisoned model per seed, one trace per method,
resuming point by point, figures and leaderboard from its records."""

import json
from pathlib import Path

import pytest

from qbench.cli import main
from qbench.errors import QbenchError
from qbench.grids import DEFAULT_GRIDS, QUICK_GRIDS, check_grid, grid_points, parse_grid_args, parse_values
from qbench.methods import method_class


def records(out: Path) -> list[dict]:
    return [json.loads(line) for f in sorted((out / "records").glob("*.jsonl")) for line in f.read_text().splitlines()]


# -- grids -------------------------------------------------------------------------------------------
def test_ranges_are_exact_and_inclusive():
    assert parse_values("0:0.9:0.1") == tuple(i / 10 for i in range(10))
    assert parse_values("0:0.9:0.1")[3] == 0.3  # not 0.30000000000000004
    assert parse_values("0:1:0.3") == (0.0, 0.3, 0.6, 0.9)
    assert parse_values("0.5:0.5:0.1") == (0.5,)
    assert parse_values("1e-3:3e-3:1e-3") == (0.001, 0.002, 0.003)
    assert parse_values("0,0.2,0.5") == (0.0, 0.2, 0.5)
    assert parse_values(" 0.3 ") == (0.3,)
    assert len(parse_values("0:0.99:0.01")) == 100


@pytest.mark.parametrize("spec", ["", "0:0.9:0", "0:0.9:-0.1", "1:0:0.1", "a:1:0.1", "0:1", "0:1:0.1:2",
                                  "0,,1", "0,x", "nan", "0,inf", "0,0.0"])
def test_malformed_values_are_rejected(spec):
    with pytest.raises(QbenchError):
        parse_values(spec)


def test_grid_arguments_and_names():
    g = parse_grid_args(["lambda_kl=0:0.2:0.1", "scrub.lambda_fo=0,0.5", "magnitude_finetune:MagnitudeFinetune.keep=0.1"])
    assert g == {None: {"lambda_kl": (0.0, 0.1, 0.2)}, "scrub": {"lambda_fo": (0.0, 0.5)},
                 "magnitude_finetune:MagnitudeFinetune": {"keep": (0.1,)}}
    for bad in (["lambda_kl"], ["=0,1"], ["scrub.=1"], ["beta=0,1", "beta=2"], ["lambda-kl=1"]):
        with pytest.raises(QbenchError):
            parse_grid_args(bad)
    scrub = method_class("scrub")
    assert check_grid("scrub", scrub, {"lambda_kl": (0.0, 0.5)}) == {"lambda_kl": (0.0, 0.5)}
    with pytest.raises(QbenchError, match="no hyperparameter 'lambda_xx'"):
        check_grid("scrub", scrub, {"lambda_xx": (0.0,)})
    with pytest.raises(QbenchError, match="not numeric"):
        check_grid("scrub", scrub, {"kl": (0.0,)})
    alt = method_class("scrub_alternating")
    assert check_grid("scrub_alternating", alt, {"msteps": (2.0, 5.0)}) == {"msteps": (2, 5)}
    with pytest.raises(QbenchError, match="integer"):
        check_grid("scrub_alternating", alt, {"msteps": (2.5,)})
    assert grid_points({"a": (0, 1), "b": (2, 3)}) == [{"a": 0, "b": 2}, {"a": 0, "b": 3}, {"a": 1, "b": 2}, {"a": 1, "b": 3}]


def test_default_grids_are_the_protocols_and_hold_the_defaults():
    assert DEFAULT_GRIDS["scrub"] == {"lambda_kl": tuple(i / 10 for i in range(10)), "lambda_fo": tuple(i / 10 for i in range(10))}
    assert len(grid_points(DEFAULT_GRIDS["scrub"])) == 100 and len(grid_points(DEFAULT_GRIDS["gradient_ascent"])) == 10
    for name, grid in {**DEFAULT_GRIDS, **QUICK_GRIDS}.items():
        cls = method_class(name)
        check_grid(name, cls, grid)
        default = cls.Hyperparameters()
        assert all(getattr(default, k) in v for k, v in grid.items())  # the default point is on every grid


# -- the suite through the CLI -------------------------------------------------------------------------
BASE = ["run", "--suite", "sensitivity", "--task", "xxz-4", "--model", "mlp", "--epochs", "2", "--steps", "3",
        "--seeds", "0", "--no-progress"]


@pytest.mark.parametrize("extra, message", [
    (["--method", "scrub", "--grid", "lambda_xx=0,1"], "no hyperparameter 'lambda_xx'"),
    (["--method", "scrub", "--grid", "kl=0,1"], "not numeric"),
    (["--method", "scrub", "--grid", "lambda_kl=0:0.9:0"], "step"),
    (["--method", "scrub", "--grid", "lambda_kl=0.9:0:0.1"], "below its start"),
    (["--method", "scrub", "--grid", "lambda_kl=a:b:c"], "not a number"),
    (["--method", "scrub", "--method", "gradient_ascent", "--grid", "beta=0,1"], "exactly one --method"),
    (["--method", "scrub", "--grid", "gradient_ascent.beta=0,1"], "not among"),
    (["--method", "finetune"], "no default grid"),
    (["--method", "scrub", "--grid", "lambda_kl=0,1", "--set", "scrub.lambda_kl=0.5"], "both"),
    (["--method", "nope", "--grid", "beta=0,1"], "unknown unlearning method"),
])
def test_bad_grids_exit_2_and_write_nothing(tmp_path, cache_dir, capsys, extra, message):
    out = tmp_path / "out"
    code = main([*BASE, "--out", str(out), "--cache-dir", cache_dir, *extra])
    err = capsys.readouterr().err
    assert code == 2
    assert message in err and err.count("\n") == 1
    assert not out.exists()


def test_grid_is_refused_outside_the_sensitivity_suite(tmp_path, cache_dir, capsys):
    out = tmp_path / "out"
    code = main(["run", "--suite", "unlearning", "--task", "xxz-4", "--grid", "beta=0,1", "--out", str(out),
                 "--cache-dir", cache_dir, "--no-progress"])
    assert code == 2 and "--grid applies to --suite sensitivity" in capsys.readouterr().err
    assert not out.exists()


def test_two_by_two_grid_trains_one_poisoned_model_and_traces_one_step(tmp_path, cache_dir, capsys, monkeypatch):
    import qbench.suites.unlearning as unl
    from qbench.artifacts import clear_memory
    from qbench.training import compiled

    clear_memory()  # no poisoned model from another test's process memory
    calls = []
    real = unl.train_corrupted
    monkeypatch.setattr(unl, "train_corrupted", lambda spec, ctx: calls.append(spec) or real(spec, ctx))
    out = tmp_path / "sens"
    # in this process (no step watchdog worker): the test counts trainings and traces here
    args = [*BASE, "--out", str(out), "--cache-dir", cache_dir, "--method", "scrub", "--step-budget", "off",
            "--grid", "lambda_kl=0:0.5:0.5", "--grid", "lambda_fo=0.1,0.3"]
    code = main(args)
    text = capsys.readouterr().out
    assert code == 0 and "4 run, 0 already present" in text
    recs = records(out)
    assert len(recs) == 4 and all(r["status"] == "ok" and r["suite"] == "sensitivity" for r in recs)
    points = {(r["config"]["method_hyperparameters"]["lambda_kl"], r["config"]["method_hyperparameters"]["lambda_fo"])
              for r in recs}
    assert points == {(0.0, 0.1), (0.0, 0.3), (0.5, 0.1), (0.5, 0.3)}
    for r in recs:
        hp = r["config"]["method_hyperparameters"]
        # the swept values that leave the method's defaults (lambda_kl 0, lambda_fo 0.2), by name: derived from
        # the config alone, so a serial run, a worker and `qbench verify` record the same
        moved = [k for k in ("lambda_fo", "lambda_kl") if hp[k] != {"lambda_kl": 0.0, "lambda_fo": 0.2}[k]]
        assert r["grid"]["params"] == moved and "lambda_fo" in moved
        assert r["grid"]["point"] == {k: hp[k] for k in moved}
        assert hp["lambda_ce"] == 1.0 and hp["kl"] == "bernoulli"
        m = r["metrics"]
        assert r["step"] == 3 and len(m["val_acc_steps"]) == 4 and m["val_acc_steps"][-1] == m["val_acc"]
        assert len(m["forget_acc_steps"]) == 4 and 0 <= m["forget_acc"] <= 1
    assert len({r["scenario"] for r in recs}) == 4  # distinct key fields: never duplicates of each other
    assert len({r["metrics"]["val_acc_0"] for r in recs}) == 1  # all start from the same poisoned model
    # the poisoned model: trained once (not per grid point), kept under OUT/models
    assert len(calls) == 1 and len(list((out / "models").glob("*.npz"))) == 1
    # one compiled step for the whole grid: the hyperparameters are tensors, nothing retraced
    # (scrub is a built-in: its step is the shared one of every built-in method, qbench.training.generic_objective)
    names = [name for (name, *_) in compiled._CACHE if name.startswith("unlearn:")]
    generic = [fn for (name, *_), fn in compiled._CACHE.items() if name == "unlearn:generic"]
    assert generic and not [n for n in names if "Scrub" in n]
    assert all(fn.experimental_get_tracing_count() == 1 for fn in generic)

    # resuming: nothing left to do; a refined grid runs only its new points, without training again
    assert main(args) == 0 and "0 run, 4 already present" in capsys.readouterr().out
    clear_memory()
    more = [a if a != "lambda_kl=0:0.5:0.5" else "lambda_kl=0,0.25,0.5" for a in args]
    assert main(more) == 0 and "2 run, 4 already present" in capsys.readouterr().out
    assert len(calls) == 1  # read back from OUT/models

    # figures and leaderboard from these records
    from qbench.report.figures import make_figures
    from qbench.report.leaderboard import load_results, render_block

    recs = load_results([str(out)])
    written = make_figures(recs, str(tmp_path / "fig"), log=lambda s: None)
    assert [Path(p).name for p in written] == ["sensitivity_xxz-4_mlp_scrub.png"]
    assert Path(written[0]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    block = render_block(recs)
    assert "Method sensitivity (PROTOCOL 4.7)" in block and "`scrub`" in block and "lambda_fo, lambda_kl" in block  # as committed
    assert "not on the grid" in block  # the default (lambda_fo 0.2) is not a point of this grid


def test_one_parameter_sweep_draws_a_curve_and_reports_the_default(tmp_path, cache_dir, capsys):
    out = tmp_path / "ga"
    code = main([*BASE, "--seeds", "0,1", "--out", str(out), "--cache-dir", cache_dir, "--method", "gradient_ascent",
                 "--grid", "beta=0,0.2"])
    capsys.readouterr()
    assert code == 0
    from qbench.report.figures import make_figures
    from qbench.report.leaderboard import load_results, render_block
    from qbench.report.sweeps import sweeps

    recs = load_results([str(out)])
    (sw,) = sweeps(recs)
    assert sw.params == ["beta"] and sw.values == {"beta": [0.0, 0.2]} and sw.default == (0.2,) and sw.seeds == {0, 1}
    assert all(s["val_acc"].n == 2 for s in sw.cells.values())
    assert [Path(p).name for p in make_figures(recs, str(tmp_path / "fig"), log=lambda s: None)] == [
        "sensitivity_xxz-4_mlp_gradient_ascent.png"]
    assert "| beta=0.2" in render_block(recs).replace("  ", " ")


def test_verify_rebuilds_a_sensitivity_unit(tmp_path, cache_dir, capsys):
    from qbench.verify import verify

    out = tmp_path / "v"
    assert main([*BASE, "--out", str(out), "--cache-dir", cache_dir, "--method", "gradient_ascent",
                 "--grid", "beta=0.5"]) == 0
    capsys.readouterr()
    report = verify([str(out)], cache_dir=cache_dir, log=lambda s: None)
    assert report.ok and len(report.units_checked) == 1
