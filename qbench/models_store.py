"""Committed protocol models (PROTOCOL 8): the shared starting models of the unlearning, corrective and
forgetting suites (poisoned models, oracles), published with the records so that every machine's units
start from the same parameters.

Layout: ``leaderboard/models/index.jsonl``, one JSON line per model::

    {"key": <config_hash of the model's cache spec>, "spec": {...}, "file": "<sha256[:16]>.npz",
     "sha256": <sha256 of the file>, "info": {how it was trained: metrics, training time, trained_by},
     "provenance": {git revision, versions, machine (CPU model and fingerprint), tf_threads}}

and ``<sha256[:16]>.npz`` holding one array, ``params`` (float32), named by its own content.
:func:`qbench.artifacts.cached_params` looks a spec up here before training: a committed model is used
on any machine, whatever the thread count, and the records that use it name its file and sha256
(``poisoned_model.protocol_model``, ``oracle_model.protocol_model``: outside the config, so no unit
key changes). Loading never runs code: ``np.load(allow_pickle=False)``, after the file's sha256 is
checked against its index line. ``QBENCH_PROTOCOL_MODELS``: another store directory, or ``off``.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from pathlib import Path
from typing import Iterable

import numpy as np

from qbench.errors import QbenchError
from qbench.files import atomic_write
from qbench.records.provenance import config_hash

INDEX = "index.jsonl"
ENV = "QBENCH_PROTOCOL_MODELS"


def store_dir() -> Path | None:
    """The committed store: ``$QBENCH_PROTOCOL_MODELS`` (``off``: none), else the checkout's
    ``leaderboard/models`` (None when qbench is not run from a checkout that has one)."""
    env = os.environ.get(ENV)
    if env is not None:
        return None if env.lower() in ("", "0", "off", "none") else Path(env)
    d = Path(__file__).resolve().parents[1] / "leaderboard" / "models"
    return d if d.is_dir() else None


def spec_key(spec: dict) -> str:
    """The store's key of a model's cache spec (the spec alone: a committed model serves every thread count)."""
    return config_hash(json.loads(json.dumps(spec, default=str)))


def read_index(d: Path) -> dict[str, dict]:
    """{key: index entry}; a malformed line is bad input naming the file and line."""
    path = d / INDEX
    out: dict[str, dict] = {}
    if not path.exists():
        return out
    for i, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            e = json.loads(line)
            out[str(e["key"])] = e
            _ = e["file"], e["sha256"], e["spec"]
        except (ValueError, KeyError, TypeError) as exc:
            raise QbenchError(f"{path}:{i}: not a model index line ({type(exc).__name__}: {exc})") from None
    return out


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def find(spec: dict) -> tuple[np.ndarray, dict] | None:
    """The committed model of ``spec``: (params, info with ``protocol_model``: file and sha256), or None."""
    d = store_dir()
    if d is None:
        return None
    entry = read_index(d).get(spec_key(spec))
    if entry is None or entry["spec"] != json.loads(json.dumps(spec, default=str)):
        return None
    path = d / entry["file"]
    if not path.is_file():
        raise QbenchError(f"{path}: named by {d / INDEX} but missing")
    digest = sha256_file(path)
    if digest != entry["sha256"]:
        raise QbenchError(f"{path}: sha256 {digest[:16]}... is not its index line's {entry['sha256'][:16]}...: "
                          f"the committed model was changed")
    try:
        with np.load(path, allow_pickle=False) as z:  # never unpickles: loading runs no code
            params = np.asarray(z["params"], np.float32)
    except (ValueError, KeyError, OSError) as exc:
        raise QbenchError(f"{path}: not a committed model's parameters ({type(exc).__name__}: {exc})") from None
    info = {**entry["info"], "protocol_model": {"file": f"leaderboard/models/{entry['file']}", "sha256": digest}}
    return params, info


def _npz_bytes(params: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, params=np.asarray(params, np.float32))
    return buf.getvalue()


def export(run_dirs: Iterable[str | os.PathLike], dest: str | os.PathLike,
           max_params: int | None = None) -> tuple[int, int, int, int]:
    """Add the trained shared models of ``run_dirs`` (their ``models/*.npz``) to the store ``dest``; returns
    (added, already there, bytes added, left out). A model of more than ``max_params`` parameters is left
    out (a run trains it again where it is needed). The provenance is the records' of the run that used
    each model."""
    dest = Path(dest)
    index = read_index(dest) if (dest / INDEX).exists() else {}
    provenance = _run_provenance(run_dirs)
    added = present = size = left_out = 0
    new_lines = []
    for run in run_dirs:
        files = sorted((Path(run) / "models").glob("*.npz"))
        if not files and not (Path(run) / "models").is_dir():
            raise QbenchError(f"{run}: no models/ directory (export takes a run's output directory)")
        for f in files:
            with np.load(f, allow_pickle=False) as z:
                params, spec, info = z["params"], json.loads(str(z["spec"])), json.loads(str(z["info"]))
            key = spec_key(spec)
            if max_params is not None and params.size > max_params:
                left_out += 1
                continue
            if key in index:
                present += 1
                continue
            blob = _npz_bytes(params)
            digest = hashlib.sha256(blob).hexdigest()
            name = f"{digest[:16]}.npz"
            atomic_write(dest / name, lambda fh, b=blob: fh.write(b))
            entry = {"key": key, "spec": spec, "file": name, "sha256": digest, "n_params": int(params.size),
                     "info": info, "provenance": provenance.get(str(run), {})}
            index[key] = entry
            new_lines.append(json.dumps(entry, sort_keys=True))
            added, size = added + 1, size + len(blob)
    if new_lines:
        dest.mkdir(parents=True, exist_ok=True)
        with open(dest / INDEX, "a") as fh:
            fh.write("".join(line + "\n" for line in new_lines))
    return added, present, size, left_out


def _run_provenance(run_dirs: Iterable[str | os.PathLike]) -> dict[str, dict]:
    """{run dir: the provenance of its first record} (revision, versions, machine, thread count)."""
    from qbench.records.store import iter_records

    out = {}
    for run in run_dirs:
        for _, rec in iter_records([str(Path(run) / "records")], recursive=True):
            out[str(run)] = rec.get("provenance") or {}
            break
    return out
