"""Leaderboard and figures from records: validation, marker block, determinism, statistics, PNGs."""

import copy
import functools
import json
import math
import random
from pathlib import Path

import pytest

from qbench.cli import main
from qbench.records.build import new_record, unit_key
from qbench.report import leaderboard as L
from qbench.report.stats import Stat, fmt_ci, rank_groups
from qbench.report.suites.resilience import max_alpha_within


def run_cli(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


# -- synthetic records ------------------------------------------------------------------------------
# Records with a minimal config (task xxz-4, not a registered scenario) are not the protocol's: the
# table builders take them, the leaderboard command only with --allow-nonprotocol. ``conform=True``
# gives a registered scenario's config at protocol defaults, as `qbench run` without options writes.
@functools.lru_cache(maxsize=None)
def _planned(suite, scenario):
    from qbench.report.conformance import protocol_configs

    return protocol_configs(suite, scenario)


def protocol_config(suite, scenario, alpha, seed, known_fraction=None):
    return copy.deepcopy(_planned(suite, scenario)[(alpha, seed, known_fraction)])


def unlearning_unit(method, seed, curve, *, task="xxz-4", model="qnn", forget=None, wall=0.5, steps=None,
                    protocol=None, status_fail=None, hp=None, conform=False, config=None):
    if conform or config:  # the config's steps (the protocol's 50): the curve holds its last value to the end
        config = copy.deepcopy(config) if config else protocol_config("unlearning", f"unlearning/{task}/{model}", 0.3, seed)
        config.update(method=method, method_hyperparameters=hp or {})
        conform, steps = True, config["steps"]
        curve = list(curve) + [curve[-1]] * (steps + 1 - len(curve))
    steps = len(curve) - 1 if steps is None else steps
    config = config if conform else {
        "suite": "unlearning", "scenario": f"unlearning/{task}/{model}", "task": task, "model": model,
        "method": method, "steps": steps, "seed": seed, "method_hyperparameters": hp or {},
        "protocol_version": protocol or "1", "poisoned": {"seed": seed, "epochs": 2}}
    key = unit_key(f"unlearning-{task}-{model}-s{seed}-{method}", config)
    recs = []
    for step, v in enumerate(curve):
        recs.append(new_record(
            suite="unlearning", scenario=config["scenario"], unit_key=key, config=config, task=task, model=model,
            model_size="n4-d4", corruption="label_flip", alpha=0.3, seed=seed, method=method, step=step,
            metrics={"val_acc": v, "forget_acc": (forget if forget is not None else 1 - v),
                     "forget_clean_acc": v, "retain_acc": v, "wall_s": wall * step}))
    if status_fail:
        recs.append(new_record(
            suite="unlearning", scenario=config["scenario"], unit_key=key, config=config, task=task, model=model,
            model_size="n4-d4", corruption="label_flip", alpha=0.3, seed=seed, method=method, step=len(curve),
            metrics={}, status="failed", error=status_fail))
    if protocol:
        for r in recs:
            r["protocol_version"] = protocol
    return recs


def sweep_record(suite, model, corruption, alpha, seed, val, train=None, size="64x16", task="xxz-4", status="ok",
                 conform=False):
    if conform:
        variant = f"{model}-{size}" if suite == "capacity" else model
        config = protocol_config(suite, f"{suite}/{task}/{variant}/{corruption}", alpha, seed)
    else:
        config = {"suite": suite, "scenario": f"{suite}/{task}/{model}/{corruption}", "task": task, "model": model,
                  "model_size": size, "corruption": corruption, "alpha": alpha, "seed": seed, "epochs": 2}
    key = unit_key(f"{suite}-{task}-{model}-{size}-{corruption}-a{alpha:g}-s{seed}", config)
    return new_record(suite=suite, scenario=config["scenario"], unit_key=key, config=config, task=task, model=model,
                      model_size=size, corruption=corruption, alpha=alpha, seed=seed, status=status,
                      metrics={} if status == "failed" else {"train_acc": train if train is not None else val,
                                                             "val_acc": val, "wall_s": 1.0},
                      error="boom" if status == "failed" else None)


def landscape_records(model, seed, traces, task="mnist-1v9", collapsed=(), conform=False):
    alphas = (0.0, 0.2, 0.3, 0.4)
    config = protocol_config("landscape", f"landscape/{task}/{model}", None, seed) if conform else {
        "suite": "landscape", "scenario": f"landscape/{task}/{model}", "task": task, "model": model,
        "seed": seed, "alphas": list(alphas)}
    key = unit_key(f"landscape-{task}-{model}-s{seed}", config)
    return [new_record(suite="landscape", scenario=config["scenario"], unit_key=key, config=config, task=task,
                       model=model, model_size="n10-d6" if model == "qnn" else "16x4", corruption="label_flip",
                       alpha=a, seed=seed,
                       metrics={"hessian_trace": t, "lrr": t / traces[0], "eig_top": [t / 2, t / 3, t / 4],
                                "eig_bottom": [-0.1, 0.0, 0.01], "collapsed": a in collapsed, "wall_s": 3.0})
            for a, t in zip(alphas, traces)]


def write_records(directory: Path, records, shuffle_seed=None):
    """One file per unit, like a RecordStore; optionally in a shuffled order inside each file."""
    by_unit = {}
    for r in records:
        by_unit.setdefault(r["unit_key"], []).append(r)
    (directory / "records").mkdir(parents=True, exist_ok=True)
    for key, recs in by_unit.items():
        if shuffle_seed is not None:
            recs = list(recs)
            random.Random(shuffle_seed).shuffle(recs)
        (directory / "records" / f"{key}.jsonl").write_text("".join(json.dumps(r, sort_keys=True) + "\n" for r in recs))


def all_suites_records(conform=True):
    """Every suite's records on a protocol task, with the protocol's configs (``conform``) or not."""
    task, recs = ("xxz-12" if conform else "xxz-4"), []
    for seed, bump in ((0, 0.0), (1, 0.02), (2, -0.01)):
        recs += unlearning_unit("retrain", seed, [0.5, 0.7, 0.8 + bump], task=task, conform=conform)
        recs += unlearning_unit("finetune", seed, [0.75, 0.8, 0.85 + bump], task=task, conform=conform)
        recs += unlearning_unit("scrub", seed, [0.75, 0.78, 0.79 + bump], task=task, conform=conform)
        for model in ("mlp", "qnn"):
            for corr in ("label_flip", "feature_randomization"):
                for alpha, val in ((0.0, 0.95), (0.3, 0.92), (0.6, 0.6)):
                    recs.append(sweep_record("resilience", model, corr, alpha, seed, val + bump, train=val - 0.1,
                                             task=task, conform=conform))
        for size in ("8x2", "64x16"):
            for alpha, val in ((0.0, 0.95), (0.5, 0.7)):
                recs.append(sweep_record("capacity", "mlp", "label_flip", alpha, seed, val + bump, size=size,
                                         task=task, conform=conform))
        recs += landscape_records("qnn", seed, [1.0 + bump, 1.1, 1.3, 1.2], conform=conform)
        recs += landscape_records("mlp", seed, [2.0, 4.0 + bump, 6.0, 9.0], conform=conform)
    return recs


@pytest.fixture
def results(tmp_path):
    d = tmp_path / "results"
    write_records(d / "all", all_suites_records())
    return d


# -- loading and validation -------------------------------------------------------------------------
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


# -- the marker block -------------------------------------------------------------------------------
def test_rewrite_keeps_text_around_the_markers(capsys, tmp_path, results):
    out = tmp_path / "README.md"
    before, after = "# Title\n\nHand-written intro ✓\n\n", "\n\n## Notes\n\nkept as is\n"
    out.write_text(before + L.START + "\nstale table\n" + L.END + after)
    code, stdout, _ = run_cli(capsys, "leaderboard", "--results", results, "--output", out)
    assert code == 0 and "updated" in stdout
    text = out.read_text()
    assert text.startswith(before + L.START) and text.endswith(L.END + after)
    assert "stale table" not in text
    assert "#### xxz-12 · qnn (protocol 2)" in text and "| rank" in text


def test_missing_markers_is_an_error(capsys, tmp_path, results):
    out = tmp_path / "README.md"
    out.write_text("no markers here\n")
    code, _, err = run_cli(capsys, "leaderboard", "--results", results, "--output", out)
    assert code == 2 and "marker" in err
    assert out.read_text() == "no markers here\n"


def test_missing_output_starts_from_a_skeleton(capsys, tmp_path, results):
    out = tmp_path / "sub" / "README.md"
    assert run_cli(capsys, "leaderboard", "--results", results, "--output", out)[0] == 0
    assert out.read_text().count(L.START) == 1


def test_generation_is_deterministic(capsys, tmp_path, results):
    a, b = tmp_path / "a.md", tmp_path / "b.md"
    run_cli(capsys, "leaderboard", "--results", results, "--output", a)
    run_cli(capsys, "leaderboard", "--results", results, "--output", b)
    assert a.read_bytes() == b.read_bytes()
    # the same records in other files and another order give the same bytes
    other = tmp_path / "other"
    recs = all_suites_records()
    random.Random(3).shuffle(recs)
    write_records(other / "x", recs, shuffle_seed=5)
    c = tmp_path / "c.md"
    run_cli(capsys, "leaderboard", "--results", other, "--output", c)
    # provenance is identical too: same qbench version and revision in this process; the skeleton
    # around the block names the results directory
    block = lambda p: p.read_bytes()[p.read_bytes().index(L.START.encode()):]  # noqa: E731
    assert block(c) == block(a) and f"`{other}`" in c.read_text()


def test_check_detects_a_stale_file(capsys, tmp_path, results):
    out = tmp_path / "README.md"
    run_cli(capsys, "leaderboard", "--results", results, "--output", out)
    code, stdout, _ = run_cli(capsys, "leaderboard", "--results", results, "--output", out, "--check")
    assert code == 0 and "up to date" in stdout
    write_records(results / "more", [r for s, v in ((0, 0.8), (1, 0.8), (2, 0.81))
                                     for r in unlearning_unit("gradient_ascent", s, [0.7, 0.75, v], task="xxz-12",
                                                              conform=True)])
    before = out.read_bytes()
    code, _, err = run_cli(capsys, "leaderboard", "--results", results, "--output", out, "--check")
    assert code == 1 and "out of date" in err
    assert out.read_bytes() == before  # --check never writes
    assert run_cli(capsys, "leaderboard", "--results", results, "--output", out)[0] == 0
    assert run_cli(capsys, "leaderboard", "--results", results, "--output", out, "--check")[0] == 0


# -- protocol conformance and where the leaderboard goes -------------------------------------------------
@functools.lru_cache(maxsize=None)
def _quick_configs():
    """The configs `qbench run --suite unlearning --quick --task xxz-12 --model qnn` writes."""
    from qbench.scenarios import RunOptions
    from qbench.suites import get_suite

    suite = get_suite("unlearning")
    opts = RunOptions(tasks=("xxz-12",), models=("qnn",), quick=True, methods=("retrain", "finetune"), seeds=(0, 1))
    return {(u.config["method"], u.config["seed"]): u.config for u in suite.plan(suite.scenarios(opts), opts)}


def protocol_and_quick(tmp_path):
    protocol = [r for s in (0, 1, 2) for m, v in (("retrain", 0.80), ("finetune", 0.85))
                for r in unlearning_unit(m, s, [0.5, 0.7, v + 0.01 * s], task="xxz-12", conform=True)]
    # a tenth of the epochs leaves the poisoned model barely poisoned: the quick tier starts high
    quick = [r for s in (0, 1) for m in ("retrain", "finetune")
             for r in unlearning_unit(m, s, [0.96, 0.97, 0.99], task="xxz-12", config=_quick_configs()[(m, s)])]
    write_records(tmp_path / "protocol", protocol)
    write_records(tmp_path / "quick", quick)
    return protocol, quick


def test_quick_tier_records_are_refused_and_shown_apart_unranked_only_on_request(capsys, tmp_path):
    protocol, quick = protocol_and_quick(tmp_path)
    assert all(r["config"]["quick"] and r["config"]["steps"] == 10 for r in quick)
    alone = tmp_path / "alone.md"
    assert run_cli(capsys, "leaderboard", "--results", tmp_path / "protocol", "--output", alone)[0] == 0
    out = tmp_path / "README.md"
    code, _, err = run_cli(capsys, "leaderboard", "--results", tmp_path, "--output", out)
    assert code == 2 and len(err.strip().splitlines()) == 1 and not out.exists()
    assert f"{tmp_path / 'quick' / 'records'}{'/'}unlearning-xxz-12-qnn-" in err
    assert ".jsonl:1: not a protocol record: config.quick: true (protocol: false); " in err
    assert "config.poisoned.train.epochs: 20 (protocol: 200); config.steps: 10 (protocol: 50)" in err
    assert f"(and {len(quick) - 1} more non-protocol record(s) in 4 file(s))" in err and "--allow-nonprotocol" in err
    # CI's check is strict
    code, _, err = run_cli(capsys, "leaderboard", "--results", tmp_path, "--output", out, "--check",
                           "--allow-nonprotocol")
    assert code == 2 and "strict" in err and not out.exists()

    code, stdout, _ = run_cli(capsys, "leaderboard", "--results", tmp_path, "--output", out, "--allow-nonprotocol")
    assert code == 0 and "updated" in stdout
    ranked, apart = out.read_text().split(f"### {L.NONPROTOCOL_TITLE}")
    # the ranked tables are exactly those of the protocol records alone
    assert ranked.split(L.START)[1] == alone.read_text().split(L.START)[1].split(L.END)[0] + "\n"
    assert "0.990" not in ranked and "| rank" in ranked
    heading = "#### Unlearning (PROTOCOL 4.2) · xxz-12 · qnn (protocol 2; quick tier, not ranked)"
    assert heading in apart and "| rank" not in apart and "Not ranked" in apart
    rows = [l for l in apart.splitlines() if l.startswith("| `")]
    assert [r.split("|")[1].strip() for r in rows] == ["`retrain`", "`finetune`"]  # protocol order, not by score
    assert all("0.990 ± 0.000" in r for r in rows)
    assert f"- {len(quick)} record(s) in 4 file(s), e.g. `{tmp_path / 'quick' / 'records'}" in apart
    assert f"from {len(quick)} records of 4 units" in apart


def test_overridden_settings_are_labelled_not_protocol(capsys, tmp_path):
    recs = [sweep_record("resilience", "mlp", "label_flip", a, s, 0.9, task="xxz-12", conform=True)
            for a in (0.0, 0.3) for s in (0, 1)]
    for r in recs:  # as `--epochs 40` writes them
        r["config"]["train"]["epochs"] = 40
    write_records(tmp_path / "r", recs)
    code, _, err = run_cli(capsys, "leaderboard", "--results", tmp_path / "r", "--output", tmp_path / "o.md")
    assert code == 2 and "not a protocol record: config.train.epochs: 40 (protocol: 400)" in err
    code, _, _ = run_cli(capsys, "leaderboard", "--results", tmp_path / "r", "--output", tmp_path / "o.md",
                         "--allow-nonprotocol")
    text = (tmp_path / "o.md").read_text()
    assert code == 0 and "#### Resilience (PROTOCOL 4.1) · xxz-12 (protocol 2; NOT the protocol settings, not ranked)" in text


def _leaves(value, path="config"):
    if isinstance(value, dict) and value:
        return [x for k, v in value.items() for x in _leaves(v, f"{path}.{k}")]
    if isinstance(value, list) and value:
        return [x for i, v in enumerate(value) for x in _leaves(v, f"{path}[{i}]")]
    return [path]


def _set(config, path, fn):
    keys = [int(k) if k.isdigit() else k for k in path.replace("[", ".").replace("]", "").split(".")[1:]]
    target = config
    for k in keys[:-1]:
        target = target[k]
    target[keys[-1]] = fn(target[keys[-1]])


def _mutated(v):
    """Another value, off every protocol grid (a seed of 10 or more, an alpha between grid points)."""
    if isinstance(v, bool):
        return not v
    if isinstance(v, (int, float)):
        return v + 10 if isinstance(v, int) else v + 0.05
    return f"{v}-x" if isinstance(v, str) else {"x": 1}


@pytest.mark.parametrize("suite,scenario,alpha,free", [
    ("unlearning", "unlearning/xxz-12/qnn", 0.3, ("method", "method_hyperparameters", "method_source", "step_budget_s")),
    ("sensitivity", "sensitivity/mnist-1v9/mlp", 0.3,
     ("method", "method_hyperparameters", "method_source", "step_budget_s", "method_defaults")),
    ("resilience", "resilience/mnist-1v9/qnn/feature_randomization", 0.7, ()),
    ("capacity", "capacity/xxz-12/qnn-d6/label_flip", 0.1, ()),
    ("landscape", "landscape-study/mnist-1v9/qnn", None, ()),
])
def test_every_protocol_field_is_checked_and_only_the_methods_own_are_free(suite, scenario, alpha, free):
    from qbench.report.conformance import Checker

    config = protocol_config(suite, scenario, alpha, 1)
    rec = {"suite": suite, "task": config["task"], "model": config["model"], "corruption": config["corruption"],
           "alpha": 0.2 if alpha is None else alpha, "seed": 1, "method": config.get("method"), "protocol_version": config.get("protocol_version", "1"),
           "config": config}
    assert Checker().deviations(rec) == ()
    leaves = _leaves(config)
    assert len(leaves) > 15
    for path in leaves:
        changed = copy.deepcopy(rec)
        _set(changed["config"], path, _mutated)
        top = path.split(".")[1]
        if top in changed and "." not in path[len("config."):]:
            changed[top] = changed["config"][top]  # the record agrees with its config: the config is still checked
        found = Checker().deviations(changed)
        if path.split(".")[1].split("[")[0] in free:
            assert found == (), path
        else:
            assert found, path
            assert any(d.startswith(path + ":") or d.startswith(path.split(".")[1] + ":") for d in found), (path, found)
    # a field the protocol does not have is named too
    extra = copy.deepcopy(rec)
    extra["config"]["warm_start"] = "yes"
    assert Checker().deviations(extra) == ('config.warm_start: "yes" (protocol: absent)',)


def test_seeds_alphas_scenarios_and_echoed_fields_are_checked():
    from qbench.report.conformance import Checker

    c = Checker()
    (rec,) = [sweep_record("resilience", "qnn", "label_flip", 0.3, 2, 0.8, task="xxz-12", conform=True)]
    assert c.deviations(rec) == ()
    seed7 = copy.deepcopy(rec)
    seed7["seed"] = seed7["config"]["seed"] = 7
    assert c.deviations(seed7) == ("config.seed: 7 (protocol seeds: 0, 1, 2, 3, 4)",)
    off_grid = copy.deepcopy(rec)
    off_grid["alpha"] = off_grid["config"]["alpha"] = 0.35
    assert c.deviations(off_grid)[0].startswith("config.alpha: 0.35 (protocol alphas: 0.0, 0.1, 0.2,")
    liar = copy.deepcopy(rec)
    liar["alpha"] = 0.0  # the record claims another alpha than its config ran
    assert c.deviations(liar) == ("alpha: 0.0 (its config: 0.3)",)
    # a protocol unit that raised is recorded from its config alone: still a protocol record
    from qbench.runner import failure_record
    from qbench.scenarios import Unit

    for suite, scenario, alpha in (("landscape", "landscape/mnist-1v9/mlp", None),
                                   ("unlearning", "unlearning/mnist-1v9/qnn", 0.3)):
        config = protocol_config(suite, scenario, alpha, 4)
        crashed = failure_record(Unit("k", suite, scenario, config), RuntimeError("out of memory"))
        assert c.deviations(crashed) == ()
        crashed["config"]["quick"] = True
        assert c.deviations(crashed) == ("config.quick: true (protocol: false)",)
    small = sweep_record("resilience", "qnn", "label_flip", 0.3, 2, 0.8)
    assert c.deviations(small) == (
        'config.scenario: "resilience/xxz-4/qnn/label_flip" is not a registered scenario of suite "resilience"',)


def test_a_plugin_method_with_its_own_hyperparameters_is_a_protocol_record():
    from qbench.report.conformance import Checker

    recs = unlearning_unit("my_plugin", 0, [0.5, 0.7], task="xxz-12", conform=True, hp={"gamma": 3.0})
    for r in recs:
        r["config"]["method_source"] = "my-plugin 0.1"
    assert {Checker().deviations(r) for r in recs} == {()}
    # a method named as module:attribute is not an installed plugin: not the protocol's, and never imported
    recs = unlearning_unit("my_plugin:Method", 0, [0.5, 0.7], task="xxz-12", conform=True, hp={"gamma": 3.0})
    assert {Checker().deviations(r) for r in recs} == {(
        'method: "my_plugin:Method" names a module, neither built in nor installed (never imported by a report)',)}


def test_leaderboard_of_another_run_leaves_the_committed_one_byte_identical(capsys, tmp_path, results, monkeypatch):
    repo = Path(__file__).resolve().parents[1]
    committed = repo / "leaderboard" / "README.md"
    before = committed.read_bytes()
    monkeypatch.chdir(repo)
    try:
        code, stdout, _ = run_cli(capsys, "leaderboard", "--results", results)
        assert committed.read_bytes() == before
    finally:
        committed.write_bytes(before)
    assert code == 0
    own = results / "leaderboard.md"
    assert f"{own}: updated" in stdout and "leaderboard/README.md is made from leaderboard/results only" in stdout
    assert own.read_text().count(L.START) == 1 and f"`{results}`" in own.read_text()
    assert run_cli(capsys, "leaderboard", "--results", results, "--check")[:2] == (0, f"{own} is up to date\n")
    # '-': standard output, nothing written
    own.unlink()
    code, stdout, _ = run_cli(capsys, "leaderboard", "--results", results, "--output", "-")
    assert code == 0 and stdout.startswith("# qbench leaderboard") and "#### xxz-12 · qnn (protocol 2)" in stdout
    assert not own.exists() and committed.read_bytes() == before


def test_only_the_committed_records_write_the_committed_leaderboard(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    committed = tmp_path / "leaderboard" / "README.md"
    write_records(tmp_path / "leaderboard" / "results" / "unlearning", all_suites_records())
    code, stdout, _ = run_cli(capsys, "leaderboard")
    assert code == 0 and stdout == "leaderboard/README.md: updated\n" and committed.exists()
    code, stdout, _ = run_cli(capsys, "leaderboard", "--results", "leaderboard/results")
    assert code == 0 and stdout == "leaderboard/README.md: unchanged\n"
    # a part of the committed tree: standard output, no stray file inside the committed records
    code, stdout, _ = run_cli(capsys, "leaderboard", "--results", "leaderboard/results/unlearning")
    assert code == 0 and L.START in stdout
    assert sorted(p.name for p in (tmp_path / "leaderboard" / "results" / "unlearning").iterdir()) == ["records"]


def test_accuracy_intervals_stay_inside_0_1():
    recs = []
    for seed, v in ((0, 0.99), (1, 0.95), (2, 1.0)):  # t interval of the mean: [0.914, 1.046]
        recs += unlearning_unit("retrain", seed, [0.5, v])
    assert Stat.of([0.99, 0.95, 1.0]).ci95()[1] > 1.0
    row = next(l for l in L.render_block(recs).splitlines() if "`retrain`" in l)
    assert "[0.914, 1.000]" in row
    assert "clipped to [0, 1]" in L.render_block(recs)


# -- statistics -------------------------------------------------------------------------------------
def test_t_interval_and_rank_groups_on_hand_computed_numbers():
    a = Stat.of([0.90, 0.92, 0.94])  # mean 0.92, sd 0.02, t(0.975, 2) = 4.302653
    b = Stat.of([0.80, 0.81, 0.82])  # mean 0.81, sd 0.01
    c = Stat.of([0.86, 0.88, 0.90])  # mean 0.88, sd 0.02
    d = Stat.of([0.50])  # one seed: unbounded interval
    half_a = 4.302653 * 0.02 / math.sqrt(3)  # 0.049683
    assert a.ci95() == pytest.approx((0.92 - half_a, 0.92 + half_a), abs=1e-6)
    assert fmt_ci(a) == "[0.870, 0.970]"
    assert b.ci95() == pytest.approx((0.81 - 4.302653 * 0.01 / math.sqrt(3), 0.81 + 4.302653 * 0.01 / math.sqrt(3)), abs=1e-6)
    assert fmt_ci(d) == "–"
    # C [0.830, 0.930] overlaps A [0.870, 0.970]: rank 1; B [0.785, 0.835] does not, although it
    # overlaps C: the group is decided against the leader, so B leads rank 2. D cannot be separated.
    ranked = rank_groups([("b", b), ("a", a), ("d", d), ("c", c), ("e", Stat.of([]))])
    assert [(r, n) for r, n, _ in ranked] == [(1, "a"), (1, "c"), (1, "d"), (2, "b"), (0, "e")]


def test_unlearning_table_ranks_and_steps_to_retrain(capsys, tmp_path):
    recs = []
    for seed, shift in ((0, 0.0), (1, 0.01), (2, 0.02)):
        recs += unlearning_unit("retrain", seed, [0.1, 0.5, 0.80 + shift])
        recs += unlearning_unit("finetune", seed, [0.6, 0.81 + shift, 0.90 + shift], wall=0.25)
        recs += unlearning_unit("scrub", seed, [0.6, 0.60, 0.60 + shift / 2])
    block = L.render_block(recs)
    lines = {l.split("|")[2].strip(): [c.strip() for c in l.split("|")[1:-1]] for l in block.splitlines()
             if l.startswith("| ") and "`" in l}
    assert lines["`finetune`"][0] == "1" and lines["`retrain`"][0] == "2" and lines["`scrub`"][0] == "3"
    # finetune reaches the same seed's retrain val_acc (0.80, 0.81, 0.82) at step 1 in every seed
    assert lines["`finetune`"][-3] == "1.0 ± 0.0 (3/3)"
    assert lines["`scrub`"][-3] == "never (0/3)"
    assert lines["`retrain`"][-3] == "2.0 ± 0.0 (3/3)"
    assert lines["`finetune`"][-2] == "0.2500 ± 0.0000"  # wall_s at the last step (0.5) / 2 steps
    assert lines["`finetune`"][3] == "0.910 ± 0.010"  # val_acc at the final step
    assert lines["`finetune`"][4] == "[0.885, 0.935]"  # 0.91 -+ 4.302653 * 0.01 / sqrt(3)
    assert lines["`finetune`"][-1] == "3"


def test_five_point_rule_on_a_hand_made_table():
    means = {0.0: 0.95, 0.1: 0.93, 0.2: 0.90, 0.3: 0.89, 0.4: 0.93}
    assert max_alpha_within(means) == 0.2  # 0.3 drops 0.06; the recovery at 0.4 does not count
    assert max_alpha_within({0.0: 0.95, 0.1: 0.90, 0.2: 0.70}) == 0.1  # exactly 5 points is within
    assert max_alpha_within({0.0: 0.95, 0.1: 0.80}) == 0.0
    assert max_alpha_within({0.1: 0.9}) is None  # no clean value
    recs = [sweep_record("resilience", "mlp", "label_flip", a, s, v + 0.001 * s)
            for s in (0, 1) for a, v in means.items()]
    row = next(l for l in L.render_block(recs).splitlines() if l.startswith("| mlp"))
    cells = [c.strip() for c in row.split("|")[1:-1]]
    assert cells[-2] == "0.2" and cells[-1] == "2"
    assert cells[3] == "0.950 ± 0.001"


def test_failed_units_are_counted_not_averaged():
    recs = []
    for seed in (0, 1):
        recs += unlearning_unit("retrain", seed, [0.5, 0.8])
    recs += unlearning_unit("scrub", 0, [0.5, 0.9])
    recs += unlearning_unit("scrub", 1, [0.5], steps=1, status_fail="step 1: non-finite parameters")
    block = L.render_block(recs)
    scrub = next(l for l in block.splitlines() if "`scrub`" in l)
    assert "0.900 ± – " in scrub and scrub.rstrip(" |").endswith("1")  # only seed 0 averaged
    assert "1 failed unit(s), not averaged:" in block
    assert "- scrub seed 1: step 1: non-finite parameters" in block
    recs.append(sweep_record("resilience", "qnn", "label_flip", 0.3, 0, None, status="failed"))
    recs.append(sweep_record("resilience", "qnn", "label_flip", 0.0, 0, 0.9))
    block = L.render_block(recs)
    assert "- qnn/64x16/label_flip alpha 0.3 seed 0: boom" in block


def test_protocol_versions_are_never_mixed():
    # protocol 2 changed every unlearning scenario (oracle, MIA, gap): protocol-1 records are superseded and
    # get a table of their own, never mixed with protocol-2 ones
    recs = []
    for seed in (0, 1):
        recs += unlearning_unit("retrain", seed, [0.5, 0.8], model="mlp")
        recs += unlearning_unit("retrain", seed, [0.5, 0.6], model="mlp", protocol="2")
        recs += unlearning_unit("retrain", seed, [0.5, 0.9], model="qnn")
    block = L.render_block(recs)
    assert "#### xxz-4 · mlp (protocol 1 (superseded))" in block and "#### xxz-4 · mlp (protocol 2)" in block
    assert "#### xxz-4 · qnn (protocol 1 (superseded))" in block
    assert "0.800 ± 0.000" in block and "0.600 ± 0.000" in block and "0.700" not in block
    assert "protocol version(s) 1 (superseded), 2" in block


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


def test_landscape_table_from_synthetic_records():
    recs = []
    for seed, t0 in ((0, 1.0), (1, 2.0)):
        recs += landscape_records("qnn", seed, [t0, t0 * 1.1, t0 * 1.2, t0 * 1.3])
        recs += landscape_records("mlp", seed, [t0, t0 * 2, t0 * 3, t0 * 4], collapsed=(0.4,) if seed else ())
    block = L.render_block(recs)
    rows = [[c.strip() for c in l.split("|")[1:-1]] for l in block.splitlines() if l.startswith("| mlp") or l.startswith("| qnn")]
    assert [r[:3] for r in rows][:4] == [["mlp", "16x4", "0"], ["mlp", "16x4", "0.2"], ["mlp", "16x4", "0.3"], ["mlp", "16x4", "0.4"]]
    qnn03 = next(r for r in rows if r[0] == "qnn" and r[2] == "0.3")
    assert qnn03[4] == "1.200 ± 0.000"  # per-seed LRR
    # the study's LRR against the mean clean trace (1.5): 1.2 / 1.5 and 2.4 / 1.5
    assert qnn03[5] == f"{(0.8 + 1.6) / 2:.3f} ± {math.sqrt(2 * 0.4 ** 2):.3f}"
    assert qnn03[3] == "1.8000 ± 0.8485"
    mlp04 = next(r for r in rows if r[0] == "mlp" and r[2] == "0.4")
    assert mlp04[4] == "4.000 ± – (n=1)" and mlp04[8] == "1"  # the collapsed model is counted, left out
    assert mlp04[7] == "-0.1000 ± 0.0000"  # the bottom eigenvalue: min of eig_bottom


# -- figures ----------------------------------------------------------------------------------------
EXPECTED_PNGS = ["capacity_xxz-12.png", "landscape_mnist-1v9_lrr.png", "resilience_xxz-12.png",
                 "unlearning_xxz-12_forget_acc.png", "unlearning_xxz-12_val_acc.png"]


def test_figures_are_png_files_with_expected_names(capsys, tmp_path, results):
    import matplotlib.image as mpimg

    out = tmp_path / "figures"
    code, stdout, _ = run_cli(capsys, "plot", "--results", results, "--out", out)
    assert code == 0
    assert sorted(p.name for p in out.iterdir()) == EXPECTED_PNGS
    for name in EXPECTED_PNGS:
        img = mpimg.imread(out / name)
        assert img.ndim == 3 and img.shape[0] > 200 and img.shape[1] > 300


def test_plot_skips_suites_without_records(capsys, tmp_path):
    recs = [sweep_record("capacity", "qnn", "label_flip", a, s, 0.9, size="n4-d5") for a in (0.0, 0.3) for s in (0, 1)]
    write_records(tmp_path / "r", recs)
    code, stdout, _ = run_cli(capsys, "plot", "--results", tmp_path / "r", "--out", tmp_path / "f")
    assert code == 0
    assert "unlearning: no successful records, figure skipped" in stdout
    assert "landscape: no successful records, figure skipped" in stdout
    assert sorted(p.name for p in (tmp_path / "f").iterdir()) == ["capacity_xxz-4.png"]


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


def test_leaderboard_states_the_re_run_coverage():
    cov = {"units": 10, "records": 60, "units_checked": 7, "units_agreed": 6, "records_agreed": 36,
           "units_disagreed": 1, "revisions": ["0123456789abcdef"],
           "by_model": {"mlp": {"units": 4, "units_agreed": 4}, "qnn": {"units": 6, "units_agreed": 2}},
           "by_suite": {"resilience": {"units": 10, "units_agreed": 6}}}
    line = L.coverage_line(cov)
    assert "6 of 10 successful units" in line and "36 of 60 records" in line and "1 disagreeing" in line
    assert "mlp 4 of 4; qnn 2 of 6" in line and "0123456789ab" in line and "0123456789abc" not in line
    assert "1 disagreeing;" in line  # no split known: nothing claimed about CPUs
    split = L.coverage_line({**cov, "units_disagreed": 3, "disagreed_same_cpu": 1, "disagreed_other_cpu": 2})
    assert ("3 disagreeing (1 re-run on the CPU model that made them; 2 re-run on another CPU model "
            "(XLA compiles per instruction set));") in split
    block = L.render_block([], coverage=cov)
    assert line in block and block.index(line) > block.index("Generated by")
    assert "Re-run check" not in L.render_block([])


def test_a_quick_only_run_gets_no_empty_protocol_headings(capsys, tmp_path):
    recs = []
    for s in (0, 1):
        for m, v in (("retrain", 0.9), ("finetune", 0.8)):
            config = {**_quick_configs()[(m, s)]}
            recs += unlearning_unit(m, s, [0.5, 0.7, v], task="xxz-12", config=config)
    from qbench.records.store import RecordStore

    store = RecordStore(tmp_path / "quick")
    for key in sorted({r["unit_key"] for r in recs}):
        store.write_unit(key, [r for r in recs if r["unit_key"] == key])
    code, stdout, _ = run_cli(capsys, "leaderboard", "--results", tmp_path / "quick", "--allow-nonprotocol")
    text = (tmp_path / "quick" / "leaderboard.md").read_text()
    assert code == 0 and "No protocol records" in text and "No records yet." not in text
    assert "### Resilience (PROTOCOL 4.1)" not in text and "quick tier, not ranked" in text
