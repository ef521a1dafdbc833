"""Every catalog query lives here."""

from __future__ import annotations

from typing import TYPE_CHECKING

import sqlalchemy as sa

from catalog.models import Mall, MallStatus

if TYPE_CHECKING:
    import uuid
    from collections.abc import Sequence

    from sqlalchemy.ext.asyncio import AsyncSession


async def list_listed_malls(
    session: AsyncSession, *, after: tuple[str, uuid.UUID] | None, limit: int
) -> Sequence[Mall]:
    query = sa.select(Mall).where(Mall.status == MallStatus.ACTIVE.value).order_by(Mall.name, Mall.id).limit(limit)
    if after is not None:
        query = query.where(sa.tuple_(Mall.name, Mall.id) > sa.tuple_(sa.literal(after[0]), sa.literal(after[1])))
    return (await session.scalars(query)).all()


async def get_listed_mall(session: AsyncSession, mall_id: uuid.UUID) -> Mall | None:
    query = sa.select(Mall).where(Mall.id == mall_id, Mall.status == MallStatus.ACTIVE.value)
    return await session.scalar(query)


async def count_malls(session: AsyncSession) -> int:
    return await session.scalar(sa.select(sa.func.count()).select_from(Mall)) or 0


def add_malls(session: AsyncSession, malls: Sequence[Mall]) -> None:
    session.add_all(malls)
