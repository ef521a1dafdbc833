"""Products as Meilisearch documents, built from the database as it is now.

Filters that the PostgreSQL engine answers with a rule are stored ready to match in the document: a unisex
product carries both genders, a product declared for no age band carries every band, and a product filed under
``상의/셔츠`` carries both ``상의`` and ``상의/셔츠`` in ``categories``.
"""

from __future__ import annotations

import typing
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY

from catalog.models import Mall, MallStatus, Product, ProductStatus
from catalog.schemas import AgeBandName
from catalog.search.engine import price_bucket

if TYPE_CHECKING:
    import uuid
    from collections.abc import Collection

    from sqlalchemy.ext.asyncio import AsyncSession

ALL_AGE_BANDS: tuple[str, ...] = typing.get_args(AgeBandName)
_TARGET_GENDERS = {"female": ["female"], "male": ["male"], "unisex": ["female", "male"]}

_p = Product.__table__.c
_m = Mall.__table__.c
_PRODUCTS = (
    sa.select(
        _p.id,
        _p.mall_id,
        _m.name.label("mall_name"),
        (sa.and_(_p.status != ProductStatus.HIDDEN.value, _m.status == MallStatus.ACTIVE.value)).label("visible"),
        _p.name,
        _p.description,
        _p.category_path,
        _p.style_tags,
        _p.colors,
        _p.sizes,
        _p.target_gender,
        _p.target_age_bands,
        _p.price_min,
        _p.price_from,
        _p.currency,
        _p.in_stock,
        _p.exclusive,
        _p.popularity,
        _p.image_urls[1].label("image_url"),
        _p.created_at,
    )
    .join_from(Product.__table__, Mall.__table__, _m.id == _p.mall_id)
    .where(_p.id == sa.any_(sa.bindparam("ids", type_=ARRAY(sa.Uuid()))))
)


async def documents_for(
    session: AsyncSession, product_ids: Collection[uuid.UUID]
) -> tuple[list[dict[str, Any]], list[str]]:
    """The documents of the products shoppers may see among ``product_ids``, and the ids (as strings) of the
    rest, to delete: hidden, of a mall that is not listed, or no longer in the database."""
    if not product_ids:
        return [], []
    documents: dict[uuid.UUID, dict[str, Any]] = {}
    for row in await session.execute(_PRODUCTS, {"ids": list(product_ids)}):
        if row.visible:
            documents[row.id] = _document(row)
    deleted = [str(product_id) for product_id in dict.fromkeys(product_ids) if product_id not in documents]
    return list(documents.values()), deleted


def _document(row: sa.Row[Any]) -> dict[str, Any]:
    path: str = row.category_path
    top = path.split("/", 1)[0]
    return {
        "id": str(row.id),
        "mall_id": str(row.mall_id),
        "mall_name": row.mall_name,
        "name": row.name,
        "description": row.description,
        "category_path": path,
        "categories": [top] if top == path else [top, path],
        "category_names": " ".join(path.split("/")),
        "style_tags": list(row.style_tags),
        "colors": list(row.colors),
        "sizes": list(row.sizes),
        "target_genders": _TARGET_GENDERS.get(row.target_gender, [row.target_gender]),
        "age_bands": list(row.target_age_bands) or list(ALL_AGE_BANDS),
        "price": row.price_min,
        "price_from": row.price_from,
        "price_bucket": price_bucket(row.price_from),
        "currency": row.currency,
        "in_stock": row.in_stock,
        "exclusive": row.exclusive,
        "popularity": row.popularity,
        "image_url": row.image_url or "",
        "created_at": row.created_at.isoformat(),
    }
