"""What the adapters share about an HTTP exchange that went wrong.

An exchange that never produced an answer is transient for every provider, but what a retry risks differs: when
the connection was never made the provider cannot have taken the message, while after a read timeout or a
dropped connection it may have. The outcome's detail says which, and whether the provider deduplicates a retry,
so that an operator reading the attempts (and the worker's crash rules) know what a second attempt means.
"""

from __future__ import annotations

import email.utils
import math
from datetime import UTC, datetime

import httpx

from notify.providers.base import Outcome, OutcomeKind

LONGEST_RETRY_AFTER = 3600.0
"""A ``Retry-After`` asking for more than an hour is read as an hour: no provider documents a longer rate-limit
wait, and a broken header (a century) must not pause a provider, and its messages, for ever."""
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol)
"""Failures before a byte of the request reached the provider."""


def exchange_failed(provider: str, error: httpx.TransportError, *, deduplicated: bool) -> Outcome:
    """The outcome of a request that got no answer (timeout, refused or dropped connection)."""
    name = type(error).__name__
    if isinstance(error, _NOT_SENT):
        detail = f"{name}: the request never reached the provider; nothing was sent"
    elif deduplicated:
        detail = f"{name}: no answer; the provider may have taken the message, and deduplicates the retry"
    else:
        detail = f"{name}: no answer; the provider may have taken the message and cannot deduplicate a retry"
    # The worker resends a message in doubt only where the provider deduplicates (notify.delivery).
    unknown = not isinstance(error, _NOT_SENT)
    return Outcome(kind=OutcomeKind.TRANSIENT, provider=provider, detail=detail, delivery_unknown=unknown)


def retry_after_seconds(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delay-seconds or an HTTP date, RFC 9110 §10.2.3)."""
    if not value or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    if not math.isfinite(seconds):
        return None
    return min(max(seconds, 0.0), LONGEST_RETRY_AFTER)
