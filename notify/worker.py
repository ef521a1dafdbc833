"""The dispatcher: claims due messages, calls each channel's provider once per attempt, records every call.

One turn (``shoa_api.worker`` runs it every second, and again at once after a busy one) claims small batches
(:func:`notify.repository.claim_due`: ``FOR UPDATE SKIP LOCKED``, a lease, so several workers run side by side)
and sends a batch's messages concurrently. The batch's calls are written down before they are made (``pending``
attempts, one transaction for the batch) and completed after them, with each message's next state, in another;
both only where the claim is still this worker's. Between the two a crash leaves the attempts ``pending``: the
next claim marks them ``unknown``, and a message is sent again only where that cannot reach the shopper twice
(:mod:`notify.delivery`).

A provider that answers 429 with ``Retry-After`` is left alone for that long: its channels' messages are not
claimed meanwhile, so a storm of 429s slows the worker down instead of burning through retries.

Advertising to a shopper without night consent (``quiet_hours``) that comes due at night in Korea — a retry, a
fallback, a backlog running past 21:00 — goes back to the queue until 08:00, no provider called
(:mod:`notify.quiet_hours`, the rule the outbox applied when it was enqueued).

A chatbot's answer carries its extras (:class:`notify.schemas.ChatExtras`) to the messengers: quick replies on
each, and on LINE the reply token, used by the message's first call only (every later call pushes under the
retry key). A reply cannot be deduplicated: when the answer to that first call is lost, the message is in doubt
and dead-lettered, as an Instagram send would be.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import logging
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from notify import repository
from notify.delivery import may_resend_after_doubt
from notify.errors import NotifyError
from notify.models import BULK_KEY_PREFIX, AttemptOutcome, MessageStatus
from notify.providers.base import Channel, Delivery, Outcome, OutcomeKind
from notify.quiet_hours import held_until
from notify.routing import Stop
from notify.service import after_permanent_failure
from shoa_kernel.clock import utc_now

if TYPE_CHECKING:
    from collections.abc import Callable, Hashable, Mapping

    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

    from notify.delivery import Providers, RetryPolicy
    from notify.providers.base import BulkSender, MessagingProvider, Rendered
    from notify.rendering import Templates
    from notify.repository import Claim, DoubtedRequest

logger = logging.getLogger(__name__)

LONGEST_WAIT_SECONDS = 25 * 3600.0
"""The longest a provider may ask the worker to leave it alone."""
INCOMPLETE_REQUEST_WAIT = datetime.timedelta(seconds=2)
"""How long the messages of a doubted bulk request wait for the rest of it when a claim found only some."""
RUN_SECONDS = 5.0
"""One turn claims batches until none is due or this long has passed, then lets the worker's other jobs run."""
CHAT_CHANNELS = frozenset({Channel.LINE, Channel.INSTAGRAM, Channel.TALKTALK})
"""The messengers that show a chatbot answer's quick replies."""
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
        """Send until nothing is due (a fallback queued meanwhile goes out in the same turn) or ``seconds`` have
        passed, then finish the calls in flight; how many messages were claimed.

        Up to ``batch_size`` calls are in flight at a time, and kept there: whenever half of them have answered,
        as many messages are claimed as there is room for. Calls that answer together are recorded together."""
        deadline = time.monotonic() + seconds
        refill_at = max(1, self.batch_size // 2)
        calls: set[asyncio.Task[list[repository.Change]]] = set()
        total = 0
        more_due = True
        try:
            while True:
                room = self.batch_size - len(calls)
                if more_due and room >= refill_at and time.monotonic() < deadline:
                    claimed, full, started = await self._start_calls(session_maker, limit=room)
                    calls |= started
                    total += claimed
                    more_due = full
                    if not calls and more_due:
                        continue  # all of them were settled without a call: claim again
                if not calls:
                    return total
                done, calls = await asyncio.wait(calls, return_when=asyncio.FIRST_COMPLETED)
                await self._record(session_maker, [change for call in done for change in call.result()])
                more_due = True  # an outcome may have queued a fallback, due at once
        finally:
            if calls:
                # Recording failed (the database is gone): the calls end on their own, their claims run out,
                # and whoever claims the messages next finds their attempts pending and treats them as in doubt.
                await asyncio.gather(*calls, return_exceptions=True)

    async def _start_calls(
        self, session_maker: async_sessionmaker[AsyncSession], *, limit: int
    ) -> tuple[int, bool, set[asyncio.Task[list[repository.Change]]]]:
        """Claim up to ``limit`` messages (and, on channels whose provider takes many in one request, up to a
        request's worth), write down every call about to be made (one transaction, whatever their number) and
        start them: how many were claimed, whether a claim was full, and the calls, each ending in its messages'
        changes."""
        now = self._clock()
        paused = {name for name, until in self._paused_until.items() if until > now}
        skip = {channel.value for name in paused for channel in self.providers.channels_of(name)}
        bulk = {channel.value: provider for channel, provider in self.providers.bulk_channels().items()}
        bulk_limit = max((provider.bulk_limit for provider in bulk.values()), default=0)
        lease_until = now + datetime.timedelta(seconds=self.policy.lease_seconds)
        claims: list[Claim] = []
        full = False
        async with session_maker() as session, session.begin():
            if bulk and (bulk_due := set(bulk) - skip):
                claims = await repository.claim_due(
                    session, now=now, lease_until=lease_until, limit=bulk_limit, only_channels=bulk_due
                )
                full = len(claims) >= bulk_limit
                limit -= 1 if claims else 0
            if limit > 0:
                ordinary = await repository.claim_due(
                    session, now=now, lease_until=lease_until, limit=limit, skip_channels=skip | set(bulk)
                )
                full = full or len(ordinary) == limit
                claims.extend(ordinary)
        if not claims:
            return 0, False, set()
        sends, settled = self._prepare(claims, now)
        calls = self._calls(sends, settled, now)
        async with session_maker() as session, session.begin():
            if settled:
                await repository.apply_changes(session, settled)
            attempt_ids = await repository.write_intents(
                session,
                [
                    repository.Intent(
                        claim=send.claim, provider=call.provider.name, channel=send.stop.channel.value,
                        text=send.rendered.text, delivery_key=call.key,
                    )
                    for call in calls
                    for send in call.sends
                ],
                now=now,
            )  # fmt: skip
        started: set[asyncio.Task[list[repository.Change]]] = set()
        for planned in calls:
            call = planned
            if lost := [send.claim.id for send in call.sends if send.claim.id not in attempt_ids]:
                logger.info("messages %s: claims lost to another worker before sending", lost)
                if call.repeat:
                    continue  # a doubted request goes again only whole: the next claim finds it doubted again
                call = dataclasses.replace(call, sends=[s for s in call.sends if s.claim.id in attempt_ids])
                if not call.sends:
                    continue
            started.add(asyncio.create_task(self._send(call, attempt_ids, called_at=now)))
        return len(claims), full, started

    def _calls(self, sends: list[_Send], settled: list[repository.Change], now: datetime.datetime) -> list[_Call]:
        """The calls that carry ``sends``: one per message, except on a provider that takes many in one request,
        where messages of one kind go together (a fresh ``bulk:`` key per request), and the messages of a request
        whose answer was lost go again exactly as they went, under its key. Such a request found incomplete (part
        of it held by another worker, or settled meanwhile) waits a moment for the rest, and is dead-lettered in
        doubt once the provider would no longer recognise its key; added to ``settled``."""
        calls: list[_Call] = []
        together: dict[tuple[str, Hashable], list[_Send]] = {}
        repeats: dict[DoubtedRequest, list[_Send]] = {}
        bulk_channels = self.providers.bulk_channels()
        for send in sends:
            request = send.claim.doubted_request
            bulk = bulk_channels.get(send.stop.channel)
            group = bulk.bulk_group(send.rendered) if bulk is not None else None
            if request is not None:
                repeats.setdefault(request, []).append(send)
            elif send.claim.doubted_provider is None and group is not None:
                together.setdefault((send.provider.name, group), []).append(send)
            else:
                calls.append(_Call(provider=send.provider, sends=[send], key=None))
        for request, members in repeats.items():
            if {member.claim.id for member in members} == request.message_ids:
                calls.append(_Call(provider=members[0].provider, sends=members, key=request.key, repeat=True))
                continue
            for member in members:
                claim = member.claim
                if may_resend_after_doubt(
                    member.provider.name,
                    member.stop.channel,
                    doubted_provider=claim.doubted_provider or "",
                    channel_started_at=claim.channel_started_at,
                    now=now + INCOMPLETE_REQUEST_WAIT,
                ):
                    values = {"status": MessageStatus.QUEUED.value, "next_attempt_at": now + INCOMPLETE_REQUEST_WAIT}
                else:
                    logger.warning("message %s: dead-lettered in doubt, its lost request never whole again", claim.id)
                    error = IN_DOUBT.format(provider=claim.doubted_provider)
                    values = {"status": MessageStatus.DEAD.value, "last_error": error}
                settled.append(
                    repository.Change(claim=claim, message={**values, "claim_token": None, "updated_at": now})
                )
        for members in together.values():
            provider = members[0].provider
            size = cast("BulkSender", provider).bulk_limit
            for first in range(0, len(members), size):
                chunk = members[first : first + size]
                # A lone message keeps its own key, as every single call does.
                key = f"{BULK_KEY_PREFIX}{uuid.uuid4()}" if len(chunk) > 1 else None
                calls.append(_Call(provider=provider, sends=chunk, key=key))
        return calls

    async def _send(
        self, call: _Call, attempt_ids: Mapping[uuid.UUID, int], *, called_at: datetime.datetime
    ) -> list[repository.Change]:
        """Make the call; the changes that record its outcomes and its messages' next states."""
        deliveries = [
            Delivery(
                message_id=send.claim.id,
                idempotency_key=send.claim.delivery_key,
                rendered=send.rendered,
                attempt=send.claim.channel_attempts + 1,
            )
            for send in call.sends
        ]
        started = time.perf_counter()
        outcomes = await self._call(call, deliveries)
        latency_ms = round((time.perf_counter() - started) * 1000)
        changes = [
            repository.Change(
                claim=send.claim,
                message={**self._next_state(send, outcome, called_at=called_at), "claim_token": None},
                attempt_id=attempt_ids[send.claim.id],
                attempt=_attempt_values(outcome, latency_ms),
            )
            for send, outcome in zip(call.sends, outcomes, strict=True)
        ]
        if call.key is not None and call.key.startswith(BULK_KEY_PREFIX):
            changes = _due_together(changes)
        return changes

    async def _record(self, session_maker: async_sessionmaker[AsyncSession], changes: list[repository.Change]) -> None:
        async with session_maker() as session, session.begin():
            still_ours = await repository.apply_changes(session, changes)
        for change in changes:
            if change.claim.id not in still_ours:
                logger.warning(
                    "message %s: claim ran out during the call; its answer is kept on the attempt", change.claim.id
                )

    def _prepare(self, claims: list[Claim], now: datetime.datetime) -> tuple[list[_Send], list[repository.Change]]:
        """The claims to send now, rendered for their channel; and the changes of those that will not be sent
        (in doubt where a resend could reach the shopper twice, advertising at night, a provider asked us to
        wait, a template that no longer renders)."""
        sends: list[_Send] = []
        settled: list[repository.Change] = []

        def settle(claim: Claim, values: dict[str, Any]) -> None:
            settled.append(repository.Change(claim=claim, message={**values, "claim_token": None, "updated_at": now}))

        for claim in claims:
            stop = Stop.from_json(claim.route[0])
            provider = self.providers.for_channel(stop.channel)
            if claim.doubted_provider is not None and (
                _replied_in_doubt(provider.name, claim, stop.channel)
                or not may_resend_after_doubt(
                    provider.name,
                    stop.channel,
                    doubted_provider=claim.doubted_provider,
                    channel_started_at=claim.channel_started_at,
                    now=now,
                )
            ):
                logger.warning("message %s: dead-lettered in doubt after a lost answer", claim.id)
                error = IN_DOUBT.format(provider=claim.doubted_provider)
                settle(claim, {"status": MessageStatus.DEAD.value, "last_error": error})
                continue
            if claim.quiet_hours and (morning := held_until(now)) is not None:
                logger.info("message %s: advertising held until 08:00 Korea time", claim.id)
                settle(claim, {"status": MessageStatus.QUEUED.value, "next_attempt_at": morning})
                continue
            if (until := self._paused_until.get(provider.name)) is not None and until > now:
                settle(claim, {"status": MessageStatus.QUEUED.value, "next_attempt_at": until})
                continue
            try:
                rendered = self.templates.render(
                    claim.event,
                    locale=claim.locale,  # type: ignore[arg-type]
                    parameters=claim.parameters,
                    channel=stop.channel,
                    address=stop.address,
                )
            except (KeyError, NotifyError) as exc:
                # A template changed under a queued message (an event removed, a variable added): it cannot be
                # sent as it was enqueued, and trying again would not change that.
                error = f"its template no longer renders with the parameters it was enqueued with ({exc!r})"
                logger.error("message %s: %s", claim.id, error)
                settle(claim, {"status": MessageStatus.FAILED.value, "last_error": error})
                continue
            rendered = _with_chat(rendered, claim, stop.channel)
            sends.append(_Send(claim=claim, provider=provider, stop=stop, rendered=rendered))
        return sends, settled

    async def _call(self, call: _Call, deliveries: list[Delivery]) -> list[Outcome | None]:
        """The provider's outcome for each delivery; None when the adapter raised or hung (its request may have
        gone out)."""
        provider = call.provider
        try:
            async with asyncio.timeout(self.policy.lease_seconds / 2):
                if call.key is None:
                    return [await provider.send(deliveries[0])]
                return list(await cast("BulkSender", provider).send_many(deliveries, idempotency_key=call.key))
        except Exception:
            logger.exception("messages %s: the %s adapter failed", [d.message_id for d in deliveries], provider.name)
            return [None] * len(deliveries)

    def _next_state(self, send: _Send, outcome: Outcome | None, *, called_at: datetime.datetime) -> dict[str, Any]:
        """The message's next state after a call made at ``called_at``: accepted, on to its next channel, tried
        again later, or dead."""
        claim, provider, stop = send.claim, send.provider.name, send.stop
        channel_started_at = claim.channel_started_at or called_at
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
        # Whatever an adapter computed (NHN's daily volume waits for midnight in Korea), never past a day and
        # an hour: a wait beyond is a bug, and would overflow the clock at worst.
        retry_after = min(outcome.retry_after, LONGEST_WAIT_SECONDS) if outcome and outcome.retry_after else None
        if retry_after:
            self._paused_until[provider] = max(
                self._paused_until.get(provider, now), now + datetime.timedelta(seconds=retry_after)
            )
        doubt: dict[str, Any] = {}
        if outcome is None or outcome.delivery_unknown:
            # The request may have gone through: only a provider that deduplicates may see it again.
            doubt = {"doubted_provider": provider}
            # A first call with a reply token went by LINE's reply API, which no push can be matched to.
            if (provider == "line" and send.rendered.reply_token is not None) or not may_resend_after_doubt(
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


@dataclass(frozen=True, kw_only=True)
class _Send:
    claim: Claim
    provider: MessagingProvider
    stop: Stop
    rendered: Rendered


@dataclass(frozen=True, kw_only=True)
class _Call:
    """One request to a provider: a message under its own key (``key`` None), or many under a request's key."""

    provider: MessagingProvider
    sends: list[_Send]
    key: str | None
    repeat: bool = False
    """The same request again, after its answer was lost."""


def _due_together(changes: list[repository.Change]) -> list[repository.Change]:
    """A bulk request's messages in doubt come due again at one moment (the latest of their back-offs): the
    request can only be repeated whole, so they must be claimed together."""
    doubted = {id(c) for c in changes if c.message.get("doubted_provider") and "next_attempt_at" in c.message}
    if not doubted:
        return changes
    due = max(change.message["next_attempt_at"] for change in changes if id(change) in doubted)
    return [
        dataclasses.replace(change, message={**change.message, "next_attempt_at": due})
        if id(change) in doubted
        else change
        for change in changes
    ]


def _with_chat(rendered: Rendered, claim: Claim, channel: Channel) -> Rendered:
    """``rendered`` with the chat extras its channel carries: the quick replies on every messenger, and LINE's
    reply token only on the message's first call (a token is single-use and short-lived; a retry pushes)."""
    if not claim.chat or channel not in CHAT_CHANNELS:
        return rendered
    token = claim.chat.get("reply_token") if channel is Channel.LINE and claim.attempts == 0 else None
    return dataclasses.replace(rendered, reply_token=token, quick_replies=tuple(claim.chat.get("quick_replies") or ()))


def _replied_in_doubt(provider: str, claim: Claim, channel: Channel) -> bool:
    """Whether the call whose answer was lost was the message's first and only one, made with LINE's reply
    token: LINE cannot match a reply to a later push, so sending again could show the answer twice."""
    reply_token = claim.chat.get("reply_token") if claim.chat else None
    return provider == "line" and channel is Channel.LINE and claim.attempts == 1 and reply_token is not None


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
