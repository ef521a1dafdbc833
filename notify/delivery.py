"""The rules of delivery: which provider serves each channel, when to try again, and when a resend is safe.

- **Retries.** A transient failure (timeout, connection refused, 5xx, 429) is tried again after an exponential
  back-off with jitter, never sooner than the provider's ``Retry-After``, up to ``max_attempts`` calls on one
  channel; then the message is dead-lettered.
- **Resending after doubt.** A call whose answer was lost (the worker died before recording it, or the adapter
  raised) may have reached the provider. It is sent again only to a provider that deduplicates on the delivery's
  idempotency key, and only inside the window in which it does (:data:`DEDUPLICATION_WINDOWS`); anywhere else
  the message is dead-lettered as *in doubt*, never sent a second time blindly. See
  docs/decisions/0031-notify-delivery-guarantees.md.
"""

from __future__ import annotations

import datetime
import random
from dataclasses import dataclass
from typing import TYPE_CHECKING

from notify.errors import ProviderNotFoundError
from notify.providers.base import BulkSender, Channel

if TYPE_CHECKING:
    from collections.abc import Mapping

    from notify.providers.base import MessagingProvider

DEDUPLICATION_WINDOWS: Mapping[tuple[str, Channel], datetime.timedelta] = {
    # X-NC-API-IDEMPOTENCY-KEY (AlimTalk only; NHN's SMS API has none): the same key within 10 minutes is refused
    # with -1005 instead of sent.
    ("nhn", Channel.ALIMTALK): datetime.timedelta(minutes=9),
    # X-Line-Retry-Key: valid for 24 hours after the first request; a retry after an acceptance answers 409.
    ("line", Channel.LINE): datetime.timedelta(hours=23),
    # The sandbox keeps every delivery key it ever took.
    **{("sandbox", channel): datetime.timedelta(days=3650) for channel in Channel},
}
"""How long after the first call on a channel each provider still recognises the delivery's idempotency key,
with a margin for clocks. Everything else (NHN's SMS, Solapi, Instagram, TalkTalk) cannot deduplicate."""


@dataclass(frozen=True, kw_only=True)
class RetryPolicy:
    max_attempts: int = 8
    """Calls on one channel before a message is dead-lettered."""
    base_seconds: float = 2.0
    """The first retry's delay; each next one doubles it."""
    max_seconds: float = 600.0
    lease_seconds: float = 60.0
    """How long a claim lasts: longer than any call (the HTTP timeouts), so that only a dead worker's expires."""

    def delay(self, attempts: int, *, retry_after: float | None = None, rng: random.Random | None = None) -> float:
        """Seconds before the next call, after ``attempts`` calls on the channel: half the doubled delay plus a
        random part of the other half (so that messages failed together do not come back together), never
        shorter than ``retry_after``."""
        ceiling = min(self.max_seconds, self.base_seconds * 2.0 ** max(attempts - 1, 0))
        spread = rng.uniform(0, ceiling / 2) if rng else random.uniform(0, ceiling / 2)  # noqa: S311 - no secret
        return max(ceiling / 2 + spread, retry_after or 0.0)


def may_resend_after_doubt(
    provider: str,
    channel: Channel,
    *,
    doubted_provider: str,
    channel_started_at: datetime.datetime | None,
    now: datetime.datetime,
) -> bool:
    """Whether a call whose answer was lost may be repeated: on the same provider, which deduplicates that
    channel, still inside its window counted from the channel's first call."""
    window = DEDUPLICATION_WINDOWS.get((provider, channel))
    if window is None or provider != doubted_provider or channel_started_at is None:
        return False
    return now - channel_started_at < window


class Providers:
    """The provider configured for each channel (one may serve several: NHN Cloud and Solapi both send AlimTalk
    and SMS; the sandbox sends everything)."""

    def __init__(self, by_channel: Mapping[Channel, MessagingProvider]) -> None:
        self._by_channel = dict(by_channel)

    def for_channel(self, channel: Channel) -> MessagingProvider:
        return self._by_channel[channel]

    def named(self, name: str) -> MessagingProvider:
        """The configured provider called ``name``; an unknown or unconfigured one is not found (404)."""
        for provider in self._by_channel.values():
            if provider.name == name:
                return provider
        msg = f"no messaging provider called {name!r} is configured here"
        raise ProviderNotFoundError(msg)

    def bulk_channels(self) -> dict[Channel, BulkSender]:
        """The channels whose provider takes many messages in one request, with that provider."""
        return {
            channel: provider
            for channel, provider in self._by_channel.items()
            if isinstance(provider, BulkSender) and provider.bulk_limit > 1
        }

    def channels_of(self, provider: str) -> frozenset[Channel]:
        return frozenset(channel for channel, configured in self._by_channel.items() if configured.name == provider)
