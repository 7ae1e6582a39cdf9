"""Logging helpers shared by the library and the service."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def quiet(log: logging.Logger) -> Iterator[None]:
    """Silence ``log`` below ERROR for the duration of the block.

    For callers that report a step in their own words (one line per
    municipality, one per Locatieserver batch) instead of the library's.
    """
    level = log.level
    log.setLevel(logging.ERROR)
    try:
        yield
    finally:
        log.setLevel(level)
