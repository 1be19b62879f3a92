"""Protocol conformance: is a record's config the one its registered scenario asks for?

The reference is not a table kept here. For each record, the suite that made it plans the record's
registered scenario with default options (no ``--quick``, ``--epochs``, ``--steps``, ``--seeds``,
``--alphas``, ``--set``), and the unit of the same alpha and seed gives the protocol's config. Every
field is compared, nested ones included (epochs, batch size, learning rates, model size, steps,
task options, the quick flag, the protocol version), except the top-level fields the suite declares
free (``Suite.free_config``: the method and its own hyperparameters, a sensitivity grid point). A
field that a scenario gains later is therefore checked without any change here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Iterable

from qbench.plugins import is_path
from qbench.records import schema as F
from qbench.records.provenance import config_hash

#: record fields that repeat a config field: a record must agree with its own config
_ECHOED = ("suite", F.TASK, F.MODEL, F.CORRUPTION, F.ALPHA, F.SEED, F.METHOD, "protocol_version")
MAX_SHOWN = 3


@dataclass(frozen=True)
class Deviation:
    """A record that is not the protocol's: where it is ('file:line') and how it differs."""

    where: str
    record: dict
    fields: tuple[str, ...]  # e.g. "config.quick: true (protocol: false)"

    @property
    def summary(self) -> str:
        more = f"; and {len(self.fields) - MAX_SHOWN} more" if len(self.fields) > MAX_SHOWN else ""
        return "; ".join(self.fields[:MAX_SHOWN]) + more


def _text(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def _flatten(value: Any, prefix: str) -> dict[str, Any]:
    """{'config.poisoned.train.epochs': 100, 'config.train[1].alpha': 0.2, ...}; empty containers kept."""
    if isinstance(value, dict) and value:
        return {k: v for key, item in value.items() for k, v in _flatten(item, f"{prefix}.{key}").items()}
    if isinstance(value, list) and value:
        return {k: v for i, item in enumerate(value) for k, v in _flatten(item, f"{prefix}[{i}]").items()}
    return {prefix: value}


def named_modules(rec: dict) -> tuple[str, ...]:
    """How ``rec`` names code by a 'module:attribute' task or model: such a name is neither built in nor an
    installed plugin's entry point, has no registered scenario, and a report never imports it to find out.

    A method so named is not one: the method under test is free (its name, hyperparameters and source are
    data in the record), and ranking it needs only the records' numbers, never its code."""
    return tuple(f"{f}: {_text(rec.get(f))} names a module, neither built in nor installed (never imported "
                 "by a report)" for f in (F.TASK, F.MODEL) if is_path(rec.get(f)))


def _free(path: str, free: tuple[str, ...]) -> bool:
    top = path.split(".", 2)[1].split("[", 1)[0]
    return top in free


class Checker:
    """Compares records with their scenarios' protocol configs, planning each scenario once."""

    def __init__(self) -> None:
        self._plans: dict[tuple[str, str], tuple[dict[tuple, dict[str, Any]], tuple[str, ...]] | None] = {}
        self._by_config: dict[tuple[str, str], tuple[str, ...]] = {}

    def _reference(self, suite_name: str, scenario: str):
        key = (suite_name, scenario)
        if key not in self._plans:
            self._plans[key] = self._plan(suite_name, scenario)
        return self._plans[key]

    @staticmethod
    def _plan(suite_name: str, scenario: str):
        configs = protocol_configs(suite_name, scenario)
        if configs is None:
            return None
        from qbench.suites import get_suite

        free = get_suite(suite_name).free_config
        refs = {(_text(a), _text(s), _text(f)): {p: v for p, v in _flatten(c, "config").items() if not _free(p, free)}
                for (a, s, f), c in configs.items()}
        return refs, free

    def deviations(self, rec: dict) -> tuple[str, ...]:
        """How ``rec`` differs from the protocol (empty: it is a protocol record)."""
        config = rec[F.CONFIG]
        out = list(named_modules(rec)) + [f"{f}: {_text(rec.get(f))} (its config: {_text(config[f])})"
               for f in _ECHOED if f in config and rec.get(f) != config[f]]
        # a landscape unit covers several alphas; its failure record (qbench.runner) has none
        if "alphas" in config and rec[F.ALPHA] is not None and rec[F.ALPHA] not in config["alphas"]:
            out.append(f"alpha: {_text(rec[F.ALPHA])} (its config: alphas {_text(config.get('alphas'))})")
        key = (rec[F.SUITE], config_hash(config))
        if key not in self._by_config:
            self._by_config[key] = self._config_deviations(rec[F.SUITE], config)
        return tuple(out) + self._by_config[key]

    def _config_deviations(self, suite: str, config: dict) -> tuple[str, ...]:
        from qbench.suites import builtin_suites

        if suite not in builtin_suites():  # a suite from outside the package is never the protocol's, nor imported
            return (f"suite: {_text(suite)} is not a built-in suite",)
        scenario = config.get(F.SCENARIO)
        planned = self._reference(suite, str(scenario))
        if planned is None:
            return (f"config.scenario: {_text(scenario)} is not a registered scenario of suite {_text(suite)}",)
        refs, free = planned
        unit = (_text(config.get(F.ALPHA)), _text(config.get(F.SEED)), _text(config.get(F.KNOWN_FRACTION)))
        if unit not in refs:
            seeds = sorted({json.loads(s) for _, s, _ in refs}, key=str)
            if unit[1] not in {s for _, s, _ in refs}:
                return (f"config.seed: {unit[1]} (protocol seeds: {', '.join(map(str, seeds))})",)
            if unit[0] in {a for a, _, _ in refs}:
                fractions = sorted({json.loads(f) for _, _, f in refs}, key=lambda f: (f is None, f))
                return (f"config.known_fraction: {unit[2]} (protocol fractions: {', '.join(map(str, fractions))})",)
            alphas = sorted({json.loads(a) for a, _, _ in refs}, key=lambda a: (a is None, a))
            return (f"config.alpha: {unit[0]} (protocol alphas: {', '.join(map(str, alphas))})",)
        ref = refs[unit]
        got = {p: v for p, v in _flatten(config, "config").items() if not _free(p, free)}
        out = []
        for path in sorted(set(ref) | set(got)):
            if path not in got:
                out.append(f"{path}: absent (protocol: {_text(ref[path])})")
            elif path not in ref:
                out.append(f"{path}: {_text(got[path])} (protocol: absent)")
            elif _text(got[path]) != _text(ref[path]):
                out.append(f"{path}: {_text(got[path])} (protocol: {_text(ref[path])})")
        # the quick flag names the usual cause best: put it first
        return tuple(sorted(out, key=lambda d: not d.startswith("config.quick:")))


def protocol_configs(suite_name: str, scenario: str) -> dict[tuple[Any, Any], dict] | None:
    """{(alpha, seed, known_fraction): config} of the units the registered ``scenario`` plans at protocol
    defaults, configs as stored (JSON types), one per alpha, seed and known fraction (the first unit's:
    such units differ only in free fields); None if ``suite_name`` has no such scenario. Alpha is None for
    a unit that covers several (``landscape``), the known fraction None outside ``corrective``."""
    from qbench.scenarios import RunOptions
    from qbench.suites import SUITES

    if suite_name not in SUITES:
        return None
    from qbench.protocol import control_models
    from qbench.scenarios import registered_scenarios

    suite = SUITES[suite_name]
    # a control model's scenario (PROTOCOL 2.4) is planned where the run names its model, at protocol defaults
    named = {s.model for s in registered_scenarios(suite_name) if s.name == scenario} & set(control_models())
    protocol = RunOptions(models=tuple(named)) if named else RunOptions()
    match = [s for s in suite.scenarios(protocol) if s.name == scenario]
    if not match:
        return None
    out: dict[tuple[Any, Any, Any], dict] = {}
    for unit in suite.plan(match, protocol):
        config = json.loads(json.dumps(unit.config))  # as stored: tuples become lists
        out.setdefault((config.get(F.ALPHA), config.get(F.SEED), config.get(F.KNOWN_FRACTION)), config)
    return out


def split_protocol(records: Iterable[tuple[str, dict]]) -> tuple[list[dict], list[Deviation]]:
    """(protocol records, deviations of the others) of ``(where, record)`` pairs."""
    checker = Checker()
    protocol, other = [], []
    for where, rec in records:
        fields = checker.deviations(rec)
        if fields:
            other.append(Deviation(where, rec, fields))
        else:
            protocol.append(rec)
    return protocol, other
