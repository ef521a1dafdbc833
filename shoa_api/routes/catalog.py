"""The public catalog, for shoppers whether logged in or not."""

from __future__ import annotations

import uuid
from http import HTTPStatus

from litestar import Controller, get
from litestar.di import NamedDependency
from litestar.params import FromPath
from sqlalchemy.ext.asyncio import AsyncSession

from catalog import service
from catalog.errors import InvalidCursorError, MallNotFoundError, ProductNotFoundError
from catalog.schemas import CategoryNode, MallPage, MallWithProducts, ProductDetail
from shoa_api.openapi import problems
from shoa_api.pagination import Cursor, Limit


class MallController(Controller):
    path = "/v1/malls"
    tags = ["catalog"]  # noqa: RUF012 - Litestar reads it as a class attribute

    @get(
        operation_id="list_malls",
        summary="Listed malls in 가나다 order, a page at a time",
        cache=True,
        responses=problems(InvalidCursorError("cursor is not one this API gave out; start again without it")),
    )
    async def list_malls(
        self, db_read: NamedDependency[AsyncSession], cursor: Cursor = None, limit: Limit = 20
    ) -> MallPage:
        return await service.list_malls(db_read, cursor=cursor, limit=limit)

    @get(
        "/{mall_id:uuid}",
        operation_id="get_mall",
        summary="One listed mall and its products, newest first",
        cache=True,
        responses=problems(
            MallNotFoundError("no listed mall has id 0193a1c2-5e4f-7a10-8b2c-3d4e5f6a7b01"),
            HTTPStatus.NOT_FOUND,
            InvalidCursorError("cursor is not one this API gave out; start again without it"),
        ),
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

    @get(
        "/{product_id:uuid}",
        operation_id="get_product",
        summary="A product with its variants and mall",
        cache=True,
        responses=problems(
            ProductNotFoundError("no product 0193a1c2-6f70-7b21-9c3d-4e5f6a7b8c02 is on show"), HTTPStatus.NOT_FOUND
        ),
    )
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
