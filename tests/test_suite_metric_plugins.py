"""A suite and a metric from outside the package (examples/toy_suite_metric.py), installed as entry points in a
directory on the path: run end to end, tabled by the run and by `qbench leaderboard`, never imported by a report."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ENTRY_POINTS = "[qbench.suites]\ntoy = toy_plugin:SUITE\n\n[qbench.metrics]\ntoy_margin = toy_plugin:MARGIN\n"


def installed(tmp_path: Path) -> Path:
    """The example, behind a module that leaves a file when imported, installed as distribution toy-plugin."""
    plugdir = tmp_path / "plugins"
    (plugdir / "toy_plugin-0.1.dist-info").mkdir(parents=True)
    shutil.copy(ROOT / "examples" / "toy_suite_metric.py", plugdir)
    (plugdir / "toy_plugin.py").write_text(f"from pathlib import Path\nPath({str(tmp_path / 'imported')!r}).touch()\n"
                                           "from toy_suite_metric import MARGIN, SUITE\n")
    (plugdir / "toy_plugin-0.1.dist-info" / "METADATA").write_text("Metadata-Version: 2.1\nName: toy-plugin\nVersion: 0.1\n")
    (plugdir / "toy_plugin-0.1.dist-info" / "entry_points.txt").write_text(ENTRY_POINTS)
    return plugdir


def qbench(tmp_path: Path, plugdir: Path, cache_dir: str, *argv: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("QBENCH_DISABLE_PLUGIN", "PYTHONPATH"))}
    env.update(PYTHONPATH=os.pathsep.join([str(plugdir), str(ROOT)]), QBENCH_CACHE_DIR=cache_dir)
    return subprocess.run([sys.executable, "-m", "qbench", *argv], env=env, cwd=tmp_path, capture_output=True,
                          text=True, timeout=600)


def test_a_suite_and_a_metric_from_entry_points_run_and_table(tmp_path, cache_dir):
    plugdir = installed(tmp_path)
    listed = qbench(tmp_path, plugdir, cache_dir, "list", "suites")
    assert listed.returncode == 0 and "  toy          nearest-centroid accuracy and margin" in listed.stdout
    assert "[plugin (toy-plugin==0.1)]" in listed.stdout

    out = tmp_path / "out"
    r = qbench(tmp_path, plugdir, cache_dir, "run", "--suite", "toy", "--task", "xxz-4", "--seeds", "0,1",
               "--no-progress", "--out", str(out))
    assert r.returncode == 0, r.stderr[-2000:]
    recs = [json.loads(line) for f in sorted((out / "records").glob("*.jsonl")) for line in f.read_text().splitlines()]
    assert [(x["suite"], x["task"], x["seed"], x["status"]) for x in recs] == [("toy", "xxz-4", s, "ok") for s in (0, 1)]
    # the plugin metric, computed by the plugin's function, beside a built-in one
    assert all(0.0 <= x["metrics"]["val_acc"] <= 1.0 and isinstance(x["metrics"]["toy_margin"], float) for x in recs)
    margins = [x["metrics"]["toy_margin"] for x in recs]
    cell = f"{sum(margins) / 2:.3f} ± {abs(margins[0] - margins[1]) / 2 ** 0.5:.3f}"
    # the run's table: the generic one of a suite without a report module, the suite's metrics as columns
    assert "== `toy` · xxz-4 · centroid (protocol 3; NOT the protocol settings, not ranked)" in r.stdout
    header = next(line for line in r.stdout.splitlines() if line.startswith("| model_size"))
    assert [c.strip() for c in header.strip("|").split("|")] == ["model_size", "toy_margin", "val_acc", "n"]
    assert cell in r.stdout

    (tmp_path / "imported").unlink()
    refused = qbench(tmp_path, plugdir, cache_dir, "leaderboard", "--results", str(out), "--output", "lb.md")
    assert refused.returncode == 2 and 'suite: "toy" is not a built-in suite' in refused.stderr
    shown = qbench(tmp_path, plugdir, cache_dir, "leaderboard", "--results", str(out), "--output", "lb.md",
                   "--allow-nonprotocol")
    assert shown.returncode == 0, shown.stderr
    text = (tmp_path / "lb.md").read_text()
    assert "#### `toy` · xxz-4 · centroid (protocol 3; NOT the protocol settings, not ranked)" in text and cell in text
    assert not (tmp_path / "imported").exists()  # reports read records only
