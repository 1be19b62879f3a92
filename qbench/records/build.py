"""Assemble a record from its key fields, metrics and config."""

from __future__ import annotations

from typing import Any

from qbench import PROTOCOL_VERSION
from qbench.records import schema as F
from qbench.records.provenance import config_hash, provenance


def new_record(
    *,
    suite: str,
    scenario: str,
    unit_key: str,
    config: dict[str, Any],
    metrics: dict[str, Any],
    task: str,
    model: str,
    model_size: str,
    corruption: str | None,
    alpha: float | None,
    seed: int,
    method: str | None = None,
    step: int | None = None,
    status: str = "ok",
    error: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    rec = {
        "schema_version": F.SCHEMA_VERSION,
        # the version that last changed this scenario (protocol.scenario_version), as its config says
        "protocol_version": str(config.get("protocol_version", PROTOCOL_VERSION)),
        F.SUITE: suite,
        F.SCENARIO: scenario,
        F.TASK: task,
        F.MODEL: model,
        F.MODEL_SIZE: model_size,
        F.CORRUPTION: corruption,
        F.ALPHA: alpha,
        F.METHOD: method,
        F.STEP: step,
        F.SEED: int(seed),
        F.UNIT_KEY: unit_key,
        F.CONFIG: config,
        F.CONFIG_HASH: config_hash(config),
        F.METRICS: metrics,
        F.PROVENANCE: provenance(),
        F.STATUS: status,
    }
    if error is not None:
        rec[F.ERROR] = error
    rec.update(extra)
    return rec


def unit_key(prefix: str, config: dict[str, Any]) -> str:
    """Readable and content-addressed: '<prefix>-<hash of the full config>'."""
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in prefix)
    return f"{safe}-{config_hash(config)}"
