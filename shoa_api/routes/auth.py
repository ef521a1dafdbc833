"""Shopper sign-up, login (password, Kakao, Naver, LINE), token refresh and logout."""

from __future__ import annotations

from typing import Annotated, Any

import httpx
from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, JSONBody, QueryParameter
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED, HTTP_204_NO_CONTENT
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from accounts import service
from accounts.errors import (
    AccountExistsError,
    InvalidCredentialsError,
    InvalidOAuthStateError,
    InvalidSignupError,
    InvalidTokenError,
    LoginLockedError,
    OAuthAccountConflictError,
    OAuthCodeRejectedError,
    OAuthDeniedError,
    OAuthIdTokenRejectedError,
    OAuthProviderNotFoundError,
    OAuthProviderUnavailableError,
    UnderageShopperError,
)
from accounts.oauth import flow as oauth
from accounts.oauth.providers import OAuthAuthorization
from accounts.schemas import Login, RefreshRequest, SessionTokens, Signup
from accounts.service import Issuer, RefreshReuse
from accounts.tokens import AccessClaims
from shoa_api.auth import revoke_access_token, revoke_login_access_tokens
from shoa_api.errors import problem_response
from shoa_api.mirror import RedisMirror
from shoa_api.openapi import Refusal, problems
from shoa_api.ratelimit import LoginLockout
from shoa_api.settings import Settings
from shoa_api.wiring import oauth_provider


class AuthController(Controller):
    path = "/v1/auth"
    tags = ["auth"]  # noqa: RUF012 - Litestar reads it as a class attribute

    @post(
        "/signup",
        operation_id="signup",
        summary="Create a shopper account",
        status_code=HTTP_201_CREATED,
        responses=problems(
            InvalidSignupError("a password needs at least 10 characters", field="password"),
            AccountExistsError("an account already uses that email or phone number; log in instead"),
        ),
    )
    async def signup(
        self, data: JSONBody[Signup], db: NamedDependency[AsyncSession], issuer: NamedDependency[Issuer]
    ) -> SessionTokens:
        return await service.signup(db, data, issuer=issuer)

    @post(
        "/login",
        operation_id="login",
        summary="Log in with email or phone and password",
        status_code=HTTP_200_OK,
        responses=problems(
            InvalidCredentialsError("the login or the password is wrong"),
            LoginLockedError(
                "too many wrong passwords for this login; try again in 600 s or reset the password", retry_after=600
            ),
        ),
    )
    async def login(
        self,
        data: JSONBody[Login],
        db: NamedDependency[AsyncSession],
        issuer: NamedDependency[Issuer],
        redis: NamedDependency[Redis],
        settings: NamedDependency[Settings],
    ) -> SessionTokens:
        lockout = LoginLockout(redis, settings.rate_limits)
        login_key = service.login_key(data.login)  # 010-1234-5678 and +821012345678 share one count
        if (seconds := await lockout.seconds_locked(login_key)) is not None:
            msg = f"too many wrong passwords for this login; try again in {seconds} s or reset the password"
            raise LoginLockedError(msg, retry_after=seconds)
        try:
            tokens = await service.login(db, data.login, data.password, issuer=issuer)
        except InvalidCredentialsError:
            await lockout.record_failure(login_key)
            raise
        await lockout.record_success(login_key)
        return tokens

    @post(
        "/refresh",
        operation_id="refresh",
        summary="Trade a refresh token for a new pair (the old one is spent)",
        status_code=HTTP_200_OK,
        responses={
            HTTP_200_OK: ResponseSpec(SessionTokens, generate_examples=False, description="The new pair"),
            **problems(
                InvalidTokenError("the refresh token is unknown, expired or revoked; log in again"),
                Refusal(
                    401,
                    "refresh-token-reused",
                    "Refresh token reused",
                    "this refresh token was already spent; every session of its login is now revoked",
                ),
            ),
        },
    )
    async def refresh(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[RefreshRequest],
        *,
        db: NamedDependency[AsyncSession],
        issuer: NamedDependency[Issuer],
        redis: NamedDependency[Redis],
        mirror: NamedDependency[RedisMirror],
    ) -> Response[Any]:
        outcome = await service.refresh(db, data.refresh_token, issuer=issuer)
        if isinstance(outcome, RefreshReuse):
            # Before the commit: should Redis fail, nothing is committed and the next replay detects the theft again.
            await revoke_login_access_tokens(redis, mirror, outcome.login_id, lifetime=issuer.access_tokens.lifetime)
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
        *,
        db: NamedDependency[AsyncSession],
        redis: NamedDependency[Redis],
        mirror: NamedDependency[RedisMirror],
        issuer: NamedDependency[Issuer],
        shopper: NamedDependency[AccessClaims],
    ) -> None:
        login_id = await service.logout(db, data.refresh_token, user_id=shopper.user_id, now=issuer.now)
        await revoke_access_token(redis, mirror, shopper)
        if login_id is not None:  # the access tokens of its earlier rotations, too
            await revoke_login_access_tokens(redis, mirror, login_id, lifetime=issuer.access_tokens.lifetime)

    @get(
        "/oauth/{provider:str}/authorize",
        operation_id="start_social_login",
        summary="Start a Kakao, Naver or LINE login: the URL to open in the in-app browser",
        responses=problems(OAuthProviderNotFoundError("no social login by that name is enabled here")),
    )
    async def start_social_login(
        self, provider: FromPath[str], settings: NamedDependency[Settings], redis: NamedDependency[Redis]
    ) -> OAuthAuthorization:
        return await oauth.start_login(redis, oauth_provider(settings, provider))

    @get(
        "/oauth/{provider:str}/callback",
        operation_id="finish_social_login",
        summary="Where the provider sends the shopper back: the session, as a password login answers",
        responses=problems(
            InvalidOAuthStateError(
                "this login has expired, was already finished, or was not started here; start it again"
            ),
            OAuthDeniedError("the Kakao login was cancelled or refused, so nothing was shared with Shoa"),
            OAuthCodeRejectedError("Kakao refused the login code: it was already used, has expired, or is wrong"),
            OAuthIdTokenRejectedError,
            UnderageShopperError("Shoa accounts are for shoppers aged 14 or over"),
            OAuthProviderNotFoundError("no social login by that name is enabled here"),
            OAuthAccountConflictError,
            OAuthProviderUnavailableError("Kakao could not complete the login just now; try again shortly"),
        ),
    )
    async def finish_social_login(
        self,
        provider: FromPath[str],
        *,
        settings: NamedDependency[Settings],
        db: NamedDependency[AsyncSession],
        redis: NamedDependency[Redis],
        http: NamedDependency[httpx.AsyncClient],
        issuer: NamedDependency[Issuer],
        code: Annotated[str | None, QueryParameter(max_length=2048, description="The provider's login code.")] = None,
        login_state: Annotated[
            str | None, QueryParameter(name="state", max_length=256, description="The state /authorize gave.")
        ] = None,
        error: Annotated[
            str | None, QueryParameter(max_length=128, description="Set by the provider when the login failed.")
        ] = None,
    ) -> SessionTokens:
        return await oauth.finish_login(
            db,
            oauth_provider(settings, provider),
            code=code,
            state=login_state,
            error=error,
            redis=redis,
            http=http,
            issuer=issuer,
        )
