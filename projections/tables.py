"""The read models' tables. Every table is a pure function of the envelope stream.

Updates are designed to commute, so several workers consuming different partitions in
any interleaving end with the same rows: balances and supply are sums of signed deltas,
and serial ranges are last-writer-wins by each write's stamp (position * 16 + effect index)."""

from __future__ import annotations

import sqlalchemy as sa

from projections.attribute_tables import ATTRIBUTE_TABLES
from projections.public_tables import PUBLIC_TABLES
from projections.schema import metadata as metadata  # the tables' MetaData, re-exported

parties = sa.Table(
    "parties",
    metadata,
    sa.Column("party_id", sa.String(64), primary_key=True),
    sa.Column("role", sa.String(20), nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("name_ja", sa.String(200)),
    sa.Column("registered_position", sa.BigInteger, nullable=False),
)

balances = sa.Table(
    "balances",
    metadata,
    sa.Column("party_id", sa.String(64), primary_key=True),
    sa.Column("class_id", sa.String(32), primary_key=True),
    sa.Column("vintage", sa.String(17), primary_key=True),  # YYYYMMDD-YYYYMMDD
    sa.Column("tradable_kg", sa.BigInteger, nullable=False, default=0),
    sa.Column("pending_kg", sa.BigInteger, nullable=False, default=0),
    sa.Column("retired_kg", sa.BigInteger, nullable=False, default=0),
)

batch_supply = sa.Table(
    "batch_supply",
    metadata,
    sa.Column("batch_id", sa.String(120), primary_key=True),
    sa.Column("class_id", sa.String(32), nullable=False),
    sa.Column("project_id", sa.String(32), nullable=False),
    sa.Column("vintage", sa.String(17), nullable=False),
    sa.Column("issued_kg", sa.BigInteger, nullable=False, default=0),
    sa.Column("tradable_kg", sa.BigInteger, nullable=False, default=0),
    sa.Column("pending_kg", sa.BigInteger, nullable=False, default=0),
    sa.Column("retired_kg", sa.BigInteger, nullable=False, default=0),
    sa.Column("cancelled_kg", sa.BigInteger, nullable=False, default=0),
    sa.Index("batch_supply_by_project", "class_id", "project_id", "batch_id"),
)

batches = sa.Table(
    "batches",
    metadata,
    sa.Column("batch_id", sa.String(120), primary_key=True),
    sa.Column("issuer_id", sa.String(64), nullable=False),
    sa.Column("recipient_id", sa.String(64), nullable=False),
    sa.Column("serial_start", sa.BigInteger, nullable=False),
    sa.Column("serial_end", sa.BigInteger, nullable=False),
    sa.Column("issued_position", sa.BigInteger, nullable=False),
    # Where the credits already exist (CreditsIssued v2), NULL for credits first issued here.
    sa.Column("origin_registry_id", sa.String(32)),
    sa.Column("origin_project_id", sa.String(64)),
    sa.Column("origin_serial_start", sa.BigInteger),
    sa.Column("origin_serial_end", sa.BigInteger),
    sa.Index("batches_by_origin", "origin_registry_id", "origin_project_id", "origin_serial_start"),
)

serial_ranges = sa.Table(
    "serial_ranges",
    metadata,
    sa.Column("batch_id", sa.String(120), primary_key=True),
    sa.Column("serial_start", sa.BigInteger, primary_key=True),
    sa.Column("serial_end", sa.BigInteger, nullable=False),
    sa.Column("owner_id", sa.String(64), nullable=False),
    sa.Column("status", sa.String(10), nullable=False),  # tradable, pending, retired, cancelled
    sa.Column("stamp", sa.BigInteger, nullable=False),
    sa.Index("serial_ranges_by_owner", "owner_id", "status", "batch_id", "serial_start"),
)

retirements = sa.Table(
    "retirements",
    metadata,
    sa.Column("position", sa.BigInteger, primary_key=True),
    sa.Column("effect_index", sa.Integer, primary_key=True),
    sa.Column("holder_id", sa.String(64), nullable=False),
    sa.Column("quantity_kg", sa.BigInteger, nullable=False),
    sa.Column("blocks", sa.Text, nullable=False),  # "BATCH:START-END" joined by spaces
    sa.Column("beneficiary_name", sa.String(200), nullable=False, index=True),
    sa.Column("beneficiary_party_id", sa.String(64)),
    sa.Column("purpose", sa.String(40), nullable=False),
    sa.Column("reporting_year", sa.Integer, nullable=False),
    sa.Column("memo", sa.Text, nullable=False),
    sa.Column("reference", sa.String(120), index=True),
    sa.Column("recorded_at_us", sa.BigInteger, nullable=False),
    # CreditsRetired v3: where the offset emissions happened, and the label it required.
    sa.Column("location", sa.String(12)),
    sa.Column("required_label", sa.String(40)),
    # Keyed by party, then position: a party's page reads its newest retirements in order.
    sa.Index("retirements_by_holder", "holder_id", "position"),
    sa.Index("retirements_by_beneficiary", "beneficiary_party_id", "position"),
    sa.Index("retirements_by_location", "location", "position"),
)

# The joint purchase (model IV), every row keyed by its pool and built only from that
# pool's own events (PoolOpened, MeetingRegistered / Calculated, PoolAllocated,
# MeetingOffset, and the movements of its holding), so a retirement outside the pool, or
# another pool, never changes it. Members are whom the pool was opened with; the table of
# a joint purchase joins them with the names their registrations recorded (parties).
pool_members = sa.Table(
    "pool_members",
    metadata,
    sa.Column("pool_id", sa.String(40), primary_key=True),
    sa.Column("party_id", sa.String(64), primary_key=True),
)

# Meetings and events of joint-purchase pools. Each event type sets its own columns (the
# organiser is repeated by the events that carry it), so the rows come out the same
# whichever partition's events arrive first. registered_position is the tie order.
meetings = sa.Table(
    "meetings",
    metadata,
    sa.Column("pool_id", sa.String(40), primary_key=True),
    sa.Column("meeting_id", sa.String(40), primary_key=True),
    sa.Column("organiser_id", sa.String(64)),
    sa.Column("name", sa.String(200)),
    sa.Column("held_on", sa.Date),
    sa.Column("category", sa.String(20)),
    sa.Column("expected_participants", sa.Integer),
    sa.Column("estimate_kg", sa.BigInteger),
    sa.Column("estimate_basis", sa.Text),
    sa.Column("estimate_table_version", sa.String(64)),
    sa.Column("registered_position", sa.BigInteger),
    sa.Column("actual_participants", sa.Integer),
    sa.Column("calculated_kg", sa.BigInteger),
    sa.Column("calculation_basis", sa.Text),
    sa.Column("calculation_table_version", sa.String(64)),
    sa.Column("allocated_kg", sa.BigInteger),
    sa.Column("retired_kg", sa.BigInteger),
    sa.Column("retired_position", sa.BigInteger),
)

pools = sa.Table(
    "pools",
    metadata,
    sa.Column("pool_id", sa.String(40), primary_key=True),
    sa.Column("name", sa.String(200)),
    sa.Column("fiscal_year", sa.Integer),
    sa.Column("members", sa.Integer),
    sa.Column("opened_by", sa.String(64)),
    sa.Column("pool_kg", sa.BigInteger),
    sa.Column("rule", sa.Text),
)

# What moved into and out of a pool's own holding (holder `pool:<pool_id>`), one row per
# movement: funded by a buyer, carried in from an earlier pool, returned to a funder,
# carried out into a later pool. Inserted once each, so they commute.
pool_flows = sa.Table(
    "pool_flows",
    metadata,
    sa.Column("pool_id", sa.String(40), primary_key=True),
    sa.Column("position", sa.BigInteger, primary_key=True),
    sa.Column("effect_index", sa.Integer, primary_key=True),
    sa.Column("kind", sa.String(12), nullable=False),  # funded, carried_in, returned, carried_out
    sa.Column("counterparty_id", sa.String(64), nullable=False),
    sa.Column("quantity_kg", sa.BigInteger, nullable=False),
)

# Emission factor tables as the operator registered them (whole mg CO2e per unit).
emission_factors = sa.Table(
    "emission_factors",
    metadata,
    sa.Column("version", sa.String(64), primary_key=True),
    sa.Column("item", sa.String(20), primary_key=True),
    sa.Column("unit", sa.String(20), nullable=False),
    sa.Column("mg_per_unit", sa.BigInteger, nullable=False),
    sa.Column("source", sa.Text, nullable=False),
    sa.Column("registered_position", sa.BigInteger, nullable=False),
)

# Partner exchange (model II). Filled by the exchange events; see projections/exchange.py.
agreements = sa.Table(
    "exchange_agreements",
    metadata,
    sa.Column("agreement_id", sa.String(64), primary_key=True),
    sa.Column("provider_id", sa.String(64)),
    sa.Column("user_id", sa.String(64)),
    sa.Column("start_date", sa.Date),
    sa.Column("term_years", sa.Integer),
    sa.Column("expected_annual_kg", sa.BigInteger),
    sa.Column("purpose", sa.Text),
    sa.Column("in_force", sa.Boolean),  # set only by the signature that puts it in force
    sa.Column("in_force_position", sa.BigInteger),
    sa.Index("exchange_agreements_by_provider", "provider_id"),
    sa.Index("exchange_agreements_by_user", "user_id"),
)

deliveries = sa.Table(
    "exchange_deliveries",
    metadata,
    sa.Column("delivery_id", sa.String(64), primary_key=True),
    sa.Column("agreement_id", sa.String(64), index=True),
    sa.Column("provider_id", sa.String(64)),
    sa.Column("user_id", sa.String(64)),
    sa.Column("fiscal_year", sa.Integer),
    sa.Column("quantity_kg", sa.BigInteger),
    sa.Column("deadline_us", sa.BigInteger),
    sa.Column("proposed_position", sa.BigInteger),
    sa.Column("outcome", sa.String(10)),  # NULL while pending; accepted, rejected, expired
    sa.Column("resolved_position", sa.BigInteger),
)

contributions = sa.Table(
    "contributions",
    metadata,
    sa.Column("batch_id", sa.String(120), primary_key=True),
    sa.Column("serial_start", sa.BigInteger, primary_key=True),
    sa.Column("serial_end", sa.BigInteger, nullable=False),
    sa.Column("contributor", sa.String(64), nullable=False, index=True),
)

# Labels, buffers, reversals and the labels retirements carried are in
# projections/attribute_tables.py. The public view's tables (credit classes, projects,
# supply per class and project, the log and its Merkle tree, signatures on agreements,
# each kilogram's history) live in projections/public_tables.py. Both are part of
# READ_MODEL_TABLES below.
# Recoveries of parties' keys. Start, veto and completion are signed by different parties
# (so may sit in different partitions): each sets its own columns, and the state is read
# from which are set, whatever order the workers apply them in.
recoveries = sa.Table(
    "recoveries",
    metadata,
    sa.Column("party_id", sa.String(64), primary_key=True),
    sa.Column("recovery_id", sa.String(64), primary_key=True),
    sa.Column("key_id", sa.String(40)),
    sa.Column("reason", sa.String(200)),
    sa.Column("started_by", sa.String(64)),
    sa.Column("cosigned_by", sa.String(200)),  # party ids joined by spaces
    sa.Column("started_at_us", sa.BigInteger),
    sa.Column("due_at_us", sa.BigInteger),
    sa.Column("started_position", sa.BigInteger),
    sa.Column("vetoed_with_key_id", sa.String(40)),
    sa.Column("vetoed_position", sa.BigInteger),
    sa.Column("completed_position", sa.BigInteger),
)

# Where each worker is: per source and partition, in the same transaction as the rows.
progress = sa.Table(
    "projection_progress",
    metadata,
    sa.Column("source", sa.String(200), primary_key=True),  # "kafka:<topic>" or "embedded"
    sa.Column("partition", sa.Integer, primary_key=True),
    sa.Column("next_offset", sa.BigInteger, nullable=False),
    sa.Column("last_position", sa.BigInteger, nullable=False),
    sa.Column("events_applied", sa.BigInteger, nullable=False),
)

# Every read model, in the order dump() lists them (everything but progress bookkeeping).
READ_MODEL_TABLES = (
    parties,
    balances,
    batch_supply,
    batches,
    serial_ranges,
    retirements,
    pool_members,
    meetings,
    pools,
    pool_flows,
    emission_factors,
    agreements,
    deliveries,
    contributions,
    *ATTRIBUTE_TABLES,
    *PUBLIC_TABLES,
    recoveries,
)
