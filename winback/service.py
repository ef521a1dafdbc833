"""What a shopper does with win-back (ask for a restock alert, cancel it, list her alerts, tune price drops and
cart reminders) and what a message's links do (count the tap, find whose opt-out it is). Over a session the
caller owns: they flush, never commit."""

from __future__ import annotations

from typing import TYPE_CHECKING

import msgspec
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert

from catalog.models import Mall, MallStatus, Product, ProductStatus, Variant
from orders.stock import options_text
from winback.errors import LinkNotFoundError, VariantInStockError, VariantNotFoundError
from winback.models import AlertStatus, Preferences, PriceWatch, RestockAlert, Send
from winback.schemas import Alerts, CartReminderSettings, PriceDropSettings, RestockAlertView

if TYPE_CHECKING:
    import datetime
    import uuid

    from sqlalchemy.ext.asyncio import AsyncSession

    from winback.schemas import PreferencesUpdate

ALERTS_LISTED = 100
"""``GET /v1/alerts`` lists her latest restock alerts, at most this many."""


async def ask_restock(
    session: AsyncSession, user_id: uuid.UUID, variant_id: uuid.UUID, *, now: datetime.datetime
) -> tuple[RestockAlertView, bool]:
    """Her waiting alert on the variant, and whether it is new: asking twice is one alert, in the place of the
    first ask. Only a sold-out option of a listed product can be waited for."""
    row = (
        await session.execute(
            sa.select(Variant.id, Variant.stock, Variant.product_id, Variant.mall_id)
            .join(Product, Product.id == Variant.product_id)
            .join(Mall, Mall.id == Variant.mall_id)
            .where(
                Variant.id == variant_id,
                Product.status != ProductStatus.HIDDEN.value,
                Mall.status == MallStatus.ACTIVE.value,
            )
        )
    ).one_or_none()
    if row is None:
        msg = f"no product option {variant_id} is listed on Shoa"
        raise VariantNotFoundError(msg, field="variant_id")
    if row.stock > 0:
        msg = "this option is in stock now: it can be bought, there is nothing to wait for"
        raise VariantInStockError(msg, field="variant_id")
    alert_id = await session.scalar(
        insert(RestockAlert)
        .values(user_id=user_id, variant_id=variant_id, product_id=row.product_id, mall_id=row.mall_id, created_at=now)
        .on_conflict_do_nothing(index_elements=["user_id", "variant_id"], index_where=sa.text("status = 'waiting'"))
        .returning(RestockAlert.id)
    )
    created = alert_id is not None
    views = await _alert_views(session, user_id, variant_id=variant_id, waiting_only=True)
    return views[0], created


async def cancel_restock(
    session: AsyncSession, user_id: uuid.UUID, variant_id: uuid.UUID, *, now: datetime.datetime
) -> bool:
    """Cancel her waiting alert on the variant; whether there was one (cancelling twice is no error)."""
    cancelled = await session.scalar(
        sa.update(RestockAlert)
        .where(
            RestockAlert.user_id == user_id,
            RestockAlert.variant_id == variant_id,
            RestockAlert.status == AlertStatus.WAITING.value,
        )
        .values(status=AlertStatus.CANCELLED.value, ended_at=now)
        .returning(RestockAlert.id)
    )
    return cancelled is not None


async def watch_price(
    session: AsyncSession, user_id: uuid.UUID, product_id: uuid.UUID, *, now: datetime.datetime
) -> None:
    """Watch a product she just liked from the price it has now (a price-drop alert compares with it). The web
    layer calls it in the like's transaction; the worker's sweep watches any like that missed it."""
    await session.execute(
        insert(PriceWatch)
        .from_select(
            ["user_id", "product_id", "reference_price", "since"],
            sa.select(
                sa.literal(user_id, PriceWatch.user_id.type),
                Product.id,
                Product.price_from,
                sa.literal(now, PriceWatch.since.type),
            ).where(Product.id == product_id, Product.price_from > 0),
        )
        .on_conflict_do_nothing(index_elements=["user_id", "product_id"])
    )


async def alerts(session: AsyncSession, user_id: uuid.UUID, *, advertising_reaches_me: bool) -> Alerts:
    preferences = await session.get(Preferences, user_id)
    watching = await session.scalar(
        sa.select(sa.func.count()).select_from(PriceWatch).where(PriceWatch.user_id == user_id)
    )
    return Alerts(
        restock=await _alert_views(session, user_id),
        price_drops=PriceDropSettings(
            enabled=preferences.price_drops if preferences else True,
            percent=preferences.price_drop_percent if preferences else 10,
            watching=watching or 0,
        ),
        cart_reminders=CartReminderSettings(enabled=preferences.cart_reminders if preferences else True),
        advertising_reaches_me=advertising_reaches_me,
    )


async def update_preferences(
    session: AsyncSession, user_id: uuid.UUID, update: PreferencesUpdate, *, now: datetime.datetime
) -> None:
    values = {name: value for name, value in msgspec.structs.asdict(update).items() if value is not msgspec.UNSET}
    if not values:
        return
    await session.execute(
        insert(Preferences)
        .values(user_id=user_id, updated_at=now, **values)
        .on_conflict_do_update(index_elements=["user_id"], set_={**values, "updated_at": now})
    )


async def follow_link(session: AsyncSession, token: str, *, now: datetime.datetime, count: bool = True) -> uuid.UUID:
    """The product a message's link is about, its first tap recorded (unless ``count`` is off: a messenger's
    preview crawler fetched it, not the shopper)."""
    send = await session.scalar(sa.select(Send).where(Send.token == token).with_for_update())
    if send is None:
        msg = "this link is not one Shoa sent, or it was mistyped"
        raise LinkNotFoundError(msg)
    if count and send.clicked_at is None:
        send.clicked_at = now
    return send.product_id


async def link_owner(session: AsyncSession, token: str) -> uuid.UUID:
    """The shopper a message's link was sent to: whose advertising its opt-out stops."""
    user_id = await session.scalar(sa.select(Send.user_id).where(Send.token == token))
    if user_id is None:
        msg = "this link is not one Shoa sent, or it was mistyped"
        raise LinkNotFoundError(msg)
    return user_id


async def _alert_views(
    session: AsyncSession, user_id: uuid.UUID, *, variant_id: uuid.UUID | None = None, waiting_only: bool = False
) -> list[RestockAlertView]:
    ahead = (
        sa.select(sa.func.count())
        .select_from(RestockAlert.__table__.alias("earlier"))
        .where(
            sa.text("earlier.variant_id = winback_restock_alerts.variant_id"),
            sa.text("earlier.status = 'waiting'"),
            sa.text("earlier.id < winback_restock_alerts.id"),
        )
        .scalar_subquery()
    )
    query = (
        sa.select(RestockAlert, Variant, Product.name, Mall.name.label("mall_name"), ahead.label("ahead"))
        .join(Variant, Variant.id == RestockAlert.variant_id)
        .join(Product, Product.id == RestockAlert.product_id)
        .join(Mall, Mall.id == RestockAlert.mall_id)
        .where(RestockAlert.user_id == user_id)
        .order_by(RestockAlert.id.desc())
        .limit(ALERTS_LISTED)
    )
    if variant_id is not None:
        query = query.where(RestockAlert.variant_id == variant_id)
    if waiting_only:
        query = query.where(RestockAlert.status == AlertStatus.WAITING.value)
    return [
        RestockAlertView(
            id=alert.id,
            variant_id=alert.variant_id,
            product_id=alert.product_id,
            product_name=name,
            option=options_text(variant.color, variant.size, variant.options),
            mall_name=mall_name,
            status=alert.status,
            place_in_line=ahead + 1 if alert.status == AlertStatus.WAITING.value else None,
            created_at=alert.created_at,
            ended_at=alert.ended_at,
        )
        for alert, variant, name, mall_name, ahead in await session.execute(query)
    ]
