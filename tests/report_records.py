"""Synthetic records for the report tests, written as `qbench run` writes them.

Records with a minimal config (task xxz-4, not a registered scenario) are not the protocol's: the table
builders take them, the leaderboard command only with --allow-nonprotocol. ``conform=True`` gives a
registered scenario's config at protocol defaults, as `qbench run` without options writes.
"""

import copy
import functools
import json
import random
from pathlib import Path

import pytest

from qbench.cli import main
from qbench.records.build import new_record, unit_key


def run_cli(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err



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



@functools.lru_cache(maxsize=None)
def _quick_configs():
    """The configs `qbench run --suite unlearning --quick --task xxz-12 --model qnn` writes."""
    from qbench.scenarios import RunOptions
    from qbench.suites import get_suite

    suite = get_suite("unlearning")
    opts = RunOptions(tasks=("xxz-12",), models=("qnn",), quick=True, methods=("retrain", "finetune"), seeds=(0, 1))
    return {(u.config["method"], u.config["seed"]): u.config for u in suite.plan(suite.scenarios(opts), opts)}




def forgetting_records(model, shifts, *, k=8, n=6, task="xxz-4", spread=1.0, failed=(), mia=None):
    """A forgetting run's records (one per model of each kind): phi (here the logit, every label 1) of model
    seed s on forget sample j is ``shifts[kind] + spread * noise``; the oracles' shift is 0. ``failed``: (kind,
    seed) units recorded as failed; ``mia``: per seed, the final mia_efficacy (default 0.5)."""
    import numpy as np

    shifts = {"oracle": 0.0, **shifts}
    recs = []
    for kind, shift in shifts.items():
        for seed in range(k):
            noise = np.random.default_rng([seed, sorted(shifts).index(kind), 7]).normal(size=n)
            config = {"suite": "forgetting", "scenario": f"forgetting/{task}/{model}", "task": task, "model": model,
                      "method": kind, "seed": seed, "steps": 3, "poisoned": {"seed": seed, "corruption_seed": 0},
                      "protocol_version": "3"}
            key = unit_key(f"forgetting-{task}-{model}-s{seed}-{kind}", config)
            ok = (kind, seed) not in failed
            metrics = {"val_acc": 0.8 + 0.01 * (seed % 3), "retain_acc": 0.9 - 0.01 * (seed % 2), "forget_acc": 0.3,
                       "mia_efficacy": (mia or {}).get(seed, 0.5), "mia_attack_acc": 0.52} if ok else {}
            recs.append(new_record(
                suite="forgetting", scenario=config["scenario"], unit_key=key, config=config, task=task, model=model,
                model_size="n4-d4" if model == "qnn" else "16x4", corruption="label_flip", alpha=0.3, seed=seed,
                method=kind, step=3 if ok else 0, metrics=metrics, status="ok" if ok else "failed",
                error=None if ok else "boom",
                forget_logits=[float(shift + spread * v) for v in noise], forget_labels=[1] * n,
                forget_indices=list(range(n))))
    return recs
