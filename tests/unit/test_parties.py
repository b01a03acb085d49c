import re
from pathlib import Path

import pytest

from registry import reference
from registry.domain.checks import CheckCode, Rejection
from registry.domain.parties import (
    Role,
    is_valid_municipality_code,
    municipality_check_digit,
    municipality_kind,
    validate_party_id,
)


def test_check_digit_worked_examples() -> None:
    # Chiyoda 13101: 1*6 + 3*5 + 1*4 + 0*3 + 1*2 = 27; 27 mod 11 = 5; 11 - 5 = 6.
    assert municipality_check_digit("13101") == 6
    # Shibuya 13113: 6 + 15 + 4 + 3 + 6 = 34; 34 mod 11 = 1; 11 - 1 = 10 -> last digit 0.
    assert municipality_check_digit("13113") == 0
    # Iwaizumi 03483: 0 + 15 + 16 + 24 + 6 = 61; 61 mod 11 = 6; 11 - 6 = 5.
    assert municipality_check_digit("03483") == 5


def test_the_kind_of_every_shipped_municipality_reads_from_its_japanese_name() -> None:
    assert [municipality_kind(m.name_ja) for m in reference.municipalities()] == [
        m.kind for m in reference.municipalities()
    ]
    assert [municipality_kind(name) for name in (None, "", "Akishima", "昭島")] == [None] * 4


def test_every_shipped_municipality_has_a_valid_code() -> None:
    rows = reference.municipalities()
    assert len(rows) == 63
    assert len(reference.tokyo_62()) == 62
    assert all(is_valid_municipality_code(row.code) for row in rows)
    kinds = [row.kind for row in reference.tokyo_62()]
    assert (
        kinds.count("ward"),
        kinds.count("city"),
        kinds.count("town"),
        kinds.count("village"),
    ) == (23, 26, 5, 8)


@pytest.mark.parametrize("code", ["132072", "13207", "1320710", "abcdef", "034834"])
def test_bad_municipality_codes_are_rejected(code: str) -> None:
    with pytest.raises(Rejection) as caught:
        validate_party_id(code, Role.MUNICIPALITY)
    assert caught.value.code is CheckCode.INVALID_MUNICIPALITY_CODE


def test_slugs_for_other_parties() -> None:
    validate_party_id("tokyo-62-secretariat", Role.OPERATOR)
    for bad in ("Tokyo", "132071", "a", "x" * 80, "bad id"):
        with pytest.raises(Rejection) as caught:
            validate_party_id(bad, Role.ISSUER)
        assert caught.value.code is CheckCode.INVALID_IDENTIFIER


def test_check_codes_are_unique_and_stable() -> None:
    numbers = [code.number for code in CheckCode]
    assert len(numbers) == len(set(numbers))
    assert CheckCode.INSUFFICIENT_HOLDINGS.number == 4001
    assert CheckCode.BAD_SIGNATURE.number == 2005


def test_the_check_code_table_publishes_every_code_as_the_code_defines_it() -> None:
    """docs/check-codes.md is the published contract (numbers never change meaning): it must
    list every code with its number and message, and nothing else."""
    document = (Path(__file__).parents[2] / "docs" / "check-codes.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\|.*\|$", document, re.MULTILINE)[2:]  # past the header and rule
    published: dict[str, tuple[int, str]] = {}
    for row in rows:
        match = re.fullmatch(r"\| (\d{4}) \| `([A-Z_]+)` \| (.+) \|", row)
        assert match, f"not a check-code row: {row}"
        assert match.group(2) not in published, f"listed twice: {match.group(2)}"
        published[match.group(2)] = (int(match.group(1)), match.group(3).strip())
    assert published == {code.name: (code.number, code.summary) for code in CheckCode}
