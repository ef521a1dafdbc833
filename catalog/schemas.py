"""What the catalog hands across its boundary: msgspec structs, never ORM objects."""

from __future__ import annotations

import datetime
import uuid
from typing import Annotated, Literal

import msgspec

from catalog.categories import CATEGORY_PATHS, STYLE_TAGS


class MallSummary(msgspec.Struct, frozen=True):
    """Fields in the order of the repository's summary columns."""

    id: uuid.UUID
    slug: str
    name: str
    description: str
    logo_url: str | None
    created_at: datetime.datetime


class MallPage(msgspec.Struct, frozen=True, kw_only=True):
    items: list[MallSummary]
    next_cursor: str | None
    """Pass as ``cursor`` to get the next page; ``null`` on the last page."""


# --- Partner product sync -----------------------------------------------------------------------------------

Sku = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._/-]+$")]
OptionText = Annotated[str, msgspec.Meta(min_length=1, max_length=40)]
Money = Annotated[int, msgspec.Meta(gt=0, le=1_000_000_000)]
ImageUrl = Annotated[str, msgspec.Meta(max_length=2048, pattern=r"^https://[^\s/$.?#][^\s]*$")]
AgeBandName = Literal["10s", "20s_early", "20s_mid", "20s_late", "30s_early", "30s_mid", "30s_late", "40s_plus"]


class VariantIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    sku: Sku
    """Unique within the mall, across all its products."""
    color: (
        Annotated[
            OptionText,
            msgspec.Meta(
                extra_json_schema={
                    "description": "Free text; `GET /v1/catalog/vocabulary` lists the names shoppers filter by.",
                    "examples": ["아이보리"],
                }
            ),
        ]
        | None
    ) = None
    size: (
        Annotated[
            str,
            msgspec.Meta(
                min_length=1,
                max_length=20,
                extra_json_schema={
                    "description": "Free text; `GET /v1/catalog/vocabulary` lists the size systems shoppers filter by.",
                    "examples": ["M"],
                },
            ),
        ]
        | None
    ) = None
    options: Annotated[dict[Annotated[str, msgspec.Meta(max_length=20)], OptionText], msgspec.Meta(max_length=5)] = {}
    price: Money
    """In the currency's minor unit: KRW and JPY have none, so 39000 is ₩39,000."""
    sale_price: Money | None = None
    currency: Annotated[str, msgspec.Meta(pattern=r"^[A-Z]{3}$")] = "KRW"
    stock: Annotated[int, msgspec.Meta(ge=0, le=1_000_000)]


class ProductIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    external_id: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
    """The mall's own id for the product; the key of every later update."""
    name: Annotated[
        str,
        msgspec.Meta(
            min_length=1, max_length=200, extra_json_schema={"examples": ["[자체제작] 스퀘어넥 린넨 맥시 원피스"]}
        ),
    ]
    description: Annotated[str, msgspec.Meta(max_length=5000)] = ""
    # The sync rejects an item with a path or a tag outside these lists: the schema names them (the enums only
    # describe; the checks, item by item, are catalog.product_rules').
    category_path: Annotated[
        str,
        msgspec.Meta(
            max_length=100, extra_json_schema={"enum": sorted(CATEGORY_PATHS), "examples": ["원피스/롱원피스"]}
        ),
    ]
    style_tags: Annotated[
        list[Annotated[str, msgspec.Meta(max_length=20, extra_json_schema={"enum": sorted(STYLE_TAGS)})]],
        msgspec.Meta(max_length=10, extra_json_schema={"examples": [["페미닌", "여행룩"]]}),
    ] = []
    target_gender: Literal["female", "male", "unisex"]
    target_age_bands: Annotated[list[AgeBandName], msgspec.Meta(max_length=8)] = []
    image_urls: Annotated[list[ImageUrl], msgspec.Meta(min_length=1, max_length=20)]
    exclusive: bool = False
    status: Literal["on_sale", "sold_out", "hidden"] = "on_sale"
    source_updated_at: Annotated[datetime.datetime, msgspec.Meta(tz=True)]
    """When the mall last changed the product, with its offset; an older update than the stored one is ignored."""
    variants: Annotated[list[VariantIn], msgspec.Meta(min_length=1, max_length=100)]


class FieldProblem(msgspec.Struct, kw_only=True):
    field: str
    """Path inside the item, such as ``variants[1].sale_price``."""
    message: str


ItemOutcome = Literal["created", "updated", "unchanged", "rejected"]


class ItemResult(msgspec.Struct, kw_only=True, omit_defaults=True):
    index: int
    """The item's position in the batch, from 0."""
    external_id: str | None
    result: ItemOutcome
    product_id: uuid.UUID | None = None
    reason: str | None = None
    """Why an item was rejected or left unchanged (``stale``: the stored product is newer)."""
    errors: list[FieldProblem] = []


class BatchResult(msgspec.Struct, kw_only=True):
    created: int
    updated: int
    unchanged: int
    rejected: int
    items: list[ItemResult]


class PartnerProduct(msgspec.Struct):
    """Fields in the order of the repository's query."""

    id: uuid.UUID
    external_id: str
    name: str
    category_path: str
    status: str
    variant_count: int
    source_updated_at: datetime.datetime
    updated_at: datetime.datetime


class PartnerProductPage(msgspec.Struct, kw_only=True):
    items: list[PartnerProduct]
    next_cursor: str | None


class VariantPatch(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    sku: Sku
    price: Money | msgspec.UnsetType = msgspec.UNSET
    sale_price: Money | msgspec.UnsetType | None = msgspec.UNSET
    """``null`` ends a sale."""
    stock: Annotated[int, msgspec.Meta(ge=0, le=1_000_000)] | msgspec.UnsetType = msgspec.UNSET


class ProductPatch(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Price, stock and status of one product or some of its variants; only what is present changes."""

    status: Literal["on_sale", "sold_out", "hidden"] | msgspec.UnsetType = msgspec.UNSET
    variants: Annotated[list[VariantPatch], msgspec.Meta(max_length=100)] = []
    source_updated_at: Annotated[datetime.datetime, msgspec.Meta(tz=True)] | None = None
    """When given and older than the stored product, nothing changes."""


class StockBatch(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    items: Annotated[list[VariantPatch], msgspec.Meta(min_length=1, max_length=1000)]


class StockResult(msgspec.Struct, kw_only=True, omit_defaults=True):
    sku: str
    result: Literal["updated", "unchanged", "rejected"]
    reason: str | None = None


class StockBatchResult(msgspec.Struct, kw_only=True):
    updated: int
    unchanged: int
    rejected: int
    items: list[StockResult]


# --- Public catalog -----------------------------------------------------------------------------------------

StockState = Literal["in_stock", "low_stock", "sold_out"]
LOW_STOCK = 5
"""At or below this many left, shoppers are told how many (``stock_left``)."""


class PublicVariant(msgspec.Struct, kw_only=True, omit_defaults=True):
    id: uuid.UUID
    color: str | None
    size: str | None
    options: dict[str, str]
    price: int
    sale_price: int | None
    currency: str
    stock_state: StockState
    stock_left: int | None = None
    """Only when stock is low: "3 left"."""


class MallBrief(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    slug: str
    name: str
    logo_url: str | None


class ProductDetail(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    name: str
    description: str
    category_path: str
    style_tags: list[str]
    target_gender: str
    target_age_bands: list[str]
    image_urls: list[str]
    exclusive: bool
    status: Literal["on_sale", "sold_out"]
    in_stock: bool
    price_from: int
    """The lowest price a shopper pays today (sale prices included), in the currency's minor unit."""
    currency: str
    variants: list[PublicVariant]
    mall: MallBrief


class ProductCard(msgspec.Struct):
    """A product in a list: enough to draw its tile. Fields in the order of the repository's query."""

    id: uuid.UUID
    name: str
    image_url: str
    price: int
    """The lowest regular price of its variants."""
    price_from: int
    """The lowest price a shopper pays today."""
    currency: str
    in_stock: bool
    exclusive: bool


class ProductCardPage(msgspec.Struct, kw_only=True):
    items: list[ProductCard]
    next_cursor: str | None


class MallWithProducts(msgspec.Struct, kw_only=True):
    mall: MallSummary
    products: ProductCardPage


class CategoryNode(msgspec.Struct, kw_only=True):
    path: str
    name: str
    product_count: int
    """Products shoppers can see here and below."""
    children: list[CategoryNode] = []
