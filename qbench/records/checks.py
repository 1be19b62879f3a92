"""Checks that a set of records is fit to publish (STYLE 3): each record once, seeds distinct,
unlearning units with every step (a suite's own check, registered on the report side), one configuration
per reported row.

``validate_record`` (schema.py) checks one record; these check records against each other.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any, Callable, Iterable, Mapping, Sequence

from qbench.errors import QbenchError
from qbench.records import schema as F
from qbench.records.provenance import config_hash

# fields that identify one measurement: two records with the same values are duplicates
IDENTITY = ("protocol_version",) + F.KEY_FIELDS + (F.KNOWN_FRACTION,)

MAX_LISTED = 5


def _strip_seeds(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip_seeds(v) for k, v in value.items() if k != "seed"}
    if isinstance(value, list):
        return [_strip_seeds(v) for v in value]
    return value


def config_variant(config: dict) -> str:
    """Hash of a config with every ``seed`` field removed: records of one row over seeds share it."""
    return config_hash(_strip_seeds(config))


def failed_units(records: Iterable[dict]) -> set[str]:
    """Unit keys with at least one failed record (a failed unit is reported, never averaged)."""
    return {r[F.UNIT_KEY] for r in records if r[F.STATUS] == "failed"}


def split_failed(records: Sequence[dict]) -> tuple[list[dict], list[dict]]:
    """(records of units that succeeded, one record per failed unit: its failed record)."""
    bad = failed_units(records)
    ok = [r for r in records if r[F.UNIT_KEY] not in bad]
    seen: dict[str, dict] = {}
    for r in records:
        if r[F.UNIT_KEY] in bad and r[F.STATUS] == "failed":
            seen.setdefault(r[F.UNIT_KEY], r)
    return ok, [seen[k] for k in sorted(seen)]


def _identity(r: dict) -> tuple:
    return tuple(str(r.get(f)) for f in IDENTITY)


def _raise(problems: list[str]) -> None:
    if problems:
        more = f" (and {len(problems) - MAX_LISTED} more)" if len(problems) > MAX_LISTED else ""
        raise QbenchError("records not fit to publish: " + "; ".join(problems[:MAX_LISTED]) + more)


def check_publication(records: Sequence[dict],
                      suite_checks: Mapping[str, Callable[[Sequence[dict], set[str]], list[str]]] | None = None) -> None:
    """Raise QbenchError listing what is wrong: duplicate measurements (the same key fields and
    seed twice, e.g. one unit copied into two directories, or two configurations of one method),
    and what each suite's own check (``suite_checks``: suite -> ``f(its records, failed unit keys)
    -> problems``, e.g. :func:`check_complete_steps`) finds in that suite's records."""
    problems: list[str] = []
    seen: dict[tuple, str] = {}
    for r in records:
        ident = _identity(r)
        if ident in seen:
            what = ", ".join(f"{f}={r.get(f)}" for f in IDENTITY if r.get(f) is not None)
            where = r[F.UNIT_KEY] if seen[ident] == r[F.UNIT_KEY] else f"{seen[ident]} and {r[F.UNIT_KEY]}"
            problems.append(f"duplicate record ({what}) in {where}")
        else:
            seen[ident] = r[F.UNIT_KEY]
    bad = failed_units(records)
    for suite, check in (suite_checks or {}).items():
        problems += check([r for r in records if r[F.SUITE] == suite], bad)
    _raise(problems)


def check_complete_steps(records: Sequence[dict], bad: set[str]) -> list[str]:
    """Problems of step-wise units (unlearning): a successful unit's steps are not exactly 0..config["steps"]."""
    return check_unit_steps(records, bad, lambda want, oracle: [want] if oracle else list(range(want + 1)))


def check_unit_steps(records: Sequence[dict], bad: set[str],
                     expected: Callable[[int, bool], list[int]]) -> list[str]:
    """One problem per successful unit whose steps are not exactly ``expected(config["steps"], is_oracle)``
    (the oracle is a trained model, not a run of steps), or whose config has no integer ``steps``."""
    problems: list[str] = []
    steps: dict[str, list[int]] = defaultdict(list)
    final: dict[str, Any] = {}
    for r in records:
        if r[F.UNIT_KEY] not in bad:
            steps[r[F.UNIT_KEY]].append(r[F.STEP])
            final[r[F.UNIT_KEY]] = (r[F.CONFIG].get("steps"), r[F.METHOD] == F.ORACLE)
    for key in sorted(steps):
        want, oracle = final[key]
        got = sorted(s for s in steps[key] if isinstance(s, int))
        wanted = expected(want, oracle) if isinstance(want, int) and not isinstance(want, bool) else None
        if got != wanted:
            repeated = sorted({s for s in got if got.count(s) > 1})
            extra = f" ({_ranges(repeated)} repeated)" if repeated else ""
            problems.append(f"unit {key}: steps {_ranges(sorted(set(got)))}{extra}, "
                            f"expected {_ranges(wanted) if wanted is not None else f'an integer config steps, got {want!r}'}")
    return problems


def check_one_variant(rows: dict[Any, list[dict]], where: str) -> None:
    """Every record of a row (e.g. one method of one table, over seeds) has the same config but for
    its seed; otherwise two settings (hyperparameters, epochs, quick tier) would be averaged."""
    problems = []
    for label, recs in rows.items():
        variants = sorted({config_variant(r[F.CONFIG]) for r in recs})
        if len(variants) > 1:
            units = sorted({r[F.UNIT_KEY] for r in recs})
            problems.append(f"{where}, {label}: {len(variants)} different configurations "
                            f"(e.g. hyperparameters or epochs) among units {', '.join(units[:3])}"
                            f"{', ...' if len(units) > 3 else ''}; keep one setting per results tree")
    _raise(problems)


def seeds_by_row(ok: Iterable[dict], failed: Iterable[dict], label) -> dict[str, set[int]]:
    """Seeds per row of a table, a row being one configuration but for the seed (``config_variant``),
    named by ``label(record)``; a failed unit counts for its row although its key fields may be
    incomplete (a unit that raised records only what its config says)."""
    names: dict[str, str] = {}
    seeds: dict[str, set[int]] = defaultdict(set)
    for r in list(ok) + list(failed):
        v = config_variant(r[F.CONFIG])
        names.setdefault(v, str(label(r)))
        seeds[v].add(r[F.SEED])
    out: dict[str, set[int]] = defaultdict(set)
    for v, s in seeds.items():
        out[names[v]] |= s
    return dict(out)


def check_same_seeds(seeds: dict[Any, set[int]], where: str) -> None:
    """Every row of a table covers the same seeds (failed units included), so rows are comparable."""
    sets = {k: tuple(sorted(v)) for k, v in seeds.items()}
    distinct = sorted(set(sets.values()))
    if len(distinct) > 1:
        desc = "; ".join(f"{k}: {list(v)}" for k, v in sorted(sets.items(), key=lambda kv: str(kv[0])))
        raise QbenchError(f"records not fit to publish: {where}: rows cover different seeds ({desc})")


def _ranges(values: list[int]) -> str:
    if not values:
        return "none"
    out, start, prev = [], values[0], values[0]
    for v in values[1:] + [None]:
        if v is not None and v == prev + 1:
            prev = v
            continue
        out.append(f"{start}" if start == prev else f"{start}-{prev}")
        if v is not None:
            start = prev = v
    return ",".join(out)
