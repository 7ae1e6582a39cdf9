"""Resident endpoints: registration (public) and the AVG rights with the token."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Request, Response, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.types import Message

from service import db, pages, store, texts
from service.auth import Resident, ServicesDep, SessionDep, get_services
from service.routes import AUTH_RESPONSES, ERROR_RESPONSES, MessageOut
from service.store import FieldError, Outcome, Services

logger = logging.getLogger(__name__)

router = APIRouter(tags=["residents"])

BODY_MAX_BYTES = 16_384
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


class RegistrationIn(BaseModel):
    """A registration as posted by the page or a program."""

    postcode: str = Field(examples=["7581 AB"])
    huisnummer: str | int = Field(examples=["12", "12A-3"])
    huisletter: str | None = Field(default=None, examples=["A"])
    huisnummertoevoeging: str | None = Field(default=None, examples=["2"])
    telefoon: str = Field(examples=["06 12345678"])
    voornaam: str | None = Field(default=None, examples=["Anna"])
    consent: bool = Field(description="Must be true: consent to the privacy text.")
    privacy_version: str = Field(
        description="Version of the privacy statement shown (GET /privacy)."
    )


class RegistrationOut(BaseModel):
    """The stored registration; ``token`` only on 201 (shown once)."""

    registration_id: str
    status: str = Field(description="assigned or queued")
    group_id: str | None
    token: str | None = Field(description="Self-service token; null on a duplicate.")
    duplicate: bool
    message: str


class StatusOut(BaseModel):
    """The outcome of leaving or erasing."""

    registration_id: str
    status: str
    message: str


@router.post(
    "/registrations",
    status_code=status.HTTP_201_CREATED,
    response_model=RegistrationOut,
    responses={
        200: {"model": RegistrationOut, "description": "Duplicate: already stored"},
        413: {"model": MessageOut, "description": "Body too large"},
        **ERROR_RESPONSES,
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": RegistrationIn.model_json_schema()},
                "application/x-www-form-urlencoded": {
                    "schema": RegistrationIn.model_json_schema()
                },
            },
        }
    },
)
async def create_registration(request: Request) -> Response:
    """Register a resident: validate, geocode, store, and assign the group.

    JSON in gives JSON out; a form post (the registration page) gives the
    confirmation page, or the form with the errors. 201 for a new
    registration with the secret self-service token (returned only now), 200
    with the stored registration and no token when the same number is already
    registered at the same address, 422 with every refused field otherwise
    (nothing is stored).
    """
    services = get_services(request)
    is_form = request.headers.get("content-type", "").startswith(FORM_TYPES)
    too_large = JSONResponse({"detail": "De aanmelding is te groot."}, status_code=413)
    body = await _bounded_body(request)
    if body is None:
        return too_large

    data = await _read_body(request, body, is_form=is_form)
    if data is None:
        result: Outcome | list[FieldError] = [FieldError("body", "body_invalid")]
    else:
        result = await run_in_threadpool(_register, services, data)

    if is_form:
        if isinstance(result, list):
            return pages.registration_form(services, data, result)
        return pages.registration_result(result)
    if isinstance(result, list):
        return validation_response(result)
    return JSONResponse(
        _outcome_dict(result),
        status_code=status.HTTP_201_CREATED if result.created else status.HTTP_200_OK,
    )


async def _bounded_body(request: Request) -> bytes | None:
    """The raw body, or None when it exceeds ``BODY_MAX_BYTES``.

    A declared Content-Length above the limit is refused before reading; the
    stream is read in chunks and abandoned past the limit, so a body sent
    without (or with a false) Content-Length is not read in full either.
    """
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > BODY_MAX_BYTES:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > BODY_MAX_BYTES:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


async def _read_body(
    request: Request, body: bytes, *, is_form: bool
) -> dict[str, Any] | None:
    """The posted fields, or None when the body is not an object or a form."""
    if is_form:
        replayed = Request(request.scope, receive=_replay(body))
        try:
            form = await replayed.form()
        except (ValueError, HTTPException):
            return None
        return {key: value for key, value in form.items() if isinstance(value, str)}
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None
    return data if isinstance(data, dict) else None


def _replay(body: bytes) -> Callable[[], Awaitable[Message]]:
    """An ASGI receive callable that hands over an already read body once."""
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive


def _register(services: Services, data: dict[str, Any]) -> Outcome | list[FieldError]:
    """Validate and store (in a worker thread: geocoding and SQL block)."""
    intake = store.validate_intake(data, services.settings, services.book)
    if isinstance(intake, list):
        logger.info(
            "registration refused: %s", ", ".join(sorted({e.code for e in intake}))
        )
        return intake
    return store.register_resident(services, intake)


def _outcome_dict(outcome: Outcome) -> dict[str, object]:
    """The JSON body of a 201 or 200."""
    message = texts.registration_text(
        outcome.status,
        outcome.group_id,
        created=outcome.created,
        rejoined=outcome.rejoined,
    )
    return {
        "registration_id": outcome.registration_id,
        "status": outcome.status,
        "group_id": outcome.group_id,
        "token": outcome.token,
        "duplicate": not outcome.created,
        "message": message,
    }


def validation_response(errors: list[FieldError]) -> JSONResponse:
    """A 422 in the service's one error shape."""
    return JSONResponse(
        {"detail": [error.as_dict() for error in errors]},
        status_code=422,
    )


@router.get("/registrations/me", responses=AUTH_RESPONSES)
def read_my_registration(
    registration: Resident, services: ServicesDep, session: SessionDep
) -> dict[str, object]:
    """Everything held about the resident of the self-service token (AVG art. 15).

    The read is written to the audit log.
    """
    return store.describe_registration(session, services.vault, registration)


@router.post(
    "/registrations/me/leave", response_model=StatusOut, responses=AUTH_RESPONSES
)
def leave_my_group(
    registration: Resident, services: ServicesDep, session: SessionDep
) -> dict[str, object]:
    """Leave: the membership ends, the beheerder gets a removal task.

    The data is kept for ``BUURTGROEPEN_RETENTION_DAYS`` days (then ``purge``
    erases it); ``DELETE /registrations/me`` erases it at once.
    """
    store.leave(session, registration, store.RESIDENT)
    was_member = store.was_member(session, registration.id)
    return {
        "registration_id": registration.id,
        "status": registration.status,
        "message": texts.left_text(
            services.settings.retention_days, was_member=was_member
        ),
    }


@router.delete("/registrations/me", response_model=StatusOut, responses=AUTH_RESPONSES)
def erase_my_registration(
    registration: Resident, services: ServicesDep, session: SessionDep
) -> dict[str, object]:
    """Erase the resident's personal data at once (AVG art. 17).

    Number, name, exact address, point and token are removed; anonymised counts
    stay; the beheerder gets a task to remove the member (named by number) from
    the WhatsApp group and their contacts. The token stops working.
    """
    store.erase(session, registration, store.RESIDENT)
    was_member = store.was_member(session, registration.id)
    session.commit()
    db.checkpoint(services.engine)
    return {
        "registration_id": registration.id,
        "status": registration.status,
        "message": texts.erased_text(was_member=was_member),
    }
