"""Feed pages: which list a page comes from, how it is fixed, paged and remembered.

Order of work for a first page: the segment's current candidate list (Redis, decoded once per process per
version), the shopper's taste, then ``personalization.feed.rank``. What a process keeps between requests is on
the app's :class:`~personalization.memory.FeedMemory`, passed in. The ordered list is fixed when the first
page is served and the cursor points into it, so pages never repeat or skip an item while scores move: an
anonymous list is a function of the candidate version (kept an hour), a shopper's own list is stored for an
hour under a random id, and remembered as her current list while her taste and the candidates stay the same.
"""

from __future__ import annotations

import secrets
import uuid
from typing import TYPE_CHECKING, Protocol

import msgspec

from accounts.service import shopper_segment
from catalog.errors import InvalidCursorError
from catalog.pagination import decode_cursor, encode_cursor
from personalization import candidates as candidate_lists
from personalization.candidates import Candidate
from personalization.errors import FeedExpiredError
from personalization.feed import FeedPage, Ranked, ShopperTaste, rank
from personalization.taste import taste_of, taste_version_key
from personalization.tiles import page_tiles

if TYPE_CHECKING:
    import datetime
    from collections.abc import Callable
    from contextlib import AbstractAsyncContextManager

    from redis.asyncio import Redis
    from sqlalchemy.ext.asyncio import AsyncSession

    from personalization.candidates import CandidateList
    from personalization.events import Recorder
    from personalization.memory import FeedMemory
    from personalization.scores import Decay

SESSION_SECONDS = 3600
SESSION_PREFIX = "shoa:feed:session:"
MEMO_PREFIX = "shoa:feed:memo:"
MEMO_SECONDS = 600


class KeyReader(Protocol):
    """Reads Redis keys, maybe from a copy kept current by Redis's invalidations (``shoa_api.mirror``)."""

    async def get(self, key: str) -> bytes | None: ...

    def forget(self, key: str) -> None:
        """This process just wrote ``key``: read it from Redis next."""


_StoredItem = tuple[uuid.UUID, uuid.UUID, str, float, float, float, float, float, float, bool, float, int]


class _Stored(msgspec.Struct, array_like=True):
    """A shopper's feed as served: items in order, with what ``explain`` shows."""

    segment: str
    items: list[_StoredItem]


async def feed_page(
    session: AsyncSession,
    redis: Redis,
    decay: Decay,
    *,
    memory: FeedMemory,
    segment: str,
    taste: ShopperTaste | None,
    cursor: str | None,
    limit: int,
    explain: bool,
    now: datetime.datetime,
) -> FeedPage:
    """A page for ``segment`` re-ranked by ``taste``: the first when ``cursor`` is ``None``, else the one it names."""
    if cursor is not None:
        return await resumed_page(session, redis, memory=memory, cursor=cursor, limit=limit, explain=explain)
    ranked, key, _ = await _first_ranking(session, redis, decay, memory=memory, segment=segment, taste=taste, now=now)
    return await _page(session, memory, ranked, key, segment, offset=0, limit=limit, explain=explain)


async def resumed_page(
    session: AsyncSession, redis: Redis, *, memory: FeedMemory, cursor: str, limit: int, explain: bool
) -> FeedPage:
    """The page a cursor names, from the list fixed when the feed's first page was served."""
    ranked, key, offset, segment = await _resume(redis, memory, cursor)
    return await _page(session, memory, ranked, key, segment, offset=offset, limit=limit, explain=explain)


async def shopper_first_page(
    redis: Redis,
    recorder: Recorder,
    *,
    memory: FeedMemory,
    keys: KeyReader,
    open_session: Callable[[], AbstractAsyncContextManager[AsyncSession]],
    user_id: uuid.UUID,
    limit: int,
    explain: bool,
    now: datetime.datetime,
) -> FeedPage:
    """A logged-in shopper's first page; their ranked list is remembered while its inputs stay the same.

    The list is a function of the shopper's segment, their taste and the segment's candidate version. Whatever
    changes the first two (a like, an event, a profile change, closing the account) bumps the shopper's taste
    version (``taste_changed``), and the worker's new candidate lists come with a new version; while neither
    moved, the list made last time is the list a fresh ranking would make, and it is served again without
    touching PostgreSQL. A remembered list lasts at most ``MEMO_SECONDS``, so a birthday moving the shopper to
    another age band shows within that time even if nothing else changes.

    ``keys`` reads the small keys involved (taste version, remembered list, current candidate version), which
    the API mirrors in memory while Redis reports their changes. A database session is opened only when the
    page is not already in this process's memory: the most common logged-in request needs none.
    """
    taste_version, memo = await _remembered(keys, user_id)
    if memo is not None and (known := memory.pages.get(_page_key(tuple(memo.key), 0, limit, explain=explain))):
        return known
    async with open_session() as session:
        if memo is not None:
            try:
                ranked, key, _, segment = await _resume(redis, memory, encode_cursor(*memo.key, 0))
            except FeedExpiredError:
                pass  # the list itself is gone (evicted): rank afresh
            else:
                return await _page(session, memory, ranked, key, segment, offset=0, limit=limit, explain=explain)
        segment = await shopper_segment(session, user_id, now=now)
        taste = await taste_of(session, redis, user_id, like_weight=recorder.weights["like"])
        ranked, key, version = await _first_ranking(
            session, redis, recorder.decay, memory=memory, segment=segment, taste=taste, now=now
        )
        memo = _Memo(taste_version=taste_version, segment=segment, candidate_version=version, key=list(key))
        memo_key = f"{MEMO_PREFIX}{user_id}"
        await redis.set(memo_key, msgspec.msgpack.encode(memo), ex=MEMO_SECONDS)
        keys.forget(memo_key)
        return await _page(session, memory, ranked, key, segment, offset=0, limit=limit, explain=explain)


async def _remembered(keys: KeyReader, user_id: uuid.UUID) -> tuple[int, _Memo | None]:
    """The shopper's taste version, and what was remembered of their last first page if it still holds."""
    taste_version = int(await keys.get(taste_version_key(user_id)) or 0)
    if (raw_memo := await keys.get(f"{MEMO_PREFIX}{user_id}")) is None:
        return taste_version, None
    memo = msgspec.msgpack.decode(raw_memo, type=_Memo)
    current = await keys.get(f"{candidate_lists.KEY_PREFIX}{memo.segment}:current")
    if memo.taste_version != taste_version or current != memo.candidate_version.encode():
        return taste_version, None
    return taste_version, memo


class _Memo(msgspec.Struct, array_like=True):
    taste_version: int
    segment: str
    candidate_version: str
    key: list[str]
    """The cursor's first parts: ``["s", session id]`` or ``["v", segment, version]``."""


async def _first_ranking(
    session: AsyncSession,
    redis: Redis,
    decay: Decay,
    *,
    memory: FeedMemory,
    segment: str,
    taste: ShopperTaste | None,
    now: datetime.datetime,
) -> tuple[list[Ranked], tuple[str, ...], str]:
    """The list a first page starts: the segment's own (the same for everyone) or one ranked for the taste;
    the key its cursors carry, and the candidate version it came from."""
    current = await _current_candidates(session, redis, decay, memory, segment, now=now)
    if taste is not None and not taste.empty:
        ranked = rank(current.items, taste)
        return ranked, await _store_session(redis, memory, segment, ranked), current.version
    return _anonymous_ranking(memory, current), ("v", segment, current.version), current.version


def _page_key(key: tuple[str, ...], offset: int, limit: int, *, explain: bool) -> str:
    return f"{':'.join(key)}:{offset}:{limit}:{explain:d}"


async def _page(
    session: AsyncSession,
    memory: FeedMemory,
    ranked: list[Ranked],
    key: tuple[str, ...],
    segment: str,
    *,
    offset: int,
    limit: int,
    explain: bool,
) -> FeedPage:
    # The same page of the same list, within the tiles' few seconds, is the same answer: made once.
    page_key = _page_key(key, offset, limit, explain=explain)
    if memory.tile_seconds > 0 and (known := memory.pages.get(page_key)) is not None:
        return known
    items, consumed = await page_tiles(session, memory, ranked, offset=offset, limit=limit, explain=explain)
    next_offset = offset + consumed
    next_cursor = encode_cursor(*key, next_offset) if next_offset < len(ranked) else None
    # A list of the shopper's own ("s") was re-ranked for them; a segment's ("v") is the same for everyone.
    page = FeedPage(segment=segment, personalized=key[0] == "s", items=items, next_cursor=next_cursor)
    if memory.tile_seconds > 0:
        memory.pages[page_key] = page
    return page


async def _current_candidates(
    session: AsyncSession, redis: Redis, decay: Decay, memory: FeedMemory, segment: str, *, now: datetime.datetime
) -> CandidateList:
    """The worker's latest list for the segment; computed here (and published) if the worker has not made one."""
    version = await candidate_lists.current_version(redis, segment)
    if version is not None:
        if (cached := memory.candidates.get((segment, version))) is not None:
            return cached
        if (found := await candidate_lists.load(redis, segment, version)) is not None:
            return _remember(memory, found)
    fresh = await candidate_lists.compute(session, redis, decay, segment, now=now)
    await candidate_lists.store(redis, fresh)
    return _remember(memory, fresh)


def _remember(memory: FeedMemory, found: CandidateList) -> CandidateList:
    memory.candidates[(found.segment, found.version)] = found
    return found


def _anonymous_ranking(memory: FeedMemory, current: CandidateList) -> list[Ranked]:
    key = (current.segment, current.version)
    if (cached := memory.rankings.get(key)) is None:
        cached = memory.rankings[key] = rank(current.items, ShopperTaste())
    return cached


async def _store_session(redis: Redis, memory: FeedMemory, segment: str, ranked: list[Ranked]) -> tuple[str, str]:
    session_id = secrets.token_urlsafe(12)
    items: list[_StoredItem] = [
        (r.candidate.product_id, r.candidate.mall_id, r.candidate.category, r.candidate.target,
         r.candidate.popularity, r.candidate.everyone, r.candidate.freshness, r.mall_affinity, r.category_affinity,
         r.bought, r.score, r.rank_by_score)
        for r in ranked
    ]  # fmt: skip
    stored = _Stored(segment=segment, items=items)
    await redis.set(f"{SESSION_PREFIX}{session_id}", msgspec.msgpack.encode(stored), ex=SESSION_SECONDS)
    memory.sessions[session_id] = (segment, ranked)
    return ("s", session_id)


async def _resume(redis: Redis, memory: FeedMemory, cursor: str) -> tuple[list[Ranked], tuple[str, ...], int, str]:
    """The list a cursor points into, its key, the offset, and the segment it was made for."""
    parts = decode_cursor(cursor, list[str | int])
    expired = "this feed is more than an hour old; start again without a cursor"
    match parts:
        case ["v", str(segment), str(version), int(offset)] if offset >= 0:
            if (ranking := memory.rankings.get((segment, version))) is None:
                found = memory.candidates.get((segment, version)) or await candidate_lists.load(redis, segment, version)
                if found is None:
                    raise FeedExpiredError(expired)
                ranking = _anonymous_ranking(memory, _remember(memory, found))
            return ranking, ("v", segment, version), offset, segment
        case ["s", str(session_id), int(offset)] if offset >= 0:
            if (known := memory.sessions.get(session_id)) is None:
                raw = await redis.get(f"{SESSION_PREFIX}{session_id}")
                if raw is None:
                    raise FeedExpiredError(expired)
                stored = msgspec.msgpack.decode(raw if isinstance(raw, bytes) else raw.encode(), type=_Stored)
                known = (stored.segment, [_unpack(item) for item in stored.items])
                memory.sessions[session_id] = known
            segment, ranking = known
            return ranking, ("s", session_id), offset, segment
        case _:
            msg = "cursor is not one this API gave out; start again without it"
            raise InvalidCursorError(msg)


def _unpack(item: _StoredItem) -> Ranked:
    product_id, mall_id, category, target, popularity, everyone, freshness, mall, category_aff, bought, score, place = (
        item
    )
    candidate = Candidate(product_id, mall_id, category, target, popularity, everyone, freshness)
    return Ranked(candidate, mall, category_aff, bought, score, place)
