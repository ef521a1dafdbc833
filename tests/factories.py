"""Small explicit builders for test data."""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING

from uuid_utils.compat import uuid7

from catalog.models import Mall, MallStatus

if TYPE_CHECKING:
    import uuid

    from sqlalchemy.ext.asyncio import AsyncSession

_numbers = itertools.count(1)


async def create_mall(
    session: AsyncSession,
    *,
    name: str = "하루일상",
    slug: str | None = None,
    status: MallStatus = MallStatus.ACTIVE,
    description: str = "매일 입기 좋은 데일리룩",
    logo_url: str | None = "https://img.shoa.kr/malls/demo.png",
    mall_id: uuid.UUID | None = None,
) -> Mall:
    mall = Mall(
        id=mall_id or uuid7(),
        slug=slug or f"mall-{next(_numbers)}",
        name=name,
        status=status.value,
        description=description,
        logo_url=logo_url,
    )
    session.add(mall)
    await session.commit()
    return mall
