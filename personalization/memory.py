"""What one process remembers of feeds between requests, held by the app that serves them.

The app's lifespan creates one :class:`FeedMemory` and hands it to every feed call; it goes with the app, so two
apps in one process (the tests make one per test) share nothing. Candidate lists and anonymous rankings are kept
by version, which never changes under its key: only room bounds them. Shoppers' lists, pages and tiles expire.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cachetools import LRUCache, TTLCache

if TYPE_CHECKING:
    import uuid

    from personalization.candidates import CandidateList
    from personalization.feed import FeedPage, Ranked
    from personalization.tiles import TileRow

VERSIONS_KEPT = 64
"""Decoded candidate lists, and anonymous rankings, kept per process: a few versions of each segment's."""
SESSION_SECONDS = 60.0
"""A shopper's list stays decoded this long: far less than the hour Redis keeps it, so it never outlives it."""


class FeedMemory:
    def __init__(self, *, tile_seconds: float) -> None:
        self.tile_seconds = tile_seconds
        """How long a product tile, and a page made of tiles, is served from memory; 0 keeps neither."""
        self.candidates: LRUCache[tuple[str, str], CandidateList] = LRUCache(maxsize=VERSIONS_KEPT)
        """Decoded candidate lists by (segment, version): each process decodes a version once."""
        self.rankings: LRUCache[tuple[str, str], list[Ranked]] = LRUCache(maxsize=VERSIONS_KEPT)
        """Anonymous (unpersonalized) lists by (segment, version): the same for everyone, ranked once."""
        self.sessions: TTLCache[str, tuple[str, list[Ranked]]] = TTLCache(maxsize=256, ttl=SESSION_SECONDS)
        """Shoppers' lists, decoded, by session id: their next pages (and a remembered first page) skip Redis."""
        self.pages: TTLCache[str, FeedPage] = TTLCache(maxsize=4096, ttl=tile_seconds)
        """Pages as served, by list, offset, limit and explain, for as long as the tiles they show."""
        self.tiles: TTLCache[uuid.UUID, TileRow | None] = TTLCache(maxsize=50_000, ttl=tile_seconds)
        """Product tiles by id; a known ``None`` is a product not on show."""
        self._catalog_version: bytes | None = None

    def follow_catalog(self, version: bytes) -> None:
        """Forget every tile and page once a mall changed its catalog (``version`` moved): a product hidden or
        sold out is never shown again from memory, however long tiles are otherwise kept."""
        if version != self._catalog_version:
            self.tiles.clear()
            self.pages.clear()
            self._catalog_version = version
