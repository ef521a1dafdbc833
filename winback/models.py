"""The win-back tables: restock alerts, each shopper's win-back settings, the price each liked product is watched
from, and every win-back decision (sent, held out or suppressed, and why).

Every decision is one row of :class:`Send`, keyed by its *occasion* (an alert's wave, a price fall, a cart line's
day): a job that runs again, or two workers at once, decide each occasion once, and the messages go through
notify's outbox in the same transaction as the decision.
"""

from __future__ import annotations

import datetime
import enum
import uuid

import sqlalchemy as sa
from advanced_alchemy.base import DefaultBase
from advanced_alchemy.types import DateTimeUTC
from sqlalchemy.orm import Mapped, mapped_column
from uuid_utils.compat import uuid7

from shoa_kernel.clock import utc_now


class Kind(enum.StrEnum):
    RESTOCK = "restock"
    """Informational: the shopper asked for it, on one variant."""
    PRICE_DROP = "price_drop"
    """Advertising: a liked product's price fell."""
    CART_REMINDER = "cart_reminder"
    """Advertising: a cart line left for a day."""


ADVERTISING = frozenset({Kind.PRICE_DROP, Kind.CART_REMINDER})


class Outcome(enum.StrEnum):
    SENT = "sent"
    """Handed to notify's outbox (which may still hold it until 08:00 Korea time)."""
    HELD_OUT = "held_out"
    """Eligible, and not sent because the shopper is in the hold-out: what the uplift is measured against."""
    SUPPRESSED = "suppressed"
    """Not sent, for :attr:`Send.reason`."""


class Reason(enum.StrEnum):
    NO_CONSENT = "no_consent"
    """No marketing consent reaches the shopper (advertising), or no order-message channel (restock)."""
    WEEKLY_CAP = "weekly_cap"
    PRODUCT_CAP = "product_cap"
    FATIGUE = "fatigue"
    """Three advertising messages in a row ignored: none for a month."""
    TURNED_OFF = "turned_off"
    """The shopper turned this kind off in her win-back settings."""


class AlertStatus(enum.StrEnum):
    WAITING = "waiting"
    NOTIFIED = "notified"
    CANCELLED = "cancelled"


class RestockAlert(DefaultBase):
    """A shopper's 재입고 알림 on one sold-out variant: waiting until a restock's wave reaches her."""

    __tablename__ = "winback_restock_alerts"
    __table_args__ = (
        sa.CheckConstraint("status IN ('waiting', 'notified', 'cancelled')", name="status_known"),
        # One waiting alert per shopper and variant; asking again is the same alert.
        sa.Index(
            "uq_winback_restock_alerts_waiting",
            "user_id",
            "variant_id",
            unique=True,
            postgresql_where=sa.text("status = 'waiting'"),
        ),
        # A wave: the variant's waiting alerts in the order they were asked for.
        sa.Index("ix_winback_restock_alerts_wave", "variant_id", "id", postgresql_where=sa.text("status = 'waiting'")),
        sa.Index("ix_winback_restock_alerts_user_id_id", "user_id", "id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=uuid7)
    """Time-ordered: a wave goes in id order, which is the order shoppers asked in."""
    user_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    variant_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("variants.id", ondelete="CASCADE"))
    product_id: Mapped[uuid.UUID] = mapped_column(sa.Uuid)
    mall_id: Mapped[uuid.UUID] = mapped_column(sa.Uuid)
    status: Mapped[str] = mapped_column(sa.String(10), server_default="waiting")
    created_at: Mapped[datetime.datetime] = mapped_column(
        DateTimeUTC(timezone=True), default=utc_now, server_default=sa.func.now()
    )
    ended_at: Mapped[datetime.datetime | None] = mapped_column(DateTimeUTC(timezone=True))
    """When it was notified or cancelled."""


class Preferences(DefaultBase):
    """A shopper's win-back settings; a shopper without a row has the defaults."""

    __tablename__ = "winback_preferences"
    __table_args__ = (sa.CheckConstraint("price_drop_percent BETWEEN 5 AND 90", name="percent_range"),)

    user_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    price_drops: Mapped[bool] = mapped_column(server_default=sa.true())
    price_drop_percent: Mapped[int] = mapped_column(sa.SmallInteger, server_default="10")
    cart_reminders: Mapped[bool] = mapped_column(server_default=sa.true())
    updated_at: Mapped[datetime.datetime] = mapped_column(
        DateTimeUTC(timezone=True), default=utc_now, onupdate=utc_now, server_default=sa.func.now()
    )


class PriceWatch(DefaultBase):
    """The price a liked product is watched from: what it cost when the shopper liked it, then the price her
    last price-drop message (or hold-out decision) named. A rise never moves it: only a fall below it counts."""

    __tablename__ = "winback_price_watches"

    user_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    product_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("products.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    reference_price: Mapped[int] = mapped_column(sa.BigInteger)
    since: Mapped[datetime.datetime] = mapped_column(DateTimeUTC(timezone=True))


class Send(DefaultBase):
    """One win-back decision: a message sent, held out, or suppressed and why."""

    __tablename__ = "winback_sends"
    __table_args__ = (
        sa.CheckConstraint("kind IN ('restock', 'price_drop', 'cart_reminder')", name="kind_known"),
        sa.CheckConstraint("outcome IN ('sent', 'held_out', 'suppressed')", name="outcome_known"),
        # The caps and the fatigue rule read a shopper's latest advertising decisions.
        sa.Index("ix_winback_sends_user_id_decided_at", "user_id", "decided_at"),
        # A mall's report over a period.
        sa.Index("ix_winback_sends_mall_id_decided_at", "mall_id", "decided_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=uuid7)
    occasion: Mapped[str] = mapped_column(sa.String(160), unique=True)
    """What the decision is about (``restock:<alert>``, ``price:<user>:<product>:<from>:<to>``,
    ``cart:<user>:<variant>:<added at>``): each is decided once."""
    kind: Mapped[str] = mapped_column(sa.String(16))
    user_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    mall_id: Mapped[uuid.UUID] = mapped_column(sa.Uuid)
    product_id: Mapped[uuid.UUID] = mapped_column(sa.Uuid)
    variant_id: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid)
    outcome: Mapped[str] = mapped_column(sa.String(12))
    reason: Mapped[str | None] = mapped_column(sa.String(16))
    decided_at: Mapped[datetime.datetime] = mapped_column(DateTimeUTC(timezone=True))
    sends_at: Mapped[datetime.datetime | None] = mapped_column(DateTimeUTC(timezone=True))
    """When the message goes: the decision's moment, or 08:00 Korea time for advertising decided at night to a
    shopper without the night consent."""
    message_id: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid)
    """notify's message, for a sent one."""
    token: Mapped[str | None] = mapped_column(sa.String(32), unique=True)
    """The secret of the message's links (``/w/<token>`` and its opt-out)."""
    clicked_at: Mapped[datetime.datetime | None] = mapped_column(DateTimeUTC(timezone=True))
    """The shopper's first tap on the message's link."""
