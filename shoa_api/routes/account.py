"""The logged-in shopper's own profile, contacts and consents."""

from __future__ import annotations

from litestar import Controller, delete, get, patch
from litestar.di import NamedDependency
from litestar.params import JSONBody
from litestar.status_codes import HTTP_204_NO_CONTENT
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from shoa_api.accounts import service
from shoa_api.accounts.models import utc_now
from shoa_api.accounts.schemas import Profile, ProfileUpdate
from shoa_api.accounts.tokens import AccessClaims
from shoa_api.auth import revoke_access_token
from shoa_api.mirror import RedisMirror
from shoa_api.routes.signals import taste_changed


class AccountController(Controller):
    path = "/v1/me"
    tags = ["account"]  # noqa: RUF012 - Litestar reads it as a class attribute

    @get(operation_id="get_me", summary="My profile, contacts, consents and feed segment")
    async def get_me(self, db: NamedDependency[AsyncSession], shopper: NamedDependency[AccessClaims]) -> Profile:
        return await service.profile(db, shopper.user_id, now=utc_now())

    @patch(operation_id="update_me", summary="Change some of my profile, contacts or consents")
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
        await taste_changed(redis, mirror, shopper.user_id)  # gender and birth date choose the feed's segment
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
        await db.commit()
        await revoke_access_token(redis, mirror, shopper)
        await taste_changed(redis, mirror, shopper.user_id)  # the remembered feed goes: other devices' tokens get 401
