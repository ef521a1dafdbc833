"""Liveness, readiness and metrics: for orchestrators and scrapers, not for people."""

from __future__ import annotations

import logging
import secrets
from typing import Any

import httpx
from litestar import Controller, Request, Response, get
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.openapi.datastructures import ResponseSpec
from redis.asyncio import Redis
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from notify import service as notify_service
from shoa_api.errors import RETRY_AFTER_SECONDS, problem_response
from shoa_api.observability import PROMETHEUS_CONTENT_TYPE, Metrics, messaging_metrics
from shoa_api.openapi import Readiness, Refusal, problems
from shoa_api.readiness import check_readiness
from shoa_api.settings import Settings

logger = logging.getLogger(__name__)


class HealthController(Controller):
    path = "/health"
    tags = ["health"]  # noqa: RUF012 - Litestar reads it as a class attribute

    @get("/live", operation_id="health_live", summary="The process is up", cache=False)
    async def live(self) -> dict[str, str]:
        return {"status": "ok"}

    @get(
        "/ready",
        operation_id="health_ready",
        summary="PostgreSQL, Redis and the search engine answer",
        responses={
            200: ResponseSpec(Readiness, generate_examples=False, description="Every backing service answers"),
            **problems(
                Refusal(
                    503,
                    "not-ready",
                    "Not ready",
                    "unavailable: redis",
                    members={"checks": {"database": "ok", "redis": "ConnectionError", "search": "ok"}},
                )
            ),
        },
        cache=False,
    )
    async def ready(
        self,
        request: Request[Any, Any, State],
        settings: NamedDependency[Settings],
        db_engine: NamedDependency[AsyncEngine],
        redis: NamedDependency[Redis],
        http: NamedDependency[httpx.AsyncClient],
    ) -> Response[Any]:
        readiness = await check_readiness(settings=settings, engine=db_engine, redis=redis, http=http)
        if readiness.ready:
            return Response({"status": "ok", "checks": readiness.checks})
        return problem_response(
            request,
            status=503,
            code="not-ready",
            title="Not ready",
            detail=f"unavailable: {', '.join(readiness.failed)}",
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
            checks=readiness.checks,
        )


@get("/metrics", operation_id="metrics", summary="Prometheus metrics", include_in_schema=False, cache=False)
async def metrics(
    request: Request[Any, Any, State],
    metrics: NamedDependency[Metrics],
    settings: NamedDependency[Settings],
    db_read: NamedDependency[AsyncSession],
) -> Response[Any]:
    token = settings.app.metrics_token
    if token is None:
        return problem_response(request, status=404, code="not-found", title="Not Found", detail="No such resource.")
    sent = request.headers.get("authorization", "").encode()
    if not secrets.compare_digest(sent, f"Bearer {token.reveal()}".encode()):
        return problem_response(
            request,
            status=401,
            code="metrics-token-required",
            title="Metrics token required",
            detail="Send the scraper's token as `Authorization: Bearer <SHOA_METRICS_TOKEN>`.",
            headers={"WWW-Authenticate": 'Bearer realm="shoa-metrics"'},
        )
    try:
        outcomes, statuses = await notify_service.delivery_counts(db_read)
    except (SQLAlchemyError, OSError):
        # The request counters matter most while the database is down: they are served without messaging's.
        logger.warning("messaging metrics left out: the database did not answer", exc_info=True)
        return Response(metrics.exposition(), media_type=PROMETHEUS_CONTENT_TYPE)
    return Response(metrics.exposition(*messaging_metrics(outcomes, statuses)), media_type=PROMETHEUS_CONTENT_TYPE)
