"""Small explicit builders for test data."""

from __future__ import annotations

import datetime
import itertools
from typing import TYPE_CHECKING

import sqlalchemy as sa
from uuid_utils.compat import uuid7

from catalog.models import Mall, MallApiKey, MallStatus

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


async def dress_every_mall_as_a_sponsor(session: AsyncSession) -> None:
    """Every mall changed in each way a mall could pay or be paid for: named and described as a sponsor, another
    logo and slug, back-dated, other shipping fees, one more API key with every scope. Committed. What the feed and
    the rankings show must not move (no paid placements)."""
    for number, mall in enumerate(await session.scalars(sa.select(Mall))):
        mall.name = f"광고 {number}"
        mall.description = "프리미엄 스폰서 입점몰 " * 10
        mall.logo_url = "https://img.example.kr/premium.png"
        mall.slug = f"premium-{number}"
        mall.created_at = datetime.datetime(2020, 1, 1, tzinfo=datetime.UTC)
        mall.shipping_fee = 0 if number % 2 else 100_000
        mall.free_shipping_threshold = None if number % 2 else 1
        session.add(MallApiKey(mall_id=mall.id, name="paid", display_prefix="shoa_pk_x", key_hash=f"{number:064d}",
                               scopes=["catalog:write", "orders:read", "orders:write", "insights:read"]))  # fmt: skip
    await session.commit()
