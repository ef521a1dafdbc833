"""Who is calling: shopper access tokens, checked in one place for every route that needs them."""

from __future__ import annotations

import datetime
from typing import TYPE_CHECKING, Any

from litestar.datastructures import State  # noqa: TC002 - Litestar reads dependency annotations
from redis.asyncio import Redis  # noqa: TC002

from accounts.errors import InvalidTokenError
from accounts.service import Issuer
from accounts.tokens import AccessClaims  # noqa: TC001 - a dependency's return type, read at runtime
from catalog import keys
from catalog.errors import InvalidApiKeyError
from catalog.keys import PartnerIdentity  # noqa: TC001 - a dependency's return type, read at runtime
from catalog.models import ApiKeyScope
from shoa_api.wiring import access_tokens_from, passwords_from
from shoa_kernel.clock import utc_now

if TYPE_CHECKING:
    import uuid

    from litestar import Request
    from litestar.connection import ASGIConnection
    from litestar.handlers.base import BaseRouteHandler
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

    from shoa_api.mirror import RedisMirror
    from shoa_api.settings import Settings

REVOKED_ACCESS_PREFIX = "shoa:revoked-access:"
REVOKED_LOGIN_PREFIX = f"{REVOKED_ACCESS_PREFIX}login:"
"""Every access token of one login (a refresh-token family). Under the mirrored prefix, so every process hears of
it as it hears of one revoked token; a token id (hex) never starts with ``login:``."""


class AuthKit:
    """The app's password hasher and token signer, built once from the settings."""

    def __init__(self, settings: Settings) -> None:
        self.passwords = passwords_from(settings.passwords)
        self.access_tokens = access_tokens_from(settings.security)
        self.refresh_lifetime = datetime.timedelta(days=settings.security.refresh_token_days)

    def issuer(self, now: datetime.datetime) -> Issuer:
        return Issuer(
            passwords=self.passwords,
            access_tokens=self.access_tokens,
            refresh_lifetime=self.refresh_lifetime,
            now=now,
        )


def provide_issuer(state: State) -> Issuer:
    kit: AuthKit = state.auth
    return kit.issuer(utc_now())


async def provide_shopper(request: Request[Any, Any, Any], state: State) -> AccessClaims:
    """The logged-in shopper, from ``Authorization: Bearer <access token>``; 401 otherwise."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        msg = "log in and send the access token as `Authorization: Bearer <token>`"
        raise MissingCredentialsError(msg)
    kit: AuthKit = state.auth
    claims = kit.access_tokens.verify(token.strip(), now=utc_now())
    mirror: RedisMirror = state.mirror
    if await mirror.exists(f"{REVOKED_ACCESS_PREFIX}{claims.token_id}"):
        msg = "the token was revoked by a logout; log in again"
        raise InvalidTokenError(msg)
    if claims.login_id is not None and await mirror.exists(f"{REVOKED_LOGIN_PREFIX}{claims.login_id}"):
        msg = "the login this token belongs to was ended (a logout, or its refresh token used twice); log in again"
        raise InvalidTokenError(msg)
    return claims


async def provide_optional_shopper(request: Request[Any, Any, Any], state: State) -> AccessClaims | None:
    """The logged-in shopper when the request carries a token (a bad token is still a 401), else ``None``."""
    if not request.headers.get("authorization"):
        return None
    return await provide_shopper(request, state)


async def revoke_access_token(redis: Redis, mirror: RedisMirror, claims: AccessClaims) -> None:
    """Refuse this access token from now until it would have expired anyway."""
    remaining = int((claims.expires_at - utc_now()).total_seconds()) + 1
    if remaining > 0:
        key = f"{REVOKED_ACCESS_PREFIX}{claims.token_id}"
        await redis.set(key, "1", ex=remaining)
        mirror.forget(key)  # other processes hear of it from Redis


async def revoke_login_access_tokens(
    redis: Redis, mirror: RedisMirror, login_id: uuid.UUID, *, lifetime: datetime.timedelta
) -> None:
    """Refuse every access token issued for this login until the last of them would have expired anyway.

    The login's refresh tokens must be revoked in the same request: none of its access tokens is issued later.
    """
    key = f"{REVOKED_LOGIN_PREFIX}{login_id}"
    await redis.set(key, "1", ex=int(lifetime.total_seconds()) + 1)
    mirror.forget(key)  # other processes hear of it from Redis


class MissingCredentialsError(InvalidTokenError):
    code = "missing-credentials"
    title = "Authentication required"


PARTNER_STATE_KEY = "partner"


async def require_partner_key(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
    """Guard for partner routes: a live key of some mall, holding the scope in the route's ``opt["scope"]``."""
    scheme, _, key = connection.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        msg = "send the mall's API key as `Authorization: Bearer shoa_pk_…`"
        raise InvalidApiKeyError(msg)
    session_maker: async_sessionmaker[AsyncSession] = connection.app.state.read_session_maker
    async with session_maker() as session:
        identity = await keys.authenticate(session, key.strip(), now=utc_now())
    if (scope := handler.opt.get("scope")) is not None:
        identity.require(ApiKeyScope(scope))
    connection.state[PARTNER_STATE_KEY] = identity


def provide_partner(request: Request[Any, Any, Any]) -> PartnerIdentity:
    identity: PartnerIdentity = request.state[PARTNER_STATE_KEY]
    return identity
