"""The public catalog, for shoppers whether logged in or not."""

from __future__ import annotations

import uuid
from typing import Annotated

from litestar import Controller, get
from litestar.di import NamedDependency
from litestar.params import FromPath, Parameter
from sqlalchemy.ext.asyncio import AsyncSession

from catalog import service
from catalog.schemas import CategoryNode, MallPage, MallWithProducts, ProductDetail

MAX_PAGE_SIZE = 100

Limit = Annotated[int, Parameter(ge=1, le=MAX_PAGE_SIZE, description="Items per page, 1 to 100.")]
Cursor = Annotated[
    str | None,
    Parameter(max_length=512, description="`next_cursor` from the previous page; omit for the first."),
]


class MallController(Controller):
    path = "/v1/malls"
    tags = ["catalog"]  # noqa: RUF012 - Litestar reads it as a class attribute

    @get(operation_id="list_malls", summary="Listed malls in 가나다 order, a page at a time", cache=True)
    async def list_malls(
        self, db_read: NamedDependency[AsyncSession], cursor: Cursor = None, limit: Limit = 20
    ) -> MallPage:
        return await service.list_malls(db_read, cursor=cursor, limit=limit)

    @get(
        "/{mall_id:uuid}", operation_id="get_mall", summary="One listed mall and its products, newest first", cache=True
    )
    async def get_mall(
        self,
        db_read: NamedDependency[AsyncSession],
        mall_id: FromPath[uuid.UUID],
        cursor: Cursor = None,
        limit: Limit = 20,
    ) -> MallWithProducts:
        return await service.mall_with_products(db_read, mall_id, cursor=cursor, limit=limit)


class ProductController(Controller):
    path = "/v1/products"
    tags = ["catalog"]  # noqa: RUF012 - Litestar reads it as a class attribute

    @get("/{product_id:uuid}", operation_id="get_product", summary="A product with its variants and mall", cache=True)
    async def get_product(
        self, db_read: NamedDependency[AsyncSession], product_id: FromPath[uuid.UUID]
    ) -> ProductDetail:
        return await service.product_detail(db_read, product_id)


@get(
    "/v1/categories",
    operation_id="list_categories",
    summary="The category tree with product counts",
    cache=True,
    tags=["catalog"],
)
async def list_categories(db_read: NamedDependency[AsyncSession]) -> list[CategoryNode]:
    return await service.category_tree(db_read)
