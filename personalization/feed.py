"""The feed: a segment's precomputed candidates, re-ranked for the shopper, spread across malls, paged.

Order of work for a page: the segment's current candidate list (Redis, decoded once per process per version),
the shopper's affinities (their likes, and the malls and categories they engage with), a final score per
candidate, then mall diversity (at most ``MAX_PER_MALL`` items of one mall in any ``DIVERSITY_WINDOW``
consecutive items). The ordered list is fixed when the first page is served and the cursor points into it, so
pages never repeat or skip an item while scores move: an anonymous list is a function of the candidate version
(kept an hour), a shopper's own list is stored for an hour under a random id. Items that sold out or were
hidden since are skipped when their page is served.
"""

from __future__ import annotations

import secrets
import time
import uuid
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Generic, Protocol, TypeVar

import msgspec
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY

from catalog.errors import InvalidCursorError
from catalog.models import Mall, MallStatus, Product, ProductStatus
from catalog.pagination import decode_cursor, encode_cursor
from personalization import candidates as candidate_lists
from personalization.candidates import Candidate
from personalization.errors import FeedExpiredError
from personalization.models import Like
from personalization.segments import ANONYMOUS

if TYPE_CHECKING:
    import datetime
    from collections.abc import Awaitable, Callable

    from redis.asyncio import Redis
    from redis.asyncio.client import Pipeline
    from sqlalchemy.ext.asyncio import AsyncSession

    from personalization.candidates import CandidateList
    from personalization.scores import Decay

FEED_LENGTH = 300
"""Items in one feed session: 15 pages of 20."""
MAX_PER_MALL = 2
DIVERSITY_WINDOW = 10
PERSONAL_WEIGHT = 0.8
BOUGHT_PENALTY = 1.5
SESSION_SECONDS = 3600
SESSION_PREFIX = "shoa:feed:session:"
MEMO_PREFIX = "shoa:feed:memo:"
MEMO_SECONDS = 600
TASTE_VERSION_PREFIX = "shoa:feed:taste-version:"
AFFINITY_PREFIX = "shoa:feed:affinity:"
AFFINITY_SECONDS = 30 * 24 * 3600


class Explanation(msgspec.Struct, kw_only=True):
    """Why the item is where it is: the parts of its score, and what mall diversity did to its rank."""

    target: float
    popularity: float
    everyone: float
    freshness: float
    base: float
    mall_affinity: float
    category_affinity: float
    bought: bool
    score: float
    rank_by_score: int
    """Its place (from 1) by score alone; its place in the feed differs when diversity moved it."""


class MallBrief(msgspec.Struct, frozen=True):
    id: uuid.UUID
    name: str


class FeedItem(msgspec.Struct, kw_only=True, omit_defaults=True):
    id: uuid.UUID
    name: str
    image_url: str
    price_from: int
    currency: str
    in_stock: bool
    category_path: str
    mall: MallBrief
    explain: Explanation | None = None


class FeedPage(msgspec.Struct, kw_only=True):
    segment: str
    """The segment the feed was made for: ``anonymous`` when the shopper gave no gender or birth date."""
    personalized: bool
    """Whether the shopper's own likes and engagement re-ranked it."""
    items: list[FeedItem]
    next_cursor: str | None


class KeyReader(Protocol):
    """Reads Redis keys, maybe from a copy kept current by Redis's invalidations (``shoa_api.mirror``)."""

    async def get(self, key: str) -> bytes | None: ...

    def forget(self, key: str) -> None:
        """This process just wrote ``key``: read it from Redis next."""


@dataclass(frozen=True)
class ShopperTaste:
    """What re-ranks a segment's candidates for one shopper, each affinity from 0 to 1."""

    malls: dict[uuid.UUID, float] = field(default_factory=dict)
    categories: dict[str, float] = field(default_factory=dict)
    bought: frozenset[uuid.UUID] = frozenset()

    @property
    def empty(self) -> bool:
        return not (self.malls or self.categories or self.bought)


@dataclass(slots=True)
class Ranked:
    candidate: Candidate
    mall_affinity: float
    category_affinity: float
    bought: bool
    score: float
    rank_by_score: int


RANK_DEPTH = 800
"""Candidates carried into diversity: enough for ``FEED_LENGTH`` places even when one mall holds most of them."""


def rank(candidates: list[Candidate], taste: ShopperTaste) -> list[Ranked]:
    """Final scores, best first (ties: newer product first), then mall diversity; at most ``FEED_LENGTH``."""
    keyed = []
    for candidate in candidates:
        mall = taste.malls.get(candidate.mall_id, 0.0)
        category = taste.categories.get(candidate.category, 0.0)
        bought = candidate.product_id in taste.bought
        personal = PERSONAL_WEIGHT * (0.5 * mall + 0.5 * category) - (BOUGHT_PENALTY if bought else 0.0)
        # Product ids are unique, so the comparison never reaches the candidate itself.
        keyed.append((candidate.base + personal, candidate.product_id.int, candidate, mall, category, bought))
    keyed.sort(reverse=True)
    ranked = [
        Ranked(candidate, mall, category, bought, round(score, 4), position)
        for position, (score, _, candidate, mall, category, bought) in enumerate(keyed[:RANK_DEPTH], start=1)
    ]
    return diversify(ranked)


def diversify(ranked: list[Ranked], *, per_mall: int = MAX_PER_MALL, window: int = DIVERSITY_WINDOW) -> list[Ranked]:
    """Greedy: at each place, the best remaining item whose mall has fewer than ``per_mall`` items among the
    previous ``window - 1``; when no remaining item qualifies (few malls left), the best remaining one.

    Items passed over wait in one queue per mall, so each place looks at the next item and at most one waiting
    item per mall, instead of rescanning everything passed over (one mall holding half the candidates is common).
    """
    waiting: dict[uuid.UUID, deque[int]] = {}
    chosen: list[Ranked] = []
    recent: Counter[uuid.UUID] = Counter()
    position = 0
    while len(chosen) < FEED_LENGTH:
        # The best waiting item whose mall may come now, and the best waiting item at all.
        allowed = min((q[0] for mall, q in waiting.items() if q and recent[mall] < per_mall), default=None)
        best_waiting = min((q[0] for q in waiting.values() if q), default=None)
        # Walk on through the ranking until an item that may come now, or one ranked below the best allowed.
        while position < len(ranked) and (allowed is None or position < allowed):
            mall = ranked[position].candidate.mall_id
            if recent[mall] < per_mall:
                allowed = position
                break
            waiting.setdefault(mall, deque()).append(position)
            best_waiting = position if best_waiting is None else min(best_waiting, position)
            position += 1
        pick = allowed if allowed is not None else best_waiting
        if pick is None:
            break  # nothing left
        if pick == position:
            position += 1
        else:
            waiting[ranked[pick].candidate.mall_id].popleft()
        item = ranked[pick]
        chosen.append(item)
        recent[item.candidate.mall_id] += 1
        if len(chosen) >= window:
            recent[chosen[-window].candidate.mall_id] -= 1
    return chosen


# --- Shopper taste ---------------------------------------------------------------------------------------------


async def taste_of(session: AsyncSession, redis: Redis, user_id: uuid.UUID) -> ShopperTaste:
    """From the shopper's likes (PostgreSQL) and engagement (Redis), normalized to the strongest of each kind."""
    malls: dict[uuid.UUID, float] = {}
    categories: dict[str, float] = {}
    liked = await session.execute(
        sa.select(Product.mall_id, sa.func.split_part(Product.category_path, "/", 1))
        .join(Like, Like.product_id == Product.id)
        .where(Like.user_id == user_id)
    )
    for mall_id, category in liked:
        malls[mall_id] = malls.get(mall_id, 0.0) + LIKE_AFFINITY
        categories[category] = categories.get(category, 0.0) + LIKE_AFFINITY
    for key, value in (await redis.hgetall(f"{AFFINITY_PREFIX}user:{user_id}")).items():
        kind, _, name = (key.decode() if isinstance(key, bytes) else key).partition(":")
        if kind == "mall":
            mall_id = uuid.UUID(name)
            malls[mall_id] = malls.get(mall_id, 0.0) + float(value)
        elif kind == "category":
            categories[name] = categories.get(name, 0.0) + float(value)
    return ShopperTaste(malls=_normalized(malls), categories=_normalized(categories))


LIKE_AFFINITY = 4.0
"""A like counts towards its mall and category as a like event does."""
K = TypeVar("K")
V = TypeVar("V")


def _normalized(counts: dict[K, float]) -> dict[K, float]:
    top = max(counts.values(), default=0.0)
    return {key: round(value / top, 4) for key, value in counts.items()} if top > 0 else {}


async def record_affinity(redis: Redis, user_id: uuid.UUID, engaged: list[tuple[uuid.UUID, str, float]]) -> None:
    """Add engagement (mall, category, weight) to the shopper's affinities, kept ``AFFINITY_SECONDS`` from now;
    their taste version moves with it."""
    if not engaged:
        return
    key = f"{AFFINITY_PREFIX}user:{user_id}"
    async with redis.pipeline(transaction=False) as pipe:
        for mall_id, category, weight in engaged:
            pipe.hincrbyfloat(key, f"mall:{mall_id}", weight)
            pipe.hincrbyfloat(key, f"category:{category}", weight)
        pipe.expire(key, AFFINITY_SECONDS)
        _bump_taste_version(pipe, user_id)
        await pipe.execute()


# --- Pages ---------------------------------------------------------------------------------------------------


_StoredItem = tuple[uuid.UUID, uuid.UUID, str, float, float, float, float, float, float, bool, float, int]


class _Stored(msgspec.Struct, array_like=True):
    """A shopper's feed as served: items in order, with what ``explain`` shows."""

    segment: str
    items: list[_StoredItem]


_ranked_cache: dict[tuple[str, str], list[Ranked]] = {}
"""Anonymous (unpersonalized) feeds by (segment, version): the same for everyone, ranked once per process."""
_CACHE_LIMIT = 64


async def feed_page(
    session: AsyncSession,
    redis: Redis,
    decay: Decay,
    *,
    segment: str,
    taste: ShopperTaste | None,
    cursor: str | None,
    limit: int,
    explain: bool,
    now: datetime.datetime,
    tile_seconds: float = 0.0,
) -> FeedPage:
    """A page for ``segment`` re-ranked by ``taste``: the first when ``cursor`` is ``None``, else the one it names."""
    if cursor is not None:
        return await resumed_page(
            session, redis, cursor=cursor, limit=limit, explain=explain, tile_seconds=tile_seconds
        )
    ranked, key, _ = await _first_ranking(session, redis, decay, segment=segment, taste=taste, now=now)
    return await _page(session, ranked, key, segment, offset=0, limit=limit, explain=explain,
                       tile_seconds=tile_seconds)  # fmt: skip


async def resumed_page(
    session: AsyncSession, redis: Redis, *, cursor: str, limit: int, explain: bool, tile_seconds: float = 0.0
) -> FeedPage:
    """The page a cursor names, from the list fixed when the feed's first page was served."""
    ranked, key, offset, segment = await _resume(redis, cursor)
    return await _page(session, ranked, key, segment, offset=offset, limit=limit, explain=explain,
                       tile_seconds=tile_seconds)  # fmt: skip


async def shopper_first_page(
    session: AsyncSession,
    redis: Redis,
    decay: Decay,
    *,
    keys: KeyReader,
    user_id: uuid.UUID,
    segment_of: Callable[[], Awaitable[str]],
    limit: int,
    explain: bool,
    now: datetime.datetime,
    tile_seconds: float = 0.0,
) -> FeedPage:
    """A logged-in shopper's first page; their ranked list is remembered while its inputs stay the same.

    The list is a function of the shopper's segment, their taste and the segment's candidate version. Whatever
    changes the first two (a like, an event, a profile change, closing the account) bumps the shopper's taste
    version (``taste_changed``), and the worker's new candidate lists come with a new version; while neither
    moved, the list made last time is the list a fresh ranking would make, and it is served again without
    touching PostgreSQL. A remembered list lasts at most ``MEMO_SECONDS``, so a birthday moving the shopper to
    another age band shows within that time even if nothing else changes.

    ``keys`` reads the small keys involved (taste version, remembered list, current candidate version), which
    the API mirrors in memory while Redis reports their changes.
    """
    taste_version, memo = await _remembered(keys, user_id)
    if memo is not None:
        try:
            ranked, key, _, segment = await _resume(redis, encode_cursor(*memo.key, 0))
        except FeedExpiredError:
            pass  # the list itself is gone (evicted): rank afresh
        else:
            return await _page(session, ranked, key, segment, offset=0, limit=limit, explain=explain,
                               tile_seconds=tile_seconds)  # fmt: skip
    segment = await segment_of()
    taste = await taste_of(session, redis, user_id)
    ranked, key, version = await _first_ranking(session, redis, decay, segment=segment, taste=taste, now=now)
    memo = _Memo(taste_version=taste_version, segment=segment, candidate_version=version, key=list(key))
    memo_key = f"{MEMO_PREFIX}{user_id}"
    await redis.set(memo_key, msgspec.msgpack.encode(memo), ex=MEMO_SECONDS)
    keys.forget(memo_key)
    return await _page(session, ranked, key, segment, offset=0, limit=limit, explain=explain,
                       tile_seconds=tile_seconds)  # fmt: skip


async def remembered_first_page(
    redis: Redis, *, keys: KeyReader, user_id: uuid.UUID, limit: int, explain: bool
) -> FeedPage | None:
    """The shopper's first page when their remembered list still holds and this process served that page of it
    within the tiles' few seconds: no database at all. ``None`` otherwise (then ``shopper_first_page``)."""
    _, memo = await _remembered(keys, user_id)
    return None if memo is None else _pages.get(_page_key(tuple(memo.key), 0, limit, explain=explain))


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


async def taste_changed(redis: Redis, user_id: uuid.UUID) -> None:
    """Call after what re-ranks the shopper's feed has changed *and been committed*: their next first page is
    ranked afresh. (Bumping before the commit could let a ranking read the old likes under the new version.)"""
    async with redis.pipeline(transaction=False) as pipe:
        _bump_taste_version(pipe, user_id)
        await pipe.execute()


def taste_version_key(user_id: uuid.UUID) -> str:
    return f"{TASTE_VERSION_PREFIX}{user_id}"


def _bump_taste_version(pipe: Pipeline, user_id: uuid.UUID) -> None:
    key = taste_version_key(user_id)
    pipe.incr(key)
    pipe.expire(key, AFFINITY_SECONDS)


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
    segment: str,
    taste: ShopperTaste | None,
    now: datetime.datetime,
) -> tuple[list[Ranked], tuple[str, ...], str]:
    """The list a first page starts: the segment's own (the same for everyone) or one ranked for the taste;
    the key its cursors carry, and the candidate version it came from."""
    current = await _current_candidates(session, redis, decay, segment, now=now)
    if taste is not None and not taste.empty:
        ranked = rank(current.items, taste)
        return ranked, await _store_session(redis, segment, ranked), current.version
    return _anonymous_ranking(current), ("v", segment, current.version), current.version


def _page_key(key: tuple[str, ...], offset: int, limit: int, *, explain: bool) -> str:
    return f"{':'.join(key)}:{offset}:{limit}:{explain:d}"


async def _page(
    session: AsyncSession,
    ranked: list[Ranked],
    key: tuple[str, ...],
    segment: str,
    *,
    offset: int,
    limit: int,
    explain: bool,
    tile_seconds: float,
) -> FeedPage:
    # The same page of the same list, within the tiles' few seconds, is the same answer: made once.
    page_key = _page_key(key, offset, limit, explain=explain)
    if tile_seconds > 0 and (known := _pages.get(page_key)) is not None:
        return known
    items, consumed = await _tiles(session, ranked, offset=offset, limit=limit, explain=explain,
                                   tile_seconds=tile_seconds)  # fmt: skip
    next_offset = offset + consumed
    next_cursor = encode_cursor(*key, next_offset) if next_offset < len(ranked) else None
    # A list of the shopper's own ("s") was re-ranked for them; a segment's ("v") is the same for everyone.
    page = FeedPage(segment=segment, personalized=key[0] == "s", items=items, next_cursor=next_cursor)
    if tile_seconds > 0:
        _pages.put(page_key, page, seconds=tile_seconds)
    return page


async def _current_candidates(
    session: AsyncSession, redis: Redis, decay: Decay, segment: str, *, now: datetime.datetime
) -> CandidateList:
    """The worker's latest list for the segment; computed here (and published) if the worker has not made one."""
    version = await candidate_lists.current_version(redis, segment)
    if version is not None:
        if (cached := _candidates_cache.get((segment, version))) is not None:
            return cached
        if (found := await candidate_lists.load(redis, segment, version)) is not None:
            return _remember(found)
    fresh = await candidate_lists.compute(session, redis, decay, segment, now=now)
    await candidate_lists.store(redis, fresh)
    return _remember(fresh)


_candidates_cache: dict[tuple[str, str], CandidateList] = {}
"""Decoded candidate lists by (segment, version): a version never changes, so each process decodes it once."""


def _remember(found: CandidateList) -> CandidateList:
    if len(_candidates_cache) >= _CACHE_LIMIT:
        _candidates_cache.pop(next(iter(_candidates_cache)))
    _candidates_cache[(found.segment, found.version)] = found
    return found


def _anonymous_ranking(current: CandidateList) -> list[Ranked]:
    key = (current.segment, current.version)
    if (cached := _ranked_cache.get(key)) is None:
        if len(_ranked_cache) >= _CACHE_LIMIT:
            _ranked_cache.pop(next(iter(_ranked_cache)))
        cached = _ranked_cache[key] = rank(current.items, ShopperTaste())
    return cached


async def _store_session(redis: Redis, segment: str, ranked: list[Ranked]) -> tuple[str, str]:
    session_id = secrets.token_urlsafe(12)
    items: list[_StoredItem] = [
        (r.candidate.product_id, r.candidate.mall_id, r.candidate.category, r.candidate.target,
         r.candidate.popularity, r.candidate.everyone, r.candidate.freshness, r.mall_affinity, r.category_affinity,
         r.bought, r.score, r.rank_by_score)
        for r in ranked
    ]  # fmt: skip
    stored = _Stored(segment=segment, items=items)
    await redis.set(f"{SESSION_PREFIX}{session_id}", msgspec.msgpack.encode(stored), ex=SESSION_SECONDS)
    _sessions.put(session_id, (segment, ranked))
    return ("s", session_id)


class _LocalCache(Generic[V]):
    """A few seconds of memory, per process, for values that never change under their key."""

    def __init__(self, seconds: float, max_entries: int) -> None:
        self.seconds = seconds
        self.max_entries = max_entries
        self._entries: dict[str, tuple[float, V]] = {}

    def get(self, key: str) -> V | None:
        entry = self._entries.get(key)
        if entry is None or entry[0] <= time.monotonic():
            return None
        return entry[1]

    def put(self, key: str, value: V, *, seconds: float | None = None) -> None:
        if len(self._entries) >= self.max_entries:
            del self._entries[next(iter(self._entries))]
        self._entries[key] = (time.monotonic() + (self.seconds if seconds is None else seconds), value)


_pages: _LocalCache[FeedPage] = _LocalCache(seconds=0, max_entries=4096)
"""Pages as served, by list, offset, limit and explain, for as long as the tiles they show (``tile_seconds``)."""
_sessions: _LocalCache[tuple[str, list[Ranked]]] = _LocalCache(seconds=60, max_entries=256)
"""Shoppers' lists, decoded, by session id: the next pages (and a remembered first page) skip Redis. Kept a
minute, far less than the hour Redis keeps them, so a list never outlives its stored copy here."""


async def _resume(redis: Redis, cursor: str) -> tuple[list[Ranked], tuple[str, ...], int, str]:
    """The list a cursor points into, its key, the offset, and the segment it was made for."""
    parts = decode_cursor(cursor, list[str | int])
    expired = "this feed is more than an hour old; start again without a cursor"
    match parts:
        case ["v", str(segment), str(version), int(offset)] if offset >= 0:
            if (ranking := _ranked_cache.get((segment, version))) is None:
                found = _candidates_cache.get((segment, version)) or await candidate_lists.load(redis, segment, version)
                if found is None:
                    raise FeedExpiredError(expired)
                ranking = _anonymous_ranking(_remember(found))
            return ranking, ("v", segment, version), offset, segment
        case ["s", str(session_id), int(offset)] if offset >= 0:
            if (known := _sessions.get(session_id)) is None:
                raw = await redis.get(f"{SESSION_PREFIX}{session_id}")
                if raw is None:
                    raise FeedExpiredError(expired)
                stored = msgspec.msgpack.decode(raw if isinstance(raw, bytes) else raw.encode(), type=_Stored)
                known = (stored.segment, [_unpack(item) for item in stored.items])
                _sessions.put(session_id, known)
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


_TileRow = tuple[uuid.UUID, str, str, int, str, bool, str, uuid.UUID, str]


class TileCache:
    """Product tiles by id for a few seconds, per process: the feed's pages then cost no query while they are
    warm. A product that sold out or was hidden shows at most ``seconds`` longer, as other public answers do."""

    def __init__(self, max_entries: int = 50_000) -> None:
        self.max_entries = max_entries
        self._entries: dict[uuid.UUID, tuple[float, _TileRow | None]] = {}

    def get(self, product_id: uuid.UUID, now: float) -> tuple[bool, _TileRow | None]:
        """(known, tile): a known ``None`` is a product not on show."""
        entry = self._entries.get(product_id)
        if entry is None or entry[0] <= now:
            return False, None
        return True, entry[1]

    def put(self, product_id: uuid.UUID, tile: _TileRow | None, expires: float) -> None:
        if len(self._entries) >= self.max_entries:
            del self._entries[next(iter(self._entries))]
        self._entries[product_id] = (expires, tile)


tiles = TileCache()


async def _tiles(
    session: AsyncSession, ranked: list[Ranked], *, offset: int, limit: int, explain: bool, tile_seconds: float
) -> tuple[list[FeedItem], int]:
    """The page's items, skipping any sold out or hidden since the list was made; how many list places it used."""
    window = ranked[offset : offset + limit + limit // 2 + 5]
    now = time.monotonic()
    known: dict[uuid.UUID, _TileRow | None] = {}
    for entry in window:
        found, tile = tiles.get(entry.candidate.product_id, now)
        if found:
            known[entry.candidate.product_id] = tile
    missing = [entry.candidate.product_id for entry in window if entry.candidate.product_id not in known]
    if missing:
        rows = await session.execute(
            sa.select(
                Product.id, Product.name, Product.image_urls[1], Product.price_from, Product.currency,
                Product.in_stock, Product.category_path, Mall.id, Mall.name,
            )
            .join(Mall, Mall.id == Product.mall_id)
            .where(
                Product.id == sa.any_(sa.literal(missing, ARRAY(sa.Uuid()))),
                Product.status == ProductStatus.ON_SALE.value,
                Product.in_stock,
                Mall.status == MallStatus.ACTIVE.value,
            )
        )  # fmt: skip
        fetched: dict[uuid.UUID, _TileRow] = {row[0]: tuple(row) for row in rows}
        for product_id in missing:
            known[product_id] = fetched.get(product_id)
            if tile_seconds > 0:
                tiles.put(product_id, known[product_id], now + tile_seconds)
    items: list[FeedItem] = []
    used = 0
    for entry in window:
        if len(items) == limit:
            break
        used += 1
        row = known.get(entry.candidate.product_id)
        if row is None:
            continue
        items.append(
            FeedItem(
                id=row[0], name=row[1], image_url=row[2], price_from=row[3], currency=row[4], in_stock=row[5],
                category_path=row[6], mall=MallBrief(row[7], row[8]),
                explain=_explanation(entry) if explain else None,
            )
        )  # fmt: skip
    return items, used


def _explanation(entry: Ranked) -> Explanation:
    candidate = entry.candidate
    return Explanation(
        target=candidate.target,
        popularity=candidate.popularity,
        everyone=candidate.everyone,
        freshness=candidate.freshness,
        base=round(candidate.base, 4),
        mall_affinity=entry.mall_affinity,
        category_affinity=entry.category_affinity,
        bought=entry.bought,
        score=entry.score,
        rank_by_score=entry.rank_by_score,
    )


__all__ = [
    "ANONYMOUS", "FeedItem", "FeedPage", "ShopperTaste", "diversify", "feed_page", "rank", "remembered_first_page",
    "resumed_page",
    "shopper_first_page", "taste_changed", "taste_of", "taste_version_key",
]  # fmt: skip
