"""XLA's persistent compilation cache: where it goes, when it is left alone, and that a run from
cached executables gives the numbers of a run that compiled them."""

import json
import os
import subprocess
import sys
from pathlib import Path

from qbench.xla_cache import FLAG, active_xla_cache, enable_xla_cache, xla_cache_dir


def test_cache_dir_is_per_tensorflow_version_and_cpu(tmp_path, monkeypatch):
    from importlib import metadata

    monkeypatch.delenv("TF_XLA_FLAGS", raising=False)
    monkeypatch.setenv("QBENCH_XLA_CACHE", "1")
    d = enable_xla_cache(tmp_path)
    assert d == xla_cache_dir(tmp_path) and d.is_dir() and d.parent == tmp_path / "xla"
    assert d.name.startswith(f"tf-{metadata.version('tensorflow')}-")
    assert os.environ["TF_XLA_FLAGS"] == f"{FLAG}={d}" and active_xla_cache() == d
    # idempotent, and a directory already named in TF_XLA_FLAGS wins
    assert enable_xla_cache(tmp_path / "other") == d and os.environ["TF_XLA_FLAGS"].count(FLAG) == 1
    monkeypatch.setenv("TF_XLA_FLAGS", f"--tf_xla_auto_jit=0 {FLAG}=/elsewhere")
    assert enable_xla_cache(tmp_path) == Path("/elsewhere")
    # other flags are kept
    monkeypatch.setenv("TF_XLA_FLAGS", "--tf_xla_auto_jit=0")
    d2 = enable_xla_cache(tmp_path)
    assert os.environ["TF_XLA_FLAGS"] == f"--tf_xla_auto_jit=0 {FLAG}={d2}"


def test_cache_can_be_turned_off(tmp_path, monkeypatch):
    monkeypatch.delenv("TF_XLA_FLAGS", raising=False)
    for off in ("0", "off", "false"):
        monkeypatch.setenv("QBENCH_XLA_CACHE", off)
        assert enable_xla_cache(tmp_path) is None and "TF_XLA_FLAGS" not in os.environ
    assert not (tmp_path / "xla").exists()


def _run(out: Path, cache: Path, xla_cache: str) -> dict:
    env = {**os.environ, "QBENCH_XLA_CACHE": xla_cache}
    env.pop("TF_XLA_FLAGS", None)
    subprocess.run([sys.executable, "-m", "qbench", "run", "--suite", "resilience", "--task", "xxz-4",
                    "--model", "qnn", "--corruption", "label_flip", "--alphas", "0.3", "--seeds", "0",
                    "--epochs", "3", "--no-progress", "--out", str(out), "--cache-dir", str(cache)],
                   env=env, check=True, capture_output=True, timeout=600)
    (f,) = (out / "records").glob("*.jsonl")
    rec = json.loads(f.read_text().splitlines()[0])
    return {k: v for k, v in rec["metrics"].items() if not k.endswith("_s")}


def test_a_run_from_cached_executables_gives_the_same_numbers(tmp_path):
    cache = tmp_path / "cache"
    plain = _run(tmp_path / "plain", cache, "0")
    assert not (cache / "xla").exists()
    cold = _run(tmp_path / "cold", cache, "1")
    def entries() -> dict:
        return {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in xla_cache_dir(cache).glob("*.pb")}

    written = entries()
    assert written, "the first run with the cache on wrote no executables"
    warm = _run(tmp_path / "warm", cache, "1")
    assert entries() == written  # loaded, not compiled and written again
    assert plain == cold == warm
