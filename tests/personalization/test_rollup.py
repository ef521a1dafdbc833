"""The roll-up to PostgreSQL: what survives losing Redis, and only what grew is written."""

from __future__ import annotations

import asyncio
import datetime
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from personalization.models import SegmentScore
from personalization.rollup import RolledUp, forget_rolled_up, roll_up
from personalization.scores import Signal, add_signals
from tests.personalization.test_scores import DECAY, NOW, decayed, product_ids

if TYPE_CHECKING:
    import uuid

    from redis.asyncio import Redis
    from sqlalchemy.ext.asyncio import AsyncEngine

__all__ = ["product_ids"]  # the fixture


async def saved(session: AsyncSession) -> list[tuple[str, uuid.UUID, float, datetime.datetime]]:
    session.expire_all()
    rows = await session.execute(
        sa.select(SegmentScore.segment, SegmentScore.product_id, SegmentScore.score, SegmentScore.as_of)
    )
    return sorted(rows.all())


async def committed_roll_up(session: AsyncSession, redis: Redis, now: datetime.datetime) -> RolledUp:
    """A roll-up as the worker's job runs it: its transaction commits, then its marks are forgotten."""
    rolled_up = await roll_up(session, redis, DECAY, now=now)
    await session.commit()
    await forget_rolled_up(redis)
    return rolled_up


async def engage(redis: Redis, *weights: tuple[uuid.UUID, float], at: datetime.datetime = NOW) -> None:
    """Anonymous shoppers' signals at ``at``: (product, weight) each."""
    t = at.timestamp()
    await add_signals(redis, DECAY, [Signal("anonymous", product, weight, t) for product, weight in weights], now=t)


async def test_scores_survive_a_redis_flush_through_the_roll_up(
    redis_client: Redis, session: AsyncSession, product_ids: list[uuid.UUID]
) -> None:
    a, b, c = product_ids
    t = NOW.timestamp()
    await add_signals(redis_client, DECAY, [Signal("anonymous", a, 4.0, t), Signal("female:20s_late", b, 2.0, t)],
                      now=t)  # fmt: skip
    rolled_up = await roll_up(session, redis_client, DECAY, now=NOW)
    assert rolled_up.written == 4
    assert sorted(rolled_up.pooled) == sorted([(a, 4.0), (b, 2.0)])
    await session.commit()
    await forget_rolled_up(redis_client)
    stored = (await session.execute(sa.select(SegmentScore.segment, SegmentScore.score))).all()
    # Each signal counts for its segment and for everyone's pool.
    assert sorted(stored) == [("anonymous", 4.0), ("everyone", 2.0), ("everyone", 4.0), ("female:20s_late", 2.0)]

    await redis_client.flushdb()
    # A signal arrives before the worker notices the loss: it is added to, not replaced by, the saved scores.
    await engage(redis_client, (c, 1.0))
    later = NOW + datetime.timedelta(days=3)
    rolled_up = await committed_roll_up(session, redis_client, later)

    assert await decayed(redis_client, "anonymous", later) == {a: 2.0, c: 0.5}
    assert await decayed(redis_client, "female:20s_late", later) == {b: 1.0}
    assert await decayed(redis_client, "everyone", later) == {a: 2.0, b: 1.0, c: 0.5}  # restored, not doubled
    assert rolled_up.written == 2  # only c's two scores are new; what was loaded back is saved already
    assert {(segment, product) for segment, product, _, _ in await saved(session)} == {
        ("anonymous", a), ("anonymous", c), ("female:20s_late", b), ("everyone", a), ("everyone", b), ("everyone", c)
    }  # fmt: skip


async def test_only_scores_that_grew_are_written_and_saved_rows_stay_true_as_they_decay(
    redis_client: Redis, session: AsyncSession, product_ids: list[uuid.UUID]
) -> None:
    a, b, _ = product_ids
    await engage(redis_client, (a, 4.0), (b, 2.0))
    await committed_roll_up(session, redis_client, NOW)
    first = await saved(session)

    later = NOW + datetime.timedelta(days=3)
    quiet = await committed_roll_up(session, redis_client, later)
    assert (quiet.written, quiet.pooled, await saved(session)) == (0, [], first)  # a quiet minute writes nothing

    await engage(redis_client, (b, 3.0), at=later)
    grown = await committed_roll_up(session, redis_client, later)
    assert grown.written == 2  # b, for the segment and for everyone
    assert grown.pooled == [(b, 4.0)]  # 2 halved, plus 3
    # Loaded back into an empty Redis, the untouched row and the rewritten one both come back right.
    await redis_client.flushdb()
    await roll_up(session, redis_client, DECAY, now=later)
    assert await decayed(redis_client, "anonymous", later) == {a: 2.0, b: 4.0}


async def test_a_roll_up_that_did_not_commit_leaves_its_scores_to_the_next(
    redis_client: Redis, session: AsyncSession, product_ids: list[uuid.UUID]
) -> None:
    a, b, _ = product_ids
    await engage(redis_client, (a, 4.0))
    await roll_up(session, redis_client, DECAY, now=NOW)
    await session.rollback()  # the transaction failed; forget_rolled_up is never called
    await engage(redis_client, (b, 1.0))

    retried = await committed_roll_up(session, redis_client, NOW)

    assert retried.written == 4  # a's scores, taken by the failed roll-up, and b's, new since
    assert [(segment, product) for segment, product, _, _ in await saved(session)] == sorted(
        [("anonymous", a), ("anonymous", b), ("everyone", a), ("everyone", b)]
    )


async def test_faded_scores_are_forgotten(
    redis_client: Redis, session: AsyncSession, product_ids: list[uuid.UUID]
) -> None:
    a, b, _ = product_ids
    await engage(redis_client, (a, 1.0), (b, 100.0))
    await committed_roll_up(session, redis_client, NOW)
    month_later = NOW + datetime.timedelta(days=30)  # 10 half-lives: 1/1024 of what it was

    await roll_up(session, redis_client, DECAY, now=month_later)
    await session.commit()

    assert list(await decayed(redis_client, "anonymous", month_later)) == [b]
    assert {product for _, product, _, _ in await saved(session)} == {b}


async def test_one_roll_up_at_a_time_however_many_workers(
    engine: AsyncEngine, redis_client: Redis, session: AsyncSession, product_ids: list[uuid.UUID]
) -> None:
    a, _, _ = product_ids
    await engage(redis_client, (a, 4.0))
    async with AsyncSession(engine) as other, other.begin():
        first = await roll_up(other, redis_client, DECAY, now=NOW)  # another worker's, not committed yet
        assert first.written == 2

        waited = await asyncio.wait_for(committed_roll_up(session, redis_client, NOW), timeout=5)
        assert waited == RolledUp(0, [])  # it leaves the marks to the one under way, without waiting for it

        await other.commit()
    await forget_rolled_up(redis_client)
    assert len(await saved(session)) == 2
