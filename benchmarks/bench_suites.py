"""Whole ``--quick`` tiers, end to end in a fresh process (includes imports and compilation)."""

import os


class QuickTier:
    params = ["resilience", "unlearning", "landscape", "capacity"]
    param_names = ["suite"]
    timeout = 1200
    number = 1
    repeat = 1

    def timeraw_quick(self, suite):
        out = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"qbench-asv-{suite}")
        return f"""
import shutil
from qbench.cli import main
shutil.rmtree({out!r}, ignore_errors=True)
assert main(["run", "--suite", {suite!r}, "--quick", "--out", {out!r}, "--no-progress"]) == 0
"""
