"""HTTP routes of the service, and the response schemas they share."""

from __future__ import annotations

from pydantic import BaseModel, Field


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


ERROR_RESPONSES: dict[int | str, dict[str, object]] = {
    422: {"model": ValidationErrorOut, "description": "Refused fields"},
}
AUTH_RESPONSES: dict[int | str, dict[str, object]] = {
    401: {"model": MessageOut, "description": "No token or an unknown token"},
    403: {"model": MessageOut, "description": "The token has no access here"},
    **ERROR_RESPONSES,
}
