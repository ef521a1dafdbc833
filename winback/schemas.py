"""What crosses win-back's boundary: a shopper's alerts and settings, and a mall's report."""

from __future__ import annotations

import datetime
import uuid
from typing import Annotated, Literal

import msgspec

KindName = Literal["restock", "price_drop", "cart_reminder"]


class RestockAlertView(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    variant_id: uuid.UUID
    product_id: uuid.UUID
    product_name: str
    option: str
    """``블랙 / M``: the option she asked about."""
    mall_name: str
    status: Literal["waiting", "notified", "cancelled"]
    place_in_line: int | None
    """Waiting alerts only: how many shoppers asked before her, plus one (a restock's message goes in that order)."""
    created_at: datetime.datetime
    ended_at: datetime.datetime | None


class PriceDropSettings(msgspec.Struct, kw_only=True):
    enabled: bool
    percent: int
    """A liked product's price must fall at least this much below the price she liked it at (or last heard of)."""
    watching: int
    """Liked products watched."""


class CartReminderSettings(msgspec.Struct, kw_only=True):
    enabled: bool


class Alerts(msgspec.Struct, kw_only=True):
    """``GET /v1/alerts``: her restock alerts (newest first) and her advertising win-back settings."""

    restock: list[RestockAlertView]
    price_drops: PriceDropSettings
    cart_reminders: CartReminderSettings
    advertising_reaches_me: bool
    """Whether price drops and cart reminders can reach her at all: they need marketing consent on a channel that
    has her address (``/v1/me/marketing``); restock alerts need only order-message consent."""


class PreferencesUpdate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """``PATCH /v1/alerts/settings``: any of them."""

    price_drops: bool | msgspec.UnsetType = msgspec.UNSET
    price_drop_percent: Annotated[int, msgspec.Meta(ge=5, le=90)] | msgspec.UnsetType = msgspec.UNSET
    cart_reminders: bool | msgspec.UnsetType = msgspec.UNSET


class Uplift(msgspec.Struct, kw_only=True):
    """The messaged shoppers' purchase rate minus the hold-out's, in percentage points, with its 95% interval."""

    points: float
    low: float
    high: float


class KindReport(msgspec.Struct, kw_only=True):
    kind: KindName
    sent: int
    opened: int | None
    """``null``: none of the channels reports a message as read to a business (AlimTalk, SMS, LINE push and
    TalkTalk do not); never guessed."""
    clicked: int
    purchases_7d: int
    """Messages after which the shopper bought the product within 7 days."""
    purchase_rate: float | None
    held_out: int
    """Hold-out shoppers who would have got one: the comparison group."""
    held_out_purchases_7d: int
    held_out_purchase_rate: float | None
    uplift: Uplift | None
    """``null`` for restock alerts (asked for, never held out) and while either group is empty."""
    suppressed: dict[str, int]
    """Decisions not sent, by reason: ``no_consent``, ``weekly_cap``, ``product_cap``, ``fatigue``, ``turned_off``."""


class WinbackReport(msgspec.Struct, kw_only=True):
    """``GET /partner/v1/insights/winback``: the mall's own win-back messages over the period, by kind."""

    mall_id: uuid.UUID
    period_from: datetime.date
    period_to: datetime.date
    kinds: list[KindReport]
    note: str
