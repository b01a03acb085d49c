"""Japanese fiscal years (会計年度): fiscal year N runs from 1 April of N to 31 March of N+1.
Pools are opened for one fiscal year; exchange agreements run for a number of them."""

from __future__ import annotations

from datetime import date

FISCAL_YEAR_START_MONTH = 4  # April (地方自治法第二百八条)


def fiscal_year_of(day: date) -> int:
    return day.year if day.month >= FISCAL_YEAR_START_MONTH else day.year - 1


def fiscal_year_span(fiscal_year: int) -> tuple[date, date]:
    """The first and last day of a fiscal year, both inclusive."""
    return date(fiscal_year, FISCAL_YEAR_START_MONTH, 1), date(fiscal_year + 1, 3, 31)


def term_fiscal_years(start_date: date, term_years: int) -> range:
    """The fiscal years an agreement covers: `term_years` of them, the first being the one
    its start date falls in (an agreement of 2011-12-20 for 5 years covers FY2011-FY2015)."""
    first = fiscal_year_of(start_date)
    return range(first, first + term_years)
