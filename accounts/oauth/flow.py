"""The two halves of a social login: the authorize URL, then the callback's code exchange and profile."""

from __future__ import annotations

import logging
import secrets
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import httpx
import msgspec
from authlib.integrations.httpx_client import AsyncOAuth2Client, OAuthError
from authlib.oauth2.rfc6749.parameters import prepare_grant_uri
from authlib.oauth2.rfc7636 import create_s256_code_challenge

from accounts.errors import (
    InvalidOAuthStateError,
    OAuthCodeRejectedError,
    OAuthDeniedError,
    OAuthProviderUnavailableError,
)
from accounts.oauth.line_id_token import line_identity
from accounts.oauth.linking import find_or_create_user
from accounts.oauth.profiles import KakaoUser, NaverMe, kakao_identity, naver_identity
from accounts.oauth.providers import (
    MAX_STATE_LENGTH,
    STATE_PREFIX,
    STATE_TTL_SECONDS,
    OAuthAuthorization,
    OAuthProvider,
    PendingLogin,
    ProviderIdentity,
    Shape,
    provider_unavailable,
)
from accounts.segments import korea_today
from accounts.service import start_session  # the one way a session is issued, shared with passwords

if TYPE_CHECKING:
    from redis.asyncio import Redis
    from sqlalchemy.ext.asyncio import AsyncSession

    from accounts.schemas import SessionTokens
    from accounts.service import Issuer

logger = logging.getLogger(__name__)


async def start_login(redis: Redis, provider: OAuthProvider) -> OAuthAuthorization:
    state = secrets.token_urlsafe(32)
    pending = PendingLogin(
        provider=provider.name,
        code_verifier=secrets.token_urlsafe(64),  # 86 characters; RFC 7636 allows 43 to 128
        nonce=secrets.token_urlsafe(24) if provider.name == "line" else None,
    )
    await redis.set(f"{STATE_PREFIX}{state}", msgspec.json.encode(pending), ex=STATE_TTL_SECONDS)
    url = prepare_grant_uri(
        provider.authorize_url,
        client_id=provider.client_id,
        response_type="code",
        redirect_uri=provider.redirect_uri,
        scope=provider.scope,
        state=state,
        code_challenge=create_s256_code_challenge(pending.code_verifier),
        code_challenge_method="S256",
        nonce=pending.nonce,
    )
    return OAuthAuthorization(authorization_url=str(url), state=state)


async def finish_login(
    session: AsyncSession,
    provider: OAuthProvider,
    *,
    code: str | None,
    state: str | None,
    error: str | None,
    redis: Redis,
    http: httpx.AsyncClient,
    issuer: Issuer,
) -> SessionTokens:
    pending = await take_pending_login(redis, state)
    if error in {"server_error", "temporarily_unavailable"}:
        msg = f"{provider.label} could not complete the login just now; try again shortly"
        raise OAuthProviderUnavailableError(msg)
    if error is not None:
        msg = f"the {provider.label} login was cancelled or refused, so nothing was shared with Shoa"
        raise OAuthDeniedError(msg)
    if pending is None or pending.provider != provider.name or state is None:
        msg = "this login has expired, was already finished, or was not started here; start it again"
        raise InvalidOAuthStateError(msg)
    if not code:
        msg = f"{provider.label} sent no login code; start the login again"
        raise OAuthCodeRejectedError(msg)
    identity = await fetch_identity(provider, code=code, state=state, pending=pending, redis=redis, http=http)
    user = await find_or_create_user(session, identity, today=korea_today(issuer.now))
    return await start_session(session, user, issuer=issuer, family_id=None)


async def take_pending_login(redis: Redis, state: str | None) -> PendingLogin | None:
    """The login started with ``state``, spent by this call: a second callback with it finds nothing."""
    if not state or len(state) > MAX_STATE_LENGTH:
        return None
    raw = await redis.getdel(f"{STATE_PREFIX}{state}")
    if raw is None:
        return None
    try:
        return msgspec.json.decode(raw, type=PendingLogin)
    except msgspec.DecodeError:
        return None


async def fetch_identity(
    provider: OAuthProvider, *, code: str, state: str, pending: PendingLogin, redis: Redis, http: httpx.AsyncClient
) -> ProviderIdentity:
    # One Authlib client per login: it holds this login's token, and logins are rare next to other requests.
    async with AsyncOAuth2Client(
        client_id=provider.client_id,
        client_secret=provider.client_secret,
        # All three read the client secret from the form body (a method name, not a secret).
        token_endpoint_auth_method="client_secret_post",  # noqa: S106
        redirect_uri=provider.redirect_uri,
        timeout=http.timeout,
    ) as client:
        token = await _exchange_code(client, provider, code=code, state=state, code_verifier=pending.code_verifier)
        if provider.name == "line":
            return await line_identity(token, provider, nonce=pending.nonce, redis=redis, http=http)
        if provider.name == "kakao":
            return kakao_identity(await _user_info(client, provider, KakaoUser))
        return naver_identity(await _user_info(client, provider, NaverMe))


async def _exchange_code(
    client: Any, provider: OAuthProvider, *, code: str, state: str, code_verifier: str
) -> dict[str, Any]:
    extras = dict(provider.token_request_extras) | ({"state": state} if provider.name == "naver" else {})
    try:
        token = await client.fetch_token(
            provider.token_url,
            grant_type="authorization_code",
            code=code,
            code_verifier=code_verifier,
            body=urlencode(extras),
        )
    except OAuthError as exc:
        if isinstance(exc.error, str) and exc.error in provider.rejected_code_errors:
            msg = f"{provider.label} refused the login code: it was already used, has expired, or is wrong"
            raise OAuthCodeRejectedError(msg) from exc
        # invalid_client and the like: our registration with the provider is wrong, not the shopper's login.
        logger.error("the %s token endpoint refused Shoa's request: %s", provider.label, exc.error)
        raise provider_unavailable(provider) from exc
    except (httpx.HTTPError, ValueError) as exc:
        logger.warning("the %s token endpoint failed: %s", provider.label, type(exc).__name__)
        raise provider_unavailable(provider) from exc
    # Authlib signs the next requests with the token as it came: an access token or a token type that is not text
    # is not a token the provider documents.
    if not isinstance(token.get("access_token"), str) or not isinstance(token.get("token_type", "Bearer"), str):
        raise provider_unavailable(provider)
    return dict(token)


async def _user_info(client: Any, provider: OAuthProvider, shape: type[Shape]) -> Shape:
    try:
        response: httpx.Response = await client.get(provider.userinfo_url)
        response.raise_for_status()
        return msgspec.json.decode(response.content, type=shape)
    except (OAuthError, httpx.HTTPError, msgspec.DecodeError) as exc:
        logger.warning("the %s user-info endpoint failed: %s", provider.label, type(exc).__name__)
        raise provider_unavailable(provider) from exc
