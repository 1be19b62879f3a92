"""``noise`` (PROTOCOL 4.10, protocol 3): does the QNN's advantage survive a device?

The QNN with the device-noise options of PROTOCOL 2.1 (:mod:`qbench.models.qnn_noise`) at five noise
levels (:data:`LEVELS`: shots 1000 and 100; depolarizing 1e-3 and 1e-2 with exact shots; one combined
level), each in two parts, a scenario per task, level and part:

* ``resilience``: label flipping, alpha in {0, 0.1, ..., 0.5}, one unit per (alpha, seed): train the
  noisy QNN on the corrupted set (PROTOCOL 2.3), record ``train_acc`` and ``val_acc`` (both measured
  with the level's noise).
* ``unlearning``: PROTOCOL 4.2 at alpha 0.3 for the paper's four methods and the oracle, one unit per
  (method, seed). The noisy QNN unlearns and is evaluated noisily; the curves are evaluated every
  :attr:`NoiseConfig.curve_every` steps (the measured cost, ``docs/protocol.md`` 4.10).

The model trained at alpha 0.3 is the same spec in both parts: it is trained once, by whichever unit
comes first, and kept under ``OUT/models`` (the unlearning suite's cache). Every config holds its level
(``noise_level``) and the level's options in the model options, so each level is its own scenario and
its own compiled shape. QNN only: the noiseless QNN and the MLP are the references, read by the report
from the resilience and unlearning records; this suite never runs them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Any

from qbench.errors import QbenchError
from qbench.experiment import RunContext, TrainSpec, task_options_for
from qbench.methods import get_method, method_source
from qbench.protocol import SEEDS, family_tasks, model_size, train_config, unlearning_lr
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
    registered_scenarios,
)
from qbench.suites.unlearning import (
    ALPHA,
    FAMILIES,
    METHOD_FIELDS,
    ORACLE,
    PRIVACY_EVERY,
    PRIVACY_METRICS,
    STEP_METRICS,
    STEPS,
    poisoned_model,
    unit_records,
)
from qbench.suites.unlearning import CONFIG as UNLEARNING

MODEL = "qnn"
RESILIENCE, UNLEARNING_PART = "resilience", "unlearning"
PARTS = (RESILIENCE, UNLEARNING_PART)
ALPHAS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5)
#: the paper's four methods (PROTOCOL 4.2); the oracle's unit is planned beside them
METHODS = ("retrain", "finetune", "gradient_ascent", "scrub")
RESILIENCE_METRICS = ("train_acc", "val_acc", "wall_s")


@dataclass(frozen=True)
class NoiseLevel:
    """One device-noise setting of the QNN: its name in configs, scenario names and tables, and its options."""

    name: str
    #: the ladder it climbs ("shots", "depolarizing") or "combined"; within a ladder, later is noisier
    axis: str
    shots: int | None = None
    depolarizing: float = 0.0
    readout: float = 0.0

    def options(self) -> dict[str, Any]:
        """The QNN's options of the level (only those that are on)."""
        out: dict[str, Any] = {}
        if self.shots is not None:
            out["shots"] = self.shots
        if self.depolarizing:
            out["depolarizing"] = self.depolarizing
        if self.readout:
            out["readout"] = self.readout
        return out

    @property
    def label(self) -> str:
        """'100 shots', 'p = 0.01', '1000 shots, p = 0.01, readout 0.01'."""
        parts = ([f"{self.shots} shots"] if self.shots is not None else []) + (
            [f"p = {self.depolarizing:g}"] if self.depolarizing else []) + (
            [f"readout {self.readout:g}"] if self.readout else [])
        return ", ".join(parts) or "noiseless"


#: the protocol's levels (PROTOCOL 4.10), in the order tables list them: each ladder from least to most noise
LEVELS = (
    NoiseLevel("shots-1000", "shots", shots=1000),
    NoiseLevel("shots-100", "shots", shots=100),
    NoiseLevel("depolarizing-0.001", "depolarizing", depolarizing=1e-3),
    NoiseLevel("depolarizing-0.01", "depolarizing", depolarizing=1e-2),
    NoiseLevel("combined", "combined", shots=1000, depolarizing=1e-2, readout=1e-2),
)
LEVEL_NAMES = tuple(lv.name for lv in LEVELS)


def level(name: str) -> NoiseLevel:
    for lv in LEVELS:
        if lv.name == name:
            return lv
    raise QbenchError(f"unknown noise level {name!r}; known: {', '.join(LEVEL_NAMES)}")


@dataclass(frozen=True)
class NoiseConfig:
    alphas: tuple[float, ...] = ALPHAS
    methods: tuple[str, ...] = METHODS
    steps: int = STEPS
    #: the unlearning curves are evaluated at step 0, every ``curve_every`` steps and the last: an evaluation
    #: of a depolarized QNN averages 16 trajectories per sample and costs more than a step (docs/protocol.md 4.10)
    curve_every: int = 5
    # the quick tier: one task, two levels, seed 0, a tenth of the epochs, three alphas (0.3 for the sentence),
    # two methods and 10 steps: 12 units, 4 min 11 s cold on a shared 2-core AMD EPYC at load 9-10
    quick_tasks: tuple[str, ...] = ("xxz-12",)
    quick_levels: tuple[str, ...] = ("shots-100", "depolarizing-0.01")
    quick_seeds: tuple[int, ...] = (0,)
    quick_alphas: tuple[float, ...] = (0.0, 0.3, 0.5)
    quick_methods: tuple[str, ...] = ("finetune", "scrub")
    quick_steps: int = 10
    quick_epoch_fraction: float = 0.1

    def __post_init__(self) -> None:
        if PRIVACY_EVERY % self.curve_every:  # the membership-inference steps must be evaluated steps
            raise ValueError(f"curve_every must divide {PRIVACY_EVERY}, got {self.curve_every}")


CONFIG = NoiseConfig()


@dataclass(frozen=True)
class NoiseSettings:
    """``--set noise.PARAM=VALUE``."""

    #: a comma list of level names (default: every level; the quick tier: two)
    levels: str | None = None
    #: resilience, unlearning or both (default)
    part: str | None = None
    #: the unlearning learning rate; None: the protocol's value for the task family
    lr: float | None = None

    def __post_init__(self) -> None:
        if self.part is not None and self.part not in (*PARTS, "both"):
            raise QbenchError(f"noise.part must be one of {', '.join(PARTS)}, both; got {self.part!r}")
        if self.levels is not None:
            for name in self.levels.split(","):
                level(name.strip())


def scenario_name(task: str, lv: NoiseLevel, part: str) -> str:
    return f"noise/{task}/{MODEL}-{lv.name}/{part}"


def make_scenario(task: str, lv: NoiseLevel, part: str) -> Scenario:
    return Scenario(
        name=scenario_name(task, lv, part), suite="noise", task=task, model=MODEL,
        model_options=frozen_options({**model_size(task, MODEL), **lv.options()}), corruption="label_flip",
        alphas=CONFIG.alphas if part == RESILIENCE else (ALPHA,), seeds=SEEDS, train=train_config(task, MODEL),
        metrics=RESILIENCE_METRICS if part == RESILIENCE else STEP_METRICS + PRIVACY_METRICS,
        description=f"the QNN on {task} at {lv.label}: "
                    + ("train/val accuracy vs alpha" if part == RESILIENCE else "unlearning label-flip poison"),
    )


for _task in family_tasks(FAMILIES):
    for _lv in LEVELS:
        for _part in PARTS:
            register_scenario(make_scenario(_task, _lv, _part))


def scenario_level(s: Scenario) -> NoiseLevel:
    """The level of a noise scenario (its name's model part)."""
    return level(s.name.split("/")[2][len(MODEL) + 1:])


def scenario_part(s: Scenario) -> str:
    return s.name.rsplit("/", 1)[1]


def _scenarios(options: RunOptions) -> list[Scenario]:
    if options.models and set(options.models) != {MODEL}:
        raise QbenchError("the noise suite runs the QNN only (--model qnn): its references, the noiseless QNN and the "
                          "MLP, come from the resilience and unlearning records")
    settings = options.settings_as(NoiseSettings)
    levels = (tuple(n.strip() for n in settings.levels.split(",")) if settings.levels
              else CONFIG.quick_levels if options.quick else LEVEL_NAMES)
    part = settings.part or "both"
    scs = [s for s in registered_scenarios("noise")
           if scenario_level(s).name in levels and part in ("both", scenario_part(s))]
    if options.quick and not options.tasks:
        scs = [s for s in scs if s.task in CONFIG.quick_tasks]
    scs = covering(scs, replace(options, models=None))
    seeds = options.seeds or (CONFIG.quick_seeds if options.quick else None)
    alphas = options.alphas or (CONFIG.quick_alphas if options.quick else None)
    return [s.with_overrides(seeds=seeds, alphas=alphas if scenario_part(s) == RESILIENCE else None) for s in scs]


def run_methods(options: RunOptions) -> tuple[str, ...]:
    """The unlearning methods of a run: ``--method``, or the paper's four (the quick tier: two)."""
    return tuple(options.methods or (CONFIG.quick_methods if options.quick else CONFIG.methods))


def _plan(scenarios: list[Scenario], options: RunOptions) -> list[Unit]:
    """Per scenario: the resilience part's units (alpha, seed), or the unlearning part's (the oracle, then each
    method, per seed)."""
    settings = options.settings_as(NoiseSettings)
    steps = options.steps or (CONFIG.quick_steps if options.quick else CONFIG.steps)
    methods = run_methods(options)
    configs = []
    for s in scenarios:
        cfg = effective_train(s.train, options, CONFIG.quick_epoch_fraction)
        head = {**config_head(s, options), "noise_level": scenario_level(s).name, "part": scenario_part(s)}
        for alpha in s.alphas:
            for seed in s.seeds:
                spec = TrainSpec(s.task, s.model, s.options, s.corruption, float(alpha), int(seed), cfg, s.data_seed,
                                 task_options=task_options_for(s.task, options.task_options))
                if scenario_part(s) == RESILIENCE:
                    configs.append({**head, **spec.as_dict()})
                    continue
                lr = settings.lr or unlearning_lr(s.task)

                def config(name: str, hp: dict, source: str) -> dict:
                    return {**head, "poisoned": spec.as_dict(), "method": name, "method_hyperparameters": hp,
                            "method_source": source, "steps": steps, "curve_every": CONFIG.curve_every, "lr": lr,
                            "optimizer": "adam (fresh)", "step_budget_s": UNLEARNING.step_budget_s,
                            "task": s.task, "model": s.model, "corruption": s.corruption, "alpha": float(alpha),
                            "seed": int(seed)}

                configs.append(config(ORACLE, {}, "builtin"))
                for name in methods:
                    if name == ORACLE:
                        raise QbenchError("'oracle' is not a method: its unit is planned in every noise run")
                    method = get_method(name, **dict(options.method_overrides.get(name, {})))
                    configs.append(config(name, method.hyperparameters(), method_source(name)))
    return [unit_from_config(c) for c in configs]


def unit_from_config(config: dict) -> Unit:
    """The unit of a noise config: ``noise-<task>-<level>-a<alpha>-s<seed>`` (resilience), with ``-<method>``
    (unlearning), or ``noise.oracle-...``; the level must be one of :data:`LEVELS`."""
    lv, part = level(str(config.get("noise_level"))), config.get("part")
    if part == RESILIENCE:
        spec = TrainSpec.from_dict(config)
        where = f"{spec.task}-{lv.name}-a{spec.alpha:g}-s{spec.seed}"
        key = unit_key(f"noise-{where}", config)
        return model_unit(key, "noise", config, spec.task, spec.model, config["model_options"])
    if part != UNLEARNING_PART:
        raise QbenchError(f"a noise unit's part must be one of {', '.join(PARTS)}, got {part!r}")
    spec = TrainSpec.from_dict(config["poisoned"])
    where = f"{spec.task}-{lv.name}-a{spec.alpha:g}-s{spec.seed}"
    if config["method"] == ORACLE:
        key = unit_key(f"noise.oracle-{where}", config)
    else:
        get_method(config["method"], **dict(config.get("method_hyperparameters") or {}))
        key = unit_key(f"noise-{where}-{config['method']}", config)
    return model_unit(key, "noise", config, spec.task, spec.model, config["poisoned"]["model_options"])


def run(config: dict, ctx: RunContext, out_dir: str = ".") -> list[dict]:
    """One noise unit: a trained model's accuracies (resilience), or an unlearning unit's records."""
    unit = unit_from_config(config)
    if config["part"] == UNLEARNING_PART:
        return unit_records(config, ctx, out_dir, unit.key, "noise", curve_every=int(config["curve_every"]))
    start = time.perf_counter()
    spec = TrainSpec.from_dict(config)
    # the unlearning part's poisoned model at alpha 0.3 is this spec: trained once, shared through the cache
    prepared, _, info = poisoned_model(spec, ctx, out_dir)
    metrics = {"train_acc": info["train_acc"], "val_acc": info["val_acc"], "n_corrupted": len(prepared.corrupted.indices),
               "train_wall_s": info["train_wall_s"], "wall_s": time.perf_counter() - start}
    return [new_record(suite="noise", scenario=config["scenario"], unit_key=unit.key, config=config, metrics=metrics,
                       task=spec.task, model=spec.model, model_size=prepared.model.size_label(),
                       corruption=spec.corruption, alpha=spec.alpha, seed=spec.seed, poisoned_model=info)]


register_suite(Suite(
    name="noise", families=FAMILIES,
    title="Device noise (PROTOCOL 4.10)", order=7, in_all=False, run_order=7, optional_heading=True,
    description="the QNN under shot, depolarizing and readout noise: resilience and unlearning (PROTOCOL 4.10)",
    scenarios=_scenarios,
    plan=_plan,
    unit_from_config=unit_from_config,
    run=run,
    free_config=METHOD_FIELDS,
    settings=NoiseSettings,
    flags=frozenset({"methods", "steps"}),
    methods=run_methods,
))
