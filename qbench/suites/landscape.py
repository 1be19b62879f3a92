"""``landscape`` (PROTOCOL 4.3): Hessian trace and extreme eigenvalues of the training loss, and the
Landscape Roughening Ratio LRR(alpha) = Tr H_noisy(alpha) / Tr H_clean.

One unit per (task, model, seed) trains the clean model and one model per alpha (label flipping),
and evaluates the exact Hessian trace of the mean BCE at each model's final parameters on 100
samples of that model's training set as trained (corrupted labels included). The per-seed LRR
divides by the same seed's clean trace; the leaderboard also gives the study's form, divided by the
mean clean trace over seeds.

Two scenario families (PROTOCOL 4.3): ``landscape`` (the protocol's models trained per 2.3 on the
whole training set, Hessian on 100 samples of it as trained) and ``landscape-study`` (the study's own
configuration: a stratified 70/30 split per seed, 50 epochs, batch 32, lr 0.01, MLP (8, 2), the
RX/RY/CNOT-ring QNN of depth 5, Hessian on 100 samples of the held-out 30%). In both, a model whose
output collapsed to a constant is flagged and left out of the ratios (its per-seed ``lrr`` is null).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

import numpy as np

from qbench.artifacts import cached_params
from qbench.errors import QbenchError
from qbench.experiment import RunContext, TrainSpec, prepare, task_options_for, train_prepared
from qbench.protocol import SEEDS, TrainConfig, family_tasks, model_size, protocol_models, train_config
from qbench.records.build import new_record, unit_key
from qbench.scenarios import (
    RunOptions,
    Scenario,
    Suite,
    Unit,
    config_head,
    effective_train,
    frozen_options,
    model_unit,
    register_scenario,
    register_suite,
    registered_scenarios,
)
from qbench.seeding import rng

ALPHAS = (0.2, 0.3, 0.4)
N_SAMPLES = 100
#: the quick tier's Hessian samples and seeds: on 2 cores of an Intel Xeon the QNN's exact trace took
#: 30-36 s at 100 samples, 8-12 s at 25, and each QNN unit compiles its training step and Hessian
#: functions for about 2 minutes; seeds 0 and 1 at 100 samples took 8 min 30 s, at 25 samples 6 min
QUICK_SAMPLES = 25
QUICK_SEEDS = (0,)
K_EIGS = 3

METRICS = ("hessian_trace", "lrr", "eig_top", "eig_bottom")
#: the task families whose protocol tasks it registers scenarios for (mnist-1v9)
FAMILIES = ("mnist",)
VARIANTS = ("protocol", "study")


@dataclass(frozen=True)
class LandscapeSettings:
    """``--set landscape.PARAM=VALUE``."""

    #: protocol, study or both scenario families; None: both (the quick tier: protocol)
    variant: str | None = None
    #: training samples the Hessian is evaluated on; None: the protocol's 100 (the quick tier: 25)
    hessian_samples: int | None = None

    def __post_init__(self) -> None:
        if self.variant is not None and self.variant not in (*VARIANTS, "both"):
            raise QbenchError(f"landscape.variant must be one of protocol, study, both; got {self.variant!r}")
        if self.hessian_samples is not None and self.hessian_samples < 1:
            raise QbenchError(f"landscape.hessian_samples must be >= 1, got {self.hessian_samples}")

#: the study's own landscape configuration (PROTOCOL 4.3, ``landscape-study``)
STUDY_TRAIN = TrainConfig(epochs=50, batch_size=32, lr=0.01)
STUDY_SPLIT = 0.7
STUDY_MODELS = {"qnn": {"depth": 5, "ansatz": "rxry-cnot"}, "mlp": {"hidden": (8, 2)}}

for _task in family_tasks(FAMILIES):
    for _model in protocol_models():
        register_scenario(Scenario(
            name=f"landscape/{_task}/{_model}", suite="landscape", task=_task, model=_model,
            model_options=frozen_options(model_size(_task, _model)),
            corruption="label_flip", alphas=ALPHAS, seeds=SEEDS, train=train_config(_task, _model),
            metrics=METRICS,
            description=f"Hessian trace and LRR of the {_model} on {_task} under label flipping",
        ))
        if _model in STUDY_MODELS:
            register_scenario(Scenario(
                name=f"landscape-study/{_task}/{_model}", suite="landscape", task=_task, model=_model,
                model_options=frozen_options(STUDY_MODELS[_model]),
                corruption="label_flip", alphas=ALPHAS, seeds=SEEDS, train=STUDY_TRAIN, metrics=METRICS,
                description=f"the study's landscape configuration (70/30 split, held-out Hessian), {_model} on {_task}",
            ))


def is_study(s: Scenario) -> bool:
    return s.name.startswith("landscape-study/")


def _scenarios(options: RunOptions) -> list[Scenario]:
    # the quick tier runs the protocol's family only (it stays within minutes); ask for the other explicitly
    variant = options.settings_as(LandscapeSettings).variant or ("protocol" if options.quick else "both")
    scs = [s for s in registered_scenarios("landscape") if variant == "both" or is_study(s) == (variant == "study")]
    if options.models:  # before retargeting: a task need give a recipe only for the run's models
        scs = [s for s in scs if s.model in options.models]
    if options.tasks:
        scs = [replace(s, task=t, name=s.name.replace(s.task, t),
                       **({} if is_study(s) else {"train": train_config(t, s.model),
                                                  "model_options": frozen_options(model_size(t, s.model))}))
               for t in options.tasks for s in scs]
    seeds = options.seeds or (QUICK_SEEDS if options.quick else None)
    alphas = tuple(a for a in (options.alphas or ()) if a > 0) or None
    return [s.with_overrides(seeds=seeds, alphas=alphas) for s in scs]


def _plan(scenarios: list[Scenario], options: RunOptions) -> list[Unit]:
    units = []
    for s in scenarios:
        cfg = effective_train(s.train, options)
        n_samples = (options.settings_as(LandscapeSettings).hessian_samples
                     or (QUICK_SAMPLES if options.quick else N_SAMPLES))
        split = STUDY_SPLIT if is_study(s) else None
        subset = ("random from the held-out 30% of the seed's split (clean labels)" if split else
                  "random from the training set as trained (corrupted labels)")
        for seed in s.seeds:
            specs = [TrainSpec(s.task, s.model, s.options, s.corruption, float(a), int(seed), cfg, s.data_seed, split,
                               task_options=task_options_for(s.task, options.task_options))
                     for a in (0.0, *s.alphas)]
            config = {**config_head(s, options),
                      "task": s.task, "model": s.model, "corruption": s.corruption,
                      "alphas": [0.0, *s.alphas], "seed": int(seed), "train": [sp.as_dict() for sp in specs],
                      "hessian": {"samples": n_samples, "loss": "mean BCE", "trace": "exact", "k_eigs": K_EIGS,
                                  "subset": subset}}
            units.append(unit_from_config(config))
    return units


def unit_from_config(config: dict) -> Unit:
    """The unit of a landscape config (a plan's, a worker's or a stored record's)."""
    first = TrainSpec.from_dict(config["train"][0])
    fam = "landscape-study" if str(config["scenario"]).startswith("landscape-study/") else "landscape"
    key = unit_key(f"{fam}-{first.task}-{first.model}-s{config['seed']}", config)
    return model_unit(key, "landscape", config, first.task, first.model, config["train"][0]["model_options"])


def run(config: dict, ctx: RunContext, out_dir: str = ".") -> list[dict]:
    """Train the clean model and one per alpha; per model, the exact Hessian trace, extreme eigenvalues and LRR."""
    from qbench.metrics.hessian import collapsed_output, hessian_eigs, hessian_trace_exact

    key, specs = unit_from_config(config).key, [TrainSpec.from_dict(d) for d in config["train"]]
    n_samples = int(config["hessian"]["samples"])
    rows = []
    for spec in specs:
        start = time.perf_counter()
        prepared = prepare(spec, ctx)

        def compute():
            t = train_prepared(prepared)
            return t.params, {"train_acc": t.train_acc(), "val_acc": t.val_acc()}

        params, info, _ = cached_params(out_dir, spec.as_dict(), compute)
        if spec.train_split is None:  # the protocol: the training set as trained
            pool_x, pool_y = prepared.x_train, prepared.y_train
        else:  # the study: its held-out part
            pool_x, pool_y = prepared.x_heldout, prepared.y_heldout
        sub = np.sort(rng(spec.seed, "hessian_subset").choice(len(pool_y), min(n_samples, len(pool_y)), replace=False))
        x, y = pool_x[sub], pool_y[sub]
        t0 = time.perf_counter()
        trace = hessian_trace_exact(prepared.model, params, x, y)
        trace_s = time.perf_counter() - t0
        top, bottom = hessian_eigs(prepared.model, params, x, y, k=K_EIGS)
        rows.append((spec, prepared.model.size_label(), {
            "hessian_trace": float(trace), # eigenvalues Lanczos did not converge to (NaN) are left out
            "eig_top": [float(v) for v in top if np.isfinite(v)],
            "eig_bottom": [float(v) for v in bottom if np.isfinite(v)],
            "collapsed": bool(collapsed_output(prepared.model, params, x)), "trace_wall_s": trace_s,
            "train_acc": info["train_acc"], "val_acc": info["val_acc"], "wall_s": time.perf_counter() - start,
        }))
    clean = rows[0][2]
    records = []
    for spec, size, metrics in rows:
        # a collapsed model (or a collapsed clean reference) has no ratio (PROTOCOL 4.3)
        usable = clean["hessian_trace"] and not (clean["collapsed"] or metrics["collapsed"])
        metrics["lrr"] = metrics["hessian_trace"] / clean["hessian_trace"] if usable else None
        records.append(new_record(suite="landscape", scenario=config["scenario"], unit_key=key, config=config, metrics=metrics,
                                  task=spec.task, model=spec.model, model_size=size, corruption=spec.corruption,
                                  alpha=spec.alpha, seed=spec.seed))
    return records


register_suite(Suite(
    name="landscape", families=FAMILIES,
    title="Loss landscape (PROTOCOL 4.3)", order=3, in_all=True, run_order=2,
    description="exact Hessian trace, extreme eigenvalues and LRR vs alpha (PROTOCOL 4.3)",
    scenarios=_scenarios,
    plan=_plan,
    unit_from_config=unit_from_config,
    run=run,
    settings=LandscapeSettings,
))
