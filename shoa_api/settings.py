"""Shoa's settings: one typed object read from ``SHOA_*`` environment variables and an optional ``.env``.

This is the only module that reads the environment. Each area is a frozen struct whose fields map to
``<env_prefix><FIELD>``; a missing or malformed value raises :class:`SettingsError` naming the variable.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal, TypeVar, get_args, get_origin, get_type_hints
from urllib.parse import urlsplit

import msgspec

if TYPE_CHECKING:
    from collections.abc import Mapping

Environment = Literal["development", "test", "production"]
SearchEngineName = Literal["tantivy", "meilisearch"]
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]
LogFormat = Literal["json", "console"]
KakaoProviderName = Literal["sandbox", "nhn", "solapi"]
"""Who sends AlimTalk, and who sends SMS/LMS."""

MIN_SECRET_KEY_LENGTH = 32
MIN_RETENTION_DAYS = 8


class SettingsError(ValueError):
    """A setting is missing or malformed; the message is one line naming the variable."""


class Secret:
    """A string that never shows itself in a repr, a log line or a traceback."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and secrets.compare_digest(self._value, other._value)

    def __hash__(self) -> int:
        return hash(self._value)


class _Area(msgspec.Struct, frozen=True, kw_only=True):
    env_prefix: ClassVar[str]


_A = TypeVar("_A", bound=_Area)


class AppSettings(_Area, frozen=True, kw_only=True):
    env_prefix: ClassVar[str] = "SHOA_"
    env: Environment = "production"
    """Where this process runs; development and test relax nothing about validation, they only pick defaults."""
    log_level: LogLevel = "INFO"
    log_format: LogFormat = "json"
    """``json`` (one object per line, for log collectors) or ``console`` (the same fields, for humans)."""
    public_cache_seconds: int = 5
    """How long each process reuses a public catalog answer (the malls directory); 0 turns the cache off."""
    metrics_token: Secret | None = None
    """The bearer token a Prometheus scraper sends to ``GET /metrics``; without it the API port serves no metrics
    (they name every route and its traffic, which is nobody else's business)."""


class DatabaseSettings(_Area, frozen=True, kw_only=True):
    env_prefix: ClassVar[str] = "SHOA_DATABASE_"
    url: str
    """PostgreSQL URL, ``postgresql://`` or ``postgresql+asyncpg://``; a unix socket is ``?host=/dir``."""
    pool_size: int = 10
    max_overflow: int = 0
    """Connections opened past ``pool_size`` under load, closed again as soon as they are returned. Off by default:
    a request waiting for a pooled connection costs less than one opening and closing its own (16 concurrent
    uncached reads: 1,700 requests/s and p99 13 ms with none, 1,370 and p99 33 ms with 10)."""
    pool_timeout: float = 10.0
    """Seconds a request waits for a free connection before failing."""
    echo: bool = False


class RedisSettings(_Area, frozen=True, kw_only=True):
    env_prefix: ClassVar[str] = "SHOA_REDIS_"
    url: str
    """``redis://``, ``rediss://`` or ``unix://`` URL."""
    max_connections: int = 200
    """Connections one process opens at most; a request finding them all busy waits for one (up to 5 s)."""


class SearchSettings(_Area, frozen=True, kw_only=True):
    env_prefix: ClassVar[str] = "SHOA_SEARCH_"
    engine: SearchEngineName = "tantivy"
    """``tantivy`` keeps an index on disk in ``SHOA_SEARCH_DIR`` (the worker writes it, the API reads it);
    ``meilisearch`` needs ``SHOA_MEILISEARCH_URL`` and ``SHOA_MEILISEARCH_KEY``."""
    dir: str = ".shoa/search"
    """Where the Tantivy index lives: one folder the worker and every API process on the machine share (``shoa
    dev`` puts it in its data folder)."""


class MeilisearchSettings(_Area, frozen=True, kw_only=True):
    env_prefix: ClassVar[str] = "SHOA_MEILISEARCH_"
    url: str | None = None
    key: Secret | None = None
    """The API key (the master key in development, a search+documents key in production)."""


class SecuritySettings(_Area, frozen=True, kw_only=True):
    env_prefix: ClassVar[str] = "SHOA_"
    secret_key: Secret
    """At least 32 characters of randomness; signs access tokens."""
    previous_secret_keys: Secret | None = None
    """Comma-separated keys that signed tokens before the current one; still accepted, never used to sign."""
    access_token_minutes: int = 15
    refresh_token_days: int = 30


class PasswordSettings(_Area, frozen=True, kw_only=True):
    env_prefix: ClassVar[str] = "SHOA_ARGON2_"
    # argon2-cffi's defaults: RFC 9106's second recommended option (the low-memory one).
    time_cost: int = 3
    memory_kib: int = 65536
    parallelism: int = 4


class RateLimitSettings(_Area, frozen=True, kw_only=True):
    env_prefix: ClassVar[str] = "SHOA_RATE_LIMIT_"
    enabled: bool = True
    login_per_ip_per_minute: int = 30
    signup_per_ip_per_hour: int = 20
    login_failures_before_lockout: int = 5
    """Wrong passwords in a row for one account before it is locked out for ``lockout_minutes``."""
    lockout_minutes: int = 15
    partner_per_key_per_minute: int = 600
    anonymous_per_ip_per_minute: int = 1200
    """Generous: Korean mobile carriers put many phones behind one address (carrier-grade NAT)."""
    chat_turns_per_user_per_minute: int = 30
    """Messages of one messenger user the chatbot answers in a minute; beyond, LINE, Instagram and TalkTalk
    messages go unanswered and a KakaoTalk skill request is a 429. Every answer is a message Shoa pays for."""
    marketing_grants_per_user_per_day: int = 10
    """Marketing consents one shopper may newly give in a day (a 429 beyond): each change, and each withdrawal
    that follows, sends her the notice the law asks for. Withdrawing is never limited."""


class CatalogSettings(_Area, frozen=True, kw_only=True):
    env_prefix: ClassVar[str] = "SHOA_CATALOG_"
    max_batch_items: int = 500
    """Products per `PUT /partner/v1/products`."""
    max_batch_bytes: int = 16 * 1024 * 1024
    """Largest sync request body; beyond it the answer is 413."""


class FeedSettings(_Area, frozen=True, kw_only=True):
    env_prefix: ClassVar[str] = "SHOA_FEED_"
    half_life_hours: float = 72.0
    """Behaviour signals lose half their weight in this time (3 days)."""
    weight_view: float = 1.0
    weight_click: float = 2.0
    weight_like: float = 4.0
    weight_add_to_cart: float = 6.0
    weight_purchase: float = 10.0
    rollup_seconds: int = 60
    """How often the worker copies segment scores from Redis to PostgreSQL: what a Redis restart can lose."""
    events_per_device_per_minute: int = 300
    """Events accepted per device (or shopper) per minute, across batches."""


class OAuthSettings(_Area, frozen=True, kw_only=True):
    env_prefix: ClassVar[str] = "SHOA_OAUTH_"
    redirect_base_url: str = "http://127.0.0.1:8000"
    """The API's public base URL; each provider redirects to ``<base>/v1/auth/oauth/<provider>/callback``."""


class KakaoSettings(_Area, frozen=True, kw_only=True):
    env_prefix: ClassVar[str] = "SHOA_KAKAO_"
    client_id: str | None = None
    """The app's REST API key; Kakao login is off without it."""
    client_secret: Secret | None = None
    authorize_url: str = "https://kauth.kakao.com/oauth/authorize"
    token_url: str = "https://kauth.kakao.com/oauth/token"  # noqa: S105 - an endpoint, not a secret
    userinfo_url: str = "https://kapi.kakao.com/v2/user/me"


class NaverSettings(_Area, frozen=True, kw_only=True):
    env_prefix: ClassVar[str] = "SHOA_NAVER_"
    client_id: str | None = None
    """Naver login is off without it."""
    client_secret: Secret | None = None
    authorize_url: str = "https://nid.naver.com/oauth2.0/authorize"
    token_url: str = "https://nid.naver.com/oauth2.0/token"  # noqa: S105 - an endpoint, not a secret
    userinfo_url: str = "https://openapi.naver.com/v1/nid/me"


class LineLoginSettings(_Area, frozen=True, kw_only=True):
    env_prefix: ClassVar[str] = "SHOA_LINE_LOGIN_"
    client_id: str | None = None
    """The LINE Login channel id; LINE login is off without it."""
    client_secret: Secret | None = None
    authorize_url: str = "https://access.line.me/oauth2/v2.1/authorize"
    token_url: str = "https://api.line.me/oauth2/v2.1/token"  # noqa: S105 - an endpoint, not a secret
    jwks_url: str = "https://api.line.me/oauth2/v2.1/certs"
    issuer: str = "https://access.line.me"


class NotifySettings(_Area, frozen=True, kw_only=True):
    env_prefix: ClassVar[str] = "SHOA_NOTIFY_"
    provider_alimtalk: KakaoProviderName = "sandbox"
    """``sandbox`` keeps messages in the database (``GET /dev/messages``); ``nhn`` and ``solapi`` need their keys."""
    provider_sms: KakaoProviderName = "sandbox"
    provider_line: Literal["sandbox", "line"] = "sandbox"
    provider_instagram: Literal["sandbox", "instagram"] = "sandbox"
    provider_talktalk: Literal["sandbox", "talktalk"] = "sandbox"
    max_attempts: int = 8
    """Calls on one channel before a message is dead-lettered (permanent refusals are never retried)."""
    retry_base_seconds: float = 2.0
    """The first retry's delay; each further one doubles it, with jitter, up to ``retry_max_seconds``."""
    retry_max_seconds: float = 600.0
    lease_seconds: float = 60.0
    """How long a worker's claim on a message lasts: a crashed worker's messages are taken over after it."""
    batch_size: int = 10
    """Calls one worker keeps in flight: it claims as many messages as there is room for whenever half of them
    have answered."""
    sandbox_refuse: str | None = None
    """Comma-separated addresses the sandbox refuses for good, to watch a fallback: ``+821012345678`` on every
    channel, ``alimtalk:+821012345678`` on one."""
    sandbox_receipt_key: Secret | None = None
    """Signs the sandbox's delivery reports (``POST /webhooks/messaging/sandbox``); without it they are refused."""


class NhnSettings(_Area, frozen=True, kw_only=True):
    env_prefix: ClassVar[str] = "SHOA_NHN_"
    alimtalk_app_key: str | None = None
    """The NHN Cloud KakaoTalk Bizmessage project's app key."""
    alimtalk_secret_key: Secret | None = None
    sender_key: Secret | None = None
    """The KakaoTalk channel's 40-character sender key."""
    sms_app_key: str | None = None
    """The NHN Cloud SMS project's app key."""
    sms_secret_key: Secret | None = None
    send_no: str | None = None
    """The sender number registered with NHN's SMS service (also used for AlimTalk's SMS fallback)."""
    webhook_signature: Secret | None = None
    """The signature typed into NHN's webhook settings; delivery reports without it are refused."""
    alimtalk_base_url: str = "https://kakaotalk-bizmessage.api.nhncloudservice.com"
    sms_base_url: str = "https://api-sms.cloud.toast.com"


class SolapiSettings(_Area, frozen=True, kw_only=True):
    env_prefix: ClassVar[str] = "SHOA_SOLAPI_"
    api_key: str | None = None
    api_secret: Secret | None = None
    pf_id: str | None = None
    """The KakaoTalk channel's Solapi profile id (``pfId``), for AlimTalk."""
    from_number: str | None = None
    """The registered sender number."""
    webhook_secret: Secret | None = None
    """The secret set on Solapi's delivery-report webhook; reports without it are refused."""
    template_ids: str | None = None
    """Comma-separated ``CODE=SOLAPI_ID`` pairs: for each AlimTalk ``template_code`` of ``notify/templates/``, the
    id Solapi gave that template when it was registered in its console (``KA01TP…``). Solapi names templates by
    its own ids, not by ours, so AlimTalk through Solapi needs every code here."""
    base_url: str = "https://api.solapi.com"

    def template_ids_by_code(self) -> dict[str, str]:
        """``template_ids`` read into Shoa's template code -> Solapi's template id; :class:`SettingsError` when
        an item is not ``CODE=SOLAPI_ID`` or a code is given twice."""
        if self.template_ids is None:
            return {}
        variable = f"{self.env_prefix}TEMPLATE_IDS"
        ids: dict[str, str] = {}
        for item in self.template_ids.split(","):
            code, _, template_id = (part.strip() for part in item.partition("="))
            if not code or not template_id or "=" in template_id:
                msg = f"{variable} is malformed: expected comma-separated CODE=SOLAPI_ID pairs, got {item.strip()!r}"
                raise SettingsError(msg)
            if code in ids:
                msg = f"{variable} is malformed: {code} is given twice"
                raise SettingsError(msg)
            ids[code] = template_id
        return ids


class LineMessagingSettings(_Area, frozen=True, kw_only=True):
    env_prefix: ClassVar[str] = "SHOA_LINE_MESSAGING_"
    channel_access_token: Secret | None = None
    """The Messaging API channel's long-lived access token."""
    base_url: str = "https://api.line.me"


class InstagramSettings(_Area, frozen=True, kw_only=True):
    env_prefix: ClassVar[str] = "SHOA_INSTAGRAM_"
    access_token: Secret | None = None
    """An Instagram user access token with ``instagram_business_manage_messages``."""
    ig_user_id: str | None = None
    """The professional account's Instagram user id."""
    api_version: str = "v26.0"
    app_secret: Secret | None = None
    """Verifies ``X-Hub-Signature-256`` on Meta's webhooks (read receipts); without it they are refused."""
    base_url: str = "https://graph.instagram.com"


class TalkTalkSettings(_Area, frozen=True, kw_only=True):
    env_prefix: ClassVar[str] = "SHOA_TALKTALK_"
    authorization_key: Secret | None = None
    """The partner center's chatbot authorization key (sent as the whole ``Authorization`` header)."""
    base_url: str = "https://gw.talk.naver.com"


class SupportSettings(_Area, frozen=True, kw_only=True):
    """The customer-service chatbot's webhooks (``/webhooks/chat/{channel}``) and its conversations. A channel
    whose secret is unset refuses every webhook (401): nothing unverified is ever answered."""

    env_prefix: ClassVar[str] = "SHOA_SUPPORT_"
    kakao_skill_secret: Secret | None = None
    """Kakao i Open Builder does not sign skill requests: the skill is set up to send this value in the
    ``X-Shoa-Skill-Secret`` header."""
    kakao_bot_id: str | None = None
    """When set, a skill request for another bot (``bot.id``) is refused."""
    line_channel_secret: Secret | None = None
    """The Messaging API channel secret: verifies ``X-Line-Signature``."""
    instagram_verify_token: Secret | None = None
    """The token Meta's webhook subscription check (``hub.verify_token``) must present. Events are verified with
    ``SHOA_INSTAGRAM_APP_SECRET``."""
    talktalk_webhook_secret: Secret | None = None
    """Naver TalkTalk does not sign its events: the partner center's webhook URL carries ``?secret=<this>``."""
    state_minutes: int = 15
    """A conversation's state (the order being talked about, a question awaiting its answer) lasts this long
    after the shopper's last message."""
    proof_tries: int = 5
    """Wrong order-number-and-phone answers before the messenger user is locked out."""
    lock_minutes: int = 60


class OrdersSettings(_Area, frozen=True, kw_only=True):
    env_prefix: ClassVar[str] = "SHOA_ORDERS_"
    payment_gateway: Literal["sandbox", "toss"] = "sandbox"
    """``sandbox`` keeps payments in the database (``POST /dev/payments/…`` plays the payer); ``toss`` needs
    ``SHOA_ORDERS_TOSS_SECRET_KEY``."""
    toss_secret_key: Secret | None = None
    """Toss Payments' secret key (``test_sk_…`` or ``live_sk_…``)."""
    toss_base_url: str = "https://api.tosspayments.com"
    deposit_hours: int = 72
    """How long a virtual account waits for its deposit; the order is cancelled after."""
    card_minutes: int = 30
    """How long a card order waits for the app to confirm its payment; cancelled after."""
    default_bank: str = "신한은행"
    """Where virtual accounts are opened when the shopper names no bank."""
    unpaid_units_per_product: int = 10
    """Units of one product one shopper may hold in orders not paid yet (a checkout beyond it is a 409): an unpaid
    order keeps its stock from everyone else until its deadline."""
    order_url: str = "https://shoa.kr/orders/{number}"
    """The order's page in the app, as messages link it; ``{number}`` is the order number."""


class InsightsSettings(_Area, frozen=True, kw_only=True):
    env_prefix: ClassVar[str] = "SHOA_INSIGHTS_"
    retention_days: int = 90
    """How many days of raw events the store keeps; the worker drops older days' partitions. The hourly
    aggregates are kept for ever."""


class WinbackSettings(_Area, frozen=True, kw_only=True):
    env_prefix: ClassVar[str] = "SHOA_WINBACK_"
    weekly_cap: int = 2
    """Advertising messages (price drops, cart reminders) a shopper gets in any 7 days, every mall together."""
    holdout_percent: int = 10
    """The share of shoppers who never get advertising win-back messages: what the uplift is measured against."""
    holdout_salt: str = "shoa-winback-1"
    """Mixed into the hold-out's hash: a new salt draws a new hold-out (and starts the measurement again)."""
    link_base_url: str = "https://shoa.kr"
    """Where a message's links point: ``<base>/w/<token>`` counts the tap and opens the product."""
    product_url: str = "https://shoa.kr/products/{product_id}"
    """Where a tapped link leads, ``{product_id}`` filled in: the app's product page."""


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    app: AppSettings
    database: DatabaseSettings
    redis: RedisSettings
    search: SearchSettings
    meilisearch: MeilisearchSettings
    security: SecuritySettings
    passwords: PasswordSettings
    rate_limits: RateLimitSettings
    catalog: CatalogSettings
    feed: FeedSettings
    oauth: OAuthSettings
    kakao: KakaoSettings
    naver: NaverSettings
    line_login: LineLoginSettings
    notify: NotifySettings
    nhn: NhnSettings
    solapi: SolapiSettings
    line_messaging: LineMessagingSettings
    instagram: InstagramSettings
    talktalk: TalkTalkSettings
    orders: OrdersSettings
    support: SupportSettings
    insights: InsightsSettings
    winback: WinbackSettings

    @property
    def env(self) -> Environment:
        return self.app.env


class ToolSettings(msgspec.Struct, frozen=True, kw_only=True):
    """What the database commands (``shoa migrate``, ``seed``, ``search reindex``, ``malls``, ``messages``) use:
    logging and the database, nothing else -- creating a mall needs neither the API's secret key nor Redis."""

    app: AppSettings
    database: DatabaseSettings


_AREAS: dict[str, type[_Area]] = {
    "app": AppSettings,
    "database": DatabaseSettings,
    "redis": RedisSettings,
    "search": SearchSettings,
    "meilisearch": MeilisearchSettings,
    "security": SecuritySettings,
    "passwords": PasswordSettings,
    "rate_limits": RateLimitSettings,
    "catalog": CatalogSettings,
    "feed": FeedSettings,
    "oauth": OAuthSettings,
    "kakao": KakaoSettings,
    "naver": NaverSettings,
    "line_login": LineLoginSettings,
    "notify": NotifySettings,
    "nhn": NhnSettings,
    "solapi": SolapiSettings,
    "line_messaging": LineMessagingSettings,
    "instagram": InstagramSettings,
    "talktalk": TalkTalkSettings,
    "orders": OrdersSettings,
    "support": SupportSettings,
    "insights": InsightsSettings,
    "winback": WinbackSettings,
}


def settings_variables() -> list[tuple[str, str, bool]]:
    """Every variable this object reads: (name, type, required). The README table is checked against it."""
    rows: list[tuple[str, str, bool]] = []
    for area in _AREAS.values():
        hints = get_type_hints(area)
        for field in msgspec.structs.fields(area):
            name = f"{area.env_prefix}{field.name.upper()}"
            rows.append((name, _describe(hints[field.name]), field.required))
    return rows


def load_settings(
    environ: Mapping[str, str] | None = None,
    *,
    env_file: Path | None = Path(".env"),
    defaults: Mapping[str, str] | None = None,
    overrides: Mapping[str, str] | None = None,
) -> Settings:
    """Build the settings; see :func:`collect_variables` for where each value comes from."""
    values = collect_variables(environ, env_file=env_file, defaults=defaults, overrides=overrides)
    areas = {name: _load_area(area, values) for name, area in _AREAS.items()}
    settings = Settings(**areas)  # type: ignore[arg-type]
    _check_consistency(settings)
    return settings


def load_tool_settings(
    environ: Mapping[str, str] | None = None,
    *,
    env_file: Path | None = Path(".env"),
    defaults: Mapping[str, str] | None = None,
    overrides: Mapping[str, str] | None = None,
) -> ToolSettings:
    """The settings of a database command, read and checked like :func:`load_settings` reads its areas."""
    values = collect_variables(environ, env_file=env_file, defaults=defaults, overrides=overrides)
    settings = ToolSettings(app=_load_area(AppSettings, values), database=_load_area(DatabaseSettings, values))
    _check_database(settings.database)
    return settings


def load_security_settings(
    environ: Mapping[str, str] | None = None,
    *,
    env_file: Path | None = Path(".env"),
    defaults: Mapping[str, str] | None = None,
) -> SecuritySettings:
    """The secret keys alone, for a command that signs what the API verifies (``shoa malls insights-link``)."""
    security = _load_area(SecuritySettings, collect_variables(environ, env_file=env_file, defaults=defaults))
    if len(security.secret_key.reveal()) < MIN_SECRET_KEY_LENGTH:
        msg = f"SHOA_SECRET_KEY is malformed: it needs at least {MIN_SECRET_KEY_LENGTH} characters"
        raise SettingsError(msg)
    return security


def collect_variables(
    environ: Mapping[str, str] | None = None,
    *,
    env_file: Path | None = Path(".env"),
    defaults: Mapping[str, str] | None = None,
    overrides: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The ``SHOA_*`` variables in force: ``defaults``, then ``env_file`` (if present), then ``environ`` (the
    process environment when None), then ``overrides`` -- each later source wins."""
    values: dict[str, str] = dict(defaults or {})
    if env_file is not None and env_file.is_file():
        values.update(_read_env_file(env_file))
    values.update({k: v for k, v in (os.environ if environ is None else environ).items() if k.startswith("SHOA_")})
    values.update(overrides or {})
    return values


def child_environment(variables: Mapping[str, str]) -> dict[str, str]:
    """This process's environment for a child process, with its ``SHOA_*`` variables replaced by ``variables``."""
    return {k: v for k, v in os.environ.items() if not k.startswith("SHOA_")} | dict(variables)


def generate_secret_key() -> str:
    return secrets.token_urlsafe(48)


def _load_area(area: type[_A], values: Mapping[str, str]) -> _A:
    hints = get_type_hints(area)
    kwargs: dict[str, Any] = {}
    for field in msgspec.structs.fields(area):
        variable = f"{area.env_prefix}{field.name.upper()}"
        raw = values.get(variable)
        if raw is None or raw.strip() == "":
            if field.required:
                msg = f"{variable} is missing: {_hint_for(variable)}"
                raise SettingsError(msg)
            continue
        kwargs[field.name] = _convert(variable, raw.strip(), hints[field.name])
    return area(**kwargs)


def _convert(variable: str, raw: str, annotation: Any) -> Any:
    if _strip_optional(annotation) is Secret:
        return Secret(raw)
    try:
        value = msgspec.convert(raw, type=annotation, strict=False)
    except msgspec.ValidationError:
        msg = f"{variable} is malformed: expected {_describe(annotation)}, got {raw!r}"
        raise SettingsError(msg) from None
    if isinstance(value, int | float) and not isinstance(value, bool) and value < 0:
        msg = f"{variable} is malformed: expected a non-negative number, got {raw!r}"
        raise SettingsError(msg)
    return value


def _check_redis(redis: RedisSettings) -> None:
    _require_scheme("SHOA_REDIS_URL", redis.url, {"redis", "rediss", "unix"})
    if redis.max_connections < 1:
        msg = "SHOA_REDIS_MAX_CONNECTIONS is malformed: it must be at least 1"
        raise SettingsError(msg)


def _check_search(settings: Settings) -> None:
    if settings.search.engine == "meilisearch":
        if settings.meilisearch.url is None:
            msg = "SHOA_MEILISEARCH_URL is missing: SHOA_SEARCH_ENGINE=meilisearch needs the server's http(s) URL"
            raise SettingsError(msg)
        if settings.meilisearch.key is None:
            msg = "SHOA_MEILISEARCH_KEY is missing: SHOA_SEARCH_ENGINE=meilisearch needs an API key"
            raise SettingsError(msg)


def _check_consistency(settings: Settings) -> None:
    _check_database(settings.database)
    _check_redis(settings.redis)
    _check_search(settings)
    _require_scheme("SHOA_OAUTH_REDIRECT_BASE_URL", settings.oauth.redirect_base_url, {"http", "https"})
    for prefix, provider in (
        ("SHOA_KAKAO_", settings.kakao),
        ("SHOA_NAVER_", settings.naver),
        ("SHOA_LINE_LOGIN_", settings.line_login),
    ):
        if provider.client_id is not None and provider.client_secret is None:
            msg = f"{prefix}CLIENT_SECRET is missing: {prefix}CLIENT_ID is set, and the token exchange needs both"
            raise SettingsError(msg)
        for name in ("authorize_url", "token_url", "userinfo_url", "jwks_url"):
            if (url := getattr(provider, name, None)) is not None:
                _require_scheme(f"{prefix}{name.upper()}", url, {"http", "https"})
    if settings.meilisearch.url is not None:
        _require_scheme("SHOA_MEILISEARCH_URL", settings.meilisearch.url, {"http", "https"})
    if len(settings.security.secret_key.reveal()) < MIN_SECRET_KEY_LENGTH:
        msg = f"SHOA_SECRET_KEY is malformed: it needs at least {MIN_SECRET_KEY_LENGTH} characters"
        raise SettingsError(msg)
    previous = settings.security.previous_secret_keys
    if previous is not None and any(len(k.strip()) < MIN_SECRET_KEY_LENGTH for k in previous.reveal().split(",")):
        msg = f"SHOA_PREVIOUS_SECRET_KEYS is malformed: each key needs at least {MIN_SECRET_KEY_LENGTH} characters"
        raise SettingsError(msg)
    if min(settings.support.state_minutes, settings.support.proof_tries, settings.support.lock_minutes) < 1:
        msg = (
            "SHOA_SUPPORT_STATE_MINUTES, SHOA_SUPPORT_PROOF_TRIES and SHOA_SUPPORT_LOCK_MINUTES are malformed: "
            "each must be at least 1"
        )
        raise SettingsError(msg)
    if settings.feed.half_life_hours <= 0:
        msg = "SHOA_FEED_HALF_LIFE_HOURS is malformed: scores need a half-life above 0 hours to decay"
        raise SettingsError(msg)
    if settings.security.access_token_minutes < 1 or settings.security.refresh_token_days < 1:
        msg = "SHOA_ACCESS_TOKEN_MINUTES and SHOA_REFRESH_TOKEN_DAYS are malformed: both must be at least 1"
        raise SettingsError(msg)
    if settings.insights.retention_days < MIN_RETENTION_DAYS:
        msg = (
            f"SHOA_INSIGHTS_RETENTION_DAYS is malformed: at least {MIN_RETENTION_DAYS}, since the app may send "
            "events up to 7 days late and the roll-up reads them from the store"
        )
        raise SettingsError(msg)
    _check_notify(settings)
    _check_orders(settings.orders)


def _check_orders(orders: OrdersSettings) -> None:
    if orders.payment_gateway == "toss" and orders.toss_secret_key is None:
        msg = "SHOA_ORDERS_TOSS_SECRET_KEY is missing: SHOA_ORDERS_PAYMENT_GATEWAY=toss confirms payments with it"
        raise SettingsError(msg)
    if orders.deposit_hours < 1 or orders.card_minutes < 1:
        msg = "SHOA_ORDERS_DEPOSIT_HOURS and SHOA_ORDERS_CARD_MINUTES are malformed: both must be at least 1"
        raise SettingsError(msg)
    if "{number}" not in orders.order_url:
        msg = "SHOA_ORDERS_ORDER_URL is malformed: it needs {number} where the order number goes"
        raise SettingsError(msg)
    _require_scheme("SHOA_ORDERS_TOSS_BASE_URL", orders.toss_base_url, {"http", "https"})


_PROVIDER_NEEDS: dict[tuple[str, str], tuple[str, ...]] = {
    ("alimtalk", "nhn"): ("SHOA_NHN_ALIMTALK_APP_KEY", "SHOA_NHN_ALIMTALK_SECRET_KEY", "SHOA_NHN_SENDER_KEY",
                          "SHOA_NHN_SEND_NO"),
    ("sms", "nhn"): ("SHOA_NHN_SMS_APP_KEY", "SHOA_NHN_SMS_SECRET_KEY", "SHOA_NHN_SEND_NO"),
    ("alimtalk", "solapi"): ("SHOA_SOLAPI_API_KEY", "SHOA_SOLAPI_API_SECRET", "SHOA_SOLAPI_PF_ID",
                             "SHOA_SOLAPI_FROM_NUMBER", "SHOA_SOLAPI_TEMPLATE_IDS"),
    ("sms", "solapi"): ("SHOA_SOLAPI_API_KEY", "SHOA_SOLAPI_API_SECRET", "SHOA_SOLAPI_FROM_NUMBER"),
    ("line", "line"): ("SHOA_LINE_MESSAGING_CHANNEL_ACCESS_TOKEN",),
    ("instagram", "instagram"): ("SHOA_INSTAGRAM_ACCESS_TOKEN", "SHOA_INSTAGRAM_IG_USER_ID"),
    ("talktalk", "talktalk"): ("SHOA_TALKTALK_AUTHORIZATION_KEY",),
}  # fmt: skip
"""The settings each channel's provider cannot send without."""


def _check_notify(settings: Settings) -> None:
    notify = settings.notify
    if notify.max_attempts < 1 or notify.batch_size < 1:
        msg = "SHOA_NOTIFY_MAX_ATTEMPTS and SHOA_NOTIFY_BATCH_SIZE are malformed: both must be at least 1"
        raise SettingsError(msg)
    if notify.lease_seconds <= 0 or notify.retry_base_seconds <= 0:
        msg = "SHOA_NOTIFY_LEASE_SECONDS and SHOA_NOTIFY_RETRY_BASE_SECONDS are malformed: both must be above 0"
        raise SettingsError(msg)
    areas: dict[str, _Area] = {
        area.env_prefix: area
        for area in (settings.nhn, settings.solapi, settings.line_messaging, settings.instagram, settings.talktalk)
    }
    for channel in ("alimtalk", "sms", "line", "instagram", "talktalk"):
        provider = getattr(notify, f"provider_{channel}")
        for variable in _PROVIDER_NEEDS.get((channel, provider), ()):
            prefix = next(prefix for prefix in areas if variable.startswith(prefix))
            if getattr(areas[prefix], variable.removeprefix(prefix).lower()) is None:
                msg = f"{variable} is missing: SHOA_NOTIFY_PROVIDER_{channel.upper()}={provider} sends with it"
                raise SettingsError(msg)
    settings.solapi.template_ids_by_code()  # refuses malformed pairs now, whichever provider sends
    for prefix, area in areas.items():
        for name in ("base_url", "alimtalk_base_url", "sms_base_url"):
            if (url := getattr(area, name, None)) is not None:
                _require_scheme(f"{prefix}{name.upper()}", url, {"http", "https"})


def _check_database(database: DatabaseSettings) -> None:
    _require_scheme("SHOA_DATABASE_URL", database.url, {"postgresql", "postgresql+asyncpg", "postgres"})


def _require_scheme(variable: str, url: str, schemes: set[str]) -> None:
    parts = urlsplit(url)
    if parts.scheme not in schemes or not (parts.netloc or parts.path or parts.query):
        allowed = ", ".join(f"{s}://" for s in sorted(schemes))
        msg = f"{variable} is malformed: expected a URL starting with one of {allowed}"
        raise SettingsError(msg)


def _hint_for(variable: str) -> str:
    hints = {
        "SHOA_DATABASE_URL": "set it to a PostgreSQL URL such as postgresql+asyncpg://shoa:pw@localhost:5432/shoa",
        "SHOA_REDIS_URL": "set it to a Redis URL such as redis://localhost:6379/0",
        "SHOA_SECRET_KEY": "set it to at least 32 random characters (python -c 'import secrets; "
        "print(secrets.token_urlsafe(48))')",
    }
    return hints.get(variable, "set it in the environment or in .env")


def _strip_optional(annotation: Any) -> Any:
    args = [a for a in get_args(annotation) if a is not type(None)]
    if get_args(annotation) and len(args) == 1 and type(None) in get_args(annotation):
        return args[0]
    return annotation


def _describe(annotation: Any) -> str:
    inner = _strip_optional(annotation)
    if get_origin(inner) is Literal:
        return " | ".join(str(a) for a in get_args(inner))
    names = {str: "text", int: "integer", float: "number", bool: "true | false", Secret: "secret"}
    return names.get(inner, str(inner))


def _read_env_file(path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        key, sep, value = stripped.removeprefix("export ").partition("=")
        if not sep:
            msg = f"{path}:{number} is malformed: expected KEY=VALUE"
            raise SettingsError(msg)
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        values[key.strip()] = value
    return values
