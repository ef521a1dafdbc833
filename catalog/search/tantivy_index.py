"""The Tantivy index of products: its fields, and a product document (``catalog.search.documents``) as its entry.

Each searchable source (the name without its labels, the name's last word, the category, style tags and
colours, the description with the name's labels) has three text fields, filled with terms cut by
``catalog.search.analysis`` rather than by a Tantivy tokenizer: ``<source>_terms`` holds CJK bigrams and other
words whole, ``<source>_words`` the CJK words whole (a word of its own, Korean typos, a one-character word as the
start of a word), ``<source>_ends`` the ends of CJK words (a compound's last word). Filters and facets are raw
(untokenized) fields; the facet fields and everything a sort reads are fast (columnar) fields. What a result
tile shows is stored as one MessagePack value, read back only for the page.

Ids are UUIDv7, so the text order of ``id`` is the order products were created in: the ``newest`` sort, and the
tie-break of every other. ``id_high`` and ``id_low`` (its two halves as numbers) let a page ordered in Python
break ties the same way.

Docs followed (tantivy-py 0.27): SchemaBuilder (text fields with the ``raw`` tokenizer and ``fast``, integer,
float, boolean, bytes fields), Document.add_pre_tokenized_text, PreTokenizedString/Token.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

import msgspec
import tantivy

from catalog.search.analysis import index_text, product_name

if TYPE_CHECKING:
    from collections.abc import Iterable

SCHEMA_VERSION = 2
"""Part of the index folder's name: a changed schema (or analysis) starts a new, empty index, which
``shoa search reindex`` fills. (The synonym table is read by queries only: changing it needs no new index.)"""
SOURCES = ("name", "head", "category", "tags", "description")
"""The searchable text of a product, most telling first."""
FACET_FIELDS = ("categories", "mall_id", "style_tags", "colors", "sizes")
FILTER_FIELDS = ("target_genders", "age_bands")
SORTS = {
    "price_asc": ("price_from", tantivy.FieldType.Integer, tantivy.Order.Asc),
    "price_desc": ("price_from", tantivy.FieldType.Integer, tantivy.Order.Desc),
    "popularity": ("popularity", tantivy.FieldType.Float, tantivy.Order.Desc),
}
"""The sorts by a fast field (its type and direction); ties go to the newer product (``id``, descending)."""


class StoredHit(msgspec.Struct, array_like=True, frozen=True):
    """What a result tile shows, as stored in the index (the mall comes from the database)."""

    id: str
    name: str
    image_url: str
    category_path: str
    price: int
    price_from: int
    currency: str
    in_stock: bool
    exclusive: bool


_encode_hit = msgspec.msgpack.Encoder().encode
decode_hit = msgspec.msgpack.Decoder(StoredHit).decode


def schema() -> tantivy.Schema:
    builder = tantivy.SchemaBuilder()
    builder.add_text_field("id", tokenizer_name="raw", fast=True)
    for source in SOURCES:
        builder.add_text_field(f"{source}_terms", tokenizer_name="raw", index_option="freq")
        builder.add_text_field(f"{source}_words", tokenizer_name="raw", index_option="freq")
        builder.add_text_field(f"{source}_ends", tokenizer_name="raw", index_option="freq")
    for name in FACET_FIELDS:
        builder.add_text_field(name, tokenizer_name="raw", fast=True, index_option="basic")
    for name in FILTER_FIELDS:
        builder.add_text_field(name, tokenizer_name="raw", index_option="basic")
    builder.add_integer_field("price_from", indexed=True, fast=True)
    builder.add_boolean_field("in_stock", indexed=True)
    builder.add_boolean_field("exclusive", indexed=True)
    builder.add_float_field("popularity", fast=True)
    builder.add_unsigned_field("id_high", fast=True)
    builder.add_unsigned_field("id_low", fast=True)
    builder.add_bytes_field("hit", stored=True)
    return builder.build()


def source_texts(document: dict[str, Any]) -> dict[str, list[str]]:
    """The searchable text of a product document, by source."""
    category = document.get("category_names") or str(document.get("category_path", "")).replace("/", " ")
    name = product_name(document["name"])
    return {
        "name": [name.text],
        "head": [name.head],
        "category": [category],
        "tags": [*document.get("style_tags", ()), *document.get("colors", ())],
        "description": [name.labels, document.get("description") or ""],
    }


def entry(document: dict[str, Any]) -> tantivy.Document:
    """The index entry of a product document (the shape ``catalog.search.documents`` builds; ``description``
    is searched when present)."""
    product_id = uuid.UUID(document["id"])
    price_from = int(document["price_from"])
    popularity = float(document.get("popularity") or 0.0)
    doc = tantivy.Document()
    doc.add_text("id", str(product_id))
    for source, texts in source_texts(document).items():
        indexed = index_text(*texts)
        _add_terms(doc, f"{source}_terms", indexed.terms)
        _add_terms(doc, f"{source}_words", indexed.words)
        _add_terms(doc, f"{source}_ends", indexed.ends)
    for name in (*FACET_FIELDS, *FILTER_FIELDS):
        values = document.get(name)
        for value in [values] if isinstance(values, str) else values or ():
            doc.add_text(name, str(value))
    doc.add_integer("price_from", price_from)
    doc.add_boolean("in_stock", bool(document["in_stock"]))
    doc.add_boolean("exclusive", bool(document["exclusive"]))
    doc.add_float("popularity", popularity)
    doc.add_unsigned("id_high", product_id.int >> 64)
    doc.add_unsigned("id_low", product_id.int & ((1 << 64) - 1))
    hit = StoredHit(
        id=str(product_id),
        name=document["name"],
        image_url=document.get("image_url") or "",
        category_path=document["category_path"],
        price=int(document["price"]),
        price_from=price_from,
        currency=document["currency"],
        in_stock=bool(document["in_stock"]),
        exclusive=bool(document["exclusive"]),
    )
    doc.add_bytes("hit", _encode_hit(hit))
    return doc


def _add_terms(doc: tantivy.Document, field: str, terms: Iterable[str]) -> None:
    tokens: list[tantivy.Token] = []
    offset = 0
    for position, term in enumerate(terms):
        tokens.append(tantivy.Token(term, position, offset, offset + len(term)))
        offset += len(term) + 1
    if tokens:
        doc.add_pre_tokenized_text(field, tantivy.PreTokenizedString(" ".join(t.text for t in tokens), tokens))
