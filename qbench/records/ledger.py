"""The ledger of ``qbench verify --all``: which units were re-run, at which revision, with which result.

Reading it is a records-level question (the leaderboard states its coverage), so it lives here, below
the run side that writes it (:mod:`qbench.verify`).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import defaultdict
from pathlib import Path
from typing import Sequence

from qbench.errors import QbenchError
from qbench.records import schema as F
from qbench.records.store import iter_records

LEDGER_NAME = "verify-ledger.jsonl"


def default_ledger(root: str | os.PathLike) -> Path:
    """``verify-ledger.jsonl`` beside ``root`` (not inside it: loaders read every ``*.jsonl`` below it)."""
    return Path(os.path.abspath(root)).parent / LEDGER_NAME


def read_units(paths: Sequence[str | os.PathLike]) -> tuple[dict[str, list[dict]], dict[str, str]]:
    """Records by unit key, and each unit's content hash (sha256 of its record file(s), in order)."""
    by_unit, files = _unit_files(paths)
    return by_unit, {key: _digest(fs) for key, fs in files.items()}


def _unit_files(paths: Sequence[str | os.PathLike]) -> tuple[dict[str, list[dict]], dict[str, list[str]]]:
    """Records by unit key, and each unit's record files in reading order."""
    by_unit: dict[str, list[dict]] = defaultdict(list)
    files: dict[str, list[str]] = defaultdict(list)
    for where, rec in iter_records(paths, recursive=True):
        key = rec[F.UNIT_KEY]
        by_unit[key].append(rec)
        f = where.rsplit(":", 1)[0]
        if f not in files[key]:
            files[key].append(f)
    return dict(by_unit), dict(files)


def _digest(files: Sequence[str]) -> str:
    h = hashlib.sha256()
    for f in files:
        h.update(Path(f).read_bytes())
    return h.hexdigest()


def read_ledger(path: str | os.PathLike) -> list[dict]:
    """The ledger's entries (none if it does not exist); a bad line is an error naming the file and line."""
    p = Path(path)
    if not p.exists():
        return []
    out = []
    with open(p, "rb") as fh:
        for lineno, raw in enumerate(fh, 1):
            if not raw.strip():
                continue
            try:
                entry = json.loads(raw)
            except ValueError:
                raise QbenchError(f"{p}:{lineno}: not a ledger entry (invalid JSON)") from None
            if not isinstance(entry, dict) or not {"unit", "content_sha256", "revision", "agree"} <= set(entry):
                raise QbenchError(f"{p}:{lineno}: not a ledger entry (needs unit, content_sha256, revision, agree)")
            out.append(entry)
    return out


def cpu_relation(entry: dict) -> str:
    """'same_cpu' or 'other_cpu': whether a ledger entry re-ran its unit on the CPU model that made it
    (XLA compiles for the host's instruction set, so only the same CPU promises equal bits); 'cpu_unknown'
    when the entry or the record does not say (entries before the ledger named CPUs, records before
    protocol 2)."""
    here, made = entry.get("cpu_fingerprint"), entry.get("made_on_cpu")
    if not here or not made:
        return "cpu_unknown"
    return "same_cpu" if here == made else "other_cpu"


class LedgerView:
    """A results tree beside the ledger of its re-runs, read once: coverage counts and changed files."""

    def __init__(self, ledger_path: str | os.PathLike, results_dir: str | os.PathLike) -> None:
        self.ledger = str(ledger_path)
        self.by_unit, self.files = _unit_files([results_dir])
        self.digests = {key: _digest(fs) for key, fs in self.files.items()}
        entries = read_ledger(ledger_path)
        #: (unit, content sha256) -> its last entry: what a unit of that content counts as
        self.last = {(e["unit"], e["content_sha256"]): e for e in entries}
        #: unit -> (line number, entry) of its last entry, whatever content it verified
        self.latest = {e["unit"]: (i, e) for i, e in enumerate(entries, 1)}
        self.ok_units = sorted(k for k, rs in self.by_unit.items() if not any(r[F.STATUS] == "failed" for r in rs))

    def counts(self, keys: Sequence[str]) -> dict:
        """Units and records of ``keys``, and how many the ledger shows re-run, agreeing and disagreeing."""
        hits = [self.last.get((k, self.digests[k])) for k in keys]
        return {
            "units": len(keys), "records": sum(len(self.by_unit[k]) for k in keys),
            "units_checked": sum(h is not None for h in hits),
            "units_agreed": sum(bool(h and h["agree"]) for h in hits),
            "records_agreed": sum(len(self.by_unit[k]) for k, h in zip(keys, hits) if h and h["agree"]),
            "units_disagreed": sum(bool(h and not h["agree"]) for h in hits),
            **{f"disagreed_{rel}": sum(bool(h and not h["agree"] and cpu_relation(h) == rel) for h in hits)
               for rel in ("same_cpu", "other_cpu", "cpu_unknown")},
        }

    def by(self, *fields: str) -> dict[tuple[str, ...], dict]:
        """:meth:`counts` of the successful units per value of the record ``fields`` (e.g. suite, model)."""
        groups: dict[tuple[str, ...], list[str]] = defaultdict(list)
        for k in self.ok_units:
            groups[tuple(str(self.by_unit[k][0].get(f)) for f in fields)].append(k)
        return {g: self.counts(ks) for g, ks in sorted(groups.items())}

    def revisions(self) -> list[str]:
        """The revisions of the counted entries, most recent last."""
        used = [self.last[(k, self.digests[k])] for k in self.ok_units if (k, self.digests[k]) in self.last]
        return sorted({e["revision"] for e in used},
                      key=lambda r: max(e.get("checked_at", "") for e in used if e["revision"] == r))

    def changed(self) -> list[str]:
        """One line per unit whose record file(s) no longer have the sha256 its last ledger entry verified:
        a record edited or re-made since ``qbench verify`` checked it."""
        out = []
        for key in sorted(self.files):
            if key in self.latest and self.latest[key][1]["content_sha256"] != self.digests[key]:
                line, entry = self.latest[key]
                out.append(f"{', '.join(self.files[key])}: changed since `qbench verify` checked it ({self.ledger} "
                           f"line {line}: sha256 {entry['content_sha256'][:12]}, now {self.digests[key][:12]})")
        return out


def ledger_coverage(ledger_path: str | os.PathLike, results_dir: str | os.PathLike) -> dict:
    """How much of ``results_dir`` the ledger shows re-run and agreeing, for the leaderboard.

    A unit counts when a ledger entry has its key and its current record content (an edited or
    re-made record file needs a new check); of several entries the last one counts. Returns
    ``units`` and ``records`` (successful ones under ``results_dir``), ``units_checked``,
    ``units_agreed``, ``records_agreed``, ``units_disagreed`` (split by :func:`cpu_relation` into
    ``disagreed_same_cpu``, ``disagreed_other_cpu`` and ``disagreed_cpu_unknown``), ``revisions`` (those
    of the counted entries, most recent last), and the same counts per ``by_model`` and ``by_suite``.
    """
    view = LedgerView(ledger_path, results_dir)
    out = view.counts(view.ok_units)
    out["revisions"] = view.revisions()
    for field, name in ((F.MODEL, "by_model"), (F.SUITE, "by_suite")):
        out[name] = {g: c for (g,), c in view.by(field).items()}
    return out
