"""Open data: CSV and JSON pages of retirements, batches and balances, each pool's
allocation table, and the Avro export of the whole log for auditors (the format
`credit-registry audit --export` reads), streamed in bounded pages.

Columns are stable and documented in docs/web.md. A page holds up to DOWNLOAD_ROWS_MAX
rows; the next page's address is in the Link header (rel="next") and, in JSON, `next`."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

import fastavro
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from projections import public_queries as q
from projections import queries
from registry.audit.export import EXPORT_SCHEMA
from registry.audit.export import _records as export_records
from registry.scenario.report import allocation_csv
from registry.web import params
from registry.web.app import Site
from registry.web.pages import missing

Handler = Callable[[Request], Response]
DOWNLOAD_ROWS = 1_000  # the default page
EXPORT_PAGE_ROWS = 500  # envelopes read per query while streaming the Avro export
EXPORT_CHECKPOINTS_MAX = 100_000  # one per CHECKPOINT_INTERVAL envelopes: 10**8 envelopes
RETIREMENT_COLUMNS = (
    "position",
    "effect_index",
    "recorded_at",
    "holder_id",
    "beneficiary_name",
    "beneficiary_party_id",
    "purpose",
    "reporting_year",
    "quantity_kg",
    "serial_ranges",
    "reference",
    "memo",
    "location",  # where the offset emissions happened (a municipality or ISO 3166-2 code)
    "required_label",
)


def routes(site: Site) -> list[Route]:
    return [
        Route("/data", _index(site), name="data"),
        Route("/data/retirements.{fmt:str}", _retirements(site), name="retirements_data"),
        Route("/data/batches.{fmt:str}", _batches(site), name="batches_data"),
        Route("/data/balances.{fmt:str}", _balances(site), name="balances_data"),
        Route(
            "/data/pools/{pool_id}/allocation.{fmt:str}", _allocation(site), name="allocation_data"
        ),
        Route("/data/history.avro", _avro(site), name="history_avro"),
    ]


def _index(site: Site) -> Handler:
    def index(request: Request) -> Response:
        with site.read() as (connection, position):
            from projections.party_queries import pools

            return site.render(request, "data.html", position, {"pools": pools(connection, 50)})

    return index


def _format(request: Request) -> str:
    fmt = str(request.path_params["fmt"])
    if fmt not in ("csv", "json"):
        raise params.BadRequest(f"downloads come as .csv or .json, not .{fmt[:10]}")
    return fmt


def _table(
    request: Request,
    fmt: str,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    next_after: str | None,
    position: int,
) -> Response:
    next_url = None
    if next_after is not None:
        next_url = str(request.url.include_query_params(after=next_after))
    headers = {"X-Projection-Position": str(position)}
    if next_url:
        headers["Link"] = f'<{next_url}>; rel="next"'
    if fmt == "json":
        body = {
            "columns": list(columns),
            "rows": [dict(zip(columns, row, strict=True)) for row in rows],
            "next": next_url,
            "projection_position": position,
        }
        return JSONResponse(body, headers=headers)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows(rows)
    return Response(buffer.getvalue(), media_type="text/csv; charset=utf-8", headers=headers)


def _limit(request: Request) -> int:
    return params.required_integer(request, "limit", DOWNLOAD_ROWS, 1, q.DOWNLOAD_ROWS_MAX)


def _retirements(site: Site) -> Handler:
    def retirements(request: Request) -> Response:
        fmt = _format(request)
        raw = params.text(request, "after")
        after = params.retirement_id(raw) if raw else (0, 0)
        limit = _limit(request)
        with site.read() as (connection, position):
            found = q.retirements_ascending(connection, after, limit)
        rows = [
            (
                d.retirement.position,
                d.effect_index,
                datetime.fromtimestamp(d.recorded_at_us / 1e6, UTC).isoformat(),
                d.retirement.holder_id,
                d.retirement.beneficiary_name,
                d.retirement.beneficiary_party_id or "",
                d.retirement.purpose,
                d.retirement.reporting_year,
                d.retirement.quantity_kg,
                d.retirement.blocks,
                d.reference or "",
                d.retirement.memo,
                d.retirement.location or "",
                d.retirement.required_label or "",
            )
            for d in found
        ]
        last = found[-1] if len(found) == limit else None
        next_after = f"{last.retirement.position}-{last.effect_index}" if last else None
        return _table(request, fmt, RETIREMENT_COLUMNS, rows, next_after, position.last_position)

    return retirements


def _batches(site: Site) -> Handler:
    def batches(request: Request) -> Response:
        fmt = _format(request)
        after = params.text(request, "after")
        limit = _limit(request)
        with site.read() as (connection, position):
            rows = q.batch_rows(connection, after, limit)
        next_after = str(rows[-1][0]) if len(rows) == limit else None
        return _table(request, fmt, q.BATCH_COLUMNS, rows, next_after, position.last_position)

    return batches


def _balances(site: Site) -> Handler:
    def balances(request: Request) -> Response:
        fmt = _format(request)
        raw = params.text(request, "after")
        cursor = tuple(raw.split("/")) if raw else ("", "", "")
        if len(cursor) != 3:
            raise params.BadRequest("after must be PARTY/CLASS/VINTAGE")
        limit = _limit(request)
        with site.read() as (connection, position):
            rows = q.balance_rows(connection, (cursor[0], cursor[1], cursor[2]), limit)
        next_after = "/".join(str(v) for v in rows[-1][:3]) if len(rows) == limit else None
        return _table(request, fmt, q.BALANCE_COLUMNS, rows, next_after, position.last_position)

    return balances


def _allocation(site: Site) -> Handler:
    def allocation(request: Request) -> Response:
        fmt = _format(request)
        pool_id = params.identifier(request.path_params["pool_id"], "a pool id")
        with site.read() as (connection, position):
            from projections.party_queries import pool

            if pool(connection, pool_id) is None:
                raise missing("pool", pool_id)
            rows, totals = queries.allocation(connection, pool_id)
        text = allocation_csv(rows, totals)
        table = list(csv.reader(text.splitlines()))
        return _table(request, fmt, table[0], table[1:], None, position.last_position)

    return allocation


def _avro(site: Site) -> Handler:
    def avro(request: Request) -> Response:
        with site.read() as (connection, position):
            latest = q.latest_checkpoint(connection)
        up_to = latest.checkpoint.tree_size if latest else position.last_position
        up_to = params.required_integer(request, "up_to", up_to, 1, params.POSITION_MAX)
        return StreamingResponse(
            _export_chunks(site, up_to),
            media_type="application/avro",
            headers={
                "Content-Disposition": f'attachment; filename="history-{up_to}.avro"',
                "X-Projection-Position": str(position.last_position),
            },
        )

    return avro


def _envelopes(site: Site, up_to: int) -> Iterator[tuple[int, bytes]]:
    after = 0
    while after < up_to:
        with site.engine.connect() as connection:
            page = q.log_page(connection, after, EXPORT_PAGE_ROWS, up_to)
        if not page:
            return
        for entry in page:
            yield entry.position, entry.sealed_envelope
        after = page[-1].position


def _export_chunks(site: Site, up_to: int) -> Iterator[bytes]:
    """The export file in pieces, as `registry.audit.export` writes it: each page of
    envelopes is one bounded query, then one Avro block, checkpoints after the envelope
    at their tree size."""
    with site.engine.connect() as connection:
        checkpoints = q.checkpoints_up_to(connection, up_to, EXPORT_CHECKPOINTS_MAX)
    buffer = io.BytesIO()
    writer = fastavro.write.Writer(
        buffer,
        EXPORT_SCHEMA,
        codec="deflate",
        metadata={
            "credit_registry.source": "public web view",
            "credit_registry.envelopes": str(up_to),
        },
    )
    for count, record in enumerate(export_records(_envelopes(site, up_to), checkpoints), 1):
        writer.write(record)
        if count % EXPORT_PAGE_ROWS == 0:
            writer.flush()
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    writer.flush()
    yield buffer.getvalue()
