"""``unlearning`` (PROTOCOL 4.2): remove label-flipping poison step by step, per method.

One unit per (task, model, method, seed). The poisoned model of a (task, model, seed) is trained
once and shared by every method (kept under ``OUT/models``); each method then runs its full-batch
steps through the one loop in :mod:`qbench.training.unlearn`, with metrics at step 0 and after
every step.

Protocol 2 adds the ``oracle`` (PROTOCOL 4.2): per (task, model, seed) a model trained from a fresh
initialization on the retain set with the full recipe of 2.3, cached like the poisoned model and
recorded by a unit of its own (``method: "oracle"``, one record at the final step, never ranked);
and, in every method's records, ``mia_efficacy`` (:mod:`qbench.metrics.mia`) and ``gap_to_oracle`` at
step 0, every 10 steps and the final step. A method unit gets the oracle through the same
cache (training it if missing), so unit order does not matter and a unit re-run alone still works.
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Callable, Sequence

import numpy as np

from qbench.artifacts import cached_params
from qbench.errors import QbenchError
from qbench.experiment import Prepared, RunContext, TrainSpec, prepare, task_options_for, train_corrupted
from qbench.methods import get_method, method_source
from qbench.protocol import (
    SEEDS,
    control_models,
    family_tasks,
    model_size,
    protocol_models,
    train_config,
    unlearning_lr,
)
from qbench.records import schema as F
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
)
from qbench.seeding import int_seed, rng

if TYPE_CHECKING:  # the unlearning loop imports TensorFlow: only when a unit runs
    from qbench.training.unlearn import UnlearnSets

#: the paper's four methods and SCRUB's alternating form
PAPER_METHODS = ("retrain", "finetune", "gradient_ascent", "scrub", "scrub_alternating")
#: the methods of the protocol (4.2): the paper's and, since protocol 2, the literature's reference methods
PROTOCOL_METHODS = PAPER_METHODS + ("neg_grad_plus", "random_labels", "salun", "l1_sparse", "bad_teacher")
ALPHA = 0.3
STEPS = 50
#: config fields that describe the method under test, which a submission chooses (conformance checks the rest)
METHOD_FIELDS = ("method", "method_hyperparameters", "method_source", "step_budget_s")
#: the task families whose protocol tasks it registers scenarios for (corrective and sensitivity: the same)
FAMILIES = ("mnist", "xxz")
STEP_METRICS = ("val_acc", "forget_acc", "forget_clean_acc", "retain_acc", "wall_s", "loss")
#: the method name of the oracle's unit and records: reserved, never a registered method
ORACLE = F.ORACLE
#: what the oracle's record holds (besides its training time), and what ``gap_to_oracle`` compares
ORACLE_METRICS = ("val_acc", "forget_acc", "forget_clean_acc", "retain_acc", "mia_efficacy")
#: metrics a method's records add at step 0, every PRIVACY_EVERY steps and at the final step
PRIVACY_METRICS = ("mia_efficacy", "gap_to_oracle")
PRIVACY_EVERY = 10


@dataclass(frozen=True)
class UnlearningConfig:
    """Suite-level settings (method hyperparameters live with each method)."""

    alpha: float = ALPHA
    steps: int = STEPS
    lr: float | None = None  # None: the protocol's value for the task family
    step_budget_s: float = 120.0
    quick_steps: int = 10
    quick_epoch_fraction: float = 0.1
    quick_seeds: tuple[int, ...] = (0,)
    # the quick tier's methods: the paper's (the built-ins share one compiled step, so more would cost
    # only their steps); ``--method`` adds any other
    quick_methods: tuple[str, ...] = PAPER_METHODS


CONFIG = UnlearningConfig()


@dataclass(frozen=True)
class UnlearningSettings:
    """``--set unlearning.PARAM=VALUE`` (and ``sensitivity.PARAM``)."""

    lr: float | None = None  # None: the protocol's value for the task family

_POISONED: dict[str, tuple[tuple[str, ...], str, tuple[int, ...]]] = {}  # suite -> (metrics, what, seeds)


def register_poisoned_scenarios(suite: str, metrics: tuple[str, ...], what: str, controls: bool = False,
                                seeds: tuple[int, ...] = SEEDS, families: tuple[str, ...] = FAMILIES) -> None:
    """One scenario per protocol task of ``families`` and model: label flipping at alpha 0.3, the poisoned model
    of 2.3; with ``controls``, the control models' too (PROTOCOL 2.4: planned only where --model names them)."""
    _POISONED[suite] = (metrics, what, seeds)
    for task in family_tasks(families):
        for model in protocol_models() + (control_models() if controls else ()):
            register_scenario(poisoned_scenario(suite, task, model, metrics, what, seeds))


def poisoned_scenario(suite: str, task: str, model: str, metrics: tuple[str, ...], what: str,
                      seeds: tuple[int, ...] = SEEDS) -> Scenario:
    """The scenario of one task and model: label flipping at alpha 0.3, the poisoned model of 2.3."""
    return Scenario(
        name=f"{suite}/{task}/{model}", suite=suite, task=task, model=model,
        model_options=frozen_options(model_size(task, model)), corruption="label_flip", alphas=(ALPHA,),
        seeds=seeds, train=train_config(task, model), metrics=metrics, description=f"{what}: {model} on {task}",
    )


def select_poisoned_scenarios(suite: str, options: RunOptions, quick_seeds: tuple[int, ...]) -> list[Scenario]:
    """The suite's scenarios filtered and overridden by the command line (--task, --model, seeds, alphas)."""
    from qbench.scenarios import registered_scenarios

    scs = registered_scenarios(suite)
    scs = covering(scs, options, lambda t, m: [poisoned_scenario(suite, t, m, *_POISONED[suite])])
    seeds = options.seeds or (quick_seeds if options.quick else None)
    return [replace(s, seeds=seeds or s.seeds, alphas=options.alphas or s.alphas) for s in scs]


register_poisoned_scenarios("unlearning", STEP_METRICS + PRIVACY_METRICS, "unlearning label-flip poison", controls=True)


def _scenarios(options: RunOptions) -> list[Scenario]:
    return select_poisoned_scenarios("unlearning", options, CONFIG.quick_seeds)


def run_methods(options: RunOptions) -> tuple[str, ...]:
    """The methods of a run: ``--method``, or the protocol's (the quick tier: the paper's)."""
    return tuple(options.methods or (CONFIG.quick_methods if options.quick else PROTOCOL_METHODS))


def plan_configs(scenarios: list[Scenario], options: RunOptions, methods: tuple[str, ...]) -> list[dict]:
    """The unit configs of a poisoned-model run (this suite's, and ``corrective``'s before its fractions):
    per scenario, alpha and seed, the oracle's and one per method in ``methods`` with its ``--set`` overrides."""
    configs = []
    steps = options.steps or (CONFIG.quick_steps if options.quick else CONFIG.steps)
    for s in scenarios:
        cfg = effective_train(s.train, options, CONFIG.quick_epoch_fraction)
        lr = options.settings_as(UnlearningSettings).lr or CONFIG.lr or unlearning_lr(s.task)
        for alpha in s.alphas:
            for seed in s.seeds:
                spec = TrainSpec(s.task, s.model, s.options, s.corruption, float(alpha), int(seed), cfg, s.data_seed,
                                 task_options=task_options_for(s.task, options.task_options))

                def config(name: str, hp: dict, source: str) -> dict:
                    # the oracle's config differs from a method's only in the method's own (free) fields
                    return {
                        **config_head(s, options),
                        "poisoned": spec.as_dict(), "method": name, "method_hyperparameters": hp, "method_source": source,
                        "steps": steps, "lr": lr, "optimizer": "adam (fresh)", "step_budget_s": CONFIG.step_budget_s,
                        "task": s.task, "model": s.model, "corruption": s.corruption, "alpha": float(alpha), "seed": int(seed),
                    }

                configs.append(config(ORACLE, {}, "builtin"))
                for name in methods:
                    if name == ORACLE:
                        raise QbenchError(f"'oracle' is not a method: its unit is planned in every {s.suite} run")
                    method = get_method(name, **dict(options.method_overrides.get(name, {})))  # validated up front
                    configs.append(config(name, method.hyperparameters(), method_source(name)))
    return configs


def _plan(scenarios: list[Scenario], options: RunOptions) -> list[Unit]:
    return [unit_from_config(c) for c in plan_configs(scenarios, options, run_methods(options))]


def unit_from_config(config: dict) -> Unit:
    """The unit of an unlearning config (a plan's, a worker's or a stored record's). The method is
    resolved by name with every recorded hyperparameter; a ``module:attr`` method must be importable."""
    spec = TrainSpec.from_dict(config["poisoned"])
    name, hp = config["method"], dict(config.get("method_hyperparameters") or {})
    if name == ORACLE:  # "unlearning." never starts a method unit's key ("unlearning-")
        key = unit_key(f"unlearning.oracle-{spec.task}-{spec.model}-a{spec.alpha:g}-s{spec.seed}", config)
    else:
        get_method(name, **hp)  # imports a module:attr method and checks the hyperparameters up front
        key = unit_key(f"unlearning-{spec.task}-{spec.model}-a{spec.alpha:g}-s{spec.seed}-{name}", config)
    return model_unit(key, "unlearning", config, spec.task, spec.model, config["poisoned"]["model_options"])


def poisoned_model(spec: TrainSpec, ctx: RunContext, out_dir: str,
                   also: Sequence[str] = ()) -> tuple[Prepared, np.ndarray, dict]:
    """The model trained on the polluted set for ``spec``: trained once, then shared (memory and disk; ``also``:
    other output trees whose models it may reuse)."""
    prepared = prepare(spec, ctx)

    def compute():
        trained = train_corrupted(spec, ctx)
        return trained.params, {"train_acc": trained.train_acc(), "val_acc": trained.val_acc(),
                                "train_wall_s": trained.result.wall_s}

    params, info, _ = cached_params(out_dir, spec.as_dict(), compute, also)
    return prepared, params, info


def oracle_key(spec: TrainSpec) -> dict:
    """The cache key of the oracle of ``spec``'s poisoned model (no TrainSpec's dict looks like it)."""
    return {"oracle_of": spec.as_dict(), "trained_on": "retain", "init": "oracle_init", "order": "oracle_order"}


def oracle_model(spec: TrainSpec, ctx: RunContext, out_dir: str, sets_of: Callable[[Prepared], UnlearnSets] | None = None,
                 key: dict | None = None, also: Sequence[str] = ()) -> tuple[Prepared, np.ndarray, dict]:
    """The oracle of ``spec``: trained from the seed's fresh ``oracle_init`` on the retain set with the poisoned
    model's recipe (``spec.train``), once, then shared; ``info`` holds its metrics (``ORACLE_METRICS``, with
    the reasons of any that are null under ``notes``) and its training time. ``sets_of``/``key``: another
    split into retain and forget sets (default :func:`unlearn_sets`) and its cache key."""
    prepared = prepare(spec, ctx)
    sets_of = sets_of or unlearn_sets

    def compute():
        from qbench.metrics.evaluate import evaluate
        from qbench.training import train

        sets = sets_of(prepared)
        theta0 = prepared.model.init_params(int_seed(spec.seed, "oracle_init"))
        result = train(prepared.model, sets.x_retain, sets.y_retain, spec.train, rng(spec.seed, "oracle_order"), theta0,
                       noise_purpose="oracle")
        notes: dict[str, str] = {}
        metrics = evaluate(prepared.model, result.params, sets, ORACLE_METRICS, seed=spec.seed, notes=notes)
        return result.params, {"metrics": metrics, "notes": notes, "train_wall_s": result.wall_s}

    params, info, _ = cached_params(out_dir, key or oracle_key(spec), compute, also)
    return prepared, params, info


def unlearn_sets(p: Prepared) -> UnlearnSets:
    from qbench.training.unlearn import UnlearnSets

    forget = np.zeros(len(p.y_train), bool)
    forget[p.corrupted.indices] = True
    return UnlearnSets(
        x_retain=p.x_train[~forget], y_retain=p.y_train[~forget],
        x_forget=p.x_train[forget], y_forget=p.y_train[forget], y_forget_clean=p.task.y_train[forget],
        x_val=p.x_val, y_val=p.y_val,
    )


def step_budget(config: dict, ctx: RunContext) -> float:
    """The seconds a step of this unit may take: ``--step-budget`` if given, else the unit's config."""
    return config["step_budget_s"] if ctx.step_budget_s is None else ctx.step_budget_s


def run_method(spec: TrainSpec, ctx: RunContext, out_dir: str, name: str, hp: dict, config: dict,
               curves: tuple[str, ...] | None = None, sets: UnlearnSets | None = None,
               keep_every: int | None = PRIVACY_EVERY, also: Sequence[str] = (), evaluate: bool = True,
               curve_every: int = 1):
    """Unlearn the shared poisoned model of ``spec`` with method ``name``: (prepared, poisoned info, result).
    ``curves``: the metrics evaluated at every ``curve_every``-th step (default all; the last step always
    gets all); ``sets``: the retain and forget sets (default :func:`unlearn_sets`); ``keep_every``: see
    ``unlearn``; ``evaluate`` False: no metrics at any step (the result's metrics hold only the clock and the loss)."""
    from qbench.metrics.evaluate import evaluator
    from qbench.training.unlearn import unlearn

    prepared, poisoned, info = poisoned_model(spec, ctx, out_dir, also)
    method = get_method(name, **hp)
    fresh = prepared.model.init_params(int_seed(spec.seed, "retrain_init"))
    sets = sets or unlearn_sets(prepared)
    res = unlearn(prepared.model, method, poisoned, fresh, sets,
                  evaluate=evaluator(prepared.model, sets) if evaluate else None,
                  steps=config["steps"], lr=config["lr"], step_budget_s=step_budget(config, ctx),
                  method_seed=int_seed(spec.seed, "method", name), keep_every=keep_every, curves=curves,
                  curve_every=curve_every)
    return prepared, info, res


def run(config: dict, ctx: RunContext, out_dir: str = ".") -> list[dict]:
    """Unlearn the shared poisoned model of ``config`` with its method; a record at step 0 and after every step
    (the oracle's unit: one record, at the final step)."""
    return unit_records(config, ctx, out_dir, unit_from_config(config).key, "unlearning")


def unit_records(config: dict, ctx: RunContext, out_dir: str, key: str, suite: str,
                 curve_every: int = 1) -> list[dict]:
    """The records of an unlearning unit of ``suite`` (this one's, or a suite that runs its units at other
    settings: ``noise``): the oracle's one record, or a method's at step 0, every ``curve_every`` steps (the
    steps between are not evaluated) and the final step."""
    start = time.perf_counter()
    spec = TrainSpec.from_dict(config["poisoned"])
    if config["method"] == ORACLE:
        return [_oracle_record(config, ctx, out_dir, key, spec, start, suite)]
    name, hp = config["method"], dict(config.get("method_hyperparameters") or {})
    prepared, info, res = run_method(spec, ctx, out_dir, name, hp, config, curve_every=curve_every)
    theta0 = (prepared.model.init_params(int_seed(spec.seed, "retrain_init")) if get_method(name, **hp).from_scratch
              else poisoned_model(spec, ctx, out_dir)[1])
    notes = privacy_metrics(prepared.model, unlearn_sets(prepared), theta0, res, spec.seed,
                            lambda: oracle_model(spec, ctx, out_dir)[2])
    common = _common(config, key, spec, prepared, name, suite)
    last = len(res.metrics) - 1
    kept = [i for i in range(len(res.metrics)) if i % curve_every == 0 or (i == last and res.status == "ok")]
    records = [new_record(**common, step=i, metrics=res.metrics[i]) for i in kept]
    if res.status != "ok":
        records.append(new_record(**common, step=len(res.metrics), metrics={}, status="failed", error=res.error,
                                  **({"traceback": res.extras["traceback"]} if "traceback" in res.extras else {})))
    for r in records:
        r["metrics"]["first_step_s"] = res.compile_s
        r["metrics"]["setup_s"] = res.setup_s
        r["poisoned_model"] = info
        if r[F.STEP] in notes:
            r["metric_notes"] = notes[r[F.STEP]]
    records[-1]["metrics"]["unit_wall_s"] = time.perf_counter() - start
    return records


def _common(config: dict, key: str, spec: TrainSpec, prepared: Prepared, method: str, suite: str) -> dict:
    return dict(suite=suite, scenario=config["scenario"], unit_key=key, config=config, task=spec.task,
                model=spec.model, model_size=prepared.model.size_label(), corruption=spec.corruption,
                alpha=spec.alpha, seed=spec.seed, method=method)


def _oracle_record(config: dict, ctx: RunContext, out_dir: str, key: str, spec: TrainSpec, start: float,
                   suite: str) -> dict:
    prepared, _, info = oracle_model(spec, ctx, out_dir)
    metrics = {**info["metrics"], "train_wall_s": info["train_wall_s"], "unit_wall_s": time.perf_counter() - start}
    rec = new_record(**_common(config, key, spec, prepared, ORACLE, suite), step=config["steps"], metrics=metrics)
    if info["notes"]:
        rec["metric_notes"] = info["notes"]
    rec["oracle_model"] = {k: v for k, v in info.items() if k not in ("metrics", "notes")}
    return rec


def privacy_metrics(model, sets: UnlearnSets, start: np.ndarray, res, seed: int,
                    oracle: Callable[[], dict]) -> dict[int, dict[str, str]]:
    """Add ``mia_efficacy`` and ``gap_to_oracle`` to the metrics of ``res`` at step 0 (the starting model), every
    :data:`PRIVACY_EVERY` steps and the final step of a run that finished; ``oracle()`` gives the oracle's
    info (its ``metrics``). Returns {step: {metric: why it is null}} for those that are."""
    from qbench.metrics.evaluate import evaluate
    from qbench.metrics.registry import GAP_METRICS, Missing, compute

    params = {0: start, **res.snapshots}
    if res.status == "ok":
        params[len(res.metrics) - 1] = res.params
    try:
        target, why = oracle()["metrics"], ""
    except Exception as exc:  # noqa: BLE001  (an oracle that cannot be trained leaves a null, not a crash)
        target, why = None, f"the oracle could not be trained: {type(exc).__name__}: {exc}"
    notes: dict[int, dict[str, str]] = defaultdict(dict)
    for step, theta in sorted(params.items()):
        row = res.metrics[step]
        row["mia_efficacy"] = evaluate(model, theta, sets, ("mia_efficacy",), seed=seed, notes=notes[step])["mia_efficacy"]
        gap = Missing(why) if target is None else compute(
            "gap_to_oracle", {n: (row.get(n), target.get(n)) for n in GAP_METRICS})
        row["gap_to_oracle"] = None if isinstance(gap, Missing) else gap
        if isinstance(gap, Missing):
            notes[step]["gap_to_oracle"] = gap.reason
    return {step: why for step, why in notes.items() if why}


register_suite(Suite(
    name="unlearning", families=FAMILIES,
    title="Unlearning (PROTOCOL 4.2)", order=0, in_all=True, run_order=1,
    description="val/forget accuracy per unlearning step for each method (PROTOCOL 4.2)",
    scenarios=_scenarios,
    plan=_plan,
    unit_from_config=unit_from_config,
    run=run,
    # the step budget only decides when a slow method is stopped, never the numbers of one that finishes
    free_config=METHOD_FIELDS,
    settings=UnlearningSettings,
    flags=frozenset({"methods", "steps"}),
    methods=run_methods,
))
