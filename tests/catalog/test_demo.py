"""The generated demo catalog passes every rule a mall's data must pass, and is the same for the same seed."""

from __future__ import annotations

import datetime
import random
from typing import TYPE_CHECKING

import sqlalchemy as sa

from catalog.categories import CATEGORY_PATHS
from catalog.demo import DEMO_MALLS, seed_demo_malls
from catalog.demo_products import generate_product, seed_demo_products
from catalog.models import Mall, Product, Variant

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession


async def test_every_generated_product_is_accepted_by_the_sync(session: AsyncSession) -> None:
    await seed_demo_malls(session)

    created = await seed_demo_products(session, products=600)

    assert created == 600
    assert await session.scalar(sa.select(sa.func.count()).select_from(Product)) == 600
    malls_with_products = await session.scalar(sa.select(sa.func.count(sa.distinct(Product.mall_id))))
    assert malls_with_products is not None
    assert malls_with_products >= 10
    paths = set(await session.scalars(sa.select(Product.category_path)))
    assert paths <= CATEGORY_PATHS
    assert ((await session.scalar(sa.select(sa.func.min(Variant.price)))) or 0) > 0


async def test_there_are_at_least_thirty_listed_demo_malls(session: AsyncSession) -> None:
    await seed_demo_malls(session)

    listed = await session.scalar(sa.select(sa.func.count()).select_from(Mall).where(Mall.status == "active"))

    assert listed == len(DEMO_MALLS) >= 30


def test_the_same_seed_generates_the_same_products() -> None:
    now = datetime.datetime(2026, 11, 29, tzinfo=datetime.UTC)
    first = [generate_product(random.Random(7), n, now=now) for n in range(50)]
    again = [generate_product(random.Random(7), n, now=now) for n in range(50)]

    assert first == again
    assert all("가" <= product["name"][-1] <= "힣" for product in first)  # Korean names
