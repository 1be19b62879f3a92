"""Submitted methods committed with their records: ``leaderboard/submissions/<module>.py``.

A submission names its method ``module:Class`` (``qbench submit``), so its records need no installed
package: the module's one file is committed beside the records, where ``qbench verify`` imports it
(committed code, reviewed in the change that adds it, as the repository's own code is). Reports never
import it: a method's name is data to them (:mod:`qbench.report.conformance`).
"""

from __future__ import annotations

import os
import sys

SUBMISSIONS = os.path.join("leaderboard", "submissions")


def submissions_dir() -> str:
    """The committed submissions of the repository this command runs in (relative to the working directory,
    like ``leaderboard/results``)."""
    return os.path.abspath(SUBMISSIONS)


def add_to_path(first: bool = False) -> None:
    """Make the committed submissions importable (``first``: ahead of the working directory and PYTHONPATH)."""
    d = submissions_dir()
    if not os.path.isdir(d):
        return
    if d in sys.path:
        sys.path.remove(d)
    sys.path.insert(0, d) if first else sys.path.append(d)


def is_submission(file: str | None) -> bool:
    """Whether ``file`` is a committed submission's module."""
    return bool(file) and os.path.dirname(os.path.abspath(file)) == submissions_dir()
