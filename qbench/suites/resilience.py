"""``resilience`` (PROTOCOL 4.1): accuracy against the corrupted fraction alpha."""

from __future__ import annotations

import time
from typing import Any, Callable

from qbench.experiment import RunContext, TrainSpec, task_options_for, train_corrupted
from qbench.protocol import QUICK, control_models, family_tasks, model_size, protocol_models, train_config
from qbench.records.build import new_record, unit_key
from qbench.scenarios import (
    RunOptions,
    Scenario,
    Suite,
    Unit,
    config_head,
    covering,
    effective_train,
    frozen_options,
    model_unit,
    register_scenario,
    register_suite,
    select,
)

CORRUPTIONS = ("label_flip", "feature_randomization")
METRICS = ("train_acc", "val_acc", "final_loss", "wall_s")
#: the task families whose protocol tasks it registers scenarios for
FAMILIES = ("mnist", "xxz")


def _size_tag(key: str, value: Any) -> str:
    if key == "hidden":
        return "x".join(str(h) for h in value)
    return f"{key[0]}{value}"


def make_scenario(task: str, model: str, corruption: str, suite: str = "resilience", **options: Any) -> Scenario:
    opts = model_size(task, model)
    opts.update(options)
    size = "-".join(_size_tag(k, v) for k, v in options.items())
    name = f"{suite}/{task}/{model}{'-' + size if size else ''}/{corruption}"
    return Scenario(
        name=name, suite=suite, task=task, model=model,
        model_options=frozen_options(opts),
        corruption=corruption, train=train_config(task, model), metrics=METRICS,
        description=f"{model} on {task} under {corruption}: train/val accuracy vs alpha",
    )


def resilience_scenarios(task: str, model: str) -> list[Scenario]:
    """The resilience scenarios of one task and model: one per corruption."""
    return [make_scenario(task, model, corr) for corr in CORRUPTIONS]


for _task in family_tasks(FAMILIES):
    for _model in protocol_models():
        for _s in resilience_scenarios(_task, _model):
            register_scenario(_s)
    # the controls run the label-flip sweep only (PROTOCOL 2.4), and only where --model names them
    for _model in control_models():
        register_scenario(make_scenario(_task, _model, "label_flip"))


def scenarios_for(suite: str, options: RunOptions,
                  make: Callable[[str, str], list[Scenario]] | None = None) -> list[Scenario]:
    """The suite's scenarios on the run's tasks and models (``make``: those of a pair none registered covers)."""
    from qbench.scenarios import registered_scenarios

    scs = covering(registered_scenarios(suite), options, make)
    if options.quick:
        scs = [s.with_overrides(alphas=QUICK.alphas, seeds=QUICK.seeds) for s in scs]
    return select(scs, options)


def plan_training_units(scenarios: list[Scenario], options: RunOptions) -> list[Unit]:
    """One unit per (scenario, alpha, seed): train on the corrupted set, record train/val accuracy."""
    units = []
    for s in scenarios:
        cfg = effective_train(s.train, options)
        for alpha in s.alphas:
            for seed in s.seeds:
                spec = TrainSpec(s.task, s.model, s.options, s.corruption, float(alpha), int(seed), cfg, s.data_seed,
                                 task_options=task_options_for(s.task, options.task_options))
                config = {**config_head(s, options), **spec.as_dict()}
                units.append(unit_from_config(config))
    return units


def unit_from_config(config: dict) -> Unit:
    """The unit of a resilience or capacity config (a plan's, a worker's or a stored record's)."""
    spec = TrainSpec.from_dict(config)
    key = unit_key(f"{config['suite']}-{spec.task}-{spec.model}-{spec.corruption}-a{spec.alpha:g}-s{spec.seed}", config)
    return model_unit(key, config["suite"], config, spec.task, spec.model, config["model_options"])


def run(config: dict, ctx: RunContext, out_dir: str = ".") -> list[dict]:
    """Train on the corrupted set of ``config``; one record: train/val accuracy."""
    start = time.perf_counter()
    spec, key = TrainSpec.from_dict(config), unit_from_config(config).key
    trained = train_corrupted(spec, ctx)
    metrics = {
        "train_acc": trained.train_acc(),
        "val_acc": trained.val_acc(),
        "final_loss": float(trained.result.epoch_loss[-1]),
        "n_steps": trained.result.n_steps,
        "n_corrupted": int(len(trained.corrupted.indices)),
        "train_wall_s": trained.result.wall_s,
        "wall_s": time.perf_counter() - start,
    }
    return [new_record(
        suite=config["suite"], scenario=config["scenario"], unit_key=key, config=config, metrics=metrics,
        task=spec.task, model=spec.model, model_size=trained.model.size_label(),
        corruption=spec.corruption, alpha=spec.alpha, seed=spec.seed,
    )]


register_suite(Suite(
    name="resilience", families=FAMILIES,
    title="Resilience (PROTOCOL 4.1)", order=1, in_all=True, run_order=0,
    description="train/val accuracy vs corrupted fraction alpha (PROTOCOL 4.1)",
    scenarios=lambda options: scenarios_for("resilience", options, resilience_scenarios),
    plan=plan_training_units,
    unit_from_config=unit_from_config,
    run=run,
    flags=frozenset({"corruptions"}),
))
