"""Authorisation matrix: every endpoint x every kind of caller, on both backends."""

from __future__ import annotations

from sqlalchemy import select

from service import store
from service.models import AuditEntry
from tests.service.helpers_service import bearer, registration_body

pytest_plugins = ["tests.service.fixtures_service"]

CALLERS = ("anonymous", "steering", "beheerder", "other_beheerder", "resident")

# (method, path, expected status per caller in CALLERS order); {g} is the
# beheerder's group, {t} an open task of it
MATRIX = [
    ("GET", "/health", (200, 200, 200, 200, 200)),
    ("GET", "/aanmelden", (200, 200, 200, 200, 200)),
    ("GET", "/afmelden", (200, 200, 200, 200, 200)),
    ("GET", "/privacy", (200, 200, 200, 200, 200)),
    ("POST", "/registrations", (201, 201, 201, 201, 201)),
    ("GET", "/registrations/me", (401, 403, 403, 403, 200)),
    ("POST", "/registrations/me/leave", (401, 403, 403, 403, 200)),
    ("DELETE", "/registrations/me", (401, 403, 403, 403, 200)),
    ("GET", "/groups", (401, 200, 200, 200, 403)),
    ("GET", "/stats", (401, 200, 403, 403, 403)),
    ("GET", "/groups/{g}/members", (401, 403, 200, 403, 403)),
    ("GET", "/groups/{g}/members.vcf", (401, 403, 200, 403, 403)),
    ("GET", "/groups/{g}/welcome", (401, 200, 200, 403, 403)),
    ("GET", "/groups/{g}/tasks", (401, 403, 200, 403, 403)),
    ("POST", "/groups/{g}/tasks/{t}/done", (401, 403, 200, 403, 403)),
]


def test_every_endpoint_answers_every_caller_as_the_matrix_says(seeded, book):
    client = seeded.client
    group, other = seeded.groups[0], seeded.groups[1]
    in_group = seeded.in_group(group)
    # a task to complete: a resident of the group leaves
    client.post("/registrations/me/leave", headers=bearer(in_group[-1]["token"]))
    (task,) = client.get(
        f"/groups/{group}/tasks", headers=bearer(seeded.beheerders[group])
    ).json()
    tokens = {
        "anonymous": None,
        "steering": seeded.steering,
        "beheerder": seeded.beheerders[group],
        "other_beheerder": seeded.beheerders[other],
    }
    # leaving and erasing change state, so those rows get a resident each
    resident = in_group[0]["token"]
    fresh = iter(r["token"] for r in seeded.in_group(other))
    mutating = ("/registrations/me/leave", "DELETE")
    free_rows = iter(
        row
        for row in book.register.drop(columns="geometry").to_dict("records")
        if row["gebruiksdoel"] == "woonfunctie"
        and row["address_key"]
        not in {r["row"]["address_key"] for r in seeded.residents}
    )

    wrong = []
    reads = 0
    for method, template, expected in MATRIX:
        path = template.format(g=group, t=task["task_id"])
        for n, (caller, status) in enumerate(zip(CALLERS, expected, strict=True)):
            token = tokens.get(caller)
            if caller == "resident":
                changes = path in mutating or method in mutating
                token = next(fresh) if changes else resident
            headers = bearer(token) if token else {}
            body = None
            if method == "POST" and path == "/registrations":
                body = registration_body(next(free_rows), 700 + n)
            response = client.request(method, path, headers=headers, json=body)
            if response.status_code != status:
                wrong.append((method, path, caller, status, response.status_code))
            if response.status_code == 401:
                assert response.headers["www-authenticate"] == "Bearer"
            if caller == "steering":
                assert "+316" not in response.text, path
            reads += response.status_code == 200 and "/members" in path

    assert wrong == []
    # every successful read of a member list is in the audit log, no more
    with seeded.services.sessions() as session:
        logged = session.scalars(
            select(AuditEntry).where(
                AuditEntry.action.in_(("members.read", "members.vcard"))
            )
        ).all()
        beheerder = store.authenticate_user(session, seeded.beheerders[group])
    assert len(logged) == reads == 2
    assert {entry.actor for entry in logged} == {f"user:{beheerder.user_id}"}


def test_unknown_malformed_and_revoked_tokens_are_401(seeded):
    client = seeded.client
    group = seeded.groups[0]
    path = f"/groups/{group}/members"
    with seeded.services.sessions() as session, session.begin():
        user_id, token = store.add_user(session, "beheerder", group, None)
        store.revoke_user(session, user_id)

    answers = [
        client.get(path, headers=bearer("x" * 43)).status_code,
        client.get(path, headers={"Authorization": "Basic dXNlcjpwYXNz"}).status_code,
        client.get(path, headers={"Authorization": "Bearer"}).status_code,
        client.get(path, headers=bearer(token)).status_code,
    ]

    assert answers == [401, 401, 401, 401]


def test_a_beheerder_sees_only_their_own_group_in_the_overview(seeded):
    group = seeded.groups[2]

    overview = seeded.client.get("/groups", headers=bearer(seeded.beheerders[group]))

    assert [g["group_id"] for g in overview.json()] == [group]
