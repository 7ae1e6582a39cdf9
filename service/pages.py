"""Server-rendered Dutch pages: registration, leave/access, privacy statement.

The pages load no scripts at all (the Content-Security-Policy forbids them) and
no external resources. The registration form posts to ``POST /registrations``,
the same endpoint programs post JSON to; a form post gets the confirmation or
the form again with the errors in Dutch. The leave page posts the self-service
token in the form body (a form cannot send an ``Authorization`` header) to
``POST /afmelden``, which uses the same operations as
``GET``/``DELETE /registrations/me``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from service import db, privacy, store, texts
from service.auth import get_services
from service.store import FieldError, Outcome, Services

TEMPLATES = Path(__file__).resolve().parent / "templates"

environment = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)
environment.filters["inline"] = lambda text: Markup(privacy.inline_html(str(text)))

router = APIRouter(include_in_schema=False)
LEAVE_ACTIONS = ("inzien", "afmelden", "wissen")
TOKEN_MAX_LENGTH = 100


def render(template: str, status_code: int = 200, **context: object) -> HTMLResponse:
    """Render one template to an HTML response."""
    html = environment.get_template(template).render(**context)
    return HTMLResponse(html, status_code=status_code)


def registration_form(
    services: Services,
    values: Mapping[str, object] | None = None,
    errors: list[FieldError] | None = None,
) -> HTMLResponse:
    """The registration form, with the posted values and errors when given."""
    return render(
        "aanmelden.html",
        status_code=422 if errors else 200,
        title="Aanmelden",
        values=dict(values or {}),
        errors=errors or [],
        privacy_version=services.settings.privacy_version,
        allow_foreign=services.settings.allow_foreign_mobile,
    )


def registration_result(outcome: Outcome) -> HTMLResponse:
    """The confirmation page: the group or the queue, and the token once."""
    message = texts.registration_text(
        outcome.status,
        outcome.group_id,
        created=outcome.created,
        rejoined=outcome.rejoined,
    )
    return render(
        "bevestiging.html",
        status_code=201 if outcome.created else 200,
        title="Aangemeld",
        created=outcome.created,
        rejoined=outcome.rejoined,
        message=message,
        group_id=outcome.group_id,
        token=outcome.token,
    )


@router.get("/")
def read_root() -> RedirectResponse:
    """The service's front page is the registration form."""
    return RedirectResponse("/aanmelden", status_code=303)


@router.get("/aanmelden")
def read_registration_page(request: Request) -> HTMLResponse:
    """The empty registration form."""
    return registration_form(get_services(request))


@router.get("/afmelden")
def read_leave_page(request: Request) -> HTMLResponse:
    """The leave/access form asking for the self-service token."""
    return _leave_form(get_services(request))


@router.post("/afmelden")
def submit_leave_page(
    request: Request,
    token: Annotated[str, Form()] = "",
    action: Annotated[str, Form()] = "inzien",
) -> HTMLResponse:
    """Show the data, leave, or erase, for the registration of a token."""
    services = get_services(request)
    token = token.strip()
    if action not in LEAVE_ACTIONS:
        return _leave_form(services, [FieldError("action", "action_invalid")])
    if not token:
        return _leave_form(services, [FieldError("token", "token_missing")])

    with services.sessions() as session, session.begin():
        registration = store.find_by_token(session, token[:TOKEN_MAX_LENGTH])
        if registration is None:
            return _leave_form(services, [FieldError("token", "token_unknown")])
        if action == "inzien":
            data = store.describe_registration(session, services.vault, registration)
            return render(
                "inzage.html",
                title="Uw gegevens",
                data=data,
                event_text=texts.EVENT_TEXT,
                change_text=texts.CHANGE_TEXT,
            )
        if action == "afmelden":
            store.leave(session, registration, store.RESIDENT)
        else:
            store.erase(session, registration, store.RESIDENT)
        was_member = store.was_member(session, registration.id)

    if action == "wissen":
        db.checkpoint(services.engine)
        heading, message = (
            "Uw gegevens zijn gewist",
            texts.erased_text(was_member=was_member),
        )
    else:
        heading = "U bent afgemeld"
        message = texts.left_text(
            services.settings.retention_days, was_member=was_member
        )
    return render("afgemeld.html", title=heading, heading=heading, message=message)


@router.get("/privacy")
def read_privacy_page(request: Request) -> HTMLResponse:
    """The privacy statement for residents, generated from the settings."""
    settings = get_services(request).settings
    sections = [s for s in privacy.statement(settings) if s.for_residents]
    return render(
        "privacy.html",
        title="Privacyverklaring",
        sections=sections,
        version=settings.privacy_version,
    )


def _leave_form(
    services: Services, errors: list[FieldError] | None = None
) -> HTMLResponse:
    """The leave form, with errors when given (422)."""
    return render(
        "afmelden.html",
        status_code=422 if errors else 200,
        title="Afmelden",
        errors=errors or [],
        retention_days=services.settings.retention_days,
    )
