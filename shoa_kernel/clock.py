"""The one clock: timezone-aware UTC, as every table stores it and every API answer shows it."""

from __future__ import annotations

import datetime


def utc_now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)
