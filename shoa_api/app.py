"""The application factory: settings in, a Litestar app out. Nothing connects until the lifespan starts."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from typing import TYPE_CHECKING

import httpx
from advanced_alchemy.extensions.litestar import AsyncSessionConfig, SQLAlchemyAsyncConfig, SQLAlchemyPlugin
from litestar import Litestar
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Contact
from redis.asyncio import Redis  # noqa: TC002 - Litestar reads the providers' return types at runtime

from catalog.search.tantivy_engine import TantivyEngine
from notify.delivery import Providers  # noqa: TC001 - Litestar reads dependency annotations
from notify.rendering import Templates
from notify.service import Outbox  # noqa: TC001
from personalization import candidates, feed_pages, taste
from personalization.events import Recorder  # noqa: TC001 - Litestar reads dependency annotations
from shoa_api.auth import (
    REVOKED_ACCESS_PREFIX,
    AuthKit,
    provide_issuer,
    provide_optional_shopper,
    provide_partner,
    provide_shopper,
)
from shoa_api.caching import CATALOG_VERSION_KEY, PUBLIC_CACHE_STORE, PublicAnswerStore, public_cache_config
from shoa_api.database import (
    create_engine,
    create_read_session_maker,
    create_session_maker,
    provide_read_session,
    provide_transaction,
)
from shoa_api.errors import exception_handlers
from shoa_api.http_methods import MethodSemantics, allowed_methods
from shoa_api.json_bodies import check_json_body
from shoa_api.mirror import RedisMirror
from shoa_api.observability import Metrics, ObservabilityMiddleware, configure_logging, tag_response
from shoa_api.openapi import docs_plugins
from shoa_api.ratelimit import RateLimitMiddleware, anonymous_read_limiter
from shoa_api.routes.account import AccountController
from shoa_api.routes.alerts import AlertController
from shoa_api.routes.auth import AuthController
from shoa_api.routes.catalog import MallController, ProductController, list_categories
from shoa_api.routes.chat import (
    chat_instagram,
    chat_instagram_subscription,
    chat_kakao,
    chat_line,
    chat_talktalk,
)
from shoa_api.routes.dev import list_sandbox_messages
from shoa_api.routes.feed import get_feed
from shoa_api.routes.health import HealthController, metrics
from shoa_api.routes.insights import InsightsController
from shoa_api.routes.insights_page import InsightsLinkController, insights_page
from shoa_api.routes.marketing import MarketingController
from shoa_api.routes.messages import list_my_messages
from shoa_api.routes.orders import (
    CartController,
    OrderController,
    dev_authorize_card,
    dev_deposit,
    receive_payment_webhook,
)
from shoa_api.routes.partner import PartnerController
from shoa_api.routes.partner_inquiries import PartnerInquiryController
from shoa_api.routes.partner_orders import PartnerOrderController
from shoa_api.routes.rankings import get_rankings
from shoa_api.routes.search import search_products
from shoa_api.routes.signals import LikeController, record_events
from shoa_api.routes.vocabulary import get_catalog_vocabulary
from shoa_api.routes.webhooks import receive_message_receipts
from shoa_api.routes.winback_links import follow_winback_link, opt_out, opt_out_page
from shoa_api.settings import Settings, load_settings
from shoa_api.wiring import (
    ChatKit,
    OrderKit,
    feed_memory_from,
    messaging_providers,
    order_kit,
    outbox_from,
    recorder_from,
    redis_client,
    winback_kit,
)
from shoa_api.wiring import (
    search_engine as search_engine_for,
)
from winback.jobs import WinbackKit  # noqa: TC001 - Litestar resolves the providers' annotations

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from litestar.datastructures import State


logger = logging.getLogger("shoa.app")

API_VERSION = "1.0.0"
MIRRORED_PREFIXES = (
    REVOKED_ACCESS_PREFIX,  # read by every request with a token
    taste.TASTE_VERSION_PREFIX,
    feed_pages.MEMO_PREFIX,
    candidates.KEY_PREFIX,  # which candidate list is current, per segment
    CATALOG_VERSION_KEY,  # read by every cached public answer
)
"""Keys read on most requests and written rarely: kept in memory while Redis reports their changes."""
HTTP_TIMEOUT = httpx.Timeout(connect=3.0, read=10.0, write=10.0, pool=3.0)


def create_app(settings: Settings) -> Litestar:
    configure_logging(settings.app)
    app_metrics = Metrics()
    engine = create_engine(settings.database)
    database = SQLAlchemyAsyncConfig(
        engine_instance=engine,
        session_config=AsyncSessionConfig(expire_on_commit=False),
        session_dependency_key="db_session",
        engine_dependency_key="db_engine",
        # The request's commit happens in `provide_transaction`; the plugin only opens and closes sessions.
        before_send_handler=None,
    )

    anonymous_reads = anonymous_read_limiter(settings.rate_limits)
    public_answers = PublicAnswerStore()
    templates = Templates.load()  # a broken message template stops the app here
    outbox = outbox_from(templates)

    @contextlib.asynccontextmanager
    async def clients(app: Litestar) -> AsyncIterator[None]:
        redis = redis_client(settings.redis)
        http = httpx.AsyncClient(timeout=HTTP_TIMEOUT, follow_redirects=False)
        app.state.redis, app.state.http, app.state.settings = redis, http, settings
        app.state.mirror = mirror = RedisMirror(redis, MIRRORED_PREFIXES)
        public_answers.follow(mirror)
        app.state.read_session_maker = create_read_session_maker(engine)
        app.state.auth = AuthKit(settings)
        app.state.recorder = recorder_from(settings.feed)
        app.state.feed_memory = feed_memory_from(settings)  # this app's own: nothing is shared across apps
        # Meilisearch's and Tantivy's indexes are the worker's to create and keep; the API only searches (and its
        # readiness says so while the index is missing).
        app.state.search_engine = search_engine = search_engine_for(settings, http)
        app.state.outbox = outbox
        app.state.winback = winback_kit(settings, outbox=outbox)
        # The sandbox gateway stands for a remote service, so its connections are its own: a checkout asks it for a
        # virtual account while holding one of the pool's, and ten such checkouts at once waited for each other.
        gateway_engine = create_engine(settings.database)  # never connects unless the sandbox is the gateway
        app.state.orders = order_kit(
            settings, outbox=outbox, http=http, session_maker=create_session_maker(gateway_engine)
        )
        # For delivery reports: each provider verifies its own (the sandbox also reads its table).
        app.state.chat = ChatKit(settings, redis=redis, outbox=outbox, orders=app.state.orders)
        app.state.messaging = messaging_providers(
            settings, http=http, session_maker=create_session_maker(engine), templates=templates
        )
        logger.info("Shoa API starting: env=%s, search engine=%s", settings.env, settings.search.engine)
        # Everything built so far lives as long as the process: keep it out of the collector's way, so that
        # collections only scan what requests allocate.
        gc.collect()
        gc.freeze()
        flusher = asyncio.create_task(anonymous_reads.run(redis), name="rate-limit-flush")
        mirroring = asyncio.create_task(mirror.run(), name="redis-mirror")
        try:
            yield
        finally:
            await _stop_tasks(flusher, mirroring)
            if isinstance(search_engine, TantivyEngine):
                search_engine.close()
            await http.aclose()
            await redis.aclose()
            # The engine is ours, handed to the plugin: without this, every stopped app left a connection open.
            await engine.dispose()
            await gateway_engine.dispose()

    app = Litestar(
        route_handlers=[
            HealthController,
            metrics,
            MallController,
            ProductController,
            list_categories,
            get_catalog_vocabulary,
            search_products,
            record_events,
            get_feed,
            get_rankings,
            LikeController,
            AuthController,
            AccountController,
            MarketingController,
            list_my_messages,
            PartnerController,
            CartController,
            OrderController,
            PartnerOrderController,
            receive_message_receipts,
            receive_payment_webhook,
            chat_kakao,
            chat_line,
            chat_instagram_subscription,
            chat_instagram,
            chat_talktalk,
            PartnerInquiryController,
            InsightsController,
            InsightsLinkController,
            insights_page,
            AlertController,
            follow_winback_link,
            opt_out_page,
            opt_out,
            # What the sandbox provider would have sent, and the sandbox gateway's payer: a developer's own Shoa only.
            *([list_sandbox_messages, dev_authorize_card, dev_deposit] if settings.env == "development" else []),
        ],
        plugins=[SQLAlchemyPlugin(config=database)],
        lifespan=[clients],
        dependencies={
            "settings": Provide(lambda: settings, use_cache=True, sync_to_thread=False),
            "metrics": Provide(lambda: app_metrics, use_cache=True, sync_to_thread=False),
            "redis": Provide(_state_redis, sync_to_thread=False),
            "mirror": Provide(_state_mirror, sync_to_thread=False),
            "recorder": Provide(_state_recorder, sync_to_thread=False),
            "http": Provide(_state_http, sync_to_thread=False),
            "outbox": Provide(_state_outbox, sync_to_thread=False),
            "orders": Provide(_state_orders, sync_to_thread=False),
            "messaging": Provide(_state_messaging, sync_to_thread=False),
            "chat": Provide(_state_chat, sync_to_thread=False),
            "winback": Provide(_state_winback, sync_to_thread=False),
            "db": Provide(provide_transaction),
            "db_read": Provide(provide_read_session),
            "issuer": Provide(provide_issuer, sync_to_thread=False),
            "shopper": Provide(provide_shopper),
            "optional_shopper": Provide(provide_optional_shopper),
            "partner": Provide(provide_partner, sync_to_thread=False),
        },
        exception_handlers=exception_handlers(),
        before_send=[tag_response],
        before_request=check_json_body,
        openapi_config=OpenAPIConfig(
            title="Shoa API",
            version=API_VERSION,
            description="Korean fashion malls in one app: catalog, search, personalized feed, orders.",
            contact=Contact(name="Shoa engineering", email="dev@shoa.kr"),
            path="/schema",
            # Swagger UI from the installed swagger-ui-py package: the docs work with no internet.
            render_plugins=docs_plugins("/schema"),
        ),
        response_cache_config=public_cache_config(settings.app.public_cache_seconds),
        stores={PUBLIC_CACHE_STORE: public_answers},
        logging_config=None,
        # The largest body any route takes is a catalog sync batch; beyond it Litestar answers 413.
        request_max_body_size=settings.catalog.max_batch_bytes,
        debug=False,
    )
    # Wrap the whole handler (routing and exception handling included), so that unknown paths and errors
    # also carry a request id and are counted, and limits apply before any routing work.
    rate_limits = RateLimitMiddleware(app.asgi_handler, settings.rate_limits, anonymous=anonymous_reads)
    app.asgi_handler = ObservabilityMiddleware(MethodSemantics(rate_limits, allowed_methods(app)), app_metrics)
    return app


def create_app_from_environment() -> Litestar:
    """Zero-argument factory for ``uvicorn --factory`` and multi-worker ``shoa serve``."""
    return create_app(load_settings())


def _state_redis(state: State) -> Redis:
    redis: Redis = state.redis
    return redis


def _state_mirror(state: State) -> RedisMirror:
    mirror: RedisMirror = state.mirror
    return mirror


def _state_recorder(state: State) -> Recorder:
    recorder: Recorder = state.recorder
    return recorder


def _state_http(state: State) -> httpx.AsyncClient:
    http: httpx.AsyncClient = state.http
    return http


def _state_orders(state: State) -> OrderKit:
    orders: OrderKit = state.orders
    return orders


def _state_winback(state: State) -> WinbackKit:
    winback: WinbackKit = state.winback
    return winback


def _state_outbox(state: State) -> Outbox:
    outbox: Outbox = state.outbox
    return outbox


def _state_chat(state: State) -> ChatKit:
    chat: ChatKit = state.chat
    return chat


def _state_messaging(state: State) -> Providers:
    providers: Providers = state.messaging
    return providers


async def _stop_tasks(*tasks: asyncio.Task[None]) -> None:
    """Cancel ``tasks`` and wait until they end, cancelling again while they do not: redis-py can swallow a
    cancellation that lands inside its own timeouts (once, ``shoa dev`` stopped a second after it started
    never finished shutting down)."""
    pending: set[asyncio.Task[None]] = set(tasks)
    while pending:
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=1.0)
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            task.result()
