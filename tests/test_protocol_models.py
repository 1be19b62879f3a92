"""Committed protocol models (PROTOCOL 8): a run uses a committed model instead of training it, names its
file's sha256 outside the config (no unit key moves), never unpickles, and refuses a changed file."""

import json
import os

import numpy as np
import pytest

from qbench.artifacts import clear_memory
from qbench.cli import main

TINY = ["run", "--suite", "unlearning", "--task", "xxz-4", "--model", "mlp", "--method", "finetune", "--epochs", "1",
        "--steps", "1", "--seeds", "0", "--no-progress"]


def _records(d):
    return [json.loads(line) for f in sorted((d / "records").glob("*.jsonl")) for line in f.read_text().splitlines()]


def test_a_committed_model_is_used_not_trained_and_named_by_its_sha256(tmp_path, cache_dir, monkeypatch, capsys):
    monkeypatch.setenv("QBENCH_PROTOCOL_MODELS", "off")
    clear_memory()
    assert main([*TINY, "--out", str(tmp_path / "made"), "--cache-dir", cache_dir]) == 0
    store = tmp_path / "store"
    # a size cap leaves a model out (the xxz-4 MLP has more than 10 parameters), and writes no index line for it
    assert main(["models", "export", str(tmp_path / "made"), "--to", str(store), "--max-params", "10"]) == 0
    assert "0 model(s) added" in (out := capsys.readouterr().out) and "2 left out" in out
    assert not (store / "index.jsonl").exists() or not (store / "index.jsonl").read_text().strip()
    assert main(["models", "export", str(tmp_path / "made"), "--to", str(store)]) == 0
    assert "2 model(s) added" in capsys.readouterr().out  # the poisoned model and the oracle of seed 0
    index = [json.loads(line) for line in (store / "index.jsonl").read_text().splitlines()]
    assert {e["provenance"]["tf_threads"] for e in index} and all((store / e["file"]).is_file() for e in index)
    assert main(["models", "export", str(tmp_path / "made"), "--to", str(store)]) == 0
    assert "0 model(s) added" in capsys.readouterr().out and len((store / "index.jsonl").read_text().splitlines()) == 2

    monkeypatch.setenv("QBENCH_PROTOCOL_MODELS", str(store))
    clear_memory()
    assert main([*TINY, "--out", str(tmp_path / "used"), "--cache-dir", cache_dir]) == 0
    assert not list((tmp_path / "used" / "models").glob("*.npz"))  # nothing trained
    made, used = _records(tmp_path / "made"), _records(tmp_path / "used")
    assert sorted(r["unit_key"] for r in made) == sorted(r["unit_key"] for r in used)  # no key moved
    shas = {e["sha256"] for e in index}
    method = [r for r in used if r["method"] == "finetune"]
    oracle = [r for r in used if r["method"] == "oracle"]
    assert {r["poisoned_model"]["protocol_model"]["sha256"] for r in method} <= shas
    assert oracle[0]["oracle_model"]["protocol_model"]["sha256"] in shas
    # the same parameters: the same numbers as the run that trained them (same machine, same threads)
    assert [r["metrics"]["val_acc"] for r in sorted(made, key=lambda r: (r["unit_key"], r["step"]))] == \
           [r["metrics"]["val_acc"] for r in sorted(used, key=lambda r: (r["unit_key"], r["step"]))]

    # a changed file is refused, naming it; a pickled payload is never loaded
    e = index[0]
    np.savez(store / e["file"], params=np.zeros(3, np.float32))
    clear_memory()
    code = main([*TINY, "--out", str(tmp_path / "changed"), "--cache-dir", cache_dir])
    assert code != 0
    from qbench.errors import QbenchError
    from qbench.models_store import find, sha256_file

    np.savez(store / e["file"], params=np.array([{"x": 1}], dtype=object))
    lines = (store / "index.jsonl").read_text().splitlines()
    lines[0] = json.dumps({**e, "sha256": sha256_file(store / e["file"])})
    (store / "index.jsonl").write_text("\n".join(lines) + "\n")
    with pytest.raises(QbenchError, match="not a committed model's parameters"):
        find(e["spec"])
    clear_memory()
    os.environ.pop("QBENCH_PROTOCOL_MODELS", None)


def test_the_protocol_models_are_counted_from_the_plan(capsys):
    assert main(["models", "count"]) == 0
    out = capsys.readouterr().out
    # 2 tasks x 2 models x 5 seeds, a poisoned model and an oracle each; the xxz-12 MLP: 525,409 parameters
    assert out.startswith("unlearning: 40 model(s), 5,423,140 parameters, 21,692,560 bytes as float32")
    assert "unlearning + corrective + forgetting: 376 model(s)" in out


def test_verify_reruns_each_record_from_the_models_it_started_from(tmp_path, cache_dir, monkeypatch, capsys):
    """A record made before its models were committed (it trained its own) is re-run training them, even where
    a store holds other parameters for the same spec; a record that names a committed model is re-run from it."""
    from qbench.models_store import INDEX, _npz_bytes, read_index, sha256_file

    monkeypatch.setenv("QBENCH_PROTOCOL_MODELS", "off")
    clear_memory()
    assert main([*TINY, "--out", str(tmp_path / "own"), "--cache-dir", cache_dir]) == 0
    store = tmp_path / "store"
    assert main(["models", "export", str(tmp_path / "own"), "--to", str(store)]) == 0
    # the store's models are other parameters for the same specs (as a model trained on another CPU would be)
    lines = []
    for e in read_index(store).values():
        with np.load(store / e["file"]) as z:
            params = z["params"] + np.float32(0.05)
        (store / e["file"]).write_bytes(_npz_bytes(params))
        lines.append(json.dumps({**e, "sha256": sha256_file(store / e["file"])}))
    (store / INDEX).write_text("\n".join(lines) + "\n")
    monkeypatch.setenv("QBENCH_PROTOCOL_MODELS", str(store))
    clear_memory()
    assert main([*TINY, "--out", str(tmp_path / "committed"), "--cache-dir", cache_dir]) == 0
    own, committed = _records(tmp_path / "own"), _records(tmp_path / "committed")
    assert not any("protocol_model" in (r.get("poisoned_model") or {}) for r in own)
    assert all("protocol_model" in r["poisoned_model"] for r in committed if r["method"] == "finetune")
    assert [r["metrics"]["val_acc"] for r in own] != [r["metrics"]["val_acc"] for r in committed]
    capsys.readouterr()
    for run in ("own", "committed"):
        clear_memory()
        assert main(["verify", str(tmp_path / run / "records"), "--cache-dir", cache_dir]) == 0, run
        assert "disagree" not in capsys.readouterr().out
    clear_memory()
