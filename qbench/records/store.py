"""An output directory of records: one file per unit of work, written atomically, read with validation.

Layout: ``OUT/records/<unit_key>.jsonl``. A unit (scenario, alpha, seed[, method]) is written whole
with a temporary file and a rename, so an interrupted run leaves either the unit's complete file or
none, and a re-run skips the units already present.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path
from typing import Iterable, Iterator

from qbench.errors import QbenchError
from qbench.records.schema import validate_record


def _clean(value):
    """JSON has no NaN: store non-finite floats as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


class RecordStore:
    def __init__(self, out_dir: str | os.PathLike):
        self.root = Path(out_dir)
        self.records_dir = self.root / "records"

    def path(self, unit_key: str) -> Path:
        return self.records_dir / f"{unit_key}.jsonl"

    def has(self, unit_key: str) -> bool:
        return self.path(unit_key).exists()

    def write_unit(self, unit_key: str, records: Iterable[dict]) -> Path:
        self.records_dir.mkdir(parents=True, exist_ok=True)
        lines = [json.dumps(_clean(r), sort_keys=True, allow_nan=False) for r in records]
        for i, line in enumerate(lines):
            validate_record(json.loads(line), f"{unit_key} record {i}")
        fd, tmp = tempfile.mkstemp(dir=self.records_dir, prefix=f".{unit_key}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w") as fh:
                fh.write("\n".join(lines) + "\n")
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path(unit_key))
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
        return self.path(unit_key)

    def load(self) -> list[dict]:
        return load_records([self.records_dir]) if self.records_dir.exists() else []


def _files(paths: Iterable[str | os.PathLike], recursive: bool = False) -> list[Path]:
    files: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            if recursive:
                files.extend(sorted(f for f in p.rglob("*.jsonl") if not f.name.startswith(".")))
            else:
                sub = p / "records" if (p / "records").is_dir() else p
                files.extend(sorted(sub.glob("*.jsonl")))
        elif p.is_file():
            files.append(p)
        else:
            raise QbenchError(f"no such record file or directory: {p}")
    return files


def iter_records(paths: Iterable[str | os.PathLike], recursive: bool = False) -> Iterator[tuple[str, dict]]:
    """``(where, record)`` for every record under ``paths``, ``where`` being 'file:line'.

    With ``recursive``, every ``*.jsonl`` below a directory is read (a results tree holding several
    suites' output directories). A malformed or truncated line is an error naming its file and line.
    """
    for f in _files(paths, recursive):
        with open(f) as fh:
            for lineno, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                where = f"{f}:{lineno}"
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise QbenchError(f"{where}: not valid JSON ({exc.msg})") from None
                yield where, validate_record(rec, where)


def load_records(paths: Iterable[str | os.PathLike], recursive: bool = False) -> list[dict]:
    """All records under ``paths`` (files or directories); a malformed line is an error naming it."""
    return [rec for _, rec in iter_records(paths, recursive)]
