"""The public web view's application: a Starlette app over the projection database, opened
read-only (SQLite in mode=ro, PostgreSQL in read-only transactions), so nothing a visitor
sends can reach the write side or change a read model.

Every handler reads in one transaction through `Site.read`, renders a template with the
projection position it read, and answers 404 for an unknown id and 400 for a malformed
query, never a traceback."""

from __future__ import annotations

import hashlib
import logging
import sqlite3
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import sqlalchemy as sa
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from projections.public_queries import ProjectionPosition, projection_position
from registry.domain.ledger import key_id_for
from registry.support.observability import WEB_REQUEST_SECONDS, WEB_REQUESTS
from registry.support.presentation import tonnes
from registry.web import i18n
from registry.web.params import BadRequest, language

logger = logging.getLogger(__name__)
HERE = Path(__file__).resolve().parent
SQLITE_BUSY_TIMEOUT_S = 30


@dataclass(frozen=True)
class WebConfig:
    projection_url: str
    registry_public_key: bytes | None = None
    public_url: str | None = None  # the site's address for QR codes (default: the request's)


def read_only_engine(url: str) -> sa.Engine:
    """SQLite opened with mode=ro (a missing file is an error, never created); PostgreSQL
    with every transaction read-only, besides the read-only role the chart gives it."""
    parsed = sa.engine.make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if not database or database == ":memory:":
            raise ValueError("the web view needs a projection database file")
        if not Path(database).exists():
            raise ValueError(f"no projection database at {database}")
        uri = f"file:{Path(database).resolve()}?mode=ro"
        engine = sa.create_engine(
            "sqlite://",
            creator=lambda: sqlite3.connect(
                uri,
                uri=True,
                timeout=SQLITE_BUSY_TIMEOUT_S,
                check_same_thread=False,
                isolation_level=None,  # no implicit transactions: BEGIN below, for reads too
            ),
        )

        @sa.event.listens_for(engine, "begin")
        def _begin(connection: sa.Connection) -> None:
            # The driver would leave SELECTs outside any transaction; a page must read one
            # snapshot, so that the position it shows is the one its rows were read at.
            connection.exec_driver_sql("BEGIN")

        return engine
    return sa.create_engine(
        url,
        pool_pre_ping=True,
        isolation_level="REPEATABLE READ",
        execution_options={"postgresql_readonly": True},
    )


def _when(recorded_at_us: int | None) -> str:
    if recorded_at_us is None:
        return "—"
    moment = datetime.fromtimestamp(recorded_at_us / 1_000_000, UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def fingerprint(public_key: bytes) -> str:
    digest = hashlib.sha256(public_key).hexdigest()
    return " ".join(digest[i : i + 4] for i in range(0, len(digest), 4))


class Site:
    """What every page needs: the read-only engine, the templates and the registry key."""

    def __init__(self, config: WebConfig, engine: sa.Engine | None = None) -> None:
        self.config = config
        self.engine = engine or read_only_engine(config.projection_url)
        self.templates = Jinja2Templates(directory=str(HERE / "templates"))
        self.templates.env.globals["fingerprint"] = fingerprint
        self.templates.env.filters["tonnes"] = tonnes
        self.templates.env.filters["when"] = _when
        key = config.registry_public_key
        self.registry_key = key
        self.registry_key_id = key_id_for(key) if key else None

    @contextmanager
    def read(self) -> Iterator[tuple[sa.Connection, ProjectionPosition]]:
        """One read transaction: the position shown is the one the rows were read at."""
        with self.engine.connect() as connection, connection.begin():
            yield connection, projection_position(connection)

    def render(
        self,
        request: Request,
        template: str,
        position: ProjectionPosition | None,
        context: dict[str, Any] | None = None,
        status_code: int = 200,
        lang: str | None = None,
    ) -> Response:
        lang = lang or language(request)
        return self.templates.TemplateResponse(
            request,
            template,
            {
                "lang": lang,
                "t": i18n.translator(lang),
                "url": _url_builder(request, lang),
                "position": position,
                "registry_key": self.registry_key,
                "registry_key_id": self.registry_key_id,
                **(context or {}),
            },
            status_code=status_code,
            headers={"X-Projection-Position": str(position.last_position if position else "")},
        )


def _url_builder(request: Request, lang: str) -> Callable[..., str]:
    def url(path: str, **params: object) -> str:
        query = {k: v for k, v in params.items() if v is not None}
        if "lang" not in query:
            query["lang"] = lang
        return path + ("?" + urlencode(query) if query else "")

    return url


SECURITY_HEADERS = {
    # Scripts only from this site (verify.js); the certificate's JSON is data, not script.
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; "
    "img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
    "form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


class Metrics(BaseHTTPMiddleware):
    """Counts and times requests by route template (never the raw path: bounded labels),
    and sets the security headers of every answer."""

    async def dispatch(
        self, request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        started = time.perf_counter()
        response = await call_next(request)
        response.headers.update(SECURITY_HEADERS)
        route = request.scope.get("route")
        name = getattr(route, "path", "unmatched")
        WEB_REQUESTS.labels(name, str(response.status_code)).inc()
        WEB_REQUEST_SECONDS.labels(name).observe(time.perf_counter() - started)
        return response


def create_app(config: WebConfig, engine: sa.Engine | None = None) -> Starlette:
    from registry.web import downloads, pages, records  # routes need the Site

    site = Site(config, engine)
    routes = [
        *pages.routes(site),
        *records.routes(site),
        *downloads.routes(site),
        Route("/healthz", _health(site), name="health"),
        Mount("/static", StaticFiles(directory=str(HERE / "static")), name="static"),
    ]

    async def not_found(request: Request, exc: Exception) -> Response:
        detail = getattr(exc, "detail", "")
        status = getattr(exc, "status_code", 404)
        return _error_page(site, request, status, str(detail))

    async def bad_request(request: Request, exc: Exception) -> Response:
        return _error_page(site, request, 400, str(exc))

    async def server_error(request: Request, exc: Exception) -> Response:
        logger.exception("web request failed: %s", request.url.path, exc_info=exc)
        return PlainTextResponse("500: the registry could not answer; try again.", 500)

    return Starlette(
        routes=routes,
        middleware=[Middleware(Metrics)],
        exception_handlers={
            HTTPException: not_found,
            BadRequest: bad_request,
            Exception: server_error,
        },
    )


def _error_page(site: Site, request: Request, status: int, detail: str) -> Response:
    key = "bad_request" if status == 400 else "not_found"
    try:
        try:
            lang = language(request)
        except BadRequest:  # the bad request may be the language itself
            lang = i18n.DEFAULT_LANGUAGE
        context = {"status": status, "key": key, "detail": detail}
        return site.render(request, "error.html", None, context, status, lang)
    except Exception:  # the error page must never fail into a traceback
        logger.exception("error page failed")
        return PlainTextResponse(f"{status}: {detail}", status)


def _health(site: Site) -> Callable[[Request], Response]:
    def health(request: Request) -> Response:
        try:
            with site.read() as (_connection, position):
                return PlainTextResponse(f"ok {position.last_position}\n")
        except sa.exc.SQLAlchemyError as error:
            return PlainTextResponse(
                f"projection database unavailable: {type(error).__name__}\n", 503
            )

    return health
