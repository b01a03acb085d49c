"""Read models of origins' companions: labels on serial ranges, each project's buffer,
reversals, and the labels each retirement carried. (Origins and retirement locations are
columns of `batches` and `retirements`, in tables.py.)

They commute like every other read model: label events and reversals are rows inserted
once, keyed by their position; a project's buffer is a sum of deltas. A batch's labels
are its label events replayed in log order (projections/attribute_queries.py), with the
same functions the ledger applies them with, so both show the same spans."""

from __future__ import annotations

import sqlalchemy as sa

from projections.schema import metadata

# One row per LabelAdded or LabelWithdrawn, in the batch's order of the log.
label_events = sa.Table(
    "label_events",
    metadata,
    sa.Column("batch_id", sa.String(120), primary_key=True),
    sa.Column("position", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("effect_index", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("action", sa.String(10), nullable=False),  # added, withdrawn
    sa.Column("label", sa.String(40), nullable=False),
    sa.Column("serial_start", sa.BigInteger, nullable=False),
    sa.Column("serial_end", sa.BigInteger, nullable=False),
    sa.Column("valid_from", sa.Date),  # NULL for a withdrawal
    sa.Column("valid_until", sa.Date),
    sa.Column("authority_id", sa.String(64), nullable=False),
    sa.Column("reason", sa.Text),
)

# What each project has in its class's buffer account (holder buffer:<CLASS_ID>).
project_buffers = sa.Table(
    "project_buffers",
    metadata,
    sa.Column("class_id", sa.String(32), primary_key=True),
    sa.Column("project_id", sa.String(32), primary_key=True),
    sa.Column("withheld_kg", sa.BigInteger, nullable=False, default=0),
    sa.Column("reversed_kg", sa.BigInteger, nullable=False, default=0),  # cancelled by reversals
    sa.Column("shortfall_kg", sa.BigInteger, nullable=False, default=0),
)

reversals = sa.Table(
    "reversals",
    metadata,
    sa.Column("position", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("effect_index", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("class_id", sa.String(32), nullable=False),
    sa.Column("project_id", sa.String(32), nullable=False),
    sa.Column("quantity_kg", sa.BigInteger, nullable=False),
    sa.Column("cancelled_kg", sa.BigInteger, nullable=False),
    sa.Column("shortfall_kg", sa.BigInteger, nullable=False),
    sa.Column("reason", sa.String(200), nullable=False),
    sa.Column("reported_by", sa.String(64), nullable=False),
    sa.Column("recorded_at_us", sa.BigInteger, nullable=False),
    sa.Index("reversals_by_project", "project_id", "position"),
)

# The labels a retirement's serials carried when it was decided (CreditsRetired v3).
retirement_labels = sa.Table(
    "retirement_labels",
    metadata,
    sa.Column("position", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("effect_index", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("batch_id", sa.String(120), primary_key=True),
    sa.Column("serial_start", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("label", sa.String(40), primary_key=True),
    sa.Column("serial_end", sa.BigInteger, nullable=False),
    sa.Column("valid_from", sa.Date, nullable=False),
    sa.Column("valid_until", sa.Date, nullable=False),
)

ATTRIBUTE_TABLES = (label_events, project_buffers, reversals, retirement_labels)
