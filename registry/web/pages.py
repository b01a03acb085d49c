"""Pages about the registry and its parties: home, the list of parties, a party, a credit
class, a project, a batch and an envelope of the log."""

from __future__ import annotations

from collections.abc import Callable

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from projections import attribute_queries as aq
from projections import party_queries as pq
from projections import public_queries as q
from projections import queries
from registry.web import params
from registry.web.app import Site
from registry.web.search import search_page

PAGE_ROWS = 50
HOME_RETIREMENTS = 10
Handler = Callable[[Request], Response]


def missing(what: str, value: str) -> HTTPException:
    return HTTPException(404, f"{what} {value[:120]} is not in the registry")


def routes(site: Site) -> list[Route]:
    return [
        Route("/", _home(site), name="home"),
        Route("/parties", _parties(site), name="parties"),
        Route("/parties/{party_id}", _party(site), name="party"),
        Route("/classes/{class_id}", _credit_class(site), name="class"),
        Route("/projects/{project_id}", _project(site), name="project"),
        Route("/batches/{batch_id}", _batch(site), name="batch"),
        Route("/log/{position}", _log_entry(site), name="log_entry"),
        Route("/search", search_page(site), name="search"),
    ]


def _home(site: Site) -> Handler:
    def home(request: Request) -> Response:
        with site.read() as (connection, position):
            context = {
                "supply": q.total_supply(connection),
                "latest": q.retirements_page(connection, HOME_RETIREMENTS),
                "checkpoint": q.latest_checkpoint(connection),
                "classes": pq.credit_classes(connection, PAGE_ROWS),
                "pools": pq.pools(connection, PAGE_ROWS),
            }
            return site.render(request, "home.html", position, context)

    return home


def _parties(site: Site) -> Handler:
    def parties(request: Request) -> Response:
        after = params.text(request, "after")
        with site.read() as (connection, position):
            rows = pq.parties_page(connection, after, PAGE_ROWS)
            return site.render(
                request, "parties.html", position, {"parties": rows, "page_rows": PAGE_ROWS}
            )

    return parties


def _party(site: Site) -> Handler:
    def party(request: Request) -> Response:
        party_id = params.identifier(request.path_params["party_id"], "a party id")
        holdings_after = params.text(request, "holdings_after")
        before_made = params.integer(request, "made_before", None, 1, params.POSITION_MAX)
        before_received = params.integer(request, "received_before", None, 1, params.POSITION_MAX)
        after = _batch_serial_cursor(holdings_after)
        with site.read() as (connection, position):
            found = pq.party(connection, party_id)
            if found is None:
                raise missing("party", party_id)
            context = {
                "party": found,
                "balance": queries.balance(connection, party_id),
                "holdings": pq.party_ranges(connection, party_id, "tradable", after, PAGE_ROWS),
                "pending": pq.party_ranges(connection, party_id, "pending", ("", -1), PAGE_ROWS),
                "made": q.retirements_page(connection, PAGE_ROWS, before_made, holder_id=party_id),
                "received": q.retirements_page(
                    connection, PAGE_ROWS, before_received, beneficiary_party_id=party_id
                ),
                "agreements": pq.agreements_of(connection, party_id, PAGE_ROWS),
                "page_rows": PAGE_ROWS,
            }
            return site.render(request, "party.html", position, context)

    return party


def _batch_serial_cursor(value: str) -> tuple[str, int]:
    """`BATCH:SERIAL`, the last holding shown, or empty for the first page."""
    if not value:
        return ("", -1)
    batch_id, _, serial = value.rpartition(":")
    if not batch_id or not serial.isdigit() or len(serial) > 19:
        raise params.BadRequest("holdings_after must be BATCH:SERIAL")
    return params.identifier(batch_id, "a batch id"), int(serial)


def _credit_class(site: Site) -> Handler:
    def credit_class(request: Request) -> Response:
        class_id = params.identifier(request.path_params["class_id"], "a class id")
        after = params.text(request, "after")
        with site.read() as (connection, position):
            found = pq.credit_class(connection, class_id)
            if found is None:
                raise missing("credit class", class_id)
            context = {
                "credit_class": found,
                "supply": q.class_supply(connection, class_id),
                "projects": pq.projects_of_class(connection, class_id, PAGE_ROWS),
                "batches": q.batches_page(connection, after, PAGE_ROWS, class_id=class_id),
                "page_rows": PAGE_ROWS,
            }
            return site.render(request, "class.html", position, context)

    return credit_class


def _project(site: Site) -> Handler:
    def project(request: Request) -> Response:
        project_id = params.identifier(request.path_params["project_id"], "a project id")
        after = params.text(request, "after")
        with site.read() as (connection, position):
            found = pq.project(connection, project_id)
            if found is None:
                raise missing("project", project_id)
            context = {
                "project": found,
                "supply": q.project_supply(connection, found.class_id, project_id),
                "batches": q.batches_page(
                    connection, after, PAGE_ROWS, class_id=found.class_id, project_id=project_id
                ),
                "buffer": aq.project_buffer(connection, found.class_id, project_id),
                "reversals": aq.reversals(connection, project_id, PAGE_ROWS),
                "page_rows": PAGE_ROWS,
            }
            return site.render(request, "project.html", position, context)

    return project


def _batch(site: Site) -> Handler:
    def batch(request: Request) -> Response:
        batch_id = params.identifier(request.path_params["batch_id"], "a batch id")
        after = params.required_integer(request, "after", -1, -1, params.SERIAL_MAX)
        with site.read() as (connection, position):
            found = queries.batch(connection, batch_id)
            if found is None:
                raise missing("batch", batch_id)
            context = {
                "batch": found,
                "issuance": pq.issuance(connection, batch_id),
                "project": pq.project(connection, found.project_id),
                "ranges": pq.batch_ranges(connection, batch_id, after, PAGE_ROWS),
                "contributions": pq.contributions_page(connection, batch_id, PAGE_ROWS),
                "page_rows": PAGE_ROWS,
            }
            return site.render(request, "batch.html", position, context)

    return batch


def _log_entry(site: Site) -> Handler:
    def log_entry(request: Request) -> Response:
        number = params.position(request.path_params["position"])
        with site.read() as (connection, position):
            entry = q.log_entry(connection, number)
            if entry is None:
                raise missing("log position", str(number))
            return site.render(request, "log_entry.html", position, {"entry": entry})

    return log_entry
