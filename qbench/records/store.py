"""An output directory of records: one file per unit of work, written atomically, read with validation.

Layout: ``OUT/records/<unit_key>.jsonl``. A unit (scenario, alpha, seed[, method]) is written whole
with a temporary file (fsynced) and a rename, so an interrupted run leaves either the unit's complete
file or none, and a re-run skips the units already present.

Several processes may write into one directory at once (``--executor local``/``dask`` workers, or
the same command started twice): a unit file is published with ``os.link`` from its temporary file,
which fails if the file exists, so the first writer wins and a unit is never written twice (unless
``overwrite``, which ``--force`` uses and which replaces the file whole). Temporary files are named
``.<unit_key>~<host>~<pid>~<random>.tmp``; the loader ignores them and ``clean_stale_tmp`` removes
those left by a killed process (dead pid on this host, or older than a day).

A unit file that is empty or does not parse (e.g. truncated by a full disk, or copied by hand) is
not a finished unit: ``unreadable`` says why, and ``set_aside`` renames it to
``<unit_key>.jsonl.bad-<UTC time>`` (not ``*.jsonl``: no loader reads it) so that the unit runs again.
"""

from __future__ import annotations

import json
import math
import os
import socket
import time
from pathlib import Path
from typing import Iterable, Iterator

from qbench.errors import QbenchError
from qbench.files import atomic_write
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


def encode_unit(unit_key: str, records: Iterable[dict]) -> list[str]:
    """A unit's records as JSON lines, each validated first (QbenchError naming the unit's file and
    line). Validation sees the values as produced: a NaN metric of a successful record is refused,
    not stored as null where a mean would skip it; non-finite values elsewhere are stored as null."""
    lines = []
    for i, r in enumerate(records, 1):
        validate_record(json.loads(json.dumps(r, sort_keys=True)), f"records/{unit_key}.jsonl:{i} (not written)")
        lines.append(json.dumps(_clean(r), sort_keys=True, allow_nan=False))
    return lines


class RecordStore:
    def __init__(self, out_dir: str | os.PathLike):
        self.root = Path(out_dir)
        self.records_dir = self.root / "records"

    def path(self, unit_key: str) -> Path:
        return self.records_dir / f"{unit_key}.jsonl"

    def has(self, unit_key: str) -> bool:
        return self.path(unit_key).exists()

    def write_unit(self, unit_key: str, records: Iterable[dict], *, overwrite: bool = True) -> Path | None:
        """Write a unit's records whole; None (nothing written) if ``not overwrite`` and the unit's
        file exists already, e.g. because another process finished the same unit meanwhile."""
        lines = encode_unit(unit_key, records)
        if not overwrite and self.has(unit_key):
            return None
        final = self.path(unit_key)
        data = ("\n".join(lines) + "\n").encode()
        if not atomic_write(final, lambda fh: fh.write(data), prefix=tmp_prefix(unit_key), exclusive=not overwrite):
            return None
        return final

    def unreadable(self, unit_key: str) -> str | None:
        """Why the unit's existing file cannot count as the finished unit; None if it can (or is absent)."""
        path = self.path(unit_key)
        try:
            if path.stat().st_size == 0:
                return f"{path}: empty unit file"
            recs = [r for _, r in iter_records([path])]
        except FileNotFoundError:
            return None
        except OSError as exc:
            return f"{path}: cannot be read ({exc.strerror})"
        except QbenchError as exc:
            return str(exc)
        if not recs:
            return f"{path}: no records in the unit file"
        keys = sorted({str(r.get("unit_key")) for r in recs} - {unit_key})
        if keys:
            return f"{path}: holds records of unit {keys[0]}, not {unit_key}"
        return None

    def failure(self, unit_key: str) -> str | None:
        """The error of the unit's existing file if it records a failed unit; None if it succeeded (or is absent)."""
        path = self.path(unit_key)
        if not path.exists() or self.unreadable(unit_key):
            return None
        for _, r in iter_records([path]):
            if r.get("status") == "failed":
                return str(r.get("error") or "failed").splitlines()[0]
        return None

    def set_aside(self, unit_key: str, tag: str = "bad") -> Path:
        """Rename the unit's file out of the loaders' way (``<key>.jsonl.<tag>-<UTC time>``); returns the new path."""
        path = self.path(unit_key)
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        dest = path.with_name(f"{path.name}.{tag}-{stamp}")
        n = 1
        while dest.exists():
            n += 1
            dest = path.with_name(f"{path.name}.{tag}-{stamp}-{n}")
        os.replace(path, dest)
        return dest

    def clean_stale_tmp(self) -> list[Path]:
        """Remove temporary files that killed runs left in ``records/`` and ``models/``."""
        return clean_stale_tmp(self.records_dir) + clean_stale_tmp(self.root / "models")

    def load(self) -> list[dict]:
        return load_records([self.records_dir]) if self.records_dir.exists() else []


def _host() -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in socket.gethostname())[:40] or "host"


def tmp_prefix(name: str) -> str:
    """Prefix of a temporary file for ``name``: hidden, with this process's host and pid."""
    return f".{name}~{_host()}~{os.getpid()}~"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


STALE_TMP_AGE_S = 24 * 3600.0


def clean_stale_tmp(directory: str | os.PathLike, max_age_s: float = STALE_TMP_AGE_S) -> list[Path]:
    """Delete the temporary files (see ``tmp_prefix``) of processes that are gone: a dead pid on this
    host, or any file older than ``max_age_s`` (a live write takes milliseconds). Returns them."""
    d = Path(directory)
    if not d.is_dir():
        return []
    host, now, removed = _host(), time.time(), []
    for f in d.glob(".*~*~*~*"):
        parts = f.name.split("~")
        if len(parts) != 4:
            continue
        try:
            stale = (parts[1] == host and parts[2].isdigit() and not _pid_alive(int(parts[2]))) \
                or now - f.stat().st_mtime > max_age_s
            if stale:
                f.unlink()
                removed.append(f)
        except FileNotFoundError:
            continue
    return removed


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
        found = False
        with open(f, "rb") as fh:
            for lineno, raw in enumerate(fh, 1):
                where = f"{f}:{lineno}"
                try:
                    line = raw.decode("utf-8")
                except UnicodeDecodeError:
                    raise QbenchError(f"{where}: not valid UTF-8 text") from None
                if not line.strip():
                    continue
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise QbenchError(f"{where}: not valid JSON ({exc.msg})") from None
                except RecursionError:
                    raise QbenchError(f"{where}: not valid JSON (nested too deeply)") from None
                found = True
                yield where, validate_record(rec, where)
        if not found:
            raise QbenchError(f"{f}:1: empty record file (no records)")  # file:line, as every loader error


def load_records(paths: Iterable[str | os.PathLike], recursive: bool = False) -> list[dict]:
    """All records under ``paths`` (files or directories); a malformed line is an error naming it."""
    return [rec for _, rec in iter_records(paths, recursive)]
