"""Avro schemas of credit-registry: one `.avsc` per event type and version, plus the
command, envelope body and sealed envelope. Files are named `<snake_name>.v<N>.avsc`;
a reader resolves any older version it finds here against the newest one."""

from pathlib import Path

SCHEMA_DIRECTORY = Path(__file__).resolve().parent
