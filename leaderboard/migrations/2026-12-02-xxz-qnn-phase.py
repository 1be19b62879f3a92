"""Protocol 2 (PROTOCOL 1.2): xxz configs name their global-phase rule in ``task_options``.

The xxz QNN records of protocol 1 were made from the canonical states, and qbench's QNN still reads
exactly those (``TaskData.encode`` drops the phase for the amplitude encoding), so under protocol 2's
``phase=random`` they are the same computation, bit for bit. This script gives their configs
``task_options = {"phase": "random"}``, recomputes ``config_hash`` and ``unit_key`` (the file is
renamed to match), and records the old key under ``migration``. Metrics are not touched; a sample of
the migrated units is re-run with ``qbench verify`` to show they still agree.

Run once from the repository root: ``python leaderboard/migrations/2026-12-02-xxz-qnn-phase.py``.
"""

from __future__ import annotations

import json
import os
import sys

from qbench.records.provenance import config_hash

CHANGE = ("config gained task_options.phase=random (protocol 2); the QNN reads the canonical states, "
          "so its inputs and numbers are unchanged")


def migrate(path: str) -> str | None:
    with open(path) as f:
        recs = [json.loads(line) for line in f if line.strip()]
    if not recs or recs[0]["model"] != "qnn" or not str(recs[0]["task"]).startswith("xxz-"):
        return None
    new_key = None
    for r in recs:
        spec = r["config"]["poisoned"] if "poisoned" in r["config"] else r["config"]
        if "task_options" in spec:
            return None  # already migrated
        spec["task_options"] = {"phase": "random"}
        old_key = r["unit_key"]
        r["config_hash"] = config_hash(r["config"])
        r["unit_key"] = new_key = old_key[: -len(old_key.rsplit("-", 1)[1])] + r["config_hash"]
        r["migration"] = {"from_unit_key": old_key, "change": CHANGE}
    target = os.path.join(os.path.dirname(path), new_key + ".jsonl")
    with open(target + ".tmp", "w") as f:
        for r in recs:
            f.write(json.dumps(r, sort_keys=True) + "\n")
    os.replace(target + ".tmp", target)
    if target != path:
        os.unlink(path)
    return target


if __name__ == "__main__":
    root = sys.argv[1] if len(sys.argv) > 1 else "leaderboard/results"
    n = 0
    for dirpath, _, files in os.walk(root):
        for name in sorted(files):
            if name.endswith(".jsonl") and migrate(os.path.join(dirpath, name)):
                n += 1
    print(f"migrated {n} unit files")
