"""Pages about recorded acts: a retirement, its certificate and proof, a joint-purchase
pool with its 62-row allocation, and a partner agreement with its yearly statement."""

from __future__ import annotations

import json
from collections.abc import Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from projections import attribute_queries as aq
from projections import party_queries as pq
from projections import public_queries as q
from projections import queries
from registry.web import params
from registry.web.app import Site
from registry.web.certificate import certificate_document, inclusion, qr_svg
from registry.web.charts import pie
from registry.web.i18n import translator
from registry.web.pages import PAGE_ROWS, missing

Handler = Callable[[Request], Response]
POOL_MEETINGS_MAX = 500


def routes(site: Site) -> list[Route]:
    return [
        Route(
            "/retirements/{retirement_id}", _retirement(site, "retirement.html"), name="retirement"
        ),
        Route(
            "/retirements/{retirement_id}/certificate",
            _retirement(site, "certificate.html"),
            name="certificate",
        ),
        Route("/retirements/{retirement_id}/proof.json", _proof(site), name="proof"),
        Route("/pools/{pool_id}", _pool(site), name="pool"),
        Route("/agreements/{agreement_id}", _agreement(site), name="agreement"),
    ]


def page_url(site: Site, request: Request, retirement_id: str) -> str:
    base = site.config.public_url or str(request.base_url)
    return base.rstrip("/") + f"/retirements/{retirement_id}"


def _retirement(site: Site, template: str) -> Handler:
    def retirement(request: Request) -> Response:
        raw = request.path_params["retirement_id"]
        position_number, effect = params.retirement_id(raw)
        with site.read() as (connection, position):
            detail = q.retirement(connection, position_number, effect)
            if detail is None:
                raise missing("retirement", raw)
            proof = inclusion(connection, position_number)
            url = page_url(site, request, raw)
            document = (
                certificate_document(proof, detail, url, site.registry_key) if proof else None
            )
            context = {
                "detail": detail,
                "retirement_id": raw,
                "entry": q.log_entry(connection, position_number),
                "proof": proof,
                "document_json": json.dumps(document, ensure_ascii=False) if document else None,
                "page_url": url,
                "qr": qr_svg(url) if template == "certificate.html" else None,
                "beneficiary": pq.party(connection, detail.retirement.beneficiary_party_id or ""),
                "labels": aq.retirement_labels(connection, position_number, effect),
            }
            return site.render(request, template, position, context)

    return retirement


def _proof(site: Site) -> Handler:
    def proof(request: Request) -> Response:
        raw = request.path_params["retirement_id"]
        position_number, effect = params.retirement_id(raw)
        with site.read() as (connection, position):
            detail = q.retirement(connection, position_number, effect)
            if detail is None:
                raise missing("retirement", raw)
            found = inclusion(connection, position_number)
            if found is None:
                return JSONResponse({"error": "no signed checkpoint covers this position yet"}, 404)
            url = page_url(site, request, raw)
            return JSONResponse(
                certificate_document(found, detail, url, site.registry_key),
                headers={"X-Projection-Position": str(position.last_position)},
            )

    return proof


def _pool(site: Site) -> Handler:
    def pool(request: Request) -> Response:
        pool_id = params.identifier(request.path_params["pool_id"], "a pool id")
        with site.read() as (connection, position):
            found = pq.pool(connection, pool_id)
            if found is None:
                raise missing("pool", pool_id)
            rows, totals = queries.allocation(connection, pool_id)
            text = translator(params.language(request))
            context = {
                "pool": found,
                "rows": rows,
                "totals": totals,
                "meetings": pq.meetings_page(connection, pool_id, "", POOL_MEETINGS_MAX),
                "chart": pie(totals, text, f"{text('chart')}: {found.name or pool_id}"),
                "names": {r.member_code: (r.name_ja, r.name_en) for r in rows},
            }
            return site.render(request, "pool.html", position, context)

    return pool


def _agreement(site: Site) -> Handler:
    def agreement(request: Request) -> Response:
        agreement_id = params.identifier(request.path_params["agreement_id"], "an agreement id")
        with site.read() as (connection, position):
            found = pq.agreement(connection, agreement_id)
            if found is None:
                raise missing("agreement", agreement_id)
            deliveries = queries.deliveries(connection, agreement_id=agreement_id, limit=PAGE_ROWS)
            years = sorted({d.fiscal_year for d in deliveries})
            context = {
                "agreement": found,
                "signatures": pq.signatures(connection, agreement_id, PAGE_ROWS),
                "deliveries": deliveries,
                "statements": [queries.statement(connection, agreement_id, y) for y in years],
                "provider": pq.party(connection, found.provider_id),
                "user": pq.party(connection, found.user_id),
            }
            return site.render(request, "agreement.html", position, context)

    return agreement
