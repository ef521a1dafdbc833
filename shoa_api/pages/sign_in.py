"""Signing a mall's staff in to the insights page: a link that works once within 15 minutes, then a cookie.

Both are JWTs signed with ``SHOA_SECRET_KEY`` (HS256, the key's fingerprint as ``kid``; what one of
``SHOA_PREVIOUS_SECRET_KEYS`` signed still verifies), as the shoppers' access tokens are, and told apart from them
and from each other by ``typ``: no token of one kind is ever taken for another. A link names its mall and its own
id; the page spends that id in Redis the first time the link is opened, so a link forwarded, logged or left in a
browser's history signs nobody in a second time. The session names the mall and lasts a working day. See
docs/decisions/0038-insights-page.md.
"""

from __future__ import annotations

import datetime
import secrets
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal
from urllib.parse import urlencode

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import OctKey
from joserfc.jws import extract_compact

from accounts.tokens import ALGORITHM, ISSUER, key_id

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from shoa_api.settings import SecuritySettings

PAGE_PATH = "/partner/insights"
COOKIE_NAME = "shoa_insights"
LINK_LIFETIME = datetime.timedelta(minutes=15)
SESSION_LIFETIME = datetime.timedelta(hours=8)
SPENT_LINK_PREFIX = "shoa:insights-link-spent:"
"""A link's id, once it signed someone in; kept until the link would have expired anyway."""

PassKind = Literal["insights-link", "insights-session"]
Refusal = Literal["expired", "invalid", "spent"]


@dataclass(frozen=True, kw_only=True)
class InsightsPass:
    """What a verified link or session says: whose insights it opens, until when."""

    mall_id: uuid.UUID
    token_id: str
    expires_at: datetime.datetime


class SignInRefusedError(Exception):
    """A link or session that opens nothing: ``reason`` says which way it failed, for the page to explain."""

    def __init__(self, reason: Refusal) -> None:
        super().__init__(reason)
        self.reason: Refusal = reason


class InsightsSignIn:
    """Issues and verifies the page's links and sessions with the app's secret keys."""

    def __init__(
        self,
        *,
        secret_key: str,
        previous_secret_keys: tuple[str, ...] = (),
        link_lifetime: datetime.timedelta = LINK_LIFETIME,
        session_lifetime: datetime.timedelta = SESSION_LIFETIME,
    ) -> None:
        self._signing_kid = key_id(secret_key)
        self._keys = {key_id(key): OctKey.import_key(key) for key in (secret_key, *previous_secret_keys)}
        self.link_lifetime = link_lifetime
        self.session_lifetime = session_lifetime

    def issue_link(self, mall_id: uuid.UUID, *, now: datetime.datetime) -> tuple[str, InsightsPass]:
        return self._issue("insights-link", mall_id, now=now, lifetime=self.link_lifetime)

    def issue_session(self, mall_id: uuid.UUID, *, now: datetime.datetime) -> tuple[str, InsightsPass]:
        return self._issue("insights-session", mall_id, now=now, lifetime=self.session_lifetime)

    def verify_link(self, token: str, *, now: datetime.datetime) -> InsightsPass:
        return self._verify("insights-link", token, now=now)

    def verify_session(self, token: str, *, now: datetime.datetime) -> InsightsPass:
        return self._verify("insights-session", token, now=now)

    def _issue(
        self, kind: PassKind, mall_id: uuid.UUID, *, now: datetime.datetime, lifetime: datetime.timedelta
    ) -> tuple[str, InsightsPass]:
        issued = InsightsPass(mall_id=mall_id, token_id=secrets.token_hex(16), expires_at=now + lifetime)
        claims = {
            "iss": ISSUER,
            "typ": kind,
            "sub": str(mall_id),
            "iat": int(now.timestamp()),
            "exp": int(issued.expires_at.timestamp()),
            "jti": issued.token_id,
        }
        header = {"alg": ALGORITHM, "kid": self._signing_kid, "typ": "JWT"}
        return jwt.encode(header, claims, self._keys[self._signing_kid], algorithms=[ALGORITHM]), issued

    def _verify(self, kind: PassKind, token: str, *, now: datetime.datetime) -> InsightsPass:
        try:
            header = extract_compact(token.encode()).protected
            key = self._keys.get(str(header.get("kid")))
            if key is None or header.get("alg") != ALGORITHM:
                raise SignInRefusedError("invalid")
            claims = jwt.decode(token, key, algorithms=[ALGORITHM]).claims
        except (JoseError, ValueError, UnicodeError) as exc:
            raise SignInRefusedError("invalid") from exc
        if claims.get("iss") != ISSUER or claims.get("typ") != kind:
            raise SignInRefusedError("invalid")
        try:
            verified = InsightsPass(
                mall_id=uuid.UUID(str(claims["sub"])),
                token_id=str(claims["jti"]),
                expires_at=datetime.datetime.fromtimestamp(int(claims["exp"]), tz=datetime.UTC),
            )
        except (KeyError, TypeError, ValueError, OverflowError, OSError) as exc:
            raise SignInRefusedError("invalid") from exc
        if verified.expires_at <= now:
            raise SignInRefusedError("expired")
        return verified


def sign_in_from(settings: SecuritySettings) -> InsightsSignIn:
    previous = settings.previous_secret_keys.reveal().split(",") if settings.previous_secret_keys else []
    return InsightsSignIn(
        secret_key=settings.secret_key.reveal().strip(),
        previous_secret_keys=tuple(key.strip() for key in previous if key.strip()),
    )


async def spend_link(redis: Redis, link: InsightsPass, *, now: datetime.datetime) -> None:
    """Mark the link used; refused when it was used before (by anyone: a second tab, a forwarded copy)."""
    seconds = max(int((link.expires_at - now).total_seconds()) + 1, 1)
    if not await redis.set(f"{SPENT_LINK_PREFIX}{link.token_id}", "1", nx=True, ex=seconds):
        raise SignInRefusedError("spent")


def link_url(base_url: str, token: str) -> str:
    """The page's address carrying ``token``, under ``base_url`` (the API's public origin)."""
    return f"{base_url.rstrip('/')}{PAGE_PATH}?{urlencode({'token': token})}"
