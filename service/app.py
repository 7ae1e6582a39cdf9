"""The FastAPI application. For now it reports health; intake comes next."""

from __future__ import annotations

from fastapi import FastAPI

import partition

app = FastAPI(
    title="buurtgroepen",
    version=partition.__version__,
    summary="Neighbourhood-watch WhatsApp groups: registrations, groups, coverage.",
)


@app.get("/health")
def read_health() -> dict[str, str]:
    """Report that the service is up, with its version."""
    return {"status": "ok", "version": partition.__version__}
