"""A suite and a metric from outside qbench (docs/plugins.md): the suite ``toy`` scores a nearest-centroid
classifier on each task's validation set, by accuracy and by the metric ``toy_margin``.

Installed as entry points (the names are the suite's and the metric's own)::

    [project.entry-points."qbench.suites"]
    toy = "toy_suite_metric:SUITE"

    [project.entry-points."qbench.metrics"]
    toy_margin = "toy_suite_metric:MARGIN"

then ``qbench run --suite toy --task xxz-4`` runs it, and ``qbench leaderboard --allow-nonprotocol`` tables it.
"""

from __future__ import annotations

import numpy as np

from qbench.experiment import RunContext, load_task
from qbench.metrics.registry import Metric, compute
from qbench.records.build import new_record, unit_key
from qbench.scenarios import RunOptions, Scenario, Suite, Unit, config_head
from qbench.tasks import default_task_options

MARGIN = Metric(
    "toy_margin", "mean logit in the direction of the true label on the validation set; higher: surer and right",
    higher_is_better=True, needs=("logits:val", "labels:val"), function="toy_suite_metric:margin", title="margin",
    digits=2, suites=("toy",))


def margin(logits: np.ndarray, labels: np.ndarray) -> float:
    return float(np.mean(np.where(np.asarray(labels) == 1, 1.0, -1.0) * np.asarray(logits)))


def scenarios(options: RunOptions) -> list[Scenario]:
    """One scenario per task (``--task``, default xxz-4): the classifier fit on half the training set per seed."""
    return [Scenario(name=f"toy/{task}/centroid", suite="toy", task=task, model="centroid", model_options=(),
                     corruption="none", alphas=(0.0,), seeds=options.seeds or (0, 1), metrics=("val_acc", "toy_margin"))
            for task in options.tasks or ("xxz-4",)]


def unit_from_config(config: dict) -> Unit:
    return Unit(unit_key(f"toy-{config['task']}-s{config['seed']}", config), "toy", config["scenario"], config)


def plan(scs: list[Scenario], options: RunOptions) -> list[Unit]:
    return [unit_from_config({**config_head(s, options), "task": s.task, "seed": int(seed)})
            for s in scs for seed in s.seeds]


def run(config: dict, ctx: RunContext, out_dir: str = ".") -> list[dict]:
    task = config["task"]
    data = load_task(task, 0, ctx.data_dir, ctx.cache_dir, tuple(sorted(default_task_options(task).items())))
    x, xv = data.encode_train(data.x_train, "real"), data.encode_val(data.x_val, "real")
    rows = np.random.default_rng(config["seed"]).permutation(len(x))[: len(x) // 2]
    c0, c1 = (x[rows][data.y_train[rows] == k].mean(axis=0) for k in (0, 1))
    logits = np.linalg.norm(xv - c0, axis=1) - np.linalg.norm(xv - c1, axis=1)
    inputs = {"logits:val": logits, "labels:val": data.y_val}
    metrics = {name: compute(name, inputs) for name in ("val_acc", "toy_margin")}
    return [new_record(suite="toy", scenario=config["scenario"], unit_key=unit_from_config(config).key, config=config,
                       metrics=metrics, task=task, model="centroid", model_size="-", corruption=None, alpha=None,
                       seed=config["seed"])]


SUITE = Suite(name="toy", description="nearest-centroid accuracy and margin (a suite from outside qbench)",
              scenarios=scenarios, plan=plan, unit_from_config=unit_from_config, run=run, title="Toy")
