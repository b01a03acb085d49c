"""Reading what a visitor sends: ids from the path and query parameters, each checked for
form and size. Anything malformed is a BadRequest (400) with a message saying what was
wrong; nothing here touches a database."""

from __future__ import annotations

import re

from starlette.requests import Request

from registry.web import i18n

ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:\-]{0,119}")
TEXT_LENGTH_MAX = 200
SERIAL_MAX = 2**63 - 1
POSITION_MAX = 2**63 - 1


class BadRequest(Exception):
    """A malformed request; the message is shown to the visitor as is."""


def language(request: Request) -> str:
    value = request.query_params.get("lang")
    if value is not None and value not in i18n.LANGUAGES:
        raise BadRequest(f"lang must be one of {', '.join(i18n.LANGUAGES)}, not {value[:20]!r}")
    return i18n.choose_language(value, request.headers.get("accept-language"))


def identifier(value: str, what: str) -> str:
    if not ID_PATTERN.fullmatch(value):
        raise BadRequest(f"{what} must be 1 to 120 letters, digits or . _ : - (got {value[:40]!r})")
    return value


def integer(request: Request, name: str, default: int | None, low: int, high: int) -> int | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    if not re.fullmatch(r"-?[0-9]{1,19}", raw):
        raise BadRequest(f"{name} must be a whole number (got {raw[:40]!r})")
    value = int(raw)
    if not low <= value <= high:
        raise BadRequest(f"{name} must be between {low} and {high} (got {value})")
    return value


def required_integer(request: Request, name: str, default: int, low: int, high: int) -> int:
    value = integer(request, name, default, low, high)
    return default if value is None else value


def text(request: Request, name: str) -> str:
    value = request.query_params.get(name, "").strip()
    if len(value) > TEXT_LENGTH_MAX:
        raise BadRequest(f"{name} is at most {TEXT_LENGTH_MAX} characters")
    if any(ord(ch) < 32 for ch in value):
        raise BadRequest(f"{name} must not contain control characters")
    return value


def retirement_id(value: str) -> tuple[int, int]:
    """`POSITION` or `POSITION-EFFECT` (an envelope may retire more than once)."""
    match = re.fullmatch(r"([1-9][0-9]{0,18})(?:-([0-9]{1,2}))?", value)
    if not match:
        raise BadRequest(f"a retirement id is a log position, optionally -N (got {value[:40]!r})")
    return int(match.group(1)), int(match.group(2) or 0)


def position(value: str) -> int:
    if not re.fullmatch(r"[1-9][0-9]{0,18}", value) or int(value) > POSITION_MAX:
        raise BadRequest(f"a log position is a whole number from 1 (got {value[:40]!r})")
    return int(value)
