"""Shopper sign-up, login, token refresh and logout."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, post
from litestar.di import NamedDependency
from litestar.params import JSONBody
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED, HTTP_204_NO_CONTENT
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from shoa_api.accounts import service
from shoa_api.accounts.schemas import Login, RefreshRequest, SessionTokens, Signup
from shoa_api.accounts.service import Issuer, RefreshReuse
from shoa_api.accounts.tokens import AccessClaims
from shoa_api.auth import revoke_access_token, utc_now
from shoa_api.errors import problem_response


class AuthController(Controller):
    path = "/v1/auth"
    tags = ["auth"]  # noqa: RUF012 - Litestar reads it as a class attribute

    @post("/signup", operation_id="signup", summary="Create a shopper account", status_code=HTTP_201_CREATED)
    async def signup(
        self, data: JSONBody[Signup], db: NamedDependency[AsyncSession], issuer: NamedDependency[Issuer]
    ) -> SessionTokens:
        return await service.signup(db, data, issuer=issuer)

    @post("/login", operation_id="login", summary="Log in with email or phone and password", status_code=HTTP_200_OK)
    async def login(
        self, data: JSONBody[Login], db: NamedDependency[AsyncSession], issuer: NamedDependency[Issuer]
    ) -> SessionTokens:
        return await service.login(db, data.login, data.password, issuer=issuer)

    @post(
        "/refresh",
        operation_id="refresh",
        summary="Trade a refresh token for a new pair (the old one is spent)",
        status_code=HTTP_200_OK,
    )
    async def refresh(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[RefreshRequest],
        db: NamedDependency[AsyncSession],
        issuer: NamedDependency[Issuer],
    ) -> Response[Any]:
        outcome = await service.refresh(db, data.refresh_token, issuer=issuer)
        if isinstance(outcome, RefreshReuse):
            # Answered, not raised: the family's revocation must be committed with this request.
            return problem_response(
                request,
                status=401,
                code="refresh-token-reused",
                title="Refresh token reused",
                detail="this refresh token was already spent; every session of its login is now revoked",
                headers={"WWW-Authenticate": 'Bearer realm="shoa", error="invalid_token"'},
            )
        return Response(outcome)

    @post("/logout", operation_id="logout", summary="End this login's session", status_code=HTTP_204_NO_CONTENT)
    async def logout(
        self,
        data: JSONBody[RefreshRequest],
        db: NamedDependency[AsyncSession],
        redis: NamedDependency[Redis],
        shopper: NamedDependency[AccessClaims],
    ) -> None:
        await service.logout(db, data.refresh_token, user_id=shopper.user_id, now=utc_now())
        await revoke_access_token(redis, shopper)
