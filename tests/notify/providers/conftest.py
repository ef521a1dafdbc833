"""What every adapter test shares: no database or Redis, and one HTTP client with a short read timeout (so that a
provider that holds its answer shows as a lost answer within half a second)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx
import pytest

if TYPE_CHECKING:
    from collections.abc import AsyncIterator


@pytest.fixture(autouse=True)
def clean_state() -> None:
    """These tests need no database or Redis: the suite's reset is replaced by nothing."""


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=httpx.Timeout(5.0, read=0.5)) as client:
        yield client
