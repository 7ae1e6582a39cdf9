"""HTTP routes of the service, and the response schemas they share."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Annotated

from fastapi import Path, Response
from pydantic import BaseModel, Field

from service import vcard


class FieldErrorOut(BaseModel):
    """One refused field: a stable machine code and a Dutch message."""

    field: str = Field(examples=["postcode"])
    code: str = Field(examples=["postcode_invalid"])
    message: str = Field(
        examples=["Dit is geen geldige postcode. Een postcode heeft 4 cijfers ..."]
    )


class ValidationErrorOut(BaseModel):
    """The body of every 422 response of the service."""

    detail: list[FieldErrorOut]


class MessageOut(BaseModel):
    """The body of 401, 403 and 404 responses."""

    detail: str


RowId = Annotated[int, Path(ge=1, le=2**31 - 1, description="A row id from a list.")]
"""A task or change id in a path: a positive id that fits every database's integer
column, so an absurd number is a 422 instead of an overflow in the database."""

ERROR_RESPONSES: dict[int | str, dict[str, object]] = {
    422: {"model": ValidationErrorOut, "description": "Refused fields"},
}
AUTH_RESPONSES: dict[int | str, dict[str, object]] = {
    401: {"model": MessageOut, "description": "No token or an unknown token"},
    403: {"model": MessageOut, "description": "The token has no access here"},
    **ERROR_RESPONSES,
}


def vcard_response(
    group_id: str, members: Iterable[Mapping[str, object]], filename: str
) -> Response:
    """A vCard 3.0 download of ``members`` of ``group_id`` for a beheerder's phone."""
    return Response(
        vcard.members_vcard(group_id, members),
        media_type="text/vcard; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
