"""Bearer-token authentication and the role checks of every endpoint.

Clients send ``Authorization: Bearer TOKEN``. A token is either a user's
(``steering`` or ``beheerder``, made by ``buurtgroepen users add``) or a
resident's self-service token (returned once at registration). Both are stored
only as SHA-256 hashes.

Status codes: no token or an unknown token is 401 (with ``WWW-Authenticate:
Bearer``); a known token without the right (another role, another group, a
user token where a resident token is needed and the reverse) is 403. A
beheerder asking for a group that does not exist gets 403 too, so group ids
cannot be probed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from service import store
from service.models import BEHEERDER, STEERING, Registration
from service.store import Services, UserPrincipal

bearer = HTTPBearer(
    auto_error=False,
    description="A steering, beheerder or self-service token.",
)
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]

NOT_AUTHENTICATED = "Geen of een onbekende code; stuur 'Authorization: Bearer CODE'."
FORBIDDEN = "Deze code geeft geen toegang tot dit onderdeel."


def get_services(request: Request) -> Services:
    """The services of the running app (set up by its lifespan)."""
    return request.app.state.services


ServicesDep = Annotated[Services, Depends(get_services)]


def get_session(services: ServicesDep) -> Iterator[Session]:
    """One session and transaction per request, committed when the handler returns.

    Scoped to the handler (``scope="function"``), so the commit happens before
    the response is sent: a client that got its answer finds the change stored.
    A handler may commit earlier itself (erasure does, to checkpoint SQLite).
    """
    with services.sessions() as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


SessionDep = Annotated[Session, Depends(get_session, scope="function")]


def _unauthenticated() -> HTTPException:
    """401 with the bearer challenge."""
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED,
        detail=NOT_AUTHENTICATED,
        headers={"WWW-Authenticate": "Bearer"},
    )


def _forbidden() -> HTTPException:
    """403: known token, not allowed here."""
    return HTTPException(status.HTTP_403_FORBIDDEN, detail=FORBIDDEN)


def require_user(*roles: str) -> Callable[..., UserPrincipal]:
    """A dependency admitting users with one of ``roles``."""

    def dependency(credentials: Credentials, session: SessionDep) -> UserPrincipal:
        if credentials is None:
            raise _unauthenticated()
        user = store.authenticate_user(session, credentials.credentials)
        if user is None:
            if store.find_by_token(session, credentials.credentials) is not None:
                raise _forbidden()
            raise _unauthenticated()
        if user.role not in roles:
            raise _forbidden()
        return user

    return dependency


SteeringUser = Annotated[UserPrincipal, Depends(require_user(STEERING))]
AnyUser = Annotated[UserPrincipal, Depends(require_user(STEERING, BEHEERDER))]


def require_group_beheerder(group_id: str, user: AnyUser) -> UserPrincipal:
    """Admit only a beheerder of ``group_id``; steering users never see members."""
    if user.role != BEHEERDER or group_id not in user.group_ids:
        raise _forbidden()
    return user


GroupBeheerder = Annotated[UserPrincipal, Depends(require_group_beheerder)]


def require_group_reader(group_id: str, user: AnyUser) -> UserPrincipal:
    """Admit the steering group and the beheerders of ``group_id``."""
    if user.role == BEHEERDER and group_id not in user.group_ids:
        raise _forbidden()
    return user


def require_resident(credentials: Credentials, session: SessionDep) -> Registration:
    """The registration of a self-service token (401 unknown, 403 a user token)."""
    if credentials is None:
        raise _unauthenticated()
    registration = store.find_by_token(session, credentials.credentials)
    if registration is None:
        if store.authenticate_user(session, credentials.credentials) is not None:
            raise _forbidden()
        raise _unauthenticated()
    return registration


Resident = Annotated[Registration, Depends(require_resident)]
