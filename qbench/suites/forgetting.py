"""``forgetting`` (PROTOCOL 4.9, protocol 3): per-example membership tests over many models.

Per task x model the data are fixed (label flipping at alpha 0.3, the flipped subset drawn from seed 0:
:attr:`~qbench.experiment.TrainSpec.corruption_seed`), and K models of each kind differ only in their
model seed k = 0..K-1 (initialization and batch order): K poisoned models (2.3), K oracles (4.2) and, per
unlearning method, K unlearned models, one from each poisoned model at the method's defaults. One unit per
(task, model, seed, kind): ``method`` is ``poisoned``, ``oracle`` or the method's name. Its one record holds
the model's logits on every forget sample (``forget_logits``, with ``forget_labels`` as trained and the
samples' training-set ``forget_indices``), ``val_acc``, ``retain_acc``, ``forget_acc``, ``mia_efficacy``
and ``mia_attack_acc``. The per-example metrics (``ulira_acc``, ``forget_score``) are computed over the K
records of a kind by :func:`qbench.records.forgetting.forgetting_rows`, never inside a unit.

The poisoned models and the oracles are cached under ``OUT/models`` (the unlearning suite's cache
functions, keyed by their specs), so a method unit trains its poisoned model only if no unit has yet.
K is ``--models K`` (default 32, at least 8); the quick tier: xxz-12 (without ``--task``), K = 8, a tenth of
the epochs, 10 unlearning steps, three methods.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

import numpy as np

from qbench.errors import QbenchError
from qbench.experiment import RunContext, TrainSpec, task_options_for
from qbench.methods import get_method, method_source
from qbench.protocol import unlearning_lr
from qbench.records import schema as F
from qbench.records.build import new_record, unit_key
from qbench.scenarios import RunOptions, Scenario, Suite, Unit, config_head, effective_train, model_unit, register_suite
from qbench.suites.unlearning import CONFIG as UNLEARNING
from qbench.suites.unlearning import (
    FAMILIES,
    METHOD_FIELDS,
    ORACLE,
    PROTOCOL_METHODS,
    STEPS,
    UnlearningSettings,
    oracle_model,
    poisoned_model,
    register_poisoned_scenarios,
    run_method,
    select_poisoned_scenarios,
    unlearn_sets,
)

POISONED = F.POISONED
#: what every record of the suite holds
METRICS = ("val_acc", "retain_acc", "forget_acc", "forget_clean_acc", "mia_efficacy", "mia_attack_acc")


@dataclass(frozen=True)
class ForgettingConfig:
    models: int = 32
    min_models: int = 8
    #: the seed the flipped subset is drawn from, for every model (the data's, PROTOCOL 4.9)
    corruption_seed: int = 0
    steps: int = STEPS
    quick_models: int = 8
    #: the quick tier's unlearning steps, as the unlearning suite's quick tier: the QNN's 50 full-batch steps
    #: per method unit were more than half of the tier's time
    quick_steps: int = 10
    quick_tasks: tuple[str, ...] = ("xxz-12",)  # without --task
    quick_epoch_fraction: float = 0.1
    quick_methods: tuple[str, ...] = ("finetune", "gradient_ascent", "scrub")


CONFIG = ForgettingConfig()

register_poisoned_scenarios("forgetting", METRICS, "per-example forgetting over many models",
                            seeds=tuple(range(CONFIG.models)))


def model_count(options: RunOptions) -> int:
    """K: ``--models K``, else the protocol's (the quick tier's); fewer than ``min_models`` is refused."""
    k = options.n_models or (CONFIG.quick_models if options.quick else CONFIG.models)
    if k < CONFIG.min_models:
        raise QbenchError(f"--models must be >= {CONFIG.min_models}, got {k}")
    return k


def _scenarios(options: RunOptions) -> list[Scenario]:
    seeds = options.seeds or tuple(range(model_count(options)))  # --seeds: a part of the K models (to split a run)
    scs = select_poisoned_scenarios("forgetting", options, ())
    if options.quick and not options.tasks:
        scs = [s for s in scs if s.task in CONFIG.quick_tasks]
    return [replace(s, seeds=seeds) for s in scs]


def run_methods(options: RunOptions) -> tuple[str, ...]:
    """The methods of a run: ``--method``, or every protocol method (the quick tier: three)."""
    return tuple(options.methods or (CONFIG.quick_methods if options.quick else PROTOCOL_METHODS))


def _plan(scenarios: list[Scenario], options: RunOptions) -> list[Unit]:
    """Per scenario and seed: its poisoned model, its oracle, then each method from that poisoned model."""
    methods = run_methods(options)
    steps = options.steps or (CONFIG.quick_steps if options.quick else CONFIG.steps)
    configs = []
    for s in scenarios:
        cfg = effective_train(s.train, options, CONFIG.quick_epoch_fraction)
        lr = options.settings_as(UnlearningSettings).lr or unlearning_lr(s.task)
        for alpha in s.alphas:
            def config(seed: int, name: str, hp: dict, source: str) -> dict:
                spec = TrainSpec(s.task, s.model, s.options, s.corruption, float(alpha), int(seed), cfg, s.data_seed,
                                 task_options=task_options_for(s.task, options.task_options),
                                 corruption_seed=CONFIG.corruption_seed)
                return {
                    **config_head(s, options),
                    "poisoned": spec.as_dict(), "method": name, "method_hyperparameters": hp, "method_source": source,
                    "steps": steps, "lr": lr, "optimizer": "adam (fresh)", "step_budget_s": UNLEARNING.step_budget_s,
                    "task": s.task, "model": s.model, "corruption": s.corruption, "alpha": float(alpha), "seed": int(seed),
                }

            kinds = [(POISONED, {}, "builtin"), (ORACLE, {}, "builtin")]
            for name in methods:
                if name in (POISONED, ORACLE):
                    raise QbenchError(f"{name!r} is not a method: its units are planned in every forgetting run")
                method = get_method(name, **dict(options.method_overrides.get(name, {})))  # validated up front
                kinds.append((name, method.hyperparameters(), method_source(name)))
            # seed-major: an executor that cuts a group into contiguous pieces (qbench.executors.base.make_batches)
            # then gives each piece the poisoned models its methods start from, so no two workers train one
            configs += [config(seed, name, hp, source) for seed in s.seeds for name, hp, source in kinds]
    return [unit_from_config(c) for c in configs]


def unit_from_config(config: dict) -> Unit:
    spec = TrainSpec.from_dict(config["poisoned"])
    name = config["method"]
    if spec.corruption_seed is None:
        raise QbenchError("a forgetting unit's poisoned spec must fix corruption_seed (PROTOCOL 4.9)")
    if name not in (POISONED, ORACLE):
        get_method(name, **dict(config.get("method_hyperparameters") or {}))
    key = unit_key(f"forgetting-{spec.task}-{spec.model}-a{spec.alpha:g}-c{spec.corruption_seed}-s{spec.seed}-{name}",
                   config)
    return model_unit(key, "forgetting", config, spec.task, spec.model, config["poisoned"]["model_options"])


def run(config: dict, ctx: RunContext, out_dir: str = ".") -> list[dict]:
    """One model of the suite: its metrics and its logits on every forget sample, in one record."""
    from qbench.metrics.evaluate import evaluate
    from qbench.training.trainer import predict_logits

    start = time.perf_counter()
    unit, spec, name = unit_from_config(config), TrainSpec.from_dict(config["poisoned"]), config["method"]
    extra: dict = {}
    if name == ORACLE:
        prepared, theta, info = oracle_model(spec, ctx, out_dir)
        extra["oracle_model"] = {k: v for k, v in info.items() if k not in ("metrics", "notes")}
        step, timing = config["steps"], {"train_wall_s": info["train_wall_s"]}
    else:
        prepared, theta, info = poisoned_model(spec, ctx, out_dir)
        extra["poisoned_model"] = info
        step, timing = 0, {"train_wall_s": info["train_wall_s"]}
    sets = unlearn_sets(prepared)
    common = dict(suite="forgetting", scenario=config["scenario"], unit_key=unit.key, config=config, task=spec.task,
                  model=spec.model, model_size=prepared.model.size_label(), corruption=spec.corruption,
                  alpha=spec.alpha, seed=spec.seed, method=name)
    if name not in (POISONED, ORACLE):
        hp = dict(config.get("method_hyperparameters") or {})
        # no metrics inside the loop: the record's are the final model's, evaluated once below
        _, _, res = run_method(spec, ctx, out_dir, name, hp, config, curves=(), keep_every=None, evaluate=False)
        if res.status != "ok":
            return [new_record(**common, step=len(res.metrics), metrics={}, status="failed", error=res.error,
                               **extra, **({"traceback": res.extras["traceback"]} if "traceback" in res.extras else {}))]
        theta, step = res.params, len(res.metrics) - 1
        timing = {"wall_s": res.metrics[-1]["wall_s"], "first_step_s": res.compile_s, "setup_s": res.setup_s}
    notes: dict[str, str] = {}
    metrics = evaluate(prepared.model, theta, sets, METRICS, seed=spec.seed, notes=notes)
    logits = predict_logits(prepared.model, theta, sets.x_forget)
    metrics.update(timing, unit_wall_s=time.perf_counter() - start)
    rec = new_record(**common, step=step, metrics=metrics, **extra,
                     **{F.FORGET_LOGITS: [float(v) for v in np.asarray(logits, dtype=np.float64)],
                        F.FORGET_LABELS: [int(v) for v in sets.y_forget],
                        F.FORGET_INDICES: [int(i) for i in np.sort(prepared.corrupted.indices)]})
    if notes:
        rec["metric_notes"] = notes
    return [rec]


register_suite(Suite(
    name="forgetting", families=FAMILIES,
    description="per-example membership tests over K models per kind: ulira_acc, forget_score (PROTOCOL 4.9)",
    scenarios=_scenarios,
    plan=_plan,
    unit_from_config=unit_from_config,
    run=run,
    free_config=METHOD_FIELDS,
    settings=UnlearningSettings,
    flags=frozenset({"methods", "steps", "n_models"}),
    methods=run_methods,
    title="Forgetting (PROTOCOL 4.9)", order=6, in_all=False, run_order=6, optional_heading=True,
))
