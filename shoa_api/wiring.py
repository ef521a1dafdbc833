"""Domain objects built from the settings, shared by the app, the worker, the CLI and the benchmarks.

The domain packages take plain arguments and know nothing of :class:`~shoa_api.settings.Settings`; this is where
the two meet, once per process (the app's lifespan, the worker's start), never at import time.
"""

from __future__ import annotations

import datetime
from typing import TYPE_CHECKING

from accounts.errors import OAuthProviderNotFoundError
from accounts.oauth.providers import OAuthProvider
from accounts.passwords import Passwords
from accounts.tokens import AccessTokens
from catalog.search.meilisearch import MeilisearchEngine
from personalization.events import Recorder
from personalization.memory import FeedMemory
from personalization.scores import Decay

if TYPE_CHECKING:
    import httpx

    from shoa_api.settings import FeedSettings, PasswordSettings, SecuritySettings, Settings


def passwords_from(settings: PasswordSettings) -> Passwords:
    return Passwords(time_cost=settings.time_cost, memory_kib=settings.memory_kib, parallelism=settings.parallelism)


def access_tokens_from(settings: SecuritySettings) -> AccessTokens:
    previous = settings.previous_secret_keys.reveal().split(",") if settings.previous_secret_keys else []
    return AccessTokens(
        secret_key=settings.secret_key.reveal(),
        previous_secret_keys=previous,
        lifetime=datetime.timedelta(minutes=settings.access_token_minutes),
    )


def recorder_from(settings: FeedSettings) -> Recorder:
    """The behaviour signals' weights and decay: the settings are their one home."""
    return Recorder(
        weights={
            "view": settings.weight_view,
            "click": settings.weight_click,
            "like": settings.weight_like,
            "add_to_cart": settings.weight_add_to_cart,
            "purchase": settings.weight_purchase,
        },
        decay=Decay(half_life_seconds=settings.half_life_hours * 3600),
    )


def feed_memory_from(settings: Settings) -> FeedMemory:
    """Tiles (and pages of them) are kept as long as other public answers are."""
    return FeedMemory(tile_seconds=settings.app.public_cache_seconds)


def meilisearch_engine(settings: Settings, http: httpx.AsyncClient) -> MeilisearchEngine | None:
    """The Meilisearch engine when it is the configured one; ``None`` for the PostgreSQL engine."""
    if settings.search.engine != "meilisearch":
        return None
    url, key = settings.meilisearch.url, settings.meilisearch.key
    assert url is not None  # checked when the settings were loaded
    assert key is not None
    return MeilisearchEngine(http, url=url, key=key.reveal())


def oauth_provider(settings: Settings, name: str) -> OAuthProvider:
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
