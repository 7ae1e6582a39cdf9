"""Exceptions raised by the library; each is a ``ValueError`` a caller can catch."""

from __future__ import annotations


class BuurtgroepenError(ValueError):
    """Base class of every error this library raises on bad input."""


class AddressError(BuurtgroepenError):
    """A postcode or house number that does not follow the BAG rules."""

    def __init__(self, field: str, message: str, *, row: int | None = None) -> None:
        self.field = field
        self.row = row
        self.reason = message
        super().__init__(message if row is None else f"row {row}: {message}")


class InputFileError(BuurtgroepenError):
    """A file that cannot be read as the data contract requires."""

    def __init__(
        self,
        path: object,
        message: str,
        *,
        row: int | None = None,
        field: str | None = None,
    ) -> None:
        self.path = str(path)
        self.row = row
        self.field = field
        where = self.path
        if row is not None:
            where += f", row {row}"
        if field is not None:
            where += f", field `{field}`"
        super().__init__(f"{where}: {message}")


class InfeasibleError(BuurtgroepenError):
    """A partition request that no assignment can satisfy (cap, minimum size)."""


class CRSError(BuurtgroepenError):
    """Geometry without a declared coordinate reference system."""
