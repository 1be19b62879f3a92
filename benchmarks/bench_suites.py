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


class UnlearningQuickCache:
    """``qbench run --suite unlearning --quick`` end to end in a fresh process, with a fresh
    ``--cache-dir`` (cold: ground states and XLA executables made anew) and with one that ``setup``'s
    own run filled (warm: a second run into a new ``--out``)."""

    params = ["cold", "warm"]
    param_names = ["cache"]
    timeout = 1200
    number = 1
    repeat = 1

    def setup(self, cache):
        import tempfile

        from qbench.cli import main

        self.root = tempfile.mkdtemp(prefix="qbench-asv-unlearning-")
        if cache == "warm":
            assert main(self._args("warmup")) == 0

    def teardown(self, cache):
        import shutil

        shutil.rmtree(self.root, ignore_errors=True)

    def _args(self, out: str) -> list[str]:
        return ["run", "--suite", "unlearning", "--quick", "--out", os.path.join(self.root, out),
                "--cache-dir", os.path.join(self.root, "cache"), "--no-progress"]

    def timeraw_unlearning_quick(self, cache):
        return f"""
from qbench.cli import main
assert main({self._args("timed")!r}) == 0
"""
