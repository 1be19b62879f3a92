"""The noise suite's report (PROTOCOL 4.10): per task, the QNN's val_acc against α at each noise level beside
the MLP and the noiseless QNN, the unlearning methods' final numbers per level, and one generated sentence:
at which noise level the QNN's margin over the MLP at α = 0.3 stops being significant.

The references (the MLP and the noiseless QNN) are the resilience and unlearning suites' records of the same
task, from the same set of records as the noise records (:data:`qbench.report.registry.REFERENCES`), of the
same table protocol and the same tier (quick or not); the noise suite never runs them. The margin at a level
is the mean over seeds of the paired difference QNN - MLP in val_acc at α = 0.3 (a seed fixes the flipped
samples of both), with its Student-t 95% interval; it is significant when the interval lies above 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from qbench.metrics.registry import Metric, reported_by
from qbench.records import schema as F
from qbench.records.checks import check_one_variant, check_same_seeds, check_unit_steps, seeds_by_row
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
    metric_value,
    sort_tables,
)
from qbench.report.plotting import acc, band, figure_tables, file_name, legend_below, pyplot, save
from qbench.report.registry import figures_for, leaderboard_section, record_check
from qbench.report.stats import DASH, Stat, fmt_alpha, fmt_num, fmt_stat, natural_key
from qbench.suites.noise import ALPHAS, LEVELS, RESILIENCE, UNLEARNING_PART, NoiseLevel, level

#: the α at which the margin over the MLP is tested (the unlearning suites' poisoning level)
MARGIN_ALPHA = 0.3
#: the reference rows: (suite the records come from, model, row label)
MLP, NOISELESS = "mlp", "noiseless"
AXIS_NAMES = {"shots": "shot noise", "depolarizing": "depolarizing noise"}


def _part(r: dict) -> str:
    return str(r[F.CONFIG].get("part"))


def _level_order(name: str) -> int:
    return next((i for i, lv in enumerate(LEVELS) if lv.name == name), len(LEVELS))


def _row_order(row: str) -> tuple:
    """MLP, then the noiseless QNN, then the levels in :data:`LEVELS` order."""
    return ({MLP: -2, NOISELESS: -1}.get(row, _level_order(row)), row)


def _row_title(row: str) -> str:
    return {MLP: "MLP (reference)", NOISELESS: "QNN, noiseless (reference)"}.get(row) or f"QNN, {level(row).label}"


def references_of(refs: Sequence[dict], suite: str, task: str, pv: str, quick: bool) -> dict[str, list[dict]]:
    """The reference records of ``suite`` for ``task`` in table protocol ``pv`` and tier ``quick``, by row:
    ``mlp`` and ``noiseless`` (the protocol-size QNN), label flipping only."""
    out: dict[str, list[dict]] = {MLP: [], NOISELESS: []}
    for r in refs:
        if (r[F.SUITE] == suite and r[F.TASK] == task and r[F.CORRUPTION] == "label_flip" and table_protocol(r) == pv
                and bool(r[F.CONFIG].get("quick")) == quick and r[F.MODEL] in ("mlp", "qnn")):
            out[MLP if r[F.MODEL] == "mlp" else NOISELESS].append(r)
    return out


@dataclass(frozen=True)
class Margin:
    """The QNN's margin over the MLP at one level: paired differences over the seeds both have."""

    stat: Stat

    @property
    def interval(self) -> tuple[float, float]:
        return self.stat.ci95()

    @property
    def significant(self) -> bool:
        return self.stat.n >= 2 and self.interval[0] > 0

    def text(self, digits: int) -> str:
        lo, hi = self.interval
        return f"{_signed(self.stat.mean, digits)}, 95% CI [{_signed(lo, digits)}, {_signed(hi, digits)}], n={self.stat.n}"


def _signed(x: float, digits: int) -> str:
    s = fmt_num(x, digits)
    return s if s.startswith("-") or s == DASH else "+" + s


def margin(qnn: Sequence[dict], mlp: Sequence[dict], metric: str) -> Margin | None:
    """The margin of ``qnn`` over ``mlp`` records (one α), paired by seed; None with fewer than two shared seeds."""
    a = {r[F.SEED]: metric_value(r, metric) for r in qnn}
    b = {r[F.SEED]: metric_value(r, metric) for r in mlp}
    diffs = [a[s] - b[s] for s in sorted(set(a) & set(b)) if a[s] is not None and b[s] is not None]
    return Margin(Stat.of(diffs)) if len(diffs) >= 2 else None


def margin_sentence(task: str, margins: dict[str, Margin | None], metric: Metric, mlp_missing: bool = False) -> str:
    """One sentence: at which level the QNN's margin over the MLP at α = 0.3 stops being significant, along each
    ladder of :data:`LEVELS` (least noise first) and at the combined level, with intervals; that it never does
    within the grid; or that it cannot be told (which records are missing). ``margins``: level name (and
    ``noiseless``) -> margin, None where records are missing."""
    what = f"the QNN's margin over the MLP in {metric.name} at α = {MARGIN_ALPHA:g}"
    d = metric.digits
    if mlp_missing:
        return (f"**{task}:** it cannot be told where {what} stops being significant: there are no MLP label-flip "
                f"records at α = {MARGIN_ALPHA:g} (resilience suite) to compare with.")
    clean = margins.get(NOISELESS)
    if clean is not None and not clean.significant:
        return (f"**{task}:** {what} is not significant even without noise ({clean.text(d)}), so no noise level "
                "of the grid can end it.")
    stops, stays, unknown = [], [], []
    ladders: dict[str, list[NoiseLevel]] = {}
    for lv in LEVELS:
        ladders.setdefault(lv.axis, []).append(lv)
    for axis, levels in ladders.items():
        def where(lv: NoiseLevel, axis: str = axis) -> str:
            return f"under {AXIS_NAMES[axis]} at {lv.label}" if axis in AXIS_NAMES else f"at the combined level ({lv.label})"

        last, missing = None, []
        for lv in levels:
            m = margins.get(lv.name)
            if m is None:  # no verdict here; a later level may still end the margin
                missing.append(lv)
            elif not m.significant:
                before = (f"; significant at {last[0].label}: {last[1].text(d)}" if last and not missing else
                          f"; no records at {_join([x.label for x in missing])}" if missing else "")
                stops.append(f"{where(lv)}{' or earlier' if missing else ''} ({m.text(d)}{before})")
                break
            else:
                last = (lv, m)
        else:
            if missing:
                unknown.append(f"{_join([where(x) for x in missing])} (fewer than two seeds with records there and "
                               "for the MLP)")
            elif last is not None:
                lv, m = last
                span = (f"down to {lv.label}" if axis == "shots" else f"up to {lv.label}") if len(levels) > 1 else ""
                stays.append(f"{'under ' + AXIS_NAMES[axis] + ' ' + span if axis in AXIS_NAMES else where(lv)} "
                             f"({m.text(d)})")
    parts = (["stops being significant " + _join(stops)] if stops else []) + (
        ["stays significant " + _join(stays)] if stays else [])
    if not stops and not unknown:
        parts[0] = "never stops being significant within the grid: it " + parts[0]
    text = (f"**{task}:** {what} " + "; it ".join(parts) if parts
            else f"**{task}:** it cannot be told where {what} stops being significant")
    if unknown:
        text += ("; it cannot be told " if parts else ": no records ") + _join(unknown)
    text += (f"; without noise it is {clean.text(d)}." if clean is not None else
             "; there are no noiseless QNN records to compare with.")
    return text


def _join(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _tables(ok: list[dict], failed: list[dict]):
    def tkey(r: dict) -> tuple:
        return (table_protocol(r), family(r), r[F.TASK])

    tables, fails = group(ok, tkey), group(failed, tkey)
    return [(key, tables.get(key, []), fails.get(key, [])) for key in sort_tables(set(tables) | set(fails))]


@leaderboard_section("noise", references=("resilience", "unlearning"))
def noise_sections(ok: list[dict], failed: list[dict], ranked: bool = True,
                   references: Sequence[dict] = ()) -> list[Section]:
    first, *others = reported_by("noise")
    sections = []
    for (pv, fam, task), recs, bad in _tables(ok, failed):
        where = f"noise {task} (protocol {pv})"
        quick = bool(recs) and all(r[F.CONFIG].get("quick") for r in recs)
        res = [r for r in recs if _part(r) == RESILIENCE]
        unl = [r for r in recs if _part(r) == UNLEARNING_PART]
        ref_res = references_of(references, "resilience", task, pv, quick)
        ref_unl = references_of(references, "unlearning", task, pv, quick)
        table, sentence, notes = resilience_table(res, ref_res, first, task, where)
        body = f"**Resilience.** {first.column} per label-flipped fraction α.\n\n{table}\n\n{sentence}"
        if unl:
            final = final_step(unl, where)
            for metric in [first] + others:
                body += (f"\n\n**Unlearning, {metric.column} after the last step ({final})**"
                         f"{' (' + metric.direction + ')' if metric.direction else ''}.\n\n"
                         + unlearning_table(unl, ref_unl, metric, where))
            notes.append(f"Unlearning: α = {MARGIN_ALPHA:g}, a column per method, `{F.ORACLE}` the model retrained on "
                         "the retain set (the target); the references are the unlearning suite's records. "
                         f"The curves were evaluated every {_every(unl)} steps (figures).")
        notes += failed_note(bad, lambda r: f"{r[F.CONFIG].get('noise_level')} {_part(r)} "
                                            f"{r.get(F.METHOD) or 'alpha ' + str(r[F.ALPHA])} seed {r[F.SEED]}")
        sections.append(Section(heading(task, "qnn", protocol=pv, fam=fam, suite="noise", records=recs + bad,
                                        ranked=ranked), body, notes))
    return sections


def _every(unl: list[dict]) -> str:
    return ", ".join(sorted({str(r[F.CONFIG].get("curve_every", 1)) for r in unl}, key=natural_key))


def resilience_table(res: list[dict], refs: dict[str, list[dict]], metric: Metric, task: str,
                     where: str) -> tuple[str, str, list[str]]:
    """val_acc per α, a row per reference and level, with the margin over the MLP at α = 0.3; the sentence; notes."""
    rows_recs = {k: [r for r in v if float(r[F.ALPHA]) in ALPHAS] for k, v in refs.items()}
    rows_recs.update({name: rs for (name,), rs in group(res, lambda r: (r[F.CONFIG]["noise_level"],)).items()})
    cells = group(res, lambda r: (r[F.CONFIG]["noise_level"], float(r[F.ALPHA])))
    check_one_variant({"/".join(map(str, k)): rs for k, rs in cells.items()}, where)
    check_same_seeds(seeds_by_row(res, [], lambda r: r[F.CONFIG]["noise_level"] + f" alpha {r[F.ALPHA]}"), where)
    mlp_at = [r for r in rows_recs[MLP] if float(r[F.ALPHA]) == MARGIN_ALPHA]
    margins = {row: margin([r for r in rs if float(r[F.ALPHA]) == MARGIN_ALPHA], mlp_at, metric.name)
               for row, rs in rows_recs.items() if row != MLP}
    rows = []
    for row in sorted((k for k, v in rows_recs.items() if v), key=_row_order):
        by_alpha = group(rows_recs[row], lambda r: (float(r[F.ALPHA]),))
        stats = {a: Stat.of(metric_value(r, metric.name) for r in by_alpha.get((a,), [])) for a in ALPHAS}
        n = max((s.n for s in stats.values()), default=0)
        m = margins.get(row)
        rows.append([_row_title(row)] + [fmt_stat(stats[a], metric.digits, n) for a in ALPHAS]
                    + [DASH if row == MLP or m is None else m.text(metric.digits).split(", n=")[0], str(n)])
    headers = ["model"] + [f"α={fmt_alpha(a)}" for a in ALPHAS] + [f"margin over MLP @α={MARGIN_ALPHA:g}", "n"]
    sentence = margin_sentence(task, {**{lv.name: margins.get(lv.name) for lv in LEVELS},
                                                  NOISELESS: margins.get(NOISELESS)}, metric, mlp_missing=len(mlp_at) < 2)
    notes = [(f"Resilience: {metric.name} on the clean validation set, the QNN measured with each level's noise; the "
              "MLP and the noiseless QNN are the resilience suite's records (references, not re-run). Margin: the mean "
              f"over seeds of the paired difference QNN - MLP at α = {MARGIN_ALPHA:g}, with its 95% interval (Student "
              "t); significant when the interval lies above 0.")]
    return md_table(headers, rows) if rows else "No successful records.", sentence, notes


def unlearning_table(unl: list[dict], refs: dict[str, list[dict]], metric: Metric, where: str) -> str:
    """``metric`` after the last unlearning step, a row per reference and level, a column per method (and the oracle)."""
    rows_recs = dict(refs)
    rows_recs.update({name: rs for (name,), rs in group(unl, lambda r: (r[F.CONFIG]["noise_level"],)).items()})
    check_one_variant({"/".join(k): rs for k, rs in group(unl, lambda r: (r[F.CONFIG]["noise_level"], r[F.METHOD])).items()},
                      where)
    methods = sorted({r[F.METHOD] for r in unl}, key=method_key)
    rows = []
    for row in sorted((k for k, v in rows_recs.items() if v), key=_row_order):
        at_end = [r for r in rows_recs[row] if r[F.STEP] == (r[F.CONFIG].get("steps"))]
        by_method = group(at_end, lambda r: (r[F.METHOD],))
        stats = {m: Stat.of(metric_value(r, metric.name) for r in by_method.get((m,), [])) for m in methods}
        n = max((s.n for s in stats.values()), default=0)
        rows.append([_row_title(row)] + [fmt_stat(stats[m], metric.digits, n) for m in methods] + [str(n)])
    headers = ["model"] + [f"`{m}`" for m in methods] + ["n"]
    return md_table(headers, rows)


def check_noise_steps(records: Sequence[dict], bad: set[str]) -> list[str]:
    """The unlearning part's units record step 0, every ``curve_every`` steps and the last (the oracle: the last)."""
    problems: list[str] = []
    unl = [r for r in records if _part(r) == UNLEARNING_PART]
    for (every,), rs in group(unl, lambda r: (r[F.CONFIG].get("curve_every"),)).items():
        k = every if isinstance(every, int) and every > 0 else 1
        problems += check_unit_steps(rs, bad, lambda want, oracle: [want] if oracle else sorted(
            set(range(0, want + 1, k)) | {want}))
    return problems


record_check("noise")(check_noise_steps)


@figures_for("noise")
def noise_figures(ok: list[dict], out_dir: str) -> list[str]:
    """Per task: ``noise_<task>_val_acc.png`` (val_acc vs α, a panel per level: the noisy QNN beside the MLP and
    the noiseless QNN) and ``noise_<task>_unlearning.png`` (val_acc and forget_acc vs step, a column per level,
    a line per method, the oracle dashed)."""
    plt = pyplot()
    written: list[str] = []
    tables, newest = figure_tables(ok, "noise")
    for (fam, task, pv), recs in tables.items():
        quick = all(r[F.CONFIG].get("quick") for r in recs)
        refs = references_of(ok, "resilience", task, pv, quick)
        res = [r for r in recs if _part(r) == RESILIENCE]
        levels = sorted({r[F.CONFIG]["noise_level"] for r in res}, key=_level_order)
        if levels:
            fig, axes = plt.subplots(1, len(levels), figsize=(3.2 * len(levels), 3.0), squeeze=False, sharey=True,
                                     layout="constrained")
            for j, name in enumerate(levels):
                ax = axes[0][j]
                for row, style in ((name, dict(color="C1", marker="o")), (MLP, dict(color="C0", linestyle="--")),
                                   (NOISELESS, dict(color="0.5", linestyle=":"))):
                    rs = [r for r in res if r[F.CONFIG]["noise_level"] == name] if row == name else refs[row]
                    by_alpha = group([r for r in rs if float(r[F.ALPHA]) in ALPHAS], lambda r: (float(r[F.ALPHA]),))
                    alphas = sorted(a for (a,) in by_alpha)
                    if alphas:
                        band(ax, alphas, [Stat.of(acc(r, "val_acc") for r in by_alpha[(a,)]) for a in alphas],
                             markersize=3, linewidth=1.3, label=_row_title(row) if row != name else "QNN, noisy", **style)
                ax.set_title(level(name).label)
                ax.set_xlabel("label-flipped fraction α")
                ax.set_ylim(-0.02, 1.02)
                ax.grid(alpha=0.3)
                if j == 0:
                    ax.set_ylabel("validation accuracy")
            legend_below(fig, axes[0], ["QNN, noisy", _row_title(MLP), _row_title(NOISELESS)])
            fig.suptitle(f"Device noise on {task}: validation accuracy vs α (mean ± 1 std over seeds)")
            save(fig, out_dir, file_name(fam, task, "_val_acc", pv, newest[(fam, task)]), written)
        unl = [r for r in recs if _part(r) == UNLEARNING_PART]
        if unl:
            _unlearning_figure(plt, unl, fam, task, pv, newest[(fam, task)], out_dir, written)
    return written


def _unlearning_figure(plt, unl: list[dict], fam: str, task: str, pv: str, newest: str, out_dir: str,
                       written: list[str]) -> None:
    levels = sorted({r[F.CONFIG]["noise_level"] for r in unl}, key=_level_order)
    methods = sorted({r[F.METHOD] for r in unl} - {F.ORACLE}, key=method_key)
    colors = {m: f"C{i % 10}" for i, m in enumerate(methods)}
    metrics = {"val_acc": "validation accuracy", "forget_acc": "forgetting accuracy"}
    fig, axes = plt.subplots(len(metrics), len(levels), figsize=(3.2 * len(levels), 2.8 * len(metrics)), squeeze=False,
                             sharex=True, sharey=True, layout="constrained")
    for i, (metric, ylabel) in enumerate(metrics.items()):
        for j, name in enumerate(levels):
            ax = axes[i][j]
            rs = [r for r in unl if r[F.CONFIG]["noise_level"] == name]
            for method in methods:
                by_step = group([r for r in rs if r[F.METHOD] == method and r[F.METRICS].get(metric) is not None],
                                lambda r: (int(r[F.STEP]),))
                steps = sorted(s for (s,) in by_step)
                if steps:
                    band(ax, steps, [Stat.of(acc(r, metric) for r in by_step[(s,)]) for s in steps],
                         color=colors[method], label=method, linewidth=1.3)
            target = Stat.of(acc(r, metric) for r in rs if r[F.METHOD] == F.ORACLE)
            if target.n:
                ax.axhline(target.mean, color="0.3", linestyle="--", linewidth=1.0, label=F.ORACLE)
            if i == 0:
                ax.set_title(level(name).label)
            if i == len(metrics) - 1:
                ax.set_xlabel("unlearning step")
            if j == 0:
                ax.set_ylabel(ylabel)
            ax.set_ylim(-0.02, 1.02)
            ax.grid(alpha=0.3)
    legend_below(fig, [a for row in axes for a in row], methods + [F.ORACLE])
    fig.suptitle(f"Unlearning under device noise on {task} (α = {MARGIN_ALPHA:g}; mean ± 1 std over seeds)")
    save(fig, out_dir, file_name(fam, task, "_unlearning", pv, newest), written)


