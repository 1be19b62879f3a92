"""``landscape`` (PROTOCOL 4.3): Hessian trace and extreme eigenvalues of the training loss, and the
Landscape Roughening Ratio LRR(alpha) = Tr H_noisy(alpha) / Tr H_clean.

One unit per (task, model, seed) trains the clean model and one model per alpha (label flipping),
and evaluates the exact Hessian trace of the mean BCE at each model's final parameters on 100
samples of that model's training set as trained (corrupted labels included). The per-seed LRR
divides by the same seed's clean trace; the summary also gives the study's form, divided by the
mean clean trace over seeds.
"""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np
import pandas as pd

from qbench import PROTOCOL_VERSION
from qbench.artifacts import cached_params
from qbench.experiment import RunContext, TrainSpec, prepare, train_corrupted
from qbench.protocol import QUICK, SEEDS, model_size, train_config
from qbench.records.build import new_record, unit_key
from qbench.scenarios import RunOptions, Scenario, Suite, Unit, list_scenarios, register_scenario, register_suite
from qbench.seeding import rng
from qbench.summary import mean_std_table

ALPHAS = (0.2, 0.3, 0.4)
N_SAMPLES = 100
K_EIGS = 3

for _model in ("qnn", "mlp"):
    register_scenario(Scenario(
        name=f"landscape/mnist-1v9/{_model}", suite="landscape", task="mnist-1v9", model=_model,
        model_options=tuple(sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in model_size("mnist-1v9", _model).items())),
        corruption="label_flip", alphas=ALPHAS, seeds=SEEDS, train=train_config("mnist-1v9", _model),
        metrics=("hessian_trace", "lrr", "eig_top", "eig_bottom"),
        description=f"Hessian trace and LRR of the {_model} on mnist-1v9 under label flipping",
    ))


def _scenarios(options: RunOptions) -> list[Scenario]:
    scs = list_scenarios("landscape")
    if options.tasks:
        scs = [replace(s, task=t, name=s.name.replace(s.task, t), train=train_config(t, s.model),
                       model_options=tuple(sorted((k, tuple(v) if isinstance(v, list) else v)
                                                  for k, v in model_size(t, s.model).items())))
               for t in options.tasks for s in scs]
    if options.models:
        scs = [s for s in scs if s.model in options.models]
    seeds = options.seeds or (QUICK.seeds if options.quick else None)
    alphas = tuple(a for a in (options.alphas or ()) if a > 0) or None
    return [s.with_overrides(seeds=seeds, alphas=alphas) for s in scs]


def _plan(scenarios: list[Scenario], options: RunOptions) -> list[Unit]:
    units = []
    for s in scenarios:
        cfg = s.train.scaled(QUICK.epoch_fraction) if options.quick else s.train
        if options.epochs is not None:
            cfg = cfg.scaled(options.epochs / cfg.epochs)
        n_samples = int(options.extra.get("hessian_samples") or N_SAMPLES)
        for seed in s.seeds:
            specs = [TrainSpec(s.task, s.model, s.options, s.corruption, float(a), int(seed), cfg, s.data_seed)
                     for a in (0.0, *s.alphas)]
            config = {"suite": "landscape", "scenario": s.name, "protocol_version": PROTOCOL_VERSION,
                      "quick": options.quick, "task": s.task, "model": s.model, "corruption": s.corruption,
                      "alphas": [0.0, *s.alphas], "seed": int(seed), "train": [sp.as_dict() for sp in specs],
                      "hessian": {"samples": n_samples, "loss": "mean BCE", "trace": "exact", "k_eigs": K_EIGS,
                                  "subset": "random from the training set as trained (corrupted labels)"}}
            units.append(_unit(s, specs, n_samples, config))
    return units


def _unit(s: Scenario, specs: list[TrainSpec], n_samples: int, config: dict) -> Unit:
    key = unit_key(f"landscape-{s.task}-{s.model}-s{config['seed']}", config)
    return Unit(key, "landscape", s.name, config, _runner(s, specs, n_samples, config, key),
                group=(s.task, s.model, s.model_options))


def unit_from_config(config: dict) -> Unit:
    """The unit a landscape record's stored config describes (for ``qbench verify``)."""
    from qbench.suites.resilience import model_options_tuple, train_spec_from_dict

    specs = [train_spec_from_dict(d) for d in config["train"]]
    first = specs[0]
    s = Scenario(name=config["scenario"], suite="landscape", task=first.task, model=first.model,
                 model_options=model_options_tuple(config["train"][0]["model_options"]), corruption=first.corruption,
                 alphas=tuple(sp.alpha for sp in specs[1:]), seeds=(first.seed,), train=first.train,
                 metrics=("hessian_trace", "lrr", "eig_top", "eig_bottom"), data_seed=first.data_seed)
    return _unit(s, specs, int(config["hessian"]["samples"]), config)


def _runner(s: Scenario, specs: list[TrainSpec], n_samples: int, config: dict, key: str):
    def run(ctx: RunContext, out_dir: str = ".") -> list[dict]:
        from qbench.metrics.hessian import collapsed_output, hessian_eigs, hessian_trace_exact

        rows = []
        for spec in specs:
            start = time.perf_counter()
            prepared = prepare(spec, ctx)

            def compute():
                t = train_corrupted(spec, ctx)
                return t.params, {"train_acc": t.train_acc(), "val_acc": t.val_acc()}

            params, info, _ = cached_params(out_dir, spec.as_dict(), compute)
            sub = rng(spec.seed, "hessian_subset").choice(len(prepared.y_train), min(n_samples, len(prepared.y_train)), replace=False)
            x, y = prepared.x_train[np.sort(sub)], prepared.y_train[np.sort(sub)]
            t0 = time.perf_counter()
            trace = hessian_trace_exact(prepared.model, params, x, y)
            trace_s = time.perf_counter() - t0
            top, bottom = hessian_eigs(prepared.model, params, x, y, k=K_EIGS)
            rows.append((spec, prepared.model.size_label(), {
                "hessian_trace": float(trace), "eig_top": [float(v) for v in top], "eig_bottom": [float(v) for v in bottom],
                "collapsed": bool(collapsed_output(prepared.model, params, x)), "trace_wall_s": trace_s,
                "train_acc": info["train_acc"], "val_acc": info["val_acc"], "wall_s": time.perf_counter() - start,
            }))
        clean = rows[0][2]["hessian_trace"]
        records = []
        for spec, size, metrics in rows:
            metrics["lrr"] = metrics["hessian_trace"] / clean if clean else float("nan")
            records.append(new_record(suite="landscape", scenario=s.name, unit_key=key, config=config, metrics=metrics,
                                      task=s.task, model=s.model, model_size=size, corruption=s.corruption,
                                      alpha=spec.alpha, seed=spec.seed))
        return records

    return run


def summarize(records: list[dict]) -> pd.DataFrame:
    """Trace and per-seed LRR (mean, std over seeds), plus the study's LRR against the mean clean trace."""
    from qbench.summary import records_frame

    ok = [r for r in records if r["status"] == "ok"]
    table = mean_std_table(ok, by=["task", "model", "alpha"], metrics=["hessian_trace", "lrr"])
    if table.empty:
        return table
    df = records_frame(ok)
    rows = []
    for (task, model), g in df.groupby(["task", "model"]):
        clean_mean = g.loc[g["alpha"] == 0.0, "hessian_trace"].mean()
        rows += [{"task": task, "model": model, "alpha": r.alpha, "seed": r.seed, "status": "ok",
                  "metrics": {"lrr_vs_mean_clean": r.hessian_trace / clean_mean}} for r in g.itertuples()]
    extra = mean_std_table(rows, by=["task", "model", "alpha"], metrics=["lrr_vs_mean_clean"])
    eig = mean_std_table(
        [{"task": r["task"], "model": r["model"], "alpha": r["alpha"], "seed": r["seed"], "status": "ok",
          "metrics": {"eig_max": max(r["metrics"]["eig_top"]), "eig_min": min(r["metrics"]["eig_bottom"])}} for r in ok],
        by=["task", "model", "alpha"], metrics=["eig_max", "eig_min"])
    out = table.merge(extra.drop(columns="n_seeds"), on=["task", "model", "alpha"])
    return out.merge(eig.drop(columns="n_seeds"), on=["task", "model", "alpha"])


register_suite(Suite(
    name="landscape",
    description="exact Hessian trace, extreme eigenvalues and LRR vs alpha (PROTOCOL 4.3)",
    scenarios=_scenarios,
    plan=_plan,
    summarize=summarize,
    unit_from_config=unit_from_config,
))
