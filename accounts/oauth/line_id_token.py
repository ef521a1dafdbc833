"""LINE's OpenID Connect ID token: verified as LINE documents, then mapped to a :class:`ProviderIdentity`."""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any

import httpx
import msgspec
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, KeySet, OctKey
from joserfc.jws import extract_compact
from joserfc.jwt import JWTClaimsRegistry

from accounts.errors import (
    OAuthIdTokenRejectedError,
)
from accounts.oauth.profiles import clean_display_name, clean_email
from accounts.oauth.providers import (
    ID_TOKEN_LEEWAY_SECONDS,
    JWKS_CACHE_PREFIX,
    JWKS_CACHE_SECONDS,
    OAuthProvider,
    ProviderIdentity,
    provider_unavailable,
)

if TYPE_CHECKING:
    from redis.asyncio import Redis


logger = logging.getLogger(__name__)


class LineIdTokenClaims(msgspec.Struct, kw_only=True):
    sub: str
    """The LINE user id, also the shopper's LINE messaging address."""
    name: str | None = None
    email: str | None = None


async def line_identity(
    token: dict[str, Any], provider: OAuthProvider, *, nonce: str | None, redis: Redis, http: httpx.AsyncClient
) -> ProviderIdentity:
    id_token = token.get("id_token")
    if not isinstance(id_token, str) or nonce is None:
        raise provider_unavailable(provider)
    claims = await verify_line_id_token(id_token, provider, nonce=nonce, redis=redis, http=http)
    return ProviderIdentity(
        provider="line",
        subject=claims.sub,
        email=clean_email(claims.email),
        display_name=clean_display_name(claims.name),
        line_user_id=claims.sub,
    )


async def verify_line_id_token(
    id_token: str, provider: OAuthProvider, *, nonce: str, redis: Redis, http: httpx.AsyncClient
) -> LineIdTokenClaims:
    """LINE's ID token, checked as LINE documents: ES256 with a key from its JWKS (SDK and ``id_token_key_type=JWK``
    logins) or HS256 with the channel secret (plain web logins); then issuer, audience, expiry and nonce."""
    try:
        header = extract_compact(id_token.encode()).protected
    except (JoseError, ValueError) as exc:
        raise OAuthIdTokenRejectedError("LINE's ID token is malformed") from exc
    algorithm, kid = header.get("alg"), header.get("kid")
    if algorithm == "HS256":
        key: ECKey | OctKey = OctKey.import_key(provider.client_secret)
    elif algorithm == "ES256":
        key = await _line_signing_key(provider, kid=str(kid), redis=redis, http=http)
    else:
        raise OAuthIdTokenRejectedError("LINE's ID token is signed with an algorithm LINE does not use")
    registry = JWTClaimsRegistry(
        leeway=ID_TOKEN_LEEWAY_SECONDS,
        iss={"essential": True, "value": provider.issuer},
        aud={"essential": True, "value": provider.client_id},
        exp={"essential": True},
        nonce={"essential": True, "value": nonce},
        sub={"essential": True},
    )
    try:
        decoded = jwt.decode(id_token, key, algorithms=[algorithm])
        registry.validate(decoded.claims)
        return msgspec.convert(decoded.claims, type=LineIdTokenClaims)
    except (JoseError, ValueError, msgspec.ValidationError) as exc:
        msg = "LINE's ID token failed its checks (signature, issuer, audience, expiry or nonce); log in again"
        raise OAuthIdTokenRejectedError(msg) from exc


async def _line_signing_key(provider: OAuthProvider, *, kid: str, redis: Redis, http: httpx.AsyncClient) -> ECKey:
    cache_key = f"{JWKS_CACHE_PREFIX}{provider.name}"
    cached = await redis.get(cache_key)
    key = _ec_key_with_id(cached, kid) if cached is not None else None
    if key is None:
        # An unknown key id: LINE may have rotated its keys since they were cached, so look once more.
        published = await _download_jwks(provider, http)
        await redis.set(cache_key, published, ex=JWKS_CACHE_SECONDS)
        key = _ec_key_with_id(published, kid)
    if key is None:
        raise OAuthIdTokenRejectedError("LINE's ID token names a signing key LINE does not publish")
    return key


async def _download_jwks(provider: OAuthProvider, http: httpx.AsyncClient) -> bytes:
    try:
        response = await http.get(provider.jwks_url)
        response.raise_for_status()
    except httpx.HTTPError as exc:
        logger.warning("LINE's JWKS endpoint failed: %s", type(exc).__name__)
        raise provider_unavailable(provider) from exc
    return response.content


def _ec_key_with_id(jwks: bytes | str, kid: str) -> ECKey | None:
    try:
        key = KeySet.import_key_set(json.loads(jwks)).get_by_kid(kid)
    except (JoseError, ValueError, TypeError, KeyError):
        return None
    return key if isinstance(key, ECKey) else None
