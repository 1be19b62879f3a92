"""The public Python API: ``qbench.run`` (the command line's ``run`` as a function) and
``qbench.load_results`` (records as a pandas DataFrame).

Both import their machinery when called, so that ``import qbench`` stays cheap (no TensorFlow).
Bad input raises :class:`qbench.errors.QbenchError` with the message the command line would print.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Sequence

if TYPE_CHECKING:
    import pandas as pd

#: keyword -> the command line's flag; a list value repeats the flag
_FLAGS = {"tasks": "--task", "models": "--model", "corruptions": "--corruption", "methods": "--method",
          "grids": "--grid", "seeds": "--seeds", "alphas": "--alphas", "epochs": "--epochs", "steps": "--steps",
          "out": "--out", "data_dir": "--data-dir", "cache_dir": "--cache-dir", "executor": "--executor",
          "workers": "--workers", "scheduler": "--scheduler", "threads": "--threads", "step_budget": "--step-budget"}
_SWITCHES = {"quick": "--quick", "force": "--force", "retry_failed": "--retry-failed"}


@dataclass(frozen=True)
class RunResult:
    """What :func:`run` did: the output directory of each suite and the unit keys by outcome."""

    outputs: Mapping[str, str]
    done: tuple[str, ...]
    skipped: tuple[str, ...]
    failed: tuple[str, ...]

    @property
    def out(self) -> str:
        """The output directory (of a one-suite run)."""
        if len(self.outputs) != 1:
            raise ValueError(f"a run of {len(self.outputs)} suites has one directory each: see .outputs")
        return next(iter(self.outputs.values()))

    def records(self) -> "pd.DataFrame":
        """The records of every suite of the run (all those in its directories), one row each."""
        return load_results(list(self.outputs.values()))


def run(suite: str, *, settings: Mapping[str, Any] | None = None, progress: bool = False, **options: Any) -> RunResult:
    """Run ``suite`` (or ``"all"``) as ``qbench run --suite SUITE`` would, and say where the records went.

    ``options`` are the command line's, by their long names: ``tasks``, ``models``, ``corruptions``,
    ``methods``, ``grids`` (a string or a list), ``alphas`` (a list of numbers), ``seeds`` (a list, or
    ``"0-4"``), ``epochs``, ``steps``, ``quick``, ``force``, ``retry_failed``, ``out``, ``data_dir``, ``cache_dir``,
    ``executor``, ``workers``, ``scheduler``, ``threads``, ``step_budget``. ``settings`` holds the
    ``--set`` overrides, ``{"scrub.lambda_fo": 0.1, "task.phase": "fixed"}``, or nested by target
    (``{"scrub": {"lambda_fo": 0.1}}``). Nothing is printed unless ``progress``.
    """
    from qbench.cli import build_parser, run_suites

    argv = ["run", "--suite", suite, *_argv(options), *_set_argv(settings or {})]
    if not progress:
        argv.append("--no-progress")
    else:
        argv.append("--progress")
    args = build_parser().parse_args(argv)
    runs = run_suites(args)
    return RunResult(outputs={s.name: out for s, _, out in runs},
                     done=tuple(k for _, r, _ in runs for k in r.done),
                     skipped=tuple(k for _, r, _ in runs for k in r.skipped),
                     failed=tuple(k for _, r, _ in runs for k in r.failed))


def _argv(options: Mapping[str, Any]) -> list[str]:
    from qbench.errors import QbenchError

    argv: list[str] = []
    for name, value in options.items():
        if name in _SWITCHES:
            argv += [_SWITCHES[name]] if value else []
        elif name not in _FLAGS:
            known = ", ".join(sorted([*_FLAGS, *_SWITCHES, "settings", "progress"]))
            raise QbenchError(f"qbench.run: unknown option {name!r}; known: {known}")
        elif value is None:
            continue
        elif name in ("alphas", "seeds") and not isinstance(value, str):
            argv += [_FLAGS[name], ",".join(repr(float(v)) if name == "alphas" else str(int(v)) for v in value)]
        elif name in ("tasks", "models", "corruptions", "methods", "grids") and not isinstance(value, str):
            for v in value:
                argv += [_FLAGS[name], str(v)]
        else:
            argv += [_FLAGS[name], os.fspath(value) if isinstance(value, os.PathLike) else str(value)]
    return argv


def _set_argv(settings: Mapping[str, Any]) -> list[str]:
    argv = []
    for target, value in settings.items():
        pairs = ((f"{target}.{k}", v) for k, v in value.items()) if isinstance(value, Mapping) else ((target, value),)
        for name, v in pairs:
            argv += ["--set", f"{name}={v}"]
    return argv


def load_results(paths: str | os.PathLike | Iterable[str | os.PathLike]) -> "pd.DataFrame":
    """The records under ``paths`` (record files or directories, searched recursively) as one DataFrame:
    a row per record, its key fields (suite, scenario, task, model, model_size, corruption, alpha,
    method, step, seed), ``status``, ``unit_key`` and ``protocol_version``, then each scalar metric as a
    column (per-step lists and the stored config stay in the files)."""
    import pandas as pd

    from qbench.records.schema import KEY_FIELDS
    from qbench.records.store import load_records

    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    records = load_records([os.fspath(p) for p in paths], recursive=True)
    frame = pd.DataFrame([{**{k: v for k, v in r.items() if k not in ("config", "metrics", "provenance")},
                           **{k: v for k, v in r["metrics"].items() if not isinstance(v, (list, dict))}}
                          for r in records])
    if frame.empty:
        return pd.DataFrame(columns=[*KEY_FIELDS, "status", "unit_key", "protocol_version"])
    metrics: list[str] = list(dict.fromkeys(k for r in records for k, v in r["metrics"].items()
                                            if not isinstance(v, (list, dict))))
    first = [c for c in (*KEY_FIELDS, "status", "unit_key", "protocol_version") if c in frame.columns]
    return frame[first + [m for m in metrics if m in frame.columns]]


__all__: Sequence[str] = ("run", "load_results", "RunResult")
