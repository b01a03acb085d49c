"""Where a retirement's offset emissions happened, below country level: city and prefecture
accounting differ, so a municipality's offset names its place. A place is a 6-digit local
government code with its check digit (JIS X 0401/0402, e.g. 132071 Akishima), or an
ISO 3166-2 subdivision code (e.g. JP-13 Tokyo; in Japan JP-01 to JP-47)."""

from __future__ import annotations

import re

from registry.domain.checks import CheckCode, Rejection
from registry.domain.parties import is_valid_municipality_code

_SUBDIVISION = re.compile(r"^(?P<country>[A-Z]{2})-(?P<part>[A-Z0-9]{1,3})$")
JAPAN_PREFECTURES = 47


def validate_location(location: str) -> None:
    if location.isascii() and location.isdigit():
        if not is_valid_municipality_code(location):
            raise Rejection(
                CheckCode.INVALID_LOCATION,
                f"{location[:12]!r}: a municipality code has 6 digits, the last its check digit",
            )
        return
    match = _SUBDIVISION.match(location)
    if match is None:
        raise Rejection(CheckCode.INVALID_LOCATION, repr(location[:40]))
    if match["country"] == "JP" and not (
        match["part"].isdigit()
        and len(match["part"]) == 2
        and 1 <= int(match["part"]) <= JAPAN_PREFECTURES
    ):
        raise Rejection(
            CheckCode.INVALID_LOCATION,
            f"{location!r}: Japan's prefectures are JP-01 to JP-{JAPAN_PREFECTURES}",
        )
