"""Parties, their roles, and the rules for identifiers and municipality codes."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

from registry.domain.checks import CheckCode, Rejection

NAME_LENGTH_MAX = 200
TEXT_LENGTH_MAX = 2_000
PUBLIC_KEY_LENGTH = 32

# Non-municipal parties use readable slugs; digits-only ids are reserved for municipalities
# so that a slug can never be mistaken for a local government code.
_SLUG = re.compile(r"^[a-z][a-z0-9-]{1,62}$")
_CLASS_OR_PROJECT_ID = re.compile(r"^[A-Z][A-Z0-9]{1,31}$")
_MUNICIPALITY_CODE = re.compile(r"^[0-9]{6}$")


class Role(Enum):
    MUNICIPALITY = "municipality"
    ISSUER = "issuer"
    OPERATOR = "operator"
    AUDITOR = "auditor"
    BUSINESS = "business"  # a local business that buys and retires (e.g. Nerima's scheme)


def parse_role(text: str) -> Role:
    try:
        return Role(text)
    except ValueError:
        raise Rejection(CheckCode.INVALID_ROLE, repr(text)) from None


def municipality_check_digit(code5: str) -> int:
    """Check digit of a 5-digit local government code (JIS X 0401/0402).

    Weights 6,5,4,3,2; the digit is the last digit of 11 minus the sum modulo 11."""
    if not (len(code5) == 5 and code5.isdigit()):
        raise ValueError(f"a check digit needs 5 digits, not {code5!r}")
    total = sum(int(digit) * weight for digit, weight in zip(code5, (6, 5, 4, 3, 2), strict=True))
    return (11 - total % 11) % 10


def is_valid_municipality_code(code: str) -> bool:
    return bool(_MUNICIPALITY_CODE.match(code)) and municipality_check_digit(code[:5]) == int(
        code[5]
    )


# The official Japanese name of a municipality ends in its kind (地方自治法): 区 a special
# ward, 市 a city, 町 a town, 村 a village. Registrations record that name, not the kind.
_MUNICIPALITY_KIND_SUFFIXES = {"区": "ward", "市": "city", "町": "town", "村": "village"}


def municipality_kind(name_ja: str | None) -> str | None:
    """ward, city, town or village, read from a municipality's official Japanese name;
    None without one."""
    if not name_ja:
        return None
    return _MUNICIPALITY_KIND_SUFFIXES.get(name_ja.strip()[-1:])


def validate_party_id(party_id: str, role: Role) -> None:
    if role is Role.MUNICIPALITY:
        if not is_valid_municipality_code(party_id):
            raise Rejection(CheckCode.INVALID_MUNICIPALITY_CODE, repr(party_id))
    elif not _SLUG.match(party_id):
        raise Rejection(
            CheckCode.INVALID_IDENTIFIER,
            f"party id {party_id!r} must be a lower-case slug such as 'tokyo-62-secretariat'",
        )


def validate_code_id(kind: str, identifier: str) -> None:
    """Class and project ids appear inside batch ids, so they are short upper-case words."""
    if not _CLASS_OR_PROJECT_ID.match(identifier):
        raise Rejection(
            CheckCode.INVALID_IDENTIFIER,
            f"{kind} id {identifier!r} must be 2-32 upper-case letters or digits, e.g. 'JVER'",
        )


def validate_text(field: str, text: str, max_length: int = TEXT_LENGTH_MAX) -> None:
    if len(text) > max_length:
        raise Rejection(CheckCode.TEXT_TOO_LONG, f"{field} has {len(text)} > {max_length} chars")
    # Control characters in stored text hide content from people reading reports.
    if any(ord(char) < 0x20 and char not in "\n\t" for char in text):
        raise Rejection(CheckCode.MALFORMED_COMMAND, f"{field} contains control characters")


def validate_name(field: str, text: str, max_length: int = NAME_LENGTH_MAX) -> None:
    validate_text(field, text, max_length)
    if not text.strip():
        raise Rejection(CheckCode.MALFORMED_COMMAND, f"{field} must not be empty")


@dataclass(frozen=True, slots=True)
class Party:
    party_id: str
    role: Role
    name: str
    name_ja: str | None


class KeyStatus(Enum):
    ACTIVE = "active"
    ROTATED = "rotated"
    REVOKED = "revoked"


class KeyPurpose(Enum):
    """A signing key signs the party's everyday commands; a recovery key, kept offline,
    signs only the commands that replace lost keys (see domain/recovery.py)."""

    SIGNING = "signing"
    RECOVERY = "recovery"


@dataclass(frozen=True, slots=True)
class KeyRecord:
    """One entry of a party's key history. Status changes are recorded as new records."""

    key_id: str
    party_id: str
    public_key: bytes
    status: KeyStatus
    since_position: int
    purpose: KeyPurpose = KeyPurpose.SIGNING
