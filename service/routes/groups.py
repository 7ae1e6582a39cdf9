"""Beheerder and steering endpoints: members, vCard, welcome text, tasks, stats.

A beheerder reaches only the groups they manage; the steering group sees sizes,
coverage and counts, never a phone number. Every read of a member list (JSON or
vCard) is written to the audit log with the number of members read.
"""

from __future__ import annotations

import logging

from fastapi import APIRouter, Depends, HTTPException, Response, status
from fastapi.responses import PlainTextResponse

from service import store, texts
from service.auth import (
    AnyUser,
    GroupBeheerder,
    ServicesDep,
    SessionDep,
    require_group_beheerder,
    require_group_reader,
    require_user,
)
from service.models import STEERING
from service.routes import AUTH_RESPONSES, MessageOut, RowId, vcard_response

logger = logging.getLogger(__name__)

router = APIRouter(responses=AUTH_RESPONSES)
STEERING_ONLY = Depends(require_user(STEERING))
NOT_FOUND = {404: {"model": MessageOut, "description": "No such group or task"}}


@router.get("/groups", tags=["steering", "beheerders"])
def list_groups(
    user: AnyUser, services: ServicesDep, session: SessionDep
) -> list[dict[str, object]]:
    """Groups with size and coverage: all for steering, one's own for a beheerder."""
    group_ids = None if user.role == STEERING else user.group_ids
    max_size = services.settings.max_group_size
    return store.group_overview(session, group_ids, max_size=max_size)


@router.get("/stats", tags=["steering"], dependencies=[STEERING_ONLY])
def read_stats(session: SessionDep) -> dict[str, int]:
    """Counts: registrations, geocoded, assigned, queued, left, erased, groups."""
    return store.stats(session)


@router.get("/groups/{group_id}/members", tags=["beheerders"])
def list_members(
    group_id: str, user: GroupBeheerder, services: ServicesDep, session: SessionDep
) -> dict[str, object]:
    """The group's current members with first name and mobile number."""
    members = store.group_members(session, services.vault, group_id)
    store.audit(
        session,
        user.actor,
        "members.read",
        "group",
        group_id,
        f"members={len(members)}",
    )
    logger.info(
        "user %d read %d members of group %s", user.user_id, len(members), group_id
    )
    return {"group_id": group_id, "members": members}


@router.get(
    "/groups/{group_id}/members.vcf",
    tags=["beheerders"],
    response_class=Response,
    responses={200: {"content": {"text/vcard": {}}, "description": "vCard 3.0"}},
)
def download_members(
    group_id: str, user: GroupBeheerder, services: ServicesDep, session: SessionDep
) -> Response:
    """The group's current members as a vCard 3.0 file for the beheerder's phone."""
    members = store.group_members(session, services.vault, group_id)
    store.audit(
        session,
        user.actor,
        "members.vcard",
        "group",
        group_id,
        f"members={len(members)}",
    )
    logger.info(
        "user %d downloaded %d members of group %s as vCard",
        user.user_id,
        len(members),
        group_id,
    )
    return vcard_response(group_id, members, f"{group_id}.vcf")


@router.get(
    "/groups/{group_id}/welcome",
    tags=["beheerders"],
    response_class=PlainTextResponse,
    responses=NOT_FOUND,
    dependencies=[Depends(require_group_reader)],
)
def read_welcome_text(
    group_id: str, services: ServicesDep, session: SessionDep
) -> PlainTextResponse:
    """The ready-to-send Dutch welcome text with the SAAR house rules."""
    if not store.group_exists(session, group_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="Onbekende groep.")
    text = texts.welcome_text(group_id, services.settings.retention_days)
    return PlainTextResponse(text)


@router.get(
    "/groups/{group_id}/tasks",
    tags=["beheerders"],
    dependencies=[Depends(require_group_beheerder)],
)
def list_tasks(
    group_id: str, session: SessionDep, done: bool = False
) -> list[dict[str, object]]:
    """The group's open tasks (with ``done=true`` the finished ones too)."""
    return store.group_tasks(session, group_id, include_done=done)


@router.post(
    "/groups/{group_id}/tasks/{task_id}/done", tags=["beheerders"], responses=NOT_FOUND
)
def complete_task(
    group_id: str, task_id: RowId, user: GroupBeheerder, session: SessionDep
) -> dict[str, object]:
    """Mark a task done (after removing the member from WhatsApp and contacts)."""
    task = store.complete_task(session, group_id, task_id, user.user_id)
    if task is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="Onbekende taak.")
    return task
