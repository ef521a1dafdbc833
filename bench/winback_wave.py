"""The win-back benchmark's second part (``bench.winback``): a restock wave through the worker's job, beside raw
outbox inserts of the same rows.

``waiting`` shoppers (AlimTalk consent, +82 phones; users and alerts COPYed) wait for one variant the mall has
just marked sold out; the mall restocks it through ``PATCH /partner/v1/products/{external_id}`` and
:func:`winback.jobs.restock_waves` runs as the worker runs it (again at once while it says work is left) until
nobody waits: a message, a decision and the alert's new status per shopper, a chunk per transaction. Beside it,
COPYs of the first wave's own ``notify_messages`` rows under new keys (same text, parameters and route), a
chunk's worth per COPY and transaction, pass after pass (each pass's rows deleted again, untimed, so the table
keeps the wave's size) until COPY has run as long as the wave: the floor of what putting that many messages into
the outbox costs. The two take turns for ``--rounds`` rounds (``bench.rounds``), each round's wave for as many
new shoppers on the same variant; the ratio is the median of the rounds' own ratios.
"""

from __future__ import annotations

import random
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING

import sqlalchemy as sa
from uuid_utils.compat import uuid7

from bench.cpu_time import CpuSample, cpu_use
from bench.rounds import Lap, interleave_async
from bench.winback_population import seeded_uuid, shopper_phone
from notify.models import Message
from shoa_kernel.clock import utc_now
from winback import jobs as winback_jobs
from winback.models import AlertStatus, Kind, Outcome, RestockAlert, Send

if TYPE_CHECKING:
    import asyncpg

    from bench.rounds import Comparison
    from bench.winback import Run

RESTOCKED_UNITS = 30
COPY_ROWS = winback_jobs.WAVE_CHUNK
"""Rows per COPY of the baseline: as many as the wave writes per transaction."""
WAVE_KEYS = "winback:restock:%"
MESSAGE_COLUMNS = [
    "id", "idempotency_key", "event", "user_id", "locale", "parameters", "route", "status", "channel",
    "delivery_key", "next_attempt_at", "quiet_hours", "text",
]  # fmt: skip


@dataclass(frozen=True, kw_only=True)
class Restocked:
    """The wave's variant, of a product nobody in the first part likes."""

    variant_id: uuid.UUID
    sku: str
    product_id: uuid.UUID
    external_id: str
    mall_id: uuid.UUID


@dataclass(frozen=True, kw_only=True)
class Wave:
    waiting: int
    """Shoppers waiting in each round's wave."""
    comparison: Comparison
    """The wave (messages/s) against COPY (rows/s), round by round."""
    others_percent: list[float]
    """CPU other processes took during each round's wave, of one CPU."""
    problems: list[str]


async def restock_wave(
    run: Run, restocked: Restocked, *, waiting: int, seed: int, server_pid: int, rounds: int
) -> Wave:
    path = f"/partner/v1/products/{restocked.external_id}"
    template: list[asyncpg.Record] = []
    others: list[float] = []
    problems: list[str] = []

    async def wave(number: int) -> Lap:
        await run.partner(restocked.mall_id, "PATCH", path, json={"variants": [{"sku": restocked.sku, "stock": 0}]})
        await add_waiting(run.connection, restocked, waiting=waiting, seed=seed + number - 1, round_number=number)
        await run.partner(
            restocked.mall_id, "PATCH", path, json={"variants": [{"sku": restocked.sku, "stock": RESTOCKED_UNITS}]}
        )
        await _settle(run.connection)
        before = CpuSample.take(server_pid)
        started = time.perf_counter()
        while await winback_jobs.restock_waves(run.sessions, run.kit, clock=utc_now):
            pass
        seconds = time.perf_counter() - started
        others.append(cpu_use(before, CpuSample.take(server_pid), test_seconds=seconds).others_percent)
        problems.extend(await _audit(run, restocked.variant_id, waiting=waiting * number))
        if not template:
            template.extend(
                await run.connection.fetch(
                    f"SELECT {', '.join(MESSAGE_COLUMNS[2:])} FROM notify_messages WHERE idempotency_key LIKE $1 "  # noqa: S608 - our own column names
                    "ORDER BY id",
                    WAVE_KEYS,
                )
            )
        return Lap(waiting, seconds)

    async def copy_for(_number: int, seconds: float) -> Lap:
        await _settle(run.connection)
        lap: Lap | None = None
        while lap is None or lap.seconds < seconds:
            unit = await _copy_pass(run.connection, template)
            lap = unit if lap is None else lap + unit
        return lap

    comparison = await interleave_async(
        rounds,
        side=wave,
        baseline=copy_for,
        show=lambda measured: print(measured.describe(side="restock wave", baseline="raw COPY", unit="messages/s")),
    )
    return Wave(waiting=waiting, comparison=comparison, others_percent=others, problems=problems)


async def _copy_pass(connection: asyncpg.Connection, template: list[asyncpg.Record]) -> Lap:
    """The wave's rows COPYed once under new keys, ``COPY_ROWS`` per COPY; then deleted again, untimed."""
    seconds, ids = 0.0, []
    for start in range(0, len(template), COPY_ROWS):
        # A key as long as the wave's (``winback:restock:<alert id>``).
        records = [(uuid7(), f"rawcopy:restock:{uuid.uuid4()}", *row) for row in template[start : start + COPY_ROWS]]
        ids += [record[0] for record in records]
        began = time.perf_counter()
        await connection.copy_records_to_table("notify_messages", records=records, columns=MESSAGE_COLUMNS)
        seconds += time.perf_counter() - began
    await connection.execute("DELETE FROM notify_messages WHERE id = ANY($1::uuid[])", ids)
    await connection.execute("VACUUM notify_messages")
    return Lap(len(template), seconds)


async def add_waiting(
    connection: asyncpg.Connection, restocked: Restocked, *, waiting: int, seed: int, round_number: int
) -> None:
    """The round's new shoppers and their alerts, in the order they asked (alert ids are time-ordered), as ``PUT
    /v1/alerts/restock/{variant_id}`` leaves them; COPYed, then analyzed as autovacuum would after such a load."""
    rng, asked_at, first = random.Random(seed), utc_now(), (round_number - 1) * waiting
    users = [(seeded_uuid(rng), shopper_phone(first + number, block=5), True) for number in range(waiting)]
    await connection.copy_records_to_table("users", records=users, columns=["id", "phone", "consent_alimtalk"])
    await connection.copy_records_to_table(
        "winback_restock_alerts",
        records=[(uuid7(), user_id, restocked.variant_id, restocked.product_id, restocked.mall_id,
                  AlertStatus.WAITING.value, asked_at) for user_id, _, _ in users],
        columns=["id", "user_id", "variant_id", "product_id", "mall_id", "status", "created_at"],
    )  # fmt: skip
    await connection.execute("VACUUM ANALYZE users, winback_restock_alerts")


async def _settle(connection: asyncpg.Connection) -> None:
    """Before each side, untimed: statistics fresh and dirty pages written, so neither pays for the other."""
    await connection.execute("ANALYZE")
    await connection.execute("CHECKPOINT")


async def _audit(run: Run, variant_id: uuid.UUID, *, waiting: int) -> list[str]:
    """Exactly one message, on AlimTalk, and one sent decision per shopper who waited (``waiting``, over every
    round so far); every alert notified."""
    async with run.sessions() as session:
        statuses = await session.execute(
            sa.select(RestockAlert.status, sa.func.count())
            .where(RestockAlert.variant_id == variant_id)
            .group_by(RestockAlert.status)
        )
        messages, shoppers, keys, on_alimtalk = (
            await session.execute(
                sa.select(
                    sa.func.count(),
                    sa.func.count(sa.distinct(Message.user_id)),
                    sa.func.count(sa.distinct(Message.idempotency_key)),
                    sa.func.count().filter(Message.channel == "alimtalk"),
                ).where(Message.idempotency_key.like(WAVE_KEYS))
            )
        ).one()
        sent = await session.scalar(
            sa.select(sa.func.count()).where(
                Send.kind == Kind.RESTOCK.value, Send.variant_id == variant_id, Send.outcome == Outcome.SENT.value
            )
        )
    by_status: dict[str, int] = dict(statuses.all())
    found = {"alerts notified": by_status.get(AlertStatus.NOTIFIED.value, 0), "messages": messages,
             "shoppers messaged": shoppers, "distinct keys": keys, "messages on AlimTalk": on_alimtalk,
             "sent decisions": sent}  # fmt: skip
    problems = [f"{name}: {count:,}, not {waiting:,}" for name, count in found.items() if count != waiting]
    if still := by_status.get(AlertStatus.WAITING.value, 0):
        problems.append(f"{still:,} shoppers still wait")
    return problems
