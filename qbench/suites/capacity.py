"""``capacity`` (PROTOCOL 4.4): the xxz-12 label-flipping sweep across model sizes.

The same units as ``resilience`` (one trained model per size, alpha and seed), only the scenarios
differ: MLP widths (64, 16) ... (8, 2) and QNN depths 5, 6, 7.
"""

from __future__ import annotations

from qbench.protocol import family_tasks
from qbench.scenarios import Suite, register_scenario, register_suite
from qbench.suites.resilience import make_scenario, plan_training_units, run, scenarios_for, unit_from_config

MLP_WIDTHS = ((64, 16), (32, 8), (16, 4), (8, 2))
QNN_DEPTHS = (5, 6, 7)
#: the task families it sweeps: xxz (xxz-12); a task from outside the package is refused (no scenario)
FAMILIES = ("xxz",)

for _task in family_tasks(FAMILIES):
    for _hidden in MLP_WIDTHS:
        register_scenario(make_scenario(_task, "mlp", "label_flip", suite="capacity", hidden=_hidden))
    for _depth in QNN_DEPTHS:
        register_scenario(make_scenario(_task, "qnn", "label_flip", suite="capacity", depth=_depth))


register_suite(Suite(
    name="capacity", families=FAMILIES,
    title="Capacity (PROTOCOL 4.4)", order=2, in_all=True, run_order=3,
    description="xxz-12 label-flip sweep across MLP widths and QNN depths (PROTOCOL 4.4)",
    scenarios=lambda options: scenarios_for("capacity", options),
    plan=plan_training_units,
    unit_from_config=unit_from_config,
    run=run,
    flags=frozenset({"corruptions"}),
))
