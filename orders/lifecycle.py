"""A mall-order's states and the moves between them; every move is recorded and messaged in the mover's
transaction.

```
awaiting_payment ─┐
awaiting_deposit ─┴→ paid → preparing → shipped → delivered → confirmed
      │               │         │                    ├→ return_requested → returned → refunded
      └───────────────┴─────────┴→ cancelled         └→ exchange_requested → exchange_shipped → delivered
```
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from orders.errors import IllegalTransitionError
from orders.models import Actor, MallOrder, MallOrderStatus, Transition

if TYPE_CHECKING:
    import datetime

    from sqlalchemy.ext.asyncio import AsyncSession

S = MallOrderStatus
MOVES: dict[MallOrderStatus, frozenset[MallOrderStatus]] = {
    S.AWAITING_PAYMENT: frozenset({S.PAID, S.CANCELLED}),
    S.AWAITING_DEPOSIT: frozenset({S.PAID, S.CANCELLED}),
    S.PAID: frozenset({S.PREPARING, S.CANCELLED}),
    S.PREPARING: frozenset({S.SHIPPED, S.CANCELLED}),
    S.SHIPPED: frozenset({S.DELIVERED}),
    S.DELIVERED: frozenset({S.CONFIRMED, S.RETURN_REQUESTED, S.EXCHANGE_REQUESTED}),
    S.CONFIRMED: frozenset(),
    S.CANCELLED: frozenset(),
    S.RETURN_REQUESTED: frozenset({S.RETURNED}),
    S.RETURNED: frozenset({S.REFUNDED}),
    S.REFUNDED: frozenset(),
    S.EXCHANGE_REQUESTED: frozenset({S.EXCHANGE_SHIPPED}),
    S.EXCHANGE_SHIPPED: frozenset({S.DELIVERED}),
}
"""Where each state may go; anything else is a 409 naming both states."""
BEFORE_SHIPPING = frozenset({S.AWAITING_PAYMENT, S.AWAITING_DEPOSIT, S.PAID, S.PREPARING})
"""The states a mall-order may be cancelled in."""
PAID_STATES = frozenset({S.PAID, S.PREPARING})
"""Cancelled from these, the mall-order's money goes back."""


@dataclass(frozen=True, kw_only=True)
class Move:
    mall_order: MallOrder
    transition: Transition


def check_move(mall_order: MallOrder, to: MallOrderStatus) -> None:
    current = MallOrderStatus(mall_order.status)
    if to not in MOVES[current]:
        msg = f"this part of the order is {current.value}; it cannot become {to.value}"
        raise IllegalTransitionError(msg, current=current.value, requested=to.value)


def move(
    session: AsyncSession,
    mall_order: MallOrder,
    to: MallOrderStatus,
    *,
    actor: Actor,
    now: datetime.datetime,
    reason: str = "",
) -> Transition:
    """Move ``mall_order`` (locked by the caller) to ``to`` and record it; :class:`IllegalTransitionError` when
    its state does not allow it."""
    check_move(mall_order, to)
    transition = Transition(
        mall_order_id=mall_order.id,
        from_status=mall_order.status,
        to_status=to.value,
        actor=actor.value,
        reason=reason[:500],
        at=now,
    )
    mall_order.status = to.value
    mall_order.updated_at = now
    if to is S.DELIVERED:
        mall_order.delivered_at = now
    session.add(transition)
    return transition
