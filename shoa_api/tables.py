"""Every domain's tables in one metadata: what Alembic compares the migrations with (``shoa_api.migrate`` hands it
to the Alembic environment), and what the tests empty between tests."""

from __future__ import annotations

from advanced_alchemy.base import orm_registry

import accounts.models  # noqa: F401 - registers the account tables
import catalog.models  # noqa: F401 - registers the catalog tables
import insights.models  # noqa: F401 - registers the event store and its aggregates
import notify.models  # noqa: F401 - registers the messaging tables
import orders.models  # noqa: F401 - registers the order tables
import personalization.models  # noqa: F401 - registers the personalization tables
import support.models  # noqa: F401 - registers the chatbot tables

target_metadata = orm_registry.metadata
