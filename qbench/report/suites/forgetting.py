"""The forgetting suite's report (PROTOCOL 4.9): a table per task and model of the per-example membership
tests (``ulira_acc``, ``forget_score``, from :func:`qbench.records.forgetting.forgetting_rows`), methods
ranked by |ulira_acc - 0.5| in rank groups, the ``poisoned`` and ``null`` references unranked; per task a
sentence on whether the QNN's unlearning ends closer to retraining than the MLP's, and a figure of
ulira_acc per method with its interval, QNN beside MLP."""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass

from qbench.metrics.forgetting import max_resolvable_epsilon
from qbench.records import schema as F
from qbench.records.forgetting import NULL, forgetting_rows
from qbench.records.protocol_rules import table_protocol
from qbench.report.common import (
    Section,
    column,
    failed_note,
    family,
    group,
    heading,
    md_table,
    method_key,
    model_key,
    model_order,
    sort_tables,
)
from qbench.report.plotting import MODEL_TITLES, figure_tables, file_name, legend_below, pyplot, save
from qbench.report.registry import figures_for, leaderboard_section
from qbench.report.stats import DASH, Bounds, Stat, fmt_ci, fmt_num, rank_groups

SUITE = "forgetting"
#: the two model families the suite's sentence compares
QNN, MLP = "qnn", "mlp"
REFERENCES = (F.POISONED, NULL)


def distance(row: dict) -> Bounds:
    """|ulira_acc - 0.5| of a row with its interval (from ulira_acc's), negated so that :func:`rank_groups`
    (higher is better) ranks the row closest to retraining first; n 0 where ulira_acc is missing."""
    v, lo, hi = row.get("ulira_acc"), row.get("ulira_low"), row.get("ulira_high")
    if v is None or lo is None or hi is None:
        return Bounds(math.nan, math.nan, math.nan, 0)
    d_lo = 0.0 if lo <= 0.5 <= hi else min(abs(lo - 0.5), abs(hi - 0.5))
    d_hi = max(abs(lo - 0.5), abs(hi - 0.5))
    return Bounds(-abs(v - 0.5), -d_hi, -d_lo)


def _acc_text(row: dict) -> str:
    d = distance(row)
    return (f"ulira_acc {fmt_num(row['ulira_acc'])} {_interval(row, 'ulira_low', 'ulira_high')}, "
            f"|ulira_acc − 0.5| {fmt_num(-d.mean)} [{fmt_num(-d.high)}, {fmt_num(-d.low)}]")


@dataclass
class Table:
    """One task x model table: its rows, their order (methods ranked, then the references), the finished
    records each row's means are over, and the group's failed records."""

    key: tuple
    rows: list[dict]
    ranking: list[tuple[int | None, str]]
    records: dict[str, list[dict]]
    failed: list[dict]


def _ranking(rows: list[dict], ranked: bool) -> list[tuple[int | None, str]]:
    methods = [r for r in rows if r["kind"] == "method"]
    if ranked:
        order = [(rank or None, m) for rank, m, _ in rank_groups([(r["method"], distance(r)) for r in methods])]
    else:
        order = [(None, r["method"]) for r in sorted(methods, key=lambda r: method_key(r["method"]))]
    return order + [(None, m) for m in REFERENCES if any(r["method"] == m for r in rows)]


def _per_model(recs: list[dict], method: str) -> list[dict]:
    """The finished records a row's val_acc and retain_acc average over (the null row: every oracle)."""
    source = F.ORACLE if method == NULL else method
    return [r for r in recs if r[F.METHOD] == source and r[F.STATUS] == "ok"]


def _tables(records: list[dict], ranked: bool) -> list[Table]:
    def tkey(r: dict) -> tuple:
        return (table_protocol(r), family(r), r[F.TASK], model_order(r[F.MODEL]), r[F.MODEL], r[F.MODEL_SIZE],
                bool((r.get(F.CONFIG) or {}).get("quick", False)))

    groups = group(records, tkey)
    out = []
    for key in sort_tables(groups):
        rows = forgetting_rows(groups[key])
        out.append(Table(key, rows, _ranking(rows, ranked),
                         {r["method"]: _per_model(groups[key], r["method"]) for r in rows},
                         [r for r in groups[key] if r[F.STATUS] != "ok"]))
    return out


def _mean_cells(recs: list[dict], name: str) -> list[str]:
    s = Stat.of(r[F.METRICS].get(name) for r in recs)
    return [fmt_num(s.mean) if s.n else DASH, fmt_ci(s, bounds=(0.0, 1.0))]


def _interval(row: dict, low: str, high: str) -> str:
    lo, hi = row.get(low), row.get(high)
    return DASH if lo is None or hi is None else f"[{fmt_num(lo)}, {fmt_num(hi)}]"


def forgetting_table(t: Table, ranked: bool) -> tuple[str, list[str]]:
    by_method = {r["method"]: r for r in t.rows}
    headers = (["rank"] if ranked else []) + [
        "method", "ulira_acc", "95% CI ulira_acc", "|ulira_acc − 0.5|", "forget_score", "95% CI forget_score",
        column("val_acc"), f"95% CI {column('val_acc')}", column("retain_acc"), f"95% CI {column('retain_acc')}",
        "models (tested vs oracles)"]
    body, missing = [], []
    for rank, method in t.ranking:
        row = by_method[method]
        d = distance(row)
        name = f"`{method}`" + (" (reference)" if row["kind"] == "reference" else "")
        recs = t.records[method]
        body.append(([str(rank) if rank else DASH] if ranked else []) + [
            name, fmt_num(row["ulira_acc"]) if row["ulira_acc"] is not None else DASH,
            _interval(row, "ulira_low", "ulira_high"), fmt_num(-d.mean) if d.n else DASH,
            fmt_num(row["forget_score"]) if row["forget_score"] is not None else DASH,
            _interval(row, "forget_score_low", "forget_score_high"),
            *_mean_cells(recs, "val_acc"), *_mean_cells(recs, "retain_acc"),
            f"{row['n_models']} vs {row['n_oracles']}"])
        missing += [f"- `{method}`: {what}: {why}" for what, why in sorted((row.get("notes") or {}).items())]
    return md_table(headers, body), _notes(t, ranked) + ([f"{len(missing)} note(s) on rows:"] + missing if missing else [])


def _notes(t: Table, ranked: bool) -> list[str]:
    by_method = {r["method"]: r for r in t.rows}
    null = by_method.get(NULL, {})
    k = max((r["n_models"] for r in t.rows if r["kind"] == "method" or r["method"] == F.POISONED), default=0)
    order = ("Ranked by |ulira_acc − 0.5| (lower: closer to retraining); a method whose interval of it overlaps "
             "the leader's shares its rank." if ranked else
             "Not ranked: these records do not follow the protocol, so no method is placed above another.")
    null_text = (f" Here the `{NULL}` row's ulira_acc is {fmt_num(null['ulira_acc'])} "
                 f"{_interval(null, 'ulira_low', 'ulira_high')} and its forget_score {fmt_num(null['forget_score'])}."
                 if null.get("ulira_acc") is not None and null.get("forget_score") is not None else "")
    if null.get("null_split_mean") is not None:
        null_text += (f" Over {null['null_splits']} random half-splits of the oracles (seeded) its ulira_acc averages "
                      f"{fmt_num(null['null_split_mean'])} (sd {fmt_num(null['null_split_sd'])}): the mean shows "
                      "whether the test is calibrated on these outputs, the sd how far one split scatters.")
    cap = (f"With K = {k} models per population a finite epsilon is at most log(K − 1 − Kδ) = "
           f"{fmt_num(max_resolvable_epsilon(k), 2)}, so a larger difference shows only as perfect separation. "
           if k > 1 else "")
    return [
        order + " ulira_acc (U-LiRA): per forget sample, a Gaussian fitted to the method's unlearned models and one "
        "to the oracles (retrained on the retain set) call each model unlearned or retrained; balanced accuracy "
        "over all (model, sample) pairs, 95% interval by bootstrap over models. 0.5: the method's models cannot be "
        "told from retrained ones; 1: they always can.",
        "forget_score: the NeurIPS 2023 unlearning challenge's per-example epsilon score (threshold attacks, "
        "δ = 1e-5), averaged over the forget samples; its interval is over the forget samples (Student t, models "
        "fixed). 1 would mean indistinguishable, but this estimator's floor on identical populations is about "
        "0.17: read a method's score against the `null` row, not against 1. " + cap +
        f"{column('val_acc')} and {column('retain_acc')}: mean over the models, 95% interval Student t over "
        "models.",
        f"References, never ranked: `{F.POISONED}`, the poisoned models against the oracles (what forgetting "
        f"nothing looks like); `{NULL}`, the oracles of the first half of the seeds against those of the second "
        "(the test's calibration: its ulira_acc should lie near 0.5)." + null_text,
    ]


def closer_sentence(task: str, tables: dict[str, Table]) -> str:
    """Whether the QNN's unlearning ends closer to retraining (|ulira_acc - 0.5|) than the MLP's on ``task``:
    the best method of each, then method by method; "cannot tell" where the intervals overlap."""
    rows = {m: {r["method"]: r for r in tables[m].rows if r["kind"] == "method"} for m in (QNN, MLP)}
    title = {m: MODEL_TITLES.get(m, m) for m in (QNN, MLP)}
    best = {}
    for m in (QNN, MLP):
        leaders = [name for rank, name in tables[m].ranking if rank == 1]
        scored = [n for n, r in rows[m].items() if distance(r).n]
        best[m] = (min(leaders or scored, key=lambda n: (-distance(rows[m][n]).mean, n)) if leaders or scored
                   else None)
    head = f"Does the {title[QNN]}'s unlearning end closer to retraining than the {title[MLP]}'s on {task}? "
    if best[QNN] is None or best[MLP] is None:
        lacking = " and ".join(title[m] for m in (QNN, MLP) if best[m] is None)
        return head + f"Cannot tell: no method of the {lacking} has a ulira_acc."
    verdict = _verdict(*(distance(rows[m][best[m]]) for m in (QNN, MLP)), title)
    text = (head + f"The best method of each (smallest |ulira_acc − 0.5|; 95% intervals): {title[QNN]} "
            f"`{best[QNN]}`, {_acc_text(rows[QNN][best[QNN]])}; {title[MLP]} `{best[MLP]}`, "
            f"{_acc_text(rows[MLP][best[MLP]])}: {verdict}.")
    common = sorted(set(rows[QNN]) & set(rows[MLP]), key=method_key)
    per: dict[str, list[str]] = defaultdict(list)
    for name in common:
        a, b = distance(rows[QNN][name]), distance(rows[MLP][name])
        per[_winner(a, b)].append(f"`{name}`")
    if common:
        text += (f" Method by method: {title[QNN]} closer for {', '.join(per[QNN]) or 'none'}; {title[MLP]} closer "
                 f"for {', '.join(per[MLP]) or 'none'}; cannot tell for {', '.join(per['']) or 'none'}.")
    return text


def _winner(q: Bounds, p: Bounds) -> str:
    """QNN, MLP or '' (cannot tell: a value missing or the intervals of |ulira_acc - 0.5| overlap)."""
    if not (q.n and p.n):
        return ""
    if -q.low < -p.high:  # the QNN's interval of the distance lies wholly below the MLP's
        return QNN
    if -p.low < -q.high:
        return MLP
    return ""


def _verdict(q: Bounds, p: Bounds, title: dict[str, str]) -> str:
    win = _winner(q, p)
    if not win:
        return "cannot tell, the intervals of |ulira_acc − 0.5| overlap"
    lose = MLP if win == QNN else QNN
    return (f"the {title[win]}'s ends closer to retraining than the {title[lose]}'s (the intervals of "
            "|ulira_acc − 0.5| do not overlap)")


@leaderboard_section(SUITE)
def forgetting_sections(ok: list[dict], failed: list[dict], ranked: bool = True) -> list[Section]:
    tables = _tables(ok + failed, ranked)
    sizes = group(tables, lambda t: t.key[:5] + t.key[6:])
    sections = []
    by_task: dict[tuple, dict[str, Table]] = defaultdict(dict)
    for t in tables:
        pv, fam, task, _, model, size, quick = t.key
        recs = [r for rs in t.records.values() for r in rs]
        body, notes = forgetting_table(t, ranked)
        notes += failed_note(t.failed, lambda r: f"{r[F.METHOD]} seed {r[F.SEED]}")
        parts = (task, model) + ((size,) if len(sizes[t.key[:5] + t.key[6:]]) > 1 else ())
        sections.append(Section(heading(*parts, protocol=pv, fam=fam, suite=SUITE, records=recs + t.failed,
                                        ranked=ranked), body, notes))
        pair = by_task[(pv, fam, task)]
        if ranked and not quick and model not in pair:
            pair[model] = t
            if model in (QNN, MLP) and {QNN, MLP} <= set(pair):
                sections.append(Section(heading(task, f"{MODEL_TITLES.get(QNN, QNN)} vs {MODEL_TITLES.get(MLP, MLP)}",
                                                protocol=pv, fam=fam, suite=SUITE),
                                        closer_sentence(task, pair)))
    return sections


@figures_for(SUITE)
def forgetting_figures(ok: list[dict], out_dir: str) -> list[str]:
    plt = pyplot()
    written: list[str] = []
    tables, newest = figure_tables(ok, SUITE)
    for (fam, task, pv), recs in tables.items():
        rows = [r for r in forgetting_rows(recs) if r["ulira_acc"] is not None]
        series = sorted({(r["model"], r["quick"]) for r in rows}, key=lambda s: (model_key(s[0]), s[1]))
        methods = sorted({r["method"] for r in rows if r["kind"] == "method"}, key=method_key)
        names = methods + [m for m in REFERENCES if any(r["method"] == m for r in rows)]
        fig, ax = plt.subplots(figsize=(max(4.5, 0.9 * len(names) + 1.5), 3.6), layout="constrained")
        width = 0.7 / max(len(series), 1)
        labels = []
        for j, (model, quick) in enumerate(series):
            label = MODEL_TITLES.get(model, model) + (" (quick tier)" if quick else "")
            labels.append(label)
            mine = {r["method"]: r for r in rows if (r["model"], r["quick"]) == (model, quick)}
            xs = [i + (j - (len(series) - 1) / 2) * width for i, n in enumerate(names) if n in mine]
            got = [mine[n] for n in names if n in mine]
            ys = [r["ulira_acc"] for r in got]
            err = [[y - r["ulira_low"] for y, r in zip(ys, got)], [r["ulira_high"] - y for y, r in zip(ys, got)]]
            ax.errorbar(xs, ys, yerr=err, fmt="o", color=f"C{j}", markersize=4, capsize=3, label=label)
        ax.axhline(0.5, color="0.3", linestyle="--", linewidth=1.0, label="0.5: as retrained")
        ax.set_xticks(range(len(names)), [n + ("*" if n in REFERENCES else "") for n in names], rotation=30,
                      ha="right")
        ax.set_ylabel("ulira_acc (U-LiRA balanced accuracy)")
        ax.grid(alpha=0.3, axis="y")
        legend_below(fig, [ax], labels + ["0.5: as retrained"])
        ax.set_xlabel("method (* reference, not ranked)")
        fig.suptitle(f"Forgetting on {task}: ulira_acc, 95% interval")
        save(fig, out_dir, file_name(fam, task, "_ulira_acc", pv, newest[(fam, task)]), written)
    return written
