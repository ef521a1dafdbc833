"""The roll-up to PostgreSQL: what survives losing Redis, and only what grew is written."""

from __future__ import annotations

import asyncio
import datetime
from typing import TYPE_CHECKING

import pytest
import redis.exceptions
import sqlalchemy as sa
from redis.asyncio import ConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from sqlalchemy.ext.asyncio import AsyncSession

from catalog.models import Mall
from insights.models import Device
from personalization.first_seen import CHUNK as FIRST_SEEN_CHUNK
from personalization.models import SegmentScore
from personalization.rollup import RolledUp, forget_rolled_up, roll_up, upsert_scores
from personalization.scores import (
    FIRST_SEEN_PREFIX,
    KEY_PREFIX,
    LOADED_KEY,
    SEGMENTS_KEY,
    Decay,
    Signal,
    add_signals,
    segment_scores,
)
from tests.personalization.test_scores import DECAY, NOW, decayed, product_ids

if TYPE_CHECKING:
    import uuid

    from sqlalchemy.ext.asyncio import AsyncEngine

__all__ = ["product_ids"]  # the fixture

SAVED_SEGMENTS = ("anonymous", "everyone", "female:20s_late", "male:30s_early")


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


async def create_products(session: AsyncSession, count: int) -> list[uuid.UUID]:
    """``count`` products on sale in one active mall, written in one statement (a catalog large enough for a
    restore of many chunks)."""
    mall_id = await session.scalar(sa.insert(Mall).values(slug="restore-mall", name="복원 상점").returning(Mall.id))
    inserted = await session.execute(
        sa.text(
            "INSERT INTO products (id, mall_id, external_id, name, category_path, target_gender, image_urls, status,"
            " source_updated_at, content_hash)"
            " SELECT gen_random_uuid(), :mall_id, 'R' || n, '린넨 셔츠 ' || n, '상의/셔츠', 'female',"
            " ARRAY['https://img.example.kr/' || n || '.jpg'], 'on_sale', now(), md5(n::text)"
            " FROM generate_series(1, :count) AS n RETURNING id"
        ),
        {"mall_id": mall_id, "count": count},
    )
    ids = sorted(inserted.scalars())
    await session.commit()
    return ids


async def save_scores(
    session: AsyncSession, product_ids: list[uuid.UUID], *, segments: tuple[str, ...], at: datetime.datetime
) -> None:
    """Saved scores, as past roll-ups left them: every product in every segment, of varied weights and ages."""
    for age_hours in range(4):
        scores = [
            (segment, product_id, 1.0 + (n * 7 + i) % 13 * 0.75)
            for n, product_id in enumerate(product_ids)
            if n % 4 == age_hours
            for i, segment in enumerate(segments)
        ]
        await session.execute(upsert_scores(scores, at - datetime.timedelta(hours=age_hours)))
    await session.commit()


async def sums_in_postgresql(session: AsyncSession, decay: Decay, at: datetime.datetime) -> dict[str, float]:
    """Each segment's saved scores, decayed to ``at``, summed."""
    session.expire_all()
    faded = SegmentScore.score * sa.func.power(
        0.5, sa.extract("epoch", sa.literal(at) - SegmentScore.as_of) / decay.half_life_seconds
    )
    rows = await session.execute(sa.select(SegmentScore.segment, sa.func.sum(faded)).group_by(SegmentScore.segment))
    return {segment: float(total) for segment, total in rows.all()}


async def sums_in_redis(redis: Redis, decay: Decay, at: datetime.datetime) -> dict[str, float]:
    """Each segment's scores in Redis as of ``at``, summed: what the feeds rank by."""
    keys = [key.decode() if isinstance(key, bytes) else key for key in await redis.smembers(SEGMENTS_KEY)]
    segments = sorted(key.removeprefix(KEY_PREFIX) for key in keys)
    return {
        segment: sum(score for _, score in await segment_scores(redis, decay, segment, now=at.timestamp()))
        for segment in segments
    }


async def loaded_scores(redis: Redis) -> int:
    """How many scores a restore under way has sent to Redis so far, wherever it keeps them before they count."""
    total = 0
    async for key in redis.scan_iter(match="shoa:feed:scores*", _type="ZSET"):
        total += await redis.zcard(key)
    return total


def cut_off_once_loaded(watcher: Redis, *, at_least: int) -> Redis:
    """A client to restore with whose connection the server closes (``CLIENT KILL``) before the first command it
    sends once ``at_least`` scores are in Redis: a network failure part-way through a restore, at a chosen point.
    It does not retry, so the restore fails there."""
    pool = watcher.connection_pool

    class CutOffConnection(pool.connection_class):  # type: ignore[name-defined,misc]
        async def send_packed_command(self, command: object, check_health: bool = True) -> None:  # noqa: FBT002 - the overridden signature
            if self.is_connected and await loaded_scores(watcher) >= at_least:
                for client in await watcher.client_list():
                    if client["name"] == "restorer":
                        await watcher.client_kill_filter(_id=client["id"])
            await super().send_packed_command(command, check_health)

    kwargs = {**pool.connection_kwargs, "client_name": "restorer", "retry": Retry(NoBackoff(), 0)}
    return Redis(connection_pool=ConnectionPool(connection_class=CutOffConnection, **kwargs))


@pytest.mark.parametrize("cut_after", [3, 1_000, 2_500, 5_000, 6_000])
async def test_a_restore_cut_off_part_way_and_run_again_counts_every_saved_score_once(
    redis_client: Redis, session: AsyncSession, cut_after: int
) -> None:
    products = await create_products(session, 1_500)
    await save_scores(session, products, segments=SAVED_SEGMENTS, at=NOW)  # 6,000 scores in four sets
    later = NOW + datetime.timedelta(hours=6)
    expected = await sums_in_postgresql(session, DECAY, later)
    await engage(redis_client, (products[0], 2.0), at=later)  # arrived after Redis lost everything
    restorer = cut_off_once_loaded(redis_client, at_least=cut_after)
    try:
        async with AsyncSession(session.bind) as cut_short:
            with pytest.raises(redis.exceptions.ConnectionError):
                await roll_up(cut_short, restorer, DECAY, now=later)
    finally:
        await restorer.aclose()
    assert not await redis_client.exists(LOADED_KEY)  # cut off part-way: the next roll-up restores again
    await engage(redis_client, (products[1], 3.0), at=later)  # and more arrived before it

    await committed_roll_up(session, redis_client, later)

    # Every saved score once, plus the live signals once (in their segment and in everyone's pool).
    expected["anonymous"] += 5.0
    expected["everyone"] += 5.0
    assert await sums_in_redis(redis_client, DECAY, later) == pytest.approx(expected, rel=1e-9)
    assert await sums_in_postgresql(session, DECAY, later) == pytest.approx(expected, rel=1e-9)


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


async def test_devices_first_seen_times_come_back_from_the_store_after_a_redis_flush(
    redis_client: Redis, session: AsyncSession
) -> None:
    """The feed weighs a device by when the server first saw it (decision 0039, point 9): a Redis that lost its
    marks (or never had them: the day the rule was deployed) gets the event store's back at the next roll-up, the
    older time winning where a device has sent a batch since."""
    month_ago = NOW - datetime.timedelta(days=30)
    first_seen = {f"phone-{n:04d}": month_ago + datetime.timedelta(minutes=n) for n in range(FIRST_SEEN_CHUNK + 5)}
    await session.execute(sa.insert(Device).values([{"device_id": d, "first_seen": t} for d, t in first_seen.items()]))
    await session.commit()
    # Since the loss, phone-0000 sent a batch: the events script marked it new.
    await redis_client.set(f"{FIRST_SEEN_PREFIX}device:phone-0000", repr(NOW.timestamp()))

    await committed_roll_up(session, redis_client, NOW)

    marks = await redis_client.mget([f"{FIRST_SEEN_PREFIX}device:{device}" for device in first_seen])
    assert [float(mark) if mark is not None else None for mark in marks] == [t.timestamp() for t in first_seen.values()]
    assert await redis_client.ttl(f"{FIRST_SEEN_PREFIX}device:phone-0003") > 59 * 24 * 3600
    # Loaded once: a mark written later is the events script's own.
    await redis_client.delete(f"{FIRST_SEEN_PREFIX}device:phone-0001")
    await committed_roll_up(session, redis_client, NOW)
    assert await redis_client.get(f"{FIRST_SEEN_PREFIX}device:phone-0001") is None
