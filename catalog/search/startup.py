"""Which engine serves searches, made ready when the API starts."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from catalog.search.postgres import PostgresSearch

if TYPE_CHECKING:
    import httpx

    from catalog.search.engine import SearchEngine
    from shoa_api.settings import Settings

logger = logging.getLogger(__name__)


async def start_search_engine(settings: Settings, http: httpx.AsyncClient) -> SearchEngine:
    return PostgresSearch()
