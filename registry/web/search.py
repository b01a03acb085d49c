"""The search page: municipalities by name in either language or by code, parties, a
beneficiary's name, a batch id, and a serial number of a batch (who holds or retired that
kilogram, and every change that brought it there)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from starlette.requests import Request
from starlette.responses import Response

from projections import party_queries as pq
from projections import public_queries as q
from projections import queries
from registry.web import params
from registry.web.app import Site

RESULT_ROWS = 20
HISTORY_ROWS = 200
SERIAL_IN_TEXT = re.compile(
    r"(?P<batch>[A-Za-z0-9][A-Za-z0-9_.\-]{0,119})[:#](?P<serial>[0-9]{1,19})"
)


def search_page(site: Site) -> Callable[[Request], Response]:
    def search(request: Request) -> Response:
        text = params.text(request, "q")
        batch_id = params.text(request, "batch")
        serial = params.integer(request, "serial", None, 1, params.SERIAL_MAX)
        found = SERIAL_IN_TEXT.fullmatch(text)
        if found and not batch_id:
            batch_id, serial = found.group("batch"), int(found.group("serial"))
        if bool(batch_id) != (serial is not None):
            raise params.BadRequest("a serial search needs both the batch id and the serial number")
        with site.read() as (connection, position):
            context: dict[str, Any] = {"query": text, "batch_query": batch_id, "serial": serial}
            if batch_id and serial is not None:
                context |= _serial(connection, params.identifier(batch_id, "a batch id"), serial)
            elif text:
                context |= _text(connection, text)
            return site.render(request, "search.html", position, context)

    return search


def _serial(connection: sa.Connection, batch_id: str, serial: int) -> dict[str, Any]:
    return {
        "serial_search": True,
        "batch": queries.batch(connection, batch_id),
        "holder": pq.holder_of(connection, batch_id, serial),
        "history": pq.history_of(connection, batch_id, serial, HISTORY_ROWS),
    }


def _text(connection: sa.Connection, text: str) -> dict[str, Any]:
    identifier = params.ID_PATTERN.fullmatch(text) is not None
    return {
        "text_search": True,
        "parties": pq.find_parties(connection, text, RESULT_ROWS),
        "beneficiaries": q.retirements_for_beneficiary_name(connection, text, RESULT_ROWS),
        "batch": queries.batch(connection, text) if identifier else None,
        "credit_class": pq.credit_class(connection, text) if identifier else None,
        "project": pq.project(connection, text) if identifier else None,
    }
