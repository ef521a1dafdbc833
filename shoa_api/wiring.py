"""Domain objects built from the settings, shared by the app, the worker, the CLI and the benchmarks.

The domain packages take plain arguments and know nothing of :class:`~shoa_api.settings.Settings`; this is where
the two meet, once per process (the app's lifespan, the worker's start), never at import time.
"""

from __future__ import annotations

import datetime
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

import sqlalchemy as sa
from redis.asyncio import BlockingConnectionPool, Redis
from redis.exceptions import RedisError
from sqlalchemy.dialects.postgresql import ARRAY

from accounts import marketing
from accounts import service as accounts
from accounts.errors import OAuthProviderNotFoundError
from accounts.oauth.providers import OAuthProvider
from accounts.passwords import Passwords
from accounts.tokens import AccessTokens
from catalog.search.meilisearch import MeilisearchEngine
from catalog.search.tantivy_engine import TantivyEngine
from notify.delivery import Providers, RetryPolicy
from notify.models import ChatWindow
from notify.providers.base import Channel
from notify.providers.instagram import InstagramProvider
from notify.providers.line import LineProvider
from notify.providers.nhn import NhnCloudProvider
from notify.providers.sandbox import SandboxProvider
from notify.providers.solapi import SolapiProvider
from notify.providers.talktalk import TalkTalkProvider
from notify.schemas import Recipient
from notify.service import INSTAGRAM_REPLY_WINDOW, Outbox, reply_window_until
from notify.worker import Dispatcher
from orders.checkout import CheckoutRules
from orders.messages import OrderMessages
from orders.payments.base import PaymentGateway  # noqa: TC001 - Litestar resolves OrderKit's fields at runtime
from orders.payments.sandbox import SandboxGateway
from orders.payments.toss import TossPayments
from orders.service import AfterSaleRules
from orders.service import Context as OrderContext
from personalization.events import Recorder
from personalization.memory import FeedMemory
from personalization.scores import Decay
from shoa_api.ratelimit import Limit, RateLimiter, fingerprint
from shoa_api.settings import SettingsError
from shoa_kernel.clock import utc_now
from support.dialogue import Bot
from support.errors import TooManyTurnsError
from support.intents import train_shipped_classifier
from support.service import Support
from support.state import StateStore
from winback.jobs import WinbackKit
from winback.policy import Rules

if TYPE_CHECKING:
    import uuid
    from collections.abc import Sequence

    import httpx
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

    from accounts.schemas import Profile
    from catalog.search.engine import SearchEngine
    from catalog.search.indexing import IndexWriter
    from notify.providers.base import MessagingProvider
    from notify.rendering import Templates
    from shoa_api.settings import (
        FeedSettings,
        NotifySettings,
        PasswordSettings,
        RedisSettings,
        Secret,
        SecuritySettings,
        Settings,
    )
    from support.dialogue import Message

logger = logging.getLogger(__name__)

REDIS_POOL_WAIT_SECONDS = 5.0


def redis_client(settings: RedisSettings) -> Redis:
    """One process's Redis client. Its pool *waits* for a free connection when all are busy (redis-py's default pool
    refuses at once beyond 100, which turned a burst of requests into 503s)."""
    pool = BlockingConnectionPool.from_url(
        settings.url,
        max_connections=settings.max_connections,
        timeout=REDIS_POOL_WAIT_SECONDS,
        socket_timeout=5.0,
        socket_connect_timeout=3.0,
    )
    return Redis(connection_pool=pool)


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


def index_writer(settings: Settings, http: httpx.AsyncClient) -> IndexWriter:
    """What the worker's indexer feeds: the Tantivy index on disk (the worker is its only writer), or Meilisearch."""
    return meilisearch_engine(settings, http) or TantivyEngine(settings.search.dir)


def search_engine(settings: Settings, http: httpx.AsyncClient) -> SearchEngine:
    """What the API searches with: the Tantivy index (read-only here), or Meilisearch."""
    return meilisearch_engine(settings, http) or TantivyEngine(settings.search.dir)


def meilisearch_engine(settings: Settings, http: httpx.AsyncClient) -> MeilisearchEngine | None:
    """The Meilisearch engine when it is the configured one; ``None`` for Tantivy."""
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


# --- Messaging ------------------------------------------------------------------------------------------------


async def shopper_recipient(session: AsyncSession, user_id: uuid.UUID) -> Recipient | None:
    """The recipient lookup notify is handed: a shopper's contacts, consents (to order messages, and to advertising
    as :mod:`accounts.marketing` counts them), preferred messenger and locale, from their account; None for an
    unknown or erased one. Instagram's reply window is the one the shopper's last message to us opened (recorded by
    the chatbot, :func:`notify.service.note_inbound`): Instagram is chosen only while it is open."""
    now = utc_now()
    profile = await accounts.active_profile(session, user_id, now=now)
    if profile is None:
        return None
    instagram_id = profile.contacts.instagram_id
    window_until = (
        await reply_window_until(session, channel=Channel.INSTAGRAM, address=instagram_id) if instagram_id else None
    )
    advertising = await marketing.advertising_channels(session, user_id, now=now)
    return _recipient(profile, window_until=window_until, advertising=advertising)


async def shopper_recipients(session: AsyncSession, user_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Recipient]:
    """:func:`shopper_recipient` for many shoppers at once (notify's ``RecipientsLookup``), in three queries however
    many there are: the accounts, their marketing consents, their Instagram reply windows. Unknown and erased
    accounts are left out; each recipient is the one the single lookup gives."""
    now = utc_now()
    ids = list(dict.fromkeys(user_ids))
    profiles = await accounts.active_profiles(session, ids, now=now)
    if not profiles:
        return {}
    advertising = await marketing.advertising_channels_by_user(session, list(profiles), now=now)
    instagram_ids = {address for profile in profiles.values() if (address := profile.contacts.instagram_id)}
    windows = await _instagram_windows(session, sorted(instagram_ids))
    return {
        user_id: _recipient(
            profile,
            window_until=windows.get(profile.contacts.instagram_id) if profile.contacts.instagram_id else None,
            advertising=advertising.get(user_id, marketing.NO_ADVERTISING),
        )
        for user_id, profile in profiles.items()
    }


def _recipient(
    profile: Profile, *, window_until: datetime.datetime | None, advertising: marketing.AdvertisingChannels
) -> Recipient:
    contacts, consents = profile.contacts, profile.consents
    # Advertising goes only where a consent and an address meet (AlimTalk never carries it: it has no consent).
    addresses = {Channel.SMS: contacts.phone, Channel.LINE: contacts.line_user_id,
                 Channel.INSTAGRAM: contacts.instagram_id, Channel.TALKTALK: contacts.talktalk_id}  # fmt: skip
    return Recipient(
        phone=contacts.phone,
        line_user_id=contacts.line_user_id,
        instagram_id=contacts.instagram_id,
        instagram_window_until=window_until,
        talktalk_id=contacts.talktalk_id,
        consents=frozenset(channel for channel in Channel if getattr(consents, channel.value)),
        advertising_consents=frozenset(
            channel for channel, address in addresses.items() if address and channel.value in advertising.media
        ),
        night_advertising=advertising.night,
        preferred=Channel(profile.preferred_messenger) if profile.preferred_messenger else None,
        locale=profile.locale,
    )


async def _instagram_windows(session: AsyncSession, addresses: Sequence[str]) -> dict[str, datetime.datetime]:
    """Until when each Instagram address's reply window is open (left out: never opened), in one query, by the rule
    of :func:`notify.service.reply_window_until`, which answers for one address only."""
    if not addresses:
        return {}
    rows = await session.execute(
        sa.select(ChatWindow.address, ChatWindow.last_inbound_at).where(
            ChatWindow.channel == Channel.INSTAGRAM.value,
            ChatWindow.address == sa.any_(sa.bindparam("addresses", list(addresses), type_=ARRAY(sa.String))),
        )
    )
    return {address: last_inbound_at + INSTAGRAM_REPLY_WINDOW for address, last_inbound_at in rows}


def outbox_from(templates: Templates) -> Outbox:
    """Where the app's services (orders, support) enqueue messages; the templates are loaded and checked once, at
    start-up."""
    return Outbox(templates=templates, recipients=shopper_recipient, recipients_many=shopper_recipients)


def winback_kit(settings: Settings, *, outbox: Outbox) -> WinbackKit:
    """What win-back's jobs and links need, built once per process: the outbox, the batch recipient lookup and the
    rules the settings give (the same for every mall)."""
    winback = settings.winback
    rules = Rules(
        weekly_cap=winback.weekly_cap,
        holdout_percent=winback.holdout_percent,
        holdout_salt=winback.holdout_salt,
        link_base_url=winback.link_base_url,
        product_url=winback.product_url,
    )
    return WinbackKit(outbox=outbox, recipients=shopper_recipients, rules=rules)


def retry_policy_from(settings: NotifySettings) -> RetryPolicy:
    return RetryPolicy(
        max_attempts=settings.max_attempts,
        base_seconds=settings.retry_base_seconds,
        max_seconds=settings.retry_max_seconds,
        lease_seconds=settings.lease_seconds,
    )


def messaging_providers(
    settings: Settings,
    *,
    http: httpx.AsyncClient,
    session_maker: async_sessionmaker[AsyncSession],
    templates: Templates | None = None,
) -> Providers:
    """The provider each channel's setting names (``SHOA_NOTIFY_PROVIDER_*``), built once; a provider serving two
    channels (NHN Cloud or Solapi for AlimTalk and SMS) is one object.

    Given the ``templates``, Solapi for AlimTalk is built only when ``SHOA_SOLAPI_TEMPLATE_IDS`` maps every
    AlimTalk template code they use: :class:`SettingsError` lists the missing ones, so that the process stops at
    its start rather than sending every such AlimTalk to SMS."""
    notify = settings.notify
    if templates is not None and notify.provider_alimtalk == "solapi":
        _require_solapi_template_ids(settings, templates)
    built: dict[str, MessagingProvider] = {}

    def provider(name: str) -> MessagingProvider:
        if name not in built:
            built[name] = _build_provider(name, settings, http=http, session_maker=session_maker)
        return built[name]

    return Providers(
        {
            Channel.ALIMTALK: provider(notify.provider_alimtalk),
            Channel.SMS: provider(notify.provider_sms),
            Channel.LINE: provider(notify.provider_line),
            Channel.INSTAGRAM: provider(notify.provider_instagram),
            Channel.TALKTALK: provider(notify.provider_talktalk),
        }
    )


def _build_provider(
    name: str, settings: Settings, *, http: httpx.AsyncClient, session_maker: async_sessionmaker[AsyncSession]
) -> MessagingProvider:
    # Each real provider's required settings were checked when the settings were loaded; a part a provider does
    # not use here (NHN's SMS keys when NHN sends only AlimTalk) is passed empty.
    if name == "nhn":
        nhn = settings.nhn
        return NhnCloudProvider(
            http=http, alimtalk_base_url=nhn.alimtalk_base_url, sms_base_url=nhn.sms_base_url,
            app_key=nhn.alimtalk_app_key or "", secret_key=_reveal(nhn.alimtalk_secret_key),
            sender_key=_reveal(nhn.sender_key), sms_app_key=nhn.sms_app_key or "",
            sms_secret_key=_reveal(nhn.sms_secret_key), send_no=nhn.send_no or "",
            webhook_signature=_reveal(nhn.webhook_signature) or None,
        )  # fmt: skip
    if name == "solapi":
        solapi = settings.solapi
        return SolapiProvider(
            http=http, base_url=solapi.base_url, api_key=solapi.api_key or "", api_secret=_reveal(solapi.api_secret),
            pf_id=solapi.pf_id or "", from_number=solapi.from_number or "",
            webhook_secret=_reveal(solapi.webhook_secret) or None, template_ids=solapi.template_ids_by_code(),
        )  # fmt: skip
    if name == "line":
        line = settings.line_messaging
        return LineProvider(http=http, base_url=line.base_url, channel_access_token=_reveal(line.channel_access_token))
    if name == "instagram":
        instagram = settings.instagram
        return InstagramProvider(
            http=http, base_url=instagram.base_url, api_version=instagram.api_version,
            ig_user_id=instagram.ig_user_id or "", access_token=_reveal(instagram.access_token),
            app_secret=_reveal(instagram.app_secret) or None,
        )  # fmt: skip
    if name == "talktalk":
        talktalk = settings.talktalk
        return TalkTalkProvider(
            http=http, base_url=talktalk.base_url, authorization_key=_reveal(talktalk.authorization_key)
        )
    refused = settings.notify.sandbox_refuse or ""
    return SandboxProvider(
        session_maker=session_maker,
        refused_addresses=[address.strip() for address in refused.split(",") if address.strip()],
        receipt_key=_reveal(settings.notify.sandbox_receipt_key) or None,
    )


def _require_solapi_template_ids(settings: Settings, templates: Templates) -> None:
    missing = sorted(templates.alimtalk_template_codes() - set(settings.solapi.template_ids_by_code()))
    if missing:
        msg = (
            f"SHOA_SOLAPI_TEMPLATE_IDS is incomplete: SHOA_NOTIFY_PROVIDER_ALIMTALK=solapi needs Solapi's template id "
            f"for every AlimTalk template code of the message templates; missing {', '.join(missing)}"
        )
        raise SettingsError(msg)


def _reveal(secret: Secret | None) -> str:
    return secret.reveal() if secret is not None else ""


def dispatcher_from(settings: Settings, *, templates: Templates, providers: Providers) -> Dispatcher:
    """The worker's dispatcher: one per process, since it remembers which providers asked it to wait."""
    return Dispatcher(
        templates=templates,
        providers=providers,
        policy=retry_policy_from(settings.notify),
        batch_size=settings.notify.batch_size,
    )


@dataclass(frozen=True, kw_only=True)
class OrderKit:
    """What the order routes and the worker's order jobs need, built once per process."""

    gateway: PaymentGateway
    messages: OrderMessages
    checkout_rules: CheckoutRules
    after_sale_rules: AfterSaleRules

    def context(self, now: datetime.datetime | None = None) -> OrderContext:
        return OrderContext(
            gateway=self.gateway, messages=self.messages, now=now or utc_now(), rules=self.after_sale_rules
        )


def order_kit(
    settings: Settings, *, outbox: Outbox, http: httpx.AsyncClient, session_maker: async_sessionmaker[AsyncSession]
) -> OrderKit:
    """The payment gateway ``SHOA_ORDERS_PAYMENT_GATEWAY`` names (Toss Payments, or the sandbox in its own table),
    the messages, and the deadlines."""
    orders = settings.orders
    gateway: PaymentGateway
    if orders.payment_gateway == "toss":
        gateway = TossPayments(http=http, secret_key=_reveal(orders.toss_secret_key), base_url=orders.toss_base_url)
    else:
        gateway = SandboxGateway(session_maker=session_maker)
    return OrderKit(
        gateway=gateway,
        messages=OrderMessages(outbox=outbox, order_url=orders.order_url),
        checkout_rules=CheckoutRules(
            deposit_hours=orders.deposit_hours,
            default_bank=orders.default_bank,
            unpaid_units_per_product=orders.unpaid_units_per_product,
        ),
        after_sale_rules=AfterSaleRules(card_minutes=orders.card_minutes),
    )


class ChatKit:
    """The chatbot of one process: its webhook secrets, and the bot, built at its first message (training the
    intent classifier takes about a third of a second, which no app that never chats should pay at start-up)."""

    def __init__(self, settings: Settings, *, redis: Redis, outbox: Outbox, orders: OrderKit) -> None:
        support = settings.support
        self.kakao_skill_secret = _reveal(support.kakao_skill_secret) or None
        self.kakao_bot_id = support.kakao_bot_id
        self.line_channel_secret = _reveal(support.line_channel_secret) or None
        self.instagram_app_secret = _reveal(settings.instagram.app_secret) or None
        self.instagram_verify_token = _reveal(support.instagram_verify_token) or None
        self.talktalk_webhook_secret = _reveal(support.talktalk_webhook_secret) or None
        self._states = StateStore(redis=redis, minutes=support.state_minutes, proof_tries=support.proof_tries,
                                  lock_minutes=support.lock_minutes)  # fmt: skip
        self._redis = redis
        limits = settings.rate_limits
        self._turns = Limit("chat-turns", limits.chat_turns_per_user_per_minute, 60) if limits.enabled else None
        self._outbox = outbox
        self._orders = orders
        self._support: Support | None = None

    async def turn_refused(self, message: Message) -> TooManyTurnsError | None:
        """Why ``message`` goes unanswered, when its messenger user is past the turns a minute allows (each answer
        is a message Shoa pays for); None otherwise. A Redis outage lets messages through."""
        if self._turns is None:
            return None
        try:
            who = fingerprint(f"{message.channel}:{message.chat_user}")
            wait = await RateLimiter(self._redis).hit(self._turns, who)
        except RedisError:
            logger.warning("rate limits unavailable (Redis): answering a chat message unlimited")
            return None
        if wait is None:
            return None
        msg = f"at most {self._turns.limit} messages a minute are answered; write again in {wait} s"
        return TooManyTurnsError(msg, retry_after=wait)

    @property
    def support(self) -> Support:
        if self._support is None:
            bot = Bot(
                classifier=train_shipped_classifier(),
                states=self._states,
                order_context=self._orders.context,
                return_days=self._orders.after_sale_rules.return_days,
            )
            self._support = Support(bot=bot, outbox=self._outbox)
        return self._support
