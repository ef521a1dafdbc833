"""The logged-in shopper's consents to advertising, per channel, apart from the order messages' consents of
``/v1/me``: see :mod:`accounts.marketing` for what the law asks of them. Every change is confirmed to the shopper
by message, with its time (정보통신망법 제50조 제7항; :func:`winback.consents.consent_changed`)."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, delete, get, put
from litestar.di import NamedDependency
from litestar.params import PathParameter
from litestar.status_codes import HTTP_200_OK
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from accounts import marketing
from accounts.errors import NightConsentWithoutMediumError, TooManyConsentChangesError, UnknownMarketingChannelError
from accounts.models import MARKETING_CHANNELS
from accounts.schemas import MarketingConsents
from accounts.tokens import AccessClaims
from shoa_api.openapi import problems
from shoa_api.ratelimit import Limit, RateLimiter
from shoa_api.settings import Settings
from shoa_kernel.clock import utc_now
from winback.consents import consent_changed
from winback.jobs import WinbackKit

_UNKNOWN_CHANNEL = UnknownMarketingChannelError(
    "AlimTalk carries order information only, never advertising; the marketing channels are sms, line, talktalk "
    "and instagram, and night (21:00-08:00 Korea time) beside one of them"
)
ChannelName = Annotated[
    str,
    PathParameter(
        description="`sms`, `line`, `talktalk`, `instagram`, or `night` (21:00-08:00 Korea time, beside one of them); "
        "any other, `alimtalk` included, is a 422 naming them.",
        schema_extra={"enum": list(MARKETING_CHANNELS)},
    ),
]


class MarketingController(Controller):
    path = "/v1/me/marketing"
    tags = ["account"]  # noqa: RUF012 - Litestar reads it as a class attribute

    @get(operation_id="get_my_marketing_consents", summary="My consents to advertising, and where it can reach me")
    async def get_consents(
        self, db_read: NamedDependency[AsyncSession], shopper: NamedDependency[AccessClaims]
    ) -> MarketingConsents:
        return await marketing.marketing_consents(db_read, shopper.user_id, now=utc_now())

    @put(
        "/{channel:str}",
        operation_id="grant_marketing_consent",
        summary="Agree to advertising on a channel, or at night too (again: confirm it for two more years)",
        status_code=HTTP_200_OK,
        responses=problems(
            _UNKNOWN_CHANNEL,
            NightConsentWithoutMediumError(
                "agree to advertising on a channel (sms, line, talktalk or instagram) before agreeing to get it at "
                "night"
            ),
            TooManyConsentChangesError(
                "at most 10 marketing consents are given a day, and each sends you a notice; try again in 3600 s",
                retry_after=3600,
            ),
        ),
    )
    async def grant(
        self,
        *,
        channel: ChannelName,
        db: NamedDependency[AsyncSession],
        redis: NamedDependency[Redis],
        settings: NamedDependency[Settings],
        shopper: NamedDependency[AccessClaims],
        winback: NamedDependency[WinbackKit],
    ) -> MarketingConsents:
        now = utc_now()
        if await marketing.grant_marketing(db, shopper.user_id, channel, now=now, source="app"):
            # Counted once it changed something (a confirmation sends nothing); a refusal rolls the grant back.
            await _count_grant(redis, settings, shopper)
            await consent_changed(db, winback, shopper.user_id, change="granted", channels=[channel], now=now)
        return await marketing.marketing_consents(db, shopper.user_id, now=now)

    @delete(
        "/{channel:str}",
        operation_id="withdraw_marketing_consent",
        summary="Stop advertising on a channel, at once (the last channel takes night-time with it)",
        status_code=HTTP_200_OK,
        responses=problems(_UNKNOWN_CHANNEL),
    )
    async def withdraw(
        self,
        channel: ChannelName,
        db: NamedDependency[AsyncSession],
        shopper: NamedDependency[AccessClaims],
        winback: NamedDependency[WinbackKit],
    ) -> MarketingConsents:
        now = utc_now()
        withdrawn = await marketing.withdraw_marketing(db, shopper.user_id, [channel], now=now, source="app")
        await consent_changed(db, winback, shopper.user_id, change="withdrawn", channels=withdrawn, now=now)
        return await marketing.marketing_consents(db, shopper.user_id, now=now)

    @delete(
        operation_id="withdraw_all_marketing_consents",
        summary="Stop all advertising, at once",
        status_code=HTTP_200_OK,
    )
    async def withdraw_all(
        self,
        db: NamedDependency[AsyncSession],
        shopper: NamedDependency[AccessClaims],
        winback: NamedDependency[WinbackKit],
    ) -> MarketingConsents:
        now = utc_now()
        withdrawn = await marketing.withdraw_marketing(db, shopper.user_id, now=now, source="app")
        await consent_changed(db, winback, shopper.user_id, change="withdrawn", channels=withdrawn, now=now)
        return await marketing.marketing_consents(db, shopper.user_id, now=now)


async def _count_grant(redis: Redis, settings: Settings, shopper: AccessClaims) -> None:
    """Each consent given sends a notice, and so does its withdrawal: a limit on grants bounds what one account can
    make Shoa send to the phone on it (which no one has verified is hers)."""
    limits = settings.rate_limits
    if not limits.enabled:
        return
    limit = Limit("marketing-grants", limits.marketing_grants_per_user_per_day, 24 * 3600)
    if (retry_after := await RateLimiter(redis).hit(limit, str(shopper.user_id))) is not None:
        msg = (
            f"at most {limit.limit} marketing consents are given a day, and each sends you a notice; "
            f"try again in {retry_after} s"
        )
        raise TooManyConsentChangesError(msg, retry_after=retry_after)
