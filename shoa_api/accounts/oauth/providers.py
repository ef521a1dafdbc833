"""The providers as the settings enable them, and what a login carries between its two halves."""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, TypeVar

import msgspec

from shoa_api.accounts.errors import OAuthProviderNotFoundError, OAuthProviderUnavailableError
from shoa_api.accounts.schemas import Gender

if TYPE_CHECKING:
    from shoa_api.settings import Settings


ProviderName = Literal["kakao", "naver", "line"]
STATE_PREFIX = "shoa:oauth-state:"
STATE_TTL_SECONDS = 600
JWKS_CACHE_PREFIX = "shoa:oauth-jwks:"
JWKS_CACHE_SECONDS = 3600
ID_TOKEN_LEEWAY_SECONDS = 60
"""Clock skew tolerated between LINE and us on ``exp`` and ``iat``."""
MAX_STATE_LENGTH = 128

Shape = TypeVar("Shape")


@dataclass(frozen=True, kw_only=True)
class OAuthProvider:
    """One enabled provider as the settings configure it."""

    name: ProviderName
    label: str
    client_id: str
    client_secret: str = field(repr=False)  # kept out of reprs, logs and tracebacks
    authorize_url: str
    token_url: str
    redirect_uri: str
    scope: str | None = None
    userinfo_url: str = ""
    """Empty for LINE, whose ID token says who logged in."""
    jwks_url: str = ""
    issuer: str = ""
    """The ID token's ``iss``; empty for the plain OAuth providers."""
    token_request_extras: tuple[tuple[str, str], ...] = ()
    rejected_code_errors: frozenset[str] = frozenset({"invalid_grant"})
    """Token endpoint errors that mean "this code is spent, wrong or expired" rather than a broken setup."""


class OAuthAuthorization(msgspec.Struct, kw_only=True):
    authorization_url: str
    """Open it in the in-app browser; the provider sends the shopper back to the callback."""
    state: str
    """The provider echoes it to the callback; it works once, within ten minutes."""


class PendingLogin(msgspec.Struct, frozen=True, kw_only=True):
    provider: str
    code_verifier: str
    nonce: str | None = None


class ProviderIdentity(msgspec.Struct, frozen=True, kw_only=True):
    """Who logged in, in Shoa's terms; every field but the subject is optional."""

    provider: ProviderName
    subject: str
    email: str | None = None
    """Only an address the provider vouches for."""
    display_name: str | None = None
    gender: Gender | None = None
    birth_date: datetime.date | None = None
    birth_year: int | None = None
    age_range: str | None = None
    """``20~29`` style, as Kakao gives it."""
    phone: str | None = None
    line_user_id: str | None = None


def provider_named(settings: Settings, name: str) -> OAuthProvider:
    """The provider called ``name`` if its client id is set; 404 otherwise (unknown and disabled look alike)."""
    redirect_uri = f"{settings.oauth.redirect_base_url.rstrip('/')}/v1/auth/oauth/{name}/callback"
    kakao, naver, line = settings.kakao, settings.naver, settings.line_login
    if name == "kakao" and kakao.client_id and kakao.client_secret:
        return OAuthProvider(
            name="kakao", label="Kakao", client_id=kakao.client_id, client_secret=kakao.client_secret.reveal(),
            authorize_url=kakao.authorize_url, token_url=kakao.token_url, userinfo_url=kakao.userinfo_url,
            redirect_uri=redirect_uri,
        )  # fmt: skip
    if name == "naver" and naver.client_id and naver.client_secret:
        return OAuthProvider(
            name="naver", label="Naver", client_id=naver.client_id, client_secret=naver.client_secret.reveal(),
            authorize_url=naver.authorize_url, token_url=naver.token_url, userinfo_url=naver.userinfo_url,
            redirect_uri=redirect_uri,
            # Naver's token request carries the state; a spent code comes back as HTTP 200 with
            # {"error": "invalid_request", "error_description": "no valid data in session"}.
            rejected_code_errors=frozenset({"invalid_grant", "invalid_request"}),
        )  # fmt: skip
    if name == "line" and line.client_id and line.client_secret:
        return OAuthProvider(
            name="line", label="LINE", client_id=line.client_id, client_secret=line.client_secret.reveal(),
            authorize_url=line.authorize_url, token_url=line.token_url, jwks_url=line.jwks_url,
            issuer=line.issuer, redirect_uri=redirect_uri,
            # LINE sends `email` only when asked for, and only to channels it granted the permission to; a
            # scope it has not granted is left out of the consent screen.
            scope="openid profile email",
            # What LINE's own SDKs send: the ID token is then signed ES256 with a key from its JWKS.
            token_request_extras=(("id_token_key_type", "JWK"),),
        )  # fmt: skip
    msg = "no social login by that name is enabled here"
    raise OAuthProviderNotFoundError(msg)


def provider_unavailable(provider: OAuthProvider) -> OAuthProviderUnavailableError:
    return OAuthProviderUnavailableError(f"{provider.label} is not answering properly; try again shortly")
