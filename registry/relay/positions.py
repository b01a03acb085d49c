"""How far the relay got: its last published position, kept in the event store's database
so it commits beside nothing else and survives restarts. It never moves backwards."""

from __future__ import annotations

import time

import sqlalchemy as sa

from registry.support.database import schema_creation_lock

metadata = sa.MetaData()
relay_positions = sa.Table(
    "relay_positions",
    metadata,
    sa.Column("relay_name", sa.String(100), primary_key=True),
    sa.Column("position", sa.BigInteger, nullable=False),
    sa.Column("updated_at_us", sa.BigInteger, nullable=False),
)


class RelayPositions:
    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        with schema_creation_lock(engine):
            metadata.create_all(engine)

    def get(self, relay_name: str) -> int:
        with self.engine.connect() as connection:
            value = connection.scalar(
                sa.select(relay_positions.c.position).where(
                    relay_positions.c.relay_name == relay_name
                )
            )
        return int(value or 0)

    def set(self, relay_name: str, position: int) -> None:
        now_us = time.time_ns() // 1_000
        with self.engine.begin() as connection:
            updated = connection.execute(
                relay_positions.update()
                .where(relay_positions.c.relay_name == relay_name)
                .where(relay_positions.c.position <= position)  # never move backwards
                .values(position=position, updated_at_us=now_us)
            )
            if updated.rowcount == 0:
                exists = connection.scalar(
                    sa.select(relay_positions.c.position).where(
                        relay_positions.c.relay_name == relay_name
                    )
                )
                if exists is None:
                    connection.execute(
                        relay_positions.insert().values(
                            relay_name=relay_name, position=position, updated_at_us=now_us
                        )
                    )
