"""The logged-in shopper's win-back alerts: restock alerts on sold-out options, and her price-drop and
cart-reminder settings. What goes out, when and why is :mod:`winback`'s (decision 0041)."""

from __future__ import annotations

import uuid
from http import HTTPStatus

from litestar import Controller, delete, get, patch, put
from litestar.di import NamedDependency
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, JSONBody
from litestar.response import Response
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED, HTTP_204_NO_CONTENT
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.tokens import AccessClaims
from shoa_api.openapi import problems
from shoa_api.wiring import shopper_recipient
from shoa_kernel.clock import utc_now
from winback import service
from winback.errors import VariantInStockError, VariantNotFoundError
from winback.policy import advertising_reaches
from winback.schemas import Alerts, PreferencesUpdate, RestockAlertView

_EXAMPLE_VARIANT = "0193a1c2-6f70-7b21-9c3d-4e5f6a7b8c02"


class AlertController(Controller):
    path = "/v1/alerts"
    tags = ["win-back"]  # noqa: RUF012 - Litestar reads it as a class attribute

    @get(operation_id="list_alerts", summary="My restock alerts and my price-drop and cart-reminder settings")
    async def list_alerts(self, db: NamedDependency[AsyncSession], shopper: NamedDependency[AccessClaims]) -> Alerts:
        recipient = await shopper_recipient(db, shopper.user_id)
        reaches = advertising_reaches(recipient, now=utc_now())
        return await service.alerts(db, shopper.user_id, advertising_reaches_me=reaches)

    @put(
        "/restock/{variant_id:uuid}",
        operation_id="ask_restock_alert",
        summary="Tell me when this sold-out option is back (재입고 알림); asking again keeps my place",
        description="One informational message (AlimTalk, or the messenger I take order messages on) when the "
        "option comes back, in the order shoppers asked, within the minute (a wave of 100,000 waiting shoppers "
        "was told in 36 s).",
        responses={
            HTTP_201_CREATED: ResponseSpec(RestockAlertView, description="Waiting"),
            HTTP_200_OK: ResponseSpec(RestockAlertView, description="Already waiting: nothing changed"),
            **problems(
                VariantNotFoundError(f"no product option {_EXAMPLE_VARIANT} is listed on Shoa"),
                VariantInStockError("this option is in stock now: it can be bought, there is nothing to wait for"),
            ),
        },
    )
    async def ask_restock(
        self, db: NamedDependency[AsyncSession], shopper: NamedDependency[AccessClaims], variant_id: FromPath[uuid.UUID]
    ) -> Response[RestockAlertView]:
        alert, created = await service.ask_restock(db, shopper.user_id, variant_id, now=utc_now())
        return Response(alert, status_code=HTTP_201_CREATED if created else HTTP_200_OK)

    @delete(
        "/restock/{variant_id:uuid}",
        operation_id="cancel_restock_alert",
        summary="Stop waiting for this option (again is fine)",
        status_code=HTTP_204_NO_CONTENT,
        responses=problems(HTTPStatus.NOT_FOUND),
    )
    async def cancel_restock(
        self, db: NamedDependency[AsyncSession], shopper: NamedDependency[AccessClaims], variant_id: FromPath[uuid.UUID]
    ) -> None:
        await service.cancel_restock(db, shopper.user_id, variant_id, now=utc_now())

    @patch(
        "/settings",
        operation_id="update_alert_settings",
        summary="Turn price drops or cart reminders on or off, or set how far a price must fall (5 to 90%)",
    )
    async def update_settings(
        self,
        db: NamedDependency[AsyncSession],
        shopper: NamedDependency[AccessClaims],
        data: JSONBody[PreferencesUpdate],
    ) -> Alerts:
        await service.update_preferences(db, shopper.user_id, data, now=utc_now())
        recipient = await shopper_recipient(db, shopper.user_id)
        return await service.alerts(
            db, shopper.user_id, advertising_reaches_me=advertising_reaches(recipient, now=utc_now())
        )
