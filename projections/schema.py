"""The one SQLAlchemy MetaData every read-model table belongs to."""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()
