"""Access tokens (short-lived JWTs, HS256, key id in the header) and opaque refresh tokens.

Keys rotate without logging anyone out: tokens are signed with ``SHOA_SECRET_KEY`` and verified with it or
any of ``SHOA_PREVIOUS_SECRET_KEYS``, found by the ``kid`` (a fingerprint of the key, never the key).
"""

from __future__ import annotations

import datetime
import hashlib
import secrets
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import OctKey
from joserfc.jws import extract_compact

from accounts.errors import InvalidTokenError

if TYPE_CHECKING:
    from collections.abc import Sequence

ALGORITHM = "HS256"
ISSUER = "shoa"
VERIFIED_KEPT = 10_000
REFRESH_TOKEN_PREFIX = "shoa_rt_"  # noqa: S105 - a recognisable prefix, not a secret


@dataclass(frozen=True)
class AccessClaims:
    user_id: uuid.UUID
    token_id: str
    expires_at: datetime.datetime
    login_id: uuid.UUID | None = None
    """The login (refresh-token family) the token was issued for, so that ending the login ends its access
    tokens too. ``None`` only for tokens issued outside a login (tools and benchmarks)."""


def key_id(secret: str) -> str:
    return hashlib.sha256(f"shoa-access-token-key:{secret}".encode()).hexdigest()[:16]


class AccessTokens:
    def __init__(
        self, *, secret_key: str, previous_secret_keys: Sequence[str] = (), lifetime: datetime.timedelta
    ) -> None:
        """Signs with ``secret_key``; verifies with it or any of ``previous_secret_keys`` (retired keys whose
        tokens may still be in use)."""
        self._signing_kid = key_id(secret_key)
        self._keys = {
            key_id(secret.strip()): OctKey.import_key(secret.strip()) for secret in [secret_key, *previous_secret_keys]
        }
        self.lifetime = lifetime
        self._verified: dict[str, AccessClaims] = {}
        """Tokens whose signature and claims checked out: the same string always would again with these keys.
        Only expiry (and, elsewhere, revocation) can change, and both are checked on every use."""

    def issue(
        self, user_id: uuid.UUID, *, now: datetime.datetime, login_id: uuid.UUID | None = None
    ) -> tuple[str, AccessClaims]:
        expires_at = now + self.lifetime
        claims = AccessClaims(user_id=user_id, token_id=secrets.token_hex(16), expires_at=expires_at, login_id=login_id)
        payload = {
            "iss": ISSUER,
            "sub": str(user_id),
            "iat": int(now.timestamp()),
            "exp": int(expires_at.timestamp()),
            "jti": claims.token_id,
            "typ": "access",
        }
        if login_id is not None:
            payload["sid"] = str(login_id)  # the session id claim of OpenID Connect
        header = {"alg": ALGORITHM, "kid": self._signing_kid, "typ": "JWT"}
        return jwt.encode(header, payload, self._keys[self._signing_kid], algorithms=[ALGORITHM]), claims

    def verify(self, token: str, *, now: datetime.datetime) -> AccessClaims:
        """The token's claims, when its signature and claims are good and it has not expired."""
        claims = self._verified.get(token)
        if claims is None:
            claims = self._verify_signed(token)
            if len(self._verified) >= VERIFIED_KEPT:
                del self._verified[next(iter(self._verified))]
            self._verified[token] = claims
        if claims.expires_at <= now:
            raise InvalidTokenError("the token has expired; refresh it")
        return claims

    def _verify_signed(self, token: str) -> AccessClaims:
        try:
            header = extract_compact(token.encode()).protected
            key = self._keys.get(str(header.get("kid")))
            if key is None or header.get("alg") != ALGORITHM:
                raise InvalidTokenError("the token was not signed by a key this service knows")
            decoded = jwt.decode(token, key, algorithms=[ALGORITHM])
        except (JoseError, ValueError) as exc:
            raise InvalidTokenError("the token is malformed or its signature does not match") from exc
        claims = decoded.claims
        try:
            # A signed `exp` past year 9999 (1e20) is as unusable as a missing one, not a server error.
            expires_at = datetime.datetime.fromtimestamp(int(claims["exp"]), tz=datetime.UTC)
            subject = uuid.UUID(str(claims["sub"]))
            token_id = str(claims["jti"])
            login_id = uuid.UUID(str(claims["sid"])) if "sid" in claims else None
        except (KeyError, TypeError, ValueError, OverflowError, OSError) as exc:
            raise InvalidTokenError("the token lacks required claims") from exc
        if claims.get("iss") != ISSUER or claims.get("typ") != "access":
            raise InvalidTokenError("the token is not a Shoa access token")
        return AccessClaims(
            user_id=subject,
            token_id=token_id,
            expires_at=expires_at,
            login_id=login_id,
        )


def new_refresh_token() -> str:
    return REFRESH_TOKEN_PREFIX + secrets.token_urlsafe(32)


def refresh_token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
