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
    by_unit: dict[str, list[dict]] = defaultdict(list)
    files: dict[str, list[str]] = defaultdict(list)
    for where, rec in iter_records(paths, recursive=True):
        key = rec[F.UNIT_KEY]
        by_unit[key].append(rec)
        f = where.rsplit(":", 1)[0]
        if f not in files[key]:
            files[key].append(f)
    digests = {}
    for key, fs in files.items():
        h = hashlib.sha256()
        for f in fs:
            h.update(Path(f).read_bytes())
        digests[key] = h.hexdigest()
    return dict(by_unit), digests


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


def ledger_coverage(ledger_path: str | os.PathLike, results_dir: str | os.PathLike) -> dict:
    """How much of ``results_dir`` the ledger shows re-run and agreeing, for the leaderboard.

    A unit counts when a ledger entry has its key and its current record content (an edited or
    re-made record file needs a new check); of several entries the last one counts. Returns
    ``units`` and ``records`` (successful ones under ``results_dir``), ``units_checked``,
    ``units_agreed``, ``records_agreed``, ``units_disagreed`` (split by :func:`cpu_relation` into
    ``disagreed_same_cpu``, ``disagreed_other_cpu`` and ``disagreed_cpu_unknown``), ``revisions`` (those
    of the counted entries, most recent last), and the same counts per ``by_model`` and ``by_suite``.
    """
    by_unit, digests = read_units([results_dir])
    entries = read_ledger(ledger_path)
    last: dict[tuple[str, str], dict] = {}
    for e in entries:
        last[(e["unit"], e["content_sha256"])] = e
    ok_units = sorted(k for k, rs in by_unit.items() if not any(r[F.STATUS] == "failed" for r in rs))

    def counts(keys: list[str]) -> dict:
        hits = [last.get((k, digests[k])) for k in keys]
        return {
            "units": len(keys), "records": sum(len(by_unit[k]) for k in keys),
            "units_checked": sum(h is not None for h in hits),
            "units_agreed": sum(bool(h and h["agree"]) for h in hits),
            "records_agreed": sum(len(by_unit[k]) for k, h in zip(keys, hits) if h and h["agree"]),
            "units_disagreed": sum(bool(h and not h["agree"]) for h in hits),
            **{f"disagreed_{rel}": sum(bool(h and not h["agree"] and cpu_relation(h) == rel) for h in hits)
               for rel in ("same_cpu", "other_cpu", "cpu_unknown")},
        }

    out = counts(ok_units)
    used = [last[(k, digests[k])] for k in ok_units if (k, digests[k]) in last]
    out["revisions"] = sorted({e["revision"] for e in used}, key=lambda r: max(e.get("checked_at", "") for e in used
                                                                               if e["revision"] == r))
    for field, name in ((F.MODEL, "by_model"), (F.SUITE, "by_suite")):
        groups: dict[str, list[str]] = defaultdict(list)
        for k in ok_units:
            groups[str(by_unit[k][0].get(field))].append(k)
        out[name] = {g: counts(ks) for g, ks in sorted(groups.items())}
    return out
