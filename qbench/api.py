"""The public Python API: ``qbench.run`` (the command line's ``run`` as a function) and
``qbench.load_results`` (records as a pandas DataFrame).

Both import their machinery when called, so that ``import qbench`` stays cheap (no TensorFlow).
``run`` plans with :func:`qbench.plan.plan_run` and runs with :func:`qbench.runner.run_plans`, as the
command line does (it never goes through the command line's parser).
Bad input raises :class:`qbench.errors.QbenchError` with the message the command line would print.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Sequence

if TYPE_CHECKING:
    import pandas as pd

_LISTS = ("tasks", "models", "corruptions", "methods", "grids")
_INTS = ("epochs", "steps", "n_models", "workers", "threads")
_SWITCHES = ("quick", "force", "retry_failed")


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
    ``executor``, ``workers``, ``scheduler``, ``threads``, ``step_budget``, ``fractions``. ``settings`` holds the
    ``--set`` overrides, ``{"scrub.lambda_fo": 0.1, "task.phase": "fixed"}``, or nested by target
    (``{"scrub": {"lambda_fo": 0.1}}``). Nothing is printed unless ``progress``.
    """
    from qbench.plan import plan_run
    from qbench.runner import run_plans

    request = run_request(suite, settings or {}, progress, options)
    runs = run_plans(plan_run(request), request)
    return RunResult(outputs={p.suite.name: p.out for p, _ in runs},
                     done=tuple(k for _, r in runs for k in r.done),
                     skipped=tuple(k for _, r in runs for k in r.skipped),
                     failed=tuple(k for _, r in runs for k in r.failed))


def run_request(suite: str, settings: Mapping[str, Any], progress: bool, options: Mapping[str, Any]):
    """The :class:`qbench.plan.RunRequest` of a call of :func:`run` (its values converted as the command
    line converts its text: a string list or range is parsed, numbers and paths are checked)."""
    import dataclasses

    from qbench.errors import QbenchError
    from qbench.plan import RunRequest, parse_floats, parse_seeds, parse_sets, parse_step_budget

    known = sorted({f.name for f in dataclasses.fields(RunRequest)} - {"suite", "sets", "progress"})
    values: dict[str, Any] = {}
    for name, value in options.items():
        if name not in known:
            raise QbenchError(f"qbench.run: unknown option {name!r}; known: {', '.join(known + ['progress', 'settings'])}")
        if value is None:
            continue
        try:
            if name in _LISTS:
                value = (value,) if isinstance(value, str) else tuple(str(v) for v in value)
            elif name in ("alphas", "fractions"):
                value = parse_floats(value, name) if isinstance(value, str) else tuple(float(v) for v in value)
            elif name == "seeds":
                value = parse_seeds(value) if isinstance(value, str) else tuple(_int(v, name) for v in value)
            elif name in _INTS:
                value = _int(value, name)
            elif name == "step_budget":
                value = parse_step_budget(str(value))
            elif name in _SWITCHES:
                value = bool(value)
            else:
                value = os.fspath(value) if isinstance(value, os.PathLike) else str(value)
        except (TypeError, ValueError):
            raise QbenchError(f"qbench.run: {name}={value!r} is not a valid value") from None
        values[name] = value
    return RunRequest(suite=suite, sets=parse_sets(settings), progress=progress, **values)


def _int(value: Any, name: str) -> int:
    from qbench.errors import QbenchError

    if isinstance(value, bool) or not isinstance(value, int):
        raise QbenchError(f"qbench.run: {name} expects integers, got {value!r}")
    return value


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
