"""A provider as the settings configure it (``shoa_api.wiring.oauth_provider``), and what a login carries between
its two halves."""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from typing import Literal, TypeVar

import msgspec

from accounts.errors import OAuthProviderUnavailableError
from accounts.schemas import Gender

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


def provider_unavailable(provider: OAuthProvider) -> OAuthProviderUnavailableError:
    return OAuthProviderUnavailableError(f"{provider.label} is not answering properly; try again shortly")
