"""What every suite's report shares: grouping records, the order of models, methods and corruptions
in tables and figures (each from its registration), table headings and Markdown, failed-unit notes.

Every cell is the mean ± sample standard deviation over seeds; each table has a column ``n`` (the
number of seeds of the row) and a cell whose count differs says ``(n=k)``. Records of different
protocol versions land in different tables. Failed units are counted in a note under their table and
never averaged. The output depends only on the records: everything is sorted, numbers have a fixed
format, there is no timestamp; regenerating from the same records gives the same bytes.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Sequence

from tabulate import tabulate

from qbench.errors import QbenchError
from qbench.methods import method_order
from qbench.metrics.registry import shown_metric
from qbench.models import model_info, registered_models
from qbench.records import schema as F
from qbench.report.stats import natural_key

#: the built-in models' places in tables (their registrations' ``order``); any other model comes after them
MODEL_ORDER = {m: model_info(m).order for m in registered_models()}
CORRUPTION_ORDER = {"label_flip": 0, "feature_randomization": 1}


def model_order(model: str) -> int:
    """A model's place in tables and figures: its registration's ``order``, 9 for a model not built in."""
    return MODEL_ORDER.get(model, 9)


def model_key(model: str) -> tuple[int, str]:
    return (model_order(model), model)


def method_key(method: str) -> tuple[int, str]:
    """Sort key of methods: their registration's ``order`` (:func:`qbench.methods.method_order`), then name."""
    return (method_order(method), method)


@dataclass
class Section:
    heading: str
    body: str
    notes: list[str] = field(default_factory=list)

    def render(self) -> str:
        parts = [f"#### {self.heading}", "", self.body]
        if self.notes:
            parts += [""] + [f"_{n}_" if not n.startswith("- ") else n for n in self.notes]
        return "\n".join(parts)


def family(rec: dict) -> str:
    """The scenario family ('landscape', 'landscape-study', ...): scenario name up to its first '/'."""
    return str(rec.get(F.SCENARIO) or rec[F.SUITE]).split("/", 1)[0]


def heading(*parts: Any, protocol: str, fam: str, suite: str, records: Sequence[dict] = (), ranked: bool = True) -> str:
    extra = f"{fam}, " if fam != suite else ""
    return " · ".join(str(p) for p in parts) + f" ({extra}protocol {protocol}{'' if ranked else _not_protocol(records)})"


def _not_protocol(records: Sequence[dict]) -> str:
    quick = bool(records) and all(r[F.CONFIG].get("quick") for r in records)
    return f"; {'quick tier' if quick else 'NOT the protocol settings'}, not ranked"


def md_table(headers: list[str], rows: list[list[str]], align: Sequence[str] | None = None) -> str:
    return tabulate(rows, headers=headers, tablefmt="github", disable_numparse=True,
                    colalign=align)


def failed_note(failed: list[dict], describe: Callable[[dict], str]) -> list[str]:
    if not failed:
        return []
    items = sorted(f"{describe(r)}: {str(r.get(F.ERROR) or 'failed').splitlines()[0][:120]}" for r in failed)
    return [f"{len(failed)} failed unit(s), not averaged:"] + [f"- {i}" for i in items]


def group(records: Iterable[dict], key: Callable[[dict], tuple]) -> dict[tuple, list[dict]]:
    """Records by ``key(record)``, each group in the records' order."""
    out: dict[tuple, list[dict]] = defaultdict(list)
    for r in records:
        out[key(r)].append(r)
    return out


def metric_value(r: dict, name: str) -> float | None:
    """Metric ``name`` of record ``r`` as a float; None where it is missing or not a number."""
    v = r[F.METRICS].get(name)
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def column(metric: str) -> str:
    """A metric's column title, from its registration (qbench.metrics.registry; a plugin's: its name)."""
    return shown_metric(metric).column


def sort_tables(keys: Iterable[tuple]) -> list[tuple]:
    return sorted(keys, key=lambda k: tuple((natural_key(str(x)) if x is not None else ()) for x in k))


def final_step(recs: Sequence[dict], where: str) -> int:
    """The one number of steps (config ``steps``) every unit of a table ran; bad input if they differ."""
    finals = sorted({r[F.CONFIG].get("steps") for r in recs}, key=str)
    if len(finals) != 1 or not isinstance(finals[0], int):
        raise QbenchError(f"records not fit to publish: {where}: methods ran different numbers of steps {finals}")
    return finals[0]
