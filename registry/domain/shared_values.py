"""One object for each value the ledger keeps many times over.

Every decoded event brings its own copy of each id and date it names. A batch's class,
project and issuer, its vintage dates, and the batch id in every holding, retirement and
cancellation of it were all separate objects: at a million envelopes, some twenty
megabytes of repeats. The ledger keeps the first copy of a string (`sys.intern`) or a
date (`shared_date`) and drops the rest; values are equal either way, so nothing it
decides changes."""

from __future__ import annotations

from datetime import date
from sys import intern

__all__ = ["intern", "shared_date"]

# Vintages and validity dates are few (days of a handful of years); past this many the
# dates are kept as they come rather than held here for ever.
SHARED_DATES_MAX = 100_000
_dates: dict[date, date] = {}


def shared_date(day: date) -> date:
    """The one kept date equal to `day` (`day` itself the first time, or past the cap)."""
    found = _dates.get(day)
    if found is not None:
        return found
    if type(day) is date and len(_dates) < SHARED_DATES_MAX:
        _dates[day] = day
    return day
