"""The FastAPI application: registrations, groups, roles and the AVG rights.

Build an app with :func:`create_app`; the module-level ``app`` (for
``uvicorn service.app:app``) reads its settings only when it starts. Start-up
(the lifespan) prepares the data directory and the key, migrates the database
and loads the address register once; importing this module does none of that.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

import partition
from service import pages, store
from service.config import Settings, load_settings
from service.routes import coverage, groups, rebalance, residents

logger = logging.getLogger(__name__)

DESCRIPTION = """
Residents register for the neighbourhood-watch WhatsApp group of their address;
beheerders manage their own group; the steering group sees counts.

**Authentication**: `Authorization: Bearer TOKEN`, with a user token
(`buurtgroepen users add`) or the self-service token returned once by
`POST /registrations`. No or an unknown token gives 401, a token without access
403.

**Errors**: every 422 has one shape, a list of refused fields, each with a
stable machine `code` and a Dutch `message` for the resident:

```json
{"detail": [{"field": "postcode", "code": "postcode_invalid",
             "message": "Dit is geen geldige postcode. ..."}]}
```

Codes: `body_invalid`, `field_type`, `postcode_missing`, `postcode_invalid`,
`huisnummer_missing`, `huisnummer_invalid`, `huisletter_invalid`,
`huisletter_conflict`, `toevoeging_invalid`, `toevoeging_conflict`,
`address_unknown`, `address_ambiguous`, `address_outside`, `telefoon_missing`,
`telefoon_invalid`, `telefoon_not_mobile`, `telefoon_foreign`,
`telefoon_foreign_de`, `voornaam_too_long`, `voornaam_invalid`,
`consent_missing`, `privacy_version_missing`, `privacy_version_outdated`.
"""

SECURITY_HEADERS = [
    (
        b"content-security-policy",
        b"default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
        b"base-uri 'none'; frame-ancestors 'none'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cache-control", b"no-store"),
]
# the interactive API docs need their own scripts; only there the policy is relaxed
_DOCS_PATHS = ("/docs", "/redoc")


class SecurityHeaders:
    """ASGI middleware adding strict security and no-caching headers."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(_DOCS_PATHS):
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name for name, _ in message.get("headers", [])}
                message["headers"] = list(message.get("headers", [])) + [
                    header for header in SECURITY_HEADERS if header[0] not in present
                ]
            await send(message)

        await self.app(scope, receive, send_with_headers)


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the application.

    Parameters
    ----------
    settings
        The configuration; None reads ``BUURTGROEPEN_*`` when the app starts
        (not now), so building the app is cheap.
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        current = settings or load_settings()
        services = store.open_services(current)
        try:
            services.book  # noqa: B018 - load the register once, at start
            app.state.services = services
            logger.info(
                "service ready: %s database, register %s (%d addresses), cap %d",
                services.engine.dialect.name,
                services.book.source,
                len(services.book),
                current.max_group_size,
            )
            yield
        finally:
            services.close()

    app = FastAPI(
        title="buurtgroepen",
        version=partition.__version__,
        summary="Neighbourhood-watch WhatsApp groups: registrations, groups, coverage.",
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    app.add_middleware(SecurityHeaders)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.include_router(residents.router)
    app.include_router(rebalance.router)
    app.include_router(groups.router)
    app.include_router(coverage.router)
    app.include_router(pages.router)
    app.add_api_route("/health", read_health, methods=["GET"], tags=["service"])
    return app


def read_health() -> dict[str, str]:
    """Report that the service is up, with its version."""
    return {"status": "ok", "version": partition.__version__}


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    """FastAPI's own 422s (path, query, form) in the service's one error shape."""
    errors = exc.errors() if isinstance(exc, RequestValidationError) else []
    detail = []
    for error in errors:
        location = [str(part) for part in error.get("loc", ()) if part != "body"]
        name = location[-1] if location else "body"
        detail.append(
            {
                "field": name,
                "code": "field_type",
                "message": store.FieldError(name, "field_type").message,
            }
        )
    return JSONResponse({"detail": detail}, status_code=422)


app = create_app()
