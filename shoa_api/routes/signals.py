"""Behaviour signals and likes: what the app tells Shoa about a shopper's taste."""

from __future__ import annotations

import uuid
from http import HTTPStatus
from typing import Annotated, Any

from litestar import Controller, Request, delete, get, post, put
from litestar.di import NamedDependency
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, HeaderParameter, QueryParameter
from litestar.response import Response
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED, HTTP_204_NO_CONTENT
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.segments import ANONYMOUS_AUDIENCE
from accounts.service import shopper_audience, shopper_segment
from accounts.tokens import AccessClaims
from catalog.errors import InvalidCursorError
from personalization import events, likes, taste
from personalization.errors import (
    InvalidEventBatchError,
    LikedProductNotFoundError,
    MissingDeviceError,
    TooManyEventsError,
)
from personalization.events import EventBatchResult, Recorder
from personalization.likes import LikePage
from personalization.scores import Contributor, Signal, add_signals
from shoa_api.mirror import RedisMirror
from shoa_api.openapi import EventBatch, problems
from shoa_api.ratelimit import Limit, RateLimiter
from shoa_api.settings import Settings
from shoa_kernel.clock import utc_now
from winback import service as winback_service

DeviceId = Annotated[
    str | None,
    HeaderParameter(
        name="X-Device-Id",
        pattern=r"^[A-Za-z0-9._:-]{8,64}$",
        description="An anonymous app's own id for its install; without it (or a token) the events are a 401.",
    ),
]


@post(
    "/v1/events",
    operation_id="record_events",
    summary="Tell Shoa what a shopper viewed, clicked, liked or put in the cart (up to 100 events)",
    status_code=HTTP_200_OK,
    tags=["personalization"],
    description="Anonymous apps send `X-Device-Id` (8 to 64 letters, digits and `._:-`); logged-in ones their token. "
    "Each event is accepted, a duplicate (its id was seen before) or rejected on its own.",
    opt={"json_body": True, "body": EventBatch},
    responses=problems(
        MissingDeviceError("send X-Device-Id (8 to 64 letters, digits and ._:-) or log in"),
        InvalidEventBatchError("a batch holds at most 100 events; this one has 120"),
        TooManyEventsError("at most 300 events a minute per device or shopper; retry after 20 s", retry_after=20),
    ),
)
async def record_events(
    *,
    request: Request[Any, Any, Any],
    db: NamedDependency[AsyncSession],
    redis: NamedDependency[Redis],
    settings: NamedDependency[Settings],
    recorder: NamedDependency[Recorder],
    mirror: NamedDependency[RedisMirror],
    optional_shopper: NamedDependency[AccessClaims | None],
    device_id: DeviceId = None,
) -> EventBatchResult:
    """Anonymous apps send ``X-Device-Id`` (8 to 64 letters, digits and ``._:-``); logged-in ones their token."""
    now = utc_now()
    device: str | None = None
    if optional_shopper is not None:
        actor = f"user:{optional_shopper.user_id}"
        audience = await shopper_audience(db, optional_shopper.user_id, now=now)
    else:
        if (device := device_id) is None:
            msg = "send X-Device-Id (8 to 64 letters, digits and ._:-) or log in"
            raise MissingDeviceError(msg)
        actor, audience = f"device:{device}", ANONYMOUS_AUDIENCE
    items = events.decode_batch(await request.body())
    limit = Limit("events", settings.feed.events_per_device_per_minute, 60)
    if (retry_after := await RateLimiter(redis).hit(limit, actor, amount=len(items))) is not None:
        msg = f"at most {limit.limit} events a minute per device or shopper; retry after {retry_after} s"
        raise TooManyEventsError(msg, retry_after=retry_after)
    result = await events.record_events(
        db,
        redis,
        recorder,
        actor=actor,
        audience=audience,
        items=items,
        now=now,
        user_id=optional_shopper.user_id if optional_shopper is not None else None,
        device_id=device,
    )
    if optional_shopper is not None and result.accepted:
        mirror.forget(taste.taste_version_key(optional_shopper.user_id))  # moved with the affinities
    return result


class LikeController(Controller):
    path = "/v1/likes"
    tags = ["personalization"]  # noqa: RUF012 - Litestar reads it as a class attribute

    @get(
        operation_id="list_likes",
        summary="The products I liked, most recent first",
        responses=problems(InvalidCursorError("cursor is not one this API gave out; start again without it")),
    )
    async def list_likes(
        self,
        db: NamedDependency[AsyncSession],
        shopper: NamedDependency[AccessClaims],
        cursor: Annotated[str | None, QueryParameter(max_length=512)] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=100)] = 20,
    ) -> LikePage:
        return await likes.liked_products(db, user_id=shopper.user_id, cursor=cursor, limit=limit)

    @put(
        "/{product_id:uuid}",
        operation_id="like_product",
        summary="Like a product (again is fine)",
        responses={
            HTTP_201_CREATED: ResponseSpec(None, description="Liked"),
            HTTP_200_OK: ResponseSpec(None, description="Already liked: nothing changed"),
            **problems(
                LikedProductNotFoundError("no product 0193a1c2-6f70-7b21-9c3d-4e5f6a7b8c02 is on show"),
                HTTPStatus.NOT_FOUND,
            ),
        },
    )
    async def like_product(
        self,
        *,
        db: NamedDependency[AsyncSession],
        redis: NamedDependency[Redis],
        recorder: NamedDependency[Recorder],
        mirror: NamedDependency[RedisMirror],
        shopper: NamedDependency[AccessClaims],
        product_id: FromPath[uuid.UUID],
    ) -> Response[None]:
        created = await likes.like(db, user_id=shopper.user_id, product_id=product_id)
        if created:
            # A price-drop alert compares with the price she liked it at (decision 0041).
            await winback_service.watch_price(db, shopper.user_id, product_id, now=utc_now())
            await db.commit()  # before the feed may re-rank with it
            await taste.taste_changed(redis, shopper.user_id, forget=mirror.forget)
            now = utc_now()
            actor = f"user:{shopper.user_id}"
            signal = Signal(await shopper_segment(db, shopper.user_id, now=now), product_id, recorder.weights["like"],
                            now.timestamp())  # fmt: skip
            await add_signals(
                redis,
                recorder.decay,
                [signal],
                now=now.timestamp(),
                once_keys=[events.like_once_key(actor, product_id)],
                once_seconds=events.DEDUPLICATION_SECONDS,
                contributor=Contributor.shopper(shopper.user_id),
            )
        return Response(None, status_code=HTTP_201_CREATED if created else HTTP_200_OK)

    @delete(
        "/{product_id:uuid}",
        operation_id="unlike_product",
        summary="Take back a like",
        status_code=HTTP_204_NO_CONTENT,
        responses=problems(HTTPStatus.NOT_FOUND),
    )
    async def unlike_product(
        self,
        db: NamedDependency[AsyncSession],
        redis: NamedDependency[Redis],
        mirror: NamedDependency[RedisMirror],
        shopper: NamedDependency[AccessClaims],
        product_id: FromPath[uuid.UUID],
    ) -> None:
        await likes.unlike(db, user_id=shopper.user_id, product_id=product_id)
        await db.commit()  # before the feed may re-rank without it
        await taste.taste_changed(redis, shopper.user_id, forget=mirror.forget)
