"""The metadata of every domain's tables, for Alembic and for the test that compares models with migrations."""

from __future__ import annotations

from advanced_alchemy.base import orm_registry

import catalog.models  # noqa: F401 - registers the catalog tables
import personalization.models  # noqa: F401 - registers the personalization tables
import shoa_api.accounts.models  # noqa: F401 - registers the account tables

target_metadata = orm_registry.metadata
