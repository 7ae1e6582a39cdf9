"""Rebalance endpoints: plan and apply, and the beheerders' change lists.

The steering group plans a rebalance (a dry run, stored), reads it, and applies
it; the apply runs in the request's one transaction and is refused with 409
when the data changed since the plan was made, or when a beheerder confirmed
the addition of a member the plan reroutes. Each beheerder then works
through the change list of their group (who to add, with the number, and who
to remove, by member number) and confirms every step; the steering group sees
what is still pending per group. Steering responses carry registration ids and
group ids, never a phone number or a name.
"""

from __future__ import annotations

import logging

from fastapi import APIRouter, Depends, HTTPException, Response, status

from partition.errors import InfeasibleError
from service import store
from service.auth import (
    GroupBeheerder,
    ServicesDep,
    SessionDep,
    SteeringUser,
    require_group_beheerder,
    require_user,
)
from service.models import STEERING
from service.routes import AUTH_RESPONSES, MessageOut, RowId, vcard_response

logger = logging.getLogger(__name__)

router = APIRouter(responses=AUTH_RESPONSES)
STEERING_ONLY = Depends(require_user(STEERING))
PLAN_NOT_FOUND = {404: {"model": MessageOut, "description": "No such plan"}}
CHANGE_NOT_FOUND = {404: {"model": MessageOut, "description": "No such change"}}
CONFLICT = {
    409: {
        "model": MessageOut,
        "description": (
            "Applied already, the data changed since the plan, or a rerouted "
            "member's addition was confirmed meanwhile"
        ),
    }
}
CONFLICT_DETAILS = {
    store.PLAN_APPLIED: "Dit plan is al uitgevoerd.",
    store.PLAN_STALE: (
        "De gegevens zijn veranderd sinds dit plan is gemaakt; er is niets "
        "gewijzigd. Maak een nieuw plan (POST /groups/rebalance)."
    ),
    store.PLAN_CONFIRMED: (
        "Een beheerder heeft intussen een lid toegevoegd dat dit plan naar een "
        "andere groep zet; er is niets gewijzigd. Maak een nieuw plan "
        "(POST /groups/rebalance)."
    ),
    store.PLAN_OVER_CAP: (
        "Met dit plan zou een groep boven de maximale groepsgrootte komen; er is "
        "niets gewijzigd. Maak een nieuw plan (POST /groups/rebalance)."
    ),
}
NOTHING_TO_PLAN = "Er zijn nog geen aanmeldingen om in te delen."


@router.post(
    "/groups/rebalance",
    tags=["steering"],
    status_code=status.HTTP_201_CREATED,
    responses={409: {"model": MessageOut, "description": "Nothing to plan"}},
)
def create_plan(
    user: SteeringUser, services: ServicesDep, session: SessionDep
) -> dict[str, object]:
    """Plan a rebalance of the groups to the cap and store it as a dry run.

    Newcomers in the queue join the group of their address when it has room,
    else a neighbouring group; a group that would exceed the cap is split.
    Nothing changes until the plan is applied.
    """
    try:
        return store.plan_rebalance(
            session, services.book, services.settings.max_group_size, user.user_id
        )
    except InfeasibleError as error:
        raise HTTPException(status.HTTP_409_CONFLICT, detail=str(error)) from error
    except store.StoreError as error:
        raise HTTPException(status.HTTP_409_CONFLICT, detail=NOTHING_TO_PLAN) from error


@router.get(
    "/groups/rebalance/{plan_id}",
    tags=["steering"],
    responses=PLAN_NOT_FOUND,
    dependencies=[STEERING_ONLY],
)
def read_plan(plan_id: str, session: SessionDep) -> dict[str, object]:
    """A stored plan: moves, newcomers, new and dissolved groups, changes."""
    plan = store.get_rebalance_plan(session, plan_id)
    if plan is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="Onbekend plan.")
    return plan


@router.post(
    "/groups/rebalance/{plan_id}/apply",
    tags=["steering"],
    responses={**PLAN_NOT_FOUND, **CONFLICT},
)
def apply_plan(
    plan_id: str, user: SteeringUser, services: ServicesDep, session: SessionDep
) -> dict[str, object]:
    """Apply a plan in one transaction; 409 when the data changed since."""
    try:
        applied = store.apply_rebalance(
            session, plan_id, user.user_id, services.settings.max_group_size
        )
    except store.PlanConflictError as error:
        logger.info("rebalance plan %s refused: %s", plan_id, error.reason)
        detail = CONFLICT_DETAILS[error.reason]
        raise HTTPException(status.HTTP_409_CONFLICT, detail=detail) from error
    if applied is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="Onbekend plan.")
    return applied


@router.get("/groups/changes/pending", tags=["steering"], dependencies=[STEERING_ONLY])
def list_pending_changes(session: SessionDep) -> list[dict[str, object]]:
    """Per group, the changes its beheerder has not confirmed yet (no numbers)."""
    return store.pending_changes(session)


@router.get(
    "/groups/{group_id}/changes",
    tags=["beheerders"],
    dependencies=[Depends(require_group_beheerder)],
)
def list_changes(
    group_id: str,
    user: GroupBeheerder,
    services: ServicesDep,
    session: SessionDep,
    done: bool = False,
) -> list[dict[str, object]]:
    """The group's pending changes, with the numbers to add (``done=true``: all).

    Reading the numbers is written to the audit log as a member-list read, so
    it appears in the resident's access report.
    """
    changes = store.group_changes(session, services.vault, group_id, include_done=done)
    numbers = sum("telefoon" in change for change in changes)
    store.audit(
        session, user.actor, "members.read", "group", group_id, f"additions={numbers}"
    )
    logger.info(
        "user %d read %d changes of group %s (%d numbers)",
        user.user_id,
        len(changes),
        group_id,
        numbers,
    )
    return changes


@router.get(
    "/groups/{group_id}/changes.vcf",
    tags=["beheerders"],
    response_class=Response,
    responses={200: {"content": {"text/vcard": {}}, "description": "vCard 3.0"}},
)
def download_additions(
    group_id: str, user: GroupBeheerder, services: ServicesDep, session: SessionDep
) -> Response:
    """The members to add, as a vCard 3.0 file for the beheerder's phone."""
    additions = [
        change
        for change in store.group_changes(session, services.vault, group_id)
        if change.get("telefoon")
    ]
    store.audit(
        session,
        user.actor,
        "members.vcard",
        "group",
        group_id,
        f"additions={len(additions)}",
    )
    logger.info(
        "user %d downloaded %d additions of group %s as vCard",
        user.user_id,
        len(additions),
        group_id,
    )
    return vcard_response(group_id, additions, f"{group_id}-changes.vcf")


@router.post(
    "/groups/{group_id}/changes/{change_id}/done",
    tags=["beheerders"],
    responses=CHANGE_NOT_FOUND,
)
def complete_change(
    group_id: str, change_id: RowId, user: GroupBeheerder, session: SessionDep
) -> dict[str, object]:
    """Confirm a change (the member was added to, or removed from, WhatsApp)."""
    change = store.complete_change(session, group_id, change_id, user.user_id)
    if change is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="Onbekende wijziging.")
    return change
