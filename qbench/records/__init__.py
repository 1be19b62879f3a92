"""Result records: one JSON object per line, plain data, with config, seed, versions and revision."""

from qbench.records.schema import SCHEMA_VERSION, validate_record
from qbench.records.store import RecordStore, load_records

__all__ = ["SCHEMA_VERSION", "validate_record", "RecordStore", "load_records"]
