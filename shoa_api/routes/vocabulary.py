"""``GET /v1/catalog/vocabulary``: the lists a product's fields draw from, for a partner filling them in and an app
offering them as filters.

Category paths, style tags, target genders, age bands and currencies are closed: the sync rejects an item using
anything else. Colours and sizes are free text (a mall names its own options); the lists here are the names Shoa's
catalog uses, recommended so that shoppers' colour and size filters find a mall's products.
"""

from __future__ import annotations

import typing

import msgspec
from litestar import get

from catalog import demo_lines
from catalog.categories import CATEGORY_TREE, STYLE_TAGS
from catalog.product_rules import CURRENCIES
from catalog.schemas import AgeBandName, ProductIn


class SizeSystem(msgspec.Struct, kw_only=True):
    name: str
    description: str
    sizes: list[str]


class CatalogVocabulary(msgspec.Struct, kw_only=True):
    """``enforced`` lists are checked by the sync, item by item; ``recommended`` ones are advice."""

    category_paths: list[str]
    """Enforced: a top level (``원피스``) or one level down (``상의/블라우스``), as ``GET /v1/categories`` shows."""
    style_tags: list[str]
    """Enforced: each of a product's ``style_tags``."""
    target_genders: list[str]
    """Enforced: a product's ``target_gender``."""
    age_bands: list[str]
    """Enforced: each of a product's ``target_age_bands``."""
    currencies: list[str]
    """Enforced: a variant's ``currency`` (one per product)."""
    colors: list[str]
    """Recommended: a variant's ``color`` is free text, up to 40 characters."""
    size_systems: list[SizeSystem]
    """Recommended: a variant's ``size`` is free text, up to 20 characters."""


@get(
    "/v1/catalog/vocabulary",
    operation_id="get_catalog_vocabulary",
    summary="The category paths, style tags, colours and sizes a product's fields draw from",
    description="Category paths, style tags, genders, age bands and currencies are enforced by the partner sync; "
    "colours and sizes are free text, and these are the names shoppers filter by.",
    cache=True,
    tags=["catalog"],
)
async def get_catalog_vocabulary() -> CatalogVocabulary:
    return catalog_vocabulary()


def catalog_vocabulary() -> CatalogVocabulary:
    return CatalogVocabulary(
        category_paths=[
            path for top, children in CATEGORY_TREE.items() for path in (top, *(f"{top}/{child}" for child in children))
        ],
        style_tags=sorted(STYLE_TAGS),
        target_genders=list(typing.get_args(typing.get_type_hints(ProductIn)["target_gender"])),
        age_bands=list(typing.get_args(AgeBandName)),
        currencies=sorted(CURRENCIES),
        colors=_in_order(
            demo_lines.WOMEN_COLORS,
            demo_lines.MEN_COLORS,
            demo_lines.UNISEX_COLORS,
            demo_lines.DENIM,
            demo_lines.LEATHER,
            demo_lines.SHOE_COLORS,
            demo_lines.METAL,
        ),
        size_systems=[
            SizeSystem(
                name="free",
                description="One size (프리사이즈): knits, tees, bags, accessories",
                sizes=list(demo_lines.FREE),
            ),
            SizeSystem(
                name="letter",
                description="Letter sizes: tops, dresses, outerwear",
                sizes=_in_order(demo_lines.W_TOP, demo_lines.W_BOTTOM, demo_lines.M_TOP, demo_lines.U_TOP),
            ),
            SizeSystem(
                name="waist_inches",
                description="Waist in inches: jeans, men's trousers",
                sizes=_by_number(demo_lines.W_JEANS, demo_lines.M_WAIST),
            ),
            SizeSystem(
                name="chest_cm",
                description="Korean men's chest size (호칭): shirts, suits",
                sizes=_by_number(demo_lines.M_SUIT),
            ),
            SizeSystem(
                name="shoe_mm",
                description="Foot length in millimetres: shoes",
                sizes=_by_number(demo_lines.W_SHOES, demo_lines.M_SHOES, demo_lines.U_SHOES),
            ),
            SizeSystem(
                name="ring_ho",
                description="Korean ring sizes (호): rings",
                sizes=_by_number(demo_lines.W_RING, demo_lines.M_RING, demo_lines.U_RING),
            ),
        ],
    )


def _in_order(*lists: tuple[str, ...]) -> list[str]:
    return list(dict.fromkeys(value for values in lists for value in values))


def _by_number(*lists: tuple[str, ...]) -> list[str]:
    return sorted(_in_order(*lists), key=lambda size: int(size.removesuffix("호")))
