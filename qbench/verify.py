"""``qbench verify``: re-run the units of stored records from their stored config and compare.

Each unit is rebuilt by its suite's ``unit_from_config`` and run by its suite's ``run`` (as in a run) into a
temporary directory (the
original records and their directories are never written). Its records are matched to the stored
ones by their key fields and every metric is compared:

- timings (a name containing ``wall`` or ending in ``_s``) are never compared;
- integers and flags must be equal;
- accuracies (names ending in ``_acc``) are ratios of counts: they agree if ``|a - b| <= atol``
  (default 1e-6, far below one sample in any task's set);
- other numbers (losses, Hessian traces, eigenvalues, LRR) agree if
  ``|a - b| <= atol + rtol * |recorded|`` (defaults 1e-6 and 1e-5, for float32 arithmetic that may
  round differently on another CPU); lists element by element; null only equals null.

A stored config that no longer hashes to its ``config_hash`` or unit key, a record the re-run does
not produce, or a re-run that fails is a disagreement too. A method, task or model named
``module:attr`` in a record is imported again: verify first names each such module and its file, and
imports one that is neither built in nor an installed entry point only with ``trust_code``
(``--trust-code``): records may come from anyone.

Threads: a unit is re-run with the TensorFlow intra-op thread count its record was made with
(``provenance.tf_threads``, at most this machine's cores; see :mod:`qbench.threads`), in this process when that is this process's
count, otherwise in a fresh worker process started with that count. A record made before qbench
recorded the count is re-run with ``threads`` if given, else with TensorFlow's default here.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import random
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from tabulate import tabulate

from qbench.errors import QbenchError
from qbench.records import schema as F
from qbench.records.ledger import LEDGER_NAME, default_ledger, ledger_coverage, read_ledger, read_units  # noqa: F401
from qbench.records.provenance import config_hash
from qbench.records.store import RecordStore, _clean, iter_records
from qbench.threads import default_tf_threads, tf_threads

DEFAULT_ATOL = 1e-6
DEFAULT_RTOL = 1e-5
MATCH_FIELDS = F.KEY_FIELDS


@dataclass(frozen=True)
class Disagreement:
    unit: str
    record: str
    metric: str
    recorded: str
    rerun: str
    diff: str


@dataclass
class VerifyReport:
    units_total: int
    units_checked: list[str]
    skipped: list[str]
    disagreements: list[Disagreement]

    @property
    def ok(self) -> bool:
        return not self.disagreements

    def table(self) -> str:
        rows = [[d.unit, d.record, d.metric, d.recorded, d.rerun, d.diff] for d in self.disagreements]
        return tabulate(rows, headers=["unit", "record", "metric", "recorded", "re-run", "abs diff"],
                        tablefmt="github", disable_numparse=True)


def is_timing(name: str) -> bool:
    return "wall" in name or name.endswith("_s")


def _show(v: Any) -> str:
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, list):
        return "[" + ", ".join(_show(x) for x in v[:6]) + (", ..." if len(v) > 6 else "") + "]"
    return "null" if v is None else str(v)


def values_agree(name: str, recorded: Any, rerun: Any, rtol: float, atol: float) -> tuple[bool, float]:
    """(agree, |difference|) per the tolerance policy in the module docstring."""
    if isinstance(recorded, list) or isinstance(rerun, list):
        if not (isinstance(recorded, list) and isinstance(rerun, list)) or len(recorded) != len(rerun):
            return False, math.nan
        worst, ok = 0.0, True
        for a, b in zip(recorded, rerun):
            agree, d = values_agree(name, a, b, rtol, atol)
            ok &= agree
            worst = max(worst, d) if math.isfinite(d) else worst
        return ok, worst
    if recorded is None or rerun is None:
        return recorded is None and rerun is None, math.nan if (recorded is None) != (rerun is None) else 0.0
    if isinstance(recorded, bool) or isinstance(rerun, bool) or (isinstance(recorded, int) and isinstance(rerun, int)):
        return recorded == rerun, abs(float(recorded) - float(rerun))
    a, b = float(recorded), float(rerun)
    d = abs(a - b)
    tol = atol if name.endswith("_acc") else atol + rtol * abs(a)
    return d <= tol, d


def _match_key(r: dict) -> tuple:
    return tuple(str(r.get(f)) for f in MATCH_FIELDS)


def _label(r: dict) -> str:
    parts = []
    if r.get(F.STEP) is not None:
        parts.append(f"step {r[F.STEP]}")
    if r.get(F.ALPHA) is not None:
        parts.append(f"alpha {r[F.ALPHA]:g}")
    parts.append(f"seed {r[F.SEED]}")
    return ", ".join(parts)


def compare_unit(unit: str, recorded: list[dict], rerun: list[dict], rtol: float, atol: float) -> list[Disagreement]:
    out: list[Disagreement] = []
    fresh = {_match_key(r): r for r in (_clean(r) for r in rerun)}
    for rec in sorted(recorded, key=lambda r: (str(r.get(F.STEP)), str(r.get(F.ALPHA)))):
        new = fresh.pop(_match_key(rec), None)
        if new is None:
            out.append(Disagreement(unit, _label(rec), "(record)", "present", "missing", "-"))
            continue
        if new[F.STATUS] != rec[F.STATUS]:
            out.append(Disagreement(unit, _label(rec), "status", rec[F.STATUS],
                                    f"{new[F.STATUS]} ({new.get(F.ERROR, '')})"[:100], "-"))
            continue
        names = sorted(set(rec[F.METRICS]) | set(new[F.METRICS]))
        for name in names:
            if is_timing(name):
                continue
            a, b = rec[F.METRICS].get(name, "(absent)"), new[F.METRICS].get(name, "(absent)")
            if a == "(absent)" or b == "(absent)":
                out.append(Disagreement(unit, _label(rec), name, _show(a), _show(b), "-"))
                continue
            agree, d = values_agree(name, a, b, rtol, atol)
            if not agree:
                out.append(Disagreement(unit, _label(rec), name, _show(a), _show(b),
                                        f"{d:.3g}" if math.isfinite(d) else "-"))
    for new in fresh.values():
        out.append(Disagreement(unit, _label(new), "(record)", "missing", "present", "-"))
    return out


def _unit_disagreements_before_run(key: str, recs: list[dict], unit) -> list[Disagreement]:
    out = []
    config = recs[0][F.CONFIG]
    for r in recs:
        if r[F.CONFIG_HASH] != config_hash(r[F.CONFIG]) or r[F.CONFIG] != config:
            out.append(Disagreement(key, _label(r), "(config)", f"config_hash {r[F.CONFIG_HASH]}",
                                    f"config hashes to {config_hash(r[F.CONFIG])}", "-"))
            break
    if unit.key != key:
        out.append(Disagreement(key, "-", "(config)", f"unit_key {key}", f"config gives {unit.key}", "-"))
    return out


def started_from_committed(recs: Sequence[dict]) -> bool:
    """Whether a unit's records started from committed protocol models (they name a model file and its sha256)."""
    return any(isinstance(r.get(f), dict) and r[f].get("protocol_model") for r in recs
               for f in ("poisoned_model", "oracle_model"))


@contextlib.contextmanager
def models_as_recorded(committed: bool):
    """Re-run as the records were made: from the committed protocol models (``committed``), or, for records made
    before their models were committed (they trained their own), with the store off, training them again."""
    from qbench.artifacts import clear_memory
    from qbench.models_store import ENV

    if committed:
        yield
        return
    old = os.environ.get(ENV)
    os.environ[ENV] = "off"  # also what a spawned worker inherits
    clear_memory()
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(ENV, None)
        else:
            os.environ[ENV] = old
        clear_memory()


def thread_cap() -> int:
    """The most TensorFlow threads verify gives a re-run: this machine's cores."""
    return os.cpu_count() or 1


def recorded_threads(recs: list[dict], unknown: int | None = None) -> int:
    """The TensorFlow thread count to re-run a unit's records with (see the module docstring)."""
    counts = {r[F.PROVENANCE].get("tf_threads") for r in recs}
    counts.discard(None)
    if len(counts) > 1:
        raise QbenchError(f"unit {recs[0][F.UNIT_KEY]}: its records were made with different thread counts {sorted(counts)}")
    if counts:
        (n,) = counts
        if not isinstance(n, int) or isinstance(n, bool) or n < 1:
            raise QbenchError(f"unit {recs[0][F.UNIT_KEY]}: provenance.tf_threads must be a positive integer, got {n!r}")
        return min(n, thread_cap())  # a record's claim never starts more threads than this machine has cores
    return unknown or default_tf_threads()


def _rerun_elsewhere(units: dict, keys: list[str], threads: int, ctx, tmp: str,
                     recorded: dict[str, list[dict]] | None = None) -> dict[str, list[dict]]:
    """Run ``keys`` in fresh worker processes with ``threads`` threads, one for the units whose ``recorded``
    records started from committed models and one for the others (:func:`models_as_recorded`); their
    records by key. Without ``recorded``, every unit uses the committed models."""
    out: dict[str, list[dict]] = {}
    for committed in (True, False):
        part = [k for k in keys if recorded is None or started_from_committed(recorded[k]) == committed]
        if part:
            with models_as_recorded(committed):
                out.update(_rerun_in_worker(units, part, threads, ctx, f"{tmp}/{'committed' if committed else 'own'}"))
    return out


def _rerun_in_worker(units: dict, keys: list[str], threads: int, ctx, tmp: str) -> dict[str, list[dict]]:
    """Run ``keys`` in one fresh worker process with ``threads`` threads; their records by key."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    from qbench.executors.local import end_pool
    from qbench.executors.worker import configure_worker, run_batch

    out_dir = f"{tmp}/threads-{threads}"
    payload = [(units[k].suite, k, units[k].config) for k in keys]
    ctx_plain = {"data_dir": ctx.data_dir, "cache_dir": ctx.cache_dir}
    pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"),
                               initializer=configure_worker, initargs=(threads, "verify"))
    try:
        pool.submit(run_batch, payload, out_dir, ctx_plain, True, threads, "verify").result()
    except Exception:  # noqa: BLE001  (the worker died: its units' records are missing, and say so)
        pass
    finally:
        end_pool(pool)
    store = RecordStore(out_dir)
    return {k: [r for _, r in iter_records([store.path(k)])] if store.has(k) else [] for k in keys}


#: record fields (and config fields) that name code: a registered name or 'module:attribute'
CODE_FIELDS = ("method", "task", "model")


def module_file(module: str) -> str | None:
    """Where ``module`` would be imported from, found without importing it (or its packages)."""
    import importlib.machinery
    import sys

    path, spec = None, None
    for i, part in enumerate(module.split(".")):
        name = ".".join(module.split(".")[: i + 1])
        if name in sys.modules:
            spec = getattr(sys.modules[name], "__spec__", None)
        else:
            spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None:
            return None
        path = spec.submodule_search_locations
    return spec.origin if spec is not None else None


def named_code(recs: Sequence[dict]) -> list[tuple[str, str, str | None, bool]]:
    """The ``module:attribute`` names of ``recs`` (their method, task and model, in the records and their
    configs): ``(field, name, file, installed)`` each; ``installed``: an installed entry point names it."""
    from qbench.plugins import is_path

    names = sorted({(f, str(v)) for r in recs for d in (r, r.get(F.CONFIG) or {}) for f in CODE_FIELDS
                    if is_path(v := d.get(f))})
    if not names:
        return []
    import importlib.metadata

    groups = ("qbench.unlearning_methods", "qbench.tasks", "qbench.models")
    installed = {ep.value.replace(" ", "") for g in groups for ep in importlib.metadata.entry_points(group=g)}
    return [(f, n, module_file(n.partition(":")[0]), n in installed) for f, n in names]


def check_named_code(recs: Sequence[dict], trust_code: bool, log: Callable[[str], None]) -> None:
    """Say which modules re-running ``recs`` imports, with their files; a module that is neither built in,
    installed, nor a committed submission (``leaderboard/submissions/``) needs ``trust_code`` (verify runs
    other people's records)."""
    from qbench.submissions import add_to_path, is_submission

    add_to_path()  # a committed submission's module (leaderboard/submissions/) is found by its name
    found = named_code(recs)
    untrusted = [(f, n, where) for f, n, where, installed in found if not installed and not is_submission(where)]
    if untrusted and not trust_code:
        f, n, where = untrusted[0]
        more = f" and {len(untrusted) - 1} more" if len(untrusted) > 1 else ""
        raise QbenchError(f"the records name code to import: {f} {n} ({where or 'not found'}){more}; it is neither "
                          f"built in nor installed: read it, then re-run with --trust-code to import it")
    for f, n, where, installed in found:
        log(f"verify imports {f} {n} from {where or 'a module not found here'}"
            + (" (an installed entry point)" if installed else " (a committed submission)" if is_submission(where)
               else " (--trust-code)"))


def rebuild_units(keys: Sequence[str], by_unit: dict[str, list[dict]]) -> dict:
    """The unit of each key, rebuilt from its records' config; a config this qbench cannot run is bad input."""
    from qbench import PROTOCOL_VERSION
    from qbench.suites import get_suite

    units = {}
    for key in keys:
        rec = by_unit[key][0]
        # a record of an older version re-runs as it was defined (its config says how: e.g. an xxz
        # config without task_options had the fixed phase); a newer one this qbench does not know
        if not str(rec["protocol_version"]).isdigit() or int(rec["protocol_version"]) > int(PROTOCOL_VERSION):
            raise QbenchError(f"unit {key}: protocol version {rec['protocol_version']}, this qbench runs "
                              f"protocol {PROTOCOL_VERSION} and earlier")
        suite = get_suite(rec[F.SUITE])
        if suite.unit_from_config is None:
            raise QbenchError(f"suite {suite.name!r} cannot rebuild a unit from a record's config")
        try:
            units[key] = suite.unit_from_config(rec[F.CONFIG])
        except QbenchError as exc:
            raise QbenchError(f"unit {key}: {exc}") from None
        except (KeyError, TypeError, ValueError) as exc:
            raise QbenchError(f"unit {key}: its config cannot be rebuilt ({type(exc).__name__}: {exc})") from None
    return units


def max_deviation(recorded: list[dict], rerun: list[dict]) -> float:
    """The largest |recorded - re-run| over every compared number of a unit (timings excluded)."""
    fresh = {_match_key(r): r for r in (_clean(r) for r in rerun)}
    worst = 0.0
    for rec in recorded:
        new = fresh.get(_match_key(rec))
        if new is None:
            continue
        for name, a in rec[F.METRICS].items():
            b = new[F.METRICS].get(name)
            if is_timing(name) or a is None or b is None or isinstance(a, (str, bool)) or isinstance(b, (str, bool)):
                continue
            _, d = values_agree(name, a, b, math.inf, math.inf)
            if math.isfinite(d):
                worst = max(worst, d)
    return worst


#: units re-run per worker process call when their thread count is not this process's (a ledger
#: entry is written after each chunk, so an interrupted ``--all`` loses at most one chunk)
CHUNK = 16


def check_units(chosen: Sequence[str], by_unit: dict[str, list[dict]], units: dict, want: dict[str, int], ctx, *,
                rtol: float, atol: float, log: Callable[[str], None],
                on_unit: Callable[[str, list[Disagreement], float], None]) -> None:
    """Re-run each unit of ``chosen`` with its thread count ``want[key]`` and compare; ``on_unit(key,
    disagreements, max deviation)`` as soon as each unit is checked."""
    from qbench.suites import get_suite

    order = {g: i for i, g in reversed(list(enumerate(units[k].group for k in chosen)))}
    here = tf_threads()
    with tempfile.TemporaryDirectory(prefix="qbench-verify-") as tmp:
        store = RecordStore(tmp)
        committed = {k: started_from_committed(by_unit[k]) for k in chosen}
        for key in sorted(chosen, key=lambda k: (want[k] != here, want[k], not committed[k], order[units[k].group], k)):
            if want[key] != here:
                continue
            unit = units[key]
            pre = _unit_disagreements_before_run(key, by_unit[key], unit)
            try:
                with models_as_recorded(committed[key]):
                    fresh = get_suite(unit.suite).run(unit.config, ctx, tmp)
            except QbenchError:
                raise
            except Exception as exc:  # noqa: BLE001  (a unit that no longer runs is a disagreement)
                log(f"  {key}: re-run raised {type(exc).__name__}")
                on_unit(key, pre + [Disagreement(key, "-", "(run)", "ok", f"raised {type(exc).__name__}: {exc}"[:100], "-")],
                        math.nan)
                continue
            store.write_unit(unit.key, fresh)  # validates the fresh records; only ever in the temp dir
            _report(key, by_unit[key], fresh, pre, rtol, atol, log, on_unit, "")
        for n in sorted({want[k] for k in chosen} - {here}):
            keys = sorted((k for k in chosen if want[k] == n), key=lambda k: (order[units[k].group], k))
            log(f"  re-running {len(keys)} unit(s) in a worker process with {n} TensorFlow thread(s)")
            for i in range(0, len(keys), CHUNK):
                part = keys[i:i + CHUNK]
                fresh_by_key = _rerun_elsewhere(units, part, n, ctx, tmp, by_unit)
                for key in part:
                    pre = _unit_disagreements_before_run(key, by_unit[key], units[key])
                    _report(key, by_unit[key], fresh_by_key[key], pre, rtol, atol, log, on_unit, f" ({n} thread(s))")


def other_cpu(recorded: list[dict]) -> str | None:
    """The CPU model a unit's records were made on, if it is not this machine's (None: same, or unknown)."""
    from qbench.records.provenance import machine

    made = (recorded[0].get(F.PROVENANCE) or {}).get("machine") or {} if recorded else {}
    if made.get("cpu_fingerprint") and made["cpu_fingerprint"] != machine()["cpu_fingerprint"]:
        return str(made.get("cpu_model") or made["cpu_fingerprint"])
    return None


def _report(key, recorded, fresh, pre, rtol, atol, log, on_unit, note: str) -> None:
    found = pre + compare_unit(key, recorded, fresh, rtol, atol)
    cpu = other_cpu(recorded)
    if found and cpu:
        note += f"; made on another CPU ({cpu}): XLA code differs by instruction set"
    log(f"  {key}: {'agrees' if not found else f'{len(found)} disagreement(s)'}{note}")
    on_unit(key, found, max_deviation(recorded, fresh) if fresh else math.nan)


def read_selected(paths: Sequence[str], only: Callable[[list[dict]], bool] | None = None
                  ) -> tuple[dict[str, list[dict]], list[str]]:
    """The records under ``paths`` by unit key (those ``only`` keeps), and the keys of the failed units."""
    by_unit: dict[str, list[dict]] = defaultdict(list)
    for _, rec in iter_records(paths, recursive=True):
        by_unit[rec[F.UNIT_KEY]].append(rec)
    if only is not None:
        by_unit = defaultdict(list, {k: v for k, v in by_unit.items() if only(v)})
    if not by_unit:
        raise QbenchError(f"no records under {', '.join(map(str, paths))}")
    return by_unit, sorted(k for k, rs in by_unit.items() if any(r[F.STATUS] == "failed" for r in rs))


def verify(paths: Sequence[str], *, sample: int | None = None, seed: int = 0, rtol: float = DEFAULT_RTOL,
           atol: float = DEFAULT_ATOL, data_dir: str | None = None, cache_dir: str | None = None,
           threads: int | None = None, trust_code: bool = False, only: Callable[[list[dict]], bool] | None = None,
           log: Callable[[str], None] = print) -> VerifyReport:
    """Re-run the units of the records under ``paths`` (all, or a seeded sample of ``sample``);
    ``threads``: the thread count for records that do not say theirs; ``trust_code``: import the
    ``module:attribute`` code the records name that is neither built in nor installed; ``only``: keep
    a unit only if it says so of its records."""
    from qbench.experiment import RunContext

    if sample is not None and sample < 1:
        raise QbenchError(f"--sample must be >= 1, got {sample}")
    if rtol < 0 or atol < 0:
        raise QbenchError("--rtol and --atol must be >= 0")
    if threads is not None and threads < 1:
        raise QbenchError(f"--threads must be >= 1, got {threads}")
    by_unit, failed = read_selected(paths, only)
    candidates = sorted(k for k in by_unit if k not in failed)
    if not candidates:
        raise QbenchError("no successful units to verify (failed units are not re-run)")
    chosen = sorted(random.Random(seed).sample(candidates, min(sample, len(candidates)))) if sample else candidates

    # rebuild every chosen unit before running any: a config this qbench cannot run is bad input
    check_named_code([r for k in chosen for r in by_unit[k]], trust_code, log)
    units = rebuild_units(chosen, by_unit)

    want = {key: recorded_threads(by_unit[key], threads) for key in chosen}
    ctx = RunContext(data_dir=data_dir, cache_dir=cache_dir)
    log(f"verifying {len(chosen)} of {len(candidates)} successful units"
        + (f" (sample seed {seed})" if sample else "") + (f"; {len(failed)} failed unit(s) not re-run" if failed else ""))
    disagreements: list[Disagreement] = []
    check_units(chosen, by_unit, units, want, ctx, rtol=rtol, atol=atol, log=log,
                on_unit=lambda key, found, dev: disagreements.extend(found))
    return VerifyReport(len(by_unit), chosen, failed, disagreements)


# --- ``qbench verify --all``: every record under a directory, resumable, with a ledger ---------------

def _append(path: Path, entry: dict) -> None:
    """One ledger line, flushed and fsynced: a run killed at any moment keeps every unit it checked."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as fh:
        fh.write(json.dumps(entry, sort_keys=True, allow_nan=False) + "\n")
        fh.flush()
        os.fsync(fh.fileno())


def one_seed_per_scenario(keys: Sequence[str], by_unit: dict[str, list[dict]]) -> list[str]:
    """The lowest-seed unit of each suite x scenario x method x alpha (x known fraction, for corrective;
    x grid point, for sensitivity: each point is its own configuration of the method)."""
    best: dict[tuple, tuple[int, str]] = {}
    for key in keys:
        r = by_unit[key][0]
        point = json.dumps((r.get("grid") or {}).get("point") or {}, sort_keys=True)
        group = (r[F.SUITE], r[F.SCENARIO], str(r.get(F.METHOD)), str(r.get(F.ALPHA)), str(r.get("known_fraction")),
                 point)
        cand = (int(r[F.SEED]), key)
        if group not in best or cand < best[group]:
            best[group] = cand
    return sorted(k for _, k in best.values())


def same_code_revisions(revision: str, others: set[str], *, repo: str | os.PathLike | None = None) -> set[str]:
    """``revision`` and those of ``others`` whose ``qbench/`` package is the same git tree."""
    from qbench.records.provenance import package_tree

    tree = package_tree(revision, repo=repo)
    return {revision} | ({r for r in others if package_tree(r, repo=repo) == tree} if tree else set())


@dataclass
class VerifyAllReport:
    selected: list[str]
    checked: list[str]
    already: list[str]
    disagree: list[str]
    ledger: Path
    revision: str

    @property
    def ok(self) -> bool:
        return not self.disagree


def verify_all(root: str | os.PathLike, *, ledger: str | os.PathLike | None = None,
               models: Sequence[str] | None = None, suites: Sequence[str] | None = None,
               one_seed: bool = False, rtol: float = DEFAULT_RTOL, atol: float = DEFAULT_ATOL,
               data_dir: str | None = None, cache_dir: str | None = None, threads: int | None = None,
               trust_code: bool = False, log: Callable[[str], None] = print) -> VerifyAllReport:
    """Re-run every successful unit under ``root`` (filtered by ``models``, ``suites``, or one seed per
    suite x scenario x method x alpha) that the ledger does not hold yet for this qbench revision (or
    one with the same ``qbench/`` source) and the unit's current record content; append one ledger
    entry per unit as it is checked."""
    from qbench.experiment import RunContext
    from qbench.records.provenance import git_revision

    if rtol < 0 or atol < 0:
        raise QbenchError("--rtol and --atol must be >= 0")
    if threads is not None and threads < 1:
        raise QbenchError(f"--threads must be >= 1, got {threads}")
    if not Path(root).is_dir():
        raise QbenchError(f"--all needs a directory of records, got {root}")
    ledger_path = Path(ledger) if ledger is not None else default_ledger(root)
    if ledger_path.exists() and not ledger_path.is_file():
        raise QbenchError(f"--ledger {ledger_path}: not a file")
    if Path(os.path.abspath(ledger_path)).is_relative_to(os.path.abspath(root)) and ledger_path.suffix == ".jsonl":
        raise QbenchError(f"--ledger {ledger_path}: a .jsonl file inside {root} would be read as records")
    entries = read_ledger(ledger_path)
    by_unit, digests = read_units([root])
    if not by_unit:
        raise QbenchError(f"no records under {root}")
    keys = sorted(k for k, rs in by_unit.items() if not any(r[F.STATUS] == "failed" for r in rs))
    if models:
        keys = [k for k in keys if by_unit[k][0].get(F.MODEL) in models]
    if suites:
        keys = [k for k in keys if by_unit[k][0].get(F.SUITE) in suites]
    if one_seed:
        keys = one_seed_per_scenario(keys, by_unit)
    if not keys:
        raise QbenchError(f"no successful unit under {root} matches the selection")
    revision = git_revision()
    same = same_code_revisions(revision, {e["revision"] for e in entries})
    done = {(e["unit"], e["content_sha256"]) for e in entries if e["revision"] in same}
    todo = [k for k in keys if (k, digests[k]) not in done]
    already = [k for k in keys if (k, digests[k]) in done]
    log(f"verify --all: {len(keys)} unit(s) selected under {root}; {len(already)} already in {ledger_path} "
        f"at revision {revision[:12]} or one with the same qbench/ source, {len(todo)} to re-run")
    check_named_code([r for k in todo for r in by_unit[k]], trust_code, log)
    units = rebuild_units(todo, by_unit)
    want = {key: recorded_threads(by_unit[key], threads) for key in todo}
    checked: list[str] = []
    from qbench.records.provenance import machine

    here = machine()

    def record(key: str, found: list[Disagreement], dev: float) -> None:
        r = by_unit[key][0]
        made = ((r.get(F.PROVENANCE) or {}).get("machine") or {}).get("cpu_fingerprint")
        _append(ledger_path, {
            # bit for bit needs the CPU that made the record: the coverage tells the two apart
            "cpu_model": here["cpu_model"], "cpu_fingerprint": here["cpu_fingerprint"], "made_on_cpu": made,
            "unit": key, "suite": r[F.SUITE], "model": r.get(F.MODEL), "scenario": r[F.SCENARIO],
            "content_sha256": digests[key], "records": len(by_unit[key]), "revision": revision,
            "tf_threads": want[key], "agree": not found, "disagreements": len(found),
            "max_deviation": dev if math.isfinite(dev) else None, "rtol": rtol, "atol": atol,
            "checked_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        })
        checked.append(key)

    check_units(todo, by_unit, units, want, RunContext(data_dir=data_dir, cache_dir=cache_dir),
                rtol=rtol, atol=atol, log=log, on_unit=record)
    latest = {}
    for e in read_ledger(ledger_path):
        if e["revision"] in same:
            latest[(e["unit"], e["content_sha256"])] = e
    disagree = sorted(k for k in keys if not latest.get((k, digests[k]), {}).get("agree", True))
    return VerifyAllReport(keys, checked, already, disagree, ledger_path, revision)
