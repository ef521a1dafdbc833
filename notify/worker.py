"""The dispatcher: claims due messages, calls each channel's provider once per attempt, records every call.

One turn (``shoa_api.worker`` runs it every second) claims small batches (:func:`notify.repository.claim_due`:
``FOR UPDATE SKIP LOCKED``, a lease, so several workers run side by side) and sends a batch's messages
concurrently. Each call is written down before it is made (a ``pending`` attempt, in its own transaction) and
completed after it, with the message's next state, in another; both only while the claim is still this
worker's. Between the two a crash leaves the attempt ``pending``: the next claim marks it ``unknown``, and the
message is sent again only where that cannot reach the shopper twice (:mod:`notify.delivery`).

A provider that answers 429 with ``Retry-After`` is left alone for that long: its channels' messages are not
claimed meanwhile, so a storm of 429s slows the worker down instead of burning through retries.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import time
from typing import TYPE_CHECKING, Any

from notify import repository
from notify.delivery import may_resend_after_doubt
from notify.errors import NotifyError
from notify.models import AttemptOutcome, MessageStatus
from notify.providers.base import Delivery, Outcome, OutcomeKind
from notify.routing import Stop
from notify.service import after_permanent_failure
from shoa_kernel.clock import utc_now

if TYPE_CHECKING:
    from collections.abc import Callable

    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

    from notify.delivery import Providers, RetryPolicy
    from notify.providers.base import MessagingProvider
    from notify.rendering import Templates
    from notify.repository import Claim

logger = logging.getLogger(__name__)

RUN_SECONDS = 5.0
"""One turn claims batches until none is due or this long has passed, then lets the worker's other jobs run."""
IN_DOUBT = (
    "in doubt: a call to {provider} may have reached it before its answer was lost, and {provider} cannot tell a "
    "repeat from a new message; check its console before `shoa messages retry`"
)


class Dispatcher:
    """Sends the outbox's due messages. One per worker process: it remembers which providers asked it to wait."""

    def __init__(
        self,
        *,
        templates: Templates,
        providers: Providers,
        policy: RetryPolicy,
        batch_size: int = 10,
        clock: Callable[[], datetime.datetime] = utc_now,
    ) -> None:
        self.templates = templates
        self.providers = providers
        self.policy = policy
        self.batch_size = batch_size
        self._clock = clock
        self._paused_until: dict[str, datetime.datetime] = {}

    async def run(self, session_maker: async_sessionmaker[AsyncSession], *, seconds: float = RUN_SECONDS) -> int:
        """Send batches until none is due (a fallback queued meanwhile goes out in the same turn) or ``seconds``
        have passed; how many were claimed."""
        deadline = time.monotonic() + seconds
        total = 0
        while True:
            claimed = await self.dispatch_batch(session_maker)
            total += claimed
            if not claimed or time.monotonic() >= deadline:
                return total

    async def dispatch_batch(self, session_maker: async_sessionmaker[AsyncSession]) -> int:
        now = self._clock()
        paused = {name for name, until in self._paused_until.items() if until > now}
        skip = {channel.value for name in paused for channel in self.providers.channels_of(name)}
        lease_until = now + datetime.timedelta(seconds=self.policy.lease_seconds)
        async with session_maker() as session, session.begin():
            claims = await repository.claim_due(
                session, now=now, lease_until=lease_until, limit=self.batch_size, skip_channels=skip
            )
        results = await asyncio.gather(
            *(self._deliver(session_maker, claim) for claim in claims), return_exceptions=True
        )
        for claim, result in zip(claims, results, strict=True):
            if isinstance(result, BaseException):
                # The database failed while recording: the claim runs out and the next worker takes it over.
                logger.error("message %s: not recorded (%s)", claim.id, result, exc_info=result)
        return len(claims)

    async def _deliver(self, session_maker: async_sessionmaker[AsyncSession], claim: Claim) -> None:
        stop = Stop.from_json(claim.route[0])
        provider = self.providers.for_channel(stop.channel)
        now = self._clock()
        if claim.doubted_provider is not None and not may_resend_after_doubt(
            provider.name,
            stop.channel,
            doubted_provider=claim.doubted_provider,
            channel_started_at=claim.channel_started_at,
            now=now,
        ):
            logger.warning("message %s: dead-lettered in doubt after a lost answer", claim.id)
            error = IN_DOUBT.format(provider=claim.doubted_provider)
            await self._update(session_maker, claim, {"status": MessageStatus.DEAD.value, "last_error": error})
            return
        if (until := self._paused_until.get(provider.name)) is not None and until > now:
            await self._update(session_maker, claim, {"status": MessageStatus.QUEUED.value, "next_attempt_at": until})
            return
        try:
            rendered = self.templates.render(
                claim.event,
                locale=claim.locale,  # type: ignore[arg-type]
                parameters=claim.parameters,
                channel=stop.channel,
                address=stop.address,
            )
        except (KeyError, NotifyError) as exc:
            # A template changed under a queued message (an event removed, a variable added): it cannot be sent
            # as it was enqueued, and trying again would not change that.
            error = f"its template no longer renders with the parameters it was enqueued with ({exc!r})"
            logger.error("message %s: %s", claim.id, error)
            await self._update(session_maker, claim, {"status": MessageStatus.FAILED.value, "last_error": error})
            return
        async with session_maker() as session, session.begin():
            attempt_id = await repository.write_intent(
                session, claim, provider=provider.name, channel=stop.channel.value, text=rendered.text, now=now
            )
        if attempt_id is None:
            logger.info("message %s: claim lost to another worker before sending", claim.id)
            return
        delivery = Delivery(
            message_id=claim.id,
            idempotency_key=claim.delivery_key,
            rendered=rendered,
            attempt=claim.channel_attempts + 1,
        )
        started = time.perf_counter()
        outcome = await self._call(provider, delivery)
        latency_ms = round((time.perf_counter() - started) * 1000)
        channel_started_at = claim.channel_started_at or now
        async with session_maker() as session, session.begin():
            changes = self._next_state(claim, provider.name, stop, outcome, channel_started_at=channel_started_at)
            attempt = _attempt_values(outcome, latency_ms)
            if not await repository.complete_claimed(
                session, claim, attempt_id, attempt, {**changes, "claim_token": None}
            ):
                logger.warning("message %s: claim ran out during the call; its answer is kept on the attempt", claim.id)

    async def _call(self, provider: MessagingProvider, delivery: Delivery) -> Outcome | None:
        """The provider's outcome; None when the adapter raised or hung (its request may have gone out)."""
        try:
            async with asyncio.timeout(self.policy.lease_seconds / 2):
                return await provider.send(delivery)
        except Exception:
            logger.exception("message %s: the %s adapter failed", delivery.message_id, provider.name)
            return None

    def _next_state(
        self, claim: Claim, provider: str, stop: Stop, outcome: Outcome | None, *, channel_started_at: datetime.datetime
    ) -> dict[str, Any]:
        now = self._clock()
        attempts = claim.channel_attempts + 1
        if outcome is not None and outcome.kind is OutcomeKind.ACCEPTED:
            return {
                "status": MessageStatus.ACCEPTED.value,
                "provider_message_id": outcome.provider_message_id,
                "accepted_at": now,
                "doubted_provider": None,
                "last_error": None,
                "updated_at": now,
            }
        if outcome is not None and outcome.kind is OutcomeKind.PERMANENT:
            return after_permanent_failure(
                self.templates,
                idempotency_key=claim.idempotency_key,
                event=claim.event,
                locale=claim.locale,  # type: ignore[arg-type]
                parameters=claim.parameters,
                route=claim.route,
                error=_describe(outcome),
                now=now,
            )
        retry_after = outcome.retry_after if outcome is not None else None
        if retry_after:
            self._paused_until[provider] = max(
                self._paused_until.get(provider, now), now + datetime.timedelta(seconds=retry_after)
            )
        doubt: dict[str, Any] = {}
        if outcome is None or outcome.delivery_unknown:
            # The request may have gone through: only a provider that deduplicates may see it again.
            doubt = {"doubted_provider": provider}
            if not may_resend_after_doubt(
                provider, stop.channel, doubted_provider=provider, channel_started_at=channel_started_at, now=now
            ):
                logger.warning("message %s: dead-lettered in doubt after a lost answer", claim.id)
                return {"status": MessageStatus.DEAD.value, "last_error": IN_DOUBT.format(provider=provider), **doubt}
        error = _describe(outcome) if outcome is not None else f"the {provider} adapter failed"
        if attempts >= self.policy.max_attempts:
            logger.warning("message %s: dead-lettered after %d attempts on %s", claim.id, attempts, provider)
            return {
                "status": MessageStatus.DEAD.value,
                "last_error": f"gave up after {attempts} attempts: {error}",
                **doubt,
            }
        delay = self.policy.delay(attempts, retry_after=retry_after)
        return {
            "status": MessageStatus.QUEUED.value,
            "next_attempt_at": now + datetime.timedelta(seconds=delay),
            "last_error": error,
            "updated_at": now,
            **doubt,
        }

    async def _update(
        self, session_maker: async_sessionmaker[AsyncSession], claim: Claim, values: dict[str, Any]
    ) -> None:
        async with session_maker() as session, session.begin():
            await repository.update_claimed(
                session, claim, {**values, "claim_token": None, "updated_at": self._clock()}
            )


def _attempt_values(outcome: Outcome | None, latency_ms: int) -> dict[str, Any]:
    if outcome is None:
        return {"outcome": AttemptOutcome.UNKNOWN.value, "latency_ms": latency_ms, "detail": "the adapter raised"}
    return {
        "outcome": AttemptOutcome(outcome.kind.value).value,
        "http_status": outcome.http_status,
        "result_code": (outcome.result_code or None) and outcome.result_code[:64],
        "latency_ms": latency_ms,
        "provider_message_id": outcome.provider_message_id,
        "detail": outcome.detail[:500],
    }


def _describe(outcome: Outcome) -> str:
    parts = [outcome.provider, outcome.kind.value]
    if outcome.http_status is not None:
        parts.append(f"HTTP {outcome.http_status}")
    if outcome.result_code:
        parts.append(f"code {outcome.result_code}")
    text = " ".join(parts)
    return f"{text}: {outcome.detail}"[:500] if outcome.detail else text
