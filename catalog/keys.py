"""Partner malls and their API keys: shown once, stored hashed, scoped, revocable and rotatable.

A key is ``shoa_pk_`` and 43 URL-safe characters (256 random bits). It is found by the SHA-256 of the whole
key; its first characters are kept as a label so that people can tell keys apart.
"""

from __future__ import annotations

import datetime
import hashlib
import re
import secrets
import uuid  # noqa: TC003 - PartnerIdentity is a Litestar dependency: its field types exist at runtime
from dataclasses import dataclass
from typing import TYPE_CHECKING

import sqlalchemy as sa

from catalog.errors import (
    ApiKeyNotFoundError,
    InvalidApiKeyError,
    InvalidMallError,
    MallExistsError,
    MallNotFoundError,
    MissingScopeError,
)
from catalog.models import ApiKeyScope, Mall, MallApiKey
from catalog.product_rules import name_problem

if TYPE_CHECKING:
    from collections.abc import Iterable

    from sqlalchemy.ext.asyncio import AsyncSession

KEY_PREFIX = "shoa_pk_"
DISPLAY_PREFIX_LENGTH = len(KEY_PREFIX) + 6
LAST_USED_RESOLUTION = datetime.timedelta(minutes=1)
"""``last_used_at`` is written at most this often per key, not on every request."""
_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}$")


@dataclass(frozen=True)
class IssuedKey:
    id: uuid.UUID
    key: str
    """The only time the key is shown."""
    display_prefix: str
    scopes: tuple[str, ...]
    expires_at: datetime.datetime | None


@dataclass(frozen=True)
class KeySummary:
    id: uuid.UUID
    name: str
    display_prefix: str
    scopes: tuple[str, ...]
    created_at: datetime.datetime
    last_used_at: datetime.datetime | None
    expires_at: datetime.datetime | None
    revoked_at: datetime.datetime | None


@dataclass(frozen=True)
class PartnerIdentity:
    """Who a partner request comes from: every partner operation is confined to ``mall_id``."""

    mall_id: uuid.UUID
    mall_slug: str
    key_id: uuid.UUID
    scopes: frozenset[str]

    def require(self, scope: ApiKeyScope) -> None:
        if scope.value not in self.scopes:
            msg = f"this key lacks the {scope.value} scope; create a key with it"
            raise MissingScopeError(msg)

    def require_mall(self, mall_id: uuid.UUID) -> None:
        """Refuse anything outside the caller's own mall, as if it did not exist."""
        if mall_id != self.mall_id:
            msg = "no such resource for this mall"
            raise MallNotFoundError(msg)


def parse_scopes(scopes: Iterable[str]) -> tuple[str, ...]:
    known = {scope.value for scope in ApiKeyScope}
    chosen = tuple(sorted(set(scopes)))
    unknown = [scope for scope in chosen if scope not in known]
    if unknown or not chosen:
        msg = f"scopes must be some of {', '.join(sorted(known))}; got {', '.join(unknown) or 'none'}"
        raise InvalidMallError(msg)
    return chosen


async def create_mall(
    session: AsyncSession, *, slug: str, name: str, description: str = "", logo_url: str | None = None
) -> Mall:
    if not _SLUG.match(slug):
        msg = "a slug is 2-63 lower-case letters, digits and dashes, starting with a letter or digit"
        raise InvalidMallError(msg)
    if not name.strip() or len(name) > 100:
        msg = "a mall's name is 1-100 characters"
        raise InvalidMallError(msg)
    if problem := name_problem(name):
        msg = f"a mall's name {problem}"
        raise InvalidMallError(msg)
    if logo_url is not None and not logo_url.startswith("https://"):
        msg = "a logo URL must be https"
        raise InvalidMallError(msg)
    if await session.scalar(sa.select(Mall.id).where(Mall.slug == slug)) is not None:
        msg = f"a mall already uses the slug {slug}"
        raise MallExistsError(msg)
    mall = Mall(slug=slug, name=name.strip(), description=description, logo_url=logo_url)
    session.add(mall)
    await session.flush()
    return mall


async def mall_by_slug(session: AsyncSession, slug: str) -> Mall:
    mall = await session.scalar(sa.select(Mall).where(Mall.slug == slug))
    if mall is None:
        msg = f"no mall has the slug {slug}"
        raise MallNotFoundError(msg)
    return mall


async def issue_key(
    session: AsyncSession,
    *,
    mall_id: uuid.UUID,
    name: str,
    scopes: Iterable[str],
    expires_at: datetime.datetime | None = None,
) -> IssuedKey:
    chosen = parse_scopes(scopes)
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    row = MallApiKey(
        mall_id=mall_id,
        name=name,
        display_prefix=key[:DISPLAY_PREFIX_LENGTH],
        key_hash=_key_hash(key),
        scopes=list(chosen),
        expires_at=expires_at,
    )
    session.add(row)
    await session.flush()
    return IssuedKey(id=row.id, key=key, display_prefix=row.display_prefix, scopes=chosen, expires_at=expires_at)


async def list_keys(session: AsyncSession, *, mall_id: uuid.UUID) -> list[KeySummary]:
    rows = await session.scalars(
        sa.select(MallApiKey).where(MallApiKey.mall_id == mall_id).order_by(MallApiKey.created_at)
    )
    return [
        KeySummary(
            id=row.id,
            name=row.name,
            display_prefix=row.display_prefix,
            scopes=tuple(row.scopes),
            created_at=row.created_at,
            last_used_at=row.last_used_at,
            expires_at=row.expires_at,
            revoked_at=row.revoked_at,
        )
        for row in rows
    ]


async def revoke_key(session: AsyncSession, *, mall_id: uuid.UUID, key_id: uuid.UUID, now: datetime.datetime) -> None:
    row = await _own_key(session, mall_id=mall_id, key_id=key_id)
    if row.revoked_at is None:
        row.revoked_at = now
    await session.flush()


async def rotate_key(
    session: AsyncSession,
    *,
    mall_id: uuid.UUID,
    key_id: uuid.UUID,
    overlap: datetime.timedelta,
    now: datetime.datetime,
) -> IssuedKey:
    """A new key with the same name and scopes; the old one keeps working for ``overlap``, then stops."""
    old = await _own_key(session, mall_id=mall_id, key_id=key_id)
    if old.revoked_at is not None or (old.expires_at is not None and old.expires_at <= now):
        msg = "that key no longer works; create a new one instead of rotating it"
        raise InvalidMallError(msg)
    retire_at = now + overlap
    old.expires_at = min(old.expires_at, retire_at) if old.expires_at else retire_at
    return await issue_key(session, mall_id=mall_id, name=old.name, scopes=old.scopes)


async def authenticate(session: AsyncSession, key: str, *, now: datetime.datetime) -> PartnerIdentity:
    """The mall and scopes of a presented key. ``session`` is an autocommit one: the last-used time lands now."""
    if not key.startswith(KEY_PREFIX):
        msg = "send a Shoa partner key: `Authorization: Bearer shoa_pk_…`"
        raise InvalidApiKeyError(msg)
    row = (
        await session.execute(
            sa.select(MallApiKey.id, MallApiKey.mall_id, MallApiKey.scopes, MallApiKey.expires_at, Mall.slug)
            .join(Mall, Mall.id == MallApiKey.mall_id)
            .where(MallApiKey.key_hash == _key_hash(key), MallApiKey.revoked_at.is_(None))
        )
    ).first()
    if row is None or (row.expires_at is not None and row.expires_at <= now):
        msg = "this key is unknown, expired or revoked"
        raise InvalidApiKeyError(msg)
    await session.execute(
        sa.update(MallApiKey)
        .where(
            MallApiKey.id == row.id,
            sa.or_(MallApiKey.last_used_at.is_(None), MallApiKey.last_used_at < now - LAST_USED_RESOLUTION),
        )
        .values(last_used_at=now)
    )
    return PartnerIdentity(mall_id=row.mall_id, mall_slug=row.slug, key_id=row.id, scopes=frozenset(row.scopes))


async def _own_key(session: AsyncSession, *, mall_id: uuid.UUID, key_id: uuid.UUID) -> MallApiKey:
    row = await session.scalar(sa.select(MallApiKey).where(MallApiKey.id == key_id, MallApiKey.mall_id == mall_id))
    if row is None:
        msg = f"mall has no key {key_id}"
        raise ApiKeyNotFoundError(msg)
    return row


def _key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()
