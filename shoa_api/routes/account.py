"""The logged-in shopper's own profile, contacts and consents."""

from __future__ import annotations

from litestar import Controller, delete, get, patch
from litestar.di import NamedDependency
from litestar.params import JSONBody
from litestar.status_codes import HTTP_204_NO_CONTENT
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from accounts import service
from accounts.errors import AccountExistsError, InvalidProfileError
from accounts.schemas import Profile, ProfileUpdate
from accounts.tokens import AccessClaims
from insights.store import forget_shopper
from personalization.taste import taste_changed
from shoa_api.auth import revoke_access_token
from shoa_api.mirror import RedisMirror
from shoa_api.openapi import problems
from shoa_kernel.clock import utc_now


class AccountController(Controller):
    path = "/v1/me"
    tags = ["account"]  # noqa: RUF012 - Litestar reads it as a class attribute

    @get(operation_id="get_me", summary="My profile, contacts, consents and feed segment")
    async def get_me(self, db: NamedDependency[AsyncSession], shopper: NamedDependency[AccessClaims]) -> Profile:
        return await service.profile(db, shopper.user_id, now=utc_now())

    @patch(
        operation_id="update_me",
        summary="Change some of my profile, contacts or consents",
        responses=problems(
            InvalidProfileError(
                "an account with a password keeps an email or a phone number to log in with", field="phone"
            ),
            AccountExistsError("another account already uses that phone number", field="phone"),
        ),
    )
    async def update_me(
        self,
        data: JSONBody[ProfileUpdate],
        db: NamedDependency[AsyncSession],
        redis: NamedDependency[Redis],
        mirror: NamedDependency[RedisMirror],
        shopper: NamedDependency[AccessClaims],
    ) -> Profile:
        profile = await service.update_profile(db, shopper.user_id, data, now=utc_now())
        await db.commit()  # before the feed may pick a segment from it
        await taste_changed(redis, shopper.user_id, forget=mirror.forget)  # gender and birth date choose the segment
        return profile

    @delete(
        operation_id="erase_me", summary="Erase my personal data and close my account", status_code=HTTP_204_NO_CONTENT
    )
    async def erase_me(
        self,
        db: NamedDependency[AsyncSession],
        redis: NamedDependency[Redis],
        mirror: NamedDependency[RedisMirror],
        shopper: NamedDependency[AccessClaims],
    ) -> None:
        await service.erase(db, shopper.user_id, now=utc_now())
        # accounts imports no other domain: the erasure reaches the event store here, in the same transaction.
        await forget_shopper(db, shopper.user_id)
        await db.commit()
        await revoke_access_token(redis, mirror, shopper)
        # The remembered feed goes: other devices' tokens get a 401.
        await taste_changed(redis, shopper.user_id, forget=mirror.forget)
