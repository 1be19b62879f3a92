"""The controls' report (PROTOCOL 2.4), over the resilience and unlearning suites' records: per task, val_acc
against α under label flipping for the QNN, the MLP and the three controls in one table with 95% intervals,
a generated sentence on whether the QNN's margin over the MLP at α 0.3 is explained by capacity or by
entanglement, and each model's final val_acc per unlearning method; a figure of the five resilience curves,
a panel per task. Nothing of it appears before some control has records: the leaderboard then stays as it was.

*Match* (the sentence's one rule): a control matches the QNN when the 95% interval of its mean val_acc minus
the QNN's (Welch's t over seeds) lies above -:data:`MARGIN`, i.e. the seeds place it at most 5 points below
the QNN; it falls short when the whole interval lies more than :data:`MARGIN` below; otherwise the seeds
cannot tell. Capacity explains the margin when ``mlp-matched`` matches the QNN, entanglement when
``qnn-product`` falls short of it.
"""

from __future__ import annotations

import os

from qbench.errors import QbenchError
from qbench.metrics.registry import Metric, reported_by
from qbench.models import registered_models
from qbench.protocol import control_models, parameter_count
from qbench.records import schema as F
from qbench.records.protocol_rules import table_protocol
from qbench.report.common import (
    Section,
    failed_note,
    family,
    final_step,
    group,
    heading,
    md_table,
    method_key,
    model_key,
    sort_tables,
)
from qbench.report.plotting import MODEL_TITLES, acc, band, file_name, legend_below, pyplot, save
from qbench.report.registry import cross_figures, cross_section
from qbench.report.stats import DASH, Stat, diff_ci95, fmt_alpha, fmt_ci, fmt_num, fmt_stat, natural_key
from qbench.report.suites.resilience import WITHIN, max_alpha_within
from qbench.suites.unlearning import ALPHA
from qbench.tasks import named_task

CORRUPTION = "label_flip"
#: the controls' two questions: an MLP of the QNN's size (capacity), the QNN without its entangling gates
CAPACITY, ENTANGLEMENT = "mlp-matched", "qnn-product"
#: how far below the QNN a control may lie and still match it: the resilience table's 5-point rule
MARGIN = WITHIN
MATCHES, SHORT, UNDECIDED = "matches", "falls short of", "undecided"


def _models() -> tuple[str, ...]:
    """The QNN, the MLP and the controls, in table order."""
    return tuple(sorted(registered_models(), key=model_key))


def _tables(ok: list[dict], failed: list[dict], suite: str) -> tuple[dict[tuple, list[dict]], dict[tuple, list[dict]]]:
    """A suite's records of the five models (label flipping only, for resilience) by (protocol, task)."""
    models = set(_models())

    def mine(r: dict) -> bool:
        return (r[F.SUITE] == suite and family(r) == suite and r[F.MODEL] in models
                and (suite != "resilience" or r[F.CORRUPTION] == CORRUPTION))

    def key(r: dict) -> tuple:
        return (table_protocol(r), r[F.TASK])

    return group(filter(mine, ok), key), group(filter(mine, failed), key)


def relation(control: Stat, reference: Stat, margin: float = MARGIN) -> str:
    """Whether ``control`` matches ``reference`` (the interval of the difference lies above -margin), falls
    short of it (the interval lies below -margin), or the seeds cannot tell (undecided)."""
    lo, hi = diff_ci95(control, reference)
    if lo >= -margin:
        return MATCHES
    if hi < -margin:
        return SHORT
    return UNDECIDED


def verdict(stats: dict[str, Stat]) -> str:
    """What explains the QNN's margin over the MLP, from val_acc at α 0.3 per model: 'missing' (a model without
    records), 'no margin' (the margin's interval reaches 0), 'undecided', or 'capacity', 'entanglement',
    'both', 'neither'."""
    if any(stats.get(m, Stat.of(())).n == 0 for m in ("qnn", "mlp", CAPACITY, ENTANGLEMENT)):
        return "missing"
    if diff_ci95(stats["qnn"], stats["mlp"])[0] <= 0:
        return "no margin"
    small, product = relation(stats[CAPACITY], stats["qnn"]), relation(stats[ENTANGLEMENT], stats["qnn"])
    if UNDECIDED in (small, product):
        return "undecided"
    return {(MATCHES, MATCHES): "capacity", (MATCHES, SHORT): "both", (SHORT, SHORT): "entanglement",
            (SHORT, MATCHES): "neither"}[(small, product)]


def _value(s: Stat, metric: Metric) -> str:
    return f"{fmt_num(s.mean, metric.digits)} {fmt_ci(s, metric.digits, bounds=metric.bounds)}"


def _diff(a: Stat, b: Stat, digits: int) -> str:
    lo, hi = diff_ci95(a, b)
    shown = f"{a.mean - b.mean:+.{digits}f}".replace(f"-{0:.{digits}f}", f"+{0:.{digits}f}")
    interval = (f"[{fmt_num(lo, digits)}, {fmt_num(hi, digits)}]" if lo > -float("inf") and hi < float("inf")
                else "no interval: fewer than 2 seeds")
    return f"{shown} {interval}"


def _params(task: str, model: str) -> str:
    try:
        n = parameter_count(task, model) if named_task(task) is not None else None
    except QbenchError:
        n = None
    return DASH if n is None else f"{n:,}"


_VERDICTS = {
    "capacity": "So capacity explains the QNN's margin: an MLP as small as the QNN is as resilient, and the QNN "
                "keeps its resilience without entanglement.",
    "both": "So capacity and entanglement both explain it: an MLP as small as the QNN is as resilient, and yet the "
            "QNN loses its resilience without its entangling gates.",
    "entanglement": "So entanglement explains it, capacity does not: the QNN without its entangling gates loses "
                    "the resilience, and an MLP as small as the QNN does not reach it.",
    "neither": "So neither capacity nor entanglement explains it: the QNN keeps its resilience without "
               "entanglement, and an MLP as small as the QNN does not reach it.",
}


def controls_sentence(task: str, stats: dict[str, Stat], metric: Metric, clean: dict[str, Stat] | None = None) -> str:
    """The generated sentence on ``task``: the QNN's margin over the MLP at α 0.3 (``stats``: val_acc there per
    model) and which controls match the QNN, each with its 95% interval, then what explains the margin
    (:func:`verdict`). With ``clean`` (val_acc at α 0), a control that falls short of the QNN on clean data too
    is said to lack the task rather than the resilience."""
    none, clean = Stat.of(()), clean or {}
    qnn, mlp = stats.get("qnn", none), stats.get("mlp", none)
    d, name = metric.digits, metric.name
    at = f"α = {fmt_alpha(ALPHA)}"
    absent = [m for m in ("qnn", "mlp") if not stats.get(m, none).n]
    if absent:
        return (f"No {' or '.join(f'`{m}`' for m in absent)} records at {at} on {task}: there is no QNN margin "
                "over the MLP to set the controls against.")
    lo = diff_ci95(qnn, mlp)[0]
    parts = [f"At {at} under label flipping, the QNN's {name} on {task} is {_value(qnn, metric)} against the "
             f"MLP's {_value(mlp, metric)}, a margin of {_diff(qnn, mlp, d)}"
             + ("." if lo > 0 else ", which its interval does not separate from 0.")]
    said, unlearnt = [], []
    for c in (m for m in _models() if m in control_models()):
        s = stats.get(c, none)
        if not s.n:
            said.append(f"`{c}` has no records at {at} yet")
            continue
        rel = relation(s, qnn)
        text = f"`{c}` ({_params(task, c)} parameters, {_value(s, metric)}) " + {
            MATCHES: "matches the QNN", SHORT: "falls short of the QNN", UNDECIDED: "is undecided against the QNN"}[rel]
        text += f" ({_diff(s, qnn, d)} to the QNN"
        if rel == SHORT:
            lo_m, hi_m = diff_ci95(s, mlp)
            where = ("down to the MLP's level" if lo_m >= -MARGIN and hi_m <= MARGIN else
                     "yet stays above the MLP" if lo_m > MARGIN else "below even the MLP" if hi_m < -MARGIN else "")
            text += f"; {_diff(s, mlp, d)} to the MLP{', ' + where if where else ''}"
        elif rel == UNDECIDED:
            text += f": the interval crosses -{MARGIN:g}"
        if rel != MATCHES and clean.get(c, none).n and relation(clean[c], clean.get("qnn", none)) == SHORT:
            unlearnt.append(c)
            text += (f"; it falls short of the QNN on clean data too, {_value(clean[c], metric)} at α = 0, so what it "
                     "lacks is the task, not the resilience")
        said.append(text + ")")
    parts.append("; ".join(said) + ".")
    v = verdict(stats)
    if v == "missing":
        lacking = [f"`{m}`" for m in (CAPACITY, ENTANGLEMENT) if not stats.get(m, none).n]
        parts.append(f"Whether capacity or entanglement explains the margin cannot be said until "
                     f"{' and '.join(lacking)} {'has' if len(lacking) == 1 else 'have'} records at {at}.")
    elif v == "no margin":
        parts.append("With no significant margin, there is nothing for capacity or entanglement to explain.")
    elif v == "undecided":
        open_ = [f"`{m}`" for m in (CAPACITY, ENTANGLEMENT) if relation(stats[m], qnn) == UNDECIDED]
        parts.append(f"Whether capacity or entanglement explains the margin is undecided: the seeds cannot tell "
                     f"whether {' or '.join(open_)} matches the QNN.")
    else:
        parts.append(_VERDICTS[v])
        if v in ("entanglement", "both") and ENTANGLEMENT in unlearnt:
            parts.append(f"But without its entangling gates the QNN does not learn the task even unpoisoned: "
                         f"`{ENTANGLEMENT}` cannot tell resilience that needs entanglement from learning that does.")
    return " ".join(parts)


def _missing_note(present: set[str], what: str, command: str) -> list[str]:
    lacking = [m for m in _models() if m not in present]
    if not lacking:
        return []
    return [f"No {what} records of {', '.join(f'`{m}`' for m in lacking)} yet "
            f"(`{command.format(model=lacking[0])}` makes them); their column is left out."]


def resilience_table(task: str, recs: list[dict], fails: list[dict], metric: Metric) -> tuple[str, list[str]]:
    """val_acc per α (rows) and model (columns), mean ± std with the 95% interval of the mean, then the sentence."""
    cells = group(recs, lambda r: (r[F.MODEL], float(r[F.ALPHA])))
    models = sorted({m for m, _ in cells}, key=model_key)
    alphas = sorted({a for _, a in cells})
    stats = {k: Stat.of(acc(r, metric.name) for r in rs) for k, rs in cells.items()}
    col_n = {m: max(s.n for (mm, _), s in stats.items() if mm == m) for m in models}

    def cell(m: str, a: float) -> str:
        s = stats.get((m, a), Stat.of(()))
        return fmt_stat(s, metric.digits, col_n[m]) + (f" {fmt_ci(s, metric.digits, bounds=metric.bounds)}"
                                                         if s.n > 1 else "")

    rows = [["parameters"] + [_params(task, m) for m in models]]
    rows += [[fmt_alpha(a)] + [cell(m, a) for m in models] for a in alphas]
    best = {m: max_alpha_within({a: s.mean for (mm, a), s in stats.items() if mm == m and s.n}) for m in models}
    rows += [[f"max α within {WITHIN:g} of α=0"] + [DASH if best[m] is None else fmt_alpha(best[m]) for m in models],
             ["n"] + [str(col_n[m]) for m in models]]
    sentence = controls_sentence(task, {m: stats.get((m, ALPHA), Stat.of(())) for m in _models()}, metric,
                                 {m: stats.get((m, 0.0), Stat.of(())) for m in _models()})
    body = sentence + "\n\n" + md_table(["α"] + [f"`{m}`" for m in models], rows)
    units = {m: {(a, r[F.SEED]) for (mm, a), rs in cells.items() if mm == m for r in rs} for m in models}
    everyone = set().union(*units.values())
    notes = [f"{metric.name} (clean validation set) under label flipping per corrupted fraction α: mean ± std over "
             "seeds and the 95% interval of the mean (Student t, clipped to [0, 1]); parameters: trainable, at the "
             "protocol's size (PROTOCOL 2.4). A control *matches* the QNN when the 95% interval of its mean "
             f"{metric.name} minus the QNN's (Welch's t over seeds) lies above -{MARGIN:g}: the seeds place it at most "
             f"{MARGIN * 100:g} points below the QNN (or above it); it *falls short* when the whole interval lies more "
             f"than {MARGIN:g} below; otherwise the seeds cannot tell. Capacity explains the QNN's margin over the "
             f"MLP when `{CAPACITY}` matches the QNN, entanglement when `{ENTANGLEMENT}` falls short of it."]
    notes += [f"`{m}` is incomplete: {len(units[m])} of the {len(everyone)} (α, seed) units the table's models have "
              "between them." for m in models if units[m] != everyone]
    notes += _missing_note(set(models), "resilience label-flip", "qbench run --suite resilience --model {model}")
    notes += failed_note(fails, lambda r: f"{r.get(F.MODEL)} alpha {r.get(F.ALPHA)} seed {r.get(F.SEED)}")
    return body, notes


def unlearning_table(recs: list[dict], fails: list[dict], metric: Metric, where: str) -> tuple[str, list[str]]:
    """Final val_acc per method (rows) and model (columns), mean ± std with the 95% interval of the mean."""
    by_model = group(recs, lambda r: (r[F.MODEL],))
    models = sorted((m for (m,) in by_model), key=model_key)
    finals = {m: final_step(by_model[(m,)], f"{where}/{m}") for m in models}
    cells = group((r for r in recs if r[F.STEP] == finals[r[F.MODEL]]), lambda r: (r[F.METHOD], r[F.MODEL]))
    stats = {k: Stat.of(acc(r, metric.name) for r in rs) for k, rs in cells.items()}
    methods = sorted({m for m, _ in cells} - {F.ORACLE}, key=method_key) + (
        [F.ORACLE] if any(m == F.ORACLE for m, _ in cells) else [])
    rows = []
    for method in methods:
        row_n = max(stats[(method, m)].n for m in models if (method, m) in stats)
        rows.append([f"`{method}`"] + [
            DASH if (method, m) not in stats else fmt_stat(stats[(method, m)], metric.digits, row_n)
            + (f" {fmt_ci(stats[(method, m)], metric.digits, bounds=metric.bounds)}" if stats[(method, m)].n > 1 else "")
            for m in models] + [str(row_n)])
    steps = sorted(set(finals.values()))
    body = md_table(["method"] + [f"`{m}`" for m in models] + ["n"], rows) if rows else "No successful records."
    notes = [f"{metric.name} after the last unlearning step ({', '.join(map(str, steps))}) per method and model: "
             "mean ± std over seeds and the 95% interval of the mean (Student t, clipped to [0, 1]). Each model's "
             "ranking is in the unlearning section; "
             f"`{F.ORACLE}`: trained from a fresh initialization on the retain set (the target, PROTOCOL 4.2)."]
    notes += _missing_note(set(models), "unlearning", "qbench run --suite unlearning --model {model}")
    notes += failed_note(fails, lambda r: f"{r.get(F.MODEL)} {r.get(F.METHOD)} seed {r.get(F.SEED)}")
    return body, notes


def _with_controls(tables: dict[tuple, list[dict]], fails: dict[tuple, list[dict]]) -> set[tuple]:
    controls = set(control_models())
    return {k for t in (tables, fails) for k, rs in t.items() if any(r[F.MODEL] in controls for r in rs)}


@cross_section("controls", "Controls: capacity, entanglement, linear (PROTOCOL 2.4)")
def controls_sections(ok: list[dict], failed: list[dict], ranked: bool = True) -> list[Section]:
    res, res_fail = _tables(ok, failed, "resilience")
    unl, unl_fail = _tables(ok, failed, "unlearning")
    keys = _with_controls(res, res_fail) | _with_controls(unl, unl_fail)  # no section before a control has records
    (metric,), first = reported_by("resilience"), reported_by("unlearning")[0]
    sections = []
    for key in sort_tables(keys):
        pv, task = key
        recs, fails = res.get(key, []), res_fail.get(key, [])
        body, notes = resilience_table(task, recs, fails, metric) if recs else (
            "No successful resilience label-flip records.", _missing_note(set(), "resilience label-flip",
                                                                         "qbench run --suite resilience --model {model}"))
        sections.append(Section(heading(task, "resilience to label flipping", protocol=pv, fam="resilience",
                                        suite="resilience", records=recs + fails, ranked=ranked), body, notes))
        recs, fails = unl.get(key, []), unl_fail.get(key, [])
        where = f"controls, unlearning {task} (protocol {pv})"
        body, notes = unlearning_table(recs, fails, first, where) if recs else (
            "No successful unlearning records of these models.",
            _missing_note(set(), "unlearning", "qbench run --suite unlearning --model {model}"))
        sections.append(Section(heading(task, f"unlearning, final {first.name}", protocol=pv, fam="unlearning",
                                        suite="unlearning", records=recs + fails, ranked=ranked), body, notes))
    return sections


@cross_figures("controls")
def controls_figures(ok: list[dict], out_dir: str) -> list[str]:
    """``controls_resilience.png``: val_acc vs α under label flipping, a line per model with a one-std band,
    a panel per task; one file per protocol version (the newest unsuffixed), only where a control has records."""
    res, _ = _tables(ok, [], "resilience")
    keys = _with_controls(res, {})
    written: list[str] = []
    if not keys:
        return written
    plt = pyplot()
    os.makedirs(out_dir, exist_ok=True)
    versions = sorted({pv for pv, _ in keys}, key=natural_key)
    models = _models()
    colors = {m: f"C{i}" for i, m in enumerate(models)}
    for pv in versions:
        tasks = sorted((t for v, t in keys if v == pv), key=natural_key)
        fig, axes = plt.subplots(1, len(tasks), figsize=(4.2 * len(tasks), 3.4), squeeze=False, sharey=True,
                                 layout="constrained")
        for j, task in enumerate(tasks):
            ax = axes[0][j]
            by = group(res[(pv, task)], lambda r: (r[F.MODEL], float(r[F.ALPHA])))
            for m in models:
                alphas = sorted(a for mm, a in by if mm == m)
                if alphas:
                    band(ax, alphas, [Stat.of(acc(r, "val_acc") for r in by[(m, a)]) for a in alphas], color=colors[m],
                         marker="o", markersize=3, linewidth=1.4, label=MODEL_TITLES.get(m, m))
            ax.axvline(ALPHA, color="0.5", linestyle=":", linewidth=1.0)
            ax.set_title(task)
            ax.set_xlabel("corrupted fraction α (label flipping)")
            if j == 0:
                ax.set_ylabel("validation accuracy")
            ax.set_ylim(-0.02, 1.02)
            ax.grid(alpha=0.3)
        legend_below(fig, axes[0], [MODEL_TITLES.get(m, m) for m in models])
        fig.suptitle("Resilience of the QNN, the MLP and the controls (mean ± 1 std over seeds)")
        save(fig, out_dir, file_name("controls", "resilience", "", pv, versions[-1]), written)
    return written
