"""The win-back benchmark's first part (``bench.winback``): price drops and cart reminders decided by the worker's
jobs over a simulated population, its purchases drawn from a known response model, and the malls' reports read
back through the partner API and checked against what was decided and drawn.

Three rounds, 8 days apart and ending a week before today, so that the weekly cap clears between rounds and the
third meets the fatigue rule. In each: some shoppers left a cart line the day before; malls lower the prices of
some liked products 15% through ``PATCH /partner/v1/products/{external_id}``; price drops are decided at 12:00
Korea time and cart reminders at 22:30 (advertising to shoppers without the night consent waits for 08:00); then
each sent or held-out decision's shopper buys, or not, as the model says.
"""

from __future__ import annotations

import asyncio
import datetime
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from accounts.segments import korea_today
from bench.winback_population import (
    ResponseModel,
    ShelfProduct,
    SimulatedShopper,
    fallen_price,
    plan_carts,
    plan_falls,
    plan_shoppers,
    seeded_uuid,
    uplift_interval,
)
from catalog.models import Product, Variant
from insights.jobs import keep_event_partitions
from insights.store import Purchase, append_purchases
from notify.models import Message
from notify.rendering import KOREA
from orders.models import CartItem
from shoa_kernel.clock import utc_now
from winback import jobs as winback_jobs
from winback.models import Kind, Outcome, Reason, Send
from winback.policy import WEEK, in_holdout

if TYPE_CHECKING:
    import uuid
    from collections.abc import Awaitable, Callable, Sequence

    import asyncpg

    from bench.winback import Run

ROUNDS = 3
ROUND_DAYS = 8
"""A round's decisions come more than a week after the last round's: the weekly cap has cleared."""
NOON = datetime.time(12, 0)
LATE = datetime.time(22, 30)
MORNING = datetime.time(8, 0)
CART_AGE = datetime.timedelta(hours=25)
ADVERTISING_KINDS = (Kind.PRICE_DROP.value, Kind.CART_REMINDER.value)
ADVERTISING_EVENTS = ("price_dropped", "cart_reminder")
"""The templates of the advertising kinds' messages."""
SETTING_OF = {Kind.PRICE_DROP.value: "price_drops", Kind.CART_REMINDER.value: "cart_reminders"}
"""The win-back setting that turns each advertising kind off."""


@dataclass
class Counts:
    """One kind's sent and held-out decisions, those after which the shopper bought, the taps, the suppressions."""

    sent: int = 0
    held_out: int = 0
    bought: int = 0
    held_out_bought: int = 0
    clicked: int = 0
    suppressed: Counter[str] = field(default_factory=Counter)

    def add(self, other: Counts) -> None:
        self.sent += other.sent
        self.held_out += other.held_out
        self.bought += other.bought
        self.held_out_bought += other.held_out_bought
        self.clicked += other.clicked
        self.suppressed.update(other.suppressed)

    def as_json(self) -> dict[str, Any]:
        return {"sent": self.sent, "held_out": self.held_out, "bought": self.bought,
                "held_out_bought": self.held_out_bought, "clicked": self.clicked,
                "suppressed": dict(self.suppressed)}  # fmt: skip


@dataclass(frozen=True, kw_only=True)
class Simulation:
    truth: dict[str, Counts]
    """What the run decided and drew, per kind: what the reports must add up to."""
    reported: dict[str, Counts]
    """``GET /partner/v1/insights/winback``, summed over the malls."""
    malls: list[dict[str, Any]]
    """Each mall's advertising figures as its report gives them."""
    rounds: list[tuple[int, int]]
    """Sent and held-out decisions in each round: the rules (fatigue above all) need not spare both groups alike."""
    night_held: dict[str, int]
    """Sent decisions whose message waits for the morning, per kind."""
    decisions: int
    """Advertising decisions of every outcome."""
    decide_seconds: float
    """In the price-drop and cart-reminder jobs, every round together."""
    problems: list[str]


def korea_at(day: datetime.date, at: datetime.time) -> datetime.datetime:
    return datetime.datetime.combine(day, at, tzinfo=KOREA)


async def simulate(
    run: Run, shelf: Sequence[ShelfProduct], *, shoppers: int, seed: int, model: ResponseModel
) -> Simulation:
    rng = random.Random(seed)
    population = plan_shoppers(rng, shelf, count=shoppers)
    first_day = korea_today(utc_now()) - datetime.timedelta(days=ROUNDS * ROUND_DAYS)
    liked_at = korea_at(first_day - datetime.timedelta(days=2), NOON)
    await _add_shoppers(run.connection, population, liked_at=liked_at)
    # The job's first run watches every liked product from its price then.
    await _until_done(winback_jobs.price_drops, run, at=korea_at(first_day - datetime.timedelta(days=1), NOON))
    truth = {kind: Counts() for kind in ADVERTISING_KINDS}
    decide_seconds, rounds = 0.0, []
    for number in range(ROUNDS):
        day = first_day + datetime.timedelta(days=number * ROUND_DAYS)
        noon, late = korea_at(day, NOON), korea_at(day, LATE)
        await keep_event_partitions(run.sessions, retention_days=run.retention_days, now=noon)
        await _fill_carts(run, plan_carts(rng, population, shelf), added_at=late - CART_AGE)
        await _lower_prices(run, plan_falls(rng, population))
        started = time.perf_counter()
        await _until_done(winback_jobs.price_drops, run, at=noon)
        await _until_done(winback_jobs.cart_reminders, run, at=late)
        decided = time.perf_counter() - started
        decide_seconds += decided
        rounds.append(await _respond(run, model, rng, truth, since=noon, until=late))
        print(f"round {number + 1} ({day.isoformat()}): decided in {decided:.1f}s")
    reported, malls, problems = await _reports(run, first_day=first_day)
    problems += _compare(truth, reported)
    problems += await _audit_decisions(run, population)
    night_held, decisions = await _night_held(run)
    return Simulation(
        truth=truth,
        reported=reported,
        malls=malls,
        rounds=rounds,
        night_held=night_held,
        decisions=decisions,
        decide_seconds=decide_seconds,
        problems=problems,
    )


async def _add_shoppers(
    connection: asyncpg.Connection, shoppers: Sequence[SimulatedShopper], *, liked_at: datetime.datetime
) -> None:
    """The population as sign-up, ``PUT /v1/me/marketing/{channel}``, ``PATCH /v1/alerts/settings`` and
    ``PUT /v1/likes/{id}`` would have left it, COPYed."""
    agreed_at = utc_now() - datetime.timedelta(days=60)
    consents = [
        (s.user_id, channel) for s in shoppers if s.marketing for channel in (("sms", "night") if s.night else ("sms",))
    ]
    settings = [
        (s.user_id, s.turned_off != "price_drops", s.turned_off != "cart_reminders", agreed_at)
        for s in shoppers
        if s.turned_off
    ]
    tables: dict[str, tuple[list[str], list[tuple[Any, ...]]]] = {
        "users": (["id", "phone", "consent_alimtalk"], [(s.user_id, s.phone, True) for s in shoppers]),
        "marketing_consents": (
            ["user_id", "channel", "granted_at", "confirmed_at", "source"],
            [(user_id, channel, agreed_at, agreed_at, "app") for user_id, channel in consents],
        ),
        "marketing_consent_log": (
            ["user_id", "channel", "action", "at", "source"],
            [(user_id, channel, "granted", agreed_at, "app") for user_id, channel in consents],
        ),
        "winback_preferences": (["user_id", "price_drops", "cart_reminders", "updated_at"], settings),
        "likes": (
            ["user_id", "product_id", "created_at"],
            [(s.user_id, product.product_id, liked_at) for s in shoppers for product in s.likes],
        ),
    }
    for table, (columns, records) in tables.items():
        await connection.copy_records_to_table(table, records=records, columns=columns)
    await connection.execute("VACUUM ANALYZE")


async def _until_done(job: Callable[..., Awaitable[bool]], run: Run, *, at: datetime.datetime) -> None:
    """Run the job as the worker does: again at once while it says work is left."""
    while await job(run.sessions, run.kit, clock=lambda: at):
        pass


async def _fill_carts(run: Run, lines: list[tuple[uuid.UUID, uuid.UUID]], *, added_at: datetime.datetime) -> None:
    """The carts as they are the day before a round: the lines planned for it, at the variants' prices."""
    async with run.sessions() as session, session.begin():
        await session.execute(sa.delete(CartItem))
        if not lines:
            return
        price = sa.func.coalesce(Variant.sale_price, Variant.price)
        found = await session.execute(sa.select(Variant.id, price).where(Variant.id.in_({v for _, v in lines})))
        prices: dict[uuid.UUID, int] = dict(found.all())
        await session.execute(
            sa.insert(CartItem),
            [{"user_id": user_id, "variant_id": variant_id, "quantity": 1, "unit_price": prices[variant_id],
              "added_at": added_at} for user_id, variant_id in lines],
        )  # fmt: skip


async def _lower_prices(run: Run, falls: list[ShelfProduct]) -> None:
    """Each mall lowers every variant of its falling products through ``PATCH /partner/v1/products/…``."""
    async with run.sessions() as session:
        rows = await session.execute(
            sa.select(Variant.product_id, Variant.sku, sa.func.coalesce(Variant.sale_price, Variant.price))
            .where(Variant.product_id.in_([product.product_id for product in falls]))
            .order_by(Variant.sku)
        )
        changes: dict[uuid.UUID, list[dict[str, Any]]] = {}
        for product_id, sku, price in rows:
            changes.setdefault(product_id, []).append({"sku": sku, "sale_price": fallen_price(price)})
    await asyncio.gather(*(
        run.partner(product.mall_id, "PATCH", f"/partner/v1/products/{product.external_id}",
                    json={"variants": changes[product.product_id]})
        for product in falls
    ))  # fmt: skip


async def _respond(
    run: Run,
    model: ResponseModel,
    rng: random.Random,
    truth: dict[str, Counts],
    *,
    since: datetime.datetime,
    until: datetime.datetime,
) -> tuple[int, int]:
    """The round's shoppers respond as the model says: who buys after a sent or held-out decision, and when; a
    buyer of a sent one taps its link first. A purchase is appended to the event store as a payment appends it
    (:func:`insights.store.append_purchases`), without an order behind it. The round's sent and held-out
    decisions."""
    async with run.sessions() as session:
        decisions = (
            await session.execute(
                sa.select(Send, Product.price_from)
                .join(Product, Product.id == Send.product_id)
                .where(
                    Send.decided_at.between(since, until),
                    Send.kind.in_(ADVERTISING_KINDS),
                    Send.outcome.in_([Outcome.SENT.value, Outcome.HELD_OUT.value]),
                )
                # The draws in an order that does not hang on the ids of products and variants, new every run.
                .order_by(Send.user_id, Send.kind, Product.external_id)
            )
        ).all()
    purchases: list[tuple[Send, int, datetime.datetime]] = []
    for send, price in decisions:
        counts, messaged = truth[send.kind], send.outcome == Outcome.SENT.value
        counts.sent += messaged
        counts.held_out += not messaged
        at = model.purchase(rng, messaged=messaged, decided_at=send.decided_at, sends_at=send.sends_at)
        if at is not None:
            counts.bought += messaged
            counts.held_out_bought += not messaged
            purchases.append((send, price, at))
    await asyncio.gather(*(run.follow_link(send.token) for send, _, _ in purchases if send.token is not None))
    async with run.sessions() as session, session.begin():
        for send, price, at in purchases:
            line = Purchase(line_id=seeded_uuid(rng), product_id=send.product_id, mall_id=send.mall_id, quantity=1,
                            amount=price)  # fmt: skip
            await append_purchases(session, [line], shopper_id=send.user_id, at=at)
    sent = sum(send.outcome == Outcome.SENT.value for send, _ in decisions)
    return sent, len(decisions) - sent


async def _reports(run: Run, *, first_day: datetime.date) -> tuple[dict[str, Counts], list[dict[str, Any]], list[str]]:
    """Every mall's win-back report over the rounds, summed; each mall's advertising figures; and where a mall's
    uplift is not the formula's."""
    summed = {kind: Counts() for kind in ADVERTISING_KINDS}
    malls, problems = [], []
    params = {"from": first_day.isoformat(), "to": korea_today(utc_now()).isoformat()}
    for mall_id in run.keys:
        report = (await run.partner(mall_id, "GET", "/partner/v1/insights/winback", params=params)).json()
        for kind in report["kinds"]:
            if kind["kind"] not in summed:
                continue
            counts = Counts(sent=kind["sent"], held_out=kind["held_out"], bought=kind["purchases_7d"],
                            held_out_bought=kind["held_out_purchases_7d"], clicked=kind["clicked"],
                            suppressed=Counter(kind["suppressed"]))  # fmt: skip
            summed[kind["kind"]].add(counts)
            malls.append({"mall_id": str(mall_id), "kind": kind["kind"], **counts.as_json(), "uplift": kind["uplift"]})
            ours = uplift_interval(counts.bought, counts.sent, counts.held_out_bought, counts.held_out)
            mine = None if ours is None else [round(ours.points, 2), round(ours.low, 2), round(ours.high, 2)]
            theirs = kind["uplift"] and [kind["uplift"]["points"], kind["uplift"]["low"], kind["uplift"]["high"]]
            if mine != theirs:
                problems.append(f"mall {mall_id} {kind['kind']}: reported uplift {theirs}, the formula gives {mine}")
    return summed, malls, problems


def _compare(truth: dict[str, Counts], reported: dict[str, Counts]) -> list[str]:
    """The reports against the run: every decision counted once, every drawn purchase in its window, and a tap
    for every sent decision whose shopper bought (and for no other)."""
    problems = []
    for kind, ours in truth.items():
        theirs = reported[kind]
        drawn = (ours.sent, ours.held_out, ours.bought, ours.held_out_bought, ours.bought)
        shown = (theirs.sent, theirs.held_out, theirs.bought, theirs.held_out_bought, theirs.clicked)
        if drawn != shown:
            problems.append(
                f"{kind}: the reports say sent, held out, bought, held out and bought, clicked = {shown}; "
                f"the run decided and drew {drawn}"
            )
    return problems


async def _audit_decisions(run: Run, shoppers: Sequence[SimulatedShopper]) -> list[str]:
    """What the rules promise, read back from the decisions and the outbox: a message for every sent decision
    and none to a shopper without consent or in the hold-out, each suppression's reason true of its shopper, the
    night held for the morning, and at most ``weekly_cap`` sent or held-out decisions in any 7 days."""
    by_id = {shopper.user_id: shopper for shopper in shoppers}
    problems = []
    async with run.sessions() as session:
        sends = (await session.scalars(sa.select(Send).where(Send.kind.in_(ADVERTISING_KINDS)))).all()
        messaged = (
            await session.scalars(sa.select(Message.user_id).where(Message.event.in_(ADVERTISING_EVENTS)))
        ).all()
    sent = [send for send in sends if send.outcome == Outcome.SENT.value]
    if len(messaged) != len(sent) or {send.user_id for send in sent} != set(messaged):
        problems.append(f"{len(sent):,} advertising messages decided, {len(messaged):,} in the outbox")
    for user_id in set(messaged):
        shopper = by_id.get(user_id) if user_id is not None else None
        if shopper is None or not shopper.marketing or in_holdout(shopper.user_id, run.kit.rules):
            problems.append(f"an advertising message went to {user_id}, who has no consent or is held out")
    for send in sends:
        if problem := _rule_broken(send, by_id[send.user_id]):
            problems.append(f"{send.occasion}: {problem}")
    cap = run.kit.rules.weekly_cap
    decided: dict[uuid.UUID, list[datetime.datetime]] = {}
    for send in sorted(sends, key=lambda send: send.decided_at):
        if send.outcome != Outcome.SUPPRESSED.value:
            decided.setdefault(send.user_id, []).append(send.decided_at)
    for user_id, moments in decided.items():
        if any(later - earlier < WEEK for earlier, later in zip(moments, moments[cap:], strict=False)):
            problems.append(f"{user_id} had more than {cap} advertising decisions within 7 days")
    return problems


def _rule_broken(send: Send, shopper: SimulatedShopper) -> str | None:
    """Why this decision breaks a rule about its shopper, if it does."""
    if send.reason == Reason.NO_CONSENT.value and shopper.marketing:
        return "suppressed for want of a consent the shopper gave"
    if send.reason == Reason.TURNED_OFF.value and shopper.turned_off != SETTING_OF[send.kind]:
        return "suppressed as turned off, which the shopper did not"
    if send.outcome != Outcome.SENT.value:
        return None
    decided = send.decided_at.astimezone(KOREA)
    at_night = decided.time() == LATE and not shopper.night
    due = korea_at(decided.date() + datetime.timedelta(days=1), MORNING) if at_night else send.decided_at
    if send.sends_at != due:
        return f"sends at {send.sends_at}, not {due} (night consent: {shopper.night})"
    return None


async def _night_held(run: Run) -> tuple[dict[str, int], int]:
    """Sent decisions whose message waits for the morning, by kind; and every advertising decision."""
    async with run.sessions() as session:
        held = await session.execute(
            sa.select(Send.kind, sa.func.count())
            .where(Send.sends_at > Send.decided_at, Send.kind.in_(ADVERTISING_KINDS))
            .group_by(Send.kind)
        )
        decisions = await session.scalar(sa.select(sa.func.count()).where(Send.kind.in_(ADVERTISING_KINDS)))
    by_kind: dict[str, int] = dict(held.all())
    return dict.fromkeys(ADVERTISING_KINDS, 0) | by_kind, decisions or 0
